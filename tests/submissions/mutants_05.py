"""Notebook 05's mutants: plausible wrong answers and correct alternatives of every exercise.

See tests/submissions/mutants.py for how they become students, and docs/mutants.md for the result.
"""

from __future__ import annotations

from textwrap import dedent

from submissions.mutants import RIGHT, WRONG, Mutant, students as _students

ASSIGNMENT = "05-kernel-visualisation"


def _kernel_model(source="layer.input", inputs="model.inputs", select="isinstance(layer, Involution)",
                  order="model.layers"):
    return dedent(f"""\
        def kernel_model(model):
            involutions = [layer for layer in {order} if {select}]
            outputs = [kern.KernelOutput(layer)({source}) for layer in involutions]
            return keras.Model({inputs}, outputs)
        """)


def _maps(sum_="np.asarray(kernels).sum(axis=(-3, -2, -1))", low="maps.min()", high="maps.max()",
          result="np.clip((maps - low) / (high - low), 0.0, 1.0)", constant=True):
    lines = [
        "def kernel_maps(kernels):",
        f"    return {sum_}",
        "",
        "",
        "def normalise(maps, low=None, high=None):",
        "    maps = np.asarray(maps, dtype=float)",
        f"    low = {low} if low is None else low",
        f"    high = {high} if high is None else high",
    ]
    if constant:
        lines += ["    if high == low:", "        return np.zeros_like(maps)"]
    return "\n".join(lines + [f"    return {result}", ""])


MAPS_INTERP = dedent("""\
    def kernel_maps(kernels):
        kernels = np.asarray(kernels)
        return kernels.reshape(kernels.shape[:-3] + (-1,)).sum(axis=-1)


    def normalise(maps, low=None, high=None):
        maps = np.asarray(maps, dtype=float)
        low = np.min(maps) if low is None else float(low)
        high = np.max(maps) if high is None else float(high)
        if high == low:
            return np.zeros(maps.shape)
        return np.interp(maps, [low, high], [0.0, 1.0])  # clips outside [low, high]
    """)

MAPS_STEPWISE = dedent("""\
    def kernel_maps(kernels):
        return np.asarray(kernels).sum(axis=-1).sum(axis=-1).sum(axis=-1)


    def normalise(maps, low=None, high=None):
        maps = np.array(maps, dtype=np.float64)
        low = maps.min() if low is None else low
        high = maps.max() if high is None else high
        span = high - low
        if span == 0:
            return np.zeros_like(maps)
        return np.minimum(np.maximum((maps - low) / span, 0.0), 1.0)
    """)


def _overlay(upsample_body=None, pixels="image / 255.0 if image.dtype == np.uint8 else image.astype(float)",
             colour='colormaps[cmap](upsample(heat, image.shape[:2]))[..., :3]'):
    upsample_body = upsample_body or dedent("""\
        heat = np.asarray(heat)
        height, width = size
        if height % heat.shape[0] or width % heat.shape[1]:
            raise ValueError(f"cannot upsample {heat.shape} to {size}")
        return np.repeat(np.repeat(heat, height // heat.shape[0], axis=0), width // heat.shape[1], axis=1)
        """)
    body = "\n".join("    " + line if line else "" for line in upsample_body.splitlines())
    return (
        "from matplotlib import colormaps\n\n\ndef upsample(heat, size):\n" + body + "\n\n\n"
        + dedent(f"""\
            def overlay(image, heat, alpha=0.5, cmap="inferno"):
                image = np.asarray(image)
                pixels = {pixels}
                colour = {colour}
                return (1 - alpha) * pixels + alpha * colour
            """)
    )


UPSAMPLE_TILE = dedent("""\
    heat = np.asarray(heat)
    if size[0] % heat.shape[0] or size[1] % heat.shape[1]:
        raise ValueError("not a whole multiple")
    return np.tile(heat, (size[0] // heat.shape[0], size[1] // heat.shape[1]))
    """)
UPSAMPLE_SILENT = dedent("""\
    heat = np.asarray(heat)
    return np.repeat(np.repeat(heat, size[0] // heat.shape[0], axis=0), size[1] // heat.shape[1], axis=1)
    """)
UPSAMPLE_KRON = dedent("""\
    heat = np.asarray(heat)
    rows, columns = divmod(size[0], heat.shape[0]), divmod(size[1], heat.shape[1])
    if rows[1] or columns[1]:
        raise ValueError(f"{size} is not a whole multiple of {heat.shape}")
    return np.kron(heat, np.ones((rows[0], columns[0])))
    """)
UPSAMPLE_INDEX = dedent("""\
    heat = np.asarray(heat)
    h, w = heat.shape
    H, W = size
    if H % h != 0 or W % w != 0:
        raise ValueError("the size must be a whole multiple of the map's size")
    return heat[np.arange(H) // (H // h)][:, np.arange(W) // (W // w)]
    """)


