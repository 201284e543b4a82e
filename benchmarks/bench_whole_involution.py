"""The whole involution's forward in one kernel against the two-step form, on a CUDA GPU.

For each case (stride 1, fp32, channels last; C_r = max(1, C // 4), the paper's reduction ratio),
from the same hidden features h (B, H, W, C_r), the span weights (C_r, G*K*K) and bias:

* ``two-step``: the span 1x1 convolution (``torch.addmm``), which writes the K*K*G kernel planes,
  then the course's Triton multiply-add (``triton_kernels.forward``, tuned on its first call);
  each part is also timed alone;
* ``whole``: ``fused/whole_triton.py``, the planes generated per tile in registers and applied at
  once; every config of ``whole_triton.candidates`` is timed and the fastest kept;
* ``floor``: the bytes each form must move over the copy bandwidth measured in this run
  (two-step: read h, write the planes, read x and the planes, write out; whole: read h and x,
  write out; both read the span weights).

Times are ``triton.testing.do_bench`` medians (L2 emptied). Before timing, every whole config's
output is compared with the two-step one; a disagreement stops the script with exit status 1.

    python3 benchmarks/bench_whole_involution.py [--output FILE.jsonl] [--json results/whole-involution.json]

``--quick`` runs one small case on the CPU through Triton's interpreter instead: it checks the
script and the kernels agree, and its times mean nothing.

stdout: a provenance line, then one JSON line per case and method. ``--json`` writes the summary
notebook 06 reads: provenance, and per case two_step_ms, whole_ms, floor_ms, the bytes of both
forms and the flops (2 per multiply-add: the span convolution's and the multiply-add's).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUSED = ROOT / "src" / "student" / "involution_course" / "fused"
# (batch, channels, height, width, K, groups), as bench_fused_torch.py; stride 1.
CASES = (
    (32, 64, 56, 56, 7, 4),
    (256, 3, 32, 32, 3, 1),
    (64, 256, 28, 28, 7, 16),
    (32, 128, 56, 56, 7, 8),
)
REDUCTION = 4


def case_name(case) -> str:
    batch, channels, height, width, k, groups = case
    return f"B{batch} C{channels} {height}x{width} K{k} G{groups}"


def load(name: str):
    """A kernel module loaded from its file (the package's __init__ imports notebook helpers)."""
    spec = importlib.util.spec_from_file_location(f"involution_{name}", FUSED / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def commit(given: str | None) -> str:
    if given:
        return given
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", help="also write every JSON line to this file")
    parser.add_argument("--json", type=Path, help="write the summary (results/whole-involution.json) here")
    parser.add_argument("--cases", help="comma-separated 1-based case numbers (default: all)")
    parser.add_argument("--commit", help="the code's commit, where git cannot tell (a copy without .git)")
    parser.add_argument("--quick", action="store_true", help="one small case through Triton's interpreter on the CPU")
    args = parser.parse_args()
    if args.quick:
        os.environ["TRITON_INTERPRET"] = "1"  # before triton's first import
    elif os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        print("bench_whole_involution: unset TRITON_INTERPRET; this benchmark times compiled kernels.", file=sys.stderr)
        return 2
    try:
        import torch
        import triton
        import triton.testing
    except ImportError as error:
        print(f"bench_whole_involution: this benchmark needs PyTorch and Triton ({error}).", file=sys.stderr)
        return 2
    device = "cpu" if args.quick else "cuda"
    if not args.quick and not torch.cuda.is_available():
        print("bench_whole_involution: this benchmark needs a CUDA GPU, and PyTorch sees none.", file=sys.stderr)
        return 2
    kernels, whole = load("triton_kernels"), load("whole_triton")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 span convolution, as the whole kernel's
    output = open(args.output, "w", encoding="utf-8") if args.output else None

    def emit(row):
        line = json.dumps(row)
        print(line, flush=True)
        if output:
            output.write(line + "\n")
            output.flush()

    def ms(fn):
        if args.quick:
            start = time.perf_counter()
            fn()
            return float(f"{(time.perf_counter() - start) * 1e3:.4g}")
        return float(f"{triton.testing.do_bench(fn, return_mode='median'):.4g}")

    src = torch.empty(2 ** (16 if args.quick else 28), dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    bandwidth = 2 * src.numel() * 4 / ms(lambda: dst.copy_(src))
    del src, dst
    provenance = {"command": " ".join(["python3", "benchmarks/bench_whole_involution.py", *sys.argv[1:]]),
                  "commit": commit(args.commit),
                  "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "gpu": "CPU (interpreter)" if args.quick else torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
                  "copy_bandwidth_GBps": round(bandwidth / 1e6, 1), "reduction_ratio": REDUCTION,
                  "timing": "triton.testing.do_bench median, L2 emptied; fp32, stride 1, forward only"}
    emit({"provenance": provenance})
    summary = []
    cases = CASES if not args.cases else [CASES[int(n) - 1] for n in args.cases.split(",")]
    if args.quick:
        cases = [(2, 8, 6, 5, 3, 2)]
    for case in cases:
        batch, channels, height, width, k, groups = case
        reduced = max(1, channels // REDUCTION)
        taps = groups * k * k
        gen = torch.Generator(device=device).manual_seed(0)
        x = torch.randn((batch, height, width, channels), generator=gen, device=device)
        hidden = torch.relu(torch.randn((batch, height, width, reduced), generator=gen, device=device))
        span_kernel = torch.randn((reduced, taps), generator=gen, device=device) / (k * reduced ** 0.5)
        span_bias = torch.randn((taps,), generator=gen, device=device) / k
        flat = hidden.view(-1, reduced)

        def span():
            return torch.addmm(span_bias, flat, span_kernel).view(batch, height, width, taps)

        def two_step():
            return kernels.forward(x, span(), k, 1, groups)

        expected = two_step()  # tunes the multiply-add's blocks for this shape
        planes = span()
        scale = max(float(expected.abs().max()), 1.0)
        name = case_name(case)
        timings = {}
        for cfg in whole.candidates(channels, groups, k, reduced):
            def run(cfg=cfg):
                return whole.whole_involution(x, hidden, span_kernel, span_bias, kernel_size=k, groups=groups,
                                                cfg=cfg)
            try:
                error = float((run() - expected).abs().max())
            except Exception as failure:  # a config this GPU cannot compile or run: say so, time the others
                emit({"case": name, "method": "whole-config", "config": cfg._asdict(),
                      "error": f"{type(failure).__name__}: {failure}"[:300]})
                continue
            if not error <= 1e-4 * scale:
                print(f"bench_whole_involution: the whole kernel ({cfg}) disagrees with the two-step form at "
                      f"{name}: max abs difference {error:.3g}.", file=sys.stderr)
                return 1
            timings[cfg] = ms(run)
            emit({"case": name, "method": "whole-config", "config": cfg._asdict(), "fwd_ms": timings[cfg],
                  "max_abs_diff": float(f"{error:.3g}")})
        if not timings:
            print(f"bench_whole_involution: no config of the whole kernel ran at {name}.", file=sys.stderr)
            return 1
        best = min(timings, key=timings.get)
        pixels = batch * height * width
        item = 4
        weights = (reduced * taps + taps) * item
        whole_bytes = (pixels * reduced + 2 * pixels * channels) * item + weights
        two_step_bytes = whole_bytes + 2 * pixels * taps * item
        flops = 2 * pixels * k * k * (reduced * groups + channels)
        forward_key = ("forward", (batch, height, width, channels, groups, k, 1, str(x.dtype)))
        chosen = kernels._tuned.get(forward_key)
        row = {
            "case": name, "C_r": reduced,
            "two_step_ms": ms(two_step), "span_ms": ms(span), "multiply_add_ms": ms(lambda: kernels.forward(x, planes, k, 1, groups)),
            "whole_ms": timings[best], "whole_config": best._asdict(),
            "multiply_add_config": chosen._asdict() if hasattr(chosen, "_asdict") else None,
            "floor_ms": float(f"{whole_bytes / bandwidth:.4g}"),
            "two_step_floor_ms": float(f"{two_step_bytes / bandwidth:.4g}"),
            "two_step_bytes": two_step_bytes, "whole_bytes": whole_bytes, "flops": flops,
        }
        row["whole_over_two_step"] = round(row["whole_ms"] / row["two_step_ms"], 3)
        emit({"method": "summary", **row})
        summary.append({key: row[key] for key in ("case", "C_r", "two_step_ms", "span_ms", "multiply_add_ms", "whole_ms",
                                                  "floor_ms", "two_step_bytes", "whole_bytes", "flops")})
        del x, hidden, planes, expected
        if not args.quick:
            torch.cuda.empty_cache()
    if args.json:
        args.json.write_text(json.dumps({"provenance": {key: provenance[key] for key in ("command", "commit", "date", "gpu", "copy_bandwidth_GBps", "timing")},
                                         "cases": summary}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
