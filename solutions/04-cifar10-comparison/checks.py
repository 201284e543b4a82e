"""Notebook 04's checks: what the grader judges, outside the student's kernel.

* Exercises 1 to 3 (models): the kernel builds the student's networks, reports their layers
  (kinds, settings, output shapes) and parameter counts, loads weights drawn here into them and
  reports their logits on images drawn here; the judge compares with the description and with a
  NumPy forward pass of the same weights (convolutions, batch norm in inference mode, involution).
* Exercise 4: ``largest_width_within`` on count functions made in the kernel from curves drawn
  here, each call counted there; the judge compares with a scan of every width, refuses a search
  that neither doubles nor halves (read from the source) and more than 59 counts for a budget of
  10^9 at step 1.
* Exercise 5: the ``statements`` against the truth.
* Exercise 6: ``confusion_matrix`` and ``per_class_accuracy`` on labels and matrices drawn here.

No answer may import the instructor's package (read from the source; the kernel's
``sys.modules`` adds to it). Judges use NumPy and the standard library only.
"""

from __future__ import annotations

import ast

import numpy as np

from involution_instructor.judging import Check, expect, kernel
from involution_instructor.judging.source import StudentSource

BN_EPSILON = 1e-3  # Keras' BatchNormalization default, in the example's layers and the course's
EXAMPLE_CNN_PARAMETERS = 319_178
EXAMPLE_INVOLUTION_PARAMETERS = 13_074
FAIR_KERNEL_SIZE = {"involution": 5, "conv": 3}
INSTRUCTOR = "involution_instructor"
MAX_COUNT_CALLS = 60  # calls of count allowed for a budget of 10**9 at step 1, exclusive


# ------------------------------------------------------------------------------ kernel side


@kernel
def describe_model(model):
    """A Keras model as plain data: its layers' kinds, settings and shapes, its operations as the
    notebook's visible tests list them, its weights' shapes and its trainable parameters."""
    from involution_course.layers import Involution

    def shape_of(layer, side):
        try:
            return tuple(getattr(layer, side).shape)
        except Exception:  # noqa: BLE001 - a layer used twice has no single shape
            return None

    layers, ops = [], []
    for layer in model.layers:
        kind, config = type(layer).__name__, layer.get_config()
        activation = config.get("activation")
        if kind != "InputLayer":
            ops.append(str(activation).replace("relu", "ReLU") if kind == "Activation" else kind)
        if kind != "Activation" and activation not in (None, "linear"):
            ops.append(str(activation).replace("relu", "ReLU"))
        entry = {"kind": kind, "involution": isinstance(layer, Involution),
                 "activation": None if activation is None else str(activation),
                 "input_shape": shape_of(layer, "input"), "output_shape": shape_of(layer, "output")}
        for key in ("kernel_size", "stride", "strides", "groups", "reduction_ratio", "padding", "use_bias"):
            if key in config:
                value = config[key]
                entry[key] = tuple(value) if isinstance(value, list) else value
        layers.append(entry)
    return {
        "layers": layers,
        "ops": ops,
        "trainable": sum(int(np.prod(tuple(w.shape))) for w in model.trainable_weights),
        "weight_shapes": [tuple(int(d) for d in w.shape) for w in model.weights],
    }


@kernel
def logits_with(model, weights, images):
    """The model's outputs on ``images`` once its weights are ``weights``, in inference mode."""
    model.set_weights([np.asarray(w) for w in weights])
    return model(np.asarray(images, dtype="float32"), training=False)


@kernel
def observe_model(student, name, arguments, weights, images):
    """One model built by the student's ``name(*arguments)``, described and run on the grader's weights."""
    import sys

    try:
        model = student[name](*arguments)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - reported for the judge
        return {"built": {"raised": type(error).__name__, "message": str(error)[:2000]},
                "instructor_loaded": "involution_instructor" in sys.modules}
    return {
        "built": {"value": True},
        "described": outcome(describe_model, model),
        "logits": outcome(logits_with, model, weights, images),
        "instructor_loaded": "involution_instructor" in sys.modules,
    }


@kernel
def observe_example(student, data):
    return observe_model(student, data["name"], (), data["weights"], data["images"])


@kernel
def observe_fair(student, data):
    return {spatial: observe_model(student, "build_fair_network", (case["width"], spatial), case["weights"], data["images"])
            for spatial, case in data["networks"].items()}


