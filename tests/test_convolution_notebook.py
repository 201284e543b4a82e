"""Notebook 01-convolution, read without running it: each exercise is graded on its own."""

from __future__ import annotations

import ast

import jupytext
import pytest

from involution_instructor.grading import exercise_of

ASSIGNMENT = "01-convolution"


@pytest.fixture(scope="module")
def cells(project_root):
    notebook = jupytext.read(project_root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.py", fmt="py:percent")
    return [
        (cell.metadata.get("nbgrader", {}), cell.source)
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]


def _defined_names(source: str) -> set[str]:
    return {node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}


def _used_names(source: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}


def test_every_exercise_has_answers_and_graded_tests(cells):
    answers = {exercise_of(meta["grade_id"]) for meta, _ in cells if meta.get("solution")}
    graded = {exercise_of(meta["grade_id"]) for meta, _ in cells if meta.get("grade")}
    assert answers == graded == {"ex1", "ex2", "ex3", "ex4"}


def test_test_cells_call_only_their_own_exercise(cells):
    answers_of: dict[str, set[str]] = {}
    for meta, source in cells:
        if meta.get("solution"):
            answers_of.setdefault(exercise_of(meta["grade_id"]), set()).update(_defined_names(source))
    assert answers_of["ex1"] == {"conv2d_naive"} and answers_of["ex2"] == {"conv2d_fast"}
    for meta, source in cells:
        if not meta.get("grade"):
            continue
        own = exercise_of(meta["grade_id"])
        others = set().union(*(names for exercise, names in answers_of.items() if exercise != own))
        borrowed = _used_names(source) & others
        assert not borrowed, f"{meta['grade_id']} uses answers of other exercises: {sorted(borrowed)}"


def test_keras_is_imported_after_the_set_up(cells):
    order = [meta.get("grade_id") for meta, _ in cells]
    first_keras = next(i for i, (_, source) in enumerate(cells) if "import keras" in source)
    assert first_keras > order.index("setup")
