"""What students get: ``involution-instructor bundle``.

* a bundle (``--output``, default ``build/bundle/``): the released notebooks
  (``notebooks/<a>/<a>.ipynb``), the student wheel (``involution_course-<version>-py3-none-any.whl``)
  and a short README;
* a student repository (``--repository DIR``), for GitHub Classroom and the Colab links:
  README, ``notebooks/``, and the student distribution's source with its ``pyproject.toml``
  at the root, so that ``pip install git+<repository>`` installs the course package; and the
  course site's sources (``site/``, from ``docs/site/``) with the GitHub Pages workflow that
  rebuilds the site from the repository (``.github/workflows/site.yml``).

Both come from ``notebooks/`` (what ``release`` wrote) and ``src/student/``; nothing from
``solutions/`` or the instructor package. Every file is checked for solution regions and
hidden tests before anything is written.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .paths import ASSIGNMENTS, build_directory, project_root

STUDENT_SOURCE = Path("src") / "student"
PACKAGE = "involution_course"
DISTRIBUTION = "involution-course"
# Marks that only the instructor's notebooks and the instructor package hold.
LEAK_MARKS = re.compile(r"BEGIN SOLUTION|END SOLUTION|BEGIN HIDDEN TESTS|END HIDDEN TESTS|"
                        r"^\s*(?:from|import)\s+involution_instructor\b", re.MULTILINE)
SETUPTOOLS_WITH_LICENSE_STRINGS = (77,)  # PEP 639 `license = "..."` in pyproject.toml
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".ipynb_checkpoints")
GITIGNORE = "\n".join(["__pycache__/", "*.egg-info/", "build/", "dist/", ".ipynb_checkpoints/", ".venv/",
                       "_site/", "_site-source/", ""])  # the last two: what site/build_site.py writes


# The course site (``involution-instructor site``): its sources and builder go into the student repository,
# with a workflow that publishes the student edition on GitHub Pages at every push to main.
SITE_SOURCE = Path("docs") / "site"
PAGES_WORKFLOW = ".github/workflows/site.yml"
SITE_WORKFLOW = """\
# Builds the course site from this repository (site/build_site.py: the notebooks, the course package's
# recorded results, the guides) and publishes it on GitHub Pages. Turn it on once in the repository's
# Settings > Pages > Source: GitHub Actions. The site is a folder of static files (_site/).
name: site
on:
  push:
    branches: [main]
  workflow_dispatch:
permissions:
  contents: read
  pages: write
  id-token: write
concurrency:
  group: pages
  cancel-in-progress: false
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: python -m pip install . -r site/requirements.txt
      # The kernel figures need CIFAR-10's test images: the Keras download fetches them here.
      - run: python site/build_site.py --notebooks notebooks --output _site
      - uses: actions/upload-pages-artifact@v3
        with:
          path: _site
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment:
      name: github-pages
      url: ${{ steps.deployment.outputs.page_url }}
    steps:
      - id: deployment
        uses: actions/deploy-pages@v4
"""


class BundleError(RuntimeError):
    """The student bundle could not be made; the message says why and what to do."""


@dataclass
class Bundle:
    output: Path | None = None
    wheel: Path | None = None
    repository: Path | None = None
    files: list[Path] = field(default_factory=list)  # everything written, for a student


def make_bundle(output: Path | None = None, repository: Path | None = None, root: Path | None = None) -> Bundle:
    """Write the bundle into ``output`` (default ``build/bundle``) and, with ``repository``, the student
    repository there too. Returns what was written."""
    root = root or project_root()
    output = Path(output) if output else build_directory() / "bundle"
    notebooks = released_notebooks(root)
    student = root / STUDENT_SOURCE
    _refuse_leaks([*notebooks.values(), *_package_files(student)], root)
    homepage = student_homepage(student)
    result = Bundle(output=output)

    with tempfile.TemporaryDirectory(prefix="student-wheel-") as scratch:
        wheel = build_wheel(student, Path(scratch))
        _clear(output, ("notebooks", "README.md"), wheels=True)
        result.wheel = Path(shutil.copy2(wheel, output / wheel.name))
    result.files.append(result.wheel)
    result.files += _copy_notebooks(notebooks, output)
    readme = output / "README.md"
    readme.write_text(student_readme(homepage, wheel=result.wheel.name))
    result.files.append(readme)

    if repository is not None:
        result.repository = Path(repository)
        result.files += lay_out_repository(result.repository, notebooks, student, homepage)
    return result


def released_notebooks(root: Path) -> dict[str, Path]:
    """Every assignment's released notebook, or a sentence saying to release first."""
    notebooks = {a: root / "notebooks" / a / f"{a}.ipynb" for a in ASSIGNMENTS}
    missing = [str(path.relative_to(root)) for path in notebooks.values() if not path.is_file()]
    if missing:
        raise BundleError(f"no released notebook {', '.join(missing)}: run `involution-instructor release` first.")
    return notebooks


