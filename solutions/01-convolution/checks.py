"""How notebook 01 is judged: outside the student's kernel, on inputs drawn afresh for every run.

The kernel calls the student's functions and reports what came back; the NumPy definitions here
(float64) give the expected values. Rules about how an answer works are judged from its source:
convolutions computed without Keras, TensorFlow or SciPy, and ``conv2d_fast`` without Python loops
over images, positions or channels. The kernel's own figures (convolutions refused while the answer
runs, Python lines counted) add to those rules and never replace them.
"""

import numpy as np

from involution_course.convolution import CONVOLUTION_MODULES, LIBRARY_CONVOLUTIONS, OWN_CONVOLUTION
from involution_instructor.judging import Check, expect, kernel

# What "compute it yourself" refuses, judged from the source as the visible tests read it (and
# refused in the kernel as well).
CONVOLUTIONS, SCIPY = set(LIBRARY_CONVOLUTIONS), set(CONVOLUTION_MODULES)


# ------------------------------------------------------------------ kernel side


@kernel
def refusing_convolutions(who):
    """While active, every convolution Keras, TensorFlow and SciPy offer raises (a measurement in the kernel)."""
    import contextlib
    import importlib
    import unittest.mock

    owners = [
        ("keras.ops", ("conv", "depthwise_conv", "separable_conv", "conv_transpose")),
        ("keras.src.backend.nn", ("conv", "depthwise_conv", "separable_conv", "conv_transpose")),
        ("keras.src.ops.operation_utils", ("compute_conv_output_shape",)),
        ("tensorflow.nn", ("conv2d", "convolution", "depthwise_conv2d")),
        ("tensorflow.python.ops.gen_nn_ops", ("conv2d", "depthwise_conv2d_native")),
        ("scipy.signal", ("correlate", "correlate2d", "convolve", "convolve2d", "fftconvolve", "oaconvolve")),
        ("scipy.ndimage", ("correlate", "convolve")),
    ]
    stack = contextlib.ExitStack()
    for module_name, names in owners:
        try:
            owner = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in names:
            if hasattr(owner, name):
                refusal = AssertionError(f"{who} called {module_name}.{name}: compute it yourself, without Keras, TensorFlow or SciPy")
                stack.enter_context(unittest.mock.patch.object(owner, name, side_effect=refusal))
    try:
        import keras

        for name in ("call", "build", "compute_output_shape"):
            refusal = AssertionError(f"{who} used keras.layers.Conv2D: compute it yourself, without Keras, TensorFlow or SciPy")
            stack.enter_context(unittest.mock.patch.object(keras.layers.Conv2D, name, side_effect=refusal))
    except ImportError:
        pass
    return stack


@kernel
def observe_convolution(student, data):
    """Each case through the student's function (convolutions refused meanwhile), plus the error cases."""
    function = student[data["function"]]
    seen = {"cases": []}
    with refusing_convolutions(data["function"]):
        for x, w, b, stride, padding in data["cases"]:
            seen["cases"].append(outcome(function, x.copy(), w.copy(), None if b is None else b.copy(),
                                         stride=stride, padding=padding))
        x = data["unchanged"]
        kept = x.copy()
        seen["same_call"] = outcome(function, x, data["unchanged_w"], None, stride=1, padding="same")
        seen["unchanged"] = bool(np.array_equal(x, kept))
        seen["bad_padding"] = outcome(function, data["unchanged"], data["unchanged_w"], padding="full")
        seen["bad_channels"] = outcome(function, data["unchanged"], data["mismatched_w"])
    if "lines" in data:
        seen["lines"] = [count_lines(function, *args) for args in data["lines"]]
    return seen


@kernel
def count_lines(function, *args):
    """The Python lines ``function(*args)`` runs (the kernel's measurement; the source is judged apart)."""
    import sys

    count = [0]

    def local(frame, event, arg):
        count[0] += event == "line"
        return local

    def calls(frame, event, arg):
        count[0] += 1
        return local

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        function(*args)
    except Exception:  # noqa: BLE001 - the values are judged elsewhere
        pass
    finally:
        sys.settrace(previous)
    return count[0]


