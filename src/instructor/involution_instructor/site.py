"""The course site: ``involution-instructor site`` (``make site``).

* the student edition (default) goes to ``build/site/``: the released notebooks (never executed),
  the guides, the notation and the student package's recorded results; a folder of static files
  that may be published anywhere;
* the instructor edition (``--edition instructor``) goes to ``build/site-instructor/``: the
  solution notebooks executed under the quick profile, every page marked as not for
  publication. It is built only when asked for.

The pages and the builder live in ``docs/site/`` (``build_site.py``), which the student
repository gets too (``involution-instructor bundle --repository``), so that its GitHub Pages
workflow rebuilds the student edition with nothing of the instructor's.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from .paths import ASSIGNMENTS, build_directory, project_root

SITE_SOURCE = Path("docs") / "site"
BUILDER = "build_site.py"
INSTRUCTOR_PROFILE = "quick"


def site_source(root: Path | None = None) -> Path:
    return (root or project_root()) / SITE_SOURCE


def builder(root: Path | None = None):
    """The site builder module, loaded from ``docs/site/build_site.py``."""
    path = site_source(root) / BUILDER
    spec = importlib.util.spec_from_file_location("involution_course_site_builder", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def build_student_site(output: Path | None = None, root: Path | None = None, *, quiet: bool = True):
    """The student edition from ``notebooks/`` into ``output`` (default ``build/site``)."""
    root = root or project_root()
    site = builder(root)
    return site.build(Path(output or build_directory() / "site"), root / "notebooks",
                      sources=site_source(root), quiet=quiet)


def build_instructor_site(output: Path | None = None, root: Path | None = None, *, quiet: bool = True,
                          assignments=ASSIGNMENTS):
    """The answer key: every solution notebook executed under the quick profile (in a fresh kernel,
    as ``make course`` runs it), then rendered into ``output`` (default ``build/site-instructor``)."""
    import jupytext
    import nbformat

    from .course_runner import run_notebook

    root = root or project_root()
    output = Path(output or build_directory() / "site-instructor")
    work = output.parent / f"{output.name}-run"
    env = {"INVOLUTION_COURSE_PROFILE": INSTRUCTOR_PROFILE, "INVOLUTION_COURSE_BUILD": str((work / "build").resolve())}
    executed = []
    for assignment in assignments:
        source = work / "source" / assignment / f"{assignment}.ipynb"
        source.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(jupytext.read(root / "solutions" / assignment / f"{assignment}.py", fmt="py:percent"), source)
        run = run_notebook(source, work / "executed" / assignment, env=env)
        if not run.ok:
            print(f"{assignment}: {run.error} (the page shows the notebook up to there)")
        executed.append(work / "executed" / assignment / f"{assignment}.ipynb")
    site = builder(root)
    return site.build(output, executed, edition="instructor", sources=site_source(root), quiet=quiet)


def main(edition: str = "student", output: Path | None = None, verbose: bool = False) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    site = builder()
    try:
        if edition == "instructor":
            built = build_instructor_site(output, quiet=not verbose)
        else:
            built = build_student_site(output, quiet=not verbose)
    except site.SiteError as error:
        print(f"involution-instructor: {error}", file=sys.stderr)
        return 2
    for note in built.notes:
        print(f"note: {note}")
    print(f"wrote {built.output}: {len(built.pages)} pages in {built.seconds:.0f} s"
          + (" (answer key: not for publication)" if edition == "instructor" else ""))
    return 0
