"""Notebooks 01 and 02: an answer that hands its work to Keras, TensorFlow or the course's own
``Involution`` layer scores nothing on that exercise.

The student package holds no answer to these exercises, but the student environment holds Keras
(``Conv2D``, ``keras.ops.conv``, ``tf.nn.conv2d``) and the course's Keras ``Involution`` layer, which
notebooks 03 to 05 need. The hidden tests run the student's functions while those are made to raise.
The delegating students (tests/submissions/delegation_01.py, delegation_02.py) answer several
exercises at once and are graded in each notebook's one shared nbgrader run (tests/graded_runs.py):
each delegated exercise scores zero, and its failing tests name what was called; the others keep
full marks.
"""

from __future__ import annotations

import pytest

from involution_instructor import grading
from submissions import delegation_01, delegation_02

pytestmark = pytest.mark.slow

GUARD_WORDS = "yourself"  # every refusal in the hidden tests says "compute it yourself"

CASES = [
    (module.ASSIGNMENT, student, sorted({grading.exercise_of(grade_id) for grade_id in answers}))
    for module in (delegation_01, delegation_02)
    for student, answers in module.VARIANTS.items()
]


def _errors_of(run, student: str, exercise: str) -> list[str]:
    """The error messages of ``exercise``'s test cells in ``student``'s graded notebook."""
    return [
        f"{output.ename}: {output.evalue}"
        for cell in run.autograded(student).cells
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
        and grading.exercise_of(cell.metadata["nbgrader"]["grade_id"]) == exercise
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]


@pytest.mark.parametrize("assignment", ["01-convolution", "02-involution-numpy"])
def test_solution_scores_full_marks(assignment, graded_runs):
    exercises = {name: value for name, value in graded_runs(assignment).exercise_scores("solution").items() if name}
    assert all(score == maximum for score, maximum in exercises.values()), f"{assignment}: {exercises}"


@pytest.mark.parametrize(("assignment", "student", "delegated"), CASES, ids=[f"{a[:2]}-{s}" for a, s, _ in CASES])
def test_a_delegating_answer_scores_zero_on_its_exercise_only(assignment, student, delegated, graded_runs):
    run = graded_runs(assignment)
    exercises = {name: value for name, value in run.exercise_scores(student).items() if name}
    earned = {name: exercises[name] for name in delegated if exercises[name][0] > 0}
    assert not earned, f"{assignment}, {student}: delegated exercises earned points: {earned}"
    others = {name: value for name, value in exercises.items() if name not in delegated}
    assert all(score == maximum for score, maximum in others.values()), f"{assignment}, {student}: {others}"
    for exercise in delegated:  # the grader refused the delegation (from the source, or as it ran), and said so
        errors = _errors_of(run, student, exercise)
        assert errors and all(GUARD_WORDS in error and ("called" in error or "uses" in error) for error in errors), (
            f"{assignment}, {student}: {exercise} failed for another reason: {errors}")
