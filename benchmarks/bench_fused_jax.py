"""Involution's multiply-add on a GPU with JAX: the fused Pallas kernels against XLA's ways.

For each case, in fp32 and bf16, it times the forward alone, the backward alone (the vjp of an
upstream gradient: grad_x and grad_planes) and both, each function under ``jax.jit``:

* ``fused-pallas``: ``involution_course.fused.pallas_kernels.multiply_add`` (Triton kernels);
  ``fused-pallas-split`` (or ``-fused``): the same with the other backward at stride 1 (one
  kernel per gradient, or one for both);
* ``slices-xla``: the layer's sum over the K*K taps of a strided slice times one plane, in jnp;
* ``unfold``: K*K patches (``lax.conv_general_dilated_patches``) times the kernel, summed;
* ``xla-depthwise``: XLA's depthwise K x K convolution (one kernel per channel, not per pixel),
  the same loop without the per-pixel kernel, for scale;
* ``floor``: the bytes the multiply-add must move (read x and planes, write out; read the
  gradient, x and planes, write both gradients) over the bandwidth of a large copy in the same run.

Before timing, the fused kernels are checked against ``slices-xla`` (max abs error in the line);
a disagreement stops the run with exit status 1. Each time is the median of ``--repeats`` samples
after a warm-up; a sample is a few back-to-back calls (at least about a millisecond in all) over
their number, so that short kernels are not timed as Python's dispatch. Inputs stay in L2 between
calls where they fit (the K=3 case's do).

    XLA_PYTHON_CLIENT_PREALLOCATE=false python benchmarks/bench_fused_jax.py [--output FILE]
        [--repeats 50] [--dtypes float32,bfloat16] [--check] [--tune SECONDS] [--keep-going]

Prints one JSON line per case, dtype and method (a provenance line first); ``--output`` writes
them to FILE too. ``--check`` first compares the kernels with ``slices-xla`` on small odd shapes
(every K, stride and grouping); ``--tune`` then times other tiles for each kernel alone, for about
that many seconds.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "src" / "student" / "involution_course" / "fused" / "pallas_kernels.py"

# (batch, channels, height = width, K, groups); stride 1.
CASES = [
    (32, 64, 56, 7, 4),
    (256, 3, 32, 3, 1),
    (64, 256, 28, 7, 16),
    (32, 128, 56, 7, 8),
]
# Small odd shapes for --check: (B, H, W, C), K, s, G.
CHECKS = [
    ((2, 5, 7, 6), 3, 1, 2),
    ((1, 9, 7, 6), 5, 2, 3),
    ((2, 7, 9, 6), 7, 3, 6),
    ((2, 13, 11, 12), 1, 2, 1),
    ((2, 12, 10, 48), 7, 1, 3),
]


def load_kernels():
    """The kernels' module; loaded from its file when the course package is not installed."""
    try:
        from involution_course.fused import pallas_kernels
        return pallas_kernels
    except ImportError:
        spec = importlib.util.spec_from_file_location("pallas_kernels", KERNELS)
        module = importlib.util.module_from_spec(spec)
        sys.modules["pallas_kernels"] = module
        spec.loader.exec_module(module)
        return module


class Output:
    """JSON lines to stdout and, with --output, to a file, flushed as they come."""

    def __init__(self, path: str | None):
        self.file = open(path, "w") if path else None

    def line(self, row: dict) -> None:
        text = json.dumps(row)
        print(text, flush=True)
        if self.file:
            self.file.write(text + "\n")
            self.file.flush()


# -- the formulations ---------------------------------------------------------------------------