@kernel
def observe_budget(student, data):
    """Each case's result, with the calls of ``count`` counted here (a runaway search stops)."""
    import sys

    search = student["largest_width_within"]
    seen = []
    for case in data["cases"]:
        calls = []

        def count(width, curve=tuple(case["curve"]), calls=calls):
            calls.append(width)
            if len(calls) > 100_000:
                raise RuntimeError("count was called more than 100,000 times")
            a, b, c = curve
            return a * width * width + b * width + c

        seen.append({"result": outcome(search, case["budget"], count, case["step"]), "calls": len(calls)})
    return {"cases": seen, "instructor_loaded": "involution_instructor" in sys.modules}


@kernel
def observe_statements(student, data):
    statements = student["statements"]
    return outcome(lambda: {str(key): value for key, value in dict(statements).items()})


@kernel
def observe_confusion(student, data):
    import sys

    confusion_matrix = student["confusion_matrix"]
    seen = []
    for case in data["cases"]:
        true, pred = np.array(case["true"]), np.array(case["pred"])
        kept = (true.copy(), pred.copy())
        found = outcome(lambda: np.asarray(confusion_matrix(true, pred, **case["keywords"])))
        seen.append({"found": found, "untouched": bool(np.array_equal(true, kept[0]) and np.array_equal(pred, kept[1]))})
    return {"cases": seen, "instructor_loaded": "involution_instructor" in sys.modules}


@kernel
def observe_accuracy(student, data):
    import sys

    per_class_accuracy = student["per_class_accuracy"]
    seen = [outcome(lambda m=np.array(matrix): np.asarray(per_class_accuracy(m), dtype=float)) for matrix in data["matrices"]]
    return {"cases": seen, "instructor_loaded": "involution_instructor" in sys.modules}


# ------------------------------------------------------------------------------ source rules


def exercise_source(ctx, answer: str) -> StudentSource:
    """The answer cells whose grade id starts with ``answer`` and every cell the student added."""
    return StudentSource({key: text for key, text in ctx.source.cells.items()
                          if key.startswith(answer) or key.startswith("cell ")})


def require_own_work(ctx, answer: str, seen) -> None:
    """No import of the instructor's package in the answer's cells (nor, as the kernel saw it, anywhere)."""
    found = exercise_source(ctx, answer).uses(set(), {INSTRUCTOR})
    loaded = any(isinstance(part, dict) and part.get("instructor_loaded") for part in
                 (seen.values() if isinstance(seen, dict) and "instructor_loaded" not in seen else [seen]))
    if found or loaded:
        raise AssertionError(f"the answer imports the instructor's package ({INSTRUCTOR}): write it yourself")


# ------------------------------------------------------------------------------ NumPy models


def relu(x):
    return np.maximum(x, 0.0)