def _similarity(vectors="kernels.reshape(kernels.shape[0] * kernels.shape[1], -1)",
                units="vectors[norms > 0] / norms[norms > 0, None]", few='float("nan")',
                value="(total @ total - count) / (count * (count - 1))"):
    return dedent(f"""\
        def position_similarity(kernels):
            kernels = np.asarray(kernels, dtype=float)
            vectors = {vectors}
            norms = np.linalg.norm(vectors, axis=1)
            units = {units}
            count = len(units)
            if count < 2:
                return {few}
            total = units.sum(axis=0)
            return float({value})
        """)


SIMILARITY_GRAM = dedent("""\
    def position_similarity(kernels):
        kernels = np.asarray(kernels, dtype=float)
        flat = kernels.reshape(*kernels.shape[:2], -1).reshape(-1, int(np.prod(kernels.shape[2:])))
        flat = flat[np.any(flat != 0, axis=1)]
        n = flat.shape[0]
        if n < 2:
            return float("nan")
        flat = flat / np.sqrt((flat**2).sum(axis=1, keepdims=True))
        gram = flat @ flat.T
        return float((gram.sum() - np.trace(gram)) / (n * (n - 1)))
    """)

SIMILARITY_PAIRS = dedent("""\
    def position_similarity(kernels):
        kernels = np.asarray(kernels, dtype=float)
        vectors = kernels.reshape(kernels.shape[0] * kernels.shape[1], -1)
        vectors = vectors[np.linalg.norm(vectors, axis=1) > 0]
        if len(vectors) < 2:
            return float("nan")
        units = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        upper = np.triu_indices(len(units), k=1)  # each unordered pair once
        return float(np.mean((units @ units.T)[upper]))
    """)


def _attention(scores="(queries * keys[:, ki:ki + height, kj:kj + width]).sum(axis=-1) / np.sqrt(w_query.shape[1])",
               masked="np.where(inside[ki:ki + height, kj:kj + width], scores, -np.inf)",
               shift="logits = logits - logits.max(axis=(-2, -1), keepdims=True)",
               queries="x @ w_query", keys="x @ w_key", normalise="axis=(-2, -1)"):
    return dedent(f"""\
        def local_attention_weights(x, w_query, w_key, kernel_size):
            x = np.asarray(x, dtype=float)
            batch, height, width = x.shape[:3]
            pad = (kernel_size - 1) // 2
            queries = {queries}
            keys = np.pad({keys}, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
            inside = np.pad(np.ones((height, width), dtype=bool), pad)
            logits = np.full((batch, height, width, kernel_size, kernel_size), -np.inf)
            for ki in range(kernel_size):
                for kj in range(kernel_size):
                    scores = {scores}
                    logits[..., ki, kj] = {masked}
            {shift}
            weights = np.exp(logits)
            return weights / weights.sum({normalise}, keepdims=True)
        """)


ATTENTION_WINDOWS = dedent("""\
    from numpy.lib.stride_tricks import sliding_window_view


    def local_attention_weights(x, w_query, w_key, kernel_size):
        x = np.asarray(x, dtype=float)
        pad = kernel_size // 2
        d = w_query.shape[1]
        q = x @ w_query
        k = np.pad(x @ w_key, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        windows = sliding_window_view(k, (kernel_size, kernel_size), axis=(1, 2))  # (B, H, W, d, K, K)
        logits = np.einsum("bhwd,bhwdij->bhwij", q, windows) / np.sqrt(d)
        valid = sliding_window_view(np.pad(np.ones(x.shape[1:3]), pad), (kernel_size, kernel_size))
        logits = np.where(valid[None] > 0, logits, -np.inf)
        flat = logits.reshape(*logits.shape[:3], -1)
        flat = np.exp(flat - flat.max(axis=-1, keepdims=True))
        return (flat / flat.sum(axis=-1, keepdims=True)).reshape(logits.shape)
    """)

ATTENTION_POSITIONS = dedent("""\
    def local_attention_weights(x, w_query, w_key, kernel_size):
        x = np.asarray(x, dtype=float)
        B, H, W, _ = x.shape
        p = (kernel_size - 1) // 2
        q, k = x @ w_query, x @ w_key
        out = np.zeros((B, H, W, kernel_size, kernel_size))
        for i in range(H):
            for j in range(W):
                r0, r1, c0, c1 = max(i - p, 0), min(i + p + 1, H), max(j - p, 0), min(j + p + 1, W)
                logits = np.einsum("bd,bhwd->bhw", q[:, i, j], k[:, r0:r1, c0:c1]) / np.sqrt(q.shape[-1])
                logits -= logits.max(axis=(1, 2), keepdims=True)
                e = np.exp(logits)
                out[:, i, j, r0 - i + p:r1 - i + p, c0 - j + p:c1 - j + p] = e / e.sum(axis=(1, 2), keepdims=True)
        return out
    """)

