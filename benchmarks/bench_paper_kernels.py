"""The paper's CUDA kernels (CuPy) beside the course's Triton kernels, in one process on one GPU.

The paper's multiply-add (Li et al., CVPR 2021) is three CuPy kernels in its repository,
github.com/d-li14/involution, ``cls/mmcls/models/utils/involution_cuda.py``. That file is not part
of the course: pass a local copy with ``--source``; it is loaded with a stand-in for the
``mmcv.cnn`` import it does not use for the kernels, and, where this CuPy lacks
``cupy.cuda.compile_with_cache``, with ``cupy.RawModule`` in its place.

For each case (stride 1, fp32), both are timed with ``triton.testing.do_bench`` (median, L2
emptied): the forward alone, the backward alone (``autograd.grad`` of a kept graph: both
gradients) and both; the paper's in its layout (NCHW input, kernel (B, G, K, K, H, W)), the
course's channels last. Before timing, the two outputs and gradients are compared (max abs
difference in the line); a disagreement stops the script with exit status 1.

    python3 benchmarks/bench_paper_kernels.py --source PATH/involution_cuda.py [--output FILE]

stdout: a provenance line, then one JSON line per case and method ("paper-cupy", "fused-triton"),
and a "ratio" line: the paper's time over the course's.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "src" / "student" / "involution_course" / "fused" / "triton_kernels.py"
CASES = (  # (batch, channels, height, width, K, groups), as bench_fused_torch.py
    (32, 64, 56, 56, 7, 4),
    (256, 3, 32, 32, 3, 1),
    (64, 256, 28, 28, 7, 16),
    (32, 128, 56, 56, 7, 8),
)


def load(path: Path, name: str, before=None):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if before:
        before()
    spec.loader.exec_module(module)
    return module


def paper_module(source: Path):
    """The paper's file, loaded without mmcv (its layer class needs it; the kernels do not)."""
    import cupy

    def stand_ins():
        if "mmcv" not in sys.modules:
            mmcv, cnn = types.ModuleType("mmcv"), types.ModuleType("mmcv.cnn")
            cnn.ConvModule = object
            mmcv.cnn = cnn
            sys.modules.update({"mmcv": mmcv, "mmcv.cnn": cnn})
        if not hasattr(cupy.cuda, "compile_with_cache"):
            cupy.cuda.compile_with_cache = lambda code: cupy.RawModule(code=code)

    module = load(source, "paper_involution_cuda", stand_ins)
    # Its dtype test (isinstance of torch.cuda.FloatTensor) by the tensor's dtype instead.
    module.Dtype = lambda t: {"torch.float32": "float", "torch.float64": "double"}[str(t.dtype)]
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the paper's involution_cuda.py")
    parser.add_argument("--output", help="also write every JSON line to this file")
    parser.add_argument("--cases", help="comma-separated 1-based case numbers (default: all)")
    args = parser.parse_args()
    if not args.source.is_file():
        print(f"bench_paper_kernels: no file {args.source}; pass a copy of the paper's "
              "cls/mmcls/models/utils/involution_cuda.py with --source.", file=sys.stderr)
        return 2
    try:
        import torch
        import triton
        import triton.testing
    except ImportError as error:
        print(f"bench_paper_kernels: this benchmark needs PyTorch and Triton ({error}).", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("bench_paper_kernels: this benchmark needs a CUDA GPU, and PyTorch sees none.", file=sys.stderr)
        return 2
    paper = paper_module(args.source)
    course = load(KERNELS, "involution_triton_kernels")
    output = open(args.output, "w", encoding="utf-8") if args.output else None

    def emit(row):
        line = json.dumps(row)
        print(line, flush=True)
        if output:
            output.write(line + "\n")
            output.flush()

    def ms(fn):
        return float(f"{triton.testing.do_bench(fn, return_mode='median'):.4g}")

    def timed(fn, a, b, grad):
        out = fn(a, b)
        return {"fwd_ms": ms(lambda: fn(a, b)),
                "bwd_ms": ms(lambda: torch.autograd.grad(out, (a, b), grad, retain_graph=True)),
                "fwd_bwd_ms": ms(lambda: torch.autograd.grad(fn(a, b), (a, b), grad))}

    emit({"provenance": {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
                         "cupy": sys.modules["cupy"].__version__,
                         "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                         "command": " ".join(["python3", *sys.argv]), "source": str(args.source.name),
                         "timing": "triton.testing.do_bench median, L2 emptied"}})
    cases = CASES if not args.cases else [CASES[int(n) - 1] for n in args.cases.split(",")]
    for batch, channels, height, width, k, groups in cases:
        name = f"B{batch} C{channels} {height}x{width} K{k} G{groups}"
        gen = torch.Generator(device="cuda").manual_seed(0)
        x = torch.randn((batch, height, width, channels), generator=gen, device="cuda")
        planes = torch.randn((batch, height, width, groups * k * k), generator=gen, device="cuda") / k
        grad = torch.randn((batch, height, width, channels), generator=gen, device="cuda")
        # The paper's layout: x NCHW, kernel (B, G, K, K, H, W); the same numbers.
        x_p = x.permute(0, 3, 1, 2).contiguous().requires_grad_(True)
        w_p = planes.view(batch, height, width, groups, k, k).permute(0, 3, 4, 5, 1, 2).contiguous().requires_grad_(True)
        grad_p = grad.permute(0, 3, 1, 2).contiguous()
        x_c, planes_c = x.clone().requires_grad_(True), planes.clone().requires_grad_(True)

        def paper_fn(a, b):
            return paper._involution_cuda(a, b, stride=1, padding=(k - 1) // 2)

        def course_fn(a, b):
            return course.multiply_add(a, b, kernel_size=k, stride=1, groups=groups)

        out_p = paper_fn(x_p, w_p)
        gx_p, gw_p = torch.autograd.grad(out_p, (x_p, w_p), grad_p)
        out_c = course_fn(x_c, planes_c)
        gx_c, gp_c = torch.autograd.grad(out_c, (x_c, planes_c), grad)
        pairs = ((out_p.permute(0, 2, 3, 1), out_c), (gx_p.permute(0, 2, 3, 1), gx_c),
                 (gw_p.permute(0, 4, 5, 1, 2, 3).reshape(planes.shape), gp_c))
        error = max(float((a - b).abs().max()) for a, b in pairs)
        scale = max(float(a.abs().max()) for a, _ in pairs)
        if not error <= 1e-4 * max(scale, 1.0):
            print(f"bench_paper_kernels: the paper's and the course's kernels disagree at {name}: "
                  f"max abs difference {error:.3g}.", file=sys.stderr)
            return 1
        rows = {"paper-cupy": timed(paper_fn, x_p, w_p, grad_p), "fused-triton": timed(course_fn, x_c, planes_c, grad)}
        for method, row in rows.items():
            emit({"case": name, "dtype": "float32", "method": method, **row, "max_abs_diff": float(f"{error:.3g}")})
        emit({"case": name, "ratio": "paper / course",
              **{key: round(rows["paper-cupy"][key] / rows["fused-triton"][key], 3) for key in rows["fused-triton"]}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
