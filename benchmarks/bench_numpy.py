"""NumPy from scratch: explicit loops against vectorised code, with the course's own answers.

Notebook 01: ``conv2d_naive`` (loops) against ``conv2d_fast`` (vectorised).
Notebook 02: the involution multiply-add by ``involution_naive`` (loops), by unfolding (the
notebook's ``extract_patches``, a K*K patch tensor, then one einsum with the kernel, here) and by
``involution_forward`` (a sum of K*K shifted slices), and its backward pass ``involution_backward``,
all in float64.

The functions are the solution notebooks' cells (solutions/<a>/<a>.py), not copies. The notebook
gives students only the patch extraction, not a complete unfold forward (that would answer its
exercises), so the einsum that completes it lives here.
Peak memory is traced by ``tracemalloc`` (NumPy reports its buffers to it) in a separate call.

    python benchmarks/bench_numpy.py [--quick] [--repeats N]
"""

from __future__ import annotations

import os
import sys
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as harness  # noqa: E402
from involution_instructor.solution_code import NotebookCodeError, load_functions  # noqa: E402

BENCHMARK = "numpy"
FUNCTIONS_02 = ("involution_forward", "extract_patches", "involution_naive", "involution_backward")
CONTEXT = {"backend": "numpy", "mode": "numpy (float64)", "device": "cpu"}


def traced_peak_mb(step) -> float:
    tracemalloc.start()
    try:
        step()
        return round(tracemalloc.get_traced_memory()[1] / 2**20, 3)
    finally:
        tracemalloc.stop()


def compare(group: str, cases, *, repeats: int, warmup: int) -> None:
    """Time each (case name, step, repeats factor) of one side-by-side group; the first is the reference."""
    for case, step, share in cases:
        if step is None:
            harness.skip(BENCHMARK, case, share, group=group, **CONTEXT)
            continue
        harness.note(f"numpy: {case} at {group}")
        try:
            times = harness.measure(step, repeats=max(1, round(repeats * share)), warmup=warmup)
        except Exception as error:  # noqa: BLE001 - an unfinished or broken answer cell
            harness.skip(BENCHMARK, case, f"the notebook's code raised {type(error).__name__}: {error}",
                         group=group, **CONTEXT)
            continue
        harness.emit(BENCHMARK, case, group=group, times=times, **CONTEXT,
                     details={"peak_memory_mb": traced_peak_mb(step)})


def _function(namespace: dict, name: str, assignment: str):
    function = namespace.get(name)
    if not callable(function):
        return None, f"no cell of {assignment} defines {name}()"
    return function, ""


def convolution(quick: bool, repeats: int, warmup: int) -> None:
    import numpy as np

    assignment = "01-convolution"
    batch, size, channels, filters, k = (1, 6, 2, 4, 3) if quick else (4, 32, 3, 16, 3)
    group = f"01 convolution: {batch}x{size}x{size}x{channels}, {filters} kernels {k}x{k}, stride 1, same"
    names = ("conv2d_fast (vectorised)", "conv2d_naive (loops)")
    try:
        code = load_functions(assignment, ("conv2d_fast", "conv2d_naive"))
    except NotebookCodeError as error:
        for name in names:
            harness.skip(BENCHMARK, name, str(error), group=group, **CONTEXT)
        return
    rng = np.random.default_rng(0)
    x = rng.random((batch, size, size, channels))
    w = rng.standard_normal((k, k, channels, filters)) * 0.1
    b = np.zeros(filters)
    cases = []
    for label, name, share in ((names[0], "conv2d_fast", 1.0), (names[1], "conv2d_naive", 0.4)):
        function, missing = _function(code, name, assignment)
        step = None if function is None else (lambda f=function: f(x, w, b, stride=1, padding="same"))
        cases.append((label, step, share if function is not None else missing))
    compare(group, cases, repeats=repeats, warmup=warmup)


def unfolded(extract_patches):
    """The unfold forward on the notebook's patch tensor: multiply by the kernel, sum over the K*K taps."""
    import numpy as np

    def forward(x, kernel, stride=1):
        batch, out_h, out_w, groups, k, _ = kernel.shape
        patches = extract_patches(x, k, stride)  # (B, H_out, W_out, K, K, C)
        grouped = patches.reshape(batch, out_h, out_w, k, k, groups, x.shape[-1] // groups)
        return np.einsum("bhwuvgc,bhwguv->bhwgc", grouped, kernel).reshape(batch, out_h, out_w, x.shape[-1])

    return forward


def involution(quick: bool, repeats: int, warmup: int) -> None:
    import numpy as np

    assignment = "02-involution-numpy"
    batch, size, channels, k, groups = (1, 6, 4, 3, 2) if quick else (2, 32, 16, 7, 4)
    group = f"02 involution: {batch}x{size}x{size}x{channels}, K={k}, G={groups}, stride 1"
    names = ("involution_forward (shifted slices)", "involution_unfold (patch tensor)",
             "involution_naive (loops)", "involution_backward (shifted slices)")
    try:
        code = load_functions(assignment, FUNCTIONS_02)
    except NotebookCodeError as error:
        for name in names:
            harness.skip(BENCHMARK, name, str(error), group=group, **CONTEXT)
        return
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, channels))
    kernel = rng.standard_normal((batch, size, size, groups, k, k))
    grad_out = rng.standard_normal(x.shape)
    cases = []
    for label, name, share in zip(names, FUNCTIONS_02, (1.0, 1.0, 0.4, 1.0)):
        function, missing = _function(code, name, assignment)
        if function is None:
            cases.append((label, None, missing))
            continue
        if name == "extract_patches":
            function = unfolded(function)
        if name == "involution_backward":
            cases.append((label, lambda f=function: f(x, kernel, grad_out, stride=1), share))
        else:
            cases.append((label, lambda f=function: f(x, kernel, stride=1), share))
    compare(group, cases, repeats=repeats, warmup=warmup)


def main() -> None:
    args = harness.parse_args(__doc__.splitlines()[0])
    from involution_course.notebook import silence_framework_logging

    silence_framework_logging()
    repeats = args.repeats or (1 if args.quick else 10)
    warmup = 1
    convolution(args.quick, repeats, warmup)
    involution(args.quick, repeats, warmup)


if __name__ == "__main__":
    main()