@kernel
def observe_shapes(student, data):
    seen = {}
    with refusing_convolutions("conv_output_shape and conv_param_count"):
        if "shapes" in data:
            function = student["conv_output_shape"]
            seen["shapes"] = [outcome(function, tuple(shape), filters, k, stride=s, padding=p)
                              for shape, filters, k, s, p in data["shapes"]]
            seen["bad_padding"] = outcome(function, (8, 8, 3), 4, 3, padding="full")
        if "counts" in data:
            function = student["conv_param_count"]
            seen["counts"] = [outcome(function, c, filters, k, use_bias=bias) for c, filters, k, bias in data["counts"]]
    return seen


@kernel
def convolve_same(x, w, b):
    """A stride-1 'same' convolution in float64 (kernels of odd size): the grader's own operation."""
    x = np.asarray(x, dtype=np.float64)
    k = w.shape[0]
    padded = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))
    return np.einsum("nijcuv,uvco->nijo", windows, np.asarray(w, dtype=np.float64)) + np.asarray(b, dtype=np.float64)


@kernel
def observe_spatial(student, data):
    shift, error = student["shift_image"], student["translation_error"]
    x = data["x"]
    kept = x.copy()
    seen = {"shifts": [outcome(shift, x, dy, dx) for dy, dx in data["shifts"]]}
    seen["unchanged"] = bool(np.array_equal(x, kept))
    w, b, ramp = data["w"], data["b"], data["ramp"]

    def convolution(batch):
        return convolve_same(batch, w, b)

    def scaled(batch):
        return convolve_same(batch, w, b) * ramp

    images = data["images"]
    seen["scaled"] = [outcome(error, scaled, images, dy, dx, margin) for dy, dx, margin in data["errors"]]
    seen["plain"] = outcome(error, convolution, images, data["errors"][0][0], data["errors"][0][1], data["inner_margin"])
    seen["border"] = outcome(error, convolution, images, data["errors"][0][0], data["errors"][0][1], 0)
    seen["no_pixel"] = outcome(error, convolution, images, 1, 1, data["no_pixel_margin"])
    return seen


@kernel
def observe_channels(student, data):
    swap, error = student["swap_kernels"], student["swap_error"]
    w, b = data["w"], data["b"]
    kept = (w.copy(), b.copy())
    seen = {"swaps": [outcome(swap, w, b, i, j) for i, j in data["swaps"]]}
    seen["unchanged"] = bool(np.array_equal(w, kept[0]) and np.array_equal(b, kept[1]))

    def mixing(x, w_, b_):
        return np.cumsum(convolve_same(x, w_, b_), axis=-1)

    seen["mixing"] = [outcome(error, mixing, data["x"], w, b, i, j) for i, j in data["pairs"]]
    seen["plain"] = [outcome(error, convolve_same, data["x"], w, b, i, j) for i, j in data["pairs"]]
    return seen


# ------------------------------------------------------------------ the grader's side


