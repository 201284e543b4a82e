"""Notebook 06's mutants: plausible wrong answers and correct alternatives of every exercise.

See tests/submissions/mutants.py for how they become students, and docs/mutants.md for the result.
"""

from __future__ import annotations

from textwrap import dedent

from submissions.mutants import RIGHT, WRONG, Mutant, edited, students as _students

ASSIGNMENT = "06-making-involution-fast"


def _edit(grade_id: str, *replacements: tuple[str, str]) -> dict[str, str]:
    return edited(ASSIGNMENT, grade_id, *replacements)


COUNTS_TALLY = dedent("""\
    import math


    def multiply_add_flops(batch, height, width, channels, kernel_size, stride=1):
        rows, cols = math.ceil(height / stride), math.ceil(width / stride)
        return int(2 * batch * channels * rows * cols * kernel_size * kernel_size)


    def bytes_moved(method, batch, height, width, channels, kernel_size, groups, stride=1, itemsize=4):
        rows, cols = math.ceil(height / stride), math.ceil(width / stride)
        x = batch * channels * height * width
        y = batch * channels * rows * cols
        plane = batch * groups * rows * cols  # one tap's kernel plane
        taps = kernel_size * kernel_size
        # (elements read, elements written) of each operation
        operations = {
            "fused": [(x + taps * plane, y)],
            "unfold": [(x, taps * y), (taps * y + taps * plane, y)],
            "slices": [(y + plane + (y if tap else 0), y) for tap in range(taps)],
        }
        if method not in operations:
            raise ValueError(f"unknown method {method}")
        return sum(read + written for read, written in operations[method]) * itemsize
    """)

COUNTS_FORMULAS = dedent("""\
    def multiply_add_flops(batch, height, width, channels, kernel_size, stride=1):
        out_h, out_w = (height + stride - 1) // stride, (width + stride - 1) // stride
        return 2 * batch * channels * out_h * out_w * kernel_size ** 2


    def bytes_moved(method, batch, height, width, channels, kernel_size, groups, stride=1, itemsize=4):
        out_h, out_w = (height + stride - 1) // stride, (width + stride - 1) // stride
        k2 = kernel_size ** 2
        n_in = batch * channels * height * width
        n_out = batch * channels * out_h * out_w
        n_ker = batch * groups * k2 * out_h * out_w
        formulas = {
            "fused": n_in + n_ker + n_out,
            "unfold": n_in + 2 * k2 * n_out + n_ker + n_out,
            "slices": (3 * k2 - 1) * n_out + n_ker,
        }
        if method not in formulas:
            raise ValueError("method must be fused, unfold or slices")
        return itemsize * formulas[method]
    """)

ROOFLINE_WHERE = dedent("""\
    def attainable_flops(intensity, peak_flops, bandwidth):
        memory = np.asarray(intensity) * bandwidth
        return np.where(memory < peak_flops, memory, peak_flops)


    def time_floor(flops, n_bytes, peak_flops, bandwidth):
        return flops / float(attainable_flops(flops / n_bytes, peak_flops, bandwidth))
    """)

ROOFLINE_CLIP = dedent("""\
    def attainable_flops(intensity, peak_flops, bandwidth):
        return np.clip(np.multiply(intensity, bandwidth), None, peak_flops)


    def time_floor(flops, n_bytes, peak_flops, bandwidth):
        return max((flops / peak_flops, n_bytes / bandwidth))
    """)

TILE_SLICED_BLOCK = dedent("""\
    def involution_tile(x_ref, k_ref, o_ref, *, stride):
        x = x_ref[...].astype(jnp.float32)
        k = k_ref[...].astype(jnp.float32)
        rows, cols, channels = o_ref.shape
        groups, size = k.shape[2:4]
        weights = jnp.repeat(k, channels // groups, axis=2)  # (R, S, C, K, K)
        out = jnp.zeros((rows, cols, channels), jnp.float32)
        for ki in range(size):
            for kj in range(size):
                window = x[ki:ki + stride * (rows - 1) + 1:stride, kj:kj + stride * (cols - 1) + 1:stride]
                out = out + window * weights[..., ki, kj]
        o_ref[...] = out
    """)

