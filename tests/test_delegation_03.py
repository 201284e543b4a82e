"""Notebook 03 asks for the layer that the course package already holds (``involution_course.layers``).

Its grading must make delegation worthless: an answer that subclasses, wraps or calls the package's
``Involution`` scores nothing on that exercise, while the solution scores full marks. The grader judges
delegation from the submitted source (solutions/03-involution-keras/checks.py, ``delegation``: the answer
and what it reaches by name); in the kernel, the refusal (``involution_course.layers.refusing_reference``)
and the list of methods borrowed from the course package can only take marks away. (The wrapper, the
borrowed methods and the delegating answers to exercises 1 and 2 compute the right values.)
The students (tests/submissions/delegation_03.py) are graded in the notebook's one shared nbgrader run
(tests/graded_runs.py): one hands exercises 1 and 2 to the layer's parts (and so exercise 3, whose layer
calls exercise 2's answer), and one per way of delegating exercise 3.

The literal expected values in notebook 03's visible tests come from the NumPy definitions below;
``python tests/test_delegation_03.py`` prints them, and the fast test checks that the notebook holds
exactly those values.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

from submissions import delegation_03

ASSIGNMENT = "03-involution-keras"
ROOT = Path(__file__).resolve().parents[1]
BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's default


# --- the definitions, in NumPy (float64) ---------------------------------------------------------
def fixture_values(shape, offset=0.0):
    """As notebook 03's ``fixture_values``: deterministic values in [-1, 1]."""
    return np.sin(0.7 * np.arange(int(np.prod(shape))) + offset).reshape(shape).astype("float32")


def fixture_weights(channels, kernel_size, groups, reduction_ratio):
    """The weights notebook 03's ``set_fixture_weights`` gives reduce (k=0), bn (k=1) and span (k=2)."""
    reduced = max(1, channels // reduction_ratio)
    shapes = [
        [(1, 1, channels, reduced), (reduced,)],
        [(reduced,)] * 4,
        [(1, 1, reduced, kernel_size * kernel_size * groups), (kernel_size * kernel_size * groups,)],
    ]
    weights = [[fixture_values(shape, offset=k + i / 4).astype("float64") for i, shape in enumerate(part)] for k, part in enumerate(shapes)]
    weights[1][3] = np.abs(weights[1][3]) + 0.5
    return weights


def block_pool(x, stride):
    """The mean of the pixels inside the image of each stride x stride block starting at (i*s, j*s)."""
    batch, height, width, channels = x.shape
    rows, cols = -(-height // stride), -(-width // stride)
    pooled = np.zeros((batch, rows, cols, channels))
    for i in range(rows):
        for j in range(cols):
            pooled[:, i, j] = x[:, i * stride : (i + 1) * stride, j * stride : (j + 1) * stride].mean(axis=(1, 2))
    return pooled


def kernel_planes(x, weights, stride):
    """span(ReLU(BN(reduce(pool(x))))), shape (B, H_out, W_out, K*K*G)."""
    (reduce_kernel, reduce_bias), (gamma, beta, mean, variance), (span_kernel, span_bias) = weights
    z = block_pool(x.astype("float64"), stride) @ reduce_kernel[0, 0] + reduce_bias
    z = gamma * (z - mean) / np.sqrt(variance + BN_EPSILON) + beta
    return np.maximum(z, 0) @ span_kernel[0, 0] + span_bias


def multiply_add(x, kernel, stride):
    """out[b, i, j, c] = sum over ki, kj of x_pad[b, i*s + ki, j*s + kj, c] * kernel[b, i, j, g(c), ki, kj]."""
    batch, _, _, channels = x.shape
    _, rows, cols, groups, size, _ = kernel.shape
    pad = (size - 1) // 2
    padded = np.pad(x.astype("float64"), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    group_of = np.arange(channels) // (channels // groups)
    out = np.zeros((batch, rows, cols, channels))
    for i in range(rows):
        for j in range(cols):
            for ki in range(size):
                for kj in range(size):
                    out[:, i, j] += padded[:, i * stride + ki, j * stride + kj] * kernel[:, i, j, group_of, ki, kj]
    return out


def fixtures() -> dict[str, np.ndarray]:
    """The expected values of notebook 03's literal test cases, by name in the notebook."""
    ex1 = kernel_planes(fixture_values((1, 4, 5, 2)), fixture_weights(2, 3, 1, 1), stride=3)
    ex2 = multiply_add(fixture_values((1, 5, 4, 4)), fixture_values((1, 3, 2, 2, 3, 3), offset=1.0).astype("float64"), 2)
    x3 = fixture_values((1, 3, 4, 2), offset=2.0)
    kernel3 = kernel_planes(x3, fixture_weights(2, 3, 2, 1), stride=2).reshape(1, 2, 2, 2, 3, 3)
    ex3 = multiply_add(x3, kernel3, 2)
    kernel3_stride_one = kernel_planes(x3, fixture_weights(2, 3, 1, 1), stride=1).reshape(1, 3, 4, 1, 3, 3)
    ex3_stride_one = multiply_add(x3, kernel3_stride_one, 1)
    return {"ex1_expected": ex1, "ex2_expected": ex2, "ex3_stride_one_expected": ex3_stride_one, "ex3_expected": ex3}


def _literal(array: np.ndarray) -> str:
    return np.array2string(np.round(array, 6), separator=", ", precision=6, floatmode="fixed", suppress_small=True, max_line_width=104)


# --- the literals held by the notebook -----------------------------------------------------------
def notebook_literals() -> dict[str, np.ndarray]:
    """``name = np.array([...])`` assignments of the solution notebook's test cells, by name."""
    from involution_instructor.solution_code import notebook_cells

    found = {}
    for _grade_id, meta, source in notebook_cells(ASSIGNMENT, ROOT):
        if not meta.get("grade"):
            continue
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id.endswith("_expected")
                and isinstance(node.value, ast.Call)
                and ast.unparse(node.value.func) == "np.array"
            ):
                found[node.targets[0].id] = np.array(ast.literal_eval(node.value.args[0]))
    return found


def test_notebook_literals_are_the_definitions_values():
    literals = notebook_literals()
    expected = fixtures()
    assert set(literals) == set(expected), f"notebook 03 holds {sorted(literals)}, expected {sorted(expected)}"
    for name, values in expected.items():
        np.testing.assert_allclose(literals[name], values, atol=2e-6, err_msg=f"{name}: run python tests/test_delegation_03.py")


def test_definitions_agree_with_the_reference_layer():
    """The NumPy definitions here and the package's layer agree, so the literals describe the course's layer."""
    import keras

    from involution_course.layers import Involution

    x = fixture_values((1, 3, 4, 2), offset=2.0)
    layer = Involution(3, 2, 2, 1)
    layer.build(x.shape)
    for sub, weights in zip((layer.reduce, layer.bn, layer.span), fixture_weights(2, 3, 2, 1)):
        sub.set_weights([w.astype("float32") for w in weights])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), fixtures()["ex3_expected"], atol=1e-5)