def convolution(x, w, b, stride, padding):
    """Keras' Conv2D by its definition, in float64: padding split as Keras splits it (the odd zero at
    the bottom and on the right), kernels not flipped."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    _, height, width, _ = x.shape
    k = w.shape[0]

    def pads(size):
        if padding == "valid":
            return 0, 0
        total = max((-(-size // stride) - 1) * stride + k - size, 0)
        return total // 2, total - total // 2

    padded = np.pad(x, ((0, 0), pads(height), pads(width), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    y = np.einsum("nijcuv,uvco->nijo", windows, w)
    return y if b is None else y + np.asarray(b, dtype=np.float64)


def _case(rng, shape, k, c_out, stride, padding, bias=True):
    x = rng.standard_normal(shape).astype("float32")
    w = rng.standard_normal((k, k, shape[-1], c_out)).astype("float32")
    b = rng.standard_normal(c_out).astype("float32") if bias else None
    return (x, w, b, stride, padding)


def _shaped(rng, height, width):
    """A size near the stated one, so that each run has its own shapes."""
    return height + int(rng.integers(0, 3)), width + int(rng.integers(0, 3))


def _extras(rng, data):
    data["unchanged"] = rng.standard_normal((1, 5, 5, 2))
    data["unchanged_w"] = rng.standard_normal((3, 3, 2, 2))
    data["mismatched_w"] = np.ones((3, 3, 3, 1))
    return data


def valid_inputs(rng):
    tiny = np.arange(9.0).reshape(1, 3, 3, 1)
    top_left = np.zeros((2, 2, 1, 1))
    top_left[0, 0] = 1.0
    cases = [
        (tiny, np.ones((2, 2, 1, 1)), np.array([0.5]), 1, "valid"),  # the visible tests' cases
        (tiny, top_left, None, 1, "valid"),
        (np.arange(25.0).reshape(1, 5, 5, 1), np.ones((3, 3, 1, 1)), None, 2, "valid"),
        _case(rng, (2, 7, 6, 2), 3, 3, 2, "valid"),
    ]
    for (h, w_), c, k, c_out, s in [((9, 7), 4, 5, 2, 2), ((5, 8), 2, 3, 3, 1), ((7, 6), 3, 2, 2, 3)]:
        cases.append(_case(rng, (int(rng.integers(1, 4)), *_shaped(rng, h, w_), c), k, c_out, s, "valid"))
    return _extras(rng, {"function": "conv2d_naive", "cases": cases})


def same_inputs(rng):
    tiny = np.arange(9.0).reshape(1, 3, 3, 1)
    cases = [
        (tiny, np.ones((3, 3, 1, 1)), None, 1, "same"),
        (tiny, np.ones((2, 2, 1, 1)), None, 2, "same"),
        _case(rng, (2, 6, 5, 2), 3, 3, 1, "same"),
        _case(rng, (2, 6, 5, 2), 3, 3, 2, "same"),
    ]
    for (h, w_), c, k, c_out, s in [((7, 9), 3, 3, 5, 2), ((8, 6), 2, 3, 4, 2), ((6, 5), 3, 2, 3, 1), ((10, 11), 1, 4, 2, 3)]:
        cases.append(_case(rng, (int(rng.integers(1, 3)), *_shaped(rng, h, w_), c), k, c_out, s, "same"))
    return _extras(rng, {"function": "conv2d_naive", "cases": cases})


def fast_inputs(rng):
    tiny = np.arange(9.0).reshape(1, 3, 3, 1)
    cases = [
        (tiny, np.ones((2, 2, 1, 1)), np.array([0.5]), 1, "valid"),
        (tiny, np.ones((2, 2, 1, 1)), None, 2, "same"),
        _case(rng, (2, 6, 5, 2), 3, 3, 2, "same"),
        _case(rng, (2, 6, 5, 2), 3, 3, 2, "valid"),
    ]
    for (h, w_), c, k, c_out, s, p in [((7, 9), 3, 3, 5, 2, "same"), ((8, 6), 2, 3, 4, 2, "same"), ((9, 7), 4, 5, 2, 2, "valid"),
                                       ((6, 5), 3, 2, 3, 1, "same"), ((10, 11), 1, 4, 2, 3, "same"), ((5, 8), 2, 3, 3, 1, "valid")]:
        cases.append(_case(rng, (int(rng.integers(1, 4)), *_shaped(rng, h, w_), c), k, c_out, s, p))
    data = _extras(rng, {"function": "conv2d_fast", "cases": cases})
    # Python lines run on a small input and on one with 4 times the images, positions and kernels.
    data["lines"] = [
        (np.ones((1, 9, 9, 2)), np.ones((3, 3, 2, 1)), np.zeros(1), 2, "valid"),
        (np.ones((4, 17, 17, 2)), np.ones((3, 3, 2, 4)), np.zeros(4), 2, "valid"),
    ]
    return data


def _judge_convolution(ctx, function: str):
    used = ctx.source.uses(CONVOLUTIONS, SCIPY, within=function)
    assert not used, f"{function} uses {', '.join(used)}: {OWN_CONVOLUTION}"
    for (x, w, b, stride, padding), seen in zip(ctx.data["cases"], ctx.seen["cases"]):
        case = f"{function} on x of shape {x.shape}, K={w.shape[0]}, C_out={w.shape[-1]}, stride={stride}, padding={padding!r}"
        expect.close(expect.value(seen, case), convolution(x, w, b, stride, padding), case, atol=1e-5, rtol=1e-5)
    expect.value(ctx.seen["same_call"], f"{function} on x of shape (1, 5, 5, 2) with 'same' padding")
    assert ctx.seen["unchanged"] is True, f"{function} changed its input x; work on a padded copy"
    expect.raised(ctx.seen["bad_padding"], "ValueError", f"{function}(x, w, padding='full')")
    expect.raised(ctx.seen["bad_channels"], "ValueError", f"{function} with x of 2 channels and kernels for 3 channels")


def judge_naive(ctx):
    _judge_convolution(ctx, "conv2d_naive")


NO_LOOPS = "loop over the K x K taps at most, never over images, positions or channels"


def judge_fast(ctx):
    _judge_convolution(ctx, "conv2d_fast")
    depth = ctx.source.loop_depth("conv2d_fast")
    assert depth <= 2, f"conv2d_fast nests {depth} loops (at most 2): {NO_LOOPS}"
    assert "conv2d_naive" not in {name.split(".")[-1] for name in ctx.source.calls("conv2d_fast")}, (
        "conv2d_fast calls conv2d_naive: write it without its Python loops")
    few, many = ctx.seen["lines"]
    assert many <= 2 * few + 100, (
        f"conv2d_fast ran {few:,} Python lines on x (1, 9, 9, 2) and {many:,} on x (4, 17, 17, 2) with 4 kernels "
        f"(at most {2 * few + 100:,} allowed): write it without a Python loop over images, positions or channels")


def shapes_inputs(rng):
    shapes = [((32, 32, 3), 32, 3, 1, "same"), ((16, 16, 32), 64, 3, 1, "same"), ((8, 8, 64), 64, 3, 1, "same"),
              ((32, 32, 3), 8, 3, 1, "valid"), ((9, 10, 3), 8, 3, 2, "valid"), ((9, 9, 3), 8, 2, 1, "same"),
              ((9, 8, 3), 8, 3, 2, "same")]
    for _ in range(8):
        k, s = int(rng.integers(1, 6)), int(rng.integers(1, 4))
        shape = (int(rng.integers(k, 33)), int(rng.integers(k, 33)), int(rng.integers(1, 33)))
        shapes.append((shape, int(rng.integers(1, 65)), k, s, str(rng.choice(["same", "valid"]))))
    return {"shapes": shapes}


def judge_shapes(ctx):
    used = ctx.source.uses(CONVOLUTIONS, SCIPY, within="conv_output_shape")
    assert not used, f"conv_output_shape uses {', '.join(used)}: {OWN_CONVOLUTION}"
    for (shape, filters, k, s, p), seen in zip(ctx.data["shapes"], ctx.seen["shapes"]):
        height, width, _ = shape
        expected = [-(-height // s), -(-width // s), filters] if p == "same" else \
            [(height - k) // s + 1, (width - k) // s + 1, filters]
        case = f"conv_output_shape({shape}, {filters}, {k}, stride={s}, padding={p!r})"
        got = expect.value(seen, case)
        assert isinstance(got, (list, tuple)) and len(got) == 3 and all(type(v) is int for v in got), (
            f"{case}: return a tuple of three integers, got {got!r}")
        expect.equal(got, expected, case)
    expect.raised(ctx.seen["bad_padding"], "ValueError", "conv_output_shape((8, 8, 3), 4, 3, padding='full')")


def counts_inputs(rng):
    counts = [(3, 32, 3, True), (32, 64, 3, True), (64, 64, 3, True), (3, 8, 3, True), (3, 8, 5, False)]
    for _ in range(6):
        counts.append((int(rng.integers(1, 65)), int(rng.integers(1, 65)), int(rng.integers(1, 8)), bool(rng.integers(0, 2))))
    return {"counts": counts}


def judge_counts(ctx):
    used = ctx.source.uses(CONVOLUTIONS | {"count_params"}, SCIPY, within="conv_param_count")
    assert not used, f"conv_param_count uses {', '.join(used)}: {OWN_CONVOLUTION}"
    for (c, filters, k, bias), seen in zip(ctx.data["counts"], ctx.seen["counts"]):
        case = f"conv_param_count({c}, {filters}, {k}, use_bias={bias})"
        got = expect.value(seen, case)
        expect.equal(got, k * k * c * filters + (filters if bias else 0), case)


def shift(x, dy, dx):
    """The grader's shift: pad with zeros, then cut the window back out."""
    h, w = x.shape[1:3]
    big = np.pad(x, ((0, 0), (abs(dy),) * 2, (abs(dx),) * 2, (0, 0)))
    return big[:, abs(dy) - dy : abs(dy) - dy + h, abs(dx) - dx : abs(dx) - dx + w]


