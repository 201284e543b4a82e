"""Notebook 05: students whose answers delegate to what the student installs (see tests/test_delegation_05.py).

Each student answers every exercise (all five ask for functions) with the shortest code that
imports what the student's environment offers: everything the modules notebook 05 uses export,
the functions where the course package once held them, and any function of the student package
that has an answer's name.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil

from graded_runs import with_answers
from involution_instructor import grading

ASSIGNMENT = "05-kernel-visualisation"

STAR = "\n".join(f"from {module} import *" for module in (
    "involution_course", "involution_course.kernels", "involution_course.figures",
    "involution_course.checks", "involution_course.exercises", "involution_course.layers",
))


def answer_names(notebook) -> dict[str, list[str]]:
    """The functions each exercise's answer cells define."""
    names: dict[str, list[str]] = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        exercise = grading.exercise_of(meta.get("grade_id", ""))
        if meta.get("solution") and cell.cell_type == "code" and exercise:
            names.setdefault(exercise, []).extend(
                node.name for node in ast.parse(cell.source).body if isinstance(node, ast.FunctionDef))
    return names


def _student_modules() -> list[str]:
    import involution_course

    return ["involution_course"] + [
        module.name for module in pkgutil.walk_packages(involution_course.__path__, "involution_course.")
        if not module.name.endswith("__main__")  # the command line, which runs on import
        # The GPU kernels import triton or jax.experimental.pallas: triton's compiler aborts a process
        # that has loaded jaxlib's, and neither module defines a function of notebook 05.
        and not module.name.startswith("involution_course.fused.")
    ]


def variants(names: dict[str, list[str]]) -> dict[str, dict[str, str]]:
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
        "delegate_star": {exercise: STAR for exercise in names},
        # The functions where the course package once held them.
        "delegate_attribute": {
            exercise: "from involution_course import kernels\n"
            + "\n".join(f"{function} = kernels.{function}" for function in functions)
            for exercise, functions in names.items()
        },
        # Any function of the student package that has an answer's name.
        "delegate_same_name": same_name,
    }


def students(source) -> dict:
    return {name: with_answers(source, answers) for name, answers in variants(answer_names(source)).items()}
