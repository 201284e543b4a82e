"""How notebook 06's autograded test cells are judged, outside the student's kernel.

The kernel runs the student's functions on inputs drawn here for each graded run and reports what
they returned; each judge compares that with a NumPy definition worked out here:

* ex1 ``multiply_add_flops``/``bytes_moved``: each method run in NumPy on arrays of the given
  sizes, the bytes of what each operation reads and writes added up;
* ex2 ``attainable_flops``/``time_floor``: the roofline and the floor, from their definitions;
* ex3 ``involution_tile``: the kernel runs in the kernel, through ``pallas_call`` in interpret
  mode; its outputs are compared with the tile's sum, pixel by pixel and tap by tap. That it
  computes the tile itself (no other kernel, no callback to the host, nothing of the course's own
  fused kernels) is judged from the submitted source; the primitives that JAX traced, reported
  by the kernel, must agree;
* ex4 ``input_span``: the rows that the taps of the output rows read.
"""

from __future__ import annotations

import ast

import numpy as np

from involution_instructor.judging import Check, expect, kernel

# ------------------------------------------------------------------ ex1: multiply_add_flops, bytes_moved

COUNTED = ("fused", "unfold", "slices")  # the methods of bytes_moved
ITEMSIZES = {"float16": 2, "float32": 4, "float64": 8}


def counts_inputs(rng):
    sizes = [(1, 4, 4, 1, 3, 1, 1), (2, 5, 5, 3, 3, 1, 2)]  # the visible fixtures
    for number in range(5):
        groups = int(rng.choice([1, 2, 4]))
        stride = int(rng.integers(2, 5)) if number == 0 else int(rng.integers(1, 5))
        height = stride * int(rng.integers(2, 4)) + 1 if number == 0 else int(rng.integers(4, 10))  # ceil matters
        sizes.append((int(rng.integers(1, 4)), height, int(rng.integers(4, 10)), groups * int(rng.integers(1, 3)),
                      int(rng.choice([1, 3, 5])), groups, stride))
    return {
        "sizes": sizes,
        "dtypes": list(ITEMSIZES),
        "bad": ["winograd", "Fused", "patches", ""],
        "rednet": (32, 56, 56, 64, 7, 4),
    }


@kernel
def observe_counts(student, data):
    flops, moved = student["multiply_add_flops"], student["bytes_moved"]

    def described(function, *args):
        result = function(*args)
        return {"int": isinstance(result, int), "value": result}

    seen = {"flops": [], "bytes": [], "bad": []}
    for batch, height, width, channels, size, groups, stride in data["sizes"]:
        seen["flops"].append(outcome(described, flops, batch, height, width, channels, size, stride))
        for dtype in data["dtypes"]:
            itemsize = int(np.dtype(dtype).itemsize)
            seen["bytes"].append([outcome(described, moved, method, batch, height, width, channels, size, groups, stride,
                                          itemsize) for method in ("fused", "unfold", "slices")])
    for method in data["bad"]:
        seen["bad"].append(outcome(moved, method, 1, 4, 4, 1, 3, 1))
    seen["rednet"] = outcome(described, moved, "fused", *data["rednet"])
    return seen


