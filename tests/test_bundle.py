"""What students get holds no answer, no hidden test and no instructor code.

The student wheel and the bundle are built for real (``involution-instructor bundle``),
the wheel installed into a fresh virtual environment, and every installed and bundled
file read: no solution region, no hidden test, nothing of the instructor package, and
no function or class whose syntax tree (names normalised) is that of a graded answer
in ``solutions/``.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import jupytext
import pytest

from involution_instructor.autograde.similarity import MIN_TOKENS, definitions, similarity
from involution_instructor.autograde.tampering import _parse
from involution_instructor.bundle import make_bundle
from involution_instructor.cli import main
from involution_instructor.paths import ASSIGNMENTS

pytestmark = pytest.mark.slow

LEAKS = re.compile(r"BEGIN SOLUTION|END SOLUTION|BEGIN HIDDEN TESTS|END HIDDEN TESTS")
INSTRUCTOR_IMPORT = re.compile(r"^\s*(?:from|import)\s+involution_instructor\b", re.MULTILINE)
SAME_CODE = 0.95  # a definition this close to a graded answer is that answer


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    base = tmp_path_factory.mktemp("bundle")
    return make_bundle(output=base / "bundle", repository=base / "repository")


@pytest.fixture(scope="module")
def installed(bundle, tmp_path_factory) -> list[Path]:
    """Every file the wheel installs into a fresh virtual environment (--no-deps: the check is of this
    distribution's own files)."""
    venv = tmp_path_factory.mktemp("venv") / "student"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(bundle.wheel)],
                   check=True, capture_output=True, text=True)
    listing = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m, json; "
         "print(json.dumps([str(f.locate()) for f in m.files('involution-course')]))"],
        check=True, capture_output=True, text=True,
    )
    files = [Path(p) for p in json.loads(listing.stdout)]
    assert any(p.name == "check.py" and p.parent.name == "involution_course" for p in files)
    return files


