"""Notebook 03's graded checks: the student's Keras layers, judged against NumPy definitions.

The grader draws every input and every weight (``inputs``); the kernel builds the student's
generator, multiply-add, layer or saved model, sets those weights and reports what came out
(``observe_*``); the judges compare with the definitions below, in float64. Delegating to the
course's ``involution_course.layers.Involution`` (subclassing, wrapping or calling it, copying its
methods, or its helpers) is judged from the submitted source; the kernel also runs the answer
inside ``refusing_reference`` and lists methods borrowed from the course package, which can only
take marks away.
"""

from __future__ import annotations

import ast

import numpy as np

from involution_instructor.judging import Check, expect, kernel
from involution_instructor.judging.source import StudentSource, parse

BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's default
TOLERANCE = dict(atol=1e-4, rtol=1e-4)
SUBLAYERS = ("reduce", "bn", "span")
WEIGHT_COUNTS = {"reduce": 2, "bn": 4, "span": 2}
WEIGHT_NAMES = {"reduce": "kernel and bias", "bn": "gamma, beta, moving mean and moving variance", "span": "kernel and bias"}

GENERATOR_REFUSAL = "your kernel generator must be built from the layers listed in exercise 1, not from involution_course.layers.Involution"
MULTIPLY_ADD_REFUSAL = "your multiply-add must compute the sum itself, not use involution_course.layers.Involution"
OWN_LAYER = "your layer must compute involution itself, not use involution_course.layers.Involution"

# The course's reference layer and its helpers (involution_course.layers, .fused): an answer that
# names one of them delegates. tests/test_delegation_03.py checks that the list covers the package.
REFERENCE_NAMES = frozenset({
    "Involution", "ReferenceRefused", "refusing_reference", "bottleneck", "fused_multiply_add",
    "pallas_kernels", "triton_kernels",
    # Involution's own helpers
    "_reduced", "_kernel_planes", "_pointwise", "_grouped", "_tap_planes", "_multiply_add", "_padded_groups",
    "_window", "_xla_multiply_add", "_rows_multiply_add", "_patches_multiply_add", "_widened_multiply_add",
    # the module's helpers
    "_positive_int", "_output_size", "_formulation", "_patch_bytes", "_rows_rebuilt_in_backward", "_patches",
    "_tensorflow_uses_onednn", "_one_hot_shifts", "_widen", "_REFUSED_HELPERS",
})
REFERENCE_MODULES = frozenset({"involution_course.fused", "involution_instructor"})
REGISTERED_NAME = "involution_course>Involution"


# ------------------------------------------------------------------ in the kernel


@kernel
def _refusing(message):
    """The course's refusal of its reference layer, while the student's code runs."""
    from involution_course.layers import refusing_reference

    return refusing_reference(message)


@kernel
def _set_weights(sublayer, pools):
    """Give ``sublayer`` the grader's weights, the first numbers of each pool shaped as its own
    weights, where their count and sizes fit; the shapes of its weights either way."""
    import numpy as np

    own = sublayer.get_weights()
    shapes = [tuple(int(n) for n in w.shape) for w in own]
    if len(own) == len(pools) and all(w.size <= len(pool) for w, pool in zip(own, pools)):
        sublayer.set_weights([np.asarray(pool[: w.size], dtype=w.dtype).reshape(w.shape) for w, pool in zip(own, pools)])
    return shapes


@kernel
def _borrowed_methods(cls):
    """Methods of ``cls`` (or of a class it inherits, Keras' own aside) defined in the course package."""
    borrowed = []
    for owner in cls.__mro__:
        if owner.__module__.startswith(("keras", "builtins")):
            continue
        for name, value in vars(owner).items():
            if isinstance(value, type):
                continue
            function = getattr(value, "__func__", getattr(value, "fget", value))
            if callable(function) and (getattr(function, "__module__", None) or "").startswith("involution_course"):
                borrowed.append(f"{owner.__qualname__}.{name}")
    return borrowed


@kernel
def _describe_generator(build, case):
    import keras
    import numpy as np
    from keras import ops

    model = build(case["channels"], case["kernel_size"], case["stride"], case["groups"], case["ratio"])
    return {
        "type": type(model).__name__,
        "sequential": isinstance(model, keras.Sequential),
        "names": [str(sub.name) for sub in model.layers],
        "reduce": int(model.get_layer("reduce").kernel.shape[-1]),
        "span": int(model.get_layer("span").kernel.shape[-1]),
        "output": np.asarray(ops.convert_to_numpy(model(case["x"]))),
    }


@kernel
def observe_generator_structure(student, data):
    build = student["build_kernel_generator"]
    with _refusing(data["refusal"]):
        return [outcome(_describe_generator, build, case) for case in data["cases"]]


@kernel
def _generator_values(build, case):
    import numpy as np
    from keras import ops

    model = build(case["channels"], case["kernel_size"], case["stride"], case["groups"], case["ratio"])
    shapes = [_set_weights(model.get_layer(name), case["weights"][name]) for name in ("reduce", "bn", "span")]
    return {"shapes": shapes, "output": np.asarray(ops.convert_to_numpy(model(case["x"])))}


@kernel
def observe_generator_values(student, data):
    build = student["build_kernel_generator"]
    with _refusing(data["refusal"]):
        return [outcome(_generator_values, build, case) for case in data["cases"]]


@kernel
def _multiply_add_once(function, case):
    import numpy as np
    import tensorflow as tf
    from keras import ops

    x, taps, stride = case["x"], case["kernel"], case["stride"]

    def call(x_, k_):
        return function(x_, k_, stride=stride)

    if case["any_resolution"]:  # traced with unknown batch, height and width: the shapes exist only at call time
        call = tf.function(call, input_signature=[tf.TensorSpec((None, None, None, x.shape[-1])),
                                                  tf.TensorSpec((None, None, None, *taps.shape[3:]))])
    return np.asarray(ops.convert_to_numpy(call(ops.convert_to_tensor(x), ops.convert_to_tensor(taps))))


@kernel
def observe_multiply_add(student, data):
    function = student["involution_multiply_add"]
    with _refusing(data["refusal"]):
        return [outcome(_multiply_add_once, function, case) for case in data["cases"]]