def _counted(method, batch, height, width, channels, size, groups, stride, dtype):
    """Run ``method`` in NumPy on arrays of these sizes (channels last) and add up the bytes of what
    each operation reads and writes."""
    rng = np.random.default_rng(6)
    rows, cols = len(range(0, height, stride)), len(range(0, width, stride))
    x = rng.normal(size=(batch, height, width, channels)).astype(dtype)
    kernel_ = rng.normal(size=(batch, rows, cols, groups, size, size)).astype(dtype)
    half = (size - 1) // 2
    padded = np.pad(x, ((0, 0), (half, half), (half, half), (0, 0)))  # free by the model
    per_group = channels // groups

    def window(ki, kj):
        return padded[:, ki:ki + stride * (rows - 1) + 1:stride, kj:kj + stride * (cols - 1) + 1:stride]

    def plane(ki, kj):
        return np.repeat(kernel_[..., ki, kj], per_group, axis=3)

    if method == "fused":
        out = sum(window(ki, kj) * plane(ki, kj) for ki in range(size) for kj in range(size))
        return x.nbytes + kernel_.nbytes + out.nbytes
    if method == "unfold":
        patches = np.stack([window(ki, kj) for ki in range(size) for kj in range(size)], axis=3)
        moved = x.nbytes + patches.nbytes
        weights = kernel_.reshape(batch, rows, cols, groups, size * size).transpose(0, 1, 2, 4, 3)[..., None]
        out = (patches.reshape(batch, rows, cols, size * size, groups, per_group) * weights).sum(axis=3)
        return moved + patches.nbytes + kernel_.nbytes + out.nbytes
    moved, total = 0, None
    for ki in range(size):
        for kj in range(size):
            shifted, weights = window(ki, kj), kernel_[..., ki, kj]
            moved += shifted.nbytes + weights.nbytes + (0 if total is None else total.nbytes)
            total = shifted * plane(ki, kj) if total is None else total + shifted * plane(ki, kj)
            moved += total.nbytes
    return moved


def counts_expected(data):
    flops, moved = [], []
    for batch, height, width, channels, size, groups, stride in data["sizes"]:
        outputs = np.zeros((batch, len(range(0, height, stride)), len(range(0, width, stride)), channels))
        flops.append(2 * size * size * outputs.size)
        for dtype in data["dtypes"]:
            moved.append([_counted(m, batch, height, width, channels, size, groups, stride, dtype) for m in COUNTED])
    return {"flops": flops, "bytes": moved}


def _whole(seen, what):
    got = expect.value(seen, what)
    if not isinstance(got, dict) or got.get("int") is not True:
        raise AssertionError(f"{what} should return a Python int")
    return got["value"]


def judge_counts(ctx):
    sizes = ctx.data["sizes"]
    for arguments, seen, want in zip(sizes, ctx.seen["flops"], ctx.expected["flops"]):
        batch, height, width, channels, size, _, stride = arguments
        what = f"multiply_add_flops{(batch, height, width, channels, size, stride)}"
        expect.equal(_whole(seen, what), want, what + " (2 * K^2 * B * C * ceil(H/s) * ceil(W/s))")
    calls = [(arguments, dtype) for arguments in sizes for dtype in ctx.data["dtypes"]]
    for (arguments, dtype), seen, want in zip(calls, ctx.seen["bytes"], ctx.expected["bytes"]):
        for method, one, expected in zip(COUNTED, seen, want):
            what = f"bytes_moved({method!r}, {', '.join(map(str, arguments))}, itemsize={ITEMSIZES[dtype]})"
            expect.equal(_whole(one, what), expected, what)
    for method, seen in zip(ctx.data["bad"], ctx.seen["bad"]):
        expect.raised(seen, "ValueError", f"bytes_moved({method!r}, ...): only 'fused', 'unfold' and 'slices' are defined;")
    what = "bytes_moved('fused', 32, 56, 56, 64, 7, 4)"
    expect.equal(_whole(ctx.seen["rednet"], what), 130_056_192, what + " (the RedNet-sized case)")


# ------------------------------------------------------------------ ex2: attainable_flops, time_floor


def roofline_inputs(rng):
    floors = [(1e9, 1e9, 1e12, 1e11), (1e12, 1e9, 1e12, 1e11)]
    floors += [(float(10 ** rng.uniform(6, 13)), float(10 ** rng.uniform(6, 11)), float(10 ** rng.uniform(11, 14)),
                float(10 ** rng.uniform(10, 13))) for _ in range(30)]
    return {
        "arrays": [(np.array([1.0, 8.0, 16.0, 100.0]), 64e12, 4e12),
                   (10 ** rng.uniform(-2, 3, size=200), float(rng.uniform(20e12, 100e12)), float(rng.uniform(1e12, 5e12)))],
        "scalars": [(2.0, 64e12, 4e12)] + [(float(i), 1e12, 2e11) for i in (rng.uniform(0.1, 4.0), 5.0, rng.uniform(6.0, 1e4))],
        "floors": floors,
    }


