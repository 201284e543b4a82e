"""How notebook 05's autograded test cells are judged, outside the student's kernel.

The kernel runs the student's functions on inputs drawn here for each graded run and reports what
they returned; each judge compares that with a NumPy definition worked out here:

* ex1 ``kernel_model``: small Keras networks whose weights are drawn here, built and set in the
  kernel; their generated kernels are computed here layer by layer (pooling, 1x1 convolutions,
  batch normalisation, involution's multiply-add);
* ex2 ``kernel_maps``/``normalise``, ex3 ``upsample``/``overlay`` (colours from a table of
  matplotlib's ``inferno`` and the formula of ``gray``), ex4 ``position_similarity`` (pair by pair)
  and ex5 ``local_attention_weights`` (position by position, from the formula).
"""

from __future__ import annotations

import numpy as np

from involution_instructor.judging import Check, expect, kernel

# ------------------------------------------------------------------ ex1: kernel_model

# (kernel_size, stride, groups) of each involution layer of a functional network on 4 channels.
EX1_FUNCTIONAL = [
    [(3, 1, 1), (3, 2, 2)],
    [(5, 1, 2), (3, 2, 4), (3, 1, 1)],
    [(3, 2, 1)],
    [(3, 1, 4), (5, 1, 1)],
    [(5, 2, 2), (3, 1, 2)],
]
BN_EPSILON = 1e-3  # Keras' BatchNormalization default


def _float32(rng, shape, scale=0.5):
    return (scale * rng.normal(size=shape)).astype("float32")


