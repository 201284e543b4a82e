"""Notebooks 01 and 02: an answer that hands its work to Keras, TensorFlow or the course's own
``Involution`` layer scores nothing on that exercise.

The student package holds no answer to these exercises, but the student environment holds Keras
(``Conv2D``, ``keras.ops.conv``, ``tf.nn.conv2d``) and the course's Keras ``Involution`` layer, which
notebooks 03 to 05 need. The hidden tests run the student's functions while those are made to raise.
One real nbgrader course per notebook grades the solution (full marks) and, for each exercise, a
student whose answer cell delegates and passes the visible tests (zero on that exercise, full marks
on the others, and the failing test names what was called).
"""

from __future__ import annotations

import ast
import functools
import os
from pathlib import Path

import nbformat
import pytest

from involution_instructor import grading

pytestmark = pytest.mark.slow

GUARD_WORDS = "yourself"  # every refusal in the hidden tests says "compute it yourself"

CONV2D_CHECKS = """
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', not {padding!r}.")
    if np.shape(x)[-1] != np.shape(w)[2]:
        raise ValueError("x and w disagree on the channels.")
"""

DELEGATING_01 = {
    # Exercise 1 by a Keras layer.
    "ex1_conv2d_naive": '''
import keras


def conv2d_naive(x, w, b=None, stride=1, padding="valid"):
''' + CONV2D_CHECKS + '''
    w = np.asarray(w, dtype="float64")
    layer = keras.layers.Conv2D(w.shape[-1], w.shape[:2], strides=stride, padding=padding, use_bias=b is not None, dtype="float64")
    layer.build(np.shape(x))
    layer.set_weights([w] + ([np.asarray(b, dtype="float64")] if b is not None else []))
    return keras.ops.convert_to_numpy(layer(np.asarray(x, dtype="float64")))


print(conv2d_naive(small_input[None, :, :, None], small_kernel[:, :, None, None])[0, :, :, 0])
''',
    # Exercise 2 by keras.ops.conv.
    "ex2_conv2d_fast": '''
import keras


def conv2d_fast(x, w, b=None, stride=1, padding="valid"):
''' + CONV2D_CHECKS + '''
    y = keras.ops.conv(np.asarray(x, dtype="float64"), np.asarray(w, dtype="float64"), strides=stride, padding=padding)
    y = keras.ops.convert_to_numpy(y)
    return y if b is None else y + np.asarray(b, dtype="float64")


print(conv2d_fast(small_input[None, :, :, None], small_kernel[:, :, None, None], stride=2, padding="same")[0, :, :, 0])
''',
    # Exercise 3 read off a Keras layer.
    "ex3_shapes_and_parameters": '''
import keras


def conv_output_shape(input_shape, filters, kernel_size, stride=1, padding="valid"):
    if padding not in ("valid", "same"):
        raise ValueError(padding)
    layer = keras.layers.Conv2D(filters, kernel_size, strides=stride, padding=padding)
    return tuple(int(v) for v in layer.compute_output_shape((None, *input_shape))[1:])


def conv_param_count(in_channels, filters, kernel_size, use_bias=True):
    layer = keras.layers.Conv2D(filters, kernel_size, use_bias=use_bias)
    layer.build((None, None, None, in_channels))
    return layer.count_params()


print(conv_output_shape((32, 32, 3), 32, 3, stride=1, padding="same"), conv_param_count(3, 32, 3))
''',
}

# A second student for exercise 1: TensorFlow's own convolution.
DELEGATING_01_TF = ("ex1_conv2d_naive", '''
import tensorflow as tf


def conv2d_naive(x, w, b=None, stride=1, padding="valid"):
''' + CONV2D_CHECKS + '''
    y = tf.nn.conv2d(np.asarray(x, dtype="float64"), np.asarray(w, dtype="float64"), strides=stride, padding=padding.upper())
    return y.numpy() if b is None else y.numpy() + np.asarray(b, dtype="float64")


print(conv2d_naive(small_input[None, :, :, None], small_kernel[:, :, None, None])[0, :, :, 0])
''')

