"""Involution's multiply-add on a CUDA GPU: the fused Triton kernels against the alternatives.

For each case (stride 1, channels last) and dtype, every method is timed for the forward alone,
the backward alone (given an upstream gradient, with respect to x and the kernel planes) and
both, as the median of ``triton.testing.do_bench`` (which empties the L2 cache before each run):

* ``fused-triton``: ``involution_course.fused.triton_kernels.multiply_add`` through autograd, and
  in ``kernels_ms`` its kernels launched directly: each alone, the three in a row, the backward as
  autograd runs it (``backward``: the fused one-pass kernel or the two, whichever its tuning chose;
  ``backward_fused_kernel``: the fused kernel alone), the forward and that backward
  (``fwd_backward``), and those replayed from a CUDA graph (no host time between launches, but the
  inputs stay in L2); the kernels tune themselves on their first call (``tuning`` lines give every
  candidate's time);
* ``unfold``: ``torch.nn.functional.unfold`` patches (K*K times the input) times the planes, summed;
* ``slices-eager`` / ``slices-compile``: the layer's sum of K*K shifted slices times one plane
  each, op by op and through ``torch.compile``;
* ``cudnn-depthwise``: ``conv2d(groups=C)`` with a K x K kernel per channel (the same at every
  position, so no planes), in NCHW or channels_last, whichever is faster (``layout`` says which);
* ``floor``: the bytes that must move (read x and planes, write out; backward: read the upstream
  gradient, x and planes, write both gradients) over the copy bandwidth measured in this run.

Before timing, the fused results (out, grad_x, grad_planes) are checked against the shifted
slices computed in float32; a disagreement stops the script with exit status 1.

    python benchmarks/bench_fused_torch.py [--output FILE] [--dtypes float32,bfloat16] [--budget-s S]

stdout: a provenance line, then one JSON line per case, dtype and method. ``--budget-s`` skips
``torch.compile`` (about 25 s of compilation per case) once that many seconds have passed.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "src" / "student" / "involution_course" / "fused" / "triton_kernels.py"

# (batch, channels, height, width, K, groups); stride 1 throughout.
CASES = (
    (32, 64, 56, 56, 7, 4),     # RedNet stage 1
    (256, 3, 32, 32, 3, 1),     # the Keras example on CIFAR-10
    (64, 256, 28, 28, 7, 16),
    (32, 128, 56, 56, 7, 8),
)
METHODS = ("fused-triton", "unfold", "slices-eager", "slices-compile", "cudnn-depthwise", "floor")


def case_name(case) -> str:
    batch, channels, height, width, k, groups = case
    return f"B{batch} C{channels} {height}x{width} K{k} G{groups}"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", help="also write every JSON line to this file")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="comma-separated: float32, bfloat16")
    parser.add_argument("--cases", default=None,
                        help="comma-separated 1-based case numbers (default: all %d)" % len(CASES))
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ", ".join(METHODS))
    parser.add_argument("--budget-s", type=float, default=None,
                        help="skip torch.compile once this many seconds have passed (its compilation is slow)")
    args = parser.parse_args()
    args.dtypes = args.dtypes.split(",")
    args.methods = args.methods.split(",")
    unknown = [m for m in args.methods if m not in METHODS] + [d for d in args.dtypes if d not in ("float32", "bfloat16")]
    if unknown:
        parser.error(f"unknown method or dtype: {', '.join(unknown)}")
    args.cases = CASES if args.cases is None else [CASES[int(n) - 1] for n in args.cases.split(",")]
    return args


def load_modules():
    """torch, triton, triton.testing and the kernels module, or one sentence saying what is missing."""
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        sys.exit("Unset TRITON_INTERPRET: this benchmark times the compiled kernels on a GPU.")
    try:
        import torch
        import triton
        import triton.testing
    except ImportError as error:
        sys.exit(f"This benchmark needs PyTorch and Triton ({error}).")
    if not torch.cuda.is_available():
        sys.exit("This benchmark needs a CUDA GPU, and PyTorch sees none.")
    # Loaded from its file: the package's __init__ imports the course's notebook helpers.
    spec = importlib.util.spec_from_file_location("involution_triton_kernels", KERNELS)
    kernels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kernels)
    return torch, triton, kernels


# -- the methods: each maps NHWC x and planes to the NHWC output, differentiably ------------------
def unfold_multiply_add(x, planes, k, s, g):
    import torch.nn.functional as F
    b, _, _, c = x.shape
    h_out, w_out = planes.shape[1:3]
    cols = F.unfold(x.permute(0, 3, 1, 2), k, padding=(k - 1) // 2, stride=s)  # (B, C*K*K, L), C major
    cols = cols.view(b, g, c // g, k * k, h_out, w_out)
    weights = planes.view(b, h_out, w_out, g, k * k).permute(0, 3, 4, 1, 2).unsqueeze(2)
    return (cols * weights).sum(3).reshape(b, c, h_out, w_out).permute(0, 2, 3, 1)


def slices_multiply_add(x, planes, k, s, g):
    """The layer's ``_multiply_add``: the sum over taps of a strided slice of the padded input
    times that tap's plane, broadcast over each group's channels."""
    import torch.nn.functional as F
    b, h, w, c = x.shape
    h_out, w_out = planes.shape[1:3]
    pad = (k - 1) // 2
    x_pad = F.pad(x, (0, 0, pad, pad, pad, pad)).view(b, h + 2 * pad, w + 2 * pad, g, c // g)
    weights = planes.view(b, h_out, w_out, g, k * k)
    out = None
    for ki in range(k):
        for kj in range(k):
            window = x_pad[:, ki:ki + s * (h_out - 1) + 1:s, kj:kj + s * (w_out - 1) + 1:s]
            term = window * weights[..., ki * k + kj, None]
            out = term if out is None else out + term
    return out.reshape(b, h_out, w_out, c)


def significant(value: float) -> float:
    return float(f"{value:.4g}")


# -- measuring ------------------------------------------------------------------------------------
class Bench:
    def __init__(self, torch, triton, kernels, output):
        self.torch, self.triton, self.kernels = torch, triton, kernels
        self.output = open(output, "w", encoding="utf-8") if output else None
        self.logged = 0  # entries of the kernels' tuning log already written

    def emit(self, row: dict) -> None:
        line = json.dumps(row)
        print(line, flush=True)
        if self.output:
            self.output.write(line + "\n")
            self.output.flush()

    def ms(self, fn, **kwargs) -> float:
        return significant(self.triton.testing.do_bench(fn, return_mode="median", **kwargs))

    def time_autograd(self, fn, x, weight, grad_out) -> dict:
        """fwd, bwd (autograd.grad of a kept graph) and fwd+bwd of ``fn(x, weight)``, in ms."""
        grad = self.torch.autograd.grad
        out = fn(x, weight)
        return {
            "fwd_ms": self.ms(lambda: fn(x, weight)),
            "bwd_ms": self.ms(lambda: grad(out, (x, weight), grad_out, retain_graph=True)),
            "fwd_bwd_ms": self.ms(lambda: grad(fn(x, weight), (x, weight), grad_out)),
        }

    def copy_bandwidth(self) -> float:
        """Bytes per ms of a 1 GiB device-to-device copy (read + write)."""
        src = self.torch.empty(2 ** 28, dtype=self.torch.float32, device="cuda")
        dst = self.torch.empty_like(src)
        elapsed = self.triton.testing.do_bench(lambda: dst.copy_(src), return_mode="median")
        return 2 * src.numel() * src.element_size() / elapsed


def make_inputs(torch, case, dtype, seed=0):
    batch, channels, height, width, k, groups = case
    gen = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.randn((batch, height, width, channels), generator=gen, device="cuda")
    # Planes of size ~1/K keep the output near unit size, as the layer's batch norm would.
    planes = torch.randn((batch, height, width, groups * k * k), generator=gen, device="cuda") / k
    grad_out = torch.randn((batch, height, width, channels), generator=gen, device="cuda")
    return [t.to(dtype) for t in (x, planes, grad_out)]


def verify(bench, case, x, planes, grad_out) -> tuple[float, float]:
    """Max abs difference of fused out, grad_x and grad_planes from float32 shifted slices, and
    the tolerance; exits if they disagree."""
    torch, kernels = bench.torch, bench.kernels
    _, _, _, _, k, groups = case
    xs, ps = (t.detach().requires_grad_(True) for t in (x, planes))
    out = kernels.multiply_add(xs, ps, kernel_size=k, stride=1, groups=groups)
    fused = [out.detach(), *torch.autograd.grad(out, (xs, ps), grad_out)]
    x32, p32 = (t.detach().float().requires_grad_(True) for t in (x, planes))
    out = slices_multiply_add(x32, p32, k, 1, groups)
    ref = [out.detach(), *torch.autograd.grad(out, (x32, p32), grad_out.float())]
    error = max(float((a.float() - b).abs().max()) for a, b in zip(fused, ref))
    scale = max(float(b.abs().max()) for b in ref)
    # float32: summation order only; bfloat16: one rounding of each result to 8 bits of mantissa.
    tolerance = (1e-4 if x.dtype == torch.float32 else 2e-2) * max(scale, 1.0)
    if not error <= tolerance:
        sys.exit(f"The fused kernels disagree with the shifted slices at {case_name(case)} ({x.dtype}): "
                 f"max abs error {error:.3g} > {tolerance:.3g}.")
    return error, tolerance


def run_case(bench, case, dtype_name, methods, args, bandwidth, started):
    torch = bench.torch
    x, planes, grad_out = make_inputs(torch, case, getattr(torch, dtype_name))
    checked = verify(bench, case, x, planes, grad_out) if "fused-triton" in methods else None
    x.requires_grad_(True)
    planes.requires_grad_(True)
    for method in methods:
        try:
            row = measure(bench, method, case, x, planes, grad_out, checked, args, bandwidth, started)
        except Exception as error:  # one failing method should not cost the others' figures
            row = {"error": f"{type(error).__name__}: {error}"[:500]}
        bench.emit({"case": case_name(case), "dtype": dtype_name, "method": method, **row})


def measure(bench, method, case, x, planes, grad_out, checked, args, bandwidth, started) -> dict:
    """The figures of one method on one case."""
    torch, kernels = bench.torch, bench.kernels
    _, channels, height, width, k, groups = case

    def with_settings(fn):
        return lambda a, b: fn(a, b, k, 1, groups)

    if method == "fused-triton":
        row = bench.time_autograd(
            lambda a, b: kernels.multiply_add(a, b, kernel_size=k, stride=1, groups=groups), x, planes, grad_out)
        xd, pd = x.detach(), planes.detach()
        launches = {
            "forward": lambda: kernels.forward(xd, pd, k, 1, groups),
            "grad_x": lambda: kernels.grad_x(pd, grad_out, xd.shape, k, 1, groups),
            "grad_planes": lambda: kernels.grad_planes(xd, grad_out, k, 1, groups),
        }
        chain = lambda: [launch() for launch in launches.values()]  # noqa: E731
        # The three kernels alone, one after another; then replayed from a CUDA graph (no host
        # overhead between launches, but the inputs stay in L2 from one replay to the next).
        row["kernels_ms"] = {name: bench.ms(launch) for name, launch in launches.items()}
        row["kernels_ms"]["fwd_bwd"] = bench.ms(chain)
        if hasattr(kernels, "backward"):
            # The backward as autograd runs it (one fused kernel, or the two, whichever its tuning
            # chose), and its fused kernel alone; then the forward and that backward.
            both = lambda: kernels.backward(xd, pd, grad_out, k, 1, groups)  # noqa: E731
            row["kernels_ms"]["backward"] = bench.ms(both)
            fused_cfg = kernels.candidates("backward", height, width, channels, groups, k, 1)[0]
            chosen = kernels._tuned.get(("backward", (x.shape[0], height, width, channels, groups, k, 1, str(x.dtype))))
            cfg = chosen if isinstance(chosen, kernels.Config) else fused_cfg
            row["kernels_ms"]["backward_fused_kernel"] = bench.ms(
                lambda: kernels.backward(xd, pd, grad_out, k, 1, groups, cfg))
            row["kernels_ms"]["fwd_backward"] = bench.ms(lambda: (launches["forward"](), both()))
            row["backward_choice"] = chosen._asdict() if isinstance(chosen, kernels.Config) else chosen
            chain = lambda: (launches["forward"](), both())  # noqa: E731
        try:  # the forward and the backward that autograd runs
            graph_ms = bench.triton.testing.do_bench_cudagraph(chain, return_mode="median")
            row["kernels_ms"]["fwd_bwd_cuda_graph"] = significant(graph_ms)
        except Exception as error:
            row["kernels_ms"]["fwd_bwd_cuda_graph"] = f"{type(error).__name__}: {error}"[:200]
        key = (x.shape[0], height, width, channels, groups, k, 1, str(x.dtype))
        row["configs"] = {kind: kernels._tuned[kind, key]._asdict() for kind in launches
                          if isinstance(kernels._tuned.get((kind, key)), kernels.Config)}
        error, tolerance = checked
        for entry in kernels.tuning_log[bench.logged:]:
            bench.emit({"tuning": entry})
        bench.logged = len(kernels.tuning_log)
        return {**row, "max_abs_err": significant(error), "tolerance": significant(tolerance)}
    if method == "unfold":
        return bench.time_autograd(with_settings(unfold_multiply_add), x, planes, grad_out)
    if method == "slices-eager":
        return bench.time_autograd(with_settings(slices_multiply_add), x, planes, grad_out)
    if method == "slices-compile":
        if args.budget_s is not None and time.monotonic() - started > args.budget_s:
            return {"skipped": f"over the --budget-s of {args.budget_s} s (compilation is slow)"}
        compiled = with_settings(torch.compile(slices_multiply_add, dynamic=False))
        start = time.monotonic()
        torch.autograd.grad(compiled(x, planes), (x, planes), grad_out)
        torch.cuda.synchronize()
        compile_s = round(time.monotonic() - start, 1)
        return {**bench.time_autograd(compiled, x, planes, grad_out), "compile_s": compile_s}
    if method == "cudnn-depthwise":
        return time_depthwise(bench, case, x.dtype)
    # floor
    item = x.element_size()
    fwd = (2 * x.numel() + planes.numel()) * item  # read x, planes; write out
    bwd = (3 * x.numel() + 2 * planes.numel()) * item  # read grad_out, x, planes; write both grads
    return {"fwd_ms": significant(fwd / bandwidth), "bwd_ms": significant(bwd / bandwidth),
            "fwd_bwd_ms": significant((fwd + bwd) / bandwidth), "bytes": fwd + bwd}


def time_depthwise(bench, case, dtype):
    """conv2d(groups=C) forward/backward in both memory layouts; the faster one's figures."""
    torch = bench.torch
    import torch.nn.functional as F
    batch, channels, height, width, k, _ = case
    torch.backends.cudnn.benchmark = True
    rows = {}
    for layout, fmt in (("NCHW", torch.contiguous_format), ("channels_last", torch.channels_last)):
        x = torch.randn((batch, channels, height, width), device="cuda", dtype=dtype).to(memory_format=fmt)
        weight = (torch.randn((channels, 1, k, k), device="cuda", dtype=dtype) / k).to(memory_format=fmt)
        grad_out = torch.randn_like(x)
        x.requires_grad_(True)
        weight.requires_grad_(True)
        rows[layout] = bench.time_autograd(
            lambda a, w: F.conv2d(a, w, padding=(k - 1) // 2, groups=channels), x, weight, grad_out)
    best = min(rows, key=lambda name: rows[name]["fwd_bwd_ms"])
    other = next(name for name in rows if name != best)
    return {**rows[best], "layout": best, f"{other}_fwd_bwd_ms": rows[other]["fwd_bwd_ms"]}


def main():
    args = parse_args()
    torch, triton, kernels = load_modules()
    started = time.monotonic()
    for name in ("cache_size_limit", "recompile_limit"):  # one compiled graph per case and dtype
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 64)
    # The backward alone is timed by re-running one graph's backward (retain_graph=True), which
    # compiled backward graphs refuse when they reuse ("donate") their saved buffers.
    import torch._functorch.config

    torch._functorch.config.donated_buffer = False
    bench = Bench(torch, triton, kernels, args.output)
    bandwidth = bench.copy_bandwidth()
    bench.emit({"provenance": {
        "gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
        "cuda": torch.version.cuda, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "copy_bandwidth_GBps": round(bandwidth / 1e6, 1), "timing": "triton.testing.do_bench median, L2 emptied"}})
    # torch.compile last: its compilation takes the longest, and --budget-s may skip it.
    quick = [method for method in args.methods if method != "slices-compile"]
    for methods in (quick, [method for method in args.methods if method not in quick]):
        for dtype_name in args.dtypes:
            for case in args.cases:
                if methods:
                    run_case(bench, case, dtype_name, methods, args, bandwidth, started)
                    torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
