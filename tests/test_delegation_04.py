"""Notebook 04: a submission that delegates an exercise to what the course installs earns nothing.

The delegating students (tests/submissions/delegation_04.py) answer every exercise that has a
function to delegate (1, 2, 3, 4 and 6) with the shortest code that imports or calls something
the student's environment offers: the course package's modules, Keras applications, or the
instructor's reference, which is importable where notebooks are graded. They are graded in the
notebook's one shared nbgrader run (tests/graded_runs.py), beside the solution. The quick tests at
the end check ``require``, which names an unfinished exercise in the cells that use the student's
answers.
"""

from __future__ import annotations

import pytest

from involution_course.exercises import ExerciseUnfinished, require
from submissions.delegation_04 import ASSIGNMENT, DELEGATED, VARIANTS

AUTOGRADED_POINTS = 14


@pytest.fixture
def run(graded_runs):
    return graded_runs(ASSIGNMENT)


@pytest.mark.slow
def test_solution_scores_full_marks(run):
    scores = {exercise: value for exercise, value in run.exercise_scores("solution").items() if exercise}
    score, maximum = sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())
    assert maximum == AUTOGRADED_POINTS and score == maximum


@pytest.mark.slow
@pytest.mark.parametrize("student", VARIANTS)
def test_a_delegating_submission_earns_nothing_for_what_it_delegates(run, student):
    scores = run.exercise_scores(student)
    earned = {exercise: scores[exercise][0] for exercise in DELEGATED if scores[exercise][0] > 0}
    assert not earned, f"{student}: delegated exercises earned points: {earned}"
    score, maximum = scores["ex5"]  # nothing to delegate: the solution's answer stays
    assert score == maximum > 0


# ------------------------------------------------------------------------ require


def test_require_passes_a_finished_answer_through():
    def double(x):
        return 2 * x

    assert require(double, "Exercise 1")(4) == 8
    assert require("double", "Exercise 1", {"double": double})(5) == 10


def test_require_names_an_unfinished_exercise():
    def build():
        raise NotImplementedError()

    with pytest.raises(ExerciseUnfinished, match=r"^Finish Exercise 3 first: `build` still raises NotImplementedError\.$"):
        require(build, "Exercise 3")()
    with pytest.raises(ExerciseUnfinished, match="Finish Exercise 4 first: `search` is not defined yet"):
        require("search", "Exercise 4", {})
    with pytest.raises(ExerciseUnfinished, match="should be a function"):
        require("statements", "Exercise 5", {"statements": {}})


def test_require_looks_names_up_in_the_callers_globals():
    assert require("test_require_passes_a_finished_answer_through", "Exercise 1") is not None


def test_require_shows_one_sentence_in_a_notebook():
    error = ExerciseUnfinished("Finish Exercise 6 first: `confusion_matrix` is not defined yet (run its cell).")
    assert error._render_traceback_() == [f"ExerciseUnfinished: {error}"]
