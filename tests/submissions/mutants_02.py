"""Notebook 02's mutants: plausible wrong answers and correct alternatives of every exercise.

A wrong answer is mostly the solution with one edit (``_edit`` fails when the solution no longer
holds the text it replaces); a right one is another method written out. See
tests/submissions/mutants.py for how they become students, and docs/mutants.md for the result.
"""

from __future__ import annotations

from textwrap import dedent

from submissions.mutants import RIGHT, WRONG, Mutant, edited, solution_answer, students as _students

ASSIGNMENT = "02-involution-numpy"


def _solution(grade_id: str) -> str:
    return solution_answer(ASSIGNMENT, grade_id)


def _edit(grade_id: str, *replacements: tuple[str, str]) -> dict[str, str]:
    return edited(ASSIGNMENT, grade_id, *replacements)


def _renamed(grade_id: str, old: str, new: str) -> dict[str, str]:
    """The solution's answer to another exercise, its function renamed: ``{grade_id: code}``."""
    source = {"involution_forward": "ex3_involution_forward", "involution_naive": "ex2_involution_naive"}[old]
    code = _solution(source).split("\n\n# Try it")[0]
    return {grade_id: code.replace(f"def {old}(", f"def {new}(") + "\n"}


GENERATE, NAIVE, FORWARD, BACKWARD, COUNTING, KERNELS_AT = (
    "ex1_generate_kernel", "ex2_involution_naive", "ex3_involution_forward", "ex4_backward", "ex5_counting", "ex6_kernels_at")

PATCH_EINSUM = dedent("""\
    def {name}(x, kernel, stride=1):
        batch, _, _, channels = x.shape
        _, out_h, out_w, groups, k, _ = kernel.shape
        pad = (k - 1) // 2
        x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        rows = np.arange(out_h)[:, None] * stride + np.arange(k)[None, :]
        cols = np.arange(out_w)[:, None] * stride + np.arange(k)[None, :]
        patches = x_pad[:, rows[:, None, :, None], cols[None, :, None, :], :]  # (B, H_out, W_out, K, K, C)
        patches = patches.reshape(batch, out_h, out_w, k * k, groups, channels // groups)
        out = np.einsum("bhwngc,bhwgn->bhwgc", patches, kernel.reshape(batch, out_h, out_w, groups, k * k))
        return out.reshape(batch, out_h, out_w, channels)
    """)

IM2COL = dedent("""\
    def {name}(x, kernel, stride=1):
        batch, out_h, out_w, groups, k, _ = kernel.shape
        width = x.shape[-1] // groups
        pad = (k - 1) // 2
        x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        rows = np.arange(out_h)[:, None] * stride + np.arange(k)
        cols = np.arange(out_w)[:, None] * stride + np.arange(k)
        out = np.empty((batch * out_h * out_w, x.shape[-1]))
        for g in range(groups):
            # The patch matrix of group g: one row per (position, channel), one column per tap; then one product.
            part = x_pad[..., g * width : (g + 1) * width][:, rows[:, None, :, None], cols[None, :, None, :]]  # (B, Ho, Wo, K, K, C/G)
            patch_matrix = np.moveaxis(part, 5, 3).reshape(batch * out_h * out_w, width, k * k)
            taps = kernel[:, :, :, g].reshape(batch * out_h * out_w, k * k, 1)
            out[:, g * width : (g + 1) * width] = np.matmul(patch_matrix, taps)[..., 0]
        return out.reshape(batch, out_h, out_w, x.shape[-1])
    """)

# No padding: tap (u, v) reads input (s i + u, s j + v), which exists for a range of output rows and columns; it adds
# into that output slice only.
VALID_RANGES = dedent("""\
    def involution_forward(x, kernel, stride=1):
        batch, out_h, out_w, groups, k, _ = kernel.shape
        height, width = x.shape[1:3]
        half = k // 2
        x_groups = x.reshape(batch, height, width, groups, -1)
        out = np.zeros((batch, out_h, out_w, groups, x.shape[-1] // groups))

        def valid(offset, size, count):
            first = max(0, -(-(-offset) // stride))  # the first output whose input s i + offset is >= 0
            last = min(count, (size - 1 - offset) // stride + 1)  # one past the last whose input is < size
            return first, last

        for ki in range(k):
            for kj in range(k):
                (i0, i1), (j0, j1) = valid(ki - half, height, out_h), valid(kj - half, width, out_w)
                if i0 >= i1 or j0 >= j1:
                    continue
                rows = slice(stride * i0 + ki - half, stride * (i1 - 1) + ki - half + 1, stride)
                cols = slice(stride * j0 + kj - half, stride * (j1 - 1) + kj - half + 1, stride)
                out[:, i0:i1, j0:j1] += x_groups[:, rows, cols] * kernel[:, i0:i1, j0:j1, :, ki, kj, None]
        return out.reshape(batch, out_h, out_w, x.shape[-1])
    """)

