"""notebooks/ is exactly what nbgrader releases from solutions/, and holds no solution."""

from __future__ import annotations

import re

import jupytext
import nbformat
import pytest

from involution_instructor.paths import ASSIGNMENTS
from involution_instructor.release import release_into

LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
VOLATILE_NBGRADER_KEYS = {"checksum"}


def _normalised(notebook):
    """Cells' type, source and nbgrader metadata: what a student sees and what grades them."""
    cells = []
    for cell in notebook.cells:
        meta = {k: v for k, v in cell.metadata.get("nbgrader", {}).items() if k not in VOLATILE_NBGRADER_KEYS}
        cells.append((cell.cell_type, cell.source.strip(), meta))
    return cells


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory, project_root):
    return release_into(tmp_path_factory.mktemp("release"), project_root)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_matches_a_fresh_one(fresh_release, project_root, assignment):
    committed = project_root / "notebooks" / assignment / f"{assignment}.ipynb"
    fresh = fresh_release / assignment / f"{assignment}.ipynb"
    assert committed.exists(), f"{committed} is missing: run `make release`"
    assert _normalised(nbformat.read(committed, 4)) == _normalised(nbformat.read(fresh, 4)), (
        f"notebooks/{assignment} is out of date with solutions/: run `make release` and commit"
    )
    committed_py = committed.with_suffix(".py").read_text()
    fresh_py = fresh.with_suffix(".py").read_text()
    strip = lambda text: re.sub(r'"checksum": "[0-9a-f]+", ', "", text)  # noqa: E731
    assert strip(committed_py) == strip(fresh_py)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_pairs_are_in_sync(project_root, assignment):
    folder = project_root / "solutions" / assignment
    from_py = jupytext.read(folder / f"{assignment}.py", fmt="py:percent")
    from_ipynb = nbformat.read(folder / f"{assignment}.ipynb", 4)
    assert _normalised(from_py) == _normalised(from_ipynb), (
        f"solutions/{assignment}: the .ipynb differs from the .py; run `make release`"
    )


def test_no_solution_reaches_students(project_root):
    leaks = []
    for path in sorted((project_root / "notebooks").rglob("*")):
        if path.is_file():
            text = path.read_text(errors="replace")
            leaks += [f"{path.relative_to(project_root)}: {m}" for m in LEAK_MARKERS if m in text]
    assert not leaks, "solutions or hidden tests in the student release:\n" + "\n".join(leaks)


def test_no_solution_line_reaches_students(project_root):
    """No line that stands only between solution or hidden-test markers in solutions/ is in notebooks/."""
    block = re.compile(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END (?:SOLUTION|HIDDEN TESTS)", flags=re.S)
    for assignment in ASSIGNMENTS:
        source = (project_root / "solutions" / assignment / f"{assignment}.py").read_text()
        # A line that the student is shown anyway (an example call, a shared check) is no leak.
        visible = {line.strip().lstrip("#").strip() for line in block.sub("", source).splitlines()}
        released = "".join(
            p.read_text() for p in (project_root / "notebooks" / assignment).glob("*") if p.is_file()
        )
        for hidden in block.findall(source):
            for line in hidden.splitlines():
                line = line.strip().lstrip("#").strip()
                # Short lines (``return out``) may well appear in prose.
                if len(line) > 25 and line not in visible:
                    assert line not in released, f"{assignment}: solution line in the release: {line!r}"


def test_only_notebooks_and_their_pairs_are_released(project_root):
    for assignment in ASSIGNMENTS:
        files = sorted(p.name for p in (project_root / "notebooks" / assignment).iterdir())
        assert files == [f"{assignment}.ipynb", f"{assignment}.py"]


def test_nbgrader_metadata_survives_the_py_round_trip(project_root):
    text = (project_root / "solutions" / "01-convolution" / "01-convolution.py").read_text()
    notebook = jupytext.reads(text, fmt="py:percent")
    grade_ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in notebook.cells]
    assert "setup" in grade_ids
    again = jupytext.reads(jupytext.writes(notebook, fmt="py:percent"), fmt="py:percent")
    assert [c.metadata for c in again.cells] == [c.metadata for c in notebook.cells]