def spatial_inputs(rng):
    size = 12
    return {
        "x": rng.standard_normal((3, 7, 9, 2)),
        "shifts": [(0, 0), (1, 2), (int(rng.integers(1, 4)), int(rng.integers(1, 5))), (-1, 4), (3, -2), (-2, -5), (7, 0), (0, -12)],
        "images": rng.standard_normal((2, size, size, 3)).astype("float32"),
        "w": rng.standard_normal((3, 3, 3, 4)), "b": rng.standard_normal(4),
        "ramp": np.linspace(0.5, 1.5, size).reshape(1, size, 1, 1),
        "errors": [(2, -1, 3), (-3, 2, 4), (1, 1, 0), (int(rng.integers(-3, 4)), int(rng.integers(-3, 4)), 2)],
        "inner_margin": 3, "no_pixel_margin": 6,
    }


def judge_spatial(ctx):
    data, seen = ctx.data, ctx.seen
    for (dy, dx), outcome in zip(data["shifts"], seen["shifts"]):
        expect.close(expect.value(outcome, f"shift_image(x, {dy}, {dx})"), shift(data["x"], dy, dx),
                     f"shift_image on a (3, 7, 9, 2) batch with dy={dy}, dx={dx}", atol=0, rtol=0)
    assert seen["unchanged"] is True, "shift_image changed its input; return a new array"
    w, b, ramp, images = data["w"], data["b"], data["ramp"], data["images"]

    def scaled(batch):
        return convolve_same(batch, w, b) * ramp

    height = images.shape[1]
    for (dy, dx, margin), outcome in zip(data["errors"], seen["scaled"]):
        inside = (slice(None), slice(margin, height - margin), slice(margin, height - margin))
        expected = np.max(np.abs(scaled(shift(images, dy, dx)) - shift(scaled(images), dy, dx))[inside])
        case = f"translation_error with dy={dy}, dx={dx}, margin={margin}"
        got = expect.value(outcome, case)
        assert type(got) is float, f"{case}: return a Python float, got {type(got).__name__}"
        assert np.isclose(got, expected, rtol=1e-5, atol=1e-9), f"{case}: expected {expected}, got {got}"
    got = expect.number(expect.value(seen["plain"], "translation_error of a convolution away from the borders"), "translation_error")
    assert got < 1e-4, (
        f"a convolution is translation-equivariant away from the borders: expected about 0, got {got!r}")
    dy, dx = data["errors"][0][:2]
    expected = np.max(np.abs(convolve_same(shift(images, dy, dx), w, b) - shift(convolve_same(images, w, b), dy, dx)))
    got = expect.number(expect.value(seen["border"], "translation_error with margin=0"), "translation_error with margin=0")
    assert np.isclose(got, expected, rtol=1e-5), f"with margin=0 the borders count: expected {expected}, got {got}"
    expect.raised(seen["no_pixel"], "ValueError", "translation_error with a margin of 6 on a 12x12 image (no pixel left)")