def student_homepage(student: Path) -> str:
    """The student repository's address: the student distribution's ``[project.urls] Homepage``."""
    from involution_course import colab

    return (colab._url_from_pyproject(student / "pyproject.toml") or colab.repository_url()).rstrip("/")


def build_wheel(student: Path, target: Path) -> Path:
    """Build the student wheel from a clean copy of ``student`` (the checkout gets no build/ or egg-info)."""
    source = target / "source"
    _copy_distribution(student, source)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(target / "wheel")]
    if _setuptools_can_build():
        command.append("--no-build-isolation")  # offline and fast: this environment's setuptools does
    result = subprocess.run([*command, str(source.resolve())], capture_output=True, text=True)
    wheels = sorted((target / "wheel").glob("involution_course-*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        said = (result.stderr or result.stdout).strip()[-1500:]
        raise BundleError(f"pip could not build the student wheel from {student}:\n{said}")
    return wheels[0]


def lay_out_repository(repository: Path, notebooks: dict[str, Path], student: Path, homepage: str,
                       site: Path | None = None) -> list[Path]:
    """The student repository in ``repository``: what is written replaces the course's own paths there;
    anything else (``.git``, a Classroom workflow) is kept. With the course site's sources (``site``,
    default ``docs/site`` beside ``src/student``) it also gets them in ``site/`` and the GitHub Pages
    workflow that rebuilds the site from the repository."""
    repository.mkdir(parents=True, exist_ok=True)
    site = site or student.parents[1] / SITE_SOURCE
    _clear(repository, ("notebooks", PACKAGE, "pyproject.toml", "README.md", ".gitignore", "site", PAGES_WORKFLOW))
    _copy_distribution(student, repository, readme=False)
    (repository / "README.md").write_text(student_readme(homepage))
    (repository / ".gitignore").write_text(GITIGNORE)
    written = [repository / "README.md", repository / ".gitignore", repository / "pyproject.toml",
               *sorted((repository / PACKAGE).rglob("*.py"))]
    if site.is_dir():
        shutil.copytree(site, repository / "site", ignore=IGNORED)
        workflow = repository / PAGES_WORKFLOW
        workflow.parent.mkdir(parents=True, exist_ok=True)
        workflow.write_text(SITE_WORKFLOW)
        written += [workflow, *sorted(p for p in (repository / "site").rglob("*") if p.is_file())]
    return written + _copy_notebooks(notebooks, repository)


def student_readme(homepage: str, wheel: str | None = None) -> str:
    """How a student installs the course, opens the notebooks, checks and submits them."""
    repository = homepage.removeprefix("https://github.com/")
    colab = f"https://colab.research.google.com/github/{repository}/blob/main/notebooks/<assignment>/<assignment>.ipynb"
    if wheel:
        install = (f"    pip install {wheel}                   # the file beside this README\n"
                   f"    pip install \"{wheel}[lab]\"          # the same, with JupyterLab")
    else:
        install = (f"    pip install \"involution-course[lab] @ git+{homepage}\"   # with JupyterLab\n"
                   "    pip install -e \".[lab]\"                               # or, in a clone of this repository")
    listing = "\n".join(f"- `notebooks/{a}/{a}.ipynb`" for a in ASSIGNMENTS)
    return f"""# Involution Course

Six notebooks take you from convolution to **involution** (Li et al., CVPR 2021): you build the
operator from scratch in NumPy, turn it into a Keras 3 layer, compare it with a CNN on CIFAR-10
and look inside the kernels it generates. Work through them in order:

{listing}

## Install (your computer)

Python 3.10 or newer. In a new virtual environment (`python -m venv .venv`, then
`source .venv/bin/activate`, or `.venv\\Scripts\\activate` on Windows):

{install}
    pip install involution-course                   # or from the package index, where your course publishes it

The course runs on TensorFlow. For JAX or PyTorch as Keras' backend, add the extra:
`pip install "involution-course[jax]"` or `"involution-course[torch]"`.

Then open the notebooks with `jupyter lab notebooks/` and run the cells in order (Shift+Enter).
CIFAR-10 is downloaded once on first use (about 170 MB).

## Or on Google Colab

Click "Open in Colab" at the top of a notebook, or open
{colab}.
Save a copy in Drive (**File > Save a copy in Drive**) so that your work is kept, then run the first
cell: it installs the course on a fresh runtime. For notebook 04, choose a GPU runtime first
(**Runtime > Change runtime type > T4 GPU**).

## Exercises

Replace `# YOUR CODE HERE` / `raise NotImplementedError()` with your answer and run the test cell
below it. Visible tests help you; hidden tests run when your notebook is graded.

## Check, then submit

1. Save the notebook, then check it the way grading will run it, top to bottom on a fresh kernel:

       involution-course check notebooks/01-convolution/01-convolution.ipynb

   It prints each exercise's visible tests as passed, failed (with the test's message) or not done,
   and a summary. On Colab: **Runtime > Restart session and run all**, and look at every test cell.
2. Upload the `.ipynb` file, as it is, to your course's platform (on Colab: **File > Download >
   Download .ipynb**). Leave the test cells as they are.
"""


# ---------------------------------------------------------------------------------- helpers


def _copy_distribution(student: Path, target: Path, readme: bool = True) -> None:
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(student / PACKAGE, target / PACKAGE, ignore=IGNORED)
    shutil.copy2(student / "pyproject.toml", target / "pyproject.toml")
    if readme:
        shutil.copy2(student / "README.md", target / "README.md")


def _copy_notebooks(notebooks: dict[str, Path], target: Path) -> list[Path]:
    written = []
    for assignment, notebook in notebooks.items():
        folder = target / "notebooks" / assignment
        folder.mkdir(parents=True, exist_ok=True)
        written.append(Path(shutil.copy2(notebook, folder / notebook.name)))
    return written


def _clear(folder: Path, names, wheels: bool = False) -> None:
    """Remove what an earlier bundle wrote, so nothing stale survives."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    if wheels:
        for old in folder.glob("involution_course-*.whl"):
            old.unlink()


def _package_files(student: Path) -> list[Path]:
    return [student / "pyproject.toml", *(p for p in sorted((student / PACKAGE).rglob("*.py"))
                                          if "__pycache__" not in p.parts)]


def _refuse_leaks(paths, root: Path) -> None:
    leaks = []
    for path in paths:
        found = LEAK_MARKS.search(path.read_text(encoding="utf-8", errors="replace"))
        if found:
            leaks.append(f"{path.relative_to(root)} ({found.group(0).strip()})")
    if leaks:
        raise BundleError("what students would get holds solutions, hidden tests or instructor code: "
                          + "; ".join(leaks) + ". Release again, or remove it from src/student/.")


def _setuptools_can_build() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    major = re.match(r"\d+", setuptools.__version__)
    return bool(major) and (int(major.group(0)),) >= SETUPTOOLS_WITH_LICENSE_STRINGS
