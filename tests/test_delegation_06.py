"""Notebook 06: nothing that students install answers an exercise for them.

Exercises 1, 2 and 4 ask for small functions that no module of the student package defines; this
checks that none does, under the answers' names. Exercise 3 asks for a Pallas kernel, and the student
package holds fused kernels of its own (``involution_course.fused``): its judge
(solutions/06-making-involution-fast/checks.py) refuses, from the submitted source, a kernel that
calls another kernel, computes on the host through a callback or uses the course's fused kernels,
and the primitives that JAX traced in the kernel must agree. The mutants of
tests/submissions/mutants_06.py prove the first two refusals in the real nbgrader run
(docs/mutants.md: "another kernel called inside", "NumPy on the host through jax.pure_callback");
the tests below prove the third on the judge alone.
"""

from __future__ import annotations

import ast

import jupytext
import numpy as np
import pytest

from involution_instructor.judging import load_checks
from involution_instructor.judging.plan import Context, inputs_for
from involution_instructor.judging.source import StudentSource

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


TILE = """def involution_tile(x_ref, k_ref, o_ref, *, stride):
    rows, cols, channels = o_ref.shape
    groups, size = k_ref.shape[2], k_ref.shape[3]
    total = jnp.zeros((rows, cols, channels), jnp.float32)
    for ki in range(size):
        for kj in range(size):
            window = x_ref[pl.ds(ki, rows, stride=stride), pl.ds(kj, cols, stride=stride), :]
            total = total + window * jnp.repeat(k_ref[:, :, :, ki, kj], channels // groups, axis=-1)
    o_ref[...] = total
"""


def _judge_tile(project_root, source: str):
    """The ex3 judge on ``source`` and an observation that holds the right outputs (as a forging
    kernel could report them) and one traced pallas_call."""
    checks = load_checks(project_root / "solutions" / ASSIGNMENT / "checks.py", ASSIGNMENT)
    check = checks["ex3_test_tile"]
    data = inputs_for(check, 7)
    expected = check.expect(data)
    seen = {"outputs": [{"value": want.astype(np.float32)} for want in expected],
            "primitives": {"value": ["pallas_call", "mul", "add"]}}
    check.judge(Context(check.grade_id, data, seen, expected, StudentSource({"ex3_tile": source})))


def test_the_tile_judge_passes_a_tile_computed_with_jax_numpy(project_root):
    _judge_tile(project_root, TILE)


@pytest.mark.parametrize("delegation", [
    "from involution_course.fused import pallas_kernels\n",
    "import involution_course.fused\n",
    "from involution_course import fused\n_kernel = fused.pallas_kernels\n",
    "import jax\n_host = jax.pure_callback\n",
])
def test_the_tile_judge_refuses_the_course_s_fused_kernels_and_callbacks(project_root, delegation):
    with pytest.raises(AssertionError, match="must compute the tile itself"):
        _judge_tile(project_root, delegation + TILE)


def test_the_tile_judge_refuses_another_kernel_inside(project_root):
    nested = TILE.replace("    o_ref[...] = total\n", "    o_ref[...] = pl.pallas_call(lambda *refs: None, out_shape=None)(total)\n")
    with pytest.raises(AssertionError, match="pallas_call"):
        _judge_tile(project_root, nested)


def test_the_checks_load_without_keras_or_jax(project_root):
    """Every student's grading process loads checks.py: the grader's side is NumPy alone (the tile
    runs through JAX in the student's kernel only)."""
    import subprocess
    import sys

    program = (
        "import sys\n"
        "from involution_instructor.judging import load_checks\n"
        f"load_checks({str(project_root / 'solutions' / ASSIGNMENT / 'checks.py')!r}, {ASSIGNMENT!r})\n"
        "heavy = {'keras', 'tensorflow', 'jax'} & set(sys.modules)\n"
        "assert not heavy, sorted(heavy)\n"
    )
    subprocess.run([sys.executable, "-c", program], check=True, cwd=project_root)