def channels_inputs(rng):
    c_out = 4
    first, second = (int(v) for v in rng.choice(c_out, size=2, replace=False))
    return {
        "w": rng.standard_normal((3, 3, 2, c_out)).astype("float32"),
        "b": np.round(rng.uniform(0.1, 0.9, c_out), 2).astype("float32"),
        "swaps": [(0, 2), (3, 1), (2, 2), (first, second)],
        "x": rng.standard_normal((2, 6, 7, 2)).astype("float32"),
        "pairs": [(0, 2), (1, 3), (3, 0), (first, second)],
    }


def judge_channels(ctx):
    data, seen = ctx.data, ctx.seen
    w, b = data["w"], data["b"]
    for (i, j), outcome in zip(data["swaps"], seen["swaps"]):
        case = f"swap_kernels(w, b, {i}, {j})"
        got = expect.value(outcome, case)
        assert isinstance(got, (list, tuple)) and len(got) == 2, f"{case}: return the pair (w_swapped, b_swapped), got {got!r}"[:300]
        order = np.arange(w.shape[-1])
        order[[i, j]] = order[[j, i]]
        expect.close(got[0], w[..., order], f"{case}: the kernels", atol=0, rtol=0)
        expect.close(got[1], b[order], f"{case}: the biases", atol=0, rtol=0)
    assert seen["unchanged"] is True, "swap_kernels changed w or b; return new arrays"

    def mixing(x, w_, b_):
        return np.cumsum(convolve_same(x, w_, b_), axis=-1)

    for (i, j), mixed, plain in zip(data["pairs"], seen["mixing"], seen["plain"]):
        order = np.arange(w.shape[-1])
        order[[i, j]] = order[[j, i]]
        expected = np.max(np.abs(mixing(data["x"], w[..., order], b[order]) - mixing(data["x"], w, b)[..., order]))
        case = f"swap_error with mixed channels, i={i}, j={j}"
        got = expect.value(mixed, case)
        assert type(got) is float, f"{case}: return a Python float, got {type(got).__name__}"
        assert np.isclose(got, expected, rtol=1e-5), f"{case}: expected {expected}, got {got}"
        got = expect.number(expect.value(plain, f"swap_error of a convolution, i={i}, j={j}"), "swap_error")
        assert got < 1e-5, f"swap_error of a convolution, i={i}, j={j}: expected about 0, got {got}"


