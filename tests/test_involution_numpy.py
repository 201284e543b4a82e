"""Notebook 02's solution code beyond its own tests: the whole backward pass against TensorFlow's
GradientTape through the course's Keras layer, the counts against the Keras example's network,
and the figures it draws. Also the grader's side (solutions/02-involution-numpy/checks.py): its NumPy
definitions against the Keras layer and TensorFlow's gradients, and its verdicts on the solution, the
mutants and delegating answers, observed here in-process as the kernel would observe them."""

from __future__ import annotations

import numpy as np
import pytest

from involution_course.layers import Involution
from involution_instructor.solution_code import load_notebook_code

ASSIGNMENT = "02-involution-numpy"


def keras_layer_with(params, kernel_size, stride, groups):
    """The course's Keras layer in float64, holding the NumPy weights ``params``."""
    channels, reduced = params["reduce_w"].shape
    layer = Involution(kernel_size, stride, groups, reduction_ratio=channels // reduced, dtype="float64")
    layer.build((None, None, None, channels))
    layer.reduce.set_weights([params["reduce_w"][None, None], params["reduce_b"]])
    layer.bn.set_weights([params["bn_gamma"], params["bn_beta"], params["bn_mean"], params["bn_var"]])
    layer.span.set_weights([params["span_w"][None, None], params["span_b"]])
    return layer


@pytest.fixture(scope="module")
def notebook():
    return load_notebook_code(ASSIGNMENT, ("imports", "helpers", "patches"))


@pytest.mark.parametrize(
    "shape, kernel_size, stride, groups",
    [((2, 6, 6, 4), 3, 1, 1), ((1, 7, 9, 8), 5, 2, 2), ((3, 5, 4, 8), 3, 2, 4)],
)
def test_full_backward_equals_gradient_tape_through_the_keras_layer(notebook, shape, kernel_size, stride, groups):
    """dL/dx = the multiply-add's part + the part through kernel generation, and every weight's
    gradient, for L = sum(R * layer(x)): the NumPy backward pass of the notebook, end to end."""
    import tensorflow as tf

    rng = np.random.default_rng(sum(shape) + kernel_size)
    params = notebook["init_params"](shape[3], kernel_size, groups, reduction_ratio=2, seed=kernel_size)
    x = rng.normal(size=shape)
    layer = keras_layer_with(params, kernel_size, stride, groups)

    kernel = notebook["generate_kernel"](x, params, kernel_size, stride=stride, groups=groups)
    out = notebook["involution_forward"](x, kernel, stride=stride)
    weights = rng.normal(size=out.shape)
    grad_x_direct, grad_kernel = notebook["involution_backward"](x, kernel, weights, stride=stride)
    through_kernel = notebook["generate_kernel_backward"](x, params, grad_kernel, kernel_size, stride, groups)

    x_variable = tf.Variable(x)
    sources = [layer.reduce.kernel, layer.reduce.bias, layer.span.kernel, layer.span.bias]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(weights * layer(x_variable))
    tape_grads = tape.gradient(loss, [v.value for v in sources] + [x_variable])

    np.testing.assert_allclose(float(loss), float(np.sum(weights * out)), rtol=1e-10)
    for name, reference in zip(("reduce_w", "reduce_b", "span_w", "span_b"), tape_grads[:4]):
        np.testing.assert_allclose(through_kernel[name], np.reshape(reference, through_kernel[name].shape), atol=1e-9, err_msg=name)
    np.testing.assert_allclose(grad_x_direct + through_kernel["x"], tape_grads[4], atol=1e-9, err_msg="x")
    assert np.abs(through_kernel["x"]).max() > 1e-3, "the kernel-generation part of dL/dx should not vanish here"


def test_average_pool_equals_keras_same_padding_on_odd_sizes(notebook):
    import keras

    x = np.random.default_rng(0).normal(size=(2, 7, 9, 3))
    expected = keras.layers.AveragePooling2D(2, 2, padding="same", dtype="float64")(x)
    np.testing.assert_allclose(notebook["average_pool"](x, 2), np.asarray(expected), atol=1e-12)


def test_counts_reproduce_the_keras_example_network(notebook):
    """Three involution layers (C=3, K=3, G=1, r=2) + Flatten/Dense 64/Dense 10 on 32x32x3: 13,074."""
    involution_layers = 3 * notebook["involution_params"](3, 3, 1, 2)
    dense = (8 * 8 * 3) * 64 + 64 + 64 * 10 + 10
    assert involution_layers + dense == 13_074


def test_counts_equal_keras_for_a_large_kernel(notebook):
    layer = Involution(7, 1, 4, 4)
    layer.build((None, 56, 56, 64))
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    assert notebook["involution_params"](64, 7, 4, 4) == trainable == 4_404
    assert notebook["conv_params"](64, 7) == 200_768
    assert notebook["conv_macs"](56, 56, 64, 7) == 56 * 56 * 49 * 64 * 64


def test_kernels_at_equal_the_whole_kernel_at_those_positions(notebook):
    params = notebook["init_params"](6, kernel_size=5, groups=3, reduction_ratio=2, seed=9)
    x = np.random.default_rng(9).normal(size=(2, 41, 57, 6))
    positions = [(0, 0), (20, 30), (40, 56)]
    whole = notebook["generate_kernel"](x, params, 5, groups=3)
    picked = notebook["kernels_at"](x, params, positions, 5, groups=3)
    np.testing.assert_allclose(picked, np.stack([whole[:, r, c] for r, c in positions], axis=1), atol=1e-12)


def _release_cells(project_root):
    import jupytext

    release = jupytext.read(project_root / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.py", fmt="py:percent")
    return [(cell.metadata.get("nbgrader", {}), cell.source) for cell in release.cells if cell.cell_type == "code"]


def test_the_release_hands_over_no_answer(project_root):
    """Outside the answer cells, the released notebook neither uses the course's Keras layer (which
    computes the kernel and the output) nor defines a complete involution: only these helpers."""
    import ast

    defined = set()
    for meta, source in _release_cells(project_root):
        if meta.get("solution"):
            continue
        tree = ast.parse(_without_magics(source))
        defined |= {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        # The rules name the layer as a string ({"Involution"}, what the visible tests refuse); no cell uses it.
        used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} | {
            node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert "involution_course.layers" not in modules and "Involution" not in used, meta.get("grade_id")
    assert defined == {
        "init_params", "average_pool", "conv_kernels_for_figure", "memory_budget", "extract_patches",
        "generation_loss", "conv_weights_at", "batchnorm_train",
    }


def test_extract_patches_is_only_the_patch_tensor(notebook):
    x = np.arange(2 * 5 * 4 * 3, dtype=float).reshape(2, 5, 4, 3)
    patches = notebook["extract_patches"](x, 3, 2)
    assert patches.shape == (2, 3, 2, 3, 3, 3)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    np.testing.assert_array_equal(patches[1, 2, 1], padded[1, 4:7, 2:5])


def _without_magics(source: str) -> str:
    """IPython lines (``%pip``, ``!ls``) as ``pass``, so that the cell parses as Python."""
    import re

    return re.sub(r"^(\s*)[%!].*$", r"\1pass", source, flags=re.MULTILINE)


# ------------------------------------------------------------------ the grader's checks (checks.py)


@pytest.fixture(scope="module")
def grader(project_root):
    """The loaded checks of notebook 02 and the module that defines them."""
    import sys

    from involution_instructor.judging import load_checks

    checks = load_checks(project_root / "solutions" / ASSIGNMENT / "checks.py", ASSIGNMENT)
    return checks, sys.modules[checks["ex1_test_generate_kernel"].judge.__module__]


def _answers():
    from involution_instructor.solution_code import notebook_cells

    return {grade_id: source for grade_id, meta, source in notebook_cells(ASSIGNMENT)
            if meta.get("solution") and meta.get("grade_id", "").startswith("ex")}


def verdict(grader, notebook, grade_id, answers=(), seed=0, seen=None):
    """The grader's verdict on ``grade_id`` for the solution with ``answers`` ({grade id: code}) in
    place of its own: the observation runs here as in the kernel (the runtime's source and the kernel
    functions of checks.py, data through the runtime's encoding), the judgement as in the grader.
    ``seen`` (observation -> observation) stands for a kernel that forged what it reports."""
    import contextlib
    import io
    import json

    from involution_instructor.judging import runtime
    from involution_instructor.judging.plan import RUNTIME_SOURCE, Context, inputs_for
    from involution_instructor.judging.source import StudentSource

    checks, _ = grader
    answers = dict(answers)
    namespace = dict(notebook)
    with contextlib.redirect_stdout(io.StringIO()):
        for code in answers.values():
            try:
                exec(compile(code, "<answer>", "exec"), namespace)  # noqa: S102
            except Exception:  # noqa: BLE001 - a "Try it" line may fail, as in the notebook
                pass
    check = checks[grade_id]
    data = inputs_for(check, seed)
    kernel = {"__name__": "__observation__"}
    exec(compile("import numpy as np\n" + RUNTIME_SOURCE + "\n\n" + checks.kernel_source, "<observation>", "exec"), kernel)  # noqa: S102
    sent = runtime.decode(json.loads(json.dumps(runtime.encode(data))))
    with contextlib.redirect_stdout(io.StringIO()):
        observed = kernel[check.observe.__name__](kernel["Student"](namespace), sent)
    observed = runtime.decode(json.loads(json.dumps(runtime.encode(runtime.as_data(observed)))))
    if seen is not None:
        observed = seen(observed)
    source = StudentSource({**_answers(), **answers})
    try:
        check.judge(Context(grade_id, data, observed, None, source))
    except AssertionError as error:
        return str(error)
    return "passed"


def test_every_graded_cell_has_a_check_and_no_hidden_block_is_left(grader):
    from involution_instructor.solution_code import notebook_cells

    checks, _ = grader
    graded = [meta["grade_id"] for _, meta, _ in notebook_cells(ASSIGNMENT) if meta.get("grade") and not meta.get("solution")]
    assert sorted(graded) == sorted(checks.by_grade_id)
    assert all("HIDDEN TESTS" not in source for _, _, source in notebook_cells(ASSIGNMENT))


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_the_solution_passes_every_check(grader, notebook, seed):
    checks, _ = grader
    assert {gid: verdict(grader, notebook, gid, seed=seed) for gid in checks.by_grade_id} == dict.fromkeys(checks.by_grade_id, "passed")


def _exercise_answers(mutant):
    from involution_instructor import grading

    answers = _answers()
    return {key if key in answers else next(g for g in answers if grading.exercise_of(g) == key): code
            for key, code in mutant.answers.items()}


def _mutant_cases():
    from submissions import mutants_02

    return [(exercise, mutant) for exercise, entries in mutants_02.MUTANTS.items() for mutant in entries]


@pytest.mark.slow  # tracing the loop answers' Python lines takes seconds; tests/test_mutants.py grades them all
@pytest.mark.parametrize(("exercise", "mutant"), _mutant_cases(), ids=[f"{e}-{m.name[:40]}" for e, m in _mutant_cases()])
def test_mutants_are_judged_as_the_catalogue_says(grader, notebook, exercise, mutant):
    """The grader alone (no nbgrader): a wrong answer fails one of its exercise's checks, a right one passes all."""
    from involution_instructor import grading

    checks, _ = grader
    verdicts = {gid: verdict(grader, notebook, gid, _exercise_answers(mutant))
                for gid in checks.by_grade_id if grading.exercise_of(gid) == exercise}
    if mutant.kind == "right":
        assert set(verdicts.values()) == {"passed"}, verdicts
    else:
        assert set(verdicts.values()) != {"passed"}, verdicts


def test_delegating_to_the_course_layer_fails_every_check_saying_so(grader, notebook):
    from submissions import delegation_02

    from involution_instructor import grading

    checks, _ = grader
    answers = _answers()
    for grade_id, code in delegation_02.DELEGATING_02.items():
        code = delegation_02._answer(answers[grade_id], code)
        for gid in checks.by_grade_id:
            if grading.exercise_of(gid) == grading.exercise_of(grade_id):
                said = verdict(grader, notebook, gid, {grade_id: code})
                assert "called" in said and "yourself" in said, (gid, said)


STRIP = """
def kernels_at(x, params, positions, kernel_size, groups=1):
    rows, cols = zip(*positions)
    return generate_kernel(x[:, list(rows), list(cols)][:, None], params, kernel_size, groups=groups)[:, 0]
"""


@pytest.mark.parametrize(("answer", "said"), [
    # The whole image to generate_kernel, under another name or as a copy: read from the source.
    ("def kernels_at(x, params, positions, kernel_size, groups=1):\n    image = x.astype(float)\n"
     "    whole = generate_kernel(image, params, kernel_size, groups=groups)\n"
     "    return np.stack([whole[:, r, c] for r, c in positions], axis=1)\n", "computes on the whole image"),
    ("def kernels_at(x, params, positions, kernel_size, groups=1):\n    return pick(x, params, positions, kernel_size, groups)\n"
     "def pick(image, params, positions, kernel_size, groups):\n    flat = image.reshape(image.shape[0], 1, -1, image.shape[-1])\n"
     "    whole = generate_kernel(flat, params, kernel_size, groups=groups)[:, 0]\n"
     "    return whole[:, [r * image.shape[2] + c for r, c in positions]]\n", "computes on the whole image"),
    # Hidden from that reading (x * 1): the pixels it hands generate_kernel give it away.
    ("def kernels_at(x, params, positions, kernel_size, groups=1):\n    whole = generate_kernel(x * 1, params, kernel_size, groups=groups)\n"
     "    return np.stack([whole[:, r, c] for r, c in positions], axis=1)\n", "handed generate_kernel"),
    # Kernel generation written out on the whole image: the memory it holds gives it away.
    ("def kernels_at(x, params, positions, kernel_size, groups=1):\n    image = x * 1\n"
     "    z = np.maximum(params['bn_gamma'] * (np.matmul(image, params['reduce_w']) + params['reduce_b'] - params['bn_mean'])\n"
     "                   / np.sqrt(params['bn_var'] + BN_EPSILON) + params['bn_beta'], 0.0)\n"
     "    whole = (np.matmul(z, params['span_w']) + params['span_b']).reshape(*x.shape[:3], groups, kernel_size, kernel_size)\n"
     "    return np.stack([whole[:, r, c] for r, c in positions], axis=1)\n", "held"),
])
def test_kernels_at_refuses_the_whole_image_and_accepts_a_strip(grader, notebook, answer, said):
    """Issue 28: kernels at the requested positions through one's own generate_kernel (a 1 x n strip)
    earn the points; handing it the whole image does not, however it is written."""
    assert verdict(grader, notebook, "ex6_test_kernels_at", {"ex6_kernels_at": STRIP}) == "passed"
    found = verdict(grader, notebook, "ex6_test_kernels_at", {"ex6_kernels_at": answer})
    assert said in found, found


REBOUND = """
def kernels_at(x, params, positions, kernel_size, groups=1):
    rows, cols = zip(*positions)
    x = x[:, list(rows), list(cols)]
    z = x @ params["reduce_w"] + params["reduce_b"]
    a = np.maximum(params["bn_gamma"] * (z - params["bn_mean"]) / np.sqrt(params["bn_var"] + BN_EPSILON) + params["bn_beta"], 0)
    return (a @ params["span_w"] + params["span_b"]).reshape(*x.shape[:2], groups, kernel_size, kernel_size)
"""


def test_kernels_at_may_name_the_gathered_pixels_x(grader, notebook):
    """Rebinding the parameter to the gathered pixels is no use of the whole image: a correct answer earns the points."""
    assert verdict(grader, notebook, "ex6_test_kernels_at", {"ex6_kernels_at": REBOUND}) == "passed"


def test_a_forged_observation_does_not_hide_what_the_source_shows(grader, notebook):
    """The source rules hold whatever the kernel reports: the whole image passed to generate_kernel fails
    even when its measurements are replaced by a correct answer's."""
    right = {}
    verdict(grader, notebook, "ex6_test_kernels_at", seen=lambda seen: right.update(seen) or seen)
    whole = "def kernels_at(x, params, positions, kernel_size, groups=1):\n    k = generate_kernel(x, params, kernel_size, 1, groups)\n" \
            "    return np.stack([k[:, r, c] for r, c in positions], axis=1)\n"
    found = verdict(grader, notebook, "ex6_test_kernels_at", {"ex6_kernels_at": whole}, seen=lambda seen: right)
    assert "whole image" in found
    looped = "def involution_forward(x, kernel, stride=1):\n    return np.asarray(involution_naive(x, kernel, stride))\n"
    found = verdict(grader, notebook, "ex3_test_involution_forward", {"ex3_involution_forward": looped})
    assert "involution_naive" in found


def test_a_delegation_hidden_from_the_source_is_refused_in_the_kernel(grader, notebook):
    """getattr with a computed name escapes the source rule; the refusal in the kernel still catches it."""
    hidden = (
        "import importlib\n"
        "def generate_kernel(x, params, kernel_size, stride=1, groups=1):\n"
        "    module = importlib.import_module('involution_course.' + 'lay' + 'ers')\n"
        "    layer = getattr(module, 'Invo' + 'lution')(kernel_size, stride, groups, dtype='float64')\n"
        "    return np.asarray(layer.generate_kernel(x))\n")
    found = verdict(grader, notebook, "ex1_test_generate_kernel", {"ex1_generate_kernel": hidden})
    assert "called involution_course.layers.Involution" in found and "yourself" in found, found


def test_the_graders_definitions_equal_the_keras_layer_and_its_gradients(grader, notebook):
    """checks.py's NumPy truths: kernel, output, both gradients of the multiply-add and those through
    kernel generation, against the course's Keras layer and TensorFlow's GradientTape."""
    import keras
    import tensorflow as tf

    _, module = grader
    rng = np.random.default_rng(3)
    for shape, k, s, g, r in module.GENERATION_GRADIENT_CASES:
        x = rng.normal(size=shape)
        params = module.draw_params(rng, shape[3], k, g, r)
        layer = keras_layer_with(params, k, s, g)
        kernel = module.generate_kernel(x, params, k, s, g)
        np.testing.assert_allclose(kernel, np.asarray(layer.generate_kernel(x)), atol=1e-10)
        np.testing.assert_allclose(module.involution(x, kernel, s), np.asarray(layer(x)), atol=1e-10)

        weights = rng.normal(size=module.involution(x, kernel, s).shape)
        x_var, kernel_var = tf.Variable(x), tf.Variable(kernel)
        with tf.GradientTape() as tape:
            planes = keras.ops.reshape(kernel_var, (*kernel.shape[:3], g * k * k))
            loss = tf.reduce_sum(weights * layer._multiply_add(x_var, layer._tap_planes(planes)))
        expected = tape.gradient(loss, [x_var, kernel_var])
        for got, want in zip(module.involution_gradients(x, kernel, weights, s), expected):
            np.testing.assert_allclose(got, np.asarray(want), atol=1e-10)

        kernel_weights = rng.normal(size=kernel.shape)
        x_var = tf.Variable(x)
        sources = [layer.reduce.kernel, layer.reduce.bias, layer.span.kernel, layer.span.bias]
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(kernel_weights * layer.generate_kernel(x_var))
        expected = tape.gradient(loss, [v.value for v in sources] + [x_var])
        got = module.generation_gradients(x, params, kernel_weights, s)
        for name, want in zip(module.GRADIENT_NAMES, expected):
            np.testing.assert_allclose(got[name], np.reshape(want, got[name].shape), atol=1e-10, err_msg=name)


def test_the_graders_counts_equal_keras(grader):
    import keras

    _, module = grader
    for c, k, g, r in [(3, 3, 1, 2), (16, 5, 2, 4), (7, 3, 7, 8), (32, 7, 1, 1), (12, 5, 3, 5), (21, 1, 3, 6)]:
        layer, conv = Involution(k, 1, g, r), keras.layers.Conv2D(c, k)
        for built in (layer, conv):
            built.build((None, None, None, c))
        assert module.involution_params(c, k, g, r) == sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
        assert module.conv_params(c, k) == sum(int(np.prod(w.shape)) for w in conv.trainable_weights)
    assert module.involution_macs(56, 56, 64, 7, 4, 4) == 22_880_256 and module.conv_macs(7, 9, 64, 3, 2) == 737_280


@pytest.mark.parametrize(("answer", "refused"), [
    (REBOUND, False),
    (STRIP, False),
    ("def kernels_at(x, params, positions, kernel_size, groups=1):\n    image = x.astype(float)\n"
     "    whole = generate_kernel(image, params, kernel_size, groups=groups)\n"
     "    return np.stack([whole[:, r, c] for r, c in positions], axis=1)\n", True),
    ("def kernels_at(x, params, positions, kernel_size, groups=1):\n    return pick(x, params, positions, kernel_size, groups)\n"
     "def pick(image, params, positions, kernel_size, groups):\n    flat = image.reshape(image.shape[0], 1, -1, image.shape[-1])\n"
     "    return np.einsum('bhwc,cr->bhwr', flat, params['reduce_w'])\n", True),
])
def test_the_visible_reading_of_kernels_at_is_the_graders(tmp_path, grader, notebook, answer, refused):
    """The visible test's code_rules.assert_gathers_first and the grader refuse the same answers, for the same reason."""
    import importlib.util

    from involution_course import code_rules

    path = tmp_path / "answer.py"
    path.write_text("import numpy as np\nBN_EPSILON = 1e-3\n\n\ndef generate_kernel(x, params, kernel_size, stride=1, groups=1):\n"
                    "    return x\n\n" + answer)
    spec = importlib.util.spec_from_file_location("answer_kernels_at", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        code_rules.assert_gathers_first(module.kernels_at, rule="gather first")
        visible = "passed"
    except AssertionError as error:
        visible = str(error)
    assert ("computes on the whole image" in visible) is refused, visible
    graded = verdict(grader, notebook, "ex6_test_kernels_at", {"ex6_kernels_at": answer})
    assert ("computes on the whole image" in graded) is refused, graded


def test_the_visible_rules_see_a_bare_call_and_an_imported_layer(tmp_path):
    """code_rules.assert_not_using, which the test cells call, catches what the grader's source rules catch:
    involution_naive called by name, the course's layer imported in another cell under another name."""
    import importlib.util

    from involution_course import code_rules

    path = tmp_path / "answers.py"
    path.write_text("from involution_course.layers import Involution as Layer\n\n\ndef involution_naive(x, kernel, stride=1):\n"
                    "    return x\n\n\ndef involution_forward(x, kernel, stride=1):\n    return involution_naive(x, kernel, stride)\n\n\n"
                    "def generate_kernel(x, params, kernel_size, stride=1, groups=1):\n    return Layer(kernel_size).generate_kernel(x)\n\n\n"
                    "def average_pool_backward(grad_pooled, input_shape, stride):\n    return grad_pooled\n")
    spec = importlib.util.spec_from_file_location("answers_02", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(AssertionError, match="involution_forward uses involution_naive: no loop version"):
        code_rules.assert_not_using(module.involution_forward, {"involution_naive"}, rule="no loop version")
    with pytest.raises(AssertionError, match="generate_kernel uses Layer: own"):
        code_rules.assert_not_using(module.generate_kernel, {"Involution"}, ["involution_course.layers"], rule="own")
    code_rules.assert_not_using(module.average_pool_backward, {"Involution", "GradientTape"}, ["involution_course.layers"], rule="own")