MUTANTS = {
    "ex1": [
        Mutant("ReLU left out", WRONG, _edit(GENERATE, ("np.maximum(normalised, 0.0) @", "normalised @"))),
        Mutant("tap-major span channels, (K, K, G)", WRONG, _edit(GENERATE, (
            "spanned.reshape(batch, out_h, out_w, groups, kernel_size, kernel_size)",
            "spanned.reshape(batch, out_h, out_w, kernel_size, kernel_size, groups).transpose(0, 1, 2, 5, 3, 4)"))),
        Mutant("batch normalisation divides by the variance", WRONG, _edit(GENERATE, (
            'np.sqrt(params["bn_var"] + BN_EPSILON)', '(params["bn_var"] + BN_EPSILON)'))),
        Mutant("stride by subsampling instead of average pooling", WRONG, _edit(GENERATE, (
            "pooled = average_pool(x, stride)", "pooled = x[:, ::stride, ::stride]"))),
        Mutant("batch normalisation folded into reduce, einsum", RIGHT, {GENERATE: dedent("""\
            def generate_kernel(x, params, kernel_size, stride=1, groups=1):
                pooled = average_pool(x, stride)
                scale = params["bn_gamma"] / np.sqrt(params["bn_var"] + BN_EPSILON)
                w0 = params["reduce_w"] * scale
                b0 = (params["reduce_b"] - params["bn_mean"]) * scale + params["bn_beta"]
                activated = np.maximum(np.einsum("bhwc,cr->bhwr", pooled, w0) + b0, 0.0)
                spanned = np.einsum("bhwr,rk->bhwk", activated, params["span_w"]) + params["span_b"]
                return spanned.reshape(*spanned.shape[:3], groups, kernel_size, kernel_size)
            """)}),
        Mutant("a loop over positions, one pixel at a time", RIGHT, {GENERATE: dedent("""\
            def generate_kernel(x, params, kernel_size, stride=1, groups=1):
                pooled = average_pool(x, stride)
                batch, out_h, out_w, _ = pooled.shape
                out = np.empty((batch, out_h, out_w, groups, kernel_size, kernel_size))
                for b in range(batch):
                    for i in range(out_h):
                        for j in range(out_w):
                            z = pooled[b, i, j] @ params["reduce_w"] + params["reduce_b"]
                            n = params["bn_gamma"] * (z - params["bn_mean"]) / np.sqrt(params["bn_var"] + BN_EPSILON) + params["bn_beta"]
                            s = np.maximum(n, 0.0) @ params["span_w"] + params["span_b"]
                            out[b, i, j] = s.reshape(groups, kernel_size, kernel_size)
                return out
            """)}),
    ],
    "ex2": [
        Mutant("interleaved groups, c % G", WRONG, _edit(NAIVE, ("kernel[b, i, j, c // group_width]", "kernel[b, i, j, c % n_groups]"))),
        Mutant("flipped kernel", WRONG, _edit(NAIVE, ("kernel[b, i, j, c // group_width]", "kernel[b, i, j, c // group_width][::-1, ::-1]"))),
        Mutant("windows one pixel apart whatever the stride", WRONG, _edit(NAIVE, (
            "i * stride : i * stride + size, j * stride : j * stride + size", "i : i + size, j : j + size"))),
        Mutant("all the padding at the bottom and right", WRONG, _edit(NAIVE, (
            "np.pad(x, [(0, 0), (half, half), (half, half), (0, 0)])", "np.pad(x, [(0, 0), (0, 2 * half), (0, 2 * half), (0, 0)])"))),
        Mutant("loops over the K x K taps (shifted slices)", RIGHT, _renamed(NAIVE, "involution_forward", "involution_naive")),
        Mutant("a patch tensor and einsum", RIGHT, {NAIVE: PATCH_EINSUM.format(name="involution_naive")}),
        Mutant("im2col: a patch matrix and one product per group", RIGHT, {NAIVE: IM2COL.format(name="involution_naive")}),
    ],
    "ex3": [
        Mutant("calls the loop version", WRONG, {FORWARD: dedent("""\
            def involution_forward(x, kernel, stride=1):
                return involution_naive(x, kernel, stride)
            """)}),
        Mutant("a patch tensor and einsum", WRONG, {FORWARD: PATCH_EINSUM.format(name="involution_forward")}),
        Mutant("interleaved groups, c % G", WRONG, _edit(FORWARD, (
            "grouped = padded.reshape(*padded.shape[:3], n_groups, -1)",
            "grouped = padded.reshape(*padded.shape[:3], -1, n_groups).swapaxes(-1, -2)"), (
            "return total.reshape(", "return total.swapaxes(-1, -2).reshape("))),
        Mutant("a copy of the loop version", WRONG, _renamed(FORWARD, "involution_naive", "involution_forward")),
        Mutant("unfold with the notebook's extract_patches, then einsum", WRONG, {FORWARD: dedent("""\
            def involution_forward(x, kernel, stride=1):
                batch, out_h, out_w, groups, k, _ = kernel.shape
                patches = extract_patches(x, k, stride).reshape(batch, out_h, out_w, k, k, groups, -1)
                out = np.einsum("bhwuvgc,bhwguv->bhwgc", patches, kernel)
                return out.reshape(batch, out_h, out_w, x.shape[-1])
            """)}),
        Mutant("per-tap valid ranges, no padding", RIGHT, {FORWARD: VALID_RANGES}),
        Mutant("sliding_window_view and einsum (no copy)", RIGHT, {FORWARD: dedent("""\
            def involution_forward(x, kernel, stride=1):
                batch, out_h, out_w, groups, k, _ = kernel.shape
                pad = (k - 1) // 2
                x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
                windows = np.lib.stride_tricks.sliding_window_view(x_pad, (k, k), axis=(1, 2))
                windows = windows[:, ::stride, ::stride][:, :out_h, :out_w]  # a view: (B, H_out, W_out, C, K, K)
                windows = windows.reshape(batch, out_h, out_w, groups, -1, k, k)
                out = np.einsum("bhwgckl,bhwgkl->bhwgc", windows, kernel)
                return out.reshape(batch, out_h, out_w, x.shape[-1])
            """)}),
        Mutant("a tap-major copy of the kernel", RIGHT, {FORWARD: dedent("""\
            def involution_forward(x, kernel, stride=1):
                batch, out_h, out_w, groups, k, _ = kernel.shape
                taps = np.ascontiguousarray(np.moveaxis(kernel, (4, 5), (0, 1)))  # (K, K, B, H_out, W_out, G)
                pad = (k - 1) // 2
                x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
                x_pad = x_pad.reshape(*x_pad.shape[:3], groups, -1)
                out = np.zeros((batch, out_h, out_w, groups, x.shape[-1] // groups))
                for u in range(k):
                    for v in range(k):
                        rows = slice(u, u + stride * (out_h - 1) + 1, stride)
                        cols = slice(v, v + stride * (out_w - 1) + 1, stride)
                        out += x_pad[:, rows, cols] * taps[u, v][..., None]
                return out.reshape(batch, out_h, out_w, x.shape[-1])
            """)}),
        Mutant("a loop over the groups inside the taps", RIGHT, {FORWARD: dedent("""\
            def involution_forward(x, kernel, stride=1):
                batch, out_h, out_w, groups, k, _ = kernel.shape
                width = x.shape[-1] // groups
                pad = (k - 1) // 2
                x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
                out = np.zeros((batch, out_h, out_w, x.shape[-1]))
                for u in range(k):
                    for v in range(k):
                        window = x_pad[:, u : u + stride * (out_h - 1) + 1 : stride, v : v + stride * (out_w - 1) + 1 : stride]
                        for g in range(groups):
                            channels = slice(g * width, (g + 1) * width)
                            out[..., channels] += window[..., channels] * kernel[:, :, :, g, u, v, None]
                return out
            """)}),
    ],
    "ex4": [
        Mutant("pooling backward divides by s*s, partial blocks ignored", WRONG, _edit(BACKWARD, (
            "shared = grad_pooled / pixels_per_block[None, :, :, None]", "shared = grad_pooled / stride**2"))),
        Mutant("ReLU mask left out of the backward pass", WRONG, _edit(BACKWARD, (
            '(grad_span @ params["span_w"].T) * (normalised > 0)', '(grad_span @ params["span_w"].T)'))),
        Mutant("kernel gradient from one channel of each group", WRONG, _edit(BACKWARD, (
            "np.sum(grouped[:, tap_rows, tap_cols] * upstream, axis=-1)", "(grouped[:, tap_rows, tap_cols] * upstream)[..., 0]"))),
        Mutant("batch normalisation's scale left out of the backward pass", WRONG, _edit(BACKWARD, (
            "grad_reduced = grad_normalised * scale", "grad_reduced = grad_normalised"))),
        Mutant("the multiply-add's gradients by checks.numerical_gradient", WRONG, _edit(BACKWARD, (
            _solution(BACKWARD).split("def involution_backward")[1].split("def average_pool_backward")[0], dedent('''\
                (x, kernel, grad_out, stride=1):
                    x, kernel = x.astype(float), kernel.astype(float)
                    grad_x = checks.numerical_gradient(lambda v: np.sum(grad_out * involution_forward(v, kernel, stride)), x)
                    grad_kernel = checks.numerical_gradient(lambda v: np.sum(grad_out * involution_forward(x, v, stride)), kernel)
                    return grad_x, grad_kernel


                ''')))),
        Mutant("explicit loops for the multiply-add and the pooling", RIGHT, _edit(BACKWARD, (
            _solution(BACKWARD).split("def involution_backward")[1].split("def average_pool_backward")[0], dedent('''\
                (x, kernel, grad_out, stride=1):
                    batch, out_h, out_w, groups, k = kernel.shape[:5]
                    pad = (k - 1) // 2
                    x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
                    grad_pad = np.zeros_like(x_pad)
                    grad_kernel = np.zeros_like(kernel)
                    width = x.shape[-1] // groups
                    for b in range(batch):
                        for i in range(out_h):
                            for j in range(out_w):
                                for c in range(x.shape[-1]):
                                    rows, cols = slice(i * stride, i * stride + k), slice(j * stride, j * stride + k)
                                    grad_kernel[b, i, j, c // width] += grad_out[b, i, j, c] * x_pad[b, rows, cols, c]
                                    grad_pad[b, rows, cols, c] += grad_out[b, i, j, c] * kernel[b, i, j, c // width]
                    return grad_pad[:, pad : pad + x.shape[1], pad : pad + x.shape[2]], grad_kernel


                ''')), (
            _solution(BACKWARD).split("def average_pool_backward")[1].split("def generate_kernel_backward")[0], dedent('''\
                (grad_pooled, input_shape, stride):
                    height, width = input_shape[1:3]
                    grad = np.zeros((grad_pooled.shape[0], height, width, grad_pooled.shape[-1]))
                    for i in range(grad_pooled.shape[1]):
                        for j in range(grad_pooled.shape[2]):
                            block = (slice(i * stride, min((i + 1) * stride, height)), slice(j * stride, min((j + 1) * stride, width)))
                            count = (block[0].stop - block[0].start) * (block[1].stop - block[1].start)
                            grad[:, block[0], block[1]] = grad_pooled[:, i : i + 1, j : j + 1] / count
                    return grad


                ''')))),
        Mutant("scatter with np.add.at; block sizes with np.add.reduceat", RIGHT, _edit(BACKWARD, (
            _solution(BACKWARD).split("def involution_backward")[1].split("def average_pool_backward")[0], dedent('''\
                (x, kernel, grad_out, stride=1):
                    batch, out_h, out_w, groups, k = kernel.shape[:5]
                    channels = x.shape[-1]
                    pad = (k - 1) // 2
                    x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
                    rows = (np.arange(out_h)[:, None] * stride + np.arange(k))[:, None, :, None]  # (H_out, 1, K, 1)
                    cols = (np.arange(out_w)[:, None] * stride + np.arange(k))[None, :, None, :]  # (1, W_out, 1, K)
                    patches = x_pad[:, rows, cols].reshape(batch, out_h, out_w, k, k, groups, channels // groups)
                    upstream = grad_out.reshape(batch, out_h, out_w, 1, 1, groups, channels // groups)
                    grad_kernel = np.moveaxis((patches * upstream).sum(axis=-1), 5, 3)
                    spread = (upstream * np.moveaxis(kernel, 3, 5)[..., None]).reshape(batch, out_h, out_w, k, k, channels)
                    grad_pad = np.zeros_like(x_pad)
                    np.add.at(grad_pad, (slice(None), rows, cols), spread)
                    return grad_pad[:, pad : pad + x.shape[1], pad : pad + x.shape[2]], grad_kernel


                ''')), (
            _solution(BACKWARD).split("def average_pool_backward")[1].split("def generate_kernel_backward")[0], dedent('''\
                (grad_pooled, input_shape, stride):
                    height, width = input_shape[1:3]
                    sizes = np.add.reduceat(np.add.reduceat(np.ones((height, width)), np.arange(0, height, stride), 0),
                                            np.arange(0, width, stride), 1)
                    shared = grad_pooled / sizes[None, :, :, None]
                    return np.repeat(np.repeat(shared, stride, axis=1), stride, axis=2)[:, :height, :width]


                ''')))),
    ],
    "ex5": [
        Mutant("batch normalisation's parameters left out", WRONG, _edit(COUNTING, ("+ 2 * c_r +", "+"))),
        Mutant("output size rounded down, H // s", WRONG, _edit(COUNTING, (
            "n_positions = -(-height // stride) * -(-width // stride)\n    return n_positions * (",
            "n_positions = (height // stride) * (width // stride)\n    return n_positions * ("))),
        Mutant("convolution without its bias", WRONG, _edit(COUNTING, ("return kernel_size**2 * channels**2 + channels", "return kernel_size**2 * channels**2"))),
        Mutant("the same counts, grouped by operation, math.ceil", RIGHT, {COUNTING: dedent("""\
            import math


            def involution_params(channels, kernel_size, groups, reduction_ratio):
                reduced = max(1, channels // reduction_ratio)
                reduce = channels * reduced + reduced
                batch_norm = 2 * reduced
                span = reduced * kernel_size * kernel_size * groups + kernel_size * kernel_size * groups
                return reduce + batch_norm + span


            def involution_macs(height, width, channels, kernel_size, groups, reduction_ratio, stride=1):
                reduced = max(1, channels // reduction_ratio)
                per_position = channels * reduced + reduced * kernel_size**2 * groups + kernel_size**2 * channels
                return math.ceil(height / stride) * math.ceil(width / stride) * per_position


            def conv_params(channels, kernel_size):
                return channels * (kernel_size * kernel_size * channels + 1)


            def conv_macs(height, width, channels, kernel_size, stride=1):
                return math.ceil(height / stride) * math.ceil(width / stride) * kernel_size**2 * channels**2
            """)}),
        Mutant("counted from the weights' shapes", RIGHT, {COUNTING: dedent("""\
            def involution_params(channels, kernel_size, groups, reduction_ratio):
                reduced = max(1, channels // reduction_ratio)
                shapes = [(channels, reduced), (reduced,), (reduced,), (reduced,), (reduced, kernel_size**2 * groups), (kernel_size**2 * groups,)]
                return int(sum(np.prod(shape) for shape in shapes))


            def involution_macs(height, width, channels, kernel_size, groups, reduction_ratio, stride=1):
                reduced = max(1, channels // reduction_ratio)
                positions = len(range(0, height, stride)) * len(range(0, width, stride))
                return int(positions * (channels * reduced + reduced * kernel_size**2 * groups + kernel_size**2 * channels))


            def conv_params(channels, kernel_size):
                return int(np.prod((kernel_size, kernel_size, channels, channels)) + channels)


            def conv_macs(height, width, channels, kernel_size, stride=1):
                return len(range(0, height, stride)) * len(range(0, width, stride)) * kernel_size**2 * channels**2
            """)}),
    ],
    "ex6": [
        Mutant("rows and columns swapped", WRONG, _edit(KERNELS_AT, ("pixels = x[:, rows, cols]", "pixels = x[:, cols, rows]"))),
        Mutant("the whole kernel generated, then indexed", WRONG, {KERNELS_AT: dedent("""\
            def kernels_at(x, params, positions, kernel_size, groups=1):
                whole = generate_kernel(x, params, kernel_size, 1, groups)
                return np.stack([whole[:, row, col] for row, col in positions], axis=1)
            """)}),
        Mutant("ReLU left out", WRONG, _edit(KERNELS_AT, (
            'np.maximum(scale * (reduced - params["bn_mean"]) + params["bn_beta"], 0.0)',
            'scale * (reduced - params["bn_mean"]) + params["bn_beta"]'))),
        Mutant("tap-major span channels, (K, K, G)", WRONG, _edit(KERNELS_AT, (
            "spanned.reshape(x.shape[0], len(positions), groups, kernel_size, kernel_size)",
            "spanned.reshape(x.shape[0], len(positions), kernel_size, kernel_size, groups).transpose(0, 1, 4, 2, 3)"))),
        Mutant("a loop over the positions", RIGHT, {KERNELS_AT: dedent("""\
            def kernels_at(x, params, positions, kernel_size, groups=1):
                kernels = []
                for row, col in positions:
                    z = x[:, row, col] @ params["reduce_w"] + params["reduce_b"]
                    n = params["bn_gamma"] * (z - params["bn_mean"]) / np.sqrt(params["bn_var"] + BN_EPSILON) + params["bn_beta"]
                    s = np.maximum(n, 0.0) @ params["span_w"] + params["span_b"]
                    kernels.append(s.reshape(x.shape[0], groups, kernel_size, kernel_size))
                return np.stack(kernels, axis=1)
            """)}),
        Mutant("batch normalisation folded into reduce, einsum", RIGHT, {KERNELS_AT: dedent("""\
            def kernels_at(x, params, positions, kernel_size, groups=1):
                rows, cols = np.array(positions).T
                pixels = x[:, rows, cols]
                scale = params["bn_gamma"] / np.sqrt(params["bn_var"] + BN_EPSILON)
                w0 = params["reduce_w"] * scale
                b0 = (params["reduce_b"] - params["bn_mean"]) * scale + params["bn_beta"]
                activated = np.maximum(np.einsum("bnc,cr->bnr", pixels, w0) + b0, 0.0)
                spanned = np.einsum("bnr,rk->bnk", activated, params["span_w"]) + params["span_b"]
                return spanned.reshape(x.shape[0], len(positions), groups, kernel_size, kernel_size)
            """)}),
        Mutant("the whole image to generate_kernel, as x * 1", WRONG, {KERNELS_AT: dedent("""\
            def kernels_at(x, params, positions, kernel_size, groups=1):
                whole = generate_kernel(x * 1, params, kernel_size, 1, groups)
                return np.stack([whole[:, row, col] for row, col in positions], axis=1)
            """)}),
        Mutant("x rebound to the gathered pixels", RIGHT, {KERNELS_AT: dedent("""\
            def kernels_at(x, params, positions, kernel_size, groups=1):
                rows, cols = zip(*positions)
                x = x[:, list(rows), list(cols)]  # (B, n, C)
                z = x @ params["reduce_w"] + params["reduce_b"]
                n = params["bn_gamma"] * (z - params["bn_mean"]) / np.sqrt(params["bn_var"] + BN_EPSILON) + params["bn_beta"]
                s = np.maximum(n, 0.0) @ params["span_w"] + params["span_b"]
                return s.reshape(*x.shape[:2], groups, kernel_size, kernel_size)
            """)}),
        Mutant("its own generate_kernel on a 1 x n strip of the gathered pixels", RIGHT, {KERNELS_AT: dedent("""\
            def kernels_at(x, params, positions, kernel_size, groups=1):
                rows, cols = zip(*positions)
                strip = x[:, list(rows), list(cols)][:, None]  # (B, 1, n, C): the requested pixels only
                return generate_kernel(strip, params, kernel_size, stride=1, groups=groups)[:, 0]
            """)}),
    ],
}


def students(source) -> dict:
    return _students(MUTANTS, source)