TILE_FORI_GROUPS = dedent("""\
    def involution_tile(x_ref, k_ref, o_ref, *, stride):
        rows, cols, channels = o_ref.shape
        groups, size = k_ref.shape[2:4]

        def tap(t, total):
            ki, kj = t // size, t % size
            window = x_ref[pl.ds(ki, rows, stride=stride), pl.ds(kj, cols, stride=stride), :]
            window = window.reshape(rows, cols, groups, channels // groups)
            return total + window * k_ref[:, :, :, ki, kj][..., None]

        start = jnp.zeros((rows, cols, groups, channels // groups), jnp.float32)
        o_ref[...] = jax.lax.fori_loop(0, size * size, tap, start).reshape(rows, cols, channels)
    """)

TILE_EINSUM = dedent("""\
    def involution_tile(x_ref, k_ref, o_ref, *, stride):
        # Every tap's window at once, (R, S, K*K, G, C/G), contracted with the kernels in one einsum.
        rows, cols, channels = o_ref.shape
        groups, size = k_ref.shape[2:4]
        x = x_ref[...]
        windows = jnp.stack([x[ki:ki + stride * (rows - 1) + 1:stride, kj:kj + stride * (cols - 1) + 1:stride]
                             for ki in range(size) for kj in range(size)], axis=2)
        windows = windows.reshape(rows, cols, size * size, groups, channels // groups)
        weights = k_ref[...].reshape(rows, cols, groups, size * size)
        out = jnp.einsum("rstgc,rsgt->rsgc", windows.astype(jnp.float32), weights.astype(jnp.float32))
        o_ref[...] = out.reshape(rows, cols, channels)
    """)

TILE_CALLBACK = dedent("""\
    def involution_tile(x_ref, k_ref, o_ref, *, stride):
        def on_host(x, k):
            x, k = np.asarray(x), np.asarray(k)
            channels = x.shape[-1]
            rows, cols, groups, size = k.shape[:4]
            out = np.zeros((rows, cols, channels), np.float32)
            for ki in range(size):
                for kj in range(size):
                    window = x[ki:ki + stride * (rows - 1) + 1:stride, kj:kj + stride * (cols - 1) + 1:stride]
                    out += window * np.repeat(k[..., ki, kj], channels // groups, axis=-1)
            return out

        o_ref[...] = jax.pure_callback(on_host, jax.ShapeDtypeStruct(o_ref.shape, jnp.float32), x_ref[...], k_ref[...])
    """)

TILE_NESTED_KERNEL = dedent("""\
    def _whole_tile(x_ref, k_ref, o_ref, *, stride):
        rows, cols, channels = o_ref.shape
        groups, size = k_ref.shape[2:4]
        total = jnp.zeros((rows, cols, channels), jnp.float32)
        for ki in range(size):
            for kj in range(size):
                window = x_ref[pl.ds(ki, rows, stride=stride), pl.ds(kj, cols, stride=stride), :]
                total = total + window * jnp.repeat(k_ref[:, :, :, ki, kj], channels // groups, axis=-1)
        o_ref[...] = total


    def involution_tile(x_ref, k_ref, o_ref, *, stride):
        inner = pl.pallas_call(functools.partial(_whole_tile, stride=stride),
                               out_shape=jax.ShapeDtypeStruct(o_ref.shape, jnp.float32), interpret=True)
        o_ref[...] = inner(x_ref[...], k_ref[...])
    """)

SPAN_TAPS = dedent("""\
    def input_span(first, count, kernel_size, stride):
        rows = [i * stride + k for i in range(first, first + count) for k in range(kernel_size)]
        return min(rows), max(rows) + 1
    """)