def _texts(bundle, installed) -> dict[str, str]:
    """Every student-facing text: installed files, the wheel's members, the bundle's and repository's files."""
    texts = {str(p): p.read_text(encoding="utf-8", errors="replace") for p in installed if p.is_file()}
    with zipfile.ZipFile(bundle.wheel) as wheel:
        texts.update({f"{bundle.wheel.name}!{n}": wheel.read(n).decode("utf-8", "replace") for n in wheel.namelist()})
    for folder in (bundle.output, bundle.repository):
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix != ".whl":
                texts[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    return texts


def test_the_bundle_holds_the_released_notebooks_the_wheel_and_a_readme(bundle):
    files = sorted(str(p.relative_to(bundle.output)) for p in bundle.output.rglob("*") if p.is_file())
    assert files == sorted(["README.md", bundle.wheel.name, *(f"notebooks/{a}/{a}.ipynb" for a in ASSIGNMENTS)])
    readme = (bundle.output / "README.md").read_text()
    assert f"pip install {bundle.wheel.name}" in readme and "involution-course check" in readme


def test_the_repository_installs_from_its_root_and_holds_nothing_of_the_instructor(bundle, project_root, tmp_path):
    repository = bundle.repository
    top = sorted(p.name for p in repository.iterdir())
    assert top == [".github", ".gitignore", "README.md", "involution_course", "notebooks", "pyproject.toml", "site"]
    assert all(p.relative_to(repository).parts[0] in ("involution_course", "site") for p in repository.rglob("*.py"))
    assert "site/build_site.py" in (repository / ".github" / "workflows" / "site.yml").read_text()
    assert not [p for p in repository.rglob("*") if "solutions" in p.parts or "involution_instructor" in p.parts]
    readme = (repository / "README.md").read_text()
    homepage = "https://github.com/involution-course/involution-course-student"
    assert f"git+{homepage}" in readme and "involution-course check" in readme
    # What `pip install git+<student repository>` does: build the distribution from the root.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "--wheel-dir", str(tmp_path), str(repository)], check=True, capture_output=True)
    (built,) = tmp_path.glob("involution_course-*.whl")
    with zipfile.ZipFile(built) as a, zipfile.ZipFile(bundle.wheel) as b:
        code = sorted(n for n in a.namelist() if n.endswith(".py"))
        assert code == sorted(n for n in b.namelist() if n.endswith(".py"))


def test_a_second_bundle_replaces_the_first_and_keeps_the_repository_s_git(bundle, tmp_path):
    repository = tmp_path / "repository"
    (repository / ".git").mkdir(parents=True)
    (repository / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repository / "involution_course").mkdir()
    (repository / "involution_course" / "stale.py").write_text("# from an older release\n")
    assert main(["bundle", "--output", str(tmp_path / "out"), "--repository", str(repository)]) == 0
    assert (repository / ".git" / "HEAD").exists() and not (repository / "involution_course" / "stale.py").exists()


def test_nothing_students_get_holds_a_solution_a_hidden_test_or_instructor_code(bundle, installed):
    assert not [p for p in installed if "involution_instructor" in p.parts]
    with zipfile.ZipFile(bundle.wheel) as wheel:
        assert not [n for n in wheel.namelist() if "involution_instructor" in n or n.startswith("solutions/")]
    found = [f"{where}: {match.group(0).strip()}"
             for where, text in _texts(bundle, installed).items()
             for pattern in (LEAKS, INSTRUCTOR_IMPORT) for match in [pattern.search(text)] if match]
    assert not found, "\n".join(found)


def graded_answers(root: Path):
    """Every definition in the answer cells (nbgrader solution, not graded) of solutions/ that holds
    a solution region: code around the regions (a given ``__init__``) is the students' to start from."""
    answers = []
    for assignment in ASSIGNMENTS:
        notebook = jupytext.read(root / "solutions" / assignment / f"{assignment}.py", fmt="py:percent")
        for cell in notebook.cells:
            nbgrader = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and nbgrader.get("solution") and not nbgrader.get("grade"):
                regions = _solution_lines(cell.source)
                answers += [(f"{assignment} {nbgrader['grade_id']}", d) for d in definitions(_parse(cell.source))
                            if regions & set(range(d.lines[0], d.lines[1] + 1))]
    return answers


def _solution_lines(source: str) -> set[int]:
    """The (1-based) lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION``."""
    inside, lines = False, set()
    for number, line in enumerate(source.splitlines(), start=1):
        if "BEGIN SOLUTION" in line:
            inside = True
        elif "END SOLUTION" in line:
            inside = False
        elif inside:
            lines.add(number)
    return lines


def student_definitions(bundle, installed):
    """Every definition students get: installed modules, the repository's, and the notebooks' code cells."""
    found = []
    sources = [p for p in installed if p.suffix == ".py"] + list(bundle.repository.rglob("*.py"))
    for path in sources:
        found += [(str(path), d) for d in definitions(ast.parse(path.read_text(encoding="utf-8")))]
    for folder in (bundle.output, bundle.repository):
        for path in folder.rglob("*.ipynb"):
            for index, cell in enumerate(json.loads(path.read_text())["cells"]):
                if cell["cell_type"] == "code":
                    source = "".join(cell["source"])
                    found += [(f"{path} cell {index + 1}", d) for d in definitions(_parse(source))]
    return found


def test_no_graded_answer_is_in_what_students_get(bundle, installed, project_root):
    answers = graded_answers(project_root)
    assert len(answers) >= 20, "the answer cells of solutions/ were not found"
    theirs = [(place, d) for place, d in student_definitions(bundle, installed) if len(d.tokens) >= MIN_TOKENS]
    copies = sorted({
        f"{exercise}: {answer.name} is {ratio:.0%} similar to {mine.name} in {place}"
        for exercise, answer in answers if len(answer.tokens) >= MIN_TOKENS  # one-line helpers look alike by chance
        for place, mine in theirs
        for ratio in [similarity(answer, mine, SAME_CODE)] if ratio >= SAME_CODE
    })
    assert not copies, "graded answers that students would get:\n" + "\n".join(copies)


def test_the_answer_check_finds_a_planted_answer(project_root, tmp_path):
    """The check above would see an answer that reached the package, even reformatted."""
    exercise, answer = max(graded_answers(project_root), key=lambda item: len(item[1].tokens))
    solution = jupytext.read(project_root / "solutions" / exercise.split()[0] / f"{exercise.split()[0]}.py",
                             fmt="py:percent")
    cell = next(c for c in solution.cells if c.metadata.get("nbgrader", {}).get("grade_id") == exercise.split()[1])
    planted = ast.unparse(_parse(cell.source))  # comments and layout gone, the code kept
    found = [d for d in definitions(ast.parse(planted)) if d.name == answer.name]
    assert found and similarity(answer, found[0]) == 1.0