@kernel
def observe_roofline(student, data):
    attainable, floor = student["attainable_flops"], student["time_floor"]
    return {
        "arrays": [outcome(attainable, np.array(intensity), peak, bandwidth) for intensity, peak, bandwidth in data["arrays"]],
        "scalars": [outcome(attainable, intensity, peak, bandwidth) for intensity, peak, bandwidth in data["scalars"]],
        "floors": [outcome(floor, *arguments) for arguments in data["floors"]],
    }


def _one_number(seen, what):
    got = expect.array(expect.value(seen, what), what)
    if got.size != 1:
        raise AssertionError(f"{what}: expected one number, got an array of shape {got.shape}")
    return got.reshape(())


def judge_roofline(ctx):
    for (intensity, peak, bandwidth), seen in zip(ctx.data["arrays"], ctx.seen["arrays"]):
        memory = intensity * bandwidth
        what = f"attainable_flops of {len(intensity)} intensities (peak {peak:.3g}, bandwidth {bandwidth:.3g})"
        expect.close(expect.value(seen, what), np.where(memory < peak, memory, peak),
                     what + ": below the ridge intensity * bandwidth, above it the peak", atol=0, rtol=1e-12)
    for (intensity, peak, bandwidth), seen in zip(ctx.data["scalars"], ctx.seen["scalars"]):
        what = f"attainable_flops({intensity:g}, {peak:g}, {bandwidth:g})"
        expect.close(_one_number(seen, what), min(peak, intensity * bandwidth), what, atol=0, rtol=1e-12)
    for (flops, n_bytes, peak, bandwidth), seen in zip(ctx.data["floors"], ctx.seen["floors"]):
        what = f"time_floor({flops:.3g}, {n_bytes:.3g}, {peak:.3g}, {bandwidth:.3g})"
        want = flops / peak if flops / peak > n_bytes / bandwidth else n_bytes / bandwidth
        expect.close(_one_number(seen, what), want, what + " (the larger of the two times, in seconds)", atol=0, rtol=1e-12)


# ------------------------------------------------------------------ ex3: involution_tile

# (channels, groups, kernel_size, stride, rows, cols) of the tiles drawn for each run.
TILES = [(6, 3, 3, 2, 3, 4), (4, 1, 5, 1, 3, 3), (6, 6, 3, 3, 2, 3), (8, 2, 5, 2, 2, 5), (3, 1, 1, 1, 4, 2),
         (8, 4, 3, 2, 3, 3), (2, 2, 5, 3, 2, 2)]
# Names whose use makes a tile kernel not compute its tile itself: another kernel, a callback to
# the host, the course's own fused kernels.
NOT_THE_TILE = {"pallas_call", "pure_callback", "io_callback", "callback", "host_callback"}
FUSED = {"pallas_kernels", "triton_kernels", "fused_multiply_add"}


def _one_tap(size, ki, kj, rows, cols):
    kernel_ = np.zeros((rows, cols, 1, size, size))
    kernel_[:, :, :, ki, kj] = 1.0
    return kernel_


def tile_inputs(rng):
    """Tiles channels last: x (R_in, S_in, C), kernels (R, S, G, K, K)."""
    tiles = []
    for ki, kj in ((1, 1), (0, 2), (2, 0)):
        tiles.append((np.arange(16.0).reshape(4, 4, 1), _one_tap(3, ki, kj, 2, 2), 1))
    for ki, kj in ((0, 0), (2, 1)):
        tiles.append((np.arange(25.0).reshape(5, 5, 1), _one_tap(3, ki, kj, 2, 2), 2))
    tiles.append((rng.normal(size=(6, 7, 4)).astype("float32"), rng.normal(size=(4, 5, 2, 3, 3)).astype("float32"), 1))
    for index in rng.choice(len(TILES), size=4, replace=False):
        channels, groups, size, stride, rows, cols = TILES[index]
        x_block = rng.normal(size=((rows - 1) * stride + size, (cols - 1) * stride + size, channels)).astype("float32")
        tiles.append((x_block, rng.normal(size=(rows, cols, groups, size, size)).astype("float32"), stride))
    return tiles