SPAN_ARANGE = dedent("""\
    def input_span(first, count, kernel_size, stride):
        starts = np.arange(first, first + count) * stride  # where each output row's window starts
        return starts[0], starts[-1] + kernel_size
    """)

SPAN_INDEX_GRID = dedent("""\
    def input_span(first, count, kernel_size, stride):
        # Every padded row each output row reads, as a grid; the span runs from its least to its largest.
        rows = np.arange(first, first + count)[:, None] * stride + np.arange(kernel_size)[None, :]
        return int(rows.min()), int(rows.max()) + 1
    """)

COUNTS_SHAPES = dedent("""\
    import math


    def multiply_add_flops(batch, height, width, channels, kernel_size, stride=1):
        y = (batch, len(range(0, height, stride)), len(range(0, width, stride)), channels)
        return 2 * kernel_size ** 2 * math.prod(y)


    def bytes_moved(method, batch, height, width, channels, kernel_size, groups, stride=1, itemsize=4):
        # The shapes of the arrays each method reads and writes, channels last.
        rows, cols = len(range(0, height, stride)), len(range(0, width, stride))
        shapes = {
            "x": (batch, height, width, channels), "y": (batch, rows, cols, channels),
            "kernel": (batch, rows, cols, groups, kernel_size, kernel_size),
            "patches": (batch, rows, cols, kernel_size * kernel_size, channels),
            "window": (batch, rows, cols, channels), "plane": (batch, rows, cols, groups),
        }
        taps = kernel_size ** 2
        arrays = {
            "fused": [("x", 1), ("kernel", 1), ("y", 1)],
            "unfold": [("x", 1), ("patches", 2), ("kernel", 1), ("y", 1)],
            "slices": [("window", taps), ("plane", taps), ("y", 2 * taps - 1)],
        }
        if method not in arrays:
            raise ValueError(f"no byte count for {method!r}")
        return sum(times * math.prod(shapes[name]) for name, times in arrays[method]) * itemsize
    """)

ROOFLINE_RIDGE = dedent("""\
    def attainable_flops(intensity, peak_flops, bandwidth):
        intensity = np.asarray(intensity, dtype=float)
        ridge = peak_flops / bandwidth  # memory-bound left of it, compute-bound right of it
        return np.where(intensity >= ridge, peak_flops, intensity * bandwidth)


    def time_floor(flops, n_bytes, peak_flops, bandwidth):
        return np.maximum(flops / peak_flops, n_bytes / bandwidth)
    """)

