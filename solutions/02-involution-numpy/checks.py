"""How notebook 02's autograded cells are judged, outside the student's kernel.

Each check draws fresh inputs (shapes from a list of cases, values at random), has the kernel call the
student's functions on them, and compares what came back with this module's own NumPy definitions of
the operator: kernel generation, the multiply-add through a patch tensor, its gradients (the adjoint of
that patch tensor, the chain rule through kernel generation) and the counts. tests/test_involution_numpy.py
holds these definitions to the course's Keras layer and to TensorFlow's gradients.

Rules about how an answer works are judged from the submitted source; measurements made in the kernel
(the course's layer refused while an answer runs, Python lines run, peak memory, the pixels handed to
``generate_kernel``) add to them. Each is stated in the exercise and checked by a visible test (``rules=``
below pairs them):

* no exercise uses the course's ``Involution`` layer, the backward pass no automatic or numerical
  differentiation, the counts no Keras layer;
* ``involution_forward`` nests no Python loop beyond the K*K taps (and the groups, which the text does not
  forbid), calls neither ``involution_naive`` nor ``extract_patches`` and builds no patch tensor;
* ``kernels_at`` hands ``generate_kernel`` (when it calls it) only the gathered pixels, and holds far less
  than the kernels at every position.
"""

from __future__ import annotations

import ast

import numpy as np

from involution_course import code_rules
from involution_instructor.judging import Check, expect, kernel
from involution_instructor.judging.runtime import as_data, outcome  # noqa: F401 - the kernel has its own

BN_EPSILON = 1e-3
REFUSED = "refused: "  # how the kernel reports a refused call; the judge words the sentence
COURSE_LAYER = frozenset({"Involution"})
COURSE_LAYER_MODULES = frozenset({"involution_course.layers"})
AUTODIFF = frozenset({"GradientTape", "grad_check", "numerical_gradient"})
KERAS_LAYERS = frozenset({"Conv2D"})
GATHER_FIRST = "gather the pixels at the requested positions first, then compute their kernels from them alone"
GRADIENT_NAMES = ("reduce_w", "reduce_b", "span_w", "span_b", "x")


# ------------------------------------------------------------------------ kernel side


@kernel
def refusals(kinds):
    """An ExitStack under which the course's Involution layer raises, and, by ``kinds``, the gradient
    helpers ("autodiff": TensorFlow's tape, the course's grad_check) or Keras' Conv2D ("keras")."""
    import contextlib
    import sys
    import unittest.mock

    from involution_course import layers

    stack = contextlib.ExitStack()
    stack.enter_context(layers.refusing_reference("refused: involution_course.layers.Involution"))
    targets = []
    tensorflow, checks, keras = (sys.modules.get(name) for name in ("tensorflow", "involution_course.checks", "keras"))
    if "autodiff" in kinds:
        if tensorflow is not None:
            targets += [(tensorflow.GradientTape, "tf.GradientTape", name) for name in ("gradient", "jacobian")]
        if checks is not None:
            targets += [(checks, "involution_course.checks", name) for name in ("grad_check", "numerical_gradient")]
    if "keras" in kinds and keras is not None:
        targets.append((keras.layers.Conv2D, "keras.layers.Conv2D", "build"))
    for owner, label, name in targets:
        refusal = AssertionError(f"refused: {label}.{name}")
        stack.enter_context(unittest.mock.patch.object(owner, name, side_effect=refusal))
    return stack


@kernel
def observe_calls(student, data):
    """Each of ``data["calls"]`` ([function name, args, kwargs]) with the refusals of ``data["refuse"]``."""
    seen = []
    for name, args, kwargs in data["calls"]:
        function = student[name]
        with refusals(data["refuse"]):
            seen.append(outcome(function, *args, **kwargs))
    return seen


@kernel
def python_lines(function, args):
    """The Python lines ``function(*args)`` runs, its callees' included."""
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
    finally:
        sys.settrace(previous)
    return count[0]


@kernel
def peak_bytes(function, args):
    """The most memory ``function(*args)`` held at once, in bytes, by tracemalloc."""
    import tracemalloc

    tracemalloc.start()
    try:
        function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@kernel
def observe_forward(student, data):
    """involution_forward's values, the Python lines it runs on a small and a large input, its peak memory."""
    function = student["involution_forward"]
    seen = {"values": [], "lines": []}
    with refusals(()):
        for args in data["values"]:
            seen["values"].append(outcome(function, *args))
        for x_shape, kernel_shape, stride in data["lines"]:
            seen["lines"].append(outcome(python_lines, function, (np.ones(x_shape), np.ones(kernel_shape), stride)))
        x_shape, kernel_shape, stride = data["memory"]
        x, weights = np.random.default_rng(0).normal(size=x_shape), np.ones(kernel_shape)
        seen["memory"] = outcome(peak_bytes, function, (x, weights, stride))
    return seen


