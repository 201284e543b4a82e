"""Every assignment, graded by real nbgrader runs under the grading profile.

For each notebook three students submit: the full solution (full marks), the
unchanged release (zero), and the solution with its last exercise left blank
(which loses exactly that exercise's points). The same runs show that the
solution runs top to bottom, that the release stops only at unanswered exercises
and that no test cell writes to stderr.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import nbformat
import pytest

from involution_instructor import grading
from involution_instructor.paths import ASSIGNMENTS

pytestmark = pytest.mark.slow

STUDENTS = ("solution", "blank", "one_wrong")


@functools.lru_cache(maxsize=None)
def _graded(assignment: str, course_dir: str) -> Path:
    course = grading.prepare_course(Path(course_dir), [assignment])
    source = nbformat.read(course / "solutions" / assignment / f"{assignment}.ipynb", 4)
    grading.submit(course, "solution", assignment, source)
    grading.submit(course, "blank", assignment, course / "notebooks" / assignment / f"{assignment}.ipynb")
    last = grading.exercises(source)[-1]
    grading.submit(course, "one_wrong", assignment, grading.with_exercise_blanked(source, last))
    grading.autograde(course, assignment)
    return course


@pytest.fixture(params=ASSIGNMENTS)
def graded(request, tmp_path_factory, monkeypatch):
    os.environ["INVOLUTION_COURSE_PROFILE"] = "grading"
    os.environ.setdefault("INVOLUTION_COURSE_NO_PROGRESS", "1")
    assignment = request.param
    base = tmp_path_factory.getbasetemp() / f"graded-{assignment}"
    return assignment, _graded(assignment, str(base))


def _autograded(course: Path, student: str, assignment: str):
    return nbformat.read(course / "autograded" / student / assignment / f"{assignment}.ipynb", 4)


def test_solution_scores_full_marks(graded):
    assignment, course = graded
    score, maximum = grading.total(grading.scores(course, assignment, "solution"))
    assert maximum > 0, f"{assignment} has no graded tests"
    failing = [c.grade_id for c in grading.scores(course, assignment, "solution").values() if c.score < c.max_score]
    assert score == maximum, f"{assignment}: the solution fails {failing}"


def test_unchanged_release_scores_zero(graded):
    assignment, course = graded
    score, maximum = grading.total(grading.scores(course, assignment, "blank"))
    auto_max = sum(
        c.max_score for c in grading.scores(course, assignment, "blank").values()
    )
    assert maximum == auto_max and score == 0


def test_one_blank_exercise_loses_exactly_its_points(graded):
    assignment, course = graded
    source = nbformat.read(course / "solutions" / assignment / f"{assignment}.ipynb", 4)
    last = grading.exercises(source)[-1]
    lost = grading.points_of(source, last)
    assert lost > 0
    score, maximum = grading.total(grading.scores(course, assignment, "one_wrong"))
    assert score == maximum - lost


def test_solution_runs_without_errors_or_stderr_in_tests(graded):
    assignment, course = graded
    notebook = _autograded(course, "solution", assignment)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{assignment}: {errors[0].ename}: {errors[0].evalue}\n{cell.source[:300]}"
        if cell.metadata.get("nbgrader", {}).get("grade"):
            stderr = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
            assert not stderr, f"{assignment}: test cell {cell.metadata['nbgrader']['grade_id']} wrote to stderr: {stderr}"


def test_release_stops_only_at_unanswered_exercises(graded):
    """Before the first answer cell nothing fails; the first failure is nbgrader's stub."""
    assignment, course = graded
    notebook = _autograded(course, "blank", assignment)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if meta.get("solution"):
            assert errors and errors[0].ename == "NotImplementedError", (
                f"{assignment}: the unanswered cell {meta.get('grade_id')} should stop with NotImplementedError"
            )
            return
        assert not errors, f"{assignment}: {errors[0].ename} before the first exercise:\n{cell.source[:300]}"
    pytest.fail(f"{assignment} has no answer cell")
