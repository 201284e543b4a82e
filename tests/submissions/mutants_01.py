"""Notebook 01's mutants: plausible wrong answers and correct alternatives of every exercise.

A wrong answer is mostly the solution with one edit (``_edit`` fails when the solution no longer
holds the text it replaces); a right one is another method written out. See
tests/submissions/mutants.py for how they become students, and docs/mutants.md for the result.
"""

from __future__ import annotations

from textwrap import dedent, indent

from submissions.mutants import RIGHT, WRONG, Mutant, edited, solution_answer, students as _students

ASSIGNMENT = "01-convolution"


def _solution(grade_id: str) -> str:
    return solution_answer(ASSIGNMENT, grade_id)


def _edit(grade_id: str, *replacements: tuple[str, str]) -> dict[str, str]:
    return edited(ASSIGNMENT, grade_id, *replacements)


# The argument checks, padding and output size that every right alternative begins with.
PRELUDE = """
    x = np.asarray(x, dtype=float)
    w = np.asarray(w, dtype=float)
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', not {padding!r}")
    if x.shape[-1] != w.shape[2]:
        raise ValueError("x and w disagree on the input channels")
    n, h, wd, c = x.shape
    k = w.shape[0]
    if padding == "same":
        oh, ow = -(-h // stride), -(-wd // stride)
        ph, pw = max((oh - 1) * stride + k - h, 0), max((ow - 1) * stride + k - wd, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
"""


def _taps(name: str, product: str) -> str:
    """A loop over the K x K taps only: each tap's strided slice of the input times its kernel slice."""
    return f"def {name}(x, w, b=None, stride=1, padding='valid'):" + PRELUDE + indent(dedent(f"""\
            y = np.zeros((n, oh, ow, w.shape[-1]))
            for u in range(k):
                for v in range(k):
                    patch = x[:, u : u + stride * (oh - 1) + 1 : stride, v : v + stride * (ow - 1) + 1 : stride, :]
                    y += {product}
            return y if b is None else y + np.asarray(b, dtype=float)
        """), "    ")


def _im2col(name: str) -> str:
    """Every window as a row of a matrix (im2col), times the kernels as a matrix."""
    return f"def {name}(x, w, b=None, stride=1, padding='valid'):" + PRELUDE + indent(dedent("""\
            windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]
            rows = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, k * k * c)
            y = (rows @ w.reshape(k * k * c, -1)).reshape(n, oh, ow, -1)
            return y if b is None else y + np.asarray(b, dtype=float)
        """), "    ")


NAIVE, FAST, SHAPES, SHIFTS, SWAPS = (
    "ex1_conv2d_naive", "ex2_conv2d_fast", "ex3_shapes_and_parameters", "ex4_spatial_agnostic", "ex4_channel_specific")
SOLUTION_PADS = "return total // 2, total - total // 2"
SYMMETRIC_PADS = "return (k - 1) // 2, (k - 1) // 2"