# --- delegating answers, graded in the notebook's shared nbgrader run -----------------------------
# The students are in tests/submissions/delegation_03.py.
POINTS = {"ex1": 3, "ex2": 3, "ex3": 4, "ex4": 2}


def _exercise_scores(run, student) -> dict[str, tuple[float, float]]:
    """(score, max) of each autograded exercise (the answers graded by hand belong to none)."""
    return {exercise: value for exercise, value in run.exercise_scores(student).items() if exercise}


def _errors_of(run, student: str, exercise: str) -> list[str]:
    """The grader's verdict on each of ``exercise``'s test cells in ``student``'s graded notebook
    (None where it passed): judged outside the kernel (solutions/03-involution-keras/checks.py)."""
    from involution_instructor import grading

    errors = []
    for cell in run.autograded(student).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and grading.exercise_of(meta["grade_id"]) == exercise:
            verdict = cell.metadata.get("judging", {})
            errors.append(None if verdict.get("status") == "passed" else f"{verdict.get('status')}: {verdict.get('message')}")
    return errors


@pytest.mark.slow
def test_solution_scores_full_marks(graded_runs):
    exercises = _exercise_scores(graded_runs(ASSIGNMENT), "solution")
    assert exercises == {name: (float(points), float(points)) for name, points in POINTS.items()}, exercises


