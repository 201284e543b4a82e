"""Every graded exercise proven by its mutants (tests/submissions/mutants_<nn>.py).

Student ``mutants_k`` of a notebook carries the k-th catalogue entry of every exercise at once,
graded in the notebook's one shared nbgrader run. In each such student an exercise whose k-th
entry is WRONG scores below its maximum, one whose k-th entry is RIGHT (another method) scores
full marks, and one with no k-th entry keeps the solution's answer and its full marks. The table
docs/mutants.md, generated from the same runs, must be current.
"""

from __future__ import annotations

import os

import pytest

from submissions import mutants

pytestmark = pytest.mark.slow

CATALOGUES = mutants.catalogues()
CASES = [
    (assignment, k)
    for assignment, module in CATALOGUES.items()
    for k in range(len(mutants.combine(module.MUTANTS)))
]


def test_every_exercise_has_three_wrong_and_two_right_answers():
    for assignment, module in CATALOGUES.items():
        for exercise, entries in module.MUTANTS.items():
            kinds = [entry.kind for entry in entries]
            assert kinds.count(mutants.WRONG) >= 3 and kinds.count(mutants.RIGHT) >= 2, (
                f"{assignment} {exercise}: {kinds.count(mutants.WRONG)} wrong and {kinds.count(mutants.RIGHT)} right")


@pytest.mark.parametrize("assignment", CATALOGUES)
def test_every_graded_exercise_has_a_catalogue(assignment, graded_runs):
    from involution_instructor import grading

    assert set(CATALOGUES[assignment].MUTANTS) == set(grading.exercises(graded_runs(assignment).source))


@pytest.mark.parametrize(("assignment", "k"), CASES, ids=[f"{a[:2]}-{mutants.student_name(k)}" for a, k in CASES])
def test_wrong_answers_lose_points_and_right_ones_earn_them(assignment, k, graded_runs):
    run = graded_runs(assignment)
    catalogue = CATALOGUES[assignment].MUTANTS
    student = mutants.student_name(k)
    problems = []
    for exercise, (score, maximum) in run.exercise_scores(student).items():
        if exercise is None:  # a manually graded answer: nothing to score automatically
            continue
        mutant = mutants.entry(catalogue, exercise, k)
        if mutant is not None and mutant.kind == mutants.WRONG:
            if score >= maximum:
                problems.append(f"{exercise}: the wrong answer '{mutant.name}' earns full marks ({score:g})")
        elif score < maximum:
            what = f"the right answer '{mutant.name}'" if mutant else "the solution's answer"
            problems.append(f"{exercise}: {what} scores {score:g} of {maximum:g}")
    assert not problems, f"{assignment}, {student}:\n" + "\n".join(problems)


@pytest.mark.parametrize("assignment", CATALOGUES)
def test_the_table_is_current(assignment, graded_runs):
    made = mutants.section(graded_runs(assignment), CATALOGUES[assignment].MUTANTS)
    if os.environ.get("INVOLUTION_COURSE_WRITE_MUTANTS"):  # regenerate from this session's run
        mutants.write_sections({assignment: made})
    assert mutants.committed_section(assignment) == made, (
        f"docs/mutants.md is out of date for {assignment}: regenerate it with "
        f"`.venv/bin/python tests/submissions/mutants.py --table {assignment}` (or run this test with "
        f"INVOLUTION_COURSE_WRITE_MUTANTS=1)")
