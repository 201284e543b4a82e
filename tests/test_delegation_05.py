"""Notebook 05: a submission that delegates an exercise to what the student installs earns nothing.

The delegating students (tests/submissions/delegation_05.py) answer every exercise (all five ask
for functions) with the shortest code that imports what the student's environment offers:
everything the modules notebook 05 uses export, the functions where the course package once held
them, and any function of the student package that has an answer's name. They are graded in the
notebook's one shared nbgrader run (tests/graded_runs.py), beside the solution and the unchanged
release (``blank``). Where an answer is missing, the later cells that use it must stop with one
sentence that names the exercise (``ExerciseUnfinished``), never with another error or a
reference's result.
"""

from __future__ import annotations

import pytest

from submissions.delegation_05 import ASSIGNMENT, answer_names, variants

pytestmark = pytest.mark.slow

POINTS = {"ex1": 2, "ex2": 2, "ex3": 2, "ex4": 2, "ex5": 3}
STUDENTS = ["delegate_star", "delegate_attribute", "delegate_same_name"]


@pytest.fixture
def run(graded_runs):
    return graded_runs(ASSIGNMENT)


def _exercise_scores(run, student):
    """(score, max) of each autograded exercise (manually graded answers belong to none)."""
    return {exercise: value for exercise, value in run.exercise_scores(student).items() if exercise}


def test_the_solution_scores_full_marks(run):
    scores = _exercise_scores(run, "solution")
    assert {exercise: maximum for exercise, (_, maximum) in scores.items()} == POINTS
    assert {exercise: score for exercise, (score, _) in scores.items()} == POINTS


def test_every_exercise_has_a_delegating_answer(run):
    made = variants(answer_names(run.source))
    assert sorted(made) == sorted(STUDENTS)
    assert all(set(answers) == set(POINTS) for answers in made.values())


@pytest.mark.parametrize("student", STUDENTS)
def test_a_delegating_submission_earns_nothing(run, student):
    earned = {exercise: score for exercise, (score, _) in _exercise_scores(run, student).items() if score > 0}
    assert not earned, f"{student}: delegated exercises earned points: {earned}"


@pytest.mark.parametrize("student", ["delegate_star", "delegate_attribute", "blank"])
def test_later_cells_name_the_exercise_to_finish(run, student):
    """Where no answer is there, each cell that uses one stops with ExerciseUnfinished, and the
    first such cell names Exercise 1."""
    stopped = []
    for cell in run.autograded(student).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade") or meta.get("solution"):
            continue
        for output in cell.outputs:
            if output.output_type == "error":
                assert output.ename == "ExerciseUnfinished", (
                    f"{student}: cell {meta.get('grade_id')} stopped with {output.ename}: {output.evalue}"
                )
                assert output.traceback == [f"ExerciseUnfinished: {output.evalue}"], "one sentence, no traceback"
                stopped.append((meta["grade_id"], output.evalue))
    assert stopped and stopped[0][0] == "kernels-of-images" and "Exercise 1" in stopped[0][1], stopped
    assert "training-snapshots" in {grade_id for grade_id, _ in stopped}


def test_the_checks_load_without_keras(project_root):
    """Every student's grading process loads checks.py: the grader's side is NumPy alone (the
    networks are built with Keras in the student's kernel only; the colours come from a table)."""
    import subprocess
    import sys

    program = (
        "import sys\n"
        "from involution_instructor.judging import load_checks\n"
        f"load_checks({str(project_root / 'solutions' / ASSIGNMENT / 'checks.py')!r}, {ASSIGNMENT!r})\n"
        "heavy = {'keras', 'tensorflow', 'matplotlib'} & set(sys.modules)\n"
        "assert not heavy, sorted(heavy)\n"
    )
    subprocess.run([sys.executable, "-c", program], check=True, cwd=project_root)