KERNEL_MODEL_WALK = dedent("""\
    class _KernelWalk(keras.Model):
        \"\"\"Runs the network's layers in order and keeps each Involution layer's kernel of its input.\"\"\"

        def __init__(self, network):
            super().__init__()
            self.network = network

        def call(self, x, training=False):
            kernels = []
            for layer in self.network.layers:
                if isinstance(layer, keras.layers.InputLayer):
                    continue
                if isinstance(layer, Involution):
                    kernels.append(layer.generate_kernel(x, training=False))
                x = layer(x, training=False)
            return kernels


    def kernel_model(model):
        return _KernelWalk(model)
    """)

MAPS_EINSUM = dedent("""\
    def kernel_maps(kernels):
        return np.einsum("...gij->...", np.asarray(kernels, dtype=float))


    def normalise(maps, low=None, high=None):
        maps = np.asarray(maps, dtype=float)
        low = float(np.min(maps)) if low is None else float(low)
        high = low + float(np.ptp(maps)) if high is None else float(high)
        if high == low:
            return np.zeros(maps.shape)
        return np.clip((maps - low) / (high - low), 0, 1)
    """)

OVERLAY_BROADCAST = dedent("""\
    import matplotlib.pyplot as plt


    def upsample(heat, size):
        heat = np.asarray(heat)
        (rows, cols), (height, width) = heat.shape, size
        if height % rows or width % cols:
            raise ValueError(f"{size} is not a whole multiple of {heat.shape}")
        blocks = np.broadcast_to(heat[:, None, :, None], (rows, height // rows, cols, width // cols))
        return blocks.reshape(height, width)


    def overlay(image, heat, alpha=0.5, cmap="inferno"):
        image = np.asarray(image)
        if image.dtype == np.uint8:
            image = image.astype(float) / 255
        colours = plt.get_cmap(cmap)(upsample(heat, image.shape[:2]))
        return alpha * colours[..., :3] + (1 - alpha) * image
    """)

SIMILARITY_PDIST = dedent("""\
    from scipy.spatial.distance import pdist


    def position_similarity(kernels):
        kernels = np.asarray(kernels, dtype=float)
        flat = kernels.reshape(kernels.shape[0] * kernels.shape[1], -1)
        flat = flat[np.any(flat != 0, axis=1)]
        if len(flat) < 2:
            return float("nan")
        return float(np.mean(1.0 - pdist(flat, metric="cosine")))  # each pair once: the same mean
    """)

ATTENTION_LOGSUMEXP = dedent("""\
    from scipy.special import logsumexp


    def local_attention_weights(x, w_query, w_key, kernel_size):
        x = np.asarray(x, dtype=float)
        height, width = x.shape[1:3]
        p = kernel_size // 2
        q = np.tensordot(x, w_query, axes=1)
        k = np.tensordot(x, w_key, axes=1)
        logits = np.full((*x.shape[:3], kernel_size, kernel_size), -np.inf)
        for u in range(-p, p + 1):
            for v in range(-p, p + 1):
                rows = slice(max(0, -u), min(height, height - u))
                cols = slice(max(0, -v), min(width, width - v))
                neighbours = k[:, rows.start + u:rows.stop + u, cols.start + v:cols.stop + v]
                logits[:, rows, cols, p + u, p + v] = np.sum(q[:, rows, cols] * neighbours, axis=-1) / np.sqrt(q.shape[-1])
        return np.exp(logits - logsumexp(logits, axis=(-2, -1), keepdims=True))
    """)

