"""Every assignment, graded by real nbgrader runs under the grading profile.

Each notebook is graded once for the whole suite (tests/graded_runs.py); among its students are
the full solution (full marks), the unchanged release (zero), and the solution with its last
exercise left blank (which loses exactly that exercise's points). The same runs show that the
solution runs top to bottom, that the release stops only at unanswered exercises
and that no test cell writes to stderr.
"""

from __future__ import annotations

import pytest

from involution_instructor import grading
from involution_instructor.paths import ASSIGNMENTS

pytestmark = pytest.mark.slow

@pytest.fixture(params=ASSIGNMENTS)
def graded(request, graded_runs):
    return request.param, graded_runs(request.param)


def test_solution_scores_full_marks(graded):
    assignment, run = graded
    score, maximum = run.total("solution")
    assert maximum > 0, f"{assignment} has no graded tests"
    failing = [c.grade_id for c in run.scores("solution").values() if c.score < c.max_score]
    assert score == maximum, f"{assignment}: the solution fails {failing}"


def test_unchanged_release_scores_zero(graded):
    assignment, run = graded
    score, maximum = run.total("blank")
    auto_max = sum(c.max_score for c in run.scores("blank").values())
    assert maximum == auto_max and score == 0


def test_one_blank_exercise_loses_exactly_its_points(graded):
    assignment, run = graded
    last = grading.exercises(run.source)[-1]
    lost = grading.points_of(run.source, last)
    assert lost > 0
    score, maximum = run.total("one_wrong")
    assert score == maximum - lost


def test_solution_runs_without_errors_or_stderr_in_tests(graded):
    assignment, run = graded
    notebook = run.autograded("solution")
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
    assignment, run = graded
    notebook = run.autograded("blank")
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