INVOLUTION_LAYER = '''
import keras
from involution_course.layers import Involution


def course_layer(params, kernel_size, stride=1, groups=1):
    channels, reduced = params["reduce_w"].shape
    layer = Involution(kernel_size, stride, groups, reduction_ratio=channels // reduced, dtype="float64")
    layer.build((None, None, None, channels))
    layer.set_weights([
        params["reduce_w"][None, None], params["reduce_b"], params["bn_gamma"], params["bn_beta"],
        params["bn_mean"], params["bn_var"], params["span_w"][None, None], params["span_b"],
    ])
    return layer


def course_multiply_add(x, kernel, stride):
    batch, rows, cols, groups, size, _ = kernel.shape
    layer = Involution(size, stride, groups, reduction_ratio=1, dtype="float64")
    layer.build((None, None, None, x.shape[-1]))
    planes = keras.ops.reshape(kernel, (batch, rows, cols, groups * size * size))
    return layer._multiply_add(x, layer._tap_planes(planes))
'''

DELEGATING_02 = {
    "ex1_generate_kernel": INVOLUTION_LAYER + '''

def generate_kernel(x, params, kernel_size, stride=1, groups=1):
    return np.asarray(course_layer(params, kernel_size, stride, groups).generate_kernel(x))
''',
    "ex2_involution_naive": INVOLUTION_LAYER + '''

def involution_naive(x, kernel, stride=1):
    return np.asarray(course_multiply_add(x, kernel, stride))
''',
    "ex3_involution_forward": INVOLUTION_LAYER + '''

def involution_forward(x, kernel, stride=1):
    return np.asarray(course_multiply_add(x, kernel, stride))
''',
    "ex4_backward": INVOLUTION_LAYER + '''
import tensorflow as tf


def involution_backward(x, kernel, grad_out, stride=1):
    x, kernel = tf.Variable(x), tf.Variable(kernel)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(grad_out * course_multiply_add(x, kernel, stride))
    grad_x, grad_kernel = tape.gradient(loss, [x, kernel])
    return grad_x.numpy(), grad_kernel.numpy()


AVERAGE_POOL_BACKWARD


def generate_kernel_backward(x, params, grad_kernel, kernel_size, stride=1, groups=1):
    layer = course_layer(params, kernel_size, stride, groups)
    x = tf.Variable(x)
    sources = [layer.reduce.kernel, layer.reduce.bias, layer.span.kernel, layer.span.bias]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(grad_kernel * layer.generate_kernel(x))
    grads = tape.gradient(loss, [v.value for v in sources] + [x])
    names = ("reduce_w", "reduce_b", "span_w", "span_b", "x")
    shapes = [params[name].shape for name in names[:4]] + [x.shape]
    return {name: np.reshape(grad, shape) for name, grad, shape in zip(names, grads, shapes)}
''',
    "ex5_counting": '''
import keras
from involution_course.layers import Involution


def trainable(layer, channels):
    layer.build((None, None, None, channels))
    return int(sum(np.prod(weight.shape) for weight in layer.trainable_weights))


def involution_params(channels, kernel_size, groups, reduction_ratio):
    return trainable(Involution(kernel_size, 1, groups, reduction_ratio), channels)


def conv_params(channels, kernel_size):
    return trainable(keras.layers.Conv2D(channels, kernel_size), channels)


INVOLUTION_MACS


CONV_MACS
''',
    "ex6_kernels_at": INVOLUTION_LAYER + '''

def kernels_at(x, params, positions, kernel_size, groups=1):
    whole = np.asarray(course_layer(params, kernel_size, 1, groups).generate_kernel(x))
    return np.stack([whole[:, row, col] for row, col in positions], axis=1)
''',
}


def _function_source(source: str, name: str) -> str:
    """The solution's own definition of ``name``, kept where a delegating cell needs it."""
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(source, node)