@kernel
def observe_layer_structure(student, data):
    import keras
    import numpy as np
    from keras import ops

    layer_class = student["InvolutionLayer"]
    seen = {"borrowed": outcome(_borrowed_methods, layer_class)}

    def symbolic(case):
        return tuple(layer_class(*case["config"])(keras.Input(batch_shape=tuple(case["batch_shape"]))).shape)

    def configuration(case):
        config = layer_class(*case["config"], name=case["name"]).get_config()
        rebuilt = layer_class.from_config(config)
        return {"config": {key: config.get(key) for key in ("kernel_size", "stride", "groups", "reduction_ratio")},
                "rebuilt": [rebuilt.kernel_size, rebuilt.stride, rebuilt.groups, rebuilt.reduction_ratio, str(rebuilt.name)]}

    def resolutions(case):
        inputs = keras.Input((None, None, case["channels"]))
        model = keras.Model(inputs, layer_class(*case["config"])(inputs))
        return [np.asarray(ops.convert_to_numpy(model(x))) for x in case["inputs"]]

    def output_shapes(case):
        layer = layer_class(*case["config"])
        return [[None if v is None else int(v) for v in layer.compute_output_shape(tuple(shape))] for shape in case["shapes"]]

    def reload(case):
        import tempfile
        from pathlib import Path

        inputs = keras.Input((None, None, case["channels"]))
        model = keras.Model(inputs, layer_class(*case["config"])(inputs))
        path = Path(tempfile.mkdtemp()) / "layer.keras"
        model.save(path)  # before any call: the sublayers' weights exist only if build built them
        again = keras.models.load_model(path, custom_objects={layer_class.__name__: layer_class})
        return {"before": np.asarray(ops.convert_to_numpy(model(case["x"]))), "after": np.asarray(ops.convert_to_numpy(again(case["x"])))}

    with _refusing(data["refusal"]):
        seen["output_shapes"] = outcome(output_shapes, data["output_shapes"])
        seen["reload"] = outcome(reload, data["reload"])
        seen["symbolic"] = [outcome(symbolic, case) for case in data["symbolic"]]
        seen["config"] = [outcome(configuration, case) for case in data["config"]]
        error = data["error"]
        seen["error"] = outcome(lambda: layer_class(groups=error["groups"])(error["x"]))
        seen["resolutions"] = outcome(resolutions, data["resolutions"])
    return seen


@kernel
def _layer_values(layer_class, case):
    import numpy as np
    from keras import ops

    layer = layer_class(*case["config"])
    x = case["x"]
    layer(x)  # builds the layer and its sublayers
    shapes = [_set_weights(getattr(layer, name), case["weights"][name]) for name in ("reduce", "bn", "span")]
    return {"shapes": shapes, "kernel": np.asarray(ops.convert_to_numpy(layer.generate_kernel(x))),
            "output": np.asarray(ops.convert_to_numpy(layer(x)))}


@kernel
def _training_call(layer_class, case):
    """bn's moving mean and variance before and after a call with training=True."""
    import numpy as np
    from keras import ops

    layer = layer_class(*case["config"])
    x = case["x"]
    layer(x)
    for name in ("reduce", "bn", "span"):
        _set_weights(getattr(layer, name), case["weights"][name])

    def moving():
        return [np.asarray(ops.convert_to_numpy(w)).tolist() for w in (layer.bn.moving_mean, layer.bn.moving_variance)]

    before = moving()
    layer(x, training=True)
    return {"before": before, "after": moving()}


@kernel
def observe_layer_values(student, data):
    layer_class = student["InvolutionLayer"]
    seen = {"borrowed": outcome(_borrowed_methods, layer_class)}
    with _refusing(data["refusal"]):
        seen["cases"] = [outcome(_layer_values, layer_class, case) for case in data["cases"]]
        if "training" in data:
            seen["training"] = outcome(_training_call, layer_class, data["training"])
    return seen