def formulations(jax, jnp, lax, kernels):
    def fused(x, planes, k, s, g):
        return kernels.multiply_add(x, planes, kernel_size=k, stride=s, groups=g)

    def slices(x, planes, k, s, g):
        """The layer's method: the sum over taps of a strided window times that tap's plane."""
        b, h, w, c = x.shape
        p = (k - 1) // 2
        x_pad = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0))).reshape(b, h + 2 * p, w + 2 * p, g, c // g)
        weights = planes.reshape(*planes.shape[:3], g, k * k, 1)
        out = None
        for ki in range(k):
            for kj in range(k):
                window = x_pad[:, ki:(ki - (k - 1)) or None:s, kj:(kj - (k - 1)) or None:s]
                term = window * weights[..., ki * k + kj, :]
                out = term if out is None else out + term
        return out.reshape(*planes.shape[:3], c)

    def unfold(x, planes, k, s, g):
        """K*K patches of every pixel (channel-major: feature c*K*K + tap), times the kernel."""
        b, h, w, c = x.shape
        p = (k - 1) // 2
        patches = lax.conv_general_dilated_patches(
            x, (k, k), (s, s), ((p, p), (p, p)), dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=lax.Precision.HIGHEST)
        patches = patches.reshape(*planes.shape[:3], g, c // g, k * k)
        weights = planes.reshape(*planes.shape[:3], g, 1, k * k)
        return jnp.sum(patches * weights, axis=-1).reshape(*planes.shape[:3], c)

    def depthwise(x, kernel, k, s):
        p = (k - 1) // 2
        return lax.conv_general_dilated(
            x, kernel, (s, s), ((p, p), (p, p)), dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=x.shape[-1], precision=lax.Precision.HIGHEST)

    methods = {"fused-pallas": fused, "slices-xla": slices, "unfold": unfold}
    if hasattr(kernels, "BACKWARDS"):  # the other backward at stride 1: one kernel per gradient, or one for both
        other = next(b for b in kernels.BACKWARDS if b != kernels.DEFAULT_BACKWARD)
        methods[f"fused-pallas-{other}"] = lambda x, planes, k, s, g: kernels.multiply_add(
            x, planes, kernel_size=k, stride=s, groups=g, backward=other)
    return methods, depthwise


def jitted_trio(jax, apply):
    """Forward, backward (the vjp of an upstream gradient) and both, each jitted; ``apply(a, b)``."""
    forward = jax.jit(apply)

    @jax.jit
    def backward(a, b, grad):
        return jax.vjp(apply, a, b)[1](grad)

    @jax.jit
    def both(a, b, grad):
        out, vjp = jax.vjp(apply, a, b)
        return out, vjp(grad)

    return forward, backward, both


# -- timing -------------------------------------------------------------------------------------


def time_ms(jax, fn, args, repeats: int) -> float:
    """Median ms per call: after a warm-up, ``repeats`` samples of n back-to-back calls."""
    jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    single = time.perf_counter() - start
    calls = max(1, min(50, int(1e-3 / max(single, 1e-6))))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = fn(*args)
        jax.block_until_ready(out)
        samples.append((time.perf_counter() - start) / calls)
    return round(statistics.median(samples) * 1e3, 4)


def bandwidth_gbs(jax, jnp, repeats: int) -> float:
    """GB/s of a 1 GiB read plus 1 GiB write (an elementwise add, which XLA cannot elide)."""
    a = jnp.ones((2**28,), jnp.float32)
    ms = time_ms(jax, jax.jit(lambda a: a + 1.0), (a,), repeats)
    del a
    return 2 * 2**30 / (ms * 1e-3) / 1e9


# -- main ---------------------------------------------------------------------------------------


def max_error(jnp, got, want) -> float:
    return max(float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32)))) for a, b in zip(got, want))


def largest(jnp, arrays) -> float:
    return max(float(jnp.max(jnp.abs(a.astype(jnp.float32)))) for a in arrays)