def _answer_cell(notebook, grade_id: str):
    return next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _with_answer(notebook, grade_id: str, source: str):
    changed = nbformat.from_dict(notebook)
    cell = _answer_cell(changed, grade_id)
    for name in ("average_pool_backward", "involution_macs", "conv_macs"):
        placeholder = name.upper()
        if placeholder in source:
            source = source.replace(placeholder, _function_source(cell.source, name))
    cell.source = source.strip() + "\n"
    return changed


def _students(assignment: str) -> dict[str, tuple[str, str]]:
    """Student name -> (answer cell grade id, delegating source)."""
    if assignment == "01-convolution":
        students = {f"{grade_id.split('_')[0]}_delegates": (grade_id, source) for grade_id, source in DELEGATING_01.items()}
        students["ex1_delegates_to_tf"] = DELEGATING_01_TF
        return students
    return {f"{grade_id.split('_')[0]}_delegates": (grade_id, source) for grade_id, source in DELEGATING_02.items()}


@functools.lru_cache(maxsize=None)
def _graded(assignment: str, course_dir: str) -> Path:
    course = grading.prepare_course(Path(course_dir), [assignment])
    source = nbformat.read(course / "solutions" / assignment / f"{assignment}.ipynb", 4)
    grading.submit(course, "solution", assignment, source)
    for student, (grade_id, answer) in _students(assignment).items():
        grading.submit(course, student, assignment, _with_answer(source, grade_id, answer))
    grading.autograde(course, assignment)
    return course


@pytest.fixture(params=["01-convolution", "02-involution-numpy"])
def graded(request, tmp_path_factory):
    os.environ["INVOLUTION_COURSE_PROFILE"] = "grading"
    os.environ.setdefault("INVOLUTION_COURSE_NO_PROGRESS", "1")
    assignment = request.param
    return assignment, _graded(assignment, str(tmp_path_factory.getbasetemp() / f"delegation-{assignment}"))


def _by_exercise(cell_scores) -> dict[str, tuple[float, float]]:
    totals: dict[str, tuple[float, float]] = {}
    for cell in cell_scores.values():
        exercise = grading.exercise_of(cell.grade_id)
        score, maximum = totals.get(exercise, (0.0, 0.0))
        totals[exercise] = (score + cell.score, maximum + cell.max_score)
    return totals


def _errors_of(course: Path, student: str, assignment: str, exercise: str) -> list[str]:
    """The error messages of ``exercise``'s test cells in ``student``'s graded notebook."""
    notebook = nbformat.read(course / "autograded" / student / assignment / f"{assignment}.ipynb", 4)
    return [
        f"{output.ename}: {output.evalue}"
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
        and grading.exercise_of(cell.metadata["nbgrader"]["grade_id"]) == exercise
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]


def test_solution_scores_full_marks(graded):
    assignment, course = graded
    exercises = _by_exercise(grading.scores(course, assignment, "solution"))
    assert all(score == maximum for score, maximum in exercises.values()), f"{assignment}: {exercises}"


def test_each_delegating_answer_scores_zero_on_its_exercise_only(graded):
    assignment, course = graded
    for student, (grade_id, _) in _students(assignment).items():
        exercise = grading.exercise_of(grade_id)
        exercises = _by_exercise(grading.scores(course, assignment, student))
        assert exercises[exercise][0] == 0, f"{assignment}, {student}: {exercise} scored {exercises[exercise]}"
        others = {name: value for name, value in exercises.items() if name != exercise}
        assert all(score == maximum for score, maximum in others.values()), f"{assignment}, {student}: {others}"
        # The visible tests passed; the hidden ones refused the delegation, and said so.
        errors = _errors_of(course, student, assignment, exercise)
        assert errors and all(GUARD_WORDS in error and "called" in error for error in errors), (
            f"{assignment}, {student}: {exercise} failed for another reason: {errors}"
        )
