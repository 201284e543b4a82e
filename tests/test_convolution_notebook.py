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
    answers.discard(None)  # the written answers, graded by hand, are markdown cells: not among these
    graded.discard(None)
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


def test_the_student_package_holds_no_convolution():
    """A student could import a convolution from the package as their answer to Exercises 1 and 2."""
    from involution_course import convolution

    assert set(convolution.__all__) == {
        "hand_made_kernels", "kernel_bank", "to_unit_float", "median_time", "compare_speed", "record_parameters",
    }
    public = {name for name in vars(convolution) if callable(getattr(convolution, name)) and not name.startswith("_")}
    assert not {name for name in public if "conv" in name.lower() or "keras" in name.lower()}, public


def test_the_release_imports_no_answer(project_root):
    """What the released notebook imports from the course package: helpers and figures only."""
    release = jupytext.read(project_root / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.py", fmt="py:percent")
    imported = set()
    for cell in release.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(_without_magics(cell.source))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("involution_course"):
                imported |= {f"{node.module}.{alias.name}" for alias in node.names}
    assert imported == {
        "involution_course.checks",
        "involution_course.colab.prepare_colab",
        "involution_course.convolution.hand_made_kernels",
        "involution_course.code_rules",
        "involution_course.convolution.CONVOLUTION_MODULES",
        "involution_course.convolution.LIBRARY_CONVOLUTIONS",
        "involution_course.convolution.OWN_CONVOLUTION",
        "involution_course.convolution.kernel_bank",
        "involution_course.convolution.compare_speed",
        "involution_course.convolution.record_parameters",
        "involution_course.convolution.to_unit_float",
        "involution_course.figures.convolution.feature_maps_figure",
        "involution_course.figures.convolution.sliding_window_figure",
    }


def test_the_checks_of_the_convolutions_refuse_keras(cells, project_root):
    """Exercises 1 to 3 could be answered by Keras itself: their checks judge the answers' source for
    Keras', TensorFlow's and SciPy's convolutions, and run the answers in the kernel while those raise."""
    import inspect

    from involution_instructor.judging import load_checks

    checks = load_checks(project_root / "solutions" / ASSIGNMENT / "checks.py", ASSIGNMENT)
    for meta, _ in cells:
        if meta.get("grade") and meta["grade_id"].split("_")[0] in {"ex1", "ex2", "ex3"}:
            check = checks[meta["grade_id"]]
            assert "refusing_convolutions(" in inspect.getsource(check.observe), meta["grade_id"]
            assert "CONVOLUTIONS" in inspect.getsource(check.judge) or "_judge_convolution" in inspect.getsource(check.judge), meta["grade_id"]


def _without_magics(source: str) -> str:
    """IPython lines (``%pip``, ``!ls``) as ``pass``, so that the cell parses as Python."""
    import re

    return re.sub(r"^(\s*)[%!].*$", r"\1pass", source, flags=re.MULTILINE)