@pytest.mark.slow
@pytest.mark.parametrize("student", list(delegation_03.STUDENTS))
def test_delegating_answer_scores_zero_where_it_delegates(graded_runs, student):
    run = graded_runs(ASSIGNMENT)
    delegating = delegation_03.STUDENTS[student][1]
    exercises = _exercise_scores(run, student)
    for exercise in delegating:
        assert exercises[exercise][0] == 0, f"{student} scored {exercises[exercise]} on {exercise}"
        # Every test cell failed, and the grader said why: the answer used the course's layer.
        errors = _errors_of(run, student, exercise)
        assert all(errors) and any("involution_course.layers.Involution" in error for error in errors), (
            f"{student}, {exercise}: {errors}")
    # The other exercises keep full marks: the refusal is undone after each test cell.
    others = {name: value for name, value in exercises.items() if name not in delegating}
    assert all(score == maximum for score, maximum in others.values()), f"{student}: {others}"


def test_every_delegation_style_has_a_student():
    """Exercises 1 and 2 delegate to the layer's parts; exercise 3 subclasses, wraps, calls or copies
    the layer, each under the solution's exercise 2, so that only its own answer can zero it; exercise 2's
    delegation zeroes exercise 3 too, by design (the solution's layer calls exercise 2's answer)."""
    students = delegation_03.STUDENTS
    assert students["delegate_every_exercise"][1] == {"ex1", "ex2", "ex3"}
    assert "ex3_layer" not in students["delegate_every_exercise"][0]
    styles = {name for name in students if name.startswith("delegate_ex3_")}
    assert {f"delegate_ex3_{style}" for style in ("subclass", "wrapper", "call", "borrowed")} == styles
    assert all(set(students[name][0]) == {"ex3_layer"} and students[name][1] == {"ex3"} for name in styles)


# --- delegation judged from the source (solutions/03-involution-keras/checks.py) ------------------
ANSWER_CELLS = {"ex1": "ex1_kernel_generator", "ex2": "ex2_multiply_add", "ex3": "ex3_layer", "ex4": "ex4_save_and_reload"}


def _checks_module():
    from involution_instructor.judging import load_checks

    checks = load_checks(ROOT / "solutions" / ASSIGNMENT / "checks.py", ASSIGNMENT)
    return sys.modules[checks["ex1_test_values"].judge.__module__]


def _flagged(answers: dict[str, str], added: tuple[str, ...] = ()) -> set[str]:
    """The exercises whose answers the grader finds delegating, for the solution with ``answers`` (by
    grade id or exercise) and the cells ``added`` after them."""
    from involution_instructor.judging.source import StudentSource
    from involution_instructor.solution_code import notebook_cells

    cells = {}
    for grade_id, meta, source in notebook_cells(ASSIGNMENT, ROOT):
        if meta.get("solution"):
            cells[grade_id] = answers.get(grade_id, answers.get(grade_id.split("_")[0], source))
    cells.update({f"cell {100 + k}": text for k, text in enumerate(added)})
    module = _checks_module()
    source = StudentSource(cells)
    return {exercise for exercise, cell in ANSWER_CELLS.items() if module.delegation(source, cell)}


def test_the_source_shows_each_delegation_where_it_happens():
    from submissions import mutants_03

    assert _flagged({}) == set()
    for name, (answers, delegating) in delegation_03.STUDENTS.items():
        assert _flagged(answers) == delegating, name
    for entries in mutants_03.MUTANTS.values():
        for mutant in entries:
            assert _flagged(mutant.answers) == set(), mutant.name


@pytest.mark.parametrize("added, delegating", [
    (("from involution_course.layers import Involution\nInvolutionLayer.call = Involution.call",), {"ex3"}),
    (("import involution_course as course\nsetattr(InvolutionLayer, 'call', getattr(course.layers, 'Involution').call)",), {"ex3"}),
    (("InvolutionLayer.call = keras.saving.get_registered_object('involution_course>Involution').call",), {"ex3"}),
    (("from involution_course.fused import fused_multiply_add as fast",
      "def involution_multiply_add(x, kernel, stride=1):\n    return fast(x, kernel, kernel_size=3, stride=stride, groups=1)"), {"ex2", "ex3"}),
    (("from involution_course.layers import Involution\n\n\nclass InvolutionLayer(Involution):\n    pass",), {"ex3"}),
    (("from involution_course.layers import Involution\nprint(Involution(3)(np.zeros((1, 4, 4, 2), 'float32')).shape)",), set()),
])
def test_cells_a_student_adds_count_where_they_touch_an_answer(added, delegating):
    assert _flagged({}, added) == delegating