def random_inputs(jax, jnp, shape, k, s, g, dtype, seed=0):
    b, h, w, c = shape
    out = (b, -(-h // s), -(-w // s))
    keys = jax.random.split(jax.random.PRNGKey(seed), 3)
    x = jax.random.normal(keys[0], shape, jnp.float32)
    planes = jax.random.normal(keys[1], (*out, g * k * k), jnp.float32)
    grad = jax.random.normal(keys[2], (*out, c), jnp.float32)
    return [a.astype(dtype) for a in (x, planes, grad)]


def compare(jax, jnp, methods, shape, k, s, g, dtype, seed=0):
    """Max abs error of fused against slices (out, grad_x, grad_planes), the slices in fp32 on the
    same (rounded) inputs, and the tolerance: 1e-4 (fp32) or 3e-2 (bf16) of the largest value."""
    x, planes, grad = random_inputs(jax, jnp, shape, k, s, g, dtype, seed)
    slices = jitted_trio(jax, lambda a, b: methods["slices-xla"](a, b, k, s, g))[2]
    want_out, want_grads = slices(*(a.astype(jnp.float32) for a in (x, planes, grad)))
    want = (want_out, *want_grads)
    tolerance = (1e-4 if jnp.dtype(dtype) == jnp.dtype(jnp.float32) else 3e-2) * max(1.0, largest(jnp, want))
    errors = []
    for name in (name for name in methods if name.startswith("fused-pallas")):  # both backwards
        got_out, got_grads = jitted_trio(jax, lambda a, b, name=name: methods[name](a, b, k, s, g))[2](x, planes, grad)
        errors.append(max_error(jnp, (got_out, *got_grads), want))
    return max(errors), tolerance


def floor_bytes(shape, k, s, g, itemsize):
    b, h, w, c = shape
    pixels_out = b * -(-h // s) * -(-w // s)
    x, out, planes = b * h * w * c, pixels_out * c, pixels_out * g * k * k
    forward = (x + planes + out) * itemsize
    backward = (out + x + planes + x + planes) * itemsize
    return forward, backward


def run_checks(jax, jnp, methods, output, failures) -> None:
    for index, (shape, k, s, g) in enumerate(CHECKS):
        for dtype in (jnp.float32, jnp.bfloat16) if index == 0 else (jnp.float32,):
            label = f"B{shape[0]} C{shape[3]} {shape[1]}x{shape[2]} K{k} G{g} s{s}"
            try:
                error, tolerance = compare(jax, jnp, methods, shape, k, s, g, dtype, seed=len(label))
            except Exception as exc:  # a lowering error on this GPU: report it, go on
                traceback.print_exc()
                failures.append(f"check {label} {jnp.dtype(dtype).name}: {type(exc).__name__}: {str(exc)[:300]}")
                output.line({"check": label, "dtype": jnp.dtype(dtype).name, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
                continue
            output.line({"check": label, "dtype": jnp.dtype(dtype).name, "max_abs_err": error, "ok": error <= tolerance})
            if not error <= tolerance:
                failures.append(f"check {label} {jnp.dtype(dtype).name}: max abs error {error:.3g} > {tolerance:.3g}")


def run_case(jax, jnp, lax, kernels, methods, depthwise, case, dtype, repeats, bandwidth, output, failures, keep_going):
    batch, channels, size, k, g = case
    shape, s = (batch, size, size, channels), 1
    label = f"B{batch} C{channels} {size}x{size} K{k} G{g}"
    name = jnp.dtype(dtype).name
    x, planes, grad = random_inputs(jax, jnp, shape, k, s, g, dtype)

    error, tolerance = compare(jax, jnp, methods, shape, k, s, g, dtype)
    if not error <= tolerance:
        failures.append(f"{label} {name}: the fused kernels disagree with slices-xla (max abs error {error:.3g} > {tolerance:.3g})")
        print(failures[-1], file=sys.stderr)
        if not keep_going:
            return False

    for method, apply in methods.items():
        row = {"case": label, "dtype": name, "method": method}
        try:
            trio = jitted_trio(jax, lambda a, b, apply=apply: apply(a, b, k, s, g))
            row.update(fwd_ms=time_ms(jax, trio[0], (x, planes), repeats),
                       bwd_ms=time_ms(jax, trio[1], (x, planes, grad), repeats),
                       fwd_bwd_ms=time_ms(jax, trio[2], (x, planes, grad), repeats))
        except Exception as exc:
            traceback.print_exc()
            row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            failures.append(f"{label} {name} {method}: {row['error']}")
        if method == "fused-pallas":
            row["backward"] = getattr(kernels, "DEFAULT_BACKWARD", "split")
            row["max_abs_err"] = error
            geometry = kernels._Geometry(*shape, k, s, g)
            row["tiles"] = {name: vars(kernels.default_tiles(name, geometry, jnp.dtype(dtype).itemsize))
                            for name in ("forward", "grad_x", "grad_planes", "backward")}
        output.line(row)

    kernel = jax.random.normal(jax.random.PRNGKey(1), (k, k, 1, channels), jnp.float32).astype(dtype)
    trio = jitted_trio(jax, lambda a, b: depthwise(a, b, k, s))
    output.line({"case": label, "dtype": name, "method": "xla-depthwise",
                 "fwd_ms": time_ms(jax, trio[0], (x, kernel), repeats),
                 "bwd_ms": time_ms(jax, trio[1], (x, kernel, grad), repeats),
                 "fwd_bwd_ms": time_ms(jax, trio[2], (x, kernel, grad), repeats)})

    forward, backward = floor_bytes(shape, k, s, g, jnp.dtype(dtype).itemsize)
    per_ms = bandwidth * 1e9 * 1e-3
    output.line({"case": label, "dtype": name, "method": "floor", "fwd_ms": round(forward / per_ms, 4),
                 "bwd_ms": round(backward / per_ms, 4), "fwd_bwd_ms": round((forward + backward) / per_ms, 4),
                 "bandwidth_gbs": round(bandwidth, 1)})
    return True


def tune(jax, jnp, kernels, output, seconds: float, repeats: int) -> None:
    """Times each kernel alone with other tiles, on the K=7 cases, for about ``seconds``."""
    deadline = time.perf_counter() + seconds
    Tiles = kernels.Tiles
    for batch, channels, size, k, g in [CASES[0], CASES[2], CASES[1], CASES[3]]:
        geometry = kernels._Geometry(batch, size, size, channels, k, 1, g)
        x, planes, grad = random_inputs(jax, jnp, (batch, size, size, channels), k, 1, g, jnp.float32)
        for name in ("forward", "grad_x", "grad_planes"):
            base = kernels.default_tiles(name, geometry)
            candidates = [base, Tiles(base.rows, base.cols, base.groups * 2), Tiles(base.rows, base.cols, max(1, base.groups // 2)),
                          Tiles(base.rows * 2, base.cols, base.groups), Tiles(max(1, base.rows // 2), base.cols, base.groups),
                          *(Tiles(base.rows, base.cols, base.groups, warps=w) for w in (2, 8)),
                          *(Tiles(base.rows, base.cols, base.groups, stages=n) for n in (2, 3))]
            for tiles in candidates:
                if time.perf_counter() > deadline:
                    return
                call = kernels._Call(geometry, tiles, tiles, tiles, False)
                fn = {"forward": lambda a, b, c: kernels._forward(call, a, b),
                      "grad_x": lambda a, b, c: kernels._grad_x(call, c, b, a.dtype),
                      "grad_planes": lambda a, b, c: kernels._grad_planes(call, c, a, b.dtype)}[name]
                row = {"tune": name, "case": f"B{batch} C{channels} {size}x{size} K{k} G{g}", "tiles": vars(tiles)}
                try:
                    row["ms"] = time_ms(jax, jax.jit(fn), (x, planes, grad), min(repeats, 20))
                except Exception as exc:
                    row["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
                output.line(row)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", help="also write the JSON lines to this file")
    parser.add_argument("--repeats", type=int, default=50, help="timed samples per function (default 50)")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--cases", default=",".join(str(i) for i in range(len(CASES))), help="indices into CASES")
    parser.add_argument("--check", action="store_true", help="first check the kernels on small odd shapes")
    parser.add_argument("--tune", type=float, default=0.0, metavar="SECONDS", help="then time other tiles")
    parser.add_argument("--keep-going", action="store_true", help="time the other cases after a disagreement")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS", help="start no case after this long")
    args = parser.parse_args(argv)

    import jax
    import jax.numpy as jnp
    import jaxlib
    from jax import lax

    try:
        gpu = jax.devices("gpu")[0]
    except RuntimeError:
        print("No GPU found: this benchmark times Pallas' Triton kernels, which need a CUDA GPU.", file=sys.stderr)
        return 0
    kernels = load_kernels()
    methods, depthwise = formulations(jax, jnp, lax, kernels)
    output = Output(args.output)
    output.line({"provenance": {
        "gpu": gpu.device_kind, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix().split(str(ROOT) + "/")[-1], *sys.argv[1:]]),
        "timing": f"median of {args.repeats} samples after a warm-up; a sample is n back-to-back calls "
                  "of the jitted function over n (n >= 1, about 1 ms in all), blocked on the last",
    }})

    started = time.perf_counter()
    failures: list[str] = []
    if args.check:
        run_checks(jax, jnp, methods, output, failures)
    if args.tune:
        tune(jax, jnp, kernels, output, args.tune, args.repeats)
    bandwidth = bandwidth_gbs(jax, jnp, args.repeats)
    dtypes = [jnp.dtype(name) for name in args.dtypes.split(",")]
    for dtype in dtypes:  # every case in fp32 first
        for index in (int(i) for i in args.cases.split(",")):
            if args.budget is not None and time.perf_counter() - started > args.budget:
                print(f"Out of time (--budget {args.budget:g} s): case {index} {dtype.name} not run.", file=sys.stderr)
                continue
            if not run_case(jax, jnp, lax, kernels, methods, depthwise, CASES[index], dtype, args.repeats, bandwidth,
                            output, failures, args.keep_going):
                print(f"Stopped: {failures[-1]}.", file=sys.stderr)
                return 1
    if failures:
        print(f"{len(failures)} problem(s): " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