# Each rule a check judges, with the visible test that checks it in the student's notebook (a text of
# that test cell): tests/test_judging.py makes sure that every rule has its visible twin.
OWN = ("no convolution of Keras, TensorFlow or SciPy", "code_rules.assert_own_code(")
CHECKS = [
    Check("ex1_test_valid", observe_convolution, judge_naive, valid_inputs, rules=(
        ("the values of Keras' Conv2D with 'valid' padding", "keras_conv2d(test_x"),
        ("x unchanged", "changed its input x"),
        ("a ValueError for a padding other than 'valid' or 'same'", 'padding="full"'),
        ("a ValueError when the channels of x and w disagree", "kernels for 3 channels"), OWN)),
    Check("ex1_test_same", observe_convolution, judge_naive, same_inputs, rules=(
        ("the values of Keras' Conv2D with 'same' padding", "keras_conv2d(test_x"), OWN)),
    Check("ex2_test_conv2d_fast", observe_convolution, judge_fast, fast_inputs, rules=(
        ("the values of Keras' Conv2D", "keras_conv2d(test_x"),
        ("a ValueError for a padding other than 'valid' or 'same'", 'padding="full"'),
        ("a ValueError when the channels of x and w disagree", "kernels for 3 channels"),
        ("at most two nested loops", "code_rules.assert_loop_depth(conv2d_fast, 2"),
        ("no call of conv2d_naive", '{"conv2d_naive"}'),
        ("about as many Python lines run on an input 192 times larger", "checks.assert_vectorised("), OWN)),
    Check("ex3_test_output_shape", observe_shapes, judge_shapes, shapes_inputs, rules=(
        ("Keras' output sizes", "conv_output_shape(in_shape"),
        ("a tuple of integers", "return integers"),
        ("a ValueError for a padding other than 'valid' or 'same'", 'padding="full"'), OWN)),
    Check("ex3_test_parameters", observe_shapes, judge_counts, counts_inputs, rules=(
        ("Keras' parameter counts", "conv_param_count(in_channels"), OWN)),
    Check("ex4_test_spatial_agnostic", observe_spatial, judge_spatial, spatial_inputs, rules=(
        ("shift_image's values", "shift_image(grid, 1, 2)"),
        ("shift_image leaves its input unchanged", "changed its input; return a new array"),
        ("translation_error returns a float", "should return a float"),
        ("translation_error's value", "translation_error(test_convolution"),
        ("a ValueError when the margin leaves no pixel", "leaves no pixel"))),
    Check("ex4_test_channel_specific", observe_channels, judge_channels, channels_inputs, rules=(
        ("swap_kernels' arrays", "swap_kernels(test_kernels"),
        ("w and b unchanged", "changed w or b"),
        ("swap_error returns a float", "should return a float"),
        ("swap_error's value", "swap_error(test_convolution"))),
]