def test_a_students_own_helpers_may_share_the_reference_layers_names():
    layer = """\
class InvolutionLayer(layers.Layer):
    def _window(self, x_pad, ki, kj):
        return x_pad

    def call(self, x):
        return self._window(x, 0, 0)
"""
    assert _flagged({"ex3_layer": layer}) == set()


def test_the_reference_names_cover_the_course_layer():
    from involution_course import layers

    module = _checks_module()
    helpers = {name for name in vars(layers.Involution) if name.startswith("_") and not name.startswith("__")}
    assert helpers | set(layers._REFUSED_HELPERS) <= module.REFERENCE_NAMES


def test_the_checks_load_without_keras():
    """Every student's grading process loads checks.py: it must not pull in Keras or TensorFlow."""
    import subprocess

    program = (
        "import sys\n"
        "from involution_instructor.judging import load_checks\n"
        f"load_checks({str(ROOT / 'solutions' / ASSIGNMENT / 'checks.py')!r}, {ASSIGNMENT!r})\n"
        "assert not {'keras', 'tensorflow'} & set(sys.modules), sorted({'keras', 'tensorflow'} & set(sys.modules))\n"
    )
    subprocess.run([sys.executable, "-c", program], check=True, cwd=ROOT)


def test_the_visible_twin_reads_delegation_as_the_grader_does():
    """The notebook's visible tests read the answer with ``code_rules.names_used``: a subclass, a call or a
    copied method of the course's layer is named; a layer of the student's own, with BlockAveragePooling2D, is not."""
    import keras

    from involution_course import code_rules
    from involution_course.layers import BlockAveragePooling2D, Involution

    names, modules = {"Involution", "bottleneck", "fused_multiply_add", "refusing_reference"}, ["involution_course.fused"]

    class Subclass(Involution):
        pass

    class Wrapper(keras.layers.Layer):
        def call(self, x):
            return Involution()(x)

    class Copied(keras.layers.Layer):
        call = Involution.call

    class Own(keras.layers.Layer):
        def build(self, input_shape):
            self.pool = BlockAveragePooling2D(2)

        def call(self, x):
            return self.pool(x)

    assert code_rules.names_used(Subclass, names, modules) == ["its base class Involution"]
    assert code_rules.names_used(Wrapper, names, modules) == ["Involution"]
    assert code_rules.names_used(Copied, names, modules) == ["Copied.call from involution_course.layers"]
    assert code_rules.names_used(Own, names, modules) == []
    import linecache

    cell = "def call(x):\n    return Layer()(x)\n"  # a cell, after `from involution_course.layers import Involution as Layer`
    linecache.cache["<cell renamed>"] = (len(cell), None, cell.splitlines(True), "<cell renamed>")
    renamed = {"Layer": Involution}
    exec(compile(cell, "<cell renamed>", "exec"), renamed)
    assert code_rules.names_used(renamed["call"], names, modules) == ["Layer (involution_course.layers.Involution)"]
    with pytest.raises(AssertionError, match="Wrapper uses Involution: write it yourself"):
        code_rules.assert_not_named(Wrapper, names, modules, rule="write it yourself")


def test_the_other_backends_get_the_layer_with_what_it_reaches():
    """``other_backends.layer_source`` writes the class after the imports of what it reaches by name: a
    function it calls (importable here, so imported; a notebook's own is written out) and its modules."""
    from involution_course.other_backends import layer_source

    source = layer_source(_make_source_layer())
    assert "class _SourceLayer(layers.Layer):" in source
    assert "import _source_helper as _source_helper" in source and "ops as ops" in source
    compile(source, "<layer source>", "exec")


def _source_helper(x):
    from keras import ops

    return ops.relu(x)


def _make_source_layer():
    """The layer defined in a cell, as IPython does it: compiled under a cell name that linecache knows."""
    import linecache

    from keras import layers, ops

    cell = "class _SourceLayer(layers.Layer):\n    def call(self, x):\n        return _source_helper(ops.abs(x))\n"
    linecache.cache["<cell 03>"] = (len(cell), None, cell.splitlines(True), "<cell 03>")
    namespace = {"layers": layers, "ops": ops, "_source_helper": _source_helper, "config": {"not": "carried"}}
    exec(compile(cell, "<cell 03>", "exec"), namespace)
    return namespace["_SourceLayer"]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src" / "instructor"))
    for name, values in fixtures().items():
        print(f"{name} = np.array({_literal(values)})\n")
