"""results/kernels-gpu.json, the table notebook 06 and README show, from the fused-kernel benchmarks' output.

    python benchmarks/kernels_table.py --torch results/raw/kernels-torch-h200.jsonl \
        --jax results/raw/kernels-jax-h200.jsonl --output results/kernels-gpu.json

The inputs are the JSON lines that ``bench_fused_torch.py --output`` and ``bench_fused_jax.py
--output`` write on a GPU, and (``--paper``) those of ``bench_paper_kernels.py``, which times the
paper's CUDA kernels (CuPy) from a local copy of their file; without it, the paper's rows are the
figures measured on one H200 when the course set its targets, kept with that source. Lines of
methods notebook 06 does not name (e.g. ``fused-pallas-split``) stay in the raw files only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MEASURES = ("fwd_ms", "bwd_ms", "fwd_bwd_ms")
# The paper's kernels, fp32, NCHW, torch: fwd_bwd is the multiply-add with a sum loss and both
# gradients (median of 50 steps); fwd and bwd are the kernels alone (triton.testing.do_bench).
PAPER = {
    "B32 C64 56x56 K7 G4": (0.345, 0.560, 1.07),
    "B256 C3 32x32 K3 G1": (0.011, 0.026, 0.38),
    "B64 C256 28x28 K7 G16": (0.729, 1.172, 2.01),
    "B32 C128 56x56 K7 G8": (0.668, 1.094, 1.96),
}
PEAK_FP32_TFLOPS = 67.0  # NVIDIA's H200 datasheet, FP32 without tensor cores


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _rows(lines: list[dict], framework: str) -> list[dict]:
    rows = []
    for line in lines:
        if "method" not in line or all(line.get(m) is None for m in MEASURES):
            continue  # tuning lines, checks, and methods skipped for time
        rows.append({"case": line["case"], "dtype": line.get("dtype", "float32"), "framework": framework,
                     "method": line["method"], **{m: line.get(m) for m in MEASURES}})
    return rows


# The methods notebook 06 names (involution_course.speed.METHODS); other lines stay in the raw files.
KNOWN = ("fused-triton", "fused-pallas", "paper-cuda", "unfold", "slices-eager", "slices-compile", "slices-xla",
         "cudnn-depthwise", "xla-depthwise", "floor")


def build(torch_path: Path, jax_path: Path, paper_path: Path | None = None) -> dict:
    torch_lines, jax_lines = _lines(torch_path), _lines(jax_path)
    torch_provenance, jax_provenance = torch_lines[0]["provenance"], jax_lines[0]["provenance"]
    bandwidth = torch_provenance.get("copy_bandwidth_GBps")
    if paper_path is None:
        rows = [{"case": case, "dtype": "float32", "framework": "torch", "method": "paper-cuda",
                 **dict(zip(MEASURES, values))} for case, values in PAPER.items()]
        paper_source = "the paper's CuPy kernels, measured on one H200 with torch when the course set its targets"
        paper_timing = ("forward and backward: the kernels alone, triton.testing.do_bench; forward + backward: "
                        "the median of 50 training steps")
    else:  # bench_paper_kernels.py's lines: the paper's kernels (and the course's) timed in a run of their own
        paper_lines = _lines(paper_path)
        rows = [{**row, "method": "paper-cuda"} for row in _rows(paper_lines, "torch") if row["method"] == "paper-cupy"]
        paper = paper_lines[0]["provenance"]
        paper_source = (f"the paper's CuPy kernels (cupy {paper.get('cupy')}), measured with torch on one "
                        f"{paper.get('gpu')} on {paper.get('date', '')[:10]} ({paper.get('command')})")
        paper_timing = paper.get("timing") or "timing method not recorded"
    rows += [row for row in _rows(torch_lines, "torch") + _rows(jax_lines, "jax") if row["method"] in KNOWN]
    return {
        "provenance": {
            "source": f"the course's fused-kernel benchmarks on one {torch_provenance.get('gpu')}",
            "gpu": torch_provenance.get("gpu"),
            "date": max(torch_provenance.get("date", ""), jax_provenance.get("date", ""))[:10],
            "command": f"{torch_provenance.get('command')}; {jax_provenance.get('command')}; "
                       "python benchmarks/kernels_table.py",
            "torch": {key: torch_provenance.get(key) for key in ("torch", "triton", "cuda", "timing")},
            "jax": {key: jax_provenance.get(key) for key in ("jax", "timing")},
            "layout": "NHWC (channels last) for the course's kernels; the paper's kernels NCHW",
            "paper-cuda": paper_source,
            "paper-cuda-timing": paper_timing,
            "measures": {
                "fwd_ms": "the forward alone", "bwd_ms": "the backward alone, given an upstream gradient",
                "fwd_bwd_ms": "forward, a loss and both gradients (for the fused kernels: through autograd or vjp)",
            },
            "memory_bandwidth_tb_s": round(bandwidth / 1000, 3) if bandwidth else None,
            "memory_bandwidth_source": "a device-to-device copy measured in the torch benchmark's run",
            "peak_fp32_tflops": PEAK_FP32_TFLOPS,
            "peak_fp32_tflops_source": "NVIDIA's H200 datasheet (FP32, without tensor cores)",
        },
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", type=Path, required=True)
    parser.add_argument("--jax", type=Path, required=True)
    parser.add_argument("--paper", type=Path, help="bench_paper_kernels.py's lines (default: the figures kept here)")
    parser.add_argument("--output", type=Path, default=Path("results/kernels-gpu.json"))
    args = parser.parse_args()
    for path in (args.torch, args.jax, *([args.paper] if args.paper else [])):
        if not path.is_file():
            raise SystemExit(f"kernels_table: no file {path}; run the benchmark on a GPU with --output first.")
    table = build(args.torch, args.jax, args.paper)
    args.output.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.output}: {len(table['rows'])} rows")


if __name__ == "__main__":
    main()