MUTANTS = {
    "ex1": [
        Mutant("the patch tensor counted once (written, never read back)", WRONG, _edit(
            "ex1_counts", ("elements = (n_x + patches) + (patches + n_kernel + n_y)", "elements = n_x + patches + n_kernel + n_y"))),
        Mutant("itemsize ignored (elements, not bytes)", WRONG, _edit(
            "ex1_counts", ("return elements * itemsize", "return elements"))),
        Mutant("output size H // s (rounded down)", WRONG, _edit(
            "ex1_counts",
            ("outputs = batch * channels * -(-height // stride) * -(-width // stride)",
             "outputs = batch * channels * (height // stride) * (width // stride)"),
            ("rows, cols = -(-height // stride), -(-width // stride)", "rows, cols = height // stride, width // stride"))),
        Mutant("slices read a running sum at the first tap too", WRONG, _edit(
            "ex1_counts", ("(taps - 1) * n_y", "taps * n_y"))),
        Mutant("a tally of every operation's reads and writes; math.ceil", RIGHT, {"ex1": COUNTS_TALLY}),
        Mutant("closed formulas; (H + s - 1) // s", RIGHT, {"ex1": COUNTS_FORMULAS}),
        Mutant("the shapes of the arrays read and written, math.prod; len(range(0, H, s))", RIGHT, {"ex1": COUNTS_SHAPES}),
    ],
    "ex2": [
        Mutant("np.maximum: the roof upside down", WRONG, _edit("ex2_roofline", ("np.minimum(", "np.maximum("))),
        Mutant("Python's min (fails on an array of intensities)", WRONG, _edit(
            "ex2_roofline", ("np.minimum(peak_flops, np.asarray(intensity, dtype=float) * bandwidth)",
                             "min(peak_flops, intensity * bandwidth)"))),
        Mutant("the two times added (no overlap of arithmetic and memory)", WRONG, _edit(
            "ex2_roofline", ("max(flops / peak_flops, n_bytes / bandwidth)", "flops / peak_flops + n_bytes / bandwidth"))),
        Mutant("intensity divided by the bandwidth", WRONG, _edit(
            "ex2_roofline", ("np.asarray(intensity, dtype=float) * bandwidth", "np.asarray(intensity, dtype=float) / bandwidth"))),
        Mutant("np.where; the floor as FLOPs over the attainable rate", RIGHT, {"ex2": ROOFLINE_WHERE}),
        Mutant("np.clip; max of a tuple", RIGHT, {"ex2": ROOFLINE_CLIP}),
        Mutant("the ridge P / beta as the switch; np.maximum of the two times", RIGHT, {"ex2": ROOFLINE_RIDGE}),
    ],
    "ex3": [
        Mutant("stride applied to the kernel index (rows ki*s + i)", WRONG, _edit(
            "ex3_tile", ("pl.ds(ki, rows, stride=stride), pl.ds(kj, cols, stride=stride)",
                         "pl.ds(ki * stride, rows), pl.ds(kj * stride, cols)"))),
        Mutant("groups interleaved (jnp.tile, not jnp.repeat)", WRONG, _edit(
            "ex3_tile", ("jnp.repeat(k_ref[:, :, :, ki, kj], channels // groups, axis=-1)",
                         "jnp.tile(k_ref[:, :, :, ki, kj], (1, 1, channels // groups))"))),
        Mutant("NumPy on the host through jax.pure_callback", WRONG, {"ex3": TILE_CALLBACK}),
        Mutant("another kernel called inside, as a package's kernel would be", WRONG, {"ex3": TILE_NESTED_KERNEL}),
        Mutant("the whole block loaded, sliced with Python strides", RIGHT, {"ex3": TILE_SLICED_BLOCK}),
        Mutant("lax.fori_loop over the taps, channels reshaped into groups", RIGHT, {"ex3": TILE_FORI_GROUPS}),
        Mutant("every tap's window stacked, one einsum with the kernels", RIGHT, {"ex3": TILE_EINSUM}),
    ],
    "ex4": [
        Mutant("start not scaled by the stride", WRONG, _edit("ex4_span", ("start = first * stride", "start = first"))),
        Mutant("one stride too far (count * stride rows)", WRONG, _edit(
            "ex4_span", ("(first + count - 1) * stride + kernel_size", "(first + count) * stride + kernel_size - 1"))),
        Mutant("no halo (the kernel's reach left out)", WRONG, _edit(
            "ex4_span", ("(first + count - 1) * stride + kernel_size", "(first + count - 1) * stride + 1"))),
        Mutant("unpadded coordinates (shifted by (K - 1) / 2)", WRONG, _edit(
            "ex4_span", ("return start, (first + count - 1) * stride + kernel_size",
                         "half = (kernel_size - 1) // 2\n    return start - half, (first + count - 1) * stride + kernel_size - half"))),
        Mutant("min and max over every tap's row", RIGHT, {"ex4": SPAN_TAPS}),
        Mutant("np.arange of the window starts (NumPy integers)", RIGHT, {"ex4": SPAN_ARANGE}),
        Mutant("a NumPy grid of every padded row read, its min and max", RIGHT, {"ex4": SPAN_INDEX_GRID}),
    ],
}


def students(source) -> dict:
    return _students(MUTANTS, source)