def _involution_spec(rng, name, channels, kernel_size, stride, groups, reduction_ratio):
    reduced = max(1, channels // reduction_ratio)
    taps = kernel_size * kernel_size * groups
    return {
        "type": "involution", "name": name, "kernel_size": kernel_size, "stride": stride, "groups": groups,
        "reduction_ratio": reduction_ratio,
        "reduce": [_float32(rng, (1, 1, channels, reduced)), _float32(rng, (reduced,), 0.2)],
        "bn": [(1 + 0.2 * rng.normal(size=reduced)).astype("float32"), _float32(rng, (reduced,), 0.2),
               _float32(rng, (reduced,), 0.2), rng.uniform(0.5, 1.5, size=reduced).astype("float32")],
        "span": [_float32(rng, (1, 1, reduced, taps)), _float32(rng, (taps,), 0.2)],
    }


def kernel_model_inputs(rng):
    """Three functional networks (involution layers, 1x1 convolutions between) and a Sequential
    network with max pooling, saved and loaded again; their weights and a batch for each."""
    networks = []
    for number in rng.choice(len(EX1_FUNCTIONAL), size=3, replace=False):
        size = int(rng.choice([8, 12]))
        layers = []
        for index, (kernel_size, stride, groups) in enumerate(EX1_FUNCTIONAL[number]):
            layers.append(_involution_spec(rng, f"ex1_inv_{index}", 4, kernel_size, stride, groups, 2))
            layers.append({"type": "conv", "name": f"ex1_conv_{index}",
                           "weights": [_float32(rng, (1, 1, 4, 4)), _float32(rng, (4,), 0.2)]})
        networks.append({"sequential": False, "reload": False, "shape": (size, size, 4), "layers": layers,
                         "batch": rng.normal(size=(2, size, size, 4)).astype("float32")})
    # As notebook 04 saves its networks: a Sequential reloaded has model.inputs but no model.input.
    networks.append({"sequential": True, "reload": True, "shape": (8, 8, 3), "layers": [
        _involution_spec(rng, "seq_inv_1", 3, 3, 1, 1, 2), {"type": "maxpool", "name": "seq_pool"},
        _involution_spec(rng, "seq_inv_2", 3, 3, 1, 3, 1),
    ], "batch": rng.normal(size=(2, 8, 8, 3)).astype("float32")})
    return networks


@kernel
def observe_kernel_model(student, networks):
    import os
    import tempfile

    import keras

    from involution_course.kernels import as_model_inputs
    from involution_course.layers import Involution

    kernel_model = student["kernel_model"]

    def build(network):
        made = []
        for spec in network["layers"]:
            if spec["type"] == "involution":
                made.append(Involution(spec["kernel_size"], spec["stride"], spec["groups"], spec["reduction_ratio"],
                                       name=spec["name"]))
            elif spec["type"] == "conv":
                made.append(keras.layers.Conv2D(spec["weights"][0].shape[-1], 1, activation="relu", name=spec["name"]))
            else:
                made.append(keras.layers.MaxPooling2D(name=spec["name"]))
        if network["sequential"]:
            model = keras.Sequential([keras.Input(network["shape"]), *made, keras.layers.Flatten(), keras.layers.Dense(2)])
        else:
            inputs = keras.Input(network["shape"])
            x = inputs
            for layer in made:
                x = layer(x)
            model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
        for spec in network["layers"]:
            layer = model.get_layer(spec["name"])
            if spec["type"] == "involution":
                layer.reduce.set_weights(spec["reduce"])
                layer.bn.set_weights(spec["bn"])
                layer.span.set_weights(spec["span"])
            elif spec["type"] == "conv":
                layer.set_weights(spec["weights"])
        if network["reload"]:
            with tempfile.TemporaryDirectory() as folder:
                model.save(os.path.join(folder, "network.keras"))
                model = keras.models.load_model(os.path.join(folder, "network.keras"), compile=False)
        return model

    def kernels_of(extractor, batch):
        # In the structure the extractor was built on, as the notebook feeds it.
        got = extractor(as_model_inputs(extractor, batch)) if isinstance(extractor, keras.Model) else extractor(batch)
        return [keras.ops.convert_to_numpy(k) for k in (got if isinstance(got, (list, tuple)) else [got])]

    seen = []
    for network in networks:
        model = build(network)
        try:
            extractor = kernel_model(model)
        except (Exception, SystemExit) as error:  # noqa: BLE001 - reported for the judge
            seen.append({"raised": type(error).__name__, "message": str(error)[:500]})
            continue
        result = outcome(kernels_of, extractor, network["batch"])
        seen.append({"model": isinstance(extractor, keras.Model), "type": type(extractor).__name__, **result})
    return seen


def _block_average(x, stride):
    """The mean of each stride x stride block starting at (i*s, j*s), over the pixels inside."""
    if stride == 1:
        return x
    batch, height, width, channels = x.shape
    rows, cols = -(-height // stride), -(-width // stride)
    out = np.zeros((batch, rows, cols, channels))
    for i in range(rows):
        for j in range(cols):
            out[:, i, j] = x[:, i * stride:(i + 1) * stride, j * stride:(j + 1) * stride].mean(axis=(1, 2))
    return out


def _generated_kernel(spec, x):
    """Involution's kernel (B, H', W', G, K, K): pool, 1x1 reduce, batch norm (inference), ReLU, 1x1 span."""
    pooled = _block_average(x, spec["stride"])
    weight, bias = (np.asarray(w, dtype=float) for w in spec["reduce"])
    reduced = pooled @ weight[0, 0] + bias
    gamma, beta, mean, variance = (np.asarray(w, dtype=float) for w in spec["bn"])
    hidden = np.maximum(gamma * (reduced - mean) / np.sqrt(variance + BN_EPSILON) + beta, 0.0)
    weight, bias = (np.asarray(w, dtype=float) for w in spec["span"])
    planes = hidden @ weight[0, 0] + bias
    size = spec["kernel_size"]
    return planes.reshape(*planes.shape[:3], spec["groups"], size, size)


def _involution(spec, x, kernels):
    """y[b, i, j, c] = sum over taps of x_pad[b, i*s + ki, j*s + kj, c] * kernel[b, i, j, g(c), ki, kj]."""
    size, stride, groups = spec["kernel_size"], spec["stride"], spec["groups"]
    pad = (size - 1) // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows, cols = kernels.shape[1:3]
    per_group = x.shape[-1] // groups
    out = np.zeros((x.shape[0], rows, cols, x.shape[-1]))
    for ki in range(size):
        for kj in range(size):
            window = padded[:, ki:ki + stride * (rows - 1) + 1:stride, kj:kj + stride * (cols - 1) + 1:stride]
            out += window * np.repeat(kernels[..., ki, kj], per_group, axis=-1)
    return out


def kernel_model_expected(networks):
    """Each network's involution kernels, computed layer by layer from each layer's own input."""
    expected = []
    for network in networks:
        x, kernels = np.asarray(network["batch"], dtype=float), []
        for spec in network["layers"]:
            if spec["type"] == "involution":
                generated = _generated_kernel(spec, x)
                kernels.append(generated)
                x = _involution(spec, x, generated)
            elif spec["type"] == "conv":
                weight, bias = (np.asarray(w, dtype=float) for w in spec["weights"])
                x = np.maximum(x @ weight[0, 0] + bias, 0.0)
            else:  # 2 x 2 max pooling, valid
                batch, height, width, channels = x.shape
                x = x[:, :height // 2 * 2, :width // 2 * 2].reshape(batch, height // 2, 2, width // 2, 2, channels).max(axis=(2, 4))
        expected.append(kernels)
    return expected


def _network_name(network) -> str:
    if network["sequential"]:
        return "a reloaded Sequential network (use model.inputs)"
    settings = [(s["kernel_size"], s["stride"], s["groups"]) for s in network["layers"] if s["type"] == "involution"]
    return f"a network with involution layers (K, stride, G) = {settings}"


def judge_kernel_model(ctx):
    for network, seen, expected in zip(ctx.data, ctx.seen, ctx.expected):
        what = _network_name(network)
        if "raised" in seen and "model" not in seen:
            raise AssertionError(f"kernel_model on {what} raised {seen['raised']}: {seen.get('message', '')}"[:600])
        if not seen["model"]:
            raise AssertionError(f"kernel_model should return a keras.Model; got {seen['type']}")
        got = expect.value(seen, f"the kernel model of {what}")
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            count = len(got) if isinstance(got, (list, tuple)) else 1
            raise AssertionError(f"{what}: expected {len(expected)} outputs (one kernel per Involution layer); got {count}")
        for number, (out, want) in enumerate(zip(got, expected)):
            out = expect.shape(out, want.shape, f"{what}, output {number}")
            expect.close(out, want, f"{what}, output {number} (the layer's generate_kernel of its own input, layer.input)",
                         atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------ ex2: kernel_maps, normalise


def maps_inputs(rng):
    fixture = np.arange(36.0).reshape(1, 2, 2, 1, 3, 3)
    groups, size = int(rng.choice([2, 4])), int(rng.choice([3, 5]))
    return {
        "kernels": [
            fixture, fixture.reshape(1, 1, 2, 2, 3, 3), fixture[0],
            rng.normal(size=(int(rng.integers(1, 4)), int(rng.integers(2, 6)), int(rng.integers(2, 6)), 1, 3, 3)),
            rng.normal(size=(int(rng.integers(1, 4)), int(rng.integers(2, 5)), int(rng.integers(2, 5)), groups, size, size)),
            rng.normal(size=(int(rng.integers(2, 7)), int(rng.integers(2, 7)), groups, 3, 3)),  # one image
        ],
        "normalise": [
            (rng.normal(size=(4, 8, 8)), {}),  # the array's min and max, over every image at once
            (np.array([[2.0, 4.0], [6.0, 10.0]]), {"low": 4.0, "high": 8.0}),
            (rng.normal(size=(3, 5)), {"low": float(rng.uniform(-1.0, -0.2)), "high": float(rng.uniform(0.2, 1.0))}),
            (np.full((3, 3), float(rng.normal())), {}),  # a constant map
            (rng.integers(1, 4, size=(2, 3)), {"low": 0, "high": 4}),  # integers in, floats out
        ],
    }


@kernel
def observe_maps(student, data):
    kernel_maps, normalise = student["kernel_maps"], student["normalise"]
    return {
        "kernels": [outcome(kernel_maps, np.array(k)) for k in data["kernels"]],
        "normalise": [outcome(normalise, np.array(maps), **options) for maps, options in data["normalise"]],
    }


def _normalised(maps, low=None, high=None):
    values = np.asarray(maps, dtype=float)
    bottom = values.min() if low is None else low
    top = values.max() if high is None else high
    if top == bottom:
        return np.zeros(values.shape)
    return np.clip((values - bottom) / (top - bottom), 0.0, 1.0)


def judge_maps(ctx):
    for kernels, seen in zip(ctx.data["kernels"], ctx.seen["kernels"]):
        what = f"kernel_maps of kernels of shape {kernels.shape}"
        want = kernels.reshape(*kernels.shape[:-3], -1).sum(axis=-1)
        expect.close(expect.value(seen, what), want, what + " (sum the last three axes, the groups too)", atol=1e-8, rtol=1e-9)
    for (maps, options), seen in zip(ctx.data["normalise"], ctx.seen["normalise"]):
        shown = ", ".join(f"{k}={v:g}" for k, v in options.items())
        what = f"normalise of a {maps.shape} map" + (f" with {shown}" if shown else " (the array's own min and max)")
        expect.close(expect.value(seen, what), _normalised(maps, **options), what, atol=1e-9, rtol=1e-9)


# ------------------------------------------------------------------ ex3: upsample, overlay

# matplotlib's inferno at lookup-table rows 0, 15, ..., 255: colormaps["inferno"](row / 255)[:3]
# (printed by `python -c "from matplotlib import colormaps; print(colormaps['inferno'].colors[::15])"`).
INFERNO_ROWS = np.arange(0, 256, 15)
INFERNO = np.array([
    [0.001462, 0.000466, 0.013866], [0.037668, 0.025921, 0.132232], [0.116656, 0.047574, 0.272321],
    [0.217949, 0.036615, 0.383522], [0.316282, 0.05349, 0.425116], [0.410113, 0.087896, 0.433098],
    [0.503493, 0.121575, 0.423356], [0.59694, 0.154848, 0.398125], [0.688653, 0.192239, 0.357603],
    [0.775059, 0.239667, 0.303526], [0.851384, 0.30226, 0.239636], [0.912966, 0.381636, 0.169755],
    [0.956852, 0.475356, 0.094695], [0.981895, 0.579392, 0.02625], [0.987464, 0.690366, 0.07999],
    [0.973088, 0.805409, 0.216877], [0.947594, 0.917399, 0.410665], [0.988362, 0.998364, 0.644924],
])


def _colour(heat, cmap):
    """colormaps[cmap](heat)[..., :3] for the maps the check uses: matplotlib looks up row
    min(floor(heat * 256), 255) of a 256-row table; gray's row r is r / 255 in every channel."""
    rows = np.minimum(np.floor(np.asarray(heat, dtype=float) * 256), 255).astype(int)
    if cmap == "gray":
        return np.repeat((rows / 255.0)[..., None], 3, axis=-1)
    return INFERNO[np.searchsorted(INFERNO_ROWS, rows)]


def overlay_inputs(rng):
    factors = [(2, 2), (4, 2), (2, 4), (1, 3), (3, 1)]
    upsamples = []
    for index in rng.choice(len(factors), size=3, replace=False):
        rows, cols = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        upsamples.append((rng.random((rows, cols)), (rows * factors[index][0], cols * factors[index][1])))
    rows, cols = int(rng.integers(2, 4)), int(rng.integers(2, 4))
    bad = (rng.random((rows, cols)), (rows * 2 + 1, cols * 2))  # not a whole multiple
    levels = INFERNO_ROWS[rng.integers(0, len(INFERNO_ROWS), size=(4, 4))] / 255.0
    heat = rng.random((2, 4))
    return {
        "upsample": upsamples,
        "bad": bad,
        "overlay": [
            (rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8), levels, {}),  # defaults: 0.5, inferno
            (rng.random((8, 8, 3)), heat, {"alpha": float(rng.uniform(0.2, 0.8)), "cmap": "gray"}),  # floats stay
            (rng.integers(0, 256, size=(4, 8, 3), dtype=np.uint8), heat, {"alpha": 0.0}),
            (np.full((2, 4, 3), 255, dtype=np.uint8), np.array([[0.0, 1.0]]), {"alpha": 0.5}),
        ],
    }


@kernel
def observe_overlay(student, data):
    upsample, overlay = student["upsample"], student["overlay"]
    heat, size = data["bad"]
    return {
        "upsample": [outcome(upsample, np.array(heat), tuple(size)) for heat, size in data["upsample"]],
        "bad": outcome(upsample, np.array(heat), tuple(size)),
        "overlay": [outcome(overlay, np.array(image), np.array(heat), **options) for image, heat, options in data["overlay"]],
    }


def judge_overlay(ctx):
    for (heat, size), seen in zip(ctx.data["upsample"], ctx.seen["upsample"]):
        what = f"upsample of a {heat.shape} map to {tuple(size)}"
        want = np.kron(heat, np.ones((size[0] // heat.shape[0], size[1] // heat.shape[1])))
        expect.close(expect.value(seen, what), want, what + " (repeat each value over its block)", atol=1e-12, rtol=0)
    heat, size = ctx.data["bad"]
    expect.raised(ctx.seen["bad"], "ValueError", f"upsample of a {heat.shape} map to {tuple(size)} (not a whole multiple)")
    for (image, heat, options), seen in zip(ctx.data["overlay"], ctx.seen["overlay"]):
        alpha, cmap = options.get("alpha", 0.5), options.get("cmap", "inferno")
        scaled = image / 255.0 if image.dtype == np.uint8 else image  # floats are already in [0, 1]
        colour = _colour(np.kron(heat, np.ones((image.shape[0] // heat.shape[0], image.shape[1] // heat.shape[1]))), cmap)
        kind = "uint8 (divide by 255)" if image.dtype == np.uint8 else "float (already in [0, 1])"
        what = f"overlay of a {kind} image with alpha={alpha:g}, cmap={cmap!r}"
        expect.close(expect.value(seen, what), (1 - alpha) * scaled + alpha * colour, what, atol=1e-6, rtol=1e-6)


# ------------------------------------------------------------------ ex4: position_similarity


def similarity_inputs(rng):
    same = np.array(np.broadcast_to(rng.normal(size=(1, 3, 3)), (4, 4, 1, 3, 3)))
    with_zero = same.copy()
    with_zero[int(rng.integers(4)), int(rng.integers(4))] = 0.0
    groups = rng.normal(size=(int(rng.integers(3, 6)), int(rng.integers(2, 5)), 2, 5, 5)) + 0.5
    holes = rng.normal(size=(4, 4, 1, 3, 3))
    for flat in rng.choice(16, size=2, replace=False):
        holes[flat // 4, flat % 4] = 0.0
    return [
        same, with_zero,
        np.array([[[1.0, 0.0]], [[-2.0, 0.0]]]),  # opposite kernels
        np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]),
        rng.normal(size=(int(rng.integers(2, 5)), int(rng.integers(2, 5)), 1, 3, 3)),
        groups,
        groups * rng.uniform(0.1, 10.0, size=(*groups.shape[:2], 1, 1, 1)),  # scaled: the same cosines
        np.eye(4).reshape(2, 2, 4),  # orthogonal
        holes,
        np.zeros((2, 2, 3)),  # no non-zero kernel: nan
        np.pad(rng.normal(size=(1, 1, 3)), ((0, 1), (0, 1), (0, 0))),  # one non-zero kernel: nan
    ]


@kernel
def observe_similarity(student, data):
    position_similarity = student["position_similarity"]

    def described(kernels):
        result = position_similarity(kernels)
        return {"float": isinstance(result, float), "value": result}

    return [outcome(described, np.array(kernels)) for kernels in data]


def _pairwise_mean(kernels):
    """The mean cosine over ordered pairs of different non-zero kernels, pair by pair."""
    vectors = np.asarray(kernels, dtype=float).reshape(kernels.shape[0] * kernels.shape[1], -1)
    vectors = vectors[np.abs(vectors).sum(axis=1) > 0]
    if len(vectors) < 2:
        return float("nan")
    pairs = [
        vectors[p] @ vectors[q] / (np.linalg.norm(vectors[p]) * np.linalg.norm(vectors[q]))
        for p in range(len(vectors)) for q in range(len(vectors)) if p != q
    ]
    return float(np.mean(pairs))


def judge_similarity(ctx):
    for kernels, seen in zip(ctx.data, ctx.seen):
        what = f"position_similarity of kernels of shape {kernels.shape}"
        got = expect.value(seen, what)
        if not isinstance(got, dict) or got.get("float") is not True:
            raise AssertionError(f"{what} should return a float")
        want = _pairwise_mean(kernels)
        hint = ("fewer than two positions have a non-zero kernel: return float('nan')" if np.isnan(want)
                else "the mean cosine over pairs of different positions, all-zero kernels left out")
        expect.close(got["value"], want, f"{what} ({hint})", atol=1e-9, rtol=1e-9)


# ------------------------------------------------------------------ ex5: local_attention_weights


def attention_inputs(rng):
    three = np.arange(3.0).reshape(1, 1, 3, 1)  # one row of pixels 0, 1, 2
    cases = [(three, np.ones((1, 1)), np.ones((1, 1)), 3), (three, np.ones((1, 4)), np.ones((1, 4)), 3)]
    for size, batch in ((3, 1), (5, 2)):
        channels, dim = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        x = rng.normal(size=(batch, int(rng.integers(3, 7)), int(rng.integers(3, 7)), channels))
        cases.append((x, rng.normal(size=(channels, dim)), rng.normal(size=(channels, dim)), size))
    shared = rng.normal(size=(2, 4))
    cases.append((60.0 * rng.normal(size=(1, 3, 3, 2)), shared, shared, 3))  # large logits
    return cases


@kernel
def observe_attention(student, data):
    attend = student["local_attention_weights"]
    return [outcome(attend, np.array(x), np.array(w_query), np.array(w_key), size) for x, w_query, w_key, size in data]


def _attention_weights(x, w_query, w_key, size):
    """Position by position, neighbour by neighbour, straight from the formula."""
    batch, height, width, _ = x.shape
    pad, dim = (size - 1) // 2, w_query.shape[1]
    out = np.zeros((batch, height, width, size, size))
    for b in range(batch):
        for i in range(height):
            for j in range(width):
                query = x[b, i, j] @ w_query
                logits = {}
                for ki in range(size):
                    for kj in range(size):
                        r, c = i + ki - pad, j + kj - pad
                        if 0 <= r < height and 0 <= c < width:
                            logits[ki, kj] = query @ (x[b, r, c] @ w_key) / np.sqrt(dim)
                top = max(logits.values())
                norm = sum(np.exp(v - top) for v in logits.values())
                for (ki, kj), v in logits.items():
                    out[b, i, j, ki, kj] = np.exp(v - top) / norm
    return out


def attention_expected(cases):
    return [_attention_weights(*case) for case in cases]


def judge_attention(ctx):
    for (x, w_query, w_key, size), seen, want in zip(ctx.data, ctx.seen, ctx.expected):
        what = f"local_attention_weights of x {x.shape}, K = {size}, d = {w_query.shape[1]}"
        got = expect.shape(expect.value(seen, what), want.shape, what)
        if not np.all(np.isfinite(got)):
            raise AssertionError(f"{what}: NaN or infinite weights (subtract the window's maximum before np.exp)")
        expect.close(got, want, what + " (softmax over the neighbours inside the image, logits q . k / sqrt(d))",
                     atol=1e-9, rtol=1e-7)


# Each rule a check judges, with the visible test that checks it in the student's notebook (a text of
# that test cell): tests/test_judging.py makes sure that every rule has its visible twin.
CHECKS = [
    Check("ex1_test_kernel_model", observe_kernel_model, judge_kernel_model, kernel_model_inputs, kernel_model_expected,
          rules=(
              ("a keras.Model", "should return a keras.Model"),
              ("one output per Involution layer, in the order of model.layers", "one kernel per layer"),
              ("each output is the layer's generate_kernel of its own input (layer.input)",
               "generate_kernel of the second layer's own input"),
              ("works on a Sequential network saved and loaded again (model.inputs)", "reloaded Sequential network"),
          )),
    Check("ex2_test_maps", observe_maps, judge_maps, maps_inputs, rules=(
        ("kernel_maps sums the last three axes, whatever the leading axes", "sum the last three axes"),
        ("normalise rescales with low and high and clips to [0, 1]", "should be clipped to [0, 1]"),
        ("normalise's defaults are the whole array's min and max, not each map's", "uses the whole array's min and max"),
        ("normalise gives zeros for a constant map", "a constant map should normalise to zeros"),
    )),
    Check("ex3_test_overlay", observe_overlay, judge_overlay, overlay_inputs, rules=(
        ("upsample repeats each value over its block", "upsample([[1, 2], [3, 4]], (4, 6)) should be"),
        ("upsample raises a ValueError for a size that is no whole multiple", "should raise a ValueError"),
        ("overlay divides uint8 images by 255", "0.5 * 255/255 + 0.5 * inferno(value)"),
        ("overlay uses float images as they are", "is used as it is (not divided by 255)"),
        ("overlay uses its alpha and cmap", "overlay uses its alpha and cmap"),
    )),
    Check("ex4_test_similarity", observe_similarity, judge_similarity, similarity_inputs, rules=(
        ("a Python float", "should return a float"),
        ("the mean cosine over pairs of different positions", "sqrt(2)/3"),
        ("all-zero kernels left out", "leave out the all-zero kernel"),
        ("nan when fewer than two positions have a non-zero kernel", "return float('nan')"),
    )),
    Check("ex5_test_attention", observe_attention, judge_attention, attention_inputs, attention_expected, rules=(
        ("weights of shape (B, H, W, K, K) that sum to 1 over each window", "the weights of each window should sum to 1"),
        ("neighbours outside the image get weight 0", "neighbours outside the image get 0"),
        ("logits q . k / sqrt(d)", "divide by sqrt(d)"),
        ("the query from the centre through w_query, the keys from the neighbours through w_key",
         "the keys from the neighbours through w_key"),
        ("finite weights for large logits", "subtract the window's maximum before np.exp"),
    )),
]