@kernel
def _saved_model(case):
    """A model of the course's Involution (its weights the grader's) and a layer that nothing registers."""
    import keras
    from keras import layers

    from involution_course.layers import Involution

    class Scale(layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    involution = Involution(*case["config"])
    if case["sequential"]:
        model = keras.Sequential([keras.Input((None, None, case["x"].shape[-1])), involution, Scale(case["factor"]), layers.ReLU()])
    else:
        inputs = keras.Input((None, None, case["x"].shape[-1]))
        model = keras.Model(inputs, Scale(case["factor"])(involution(inputs)))
    model(case["x"])
    for name in ("reduce", "bn", "span"):
        _set_weights(getattr(involution, name), case["weights"][name])
    return model, Scale


@kernel
def observe_reload(student, data):
    import tempfile
    from pathlib import Path

    import numpy as np
    from keras import ops

    save_and_reload = student["save_and_reload"]
    folder = Path(tempfile.mkdtemp())
    seen = []
    for case in data["cases"]:
        model, scale = _saved_model(case)
        x = case["x"]
        path = folder / case["file"]
        custom = (scale,) if case["tuple"] else [scale]
        entry = {"before": np.asarray(ops.convert_to_numpy(model(x)))}
        box = []
        entry["reloaded"] = outcome(lambda: box.append(save_and_reload(model, str(path) if case["as_string"] else path, custom_layers=custom)))
        if box:
            reloaded = box[0]
            entry["same_object"] = reloaded is model
            entry["file_exists"] = path.exists()
            entry["after"] = outcome(lambda: np.asarray(ops.convert_to_numpy(reloaded(x))))
            entry["factors"] = outcome(lambda: [float(layer.factor) for layer in reloaded.layers if type(layer).__name__ == "Scale"])
        seen.append(entry)
    return seen


@kernel
def observe_file_name(student, data):
    import tempfile
    from pathlib import Path

    import keras
    import numpy as np
    from keras import layers, ops

    save_and_reload = student["save_and_reload"]
    folder = Path(tempfile.mkdtemp())
    dense = layers.Dense(data["bias"].shape[0])
    model = keras.Sequential([keras.Input((data["x"].shape[-1],)), dense])
    dense.set_weights([data["kernel"], data["bias"]])
    refused = [outcome(save_and_reload, model, str(folder / name) if as_string else folder / name) for name, as_string in data["names"]]
    box = []
    saved = outcome(lambda: box.append(save_and_reload(model, folder / data["good"])))
    good = outcome(lambda: np.asarray(ops.convert_to_numpy(box[0](data["x"])))) if box else saved
    return {"refused": refused, "good": good}


# ------------------------------------------------------------------ the definitions, in NumPy


def _fixture_values(shape, offset=0.0):
    """As notebook 03's ``fixture_values``: deterministic values in [-1, 1]."""
    return np.sin(0.7 * np.arange(int(np.prod(shape))) + offset).reshape(shape).astype("float32")


def _block_pool(x, stride):
    """The mean of the pixels inside the image of each stride x stride block starting at (i*s, j*s)."""
    batch, height, width, channels = x.shape
    rows, cols = -(-height // stride), -(-width // stride)
    pooled = np.zeros((batch, rows, cols, channels))
    for i in range(rows):
        for j in range(cols):
            pooled[:, i, j] = x[:, i * stride : (i + 1) * stride, j * stride : (j + 1) * stride].mean(axis=(1, 2))
    return pooled


def _matrix(weight):
    """A 1x1 convolution's or a dense layer's kernel as an (inputs, outputs) matrix."""
    return weight.reshape(-1, weight.shape[-1])


def _planes(x, weights, stride):
    """span(ReLU(BN(reduce(pool(x))))), in float64: (B, H_out, W_out, span's width)."""
    (reduce_kernel, reduce_bias), (gamma, beta, mean, variance), (span_kernel, span_bias) = (weights[name] for name in SUBLAYERS)
    z = _block_pool(np.asarray(x, dtype="float64"), stride) @ _matrix(reduce_kernel) + reduce_bias
    z = gamma * (z - mean) / np.sqrt(variance + BN_EPSILON) + beta
    return np.maximum(z, 0) @ _matrix(span_kernel) + span_bias


def _definition(x, kernel, stride):
    """out[b, i, j, c] = sum over ki, kj of x_pad[b, i*s + ki, j*s + kj, c] * kernel[b, i, j, g(c), ki, kj], in float64."""
    batch, _, _, channels = x.shape
    _, rows, cols, groups, size, _ = kernel.shape
    half = (size - 1) // 2
    padded = np.pad(np.asarray(x, dtype="float64"), ((0, 0), (half, half), (half, half), (0, 0)))
    group_of = np.arange(channels) // (channels // groups)
    out = np.zeros((batch, rows, cols, channels))
    for i in range(rows):
        for j in range(cols):
            window = padded[:, i * stride : i * stride + size, j * stride : j * stride + size]
            out[:, i, j] = np.einsum("bklc,bckl->bc", window, np.asarray(kernel[:, i, j], dtype="float64")[:, group_of])
    return out


def _layer(x, weights, kernel_size, stride, groups):
    """The kernel (B, H_out, W_out, G, K, K) and the output of involution, by the definition."""
    planes = _planes(x, weights, stride)
    batch, rows, cols, width = planes.shape
    if width != kernel_size * kernel_size * groups:
        raise AssertionError(f"span puts out {width} planes, where K * K * G = {kernel_size * kernel_size * groups}")
    kernel = planes.reshape(batch, rows, cols, groups, kernel_size, kernel_size)
    return kernel, _definition(x, kernel, stride)


# ------------------------------------------------------------------ drawing inputs and weights


def _pools(rng, channels, planes, scale=0.5):
    """Weights for reduce, bn and span, as flat pools large enough for any reduce width up to ``channels``."""
    normal = lambda size: rng.normal(scale=scale, size=size).astype("float32")  # noqa: E731
    return {
        "reduce": [normal(channels * channels), normal(channels)],
        "bn": [normal(channels), normal(channels), normal(channels), np.abs(normal(channels)) + np.float32(0.5)],
        "span": [normal(channels * planes), normal(planes)],
    }


def _fixture_pools(channels, kernel_size, groups, ratio):
    """The weights notebook 03's ``set_fixture_weights`` gives reduce (k=0), bn (k=1) and span (k=2)."""
    reduced = max(1, channels // ratio)
    planes = kernel_size * kernel_size * groups
    shapes = {"reduce": [(1, 1, channels, reduced), (reduced,)], "bn": [(reduced,)] * 4, "span": [(1, 1, reduced, planes), (planes,)]}
    pools = {name: [_fixture_values(shape, offset=k + i / 4).ravel() for i, shape in enumerate(shapes[name])]
             for k, name in enumerate(SUBLAYERS)}
    pools["bn"][3] = np.abs(pools["bn"][3]) + np.float32(0.5)
    return pools


def _normal(rng, shape):
    return rng.normal(size=shape).astype("float32")


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


# ------------------------------------------------------------------ judging helpers


def _each(cases, seen, what):
    """The observed results, one per case, or an AssertionError when some are missing."""
    if not isinstance(seen, list) or len(seen) != len(cases):
        raise AssertionError(f"{what}: the grader asked for {len(cases)} results and got back another number")
    return zip(cases, seen)


def _record(found, keys, what):
    if not isinstance(found, dict) or not set(keys) <= set(found):
        raise AssertionError(f"{what}: no result was observed")
    return found


def _weights(pools, shapes, what):
    """The grader's weights, shaped as the student's sublayers hold them; an AssertionError where they cannot be."""
    if not isinstance(shapes, list) or len(shapes) != len(SUBLAYERS):
        raise AssertionError(f"{what}: the weights of reduce, bn and span could not be read")
    weights = {}
    for name, found in zip(SUBLAYERS, shapes):
        if not isinstance(found, list) or len(found) != WEIGHT_COUNTS[name]:
            count = len(found) if isinstance(found, list) else "no"
            raise AssertionError(f"{what}: {name} should have {WEIGHT_COUNTS[name]} weights ({WEIGHT_NAMES[name]}), has {count}")
        weights[name] = []
        for shape, pool in zip(found, pools[name]):
            shape = tuple(int(n) for n in shape)
            size = int(np.prod(shape))
            if size > len(pool) or not shape:
                raise AssertionError(f"{what}: {name} has a weight of shape {shape}, larger than this input allows")
            weights[name].append(np.asarray(pool[:size], dtype="float64").reshape(shape))
    return weights


def _judge_borrowed(borrowed):
    found = expect.value(borrowed, "InvolutionLayer's methods")
    if not isinstance(found, list) or not all(isinstance(name, str) for name in found):
        raise AssertionError("InvolutionLayer's methods could not be read")
    if found:
        raise AssertionError(f"{OWN_LAYER}; InvolutionLayer uses: {', '.join(found)}")


# ------------------------------------------------------------------ delegation, from the source


def _top_level(source: StudentSource):
    """(cell, statement) for every top-level statement of the student's cells."""
    return [(cell, statement) for cell, text in source.cells.items() for statement in parse(text).body]


def _defines(statement) -> set[str]:
    """The names a top-level statement binds (not the locals of the functions it defines)."""
    names, pending = set(), [statement]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
        pending.extend(ast.iter_child_nodes(node))
    return names


def _mentions(statement) -> set[str]:
    return {node.id for node in ast.walk(statement) if isinstance(node, ast.Name)}


DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def _answer_statements(source: StudentSource, cell: str) -> list:
    """The answer cell ``cell``, what it reaches by name in the student's other cells (functions,
    classes, imports, assignments: exercise 3's layer reaches exercise 2's multiply-add), and the
    statements elsewhere that define again or change what the answer defines (``InvolutionLayer.call = ...``)."""
    statements = _top_level(source)
    included = [statement for name, statement in statements if name == cell]
    answer = set().union(*(_defines(s) for s in included)) if included else set()
    reached = set().union(*(_mentions(s) for s in included)) if included else set()
    chosen = {id(s) for s in included}
    changed = True
    while changed:
        changed = False
        for _, statement in statements:
            if id(statement) in chosen:
                continue
            defines = _defines(statement)
            if defines & (reached | answer) or (not isinstance(statement, DEFINITIONS) and _mentions(statement) & answer):
                included.append(statement)
                chosen.add(id(statement))
                reached |= _mentions(statement)
                changed = True
    return included


def delegation(source: StudentSource, cell: str) -> list[str]:
    """Where the answer in ``cell`` (and what it reaches) names the course's reference layer or its helpers."""
    statements = _answer_statements(source, cell)
    own = set(source.functions())
    names = REFERENCE_NAMES - own
    text = "\n\n".join(ast.unparse(statement) for statement in statements)
    found = set(StudentSource({cell: text}).uses(set(names), set(REFERENCE_MODULES)))
    for statement in statements:
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and node.id in names:
                found.add(node.id)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("involution_course"):
                found.update(f"{node.module}.{a.name}" for a in node.names if a.name in REFERENCE_NAMES)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and (node.value == "Involution" or REGISTERED_NAME in node.value):
                found.add(repr(node.value))
    return sorted(found)


def _judge_delegation(ctx, cell: str, refusal: str) -> None:
    found = delegation(ctx.source, cell)
    if found:
        raise AssertionError(f"{refusal} (your answer uses {', '.join(found)})")


# ------------------------------------------------------------------ exercise 1: the kernel generator


def _generator_name(case):
    return f"build_kernel_generator({case['channels']}, {case['kernel_size']}, {case['stride']}, {case['groups']}, {case['ratio']})"


def _generator_case(rng, channels, kernel_size, stride, groups, ratio, shape=None):
    if shape is None:
        shape = (int(rng.integers(1, 3)), int(rng.integers(3, 14)), int(rng.integers(3, 14)), channels)
    return dict(channels=channels, kernel_size=kernel_size, stride=stride, groups=groups, ratio=ratio,
                shape=tuple(shape), x=_normal(rng, shape))


def inputs_generator_structure(rng):
    few = int(rng.integers(2, 8))  # fewer channels than the ratio: reduce keeps one
    cases = [
        _generator_case(rng, 8, 3, 1, 1, 2),  # the visible tests' cases
        _generator_case(rng, 3, 3, 1, 1, 8),
        _generator_case(rng, 8, 5, 1, 2, 2),
        _generator_case(rng, 8, 3, 3, 1, 2, (1, 4, 5, 8)),
        _generator_case(rng, 6, 3, 2, 3, 4),
        _generator_case(rng, 16, 7, 2, 4, 4),
        _generator_case(rng, 5, 5, 2, 1, 1, (1, int(rng.integers(11, 20)), int(rng.integers(11, 20)), 5)),  # another resolution
        _generator_case(rng, few, _pick(rng, [1, 3, 5]), _pick(rng, [1, 2, 3]), _pick(rng, [1, 2, 3]), few + int(rng.integers(1, 5))),
    ]
    return {"refusal": GENERATOR_REFUSAL, "cases": cases}


def judge_generator_structure(ctx):
    _judge_delegation(ctx, "ex1_kernel_generator", GENERATOR_REFUSAL)
    for case, seen in _each(ctx.data["cases"], ctx.seen, "build_kernel_generator"):
        name = _generator_name(case)
        found = _record(expect.value(seen, name), ("type", "sequential", "names", "reduce", "span", "output"), name)
        if found["sequential"] is not True:
            raise AssertionError(f"{name}: expected a keras.Sequential, got {found['type']}")
        c, k, s, g, r = case["channels"], case["kernel_size"], case["stride"], case["groups"], case["ratio"]
        reduced = max(1, c // r)
        if found["reduce"] != reduced:
            hint = " (0 would generate nothing)" if c < r else ""
            raise AssertionError(f"{name}: reduce should put out max(1, {c} // {r}) = {reduced} channels{hint}, puts out {found['reduce']}")
        if found["span"] != k * k * g:
            raise AssertionError(f"{name}: span should put out K * K * groups = {k} * {k} * {g} = {k * k * g} planes, puts out {found['span']}")
        names = found["names"] if isinstance(found["names"], list) else []
        if s == 1 and "pool" in names:
            raise AssertionError(f"{name}: at stride 1 there is no pooling layer; got the layers {names}")
        if s > 1 and not {"pool", "reduce", "bn", "span"} <= set(names):
            raise AssertionError(f"{name}: at stride {s} the layers should be pool, reduce, bn, relu, span; got {names}")
        batch, height, width, _ = case["shape"]
        expect.shape(found["output"], (batch, -(-height // s), -(-width // s), k * k * g), f"{name} on x of shape {case['shape']}")


def inputs_generator_values(rng):
    fixture = dict(channels=2, kernel_size=3, stride=3, groups=1, ratio=1, shape=(1, 4, 5, 2),
                   x=_fixture_values((1, 4, 5, 2)), weights=_fixture_pools(2, 3, 1, 1))
    cases = [fixture]
    for channels, size, stride, groups, ratio, shape in [
        (4, 3, 1, 1, 2, (2, 6, 6, 4)),
        (8, 5, 2, 4, 4, (1, 9, 7, 8)),  # odd sizes at stride 2, groups > 1
        (6, 7, 1, 3, 3, (2, 5, 11, 6)),
        (3, 3, 1, 1, 2, (1, 13, 17, 3)),  # another resolution
        (4, 3, 3, 2, 2, (2, 10, 11, 4)),  # stride 3: blocks start at 0, 3, 6, 9
        (2, 3, 3, 1, 1, (1, 4, 5, 2)),  # stride 3 where centred padding would differ
    ]:
        case = _generator_case(rng, channels, size, stride, groups, ratio, shape)
        case["weights"] = _pools(rng, channels, size * size * groups)
        cases.append(case)
    return {"refusal": GENERATOR_REFUSAL, "cases": cases}


def judge_generator_values(ctx):
    _judge_delegation(ctx, "ex1_kernel_generator", GENERATOR_REFUSAL)
    for case, seen in _each(ctx.data["cases"], ctx.seen, "build_kernel_generator"):
        name = f"{_generator_name(case)} on x of shape {case['shape']}"
        found = _record(expect.value(seen, name), ("shapes", "output"), name)
        weights = _weights(case["weights"], found["shapes"], name)
        try:
            expected = _planes(case["x"], weights, case["stride"])
        except ValueError:
            raise AssertionError(f"{name}: the weights of reduce, bn and span, of shapes {found['shapes']}, do not fit together") from None
        expect.close(found["output"], expected, name, **TOLERANCE)


# ------------------------------------------------------------------ exercise 2: the multiply-add


def _multiply_add_case(rng, shape, groups, size, stride, any_resolution=False, kernel=None):
    batch, height, width, _ = shape
    if kernel is None:
        kernel = _normal(rng, (batch, -(-height // stride), -(-width // stride), groups, size, size))
    return dict(x=_normal(rng, shape), kernel=kernel, stride=stride, any_resolution=any_resolution)


def _one_tap(rng, shape, groups, size, tap):
    """A kernel that is nonzero at one tap only, with a value per position and group."""
    kernel = np.zeros((*shape, groups, size, size), "float32")
    kernel[..., tap[0], tap[1]] = rng.uniform(0.5, 2.0, size=(*shape, groups)) * rng.choice([-1, 1], size=(*shape, groups))
    return kernel


def inputs_multiply_add_taps(rng):
    taps = [(ki, kj) for ki in range(3) for kj in range(3) if (ki, kj) != (1, 1)]
    tap = _pick(rng, taps)
    cases = [
        _multiply_add_case(rng, (2, 7, 6, 3), 1, 3, 1, kernel=_one_tap(rng, (2, 7, 6), 1, 3, tap)),  # one tap: x shifted
        _multiply_add_case(rng, (2, 6, 7, 3), 1, 3, 1),
        _multiply_add_case(rng, (1, 6, 10, 3), 1, 5, 1, any_resolution=True),
    ]
    return {"refusal": MULTIPLY_ADD_REFUSAL, "cases": cases}


def inputs_multiply_add_stride_groups(rng):
    grouped = _one_tap(rng, (1, 5, 5), 2, 3, (1, 1))  # channels 0, 1 take group 0's centre, 2, 3 group 1's
    cases = [
        _multiply_add_case(rng, (2, 7, 6, 3), 1, 3, 2, kernel=_one_tap(rng, (2, 4, 3), 1, 3, (1, 1))),  # every second pixel
        _multiply_add_case(rng, (1, 5, 5, 4), 2, 3, 1, kernel=grouped),
        dict(x=_fixture_values((1, 5, 4, 4)), kernel=_fixture_values((1, 3, 2, 2, 3, 3), offset=1.0), stride=2, any_resolution=False),
        _multiply_add_case(rng, (2, 8, 8, 4), 2, 3, 2),
        _multiply_add_case(rng, (1, 9, 7, 8), 4, 5, 2),  # odd sizes at stride 2
        _multiply_add_case(rng, (2, 7, 5, 6), 3, 7, 1),
        _multiply_add_case(rng, (2, 10, 11, 6), 6, 3, 3),  # stride 3, one channel per group
        _multiply_add_case(rng, (2, 8, 6, 4), 2, 3, 2),  # even sizes at stride 2
        _multiply_add_case(rng, (2, 11, 9, 4), 2, 3, 2, any_resolution=True),
    ]
    return {"refusal": MULTIPLY_ADD_REFUSAL, "cases": cases}


def judge_multiply_add(ctx):
    _judge_delegation(ctx, "ex2_multiply_add", MULTIPLY_ADD_REFUSAL)
    for case, seen in _each(ctx.data["cases"], ctx.seen, "involution_multiply_add"):
        traced = " traced with unknown batch, height and width" if case["any_resolution"] else ""
        name = f"involution_multiply_add(x {case['x'].shape}, kernel {case['kernel'].shape}, stride={case['stride']}){traced}"
        expect.close(expect.value(seen, name), _definition(case["x"], case["kernel"], case["stride"]), name, **TOLERANCE)


# ------------------------------------------------------------------ exercise 3: the layer


def _layer_name(config):
    return f"InvolutionLayer({', '.join(str(v) for v in config)})"


def inputs_layer_structure(rng):
    groups = _pick(rng, [1, 2, 4])
    channels = groups * int(rng.integers(1, 4))
    # One of the Keras example's three shape checks (the visible tests run all three) and one of the grader's.
    example_stride, example_ratio = _pick(rng, [(1, 1), (2, 1), (1, 2)])
    symbolic = [dict(config=(5, example_stride, 1, example_ratio), batch_shape=(32, 256, 256, 3)),
                dict(config=(3, _pick(rng, [1, 2, 3]), groups, _pick(rng, [1, 2, 4])),
                     batch_shape=(int(rng.integers(1, 9)), int(rng.integers(16, 97)), int(rng.integers(16, 97)), channels))]
    configs = [dict(config=(5, 2, 3, 4), name=f"involution_{int(rng.integers(100, 1000))}"),
               dict(config=(_pick(rng, [5, 7, 9]), _pick(rng, [2, 3, 4]), _pick(rng, [2, 3, 4]), _pick(rng, [3, 4, 8])),
                    name=f"kept_{int(rng.integers(100, 1000))}")]
    error_channels, error_groups = _pick(rng, [(3, 2), (5, 2), (5, 3), (7, 2), (7, 3), (9, 2)])
    stride, resolution_channels = _pick(rng, [2, 3]), _pick(rng, [2, 3, 4])
    sizes = [(int(rng.integers(17, 65)), int(rng.integers(17, 65))) for _ in range(2)]
    shape_stride, shape_channels = _pick(rng, [2, 3]), _pick(rng, [2, 4, 6])
    height, width = int(rng.integers(5, 40)), int(rng.integers(5, 40))
    reload_channels = _pick(rng, [2, 4])
    return {
        "refusal": OWN_LAYER,
        "symbolic": symbolic,
        "output_shapes": dict(config=(3, shape_stride, 1, 2), shapes=[(None, None, None, shape_channels),
                                                                     (int(rng.integers(1, 9)), height, width, shape_channels)]),
        "reload": dict(config=(3, 2, 2, 2), channels=reload_channels, x=_normal(rng, (2, int(rng.integers(5, 14)), int(rng.integers(5, 14)), reload_channels))),
        "config": configs,
        "error": dict(channels=error_channels, groups=error_groups, x=np.zeros((1, 4, 4, error_channels), "float32")),
        "resolutions": dict(config=(3, stride), channels=resolution_channels,
                            inputs=[_normal(rng, (1, h, w, resolution_channels)) for h, w in sizes]),
    }


def judge_layer_structure(ctx):
    _judge_delegation(ctx, "ex3_layer", OWN_LAYER)
    seen, data = ctx.seen, ctx.data
    _judge_borrowed(seen["borrowed"])
    for case, found in _each(data["symbolic"], seen["symbolic"], "the symbolic shapes"):
        k, s, g, r = case["config"]
        batch, height, width, channels = case["batch_shape"]
        what = (f"InvolutionLayer(kernel_size={k}, stride={s}, groups={g}, reduction_ratio={r}) on a symbolic "
                f"{tuple(case['batch_shape'])} input")
        shape = expect.value(found, what)
        expected = (batch, -(-height // s), -(-width // s), channels)
        if not isinstance(shape, (list, tuple)) or [None if v is None else v for v in shape] != list(expected):
            raise AssertionError(f"{what} should give an output of shape {expected}; got {shape}")
    for case, found in _each(data["config"], seen["config"], "the configurations"):
        k, s, g, r = case["config"]
        what = f"{_layer_name(case['config'])[:-1]}, name={case['name']!r})"
        found = _record(expect.value(found, f"{what}.get_config() and from_config"), ("config", "rebuilt"), what)
        for key, value in dict(kernel_size=k, stride=s, groups=g, reduction_ratio=r).items():
            got = found["config"].get(key) if isinstance(found["config"], dict) else None
            if type(got) is not int or got != value:
                raise AssertionError(f"{what}: get_config()[{key!r}] should be {value}, got {got!r}: a reloaded layer would differ")
        if found["rebuilt"] != [k, s, g, r, case["name"]]:
            raise AssertionError(f"{what}: from_config(get_config()) should give back every hyper-parameter and the layer's name; "
                                 f"got (kernel_size, stride, groups, reduction_ratio, name) = {tuple(found['rebuilt'])}")
    error = data["error"]
    what = f"InvolutionLayer(groups={error['groups']}) on {error['channels']} channels"
    expect.raised(seen["error"], "ValueError", what)
    message = str(seen["error"].get("message", ""))
    if str(error["channels"]) not in message or str(error["groups"]) not in message:
        raise AssertionError(f"the ValueError should name {error['channels']} channels and {error['groups']} groups: {message}"[:600])
    case = data["output_shapes"]
    stride = case["config"][1]
    what = f"{_layer_name(case['config'])}.compute_output_shape"
    shapes = expect.value(seen["output_shapes"], what)
    for shape, found in _each(case["shapes"], shapes, what):
        expected = [shape[0], *(None if v is None else -(-v // stride) for v in shape[1:3]), shape[3]]
        if found != expected:
            raise AssertionError(f"{what}({tuple(shape)}) should be {tuple(expected)}, None where a size is unknown; got {found}")
    case = data["reload"]
    what = f"a model of {_layer_name(case['config'])} on keras.Input((None, None, {case['channels']})), saved and reloaded"
    found = _record(expect.value(seen["reload"], what), ("before", "after"), what)
    expect.close(found["after"], found["before"], f"the output of {what} (build should build reduce, bn and span)", atol=1e-5, rtol=1e-5)
    case = data["resolutions"]
    what = f"a model of {_layer_name(case['config'])} on keras.Input((None, None, {case['channels']}))"
    outputs = expect.value(seen["resolutions"], what)
    if not isinstance(outputs, list) or len(outputs) != len(case["inputs"]):
        raise AssertionError(f"{what}: no result was observed")
    stride = case["config"][1]
    for x, output in zip(case["inputs"], outputs):
        _, height, width, channels = x.shape
        expect.shape(output, (1, -(-height // stride), -(-width // stride), channels), f"{what} called on a {height} x {width} input")


def _layer_case(rng, kernel_size, stride, groups, ratio, shape, active=False):
    """``active``: batch norm's offsets positive, so that the ReLU passes most pooled pixels on and a
    pooling that differs (centred instead of block by block) always shows in the kernel."""
    weights = _pools(rng, shape[-1], kernel_size * kernel_size * groups)
    if active:
        weights["bn"][1] = np.abs(weights["bn"][1]) + np.float32(1.5)
    return dict(config=(kernel_size, stride, groups, ratio), x=_normal(rng, shape), weights=weights)


def _fixture_layer_case(stride, groups):
    return dict(config=(3, stride, groups, 1), x=_fixture_values((1, 3, 4, 2), offset=2.0), weights=_fixture_pools(2, 3, groups, 1))


def inputs_layer_stride_one(rng):
    cases = [_fixture_layer_case(1, 1)] + [_layer_case(rng, *case) for case in [
        (3, 1, 1, 2, (2, 8, 8, 4)),
        (5, 1, 1, 4, (1, 6, 10, 8)),
        (3, 1, 1, 8, (2, 7, 5, 3)),  # reduce keeps max(1, 3 // 8) = 1 channel
    ]]
    return {"refusal": OWN_LAYER, "cases": cases, "training": _layer_case(rng, 3, 1, 1, 1, (4, 6, 6, 4), active=True)}


def inputs_layer_stride_groups(rng):
    cases = [_fixture_layer_case(2, 2)] + [_layer_case(rng, *case) for case in [
        (3, 2, 2, 2, (2, 9, 7, 4)),  # odd sizes at stride 2, groups > 1
        (5, 1, 4, 4, (1, 6, 10, 8)),
        (3, 2, 3, 1, (1, 8, 6, 6)),  # even sizes at stride 2, three groups
        (3, 3, 3, 1, (2, 10, 11, 3)),  # stride 3: blocks start at 0, 3, 6, 9
        (3, 3, 1, 2, (1, 4, 5, 2)),  # stride 3 where centred pooling would differ
        (3, 3, 1, 1, (2, 7, 10, 2), True),  # the same, with the ReLU open: centred pooling always shows
    ]]
    return {"refusal": OWN_LAYER, "cases": cases}


def judge_layer_values(ctx):
    _judge_delegation(ctx, "ex3_layer", OWN_LAYER)
    _judge_borrowed(ctx.seen["borrowed"])
    for case, seen in _each(ctx.data["cases"], ctx.seen["cases"], "InvolutionLayer"):
        kernel_size, stride, groups, _ = case["config"]
        name = f"{_layer_name(case['config'])} on x of shape {case['x'].shape}"
        found = _record(expect.value(seen, name), ("shapes", "kernel", "output"), name)
        weights = _weights(case["weights"], found["shapes"], name)
        try:
            kernel, output = _layer(case["x"], weights, kernel_size, stride, groups)
        except ValueError:
            raise AssertionError(f"{name}: the weights of reduce, bn and span, of shapes {found['shapes']}, do not fit together") from None
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None
        expect.close(found["kernel"], kernel, f"the kernel of {name}", **TOLERANCE)
        expect.close(found["output"], output, name, **TOLERANCE)
    if "training" in ctx.data:
        what = f"{_layer_name(ctx.data['training']['config'])} called with training=True"
        found = _record(expect.value(ctx.seen.get("training"), what), ("before", "after"), what)
        for label, before, after in zip(("moving mean", "moving variance"), found["before"], found["after"]):
            if np.shape(before) != np.shape(after) or np.allclose(np.asarray(before, float), np.asarray(after, float), atol=1e-7, rtol=0):
                raise AssertionError(f"{what} should update bn's {label}: pass training on to generate_kernel and to self.bn")


# ------------------------------------------------------------------ exercise 4: saving and reloading


def _reference_weights(pools, channels, kernel_size, groups, ratio):
    """The grader's weights, shaped as the course's Involution holds them."""
    reduced, planes = max(1, channels // ratio), kernel_size * kernel_size * groups
    shapes = {"reduce": [(1, 1, channels, reduced), (reduced,)], "bn": [(reduced,)] * 4, "span": [(1, 1, reduced, planes), (planes,)]}
    return {name: [np.asarray(pool[: int(np.prod(shape))], dtype="float64").reshape(shape) for shape, pool in zip(shapes[name], pools[name])]
            for name in SUBLAYERS}


def inputs_reload(rng):
    cases = []
    for config, shape, sequential in [((3, 2, 2, 2), (2, 9, 7, 4), False), ((5, 1, 3, 1), (2, 9, 7, 3), True)]:
        stem = _pick(rng, ["model", "net", "saved", "involution"]) + str(int(rng.integers(10, 100)))
        cases.append(dict(config=config, x=_normal(rng, shape), sequential=sequential,
                          factor=float(np.round(rng.uniform(0.5, 3.0), 2)), weights=_pools(rng, shape[-1], config[0] ** 2 * config[2]),
                          file=f"{stem}.keras", as_string=sequential, tuple=sequential))
    return {"cases": cases}


def judge_reload(ctx):
    for case, entry in _each(ctx.data["cases"], ctx.seen, "save_and_reload"):
        kind = "Sequential model" if case["sequential"] else "model"
        path = f"'.../{case['file']}'" if case["as_string"] else f"Path('.../{case['file']}')"
        custom = "(Scale,)" if case["tuple"] else "[Scale]"
        what = f"save_and_reload({kind}, {path}, custom_layers={custom})"
        entry = _record(entry, ("before", "reloaded"), what)
        expect.value(entry["reloaded"], what)
        entry = _record(entry, ("same_object", "file_exists", "after", "factors"), what)
        if entry["same_object"] is not False:
            raise AssertionError(f"{what}: return the model loaded from the file, not the model you were given")
        if entry["file_exists"] is not True:
            raise AssertionError(f"{what}: save_and_reload should write the .keras file at path")
        after = expect.value(entry["after"], f"the model that {what} returned")
        factors = expect.value(entry["factors"], f"the custom layer of the model that {what} returned")
        if factors != [case["factor"]]:
            raise AssertionError(f"{what}: the reloaded custom layer lost its configuration (factor {case['factor']}, got {factors})")
        kernel_size, stride, groups, ratio = case["config"]
        x = case["x"]
        weights = _reference_weights(case["weights"], x.shape[-1], kernel_size, groups, ratio)
        expected = _layer(x, weights, kernel_size, stride, groups)[1] * case["factor"]
        if case["sequential"]:
            expected = np.maximum(expected, 0)
        expect.close(after, expected, f"the output of the model that {what} returned", **TOLERANCE)
        expect.close(after, entry["before"], f"the output of the model that {what} returned (it should equal the saved model's)", atol=0, rtol=0)


def inputs_file_name(rng):
    stem = _pick(rng, ["model", "net", "saved", "weights"]) + str(int(rng.integers(10, 100)))
    names = [("model.h5", False)] + [(name, as_string) for name in ["model", "model.keras.h5", "keras"] for as_string in (False, True)]
    for suffix in rng.choice([".h5", ".keras.bak", ".hdf5", ".weights.h5", "_keras", ".keras.zip"], size=2, replace=False):
        names.append((f"{stem}{suffix}", bool(rng.integers(2))))
    inputs, outputs = int(rng.integers(2, 6)), int(rng.integers(1, 4))
    return {"names": names, "good": f"{stem}.keras", "x": _normal(rng, (3, inputs)),
            "kernel": _normal(rng, (inputs, outputs)), "bias": _normal(rng, (outputs,))}


def judge_file_name(ctx):
    data, seen = ctx.data, _record(ctx.seen, ("refused", "good"), "save_and_reload")
    for (name, as_string), found in _each(data["names"], seen["refused"], "save_and_reload"):
        what = f"save_and_reload(model, {f'.../{name}'!r})" if as_string else f"save_and_reload(model, Path('.../{name}'))"
        expect.raised(found, "ValueError", what)
        if ".keras" not in str(found.get("message", "")):
            raise AssertionError(f"{what}: the ValueError should say that the file name must end with .keras: {found.get('message', '')}"[:600])
    what = f"save_and_reload(model, Path('.../{data['good']}'))"
    expected = data["x"].astype("float64") @ data["kernel"] + data["bias"]
    expect.close(expect.value(seen["good"], f"the model that {what} returned, on x"), expected,
                 f"the model that {what} returned, on x", **TOLERANCE)


OWN_GENERATOR_RULE = ("no use of the course's Involution layer or its parts (read from the source; the kernel's refusal adds)",
                      "code_rules.assert_not_named(build_kernel_generator")
OWN_MULTIPLY_ADD_RULE = ("no use of the course's Involution layer or its helpers (read from the source; the kernel's refusal adds)",
                         "code_rules.assert_not_named(involution_multiply_add")
OWN_LAYER_RULE = ("the layer neither subclasses, wraps, calls nor copies the course's Involution (read from the source; "
                  "the kernel's refusal and its list of borrowed methods add)", "code_rules.assert_not_named(InvolutionLayer")
TRACED = ("it works traced with unknown batch, height and width", "_traced(")

CHECKS = [
    Check("ex1_test_structure", observe_generator_structure, judge_generator_structure, inputs_generator_structure, rules=(
        ("build_kernel_generator returns a keras.Sequential", "isinstance(generator, keras.Sequential)"),
        ("reduce puts out max(1, C // r) channels", '_width(build_kernel_generator(3, reduction_ratio=8), "reduce")'),
        ("span puts out K * K * G planes", '_width(build_kernel_generator(8, 5, 1, 2), "span")'),
        ("no layer named pool at stride 1", '"pool" not in [sub.name for sub in generator.layers]'),
        ("layers named pool, reduce, bn and span at stride > 1", '{"pool", "reduce", "bn", "span"} <= '),
        ("its output has shape (B, ceil(H/s), ceil(W/s), K * K * G)", "build_kernel_generator(8, stride={stride_}) on x of shape"),
        OWN_GENERATOR_RULE)),
    Check("ex1_test_values", observe_generator_values, judge_generator_values, inputs_generator_values, rules=(
        ("its output is span(ReLU(BN(reduce(block pool(x))))) with the given weights, within 1e-4", "ex1_expected"),
        ("the ReLU follows bn: where every normalised value is negative, the planes are span's bias", "closed_weights_[1][:] = -10.0"),
        OWN_GENERATOR_RULE)),
    Check("ex2_test_taps", observe_multiply_add, judge_multiply_add, inputs_multiply_add_taps, rules=(
        ("one tap alone gives x shifted, at stride 1 with one group", "_one_tap((2, 7, 6), 1, 3, (0, 2))"),
        ("the definition's values with every tap, at stride 1 with one group", '"all taps"'),
        TRACED, OWN_MULTIPLY_ADD_RULE)),
    Check("ex2_test_stride_groups", observe_multiply_add, judge_multiply_add, inputs_multiply_add_stride_groups, rules=(
        ("at stride 2 the output is read at every second pixel", "x_[:, ::2, ::2]"),
        ("at stride 3 the output is read at every third pixel", "x_[:, ::3, ::3]"),
        ("groups are contiguous: channel c uses group c // (C / G)", "x4_ * np.array([1, 1, 2, 2]"),
        ("the definition's values with strides and groups, within 1e-4", "ex2_expected,"),
        TRACED, OWN_MULTIPLY_ADD_RULE)),
    Check("ex3_test_shapes", observe_layer_structure, judge_layer_structure, inputs_layer_structure, rules=(
        ("the output shape (B, ceil(H/s), ceil(W/s), C) on a symbolic input", "keras.Input(batch_shape=(32, 256, 256, 3))"),
        ("compute_output_shape gives (B, ceil(H/s), ceil(W/s), C), None where a size is unknown", ".compute_output_shape(shape_)"),
        ("get_config holds the four hyper-parameters", "get_config()[{key!r}] should be"),
        ("from_config gives them back with the layer's name", "InvolutionLayer.from_config(config)"),
        ("channels that groups does not divide raise a ValueError naming both numbers", "InvolutionLayer(groups=2)(np.zeros((1, 4, 4, 3)"),
        ("a model on keras.Input((None, None, C)) at stride 2 runs at two resolutions", "for rows_, cols_ in [(9, 7), (16, 21)]"),
        ("that model saves and reloads with the same outputs (build builds the sublayers)", "keras.models.load_model(stride_two_path_"),
        OWN_LAYER_RULE)),
    Check("ex3_test_stride_one", observe_layer_values, judge_layer_values, inputs_layer_stride_one, rules=(
        ("with the given weights, call (through generate_kernel) matches the definition at stride 1 with one group, within 1e-4",
         "ex3_stride_one_expected"),
        ("a call with training=True updates bn's moving mean and variance", "plain_layer(fixed_x, training=True)"),
        OWN_LAYER_RULE)),
    Check("ex3_test_stride_groups", observe_layer_values, judge_layer_values, inputs_layer_stride_groups, rules=(
        ("generate_kernel returns (B, H_out, W_out, G, K, K)", "fixed_layer.generate_kernel(fixed_x)"),
        ("with the given weights, call matches the definition with stride and groups, within 1e-4", "ex3_expected,"),
        ("at stride s the kernel of output row i comes from the block of rows s i to s i + s - 1", "x_changed_[:, 2] += 5.0"),
        OWN_LAYER_RULE)),
    Check("ex4_test_reload", observe_reload, judge_reload, inputs_reload, rules=(
        ("save_and_reload returns another model than it was given", "reloaded is not saved"),
        ("it writes the .keras file at path", '(save_folder / "model.keras").exists()'),
        ("the reloaded model's output equals the saved model's, for a Path and a list of custom layers",
         "save_and_reload(saved, save_folder / \"model.keras\", custom_layers=[_Scale])"),
        ("the same for a string path and a tuple of custom layers", "custom_layers=(_Scale,)"),
        ("the custom layer keeps its configuration", "isinstance(layer, _Scale)"))),
    Check("ex4_test_file_name", observe_file_name, judge_file_name, inputs_file_name, rules=(
        ("a file name that does not end with .keras raises a ValueError that mentions .keras, as a Path or a string",
         "for bad_name_ in"),
        ("a name that ends with .keras saves and reloads the model", '"dense.keras"'))),
]
