"""Notebook 05: a submission that delegates an exercise to what the student installs earns nothing.

Each delegating student submits the solution notebook with the answer cell of every exercise
(all five ask for functions) replaced by the shortest code that imports what the student's
environment offers: everything the modules notebook 05 uses export, the functions where the
course package once held them, and any function of the student package that has an answer's
name. They are graded in one real nbgrader run beside the solution and the unchanged release.
Where an answer is missing, the later cells that use it must stop with one sentence that names
the exercise (``ExerciseUnfinished``), never with another error or a reference's result.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
from pathlib import Path

import nbformat
import pytest

from involution_instructor import grading

pytestmark = pytest.mark.slow

ASSIGNMENT = "05-kernel-visualisation"
POINTS = {"ex1": 2, "ex2": 2, "ex3": 2, "ex4": 2, "ex5": 3}


def _answer_cells(notebook) -> dict[str, list]:
    cells: dict[str, list] = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        exercise = grading.exercise_of(meta.get("grade_id", ""))
        if meta.get("solution") and cell.cell_type == "code" and exercise:
            cells.setdefault(exercise, []).append(cell)
    return cells


def _answer_names(notebook) -> dict[str, list[str]]:
    """The functions each exercise's answer cells define."""
    return {
        exercise: [node.name for cell in cells for node in ast.parse(cell.source).body
                   if isinstance(node, ast.FunctionDef)]
        for exercise, cells in _answer_cells(notebook).items()
    }


def _student_modules() -> list[str]:
    import involution_course

    return ["involution_course"] + [
        module.name for module in pkgutil.walk_packages(involution_course.__path__, "involution_course.")
        if not module.name.endswith("__main__")  # the command line, which runs on import
    ]


STAR = "\n".join(f"from {module} import *" for module in (
    "involution_course", "involution_course.kernels", "involution_course.figures",
    "involution_course.checks", "involution_course.exercises", "involution_course.layers",
))


def _variants(names: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    same_name = {}
    for exercise, functions in names.items():
        lines = [
            f"from {module} import {function}"
            for function in functions
            for module in _student_modules()
            if hasattr(importlib.import_module(module), function)
        ]
        same_name[exercise] = "\n".join(lines) or STAR
    return {
        # Everything the modules that notebook 05 uses export, by name.
        "star": {exercise: STAR for exercise in names},
        # The functions where the course package once held them.
        "attribute": {
            exercise: "from involution_course import kernels\n"
            + "\n".join(f"{function} = kernels.{function}" for function in functions)
            for exercise, functions in names.items()
        },
        # Any function of the student package that has an answer's name.
        "same_name": same_name,
    }


def with_answers_replaced(notebook, answers: dict[str, str]):
    """A copy of ``notebook`` whose answer cells of each exercise in ``answers`` hold that code."""
    changed = nbformat.from_dict(notebook)
    cells = _answer_cells(changed)
    assert set(cells) == set(answers), f"answer cells {sorted(cells)}, replacements {sorted(answers)}"
    for exercise, code in answers.items():
        for cell in cells[exercise]:
            cell.source = code
    return changed


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    os.environ["INVOLUTION_COURSE_PROFILE"] = "grading"
    os.environ.setdefault("INVOLUTION_COURSE_NO_PROGRESS", "1")
    course = grading.prepare_course(tmp_path_factory.mktemp("delegation-05"), [ASSIGNMENT])
    source = nbformat.read(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    variants = _variants(_answer_names(source))
    grading.submit(course, "solution", ASSIGNMENT, source)
    grading.submit(course, "release", ASSIGNMENT, course / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    for student, answers in variants.items():
        grading.submit(course, student, ASSIGNMENT, with_answers_replaced(source, answers))
    grading.autograde(course, ASSIGNMENT)
    return course, variants


def _exercise_scores(course: Path, student: str) -> dict[str, tuple[float, float]]:
    totals: dict[str, tuple[float, float]] = {}
    for cell in grading.scores(course, ASSIGNMENT, student).values():
        exercise = grading.exercise_of(cell.grade_id)
        score, maximum = totals.get(exercise, (0.0, 0.0))
        totals[exercise] = (score + cell.score, maximum + cell.max_score)
    return totals


def _autograded(course: Path, student: str):
    return nbformat.read(course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)


def test_the_solution_scores_full_marks(graded):
    course, _ = graded
    scores = _exercise_scores(course, "solution")
    assert {exercise: maximum for exercise, (_, maximum) in scores.items()} == POINTS
    assert {exercise: score for exercise, (score, _) in scores.items()} == POINTS


def test_every_exercise_has_a_delegating_answer(graded):
    _, variants = graded
    assert all(set(answers) == set(POINTS) for answers in variants.values())


@pytest.mark.parametrize("student", ["star", "attribute", "same_name"])
def test_a_delegating_submission_earns_nothing(graded, student):
    course, _ = graded
    earned = {exercise: score for exercise, (score, _) in _exercise_scores(course, student).items() if score > 0}
    assert not earned, f"{student}: delegated exercises earned points: {earned}"


@pytest.mark.parametrize("student", ["star", "attribute", "release"])
def test_later_cells_name_the_exercise_to_finish(graded, student):
    """Where no answer is there, each cell that uses one stops with ExerciseUnfinished, and the
    first such cell names Exercise 1."""
    course, _ = graded
    stopped = []
    for cell in _autograded(course, student).cells:
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