MUTANTS = {
    "ex1": [
        Mutant("symmetric 'same' padding, (K-1)//2 on each side", WRONG, _edit(NAIVE, (SOLUTION_PADS, SYMMETRIC_PADS))),
        Mutant("flipped kernel (a true convolution, not Keras' correlation)", WRONG,
               _edit(NAIVE, ("window * w[:, :, :, o]", "window * w[::-1, ::-1, :, o]"))),
        Mutant("bias left out", WRONG, _edit(NAIVE, ("y += np.asarray(b, dtype=np.float64)", "pass"))),
        Mutant("windows one pixel apart whatever the stride", WRONG,
               _edit(NAIVE, ("i * stride : i * stride + k_rows, j * stride : j * stride + k_cols", "i : i + k_rows, j : j + k_cols"))),
        Mutant("loops over the K x K taps, a strided slice each", RIGHT, {NAIVE: _taps("conv2d_naive", "patch @ w[u, v]")}),
        Mutant("im2col: sliding windows as rows, one matrix product", RIGHT, {NAIVE: _im2col("conv2d_naive")}),
    ],
    "ex2": [
        Mutant("calls the loop version", WRONG, {FAST: dedent("""\
            def conv2d_fast(x, w, b=None, stride=1, padding="valid"):
                return conv2d_naive(x, w, b, stride=stride, padding=padding)
            """)}),
        Mutant("a copy of the loop version", WRONG, {FAST: _solution(NAIVE).replace("def conv2d_naive", "def conv2d_fast")}),
        Mutant("symmetric 'same' padding, (K-1)//2 on each side", WRONG, _edit(FAST, (SOLUTION_PADS, SYMMETRIC_PADS))),
        Mutant("flipped kernel (a true convolution, not Keras' correlation)", WRONG,
               _edit(FAST, ('"nijcuv,uvco->nijo", windows, w,', '"nijcuv,uvco->nijo", windows, w[::-1, ::-1],'))),
        Mutant("im2col: sliding windows as rows, one matrix product", RIGHT, {FAST: _im2col("conv2d_fast")}),
        Mutant("tensordot per K x K tap", RIGHT,
               {FAST: _taps("conv2d_fast", "np.tensordot(patch, w[u, v], axes=([3], [0]))")}),
    ],
    "ex3": [
        Mutant("symmetric 'same' padding in the output size", WRONG, _edit(SHAPES, (
            "return (-(-height // stride), -(-width // stride), filters)",
            "pad = (kernel_size - 1) // 2\n        return ((height + 2 * pad - kernel_size) // stride + 1, "
            "(width + 2 * pad - kernel_size) // stride + 1, filters)"))),
        Mutant("'same' size rounded down, H // s", WRONG, _edit(SHAPES, (
            "return (-(-height // stride), -(-width // stride), filters)", "return (height // stride, width // stride, filters)"))),
        Mutant("'valid' size (H - K + 1) // s", WRONG, _edit(SHAPES, (
            "return ((height - kernel_size) // stride + 1, (width - kernel_size) // stride + 1, filters)",
            "return ((height - kernel_size + 1) // stride, (width - kernel_size + 1) // stride, filters)"))),
        Mutant("parameters without the biases", WRONG, _edit(SHAPES, ("+ (filters if use_bias else 0)", ""))),
        Mutant("sizes from the padding's total, math.ceil", RIGHT, {SHAPES: dedent("""\
            import math


            def conv_output_shape(input_shape, filters, kernel_size, stride=1, padding="valid"):
                if padding not in ("valid", "same"):
                    raise ValueError(f"unknown padding {padding!r}")
                sizes = []
                for size in input_shape[:2]:
                    if padding == "same":
                        total = max((math.ceil(size / stride) - 1) * stride + kernel_size - size, 0)
                    else:
                        total = 0
                    sizes.append((size + total - kernel_size) // stride + 1)
                return (sizes[0], sizes[1], filters)


            def conv_param_count(in_channels, filters, kernel_size, use_bias=True):
                weights = kernel_size ** 2 * in_channels * filters
                return weights + filters if use_bias else weights
            """)}),
        Mutant("counting the windows with range", RIGHT, {SHAPES: dedent("""\
            def conv_output_shape(input_shape, filters, kernel_size, stride=1, padding="valid"):
                h, w, _ = input_shape
                if padding == "same":
                    return (len(range(0, h, stride)), len(range(0, w, stride)), filters)
                if padding == "valid":
                    return (len(range(0, h - kernel_size + 1, stride)), len(range(0, w - kernel_size + 1, stride)), filters)
                raise ValueError("padding must be 'valid' or 'same'")


            def conv_param_count(in_channels, filters, kernel_size, use_bias=True):
                per_filter = kernel_size * kernel_size * in_channels + int(bool(use_bias))
                return per_filter * filters
            """)}),
    ],
    "ex4": [
        Mutant("shift with np.roll (wraps around)", WRONG, {SHIFTS: _solution(SHIFTS).replace(
            _solution(SHIFTS).split("def shift_image")[1].split("def translation_error")[0],
            '(x, dy, dx):\n    return np.roll(np.asarray(x), (dy, dx), axis=(1, 2))\n\n\n')}),
        Mutant("shift the wrong way (dy up, dx left)", WRONG, _edit(SHIFTS, ("x = np.asarray(x)\n    height", "x = np.asarray(x)\n    dy, dx = -dy, -dx\n    height"))),
        Mutant("margin ignored", WRONG, _edit(SHIFTS, (
            "inside = (slice(None), slice(margin, height - margin), slice(margin, width - margin))", "inside = (slice(None),)"))),
        Mutant("swap_kernels swaps in place", WRONG, _edit(SWAPS, (
            "order = np.arange(np.shape(w)[-1])\n    order[[i, j]] = order[[j, i]]\n    return np.asarray(w)[..., order], np.asarray(b)[order]",
            "w[..., [i, j]] = w[..., [j, i]]\n    b[[i, j]] = b[[j, i]]\n    return w, b"))),
        Mutant("shift by padding and cropping; swap on copies", RIGHT, {
            SHIFTS: dedent("""\
                def shift_image(x, dy, dx):
                    x = np.asarray(x)
                    h, w = x.shape[1:3]
                    big = np.pad(x, ((0, 0), (abs(dy), abs(dy)), (abs(dx), abs(dx)), (0, 0)))
                    return big[:, abs(dy) - dy : abs(dy) - dy + h, abs(dx) - dx : abs(dx) - dx + w].copy()


                def translation_error(f, x, dy, dx, margin):
                    h, w = np.shape(x)[1:3]
                    if h - 2 * margin <= 0 or w - 2 * margin <= 0:
                        raise ValueError("the margin leaves no pixel")
                    difference = np.asarray(f(shift_image(x, dy, dx))) - shift_image(np.asarray(f(x)), dy, dx)
                    return float(np.abs(difference[:, margin : h - margin, margin : w - margin]).max())
                """),
            SWAPS: dedent("""\
                def swap_kernels(w, b, i, j):
                    w, b = np.array(w, copy=True), np.array(b, copy=True)
                    w[..., [i, j]] = w[..., [j, i]]
                    b[[i, j]] = b[[j, i]]
                    return w, b


                def swap_error(conv, x, w, b, i, j):
                    swapped = np.array(conv(x, *swap_kernels(w, b, i, j)))
                    expected = np.array(conv(x, w, b))
                    expected[..., [i, j]] = expected[..., [j, i]]
                    return float(np.abs(swapped - expected).max())
                """),
        }),
        Mutant("shift pixel by pixel; swap with np.take", RIGHT, {
            SHIFTS: dedent("""\
                def shift_image(x, dy, dx):
                    x = np.asarray(x)
                    h, w = x.shape[1:3]
                    out = np.zeros_like(x)
                    for r in range(h):
                        for c in range(w):
                            if 0 <= r - dy < h and 0 <= c - dx < w:
                                out[:, r, c] = x[:, r - dy, c - dx]
                    return out


                def translation_error(f, x, dy, dx, margin):
                    h, w = np.shape(x)[1:3]
                    rows, cols = np.arange(margin, h - margin), np.arange(margin, w - margin)
                    if rows.size == 0 or cols.size == 0:
                        raise ValueError("no pixel is that far from the borders")
                    gap = np.abs(np.asarray(f(shift_image(x, dy, dx))) - shift_image(np.asarray(f(x)), dy, dx))
                    return float(gap[:, rows][:, :, cols].max())
                """),
            SWAPS: dedent("""\
                def swap_kernels(w, b, i, j):
                    order = list(range(np.shape(w)[-1]))
                    order[i], order[j] = order[j], order[i]
                    return np.take(w, order, axis=-1), np.take(b, order)


                def swap_error(conv, x, w, b, i, j):
                    order = list(range(np.shape(w)[-1]))
                    order[i], order[j] = order[j], order[i]
                    ws, bs = swap_kernels(w, b, i, j)
                    return float(np.max(np.abs(np.asarray(conv(x, ws, bs)) - np.take(np.asarray(conv(x, w, b)), order, axis=-1))))
                """),
        }),
    ],
}


def students(source) -> dict:
    return _students(MUTANTS, source)