@kernel
def observe_tile(student, tiles):
    import functools

    import jax
    import jax.numpy as jnp
    from jax.experimental import pallas as pl

    tile_kernel = student["involution_tile"]

    def call_of(x_block, k_block, stride):
        return pl.pallas_call(functools.partial(tile_kernel, stride=stride),
                              out_shape=jax.ShapeDtypeStruct((*k_block.shape[:2], x_block.shape[-1]), jnp.float32),
                              interpret=True)

    def run(x_block, k_block, stride):
        return np.asarray(call_of(x_block, k_block, stride)(jnp.asarray(x_block, jnp.float32), jnp.asarray(k_block, jnp.float32)))

    def primitives(jaxpr, found):
        for equation in jaxpr.eqns:
            found.append(str(equation.primitive.name))
            for value in equation.params.values():
                for inner in value if isinstance(value, (list, tuple)) else [value]:
                    inner = getattr(inner, "jaxpr", inner)
                    if hasattr(inner, "eqns"):
                        primitives(inner, found)
        return found

    def traced(x_block, k_block, stride):
        call = call_of(x_block, k_block, stride)
        x, k = jnp.asarray(x_block, jnp.float32), jnp.asarray(k_block, jnp.float32)
        return primitives(jax.make_jaxpr(call)(x, k).jaxpr, [])

    x_block, k_block, stride = tiles[-1]
    return {"outputs": [outcome(run, *tile) for tile in tiles], "primitives": outcome(traced, x_block, k_block, stride)}


