"""Notebook 03 asks for the layer that the course package already holds (``involution_course.layers``).

Its grading must make delegation worthless: an answer that subclasses, wraps or calls the package's
``Involution`` scores nothing on that exercise, while the solution scores full marks. The slow tests
grade one course with real nbgrader runs, one student per delegating variant. (The wrapper and the
delegating answers to exercises 1 and 2 compute the right values: only the refusal
(``involution_course.layers.refusing_reference``) zeroes them. The borrowed methods compute the right
values too, and only the hidden test's check of where the class's methods come from zeroes them.)

The literal expected values in notebook 03's visible tests come from the NumPy definitions below;
``python tests/test_delegation_03.py`` prints them, and the fast test checks that the notebook holds
exactly those values.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import numpy as np
import pytest

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
    return {"ex1_expected": ex1, "ex2_expected": ex2, "ex3_expected": ex3}


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


# --- delegating answers, graded by nbgrader ------------------------------------------------------
SUBCLASS = '''\
from involution_course.layers import Involution


class InvolutionLayer(Involution):
    pass
'''

WRAPPER = '''\
from involution_course.layers import Involution


class InvolutionLayer(layers.Layer):
    """Holds the course's layer and calls it."""

    def __init__(self, kernel_size=3, stride=1, groups=1, reduction_ratio=2, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size, self.stride, self.groups, self.reduction_ratio = kernel_size, stride, groups, reduction_ratio
        self.inner = Involution(kernel_size, stride, groups, reduction_ratio)

    def build(self, input_shape):
        self.inner.build(input_shape)
        self.pool, self.reduce, self.bn, self.span = self.inner.pool, self.inner.reduce, self.inner.bn, self.inner.span

    def generate_kernel(self, x, training=False):
        return self.inner.generate_kernel(x, training=training)

    def call(self, x, training=None):
        return self.inner(x, training=training)

    def get_config(self):
        hyper = dict(kernel_size=self.kernel_size, stride=self.stride, groups=self.groups, reduction_ratio=self.reduction_ratio)
        return {**super().get_config(), **hyper}
'''

CALL = '''\
from involution_course.layers import Involution


def involution_of(x, kernel_size, stride, groups, reduction_ratio):
    return Involution(kernel_size, stride, groups, reduction_ratio)(x)


def kernel_of(x, kernel_size, stride, groups, reduction_ratio):
    return Involution(kernel_size, stride, groups, reduction_ratio).generate_kernel(x)


class InvolutionLayer(layers.Layer):
    def __init__(self, kernel_size=3, stride=1, groups=1, reduction_ratio=2, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size, self.stride, self.groups, self.reduction_ratio = kernel_size, stride, groups, reduction_ratio

    def build(self, input_shape):
        self.pool = None
        self.reduce = layers.Conv2D(max(1, input_shape[-1] // self.reduction_ratio), 1)
        self.bn = layers.BatchNormalization()
        self.span = layers.Conv2D(self.kernel_size ** 2 * self.groups, 1)

    def generate_kernel(self, x, training=False):
        return kernel_of(x, self.kernel_size, self.stride, self.groups, self.reduction_ratio)

    def call(self, x, training=None):
        return involution_of(x, self.kernel_size, self.stride, self.groups, self.reduction_ratio)

    def get_config(self):
        hyper = dict(kernel_size=self.kernel_size, stride=self.stride, groups=self.groups, reduction_ratio=self.reduction_ratio)
        return {**super().get_config(), **hyper}
'''

BORROWED = '''\
from involution_course.layers import Involution


class InvolutionLayer(layers.Layer):
    """Its own class, with the course's methods copied in."""

    def __init__(self, kernel_size=3, stride=1, groups=1, reduction_ratio=2, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size, self.stride, self.groups, self.reduction_ratio = kernel_size, stride, groups, reduction_ratio

    build, generate_kernel, call = Involution.build, Involution.generate_kernel, Involution.call
    _reduced, _kernel_planes, _grouped = Involution._reduced, Involution._kernel_planes, Involution._grouped
    _tap_planes, _multiply_add = Involution._tap_planes, Involution._multiply_add

    def get_config(self):
        hyper = dict(kernel_size=self.kernel_size, stride=self.stride, groups=self.groups, reduction_ratio=self.reduction_ratio)
        return {**super().get_config(), **hyper}
'''

GENERATOR_PARTS = '''\
from involution_course.layers import Involution


def build_kernel_generator(channels, kernel_size=3, stride=1, groups=1, reduction_ratio=2):
    reference = Involution(kernel_size, stride, groups, reduction_ratio)
    reference.build((None, None, None, channels))
    parts = [keras.Input((None, None, channels))] + ([reference.pool] if stride > 1 else [])
    return keras.Sequential(parts + [reference.reduce, reference.bn, layers.ReLU(name="relu"), reference.span])
'''

MULTIPLY_ADD_INTERNALS = '''\
from involution_course.layers import Involution


def involution_multiply_add(x, kernel, stride=1):
    groups, size = kernel.shape[3], kernel.shape[4]
    reference = Involution(size, stride, groups)
    reference.channels = x.shape[-1]
    planes = ops.reshape(kernel, (*ops.shape(kernel)[:3], groups * size * size))
    return reference._multiply_add(x, reference._tap_planes(planes))
'''

# student: (the exercises that score 0, answer cell grade id, the answer)
DELEGATING = {
    "ex3_subclass": ({"ex3"}, "ex3_layer", SUBCLASS),
    "ex3_wrapper": ({"ex3"}, "ex3_layer", WRAPPER),
    "ex3_call": ({"ex3"}, "ex3_layer", CALL),
    "ex3_borrowed": ({"ex3"}, "ex3_layer", BORROWED),
    "ex1_reference_parts": ({"ex1"}, "ex1_kernel_generator", GENERATOR_PARTS),
    # Exercise 3's layer calls exercise 2's multiply-add, so with this answer it delegates too.
    "ex2_reference_internals": ({"ex2", "ex3"}, "ex2_multiply_add", MULTIPLY_ADD_INTERNALS),
}


def with_answer(notebook, grade_id: str, source: str):
    """A copy of ``notebook`` whose answer cell ``grade_id`` holds ``source``."""
    import nbformat

    changed = nbformat.from_dict(notebook)
    cells = [c for c in changed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(cells) == 1 and cells[0].metadata["nbgrader"].get("solution"), f"no answer cell {grade_id}"
    cells[0].source = source
    return changed


def _by_exercise(cell_scores) -> dict[str, tuple[float, float]]:
    from involution_instructor import grading

    totals: dict[str, list[float]] = {}
    for cell in cell_scores.values():
        exercise = grading.exercise_of(cell.grade_id)
        if exercise:
            totals.setdefault(exercise, [0.0, 0.0])
            totals[exercise][0] += cell.score
            totals[exercise][1] += cell.max_score
    return {name: (score, maximum) for name, (score, maximum) in totals.items()}


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    import nbformat

    from involution_instructor import grading

    saved = {name: os.environ.get(name) for name in ("INVOLUTION_COURSE_PROFILE", "INVOLUTION_COURSE_NO_PROGRESS")}
    os.environ["INVOLUTION_COURSE_PROFILE"] = "grading"
    os.environ["INVOLUTION_COURSE_NO_PROGRESS"] = "1"
    try:
        course = grading.prepare_course(tmp_path_factory.mktemp("delegation-03") / "course", [ASSIGNMENT])
        source = nbformat.read(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
        grading.submit(course, "solution", ASSIGNMENT, source)
        for student, (_exercise, grade_id, answer) in DELEGATING.items():
            grading.submit(course, student, ASSIGNMENT, with_answer(source, grade_id, answer))
        grading.autograde(course, ASSIGNMENT)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return course


@pytest.mark.slow
def test_solution_scores_full_marks(graded_course):
    from involution_instructor import grading

    exercises = _by_exercise(grading.scores(graded_course, ASSIGNMENT, "solution"))
    assert set(exercises) == {"ex1", "ex2", "ex3", "ex4"}
    assert all(score == maximum > 0 for score, maximum in exercises.values()), exercises


@pytest.mark.slow
@pytest.mark.parametrize("student", list(DELEGATING))
def test_delegating_answer_scores_zero_where_it_delegates(graded_course, student):
    from involution_instructor import grading

    delegating = DELEGATING[student][0]
    exercises = _by_exercise(grading.scores(graded_course, ASSIGNMENT, student))
    for exercise in delegating:
        assert exercises[exercise][0] == 0, f"{student} scored {exercises[exercise]} on {exercise}"
    # The other exercises keep full marks: the refusal is undone after each test cell.
    others = {name: value for name, value in exercises.items() if name not in delegating}
    assert all(score == maximum for score, maximum in others.values()), f"{student}: {others}"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src" / "instructor"))
    for name, values in fixtures().items():
        print(f"{name} = np.array({_literal(values)})\n")