@kernel
def observe_kernels_at(student, data):
    """kernels_at's values; then, on a large image, its peak memory and the shapes of the arrays it
    (or anything it calls) handed to the notebook's generate_kernel."""
    function = student["kernels_at"]
    seen = {"values": []}
    with refusals(()):
        for args, kwargs in data["values"]:
            seen["values"].append(outcome(function, *args, **kwargs))
        namespace = getattr(student, "_namespace", {})
        own = namespace.get("generate_kernel")
        handed = []

        def recording(x, *args, **kwargs):
            handed.append(list(np.shape(x)))
            return own(x, *args, **kwargs)

        args, kwargs = data["large"]
        if callable(own):
            namespace["generate_kernel"] = recording
        try:
            seen["large"] = outcome(peak_bytes, lambda: function(*args, **kwargs), ())
        finally:
            if callable(own):
                namespace["generate_kernel"] = own
        seen["handed"] = handed
    return seen


# ------------------------------------------------------------------------ the course's NumPy definitions


def average_pool(x, stride):
    """Mean of each stride x stride block of x (B, H, W, C), over the pixels inside x."""
    if stride == 1:
        return x
    batch, height, width, channels = x.shape
    out_h, out_w = -(-height // stride), -(-width // stride)
    sums = np.zeros((batch, out_h, out_w, channels))
    counts = np.zeros((out_h, out_w))
    for di in range(stride):
        for dj in range(stride):
            part = x[:, di::stride, dj::stride]
            sums[:, : part.shape[1], : part.shape[2]] += part
            counts[: part.shape[1], : part.shape[2]] += 1
    return sums / counts[None, :, :, None]


def block_sizes(height, width, stride):
    """How many pixels of an H x W input each stride x stride block holds, (H_out, W_out)."""
    rows = np.minimum(stride, height - stride * np.arange(-(-height // stride)))
    cols = np.minimum(stride, width - stride * np.arange(-(-width // stride)))
    return rows[:, None] * cols[None, :]


def generation(x, params, stride):
    """The kernel generator's intermediate values: pooled input, BN output, ReLU output, span."""
    pooled = average_pool(x, stride)
    scale = params["bn_gamma"] / np.sqrt(params["bn_var"] + BN_EPSILON)
    normalised = (np.einsum("bhwc,cr->bhwr", pooled, params["reduce_w"]) + params["reduce_b"] - params["bn_mean"]) * scale
    normalised = normalised + params["bn_beta"]
    activated = np.maximum(normalised, 0.0)
    spanned = np.einsum("bhwr,rk->bhwk", activated, params["span_w"]) + params["span_b"]
    return pooled, normalised, activated, spanned


def generate_kernel(x, params, kernel_size, stride=1, groups=1):
    spanned = generation(x, params, stride)[3]
    return spanned.reshape(*spanned.shape[:3], groups, kernel_size, kernel_size)


def window_indices(out_h, out_w, kernel_size, stride):
    rows = (np.arange(out_h)[:, None] * stride + np.arange(kernel_size))[:, None, :, None]  # (H_out, 1, K, 1)
    cols = (np.arange(out_w)[:, None] * stride + np.arange(kernel_size))[None, :, None, :]  # (1, W_out, 1, K)
    return rows, cols


def patches(x, kernel_shape, stride):
    """Every window of the zero-padded x, (B, H_out, W_out, K, K, G, C/G)."""
    batch, out_h, out_w, groups, size = kernel_shape[:5]
    pad = (size - 1) // 2
    x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows, cols = window_indices(out_h, out_w, size, stride)
    return x_pad[:, rows, cols].reshape(batch, out_h, out_w, size, size, groups, -1)


def involution(x, kernel, stride=1):
    out = np.einsum("bhwuvgc,bhwguv->bhwgc", patches(x, kernel.shape, stride), kernel)
    return out.reshape(*out.shape[:3], -1)


def involution_gradients(x, kernel, grad_out, stride=1):
    """(dL/dx, dL/dkernel) of L with dL/d(output) = grad_out: the patch tensor's adjoint."""
    batch, out_h, out_w, groups, size = kernel.shape[:5]
    upstream = grad_out.reshape(batch, out_h, out_w, groups, -1)
    grad_kernel = np.einsum("bhwuvgc,bhwgc->bhwguv", patches(x, kernel.shape, stride), upstream)
    spread = np.einsum("bhwguv,bhwgc->bhwuvgc", kernel, upstream).reshape(batch, out_h, out_w, size, size, -1)
    pad = (size - 1) // 2
    grad_pad = np.zeros((batch, x.shape[1] + 2 * pad, x.shape[2] + 2 * pad, x.shape[3]))
    rows, cols = window_indices(out_h, out_w, size, stride)
    np.add.at(grad_pad, (slice(None), rows, cols), spread)
    return grad_pad[:, pad : pad + x.shape[1], pad : pad + x.shape[2]], grad_kernel


def pool_gradient(grad_pooled, input_shape, stride):
    """average_pool's adjoint: each pixel gets its block's gradient over the block's size."""
    height, width = input_shape[1:3]
    blocks_r, blocks_c = np.arange(height) // stride, np.arange(width) // stride
    sizes = block_sizes(height, width, stride)
    return grad_pooled[:, blocks_r][:, :, blocks_c] / sizes[blocks_r][:, blocks_c][None, :, :, None]


def generation_gradients(x, params, grad_kernel, stride=1):
    """Gradients of L with dL/d(kernel) = grad_kernel, through kernel generation."""
    pooled, normalised, activated, _ = generation(x, params, stride)
    grad_span = grad_kernel.reshape(*grad_kernel.shape[:3], -1)
    grad_normalised = np.einsum("bhwk,rk->bhwr", grad_span, params["span_w"]) * (normalised > 0)
    grad_reduced = grad_normalised * params["bn_gamma"] / np.sqrt(params["bn_var"] + BN_EPSILON)
    grad_pooled = np.einsum("bhwr,cr->bhwc", grad_reduced, params["reduce_w"])
    return {
        "reduce_w": np.einsum("bhwc,bhwr->cr", pooled, grad_reduced),
        "reduce_b": grad_reduced.sum(axis=(0, 1, 2)),
        "span_w": np.einsum("bhwr,bhwk->rk", activated, grad_span),
        "span_b": grad_span.sum(axis=(0, 1, 2)),
        "x": pool_gradient(grad_pooled, x.shape, stride),
    }


def involution_params(channels, kernel_size, groups, reduction_ratio):
    reduced = max(1, channels // reduction_ratio)
    spanned = kernel_size * kernel_size * groups
    return channels * reduced + reduced + 2 * reduced + reduced * spanned + spanned


def conv_params(channels, kernel_size):
    return kernel_size * kernel_size * channels * channels + channels


def positions(height, width, stride):
    return -(-height // stride) * -(-width // stride)


def involution_macs(height, width, channels, kernel_size, groups, reduction_ratio, stride=1):
    reduced = max(1, channels // reduction_ratio)
    per_position = channels * reduced + reduced * kernel_size * kernel_size * groups + kernel_size * kernel_size * channels
    return positions(height, width, stride) * per_position


def conv_macs(height, width, channels, kernel_size, stride=1):
    return positions(height, width, stride) * kernel_size * kernel_size * channels * channels


# ------------------------------------------------------------------------ inputs


def draw_params(rng, channels, kernel_size, groups, reduction_ratio):
    """Random weights of one layer, as the notebook's init_params draws them."""
    reduced = max(1, channels // reduction_ratio)
    spanned = kernel_size * kernel_size * groups
    return {
        "reduce_w": rng.normal(0.0, 1.0 / np.sqrt(channels), (channels, reduced)),
        "reduce_b": rng.normal(0.0, 0.1, reduced),
        "bn_gamma": rng.uniform(0.5, 1.5, reduced),
        "bn_beta": rng.uniform(0.0, 0.5, reduced),
        "bn_mean": rng.normal(0.0, 0.1, reduced),
        "bn_var": rng.uniform(0.5, 1.5, reduced),
        "span_w": rng.normal(0.0, 1.0 / np.sqrt(reduced), (reduced, spanned)),
        "span_b": rng.normal(0.0, 0.1, spanned),
    }


def draw_shape(rng, stride, groups, sizes=(4, 10), batches=(1, 3), widths=(1, 3)):
    """(B, H, W, C) with C a multiple of ``groups``; with a stride, H is not a multiple of it,
    so that the last blocks are partial."""
    height, width = (int(v) for v in rng.integers(*sizes, size=2, endpoint=True))
    if stride > 1 and height % stride == 0:
        height += 1
    return int(rng.integers(*batches, endpoint=True)), height, width, groups * int(rng.integers(*widths, endpoint=True))


def output_size(shape, stride):
    return -(-shape[1] // stride), -(-shape[2] // stride)


# (K, stride, G, r) of the generation cases: every stride, groups, reductions to one channel.
GENERATION_CASES = [(3, 1, 1, 2), (5, 2, 2, 4), (7, 1, 4, 2), (3, 2, 3, 3), (3, 3, 2, 2), (1, 2, 2, 1)]
# (K, stride, G) of the multiply-add cases.
MULTIPLY_ADD_CASES = [(3, 1, 1), (5, 2, 2), (3, 2, 4), (7, 1, 1), (3, 1, 2), (3, 3, 3)]


def generation_inputs(rng):
    calls, cases = [], []
    for k, s, g, r in GENERATION_CASES:
        shape = draw_shape(rng, s, g)
        x, params = rng.normal(size=shape), draw_params(rng, shape[3], k, g, r)
        calls.append(["generate_kernel", [x, params, k], {"stride": s, "groups": g}])
        cases.append({"shape": shape, "K": k, "stride": s, "groups": g})
    return {"calls": calls, "cases": cases, "refuse": []}


def multiply_add_case(rng, k, s, g, sizes=(4, 9)):
    shape = draw_shape(rng, s, g, sizes=sizes)
    out_h, out_w = output_size(shape, s)
    return rng.normal(size=shape), rng.normal(size=(shape[0], out_h, out_w, g, k, k)), s


def naive_inputs(rng):
    # The loops run B*H*W*C times: small images.
    cases = [multiply_add_case(rng, k, s, g, sizes=(3, 6)) for k, s, g in MULTIPLY_ADD_CASES]
    return {"calls": [["involution_naive", [x, weights, s], {}] for x, weights, s in cases], "refuse": []}


# Shapes for the Python-line count: stride 2 and 4 groups; the large input has 4 times the batch,
# about 16 times the positions and twice the channels of the small one.
LINES_CASES = [((1, 7, 7, 4), (1, 4, 4, 4, 5, 5), 2), ((4, 27, 27, 8), (4, 14, 14, 4, 5, 5), 2)]
# Peak memory, K = 7: a patch tensor alone would take 49 outputs.
MEMORY_CASES = [((1, 33, 33, 16), (1, 17, 17, 1, 7, 7), 2), ((2, 24, 24, 16), (2, 24, 24, 1, 7, 7), 1),
                ((1, 31, 29, 12), (1, 31, 29, 2, 7, 7), 1)]


def forward_inputs(rng):
    values = [list(multiply_add_case(rng, k, s, g, sizes=(4, 11))) for k, s, g in MULTIPLY_ADD_CASES]
    memory = MEMORY_CASES[int(rng.integers(len(MEMORY_CASES)))]
    return {"values": values, "lines": LINES_CASES, "memory": memory}


# (x shape, K, stride, G) of the gradient cases.
GRADIENT_CASES = [((1, 5, 5, 2), 3, 1, 1), ((2, 7, 5, 4), 3, 2, 2), ((1, 6, 6, 4), 5, 1, 4), ((2, 5, 6, 2), 7, 2, 1),
                  ((1, 7, 4, 6), 3, 3, 3)]


def backward_inputs(rng):
    calls = []
    for shape, k, s, g in GRADIENT_CASES:
        out_h, out_w = output_size(shape, s)
        x, weights = rng.normal(size=shape), rng.normal(size=(shape[0], out_h, out_w, g, k, k))
        calls.append(["involution_backward", [x, weights, rng.normal(size=(shape[0], out_h, out_w, shape[3])), s], {}])
    return {"calls": calls, "refuse": ["autodiff"]}


# (x shape, K, stride, G, r) of kernel generation's gradient cases; and average_pool_backward's cases.
GENERATION_GRADIENT_CASES = [((1, 4, 4, 4), 3, 1, 1, 2), ((2, 5, 7, 8), 3, 2, 2, 4), ((1, 6, 6, 8), 5, 2, 4, 2),
                             ((3, 5, 5, 4), 7, 1, 1, 1), ((1, 7, 5, 6), 1, 3, 3, 3)]
POOL_CASES = [((2, 5, 7, 3), 2), ((1, 7, 7, 2), 3), ((1, 4, 6, 2), 2), ((2, 3, 3, 1), 1)]


def generation_gradient_inputs(rng):
    calls = []
    for shape, k, s, g, r in GENERATION_GRADIENT_CASES:
        out_h, out_w = output_size(shape, s)
        x, params = rng.normal(size=shape), draw_params(rng, shape[3], k, g, r)
        calls.append(["generate_kernel_backward", [x, params, rng.normal(size=(shape[0], out_h, out_w, g, k, k)), k, s, g], {}])
    for shape, s in POOL_CASES:
        out_h, out_w = output_size(shape, s)
        calls.append(["average_pool_backward", [rng.normal(size=(shape[0], out_h, out_w, shape[3])), shape, s], {}])
    return {"calls": calls, "refuse": ["autodiff"]}


def counting_inputs(rng):
    layers, images = [], []
    for _ in range(6):
        groups = int(rng.choice([1, 2, 3, 4, 7]))
        channels = groups * int(rng.integers(1, 12, endpoint=True))
        layers.append((channels, int(rng.choice([1, 3, 5, 7])), groups, int(rng.integers(1, 8, endpoint=True))))
    for stride in (1, 2, 3):
        height, width = (int(v) for v in rng.integers(5, 60, size=2, endpoint=True))
        images.append((height + (stride > 1 and height % stride == 0), width, stride))
    calls = []
    for c, k, g, r in layers:
        calls += [["involution_params", [c, k, g, r], {}], ["conv_params", [c, k], {}]]
        for h, w, s in images:
            calls += [["involution_macs", [h, w, c, k, g, r], {"stride": s}], ["conv_macs", [h, w, c, k], {"stride": s}]]
    return {"calls": calls, "refuse": ["keras"]}


KERNELS_AT_CASES = [(5, 4, 2), (3, 1, 4), (7, 2, 1), (1, 3, 3)]  # (K, G, r)


def kernels_at_inputs(rng):
    values = []
    for k, g, r in KERNELS_AT_CASES:
        shape = draw_shape(rng, 1, g, sizes=(5, 19), widths=(2, 3))
        x = rng.normal(size=shape)
        spots = [(int(rng.integers(shape[1])), int(rng.integers(shape[2]))) for _ in range(int(rng.integers(2, 6)))]
        spots += [(0, 0), (shape[1] - 1, shape[2] - 1)]
        x[:, spots[0][0], spots[0][1]] = x[:, spots[-1][0], spots[-1][1]]  # equal pixels, equal kernels
        values.append([[x, draw_params(rng, shape[3], k, g, r), spots, k], {"groups": g}])
    # A large image with a few positions: generating every kernel would hold 98 / 4 times the image.
    x = rng.normal(size=(1, 80, 120, 4))
    spots = [(int(rng.integers(80)), int(rng.integers(120))) for _ in range(5)]
    return {"values": values, "large": [[x, draw_params(rng, 4, 7, 2, 2), spots, 7], {"groups": 2}]}


# ------------------------------------------------------------------------ rules read from the source


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else node.attr
    return None


def _within(module: str, modules) -> bool:
    return any(module == m or module.startswith(m + ".") for m in modules)


def reached(source, functions) -> dict[str, ast.AST]:
    """The student's ``functions`` and every function of theirs that these call, by name."""
    defined = source.functions()
    found = {}
    for function in functions:
        if function not in defined:
            continue
        found[function] = defined[function]
        for called in source.calls(function):
            name = called.split(".")[-1]
            if name in defined:
                found[name] = defined[name]
    return found


def forbidden_uses(source, functions, names, modules=COURSE_LAYER_MODULES) -> list[str]:
    """What ``functions`` (and the student's functions they call) use among ``names`` and the modules
    ``modules``: names and attributes, the names a forbidden import binds anywhere in the student's
    code (``from involution_course.layers import Involution as I``), getattr strings, imports."""
    names = set(names)
    aliases = set()
    for tree in source.trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name in names or _within(f"{node.module or ''}.{alias.name}", modules):
                        aliases.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if _within(alias.name, modules):
                        aliases.add(alias.asname or alias.name.split(".")[0])
    found = []
    for function, tree in reached(source, functions).items():
        for node in ast.walk(tree):
            what = None
            if isinstance(node, ast.Attribute) and node.attr in names:
                what = _dotted(node) or node.attr
            elif isinstance(node, ast.Name) and node.id in names | aliases:
                what = node.id
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
                parts = [f"{module}.{a.name}".strip(".") for a in node.names]
                if any(_within(p, modules) or p.split(".")[-1] in names for p in parts):
                    what = f"import of {', '.join(parts)}"
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "__import__"):
                text = " ".join(a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
                if any(part in names or _within(part, modules) for part in text.split()):
                    what = f"{node.func.id}({text!r})"
            if what:
                found.append(what if function in functions else f"{what} (in {function})")
    return sorted(set(found))


def refuse_uses(ctx, who: str, functions, names, modules=COURSE_LAYER_MODULES, what: str = "") -> None:
    found = forbidden_uses(ctx.source, functions, names, modules)
    if found:
        raise AssertionError(f"{who} called {', '.join(found)}{what}: this exercise asks you to compute it yourself, with NumPy")


def value_of(seen, what: str, who: str):
    """The value of one observed call; a call that the kernel refused is a delegation."""
    if isinstance(seen, dict) and str(seen.get("message", "")).startswith(REFUSED):
        label = str(seen["message"])[len(REFUSED):]
        raise AssertionError(f"{who} called {label}: this exercise asks you to compute it yourself, with NumPy")
    return expect.value(seen, what)


def calls_seen(ctx, count: int) -> list:
    if not isinstance(ctx.seen, list) or len(ctx.seen) != count:
        raise AssertionError("the observation did not hold one result per call")
    return ctx.seen


def relative_error(a, b) -> float:
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / max(scale, 1e-12))


# ------------------------------------------------------------------------ judges


def judge_generate_kernel(ctx):
    refuse_uses(ctx, "generate_kernel", ["generate_kernel"], COURSE_LAYER)
    for (name, (x, params, k), kwargs), case, seen in zip(ctx.data["calls"], ctx.data["cases"], calls_seen(ctx, len(ctx.data["calls"]))):
        s, g = kwargs["stride"], kwargs["groups"]
        what = f"your kernel for x {tuple(x.shape)}, K={k}, stride={s}, groups={g}"
        expected = generate_kernel(x, params, k, s, g)
        expect.close(value_of(seen, what, "generate_kernel"), expected, what, atol=1e-8, rtol=0)


def judge_involution_naive(ctx):
    refuse_uses(ctx, "involution_naive", ["involution_naive"], COURSE_LAYER)
    for (name, (x, weights, s), _), seen in zip(ctx.data["calls"], calls_seen(ctx, len(ctx.data["calls"]))):
        what = f"involution_naive for x {tuple(x.shape)}, K={weights.shape[-1]}, stride={s}, groups={weights.shape[3]}"
        expect.close(value_of(seen, what, "involution_naive"), involution(x, weights, s), what, atol=1e-8, rtol=0)


def memory_budget(x_shape, kernel_shape):
    """A patch-free answer's allowance: a kernel-sized copy, two padded inputs and four outputs (bytes)."""
    batch, out_h, out_w, _, size = kernel_shape[:5]
    pad = (size - 1) // 2
    padded = batch * (x_shape[1] + 2 * pad) * (x_shape[2] + 2 * pad) * x_shape[3] * 8
    output = batch * out_h * out_w * x_shape[3] * 8
    return int(np.prod(kernel_shape)) * 8 + 2 * padded + 4 * output, output * size * size


def judge_involution_forward(ctx):
    who = "involution_forward"
    refuse_uses(ctx, who, [who], COURSE_LAYER)
    if forbidden_uses(ctx.source, [who], {"involution_naive"}, frozenset()):
        raise AssertionError("involution_forward calls involution_naive, the loop version: write it without a Python "
                             "loop over images, positions or channels")
    if forbidden_uses(ctx.source, [who], {"extract_patches"}, frozenset()):
        raise AssertionError("involution_forward calls extract_patches, which builds the patch tensor: sum K*K shifted "
                             "slices instead of building patches")
    depth = ctx.source.loop_depth(who)
    if depth > 3:  # two for the K*K taps, one more for the groups (which the line count below measures)
        raise AssertionError(
            f"involution_forward nests {depth} Python loops (for, while or comprehensions, in the functions it calls "
            "too); the K*K taps need two: write it without a Python loop over images, positions or channels")
    seen = ctx.seen if isinstance(ctx.seen, dict) else {}
    values = seen.get("values")
    if not isinstance(values, list) or len(values) != len(ctx.data["values"]):
        raise AssertionError("the observation did not hold one result per call")
    for (x, weights, s), found in zip(ctx.data["values"], values):
        what = f"involution_forward for x {tuple(x.shape)}, K={weights.shape[-1]}, stride={s}, groups={weights.shape[3]}"
        expect.close(value_of(found, what, who), involution(x, weights, s), what, atol=1e-8, rtol=0)
    (small, _, _), (large, _, _) = ctx.data["lines"]
    few, many = (value_of(found, f"counting the Python lines {who} runs", who) for found in seen.get("lines", [None, None]))
    if not (isinstance(few, int) and isinstance(many, int)):
        raise AssertionError("the observation did not hold the Python lines counted")
    if many > 2 * few + 100:
        raise AssertionError(
            f"involution_forward ran {few:,} Python lines on x {tuple(small)} and {many:,} on x {tuple(large)} "
            f"(at most {2 * few + 100:,} allowed): write it without a Python loop over images, positions or channels")
    x_shape, kernel_shape, stride = ctx.data["memory"]
    used = value_of(seen.get("memory"), f"measuring {who}'s memory", who)
    allowed, patch_bytes = memory_budget(x_shape, kernel_shape)
    if not isinstance(used, int) or used > allowed:
        raise AssertionError(
            f"involution_forward for x {tuple(x_shape)}, K={kernel_shape[-1]}, stride {stride} held {used!r} bytes at its "
            f"peak; {allowed:,} bytes are allowed (a patch tensor would take {patch_bytes:,}): sum K*K shifted slices "
            "instead of building patches")


def _gradient_judge(index: int, label: str):
    def judge(ctx):
        who = "involution_backward"
        refuse_uses(ctx, who, [who], COURSE_LAYER | AUTODIFF)
        for (name, (x, weights, grad_out, s), _), seen in zip(ctx.data["calls"], calls_seen(ctx, len(ctx.data["calls"]))):
            where = f"x {tuple(x.shape)}, K={weights.shape[-1]}, stride={s}, groups={weights.shape[3]}"
            found = value_of(seen, f"involution_backward for {where}", who)
            if not isinstance(found, (tuple, list)) or len(found) != 2:
                raise AssertionError(f"involution_backward should return (grad_x, grad_kernel); got {expect._shown(found)}")
            expected = involution_gradients(x, weights, grad_out, s)[index]
            got = expect.shape(found[index], expected.shape, f"{label} for {where}").astype(float)
            error = relative_error(got, expected)
            if not error < 1e-6:
                raise AssertionError(f"{label} wrong for {where}: relative error {error:.1e}")
    judge.__name__ = f"judge_{label}"
    return judge


judge_input_gradient = _gradient_judge(0, "grad_x")
judge_kernel_gradient = _gradient_judge(1, "grad_kernel")


def judge_generation_gradients(ctx):
    who = "generate_kernel_backward"
    refuse_uses(ctx, who, [who, "average_pool_backward"], COURSE_LAYER | AUTODIFF)
    for (name, args, _), seen in zip(ctx.data["calls"], calls_seen(ctx, len(ctx.data["calls"]))):
        if name == "average_pool_backward":
            grad_pooled, shape, s = args
            what = f"average_pool_backward for an input {tuple(shape)}, stride {s}"
            found = value_of(seen, what, "average_pool_backward")
            expect.close(found, pool_gradient(grad_pooled, shape, s), what, atol=1e-10, rtol=0)
            continue
        x, params, grad_kernel, k, s, g = args
        where = f"x {tuple(x.shape)}, K={k}, stride={s}, groups={g}"
        found = value_of(seen, f"generate_kernel_backward for {where}", who)
        if not isinstance(found, dict):
            raise AssertionError(f"generate_kernel_backward should return a dict of gradients; got {expect._shown(found)}")
        missing = [n for n in GRADIENT_NAMES if n not in found]
        if missing:
            raise AssertionError(f"generate_kernel_backward must also return the gradients {missing}")
        expected = generation_gradients(x, params, grad_kernel, s)
        for gradient in GRADIENT_NAMES:
            got = expect.shape(found[gradient], expected[gradient].shape, f"the gradient for {gradient}, {where}").astype(float)
            error = relative_error(got, expected[gradient])
            if not error < 1e-6:
                raise AssertionError(f"{gradient} for {where}: relative error {error:.1e}")


def judge_counting(ctx):
    functions = ["involution_params", "involution_macs", "conv_params", "conv_macs"]
    refuse_uses(ctx, "involution_params or conv_params", functions, COURSE_LAYER | KERAS_LAYERS)
    reference = {"involution_params": involution_params, "involution_macs": involution_macs,
                 "conv_params": conv_params, "conv_macs": conv_macs}
    for (name, args, kwargs), seen in zip(ctx.data["calls"], calls_seen(ctx, len(ctx.data["calls"]))):
        shown = ", ".join([*map(str, args), *(f"{k}={v}" for k, v in kwargs.items())])
        what = f"{name}({shown})"
        expected = reference[name](*args, **kwargs)
        found = value_of(seen, what, name)
        if not isinstance(found, (int, float)) or isinstance(found, bool) or found != expected:
            raise AssertionError(f"{what} should be {expected:,}; got {expect._shown(found)}")


def judge_kernels_at(ctx):
    who = "kernels_at"
    refuse_uses(ctx, who, [who], COURSE_LAYER)
    # The same reading as the visible test's code_rules.assert_gathers_first, on the submitted source.
    whole = code_rules.whole_image_uses(ctx.source.functions(), who)
    if whole:
        raise AssertionError(
            f"kernels_at computes on the whole image: {whole[0][:200]}; {GATHER_FIRST}")
    seen = ctx.seen if isinstance(ctx.seen, dict) else {}
    values = seen.get("values")
    if not isinstance(values, list) or len(values) != len(ctx.data["values"]):
        raise AssertionError("the observation did not hold one result per call")
    for ((x, params, spots, k), kwargs), found in zip(ctx.data["values"], values):
        g = kwargs["groups"]
        what = f"kernels for x {tuple(x.shape)} at {len(spots)} positions, K={k}, G={g}"
        rows, cols = np.array(spots).T
        expected = generate_kernel(x[:, rows, cols][:, None], params, k, 1, g)[:, 0]
        expect.close(value_of(found, what, who), expected, what, atol=1e-8, rtol=0)
    (x, params, spots, k), kwargs = ctx.data["large"]
    used = value_of(seen.get("large"), f"kernels_at on x {tuple(x.shape)}", who)
    handed = seen.get("handed")
    if not isinstance(handed, list) or not all(isinstance(s, list) and len(s) >= 2 for s in handed):
        raise AssertionError("the observation did not hold what kernels_at gave generate_kernel")
    pixels = sum(int(np.prod(s[:-1])) for s in handed)  # every axis but the channels
    if pixels > x.shape[0] * len(spots):
        raise AssertionError(
            f"kernels_at handed generate_kernel {pixels:,} pixels for the kernels at {len(spots)} positions of x "
            f"{tuple(x.shape)}: compute the kernels at the requested positions only")
    allowed = 4 * x.nbytes + 65536  # room for copies of the image; far from the kernels at every position
    whole_kernel = x.shape[0] * x.shape[1] * x.shape[2] * kwargs["groups"] * k * k * 8
    if not isinstance(used, int) or used > allowed:
        raise AssertionError(
            f"kernels_at on x {tuple(x.shape)}, {len(spots)} positions, K={k}, G={kwargs['groups']} held {used!r} bytes "
            f"at its peak; {allowed:,} are allowed (the kernels at every position take {whole_kernel:,}): compute the "
            "kernels at the requested positions only")


# Each rule a check judges, with the visible test that checks it in the student's notebook (a text of
# that test cell): tests/test_judging.py makes sure that every rule has its visible twin.
def _own(function):
    return (f"{function} uses neither the course's Involution layer nor anything of involution_course.layers",
            f"code_rules.assert_not_using({function}, COURSE_LAYER")


def _own_gradient(function, who=None):
    return (f"no use of the course's layer or of automatic or numerical differentiation (tf.GradientTape, checks.grad_check, "
            f"checks.numerical_gradient) in {who or function}", f"code_rules.assert_not_using({function}, AUTODIFF")
CHECKS = [
    Check("ex1_test_generate_kernel", observe_calls, judge_generate_kernel, generation_inputs, rules=(
        ("the kernels of steps 1 to 4, to 1e-8, for every stride (partial blocks included) and groups",
         "generate_kernel(x_case, params_case"),
        _own("generate_kernel"))),
    Check("ex2_test_involution_naive", observe_calls, judge_involution_naive, naive_inputs, rules=(
        ("the multiply-add's outputs, to 1e-8, for every stride and groups", "involution_naive(x_case, kernel_case"),
        _own("involution_naive"))),
    Check("ex3_test_involution_forward", observe_forward, judge_involution_forward, forward_inputs, rules=(
        ("the multiply-add's outputs, to 1e-8, for every stride and groups", "involution_forward(x_case, kernel_case"),
        _own("involution_forward"),
        ("no call of involution_naive or extract_patches", 'code_rules.assert_not_using(involution_forward, {"involution_naive", "extract_patches"}'),
        ("at most three nested Python loops (the K x K taps, and the groups), counting the functions it calls",
         "code_rules.assert_loop_depth(involution_forward, 3"),
        ("at most 2n + 100 Python lines run on an input with about 100 times the output values of one where it runs n",
         "checks.assert_vectorised(involution_forward"),
        ("peak memory within a copy of the kernel, two padded inputs and four outputs", "checks.assert_peak_bytes("))),
    Check("ex4_test_input_gradient", observe_calls, judge_input_gradient, backward_inputs, rules=(
        ("grad_x within a relative error of 1e-6, for every stride and groups", "grad_x, _ = involution_backward("),
        _own_gradient("involution_backward"))),
    Check("ex4_test_kernel_gradient", observe_calls, judge_kernel_gradient, backward_inputs, rules=(
        ("grad_kernel within a relative error of 1e-6, for every stride and groups", "_, grad_kernel = involution_backward("),
        _own_gradient("involution_backward"))),
    Check("ex4_test_generation", observe_calls, judge_generation_gradients, generation_gradient_inputs, rules=(
        ("the five gradients, each within a relative error of 1e-6", "generate_kernel_backward(x_stride3"),
        ("a dict holding every one of the five gradients", "must also return the gradients"),
        ("average_pool_backward's values, to 1e-10", "average_pool_backward(np.array"),
        _own_gradient("backward_function", "average_pool_backward or generate_kernel_backward"))),
    Check("ex5_test_counting", observe_calls, judge_counting, counting_inputs, rules=(
        ("the four counts of the formulas above, on fresh layers and images", "involution_macs(7, 9, 64, 7, 4, 4, stride=2)"),
        ("neither the course's layer nor keras.layers.Conv2D", 'code_rules.assert_not_using(counting, COURSE_LAYER | {"Conv2D"}'))),
    Check("ex6_test_kernels_at", observe_kernels_at, judge_kernels_at, kernels_at_inputs, rules=(
        ("the kernels at the requested positions, to 1e-8, for every K and groups", "kernels_at(x_size, params_sizes"),
        _own("kernels_at"),
        ("the whole image (x, or a copy, reshape or pooling of it) handed to neither generate_kernel nor a matrix product, "
         "in kernels_at or the functions it calls", "code_rules.assert_gathers_first(kernels_at"),
        ("at most B x n pixels handed to generate_kernel for n positions", "checks.shapes_handed(globals(), \"generate_kernel\""),
        ("peak memory within four copies of the image plus 64 KiB", "checks.assert_peak_bytes("))),
]