def _tile_sum(x_block, k_block, stride):
    """The tile's outputs (R, S, C), position by position and tap by tap (float64)."""
    height, width, n_groups, taps = k_block.shape[:4]
    per_group = x_block.shape[-1] // n_groups
    total = np.zeros((height, width, x_block.shape[-1]))
    for i, j, c in np.ndindex(*total.shape):
        for ki, kj in np.ndindex(taps, taps):
            total[i, j, c] += x_block[stride * i + ki, stride * j + kj, c] * k_block[i, j, c // per_group, ki, kj]
    return total


def tile_expected(tiles):
    return [_tile_sum(np.asarray(x, dtype=float), np.asarray(k, dtype=float), stride) for x, k, stride in tiles]


def _reached(source, function: str) -> list:
    """The student's function ``function`` and those of theirs that it calls, followed by name."""
    defined = source.functions()
    names = {function} | {called.split(".")[-1] for called in source.calls(function)}
    return [defined[name] for name in sorted(names) if name in defined]


def _named_inside(nodes, names: set[str]) -> list[str]:
    found = []
    for tree in nodes:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in names:
                found.append(node.attr)
            elif isinstance(node, ast.Name) and node.id in names:
                found.append(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.append(repr(node.value))
    return sorted(set(found))


def judge_tile(ctx):
    if "involution_tile" not in ctx.source.functions():
        raise AssertionError("define involution_tile in the answer cell")
    inside = _named_inside(_reached(ctx.source, "involution_tile"), NOT_THE_TILE)
    if inside:
        raise AssertionError(f"involution_tile must compute the tile itself with jax.numpy on the blocks, not call another "
                             f"kernel or a callback to the host; it uses {', '.join(inside)}")
    fused = ctx.source.uses(FUSED | {"pure_callback", "io_callback"}, {"involution_course.fused", "jax.experimental.host_callback"})
    if fused:
        raise AssertionError(f"involution_tile must compute the tile itself, not with the course's fused kernels or a "
                             f"callback; your code uses {', '.join(fused)}")
    for (x_block, k_block, stride), seen, want in zip(ctx.data, ctx.seen["outputs"], ctx.expected):
        channels = x_block.shape[-1]
        rows, cols, groups, size = k_block.shape[:4]
        what = f"involution_tile with C={channels}, G={groups}, K={size}, stride {stride}, a {rows} x {cols} tile"
        got = expect.shape(expect.value(seen, what), want.shape, what + " (the output tile is (R, S, C))")
        if groups == 1 and channels == 1 and np.count_nonzero(k_block) == rows * cols:
            ki, kj = (int(v) for v in np.argwhere(k_block[0, 0, 0])[0])
            hint = f"only tap ({ki}, {kj}): output (i, j) reads x_ref[{stride}*i + {ki}, {stride}*j + {kj}, 0]"
        else:
            hint = "channel c uses group c // (C / G)'s kernels"
        expect.close(got, want, f"{what} ({hint})", atol=1e-4, rtol=1e-4)
    used = expect.value(ctx.seen["primitives"], "tracing involution_tile")
    if not isinstance(used, list) or not all(isinstance(name, str) for name in used):
        raise AssertionError("tracing involution_tile did not give the primitives it runs")
    if used.count("pallas_call") != 1:
        raise AssertionError("involution_tile must compute the tile itself, not call another kernel")
    callbacks = sorted({name for name in used if "callback" in name})
    if callbacks:
        raise AssertionError(f"involution_tile must compute with jax.numpy on the blocks; it uses {callbacks}")


# ------------------------------------------------------------------ ex4: input_span


def span_inputs(rng):
    cases = [(0, 4, 3, 1), (4, 4, 3, 1), (1, 2, 3, 2), (0, 3, 1, 1)]  # the visible fixtures
    cases += [(first, count, size, stride) for first in range(5) for count in range(1, 5)
              for size in (1, 3, 5, 7) for stride in (1, 2, 3, 4)]
    cases += [(int(rng.integers(0, 200)), int(rng.integers(1, 40)), int(rng.choice([1, 3, 5, 7, 9])), int(rng.integers(1, 6)))
              for _ in range(20)]
    return cases


@kernel
def observe_span(student, cases):
    input_span = student["input_span"]

    def described(*arguments):
        span = input_span(*arguments)
        shaped = isinstance(span, tuple) and len(span) == 2
        whole = shaped and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in span)
        return {"pair": shaped, "whole": whole, "value": span}

    return [outcome(described, *case) for case in cases]


def judge_span(ctx):
    for (first, count, size, stride), seen in zip(ctx.data, ctx.seen):
        what = f"input_span({first}, {count}, {size}, {stride})"
        got = expect.value(seen, what)
        if not isinstance(got, dict) or got.get("pair") is not True:
            raise AssertionError(f"{what} should return a tuple (start, stop)")
        if got.get("whole") is not True:
            raise AssertionError(f"{what}: start and stop should be whole numbers")
        rows = sorted({i * stride + k for i in range(first, first + count) for k in range(size)})
        expect.equal(got["value"], (rows[0], rows[-1] + 1), what + f" (output rows {first}..{first + count - 1}, "
                     f"each reading K = {size} padded rows from row * {stride})")


CHECKS = [
    Check("ex1_test_counts", observe_counts, judge_counts, counts_inputs, counts_expected, rules=(
        ("multiply_add_flops: 2 K^2 B C ceil(H/s) ceil(W/s)", "multiply_add_flops(2, 5, 5, 3, 3, stride=2)"),
        ("whole numbers (Python int)", "should return a Python int"),
        ("bytes_moved: each method's bytes by the model", "by the model:"),
        ("bytes for any itemsize", "bytes = elements * itemsize"),
        ("a ValueError for any other method", "should raise a ValueError"))),
    Check("ex2_test_roofline", observe_roofline, judge_roofline, roofline_inputs, rules=(
        ("attainable_flops element by element on an array, min(P, I * beta)", "element by element"),
        ("attainable_flops: a number for a number", "of one intensity should give one number"),
        ("time_floor is the larger of the two times, in seconds", "is the larger of the two times"))),
    Check("ex3_test_tile", observe_tile, judge_tile, tile_inputs, tile_expected, rules=(
        ("the tile's outputs (R, S, C) for any C, G, K, stride and tile size", "_tile_definition(_x, _k, _stride)"),
        ("the tile computed with jax.numpy on the blocks: no other kernel, no callback to the host, nothing of the "
         "course's fused kernels (read from the source; the traced primitives must agree)", "code_rules.assert_own_code(involution_tile"))),
    Check("ex4_test_span", observe_span, judge_span, span_inputs, rules=(
        ("a tuple of two whole numbers", "should return a tuple (start, stop)"),
        ("the padded rows [start, stop) that the output rows read", "read padded rows"))),
]
