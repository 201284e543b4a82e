"""Notebook 06: nothing that students install answers an exercise for them.

Exercises 1, 2 and 4 ask for small functions that no module of the student package defines; this
checks that none does, under the answers' names. Exercise 3 asks for a Pallas kernel, and the student
package holds fused kernels of its own (``involution_course.fused``): its hidden tests trace the
student's kernel and refuse one that calls another kernel or computes on the host through a
callback. The mutants of tests/submissions/mutants_06.py prove both refusals in the real nbgrader
run (docs/mutants.md: "another kernel called inside", "NumPy on the host through
jax.pure_callback").
"""

from __future__ import annotations

import ast
import jupytext

ASSIGNMENT = "06-making-involution-fast"


def answer_names(root) -> set[str]:
    """The functions that the answer cells of notebook 06 define."""
    notebook = jupytext.read(root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.py", fmt="py:percent")
    names = set()
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            names |= {node.name for node in ast.parse(cell.source).body if isinstance(node, ast.FunctionDef)}
    return names


def test_the_answers_are_the_four_exercises_functions(project_root):
    assert answer_names(project_root) == {
        "multiply_add_flops", "bytes_moved", "attainable_flops", "time_floor", "involution_tile", "input_span"}


def _top_level_names(tree) -> set[str]:
    """What a module defines or imports at its top level (what `from module import name` finds)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Assign):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def test_no_student_module_defines_an_answer_s_name(project_root):
    """Every module of the student package, the fused kernels included, read rather than imported
    (importing them all would need TensorFlow, Triton and a GPU)."""
    names = answer_names(project_root)
    package = project_root / "src" / "student" / "involution_course"
    found = [
        f"{path.relative_to(package)}: {sorted(defined & names)}"
        for path in sorted(package.rglob("*.py"))
        for defined in [_top_level_names(ast.parse(path.read_text(encoding="utf-8")))] if defined & names
    ]
    assert not found, f"the student package answers notebook 06 by name: {found}"