MUTANTS = {
    "ex1": [
        Mutant("kernels of each layer's output, not its input", WRONG, {"ex1": _kernel_model(source="layer.output")}),
        Mutant("every layer fed the network's input", WRONG, {"ex1": _kernel_model(source="model.inputs[0]")}),
        Mutant("model.input (fails on a reloaded Sequential)", WRONG, {"ex1": _kernel_model(inputs="model.input")}),
        Mutant("layers picked by name ('involution' in the name)", WRONG,
               {"ex1": _kernel_model(select="'involution' in layer.name")}),
        Mutant("kern.involution_layers, keyword arguments", RIGHT, {"ex1": dedent("""\
            def kernel_model(model):
                outputs = []
                for layer in kern.involution_layers(model):
                    outputs.append(kern.KernelOutput(layer)(layer.input))
                return keras.Model(inputs=model.inputs, outputs=outputs)
            """)}),
        Mutant("type name test, a tuple of outputs", RIGHT, {"ex1": _kernel_model(
            select="type(layer).__name__ == 'Involution'").replace("outputs)", "tuple(outputs))")}),
        Mutant("a subclassed keras.Model that runs the layers in order", RIGHT, {"ex1": KERNEL_MODEL_WALK}),
    ],
    "ex2": [
        Mutant("fixed axes (3, 4, 5): only batched kernels", WRONG, {"ex2": _maps(sum_="np.asarray(kernels).sum(axis=(3, 4, 5))")}),
        Mutant("normalise without clipping", WRONG, {"ex2": _maps(result="(maps - low) / (high - low)")}),
        Mutant("constant map divides by zero", WRONG, {"ex2": _maps(constant=False)}),
        Mutant("normalise per image (min and max of each map)", WRONG, {"ex2": _maps(
            low="maps.min(axis=(-2, -1), keepdims=True)", high="maps.max(axis=(-2, -1), keepdims=True)",
            result="np.clip((maps - low) / np.where(high > low, high - low, 1), 0.0, 1.0)", constant=False)}),
        Mutant("reshape and sum; np.interp", RIGHT, {"ex2": MAPS_INTERP}),
        Mutant("three sums; minimum and maximum", RIGHT, {"ex2": MAPS_STEPWISE}),
        Mutant("einsum; np.ptp for the range", RIGHT, {"ex2": MAPS_EINSUM}),
    ],
    "ex3": [
        Mutant("np.tile repeats the whole map", WRONG, {"ex3": _overlay(UPSAMPLE_TILE)}),
        Mutant("no ValueError for a size that is no multiple", WRONG, {"ex3": _overlay(UPSAMPLE_SILENT)}),
        Mutant("float images divided by 255 too", WRONG, {"ex3": _overlay(pixels="image / 255.0")}),
        Mutant("cmap ignored (always inferno)", WRONG, {"ex3": _overlay(
            colour='colormaps["inferno"](upsample(heat, image.shape[:2]))[..., :3]')}),
        Mutant("alpha ignored (always 0.5)", WRONG, {"ex3": _overlay().replace(
            "return (1 - alpha) * pixels + alpha * colour", "return 0.5 * pixels + 0.5 * colour")}),
        Mutant("np.kron; integer dtype test", RIGHT, {"ex3": _overlay(
            UPSAMPLE_KRON, pixels="image / 255 if np.issubdtype(image.dtype, np.integer) else image.astype(float)")}),
        Mutant("index arithmetic; matplotlib.colormaps.get_cmap", RIGHT, {"ex3": _overlay(
            UPSAMPLE_INDEX, colour="matplotlib.colormaps.get_cmap(cmap)(upsample(heat, image.shape[:2]))[..., :3]"
        ).replace("from matplotlib import colormaps", "import matplotlib\nfrom matplotlib import colormaps")}),
    ],
    "ex4": [
        Mutant("raw dot products (no unit vectors)", WRONG, {"ex4": _similarity(
            units="vectors[norms > 0]")}),
        Mutant("pairs p = q included", WRONG, {"ex4": _similarity(value="(total @ total) / count**2")}),
        Mutant("all-zero kernels kept (0/0)", WRONG, {"ex4": _similarity(
            units="vectors / np.where(norms > 0, norms, 1)[:, None]")}),
        Mutant("0.0, not nan, when fewer than two kernels", WRONG, {"ex4": _similarity(few="0.0")}),
        Mutant("N x N table without its diagonal", RIGHT, {"ex4": SIMILARITY_GRAM}),
        Mutant("mean over the upper triangle (each pair once)", RIGHT, {"ex4": SIMILARITY_PAIRS}),
        Mutant("SciPy's cosine distances, pdist", RIGHT, {"ex4": SIMILARITY_PDIST}),
    ],
    "ex5": [
        Mutant("no 1/sqrt(d) scaling", WRONG, {"ex5": _attention(
            scores="(queries * keys[:, ki:ki + height, kj:kj + width]).sum(axis=-1)")}),
        Mutant("outside neighbours not masked (zero keys)", WRONG, {"ex5": _attention(masked="scores")}),
        Mutant("softmax without subtracting the maximum", WRONG, {"ex5": _attention(shift="pass")}),
        Mutant("queries and keys swapped", WRONG, {"ex5": _attention(queries="x @ w_key", keys="x @ w_query")}),
        Mutant("sliding windows and einsum", RIGHT, {"ex5": ATTENTION_WINDOWS}),
        Mutant("position by position, windows cut at the border", RIGHT, {"ex5": ATTENTION_POSITIONS}),
        Mutant("centred offsets, valid ranges per offset; logsumexp", RIGHT, {"ex5": ATTENTION_LOGSUMEXP}),
    ],
}


def students(source) -> dict:
    return _students(MUTANTS, source)