def batch_norm(x, gamma, beta, mean, variance):
    return (x - mean) / np.sqrt(variance + BN_EPSILON) * gamma + beta


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras' (TensorFlow's) "same" padding: the extra row or column goes at the end."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv2d(x, kernel, bias=None, stride=1):
    """A "same" convolution of (B, H, W, C_in) with a (K, K, C_in, C_out) kernel."""
    k, height, width = kernel.shape[0], x.shape[1], x.shape[2]
    top, bottom = same_padding(height, k, stride)
    left, right = same_padding(width, k, stride)
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out_h, out_w = -(-height // stride), -(-width // stride)
    out = 0.0
    for ki in range(k):
        for kj in range(k):
            window = padded[:, ki:ki + stride * (out_h - 1) + 1:stride, kj:kj + stride * (out_w - 1) + 1:stride]
            out = out + window @ kernel[ki, kj]
    return out if bias is None else out + bias


def max_pool(x):
    b, h, w, c = x.shape
    return x[:, :h // 2 * 2, :w // 2 * 2].reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def block_average(x, stride: int):
    """The mean of each stride x stride block from (i s, j s), over the pixels inside the input."""
    if stride == 1:
        return x
    b, h, w, c = x.shape
    out = np.zeros((b, -(-h // stride), -(-w // stride), c))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            out[:, i, j] = x[:, i * stride:(i + 1) * stride, j * stride:(j + 1) * stride].mean(axis=(1, 2))
    return out


def involution(x, weights, kernel_size: int, stride: int, groups: int):
    """Involution of (B, H, W, C): kernels from reduce, BN, ReLU, span of the (pooled) input."""
    reduce_kernel, reduce_bias, gamma, beta, mean, variance, span_kernel, span_bias = weights
    hidden = relu(batch_norm(block_average(x, stride) @ reduce_kernel[0, 0] + reduce_bias, gamma, beta, mean, variance))
    planes = hidden @ span_kernel[0, 0] + span_bias
    b, out_h, out_w, _ = planes.shape
    k, channels = kernel_size, x.shape[-1]
    planes = planes.reshape(b, out_h, out_w, groups, k, k)
    pad = (k - 1) // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = np.zeros((b, out_h, out_w, channels))
    for ki in range(k):
        for kj in range(k):
            window = padded[:, ki:ki + stride * (out_h - 1) + 1:stride, kj:kj + stride * (out_w - 1) + 1:stride]
            out += window * np.repeat(planes[..., ki, kj], channels // groups, axis=-1)
    return out


def _draw(rng, shape, role):
    """Weights that keep activations near 1 through the network. An involution's output grows
    with the square of its input (its kernels are made from it), so its kernels draw mostly
    on the span's bias: with weights of the usual size, six blocks overflow float32."""
    if role in ("kernel", "span kernel"):
        fan_in = int(np.prod(shape[:-1]))
        scale = 0.02 if role == "span kernel" else 1.0
        return (rng.normal(size=shape) * scale * np.sqrt(2.0 / fan_in)).astype(np.float32)
    if role == "span bias":
        return (rng.normal(size=shape) / np.sqrt(shape[0])).astype(np.float32)
    if role in ("gamma", "variance"):
        return rng.uniform(0.7, 1.3, size=shape).astype(np.float32)
    return (rng.normal(size=shape) * 0.1).astype(np.float32)  # biases, beta, moving means


def _involution_spec(channels: int, kernel_size: int, groups: int, reduction_ratio: int):
    reduced = max(1, channels // reduction_ratio)
    return [((1, 1, channels, reduced), "kernel", True), ((reduced,), "bias", True),
            ((reduced,), "gamma", True), ((reduced,), "beta", True), ((reduced,), "mean", False),
            ((reduced,), "variance", False),
            ((1, 1, reduced, kernel_size ** 2 * groups), "span kernel", True),
            ((kernel_size ** 2 * groups,), "span bias", True)]


def _bn_spec(channels: int):
    return [((channels,), "gamma", True), ((channels,), "beta", True), ((channels,), "mean", False),
            ((channels,), "variance", False)]


def example_cnn_spec():
    """(shape, role, trainable) of every weight of the example's CNN, in Keras' order."""
    spec = []
    for c_in, c_out in ((3, 32), (32, 64), (64, 64)):
        spec += [((3, 3, c_in, c_out), "kernel", True), ((c_out,), "bias", True)]
    return spec + [((4096, 64), "kernel", True), ((64,), "bias", True), ((64, 10), "kernel", True), ((10,), "bias", True)]


def example_cnn_forward(weights, images):
    x = np.asarray(images, dtype=float)
    w = [np.asarray(v, dtype=float) for v in weights]
    x = max_pool(relu(conv2d(x, w[0], w[1])))
    x = max_pool(relu(conv2d(x, w[2], w[3])))
    x = relu(conv2d(x, w[4], w[5]))
    x = relu(x.reshape(len(x), -1) @ w[6] + w[7])
    return x @ w[8] + w[9]


def example_involution_spec():
    spec = []
    for _ in range(3):
        spec += _involution_spec(3, 3, 1, 2)
    return spec + [((192, 64), "kernel", True), ((64,), "bias", True), ((64, 10), "kernel", True), ((10,), "bias", True)]


def example_involution_forward(weights, images):
    x = np.asarray(images, dtype=float)
    w = [np.asarray(v, dtype=float) for v in weights]
    for block in range(3):
        x = relu(involution(x, w[8 * block:8 * block + 8], 3, 1, 1))
        if block < 2:
            x = max_pool(x)
    x = relu(x.reshape(len(x), -1) @ w[24] + w[25])
    return x @ w[26] + w[27]


def fair_blocks(width: int, spatial: str):
    """(input channels, filters, stride, groups) of the six bottleneck blocks."""
    blocks, channels = [], 32
    for stage in range(3):
        inner = width * 2 ** stage
        for block in range(2):
            blocks.append((channels, 4 * inner, 2 if stage > 0 and block == 0 else 1, inner // 8))
            channels = 4 * inner
    return blocks


def fair_spec(width: int, spatial: str):
    """Every weight of the fair network, in the order Keras lists them (a block's expand and
    shortcut convolutions come before their two batch norms)."""
    k = FAIR_KERNEL_SIZE[spatial]
    spec = [((3, 3, 3, 32), "kernel", True)] + _bn_spec(32)
    for channels, filters, stride, groups in fair_blocks(width, spatial):
        inner = filters // 4
        spec += [((1, 1, channels, inner), "kernel", True)] + _bn_spec(inner)
        spec += (_involution_spec(inner, k, groups, 4) if spatial == "involution"
                 else [((k, k, inner, inner), "kernel", True)]) + _bn_spec(inner)
        spec.append(((1, 1, inner, filters), "kernel", True))
        shortcut = stride != 1 or channels != filters
        if shortcut:
            spec.append(((1, 1, channels, filters), "kernel", True))
        spec += _bn_spec(filters) + (_bn_spec(filters) if shortcut else [])
    return spec + [((16 * width, 10), "kernel", True), ((10,), "bias", True)]


def fair_forward(weights, images, width: int, spatial: str):
    k = FAIR_KERNEL_SIZE[spatial]
    w = iter([np.asarray(v, dtype=float) for v in weights])

    def bn(x):
        return batch_norm(x, next(w), next(w), next(w), next(w))

    x = relu(bn(conv2d(np.asarray(images, dtype=float), next(w))))
    for channels, filters, stride, groups in fair_blocks(width, spatial):
        y = relu(bn(conv2d(x, next(w))))
        if spatial == "involution":
            y = involution(y, [next(w) for _ in range(8)], k, stride, groups)
        else:
            y = conv2d(y, next(w), stride=stride)
        y = conv2d(relu(bn(y)), next(w))
        shortcut = stride != 1 or channels != filters
        short = conv2d(x, next(w), stride=stride) if shortcut else x
        y = bn(y)
        x = relu(y + (bn(short) if shortcut else short))
    return x.mean(axis=(1, 2)) @ next(w) + next(w)


def trainable_count(spec) -> int:
    return sum(int(np.prod(shape)) for shape, _, trainable in spec if trainable)


def draw_weights(rng, spec):
    return [_draw(rng, shape, role) for shape, role, _ in spec]


def draw_images(rng, count=2):
    return rng.random((count, 32, 32, 3), dtype=np.float32)


# ------------------------------------------------------------------------------ exercises 1 to 3


def shown(count) -> str:
    return f"{count:,}" if type(count) is int else repr(count)


def model_description(seen, what: str) -> dict:
    built = seen.get("built") if isinstance(seen, dict) else None
    expect.value(built, what)
    found = expect.value(seen.get("described"), f"reading the layers of {what}")
    if not isinstance(found, dict) or not isinstance(found.get("layers"), list):
        raise AssertionError(f"{what}: its layers could not be read")
    return found


def judge_logits(seen, expected, what: str) -> None:
    logits = expect.shape(expect.value(seen.get("logits"), f"{what} on the grader's images"),
                          expected.shape, f"{what}'s output")
    scale = max(1.0, float(np.max(np.abs(expected))))
    expect.close(logits, expected, f"{what}'s logits, with the grader's weights", atol=1e-3 * scale, rtol=1e-3)


def judge_weights(described, spec, what: str) -> None:
    shapes = [tuple(shape) for shape in described.get("weight_shapes", [])]
    if shapes != [shape for shape, _, _ in spec]:
        raise AssertionError(f"{what}: its weights are not those of the network described "
                             f"({len(shapes)} weight tensors, {len(spec)} expected)")


def example_inputs(name, spec):
    def inputs(rng):
        return {"name": name, "weights": draw_weights(rng, spec()), "images": draw_images(rng)}
    return inputs


def judge_cnn(ctx):
    require_own_work(ctx, "ex1_", ctx.seen)
    found = model_description(ctx.seen, "build_example_cnn()")
    count = found.get("trainable")
    if count != EXAMPLE_CNN_PARAMETERS:
        raise AssertionError(f"expected 319,178 trainable parameters, your model has {shown(count)}")
    expected_ops = ["Conv2D", "ReLU", "MaxPooling2D"] * 2 + ["Conv2D", "ReLU", "Flatten", "Dense", "ReLU", "Dense"]
    expect.equal(found["ops"], expected_ops, "the operations (the last Dense outputs logits)")
    dense = [layer for layer in found["layers"] if layer["kind"] == "Dense"]
    if not dense or dense[-1].get("activation") != "linear":
        raise AssertionError("the last Dense layer must output logits (no activation)")
    pooled = [layer["output_shape"] for layer in found["layers"] if layer["kind"] == "MaxPooling2D"]
    expect.equal(pooled, [(None, 16, 16, 32), (None, 8, 8, 64)], "the pooled maps (16x16x32 then 8x8x64)")
    judge_weights(found, example_cnn_spec(), "build_example_cnn()")
    judge_logits(ctx.seen, example_cnn_forward(ctx.data["weights"], ctx.data["images"]), "build_example_cnn()")


def judge_involution_network(ctx):
    require_own_work(ctx, "ex2_", ctx.seen)
    found = model_description(ctx.seen, "build_example_involution_network()")
    count = found.get("trainable")
    if count != EXAMPLE_INVOLUTION_PARAMETERS:
        raise AssertionError(f"expected 13,074 trainable parameters, your model has {shown(count)}")
    expected_ops = ["Involution", "ReLU", "MaxPooling2D"] * 2 + ["Involution", "ReLU", "Flatten", "Dense", "ReLU", "Dense"]
    expect.equal(found["ops"], expected_ops, "the operations (the last Dense outputs logits)")
    involutions = [layer for layer in found["layers"] if layer.get("involution")]
    if len(involutions) != 3:
        raise AssertionError(f"expected 3 Involution layers (the course's ic.layers.Involution), found {len(involutions)}")
    for layer in involutions:
        settings = tuple(layer.get(key) for key in ("kernel_size", "stride", "groups", "reduction_ratio"))
        if settings != (3, 1, 1, 2):
            raise AssertionError(f"expected kernel_size=3, stride=1, groups=1, reduction_ratio=2, got {settings}")
    flat = [layer["output_shape"] for layer in found["layers"] if layer["kind"] == "Flatten"]
    expect.equal(flat, [(None, 192)], "the flattened map (8*8*3 = 192 values)")
    judge_weights(found, example_involution_spec(), "build_example_involution_network()")
    judge_logits(ctx.seen, example_involution_forward(ctx.data["weights"], ctx.data["images"]),
                 "build_example_involution_network()")


INVOLUTION_WIDTHS = (8, 16)
CONV_WIDTHS = tuple(range(4, 13))


def fair_inputs(rng):
    widths = {"involution": int(rng.choice(INVOLUTION_WIDTHS)), "conv": int(rng.choice(CONV_WIDTHS))}
    return {"images": draw_images(rng),
            "networks": {spatial: {"width": width, "weights": draw_weights(rng, fair_spec(width, spatial))}
                         for spatial, width in widths.items()}}


def judge_fair_network(ctx):
    require_own_work(ctx, "ex3_", ctx.seen)
    for spatial in ("involution", "conv"):
        width = ctx.data["networks"][spatial]["width"]
        what = f"build_fair_network({width}, {spatial!r})"
        found = model_description(ctx.seen.get(spatial), what)
        spec = fair_spec(width, spatial)
        count, expected = found.get("trainable"), trainable_count(spec)
        if count != expected:
            raise AssertionError(f"width {width}, {spatial}: expected {expected:,} trainable parameters, got {shown(count)}")
        layers = found["layers"]
        involutions = [layer for layer in layers if layer.get("involution")]
        if spatial == "involution":
            if len(involutions) != 6:
                raise AssertionError(f"the involution network needs 6 Involution layers (3 stages x 2 blocks), "
                                     f"found {len(involutions)}")
            groups = sorted({layer.get("groups") for layer in involutions})
            expect.equal(groups, [width // 8, width // 4, width // 2], f"width {width}: the stages' involutions' groups")
            expect.equal(sorted({layer.get("kernel_size") for layer in involutions}), [5], "the involutions' kernel_size")
            expect.equal([layer.get("stride") for layer in involutions], [1, 1, 2, 1, 2, 1],
                         "the involutions' strides (stride 2 in the first block of stages 1 and 2 only)")
        else:
            if involutions:
                raise AssertionError(f"the conv twin must hold no Involution layer, found {len(involutions)}")
            sizes = sorted({tuple(layer.get("kernel_size")) for layer in layers if layer["kind"] == "Conv2D"})
            expect.equal(sizes, [(1, 1), (3, 3)], "the conv twin's convolution kernel sizes (besides the stem)")
        pooled = [layer["input_shape"] for layer in layers if layer["kind"] == "GlobalAveragePooling2D"]
        expect.equal(pooled, [(None, 8, 8, 16 * width)],
                     f"width {width}, {spatial}: the map before global pooling (stride 2 only in stages 1 and 2)")
        judge_weights(found, spec, what)
        judge_logits(ctx.seen[spatial], fair_forward(ctx.data["networks"][spatial]["weights"], ctx.data["images"],
                                                     width, spatial), what)


# ------------------------------------------------------------------------------ exercise 4


def curve_value(curve, width):
    a, b, c = curve
    return a * width * width + b * width + c  # the same arithmetic as the kernel's count


def widest(budget, curve, step):
    """The largest multiple of ``step`` whose count fits ``budget``, by scanning every multiple."""
    if curve_value(curve, step) > budget:
        return None
    width = step
    while curve_value(curve, width + step) <= budget:
        width += step
    return width


def budget_inputs(rng):
    cases = []
    for step in (1, 8, int(rng.integers(2, 8))):  # budget anywhere
        curve = (int(rng.integers(1, 20)), int(rng.integers(0, 50)), int(rng.integers(0, 100)))
        cases.append({"budget": int(rng.integers(10_000, 5_000_000)), "curve": curve, "step": step})
    step = int(rng.choice([1, 8]))  # a width exactly on budget fits
    curve = (int(rng.integers(1, 20)), int(rng.integers(0, 50)), int(rng.integers(0, 100)))
    cases.append({"budget": curve_value(curve, step * int(rng.integers(3, 200))), "curve": curve, "step": step})
    # The fair pair's curves within the example CNN's budget (the notebook's _FAIR_CURVES).
    cases.append({"budget": 319_178, "curve": (495.3125, 598.25, 938), "step": 8})
    cases.append({"budget": 319_178, "curve": (830, 544, 938), "step": 1})
    cases.append({"budget": 10**9, "curve": (1, 0, int(rng.integers(0, 1000))), "step": 1, "counted": True})
    cases.append({"budget": int(rng.integers(1, 10)), "curve": (10, 0, 0), "step": 1})  # nothing fits
    return {"cases": cases}


def halves_or_doubles(source: StudentSource, function: str) -> bool:
    """Whether ``function`` (or a function of the student's that it calls) doubles or halves a
    number (``* 2``, ``// 2``, ``/ 2``, ``<< 1``, ``>> 1``, and their ``*=`` forms) or uses the
    standard library's ``bisect``."""
    defined = source.functions()
    names = {function} | {name.split(".")[-1] for name in source.calls(function)}
    for name in names & set(defined):
        for node in ast.walk(defined[name]):
            if not isinstance(node, (ast.BinOp, ast.AugAssign)):
                continue
            operands = [node.right, node.left] if isinstance(node, ast.BinOp) else [node.value]
            constants = {o.value for o in operands if isinstance(o, ast.Constant) and type(o.value) is int}
            if (isinstance(node.op, (ast.Mult, ast.FloorDiv, ast.Div)) and 2 in constants) or \
                    (isinstance(node.op, (ast.LShift, ast.RShift)) and 1 in constants):
                return True
    return bool(source.uses(set(), {"bisect"}))


def judge_budget(ctx):
    require_own_work(ctx, "ex4_", ctx.seen)
    for case, seen in zip(ctx.data["cases"], ctx.seen["cases"]):
        budget, curve, step = case["budget"], tuple(case["curve"]), case["step"]
        a, b, c = curve
        what = f"largest_width_within({budget:,}, count, {step}) with count(w) = {a}*w^2 + {b}*w + {c}"
        expected = widest(budget, curve, step)
        if expected is None:
            expect.raised(seen["result"], "ValueError", f"{what} (not even width {step} fits)")
            continue
        expect.equal(expect.value(seen["result"], what), expected, what)
        if case.get("counted") and seen["calls"] >= MAX_COUNT_CALLS:
            raise AssertionError(f"use doubling and bisection: {seen['calls']} calls of count for a width near "
                                 f"{expected:,} (fewer than {MAX_COUNT_CALLS} allowed)")
    if not halves_or_doubles(exercise_source(ctx, "ex4_"), "largest_width_within"):
        raise AssertionError("largest_width_within must double the width, then bisect: no doubling or halving "
                             "was found in its code (a scan over every width is too slow)")


# ------------------------------------------------------------------------------ exercise 5

TRUTH = {"a": True, "b": False, "c": True, "d": False, "e": False, "f": False}


def judge_statements(ctx):
    found = expect.value(ctx.seen, "statements")
    if not isinstance(found, dict) or set(found) != set(TRUTH):
        raise AssertionError(f"keep the keys a to f, got {sorted(found) if isinstance(found, dict) else found!r}")
    bad = {key: value for key, value in found.items() if not isinstance(value, bool)}
    if bad:
        raise AssertionError(f"every value must be True or False; not yet: {bad}")
    wrong = sorted(key for key in TRUTH if found[key] != TRUTH[key])
    if wrong:
        raise AssertionError(f"{len(wrong)} statement(s) judged wrongly")


# ------------------------------------------------------------------------------ exercise 6


def confusion_inputs(rng):
    size = int(rng.integers(200, 600))
    true = rng.integers(0, 10, size=(size, 1)).astype(np.uint8)  # CIFAR-10's labels: (N, 1)
    pred = rng.integers(0, 10, size=size)
    classes = int(rng.integers(3, 8))
    small = rng.integers(0, classes, size=int(rng.integers(5, 30)))
    return {"cases": [
        {"true": np.array([[0], [0], [1], [2], [2], [2]]), "pred": np.array([0, 1, 1, 2, 0, 2]), "keywords": {"num_classes": 3}},
        {"true": true, "pred": pred, "keywords": {}},
        {"true": true[:, 0], "pred": pred, "keywords": {"num_classes": 12}},
        {"true": small, "pred": rng.integers(0, classes, size=len(small)), "keywords": {"num_classes": classes}},
    ]}


def counts(true, pred, num_classes=10):
    expected = np.zeros((num_classes, num_classes), dtype=int)
    for t, p in zip(np.ravel(true), np.ravel(pred)):
        expected[t, p] += 1
    return expected


def judge_confusion(ctx):
    require_own_work(ctx, "ex6_confusion", ctx.seen)
    for case, seen in zip(ctx.data["cases"], ctx.seen["cases"]):
        true, pred = np.asarray(case["true"]), np.asarray(case["pred"])
        expected = counts(true, pred, **case["keywords"])
        shown = ", ".join(f"{key}={value}" for key, value in case["keywords"].items())
        what = f"confusion_matrix on {len(pred)} labels of shape {true.shape}{', ' + shown if shown else ''}"
        got = expect.array(expect.value(seen["found"], what), what)
        if got.shape != expected.shape or not np.array_equal(got, expected):
            if len(pred) <= 6:
                raise AssertionError(f"{what}: expected (true classes in rows)\n{expected}\ngot\n{got}")
            raise AssertionError(f"{what}: wrong counts (expected shape {expected.shape}, true classes in rows)")
        if got.dtype.kind not in "iu":
            raise AssertionError(f"counts must be integers, got dtype {got.dtype}")
        if not seen["untouched"]:
            raise AssertionError(f"{what}: the labels given were modified")


def accuracy_inputs(rng):
    size = int(rng.integers(3, 13))
    matrix = rng.integers(0, 20, size=(size, size))
    matrix[np.arange(size), np.arange(size)] += 1  # no row is empty by chance
    empty = matrix.copy()
    empty[int(rng.integers(0, size))] = 0
    return {"matrices": [np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]]), np.array([[2, 0], [0, 0]]), matrix, empty]}


def judge_accuracy(ctx):
    require_own_work(ctx, "ex6_accuracy", ctx.seen)
    for matrix, seen in zip(ctx.data["matrices"], ctx.seen["cases"]):
        matrix = np.asarray(matrix, dtype=float)
        totals = matrix.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            expected = np.where(totals > 0, np.diag(matrix) / totals, np.nan)
        what = f"per_class_accuracy of a {len(matrix)} x {len(matrix)} matrix"
        if np.isnan(expected).any():
            what += f" whose class {int(np.flatnonzero(np.isnan(expected))[0])} has no image (NaN expected there)"
        expect.close(expect.value(seen, what), expected, what + " (divide by each row's sum)", atol=1e-9, rtol=1e-9)


# Each rule the judges apply, stated in the exercise, with the text of the visible test that checks it.
OWN = ("no import of the instructor's package (involution_instructor)", 'rule="no import of the instructor')
CHECKS = [
    Check("ex1_test_cnn", observe_example, judge_cnn, inputs=example_inputs("build_example_cnn", example_cnn_spec),
          rules=(("319,178 trainable parameters", "expected 319,178 trainable parameters"),
                 ("the listed operations in order, the last Dense without activation (logits)", "_ops(_cnn) == _expected"),
                 ("the pooled maps are 16x16x32, then 8x8x64", "the pooled maps must be"),
                 ("the outputs of the network described, with given weights (the grader's, drawn per run)",
                  'checkpoints.load_checkpoint(_cnn, "example_cnn"'),
                 OWN)),
    Check("ex2_test_involution_network", observe_example, judge_involution_network,
          inputs=example_inputs("build_example_involution_network", example_involution_spec),
          rules=(("13,074 trainable parameters", "expected 13,074 trainable parameters"),
                 ("the listed operations in order, the last Dense without activation (logits)", "_ops(_net) == _expected"),
                 ("three layers of the course's Involution with kernel_size=3, stride=1, groups=1, reduction_ratio=2",
                  "three ic.layers.Involution layers"),
                 ("a flattened map of 8x8x3 = 192 values", "the flattened map must hold"),
                 ("the outputs of the network described, with given weights (the grader's, drawn per run)",
                  'checkpoints.load_checkpoint(_net, "example_involution"'),
                 OWN)),
    Check("ex3_test_fair_network", observe_fair, judge_fair_network, inputs=fair_inputs,
          rules=(("the trainable parameters of the network described, for involution and conv at any width "
                  "(the grader draws the widths)", "trainable parameters, got"),
                 ("the involution network: six Involution layers, groups w 2^l / 8 in stage l, kernel_size=5, "
                  "stride 2 in the first block of stages 1 and 2 only", "the involutions' groups, kernel sizes"),
                 ("the conv twin: no Involution layer, 3x3 convolutions besides the 1x1 ones",
                  "the conv twin's convolutions"),
                 ("an 8x8 map of 16w channels before global pooling", "the map before global pooling"),
                 ("the outputs of the network described, with given weights (the grader's, drawn per run)",
                  "checkpoints.load_checkpoint(build_fair_network("),
                 OWN)),
    Check("ex4_test_budget", observe_budget, judge_budget, inputs=budget_inputs,
          rules=(("the largest multiple of step whose count fits the budget, a width exactly on budget included "
                  "(the grader draws the curves)", "largest_width_within(1000, _square, 1)"),
                 ("a ValueError when not even width step fits", "must raise a ValueError"),
                 ("fewer than 60 calls of count for a budget of 10^9 at step 1", "fewer than 60 calls of count"),
                 ("the code doubles or halves the width (a multiplication or division by 2, a shift by 1, or the "
                  "standard library's bisect)", "no doubling or halving in largest_width_within"),
                 OWN)),
    Check("ex5_test_statements", observe_statements, judge_statements,
          rules=(("the keys a to f", "keep the keys a to f"),
                 ("each value True or False", "must be True or False"),
                 # The truth of each statement is the answer itself: no visible test can hold it.
                 ("each statement judged as the text above it supports (graded, not shown)",
                  "the grader compares each value with the truth"))),
    Check("ex6_test_confusion", observe_confusion, judge_confusion, inputs=confusion_inputs,
          rules=(("the counts, true classes in rows (the grader draws the labels)", "expected (true classes in rows)"),
                 ("an integer array", "counts must be integers"),
                 ("labels of shape (N,) or (N, 1)", "_true = np.array([[0]"),
                 ("num_classes honoured, also beyond the largest label", "num_classes=5"),
                 ("the labels given are left unchanged", "changed the labels given"),
                 OWN)),
    Check("ex6_test_accuracy", observe_accuracy, judge_accuracy, inputs=accuracy_inputs,
          rules=(("the diagonal over each row's sum (the grader draws the matrices)", "divide by each row's sum"),
                 ("NaN for a class with no image", "must give NaN"),
                 OWN)),
]
