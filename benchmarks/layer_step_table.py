"""README's table "The involution operator, TensorFlow on the CPU", and notebook 03's record of it, from one run.

    KERAS_BACKEND=tensorflow python benchmarks/bench_involution_op.py --sizes 0,1 > results/raw/layer-step-cpu.jsonl
    python benchmarks/layer_step_table.py results/raw/layer-step-cpu.jsonl --machine "AMD EPYC, 2 cores, 24 GB, no GPU" \
        --write results/layer-step-cpu.json

Reads the benchmark's JSON lines, computes every ratio from the medians (patches over the course's
layer, the course's layer over DepthwiseConv2D), writes the record that notebook 03 prints (copy it
into the student package's ``results_data/``) and prints the README table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

MODES = (("eager", "eager"), ("tf.function", "`tf.function` (what `fit` uses on a CPU-only machine)"),
         ("XLA", "XLA (`jit_compile=True`)"))
CASES = {"course": "course Involution", "patches": "Keras example", "depthwise": "DepthwiseConv2D", "conv": "Conv2D"}
SIZES = {"32x32x3 K=3 G=1 r=2 batch 256": "32×32×3, K=3, G=1, batch 256", "56x56x64 K=7 G=4 r=4 batch 32": "56×56×64, K=7, G=4, batch 32"}


# The benchmark's name of a mode, as the record and the notebook call it.
MODE_NAMES = {"tf.function(jit_compile=True)": "XLA"}


def read_rows(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            if row.get("benchmark") == "involution_op" and row.get("median") is not None:
                rows.append(dict(row, mode=MODE_NAMES.get(row["mode"], row["mode"])))
    if not rows:
        raise SystemExit(f"{path} holds no timed row of bench_involution_op.py")
    return rows


def _case(row: dict) -> str | None:
    return next((key for key, prefix in CASES.items() if row["case"].startswith(prefix)), None)


def medians(rows: list[dict]) -> dict:
    """{(group, mode): {case key: median seconds}}."""
    found: dict = {}
    for row in rows:
        key = _case(row)
        if key is not None:
            found.setdefault((row["group"], row["mode"]), {})[key] = row["median"]
    return found


def ratios(rows: list[dict]) -> list[dict]:
    out = []
    for (group, mode), times in medians(rows).items():
        if {"course", "patches", "depthwise"} <= times.keys():
            out.append({"group": group, "mode": mode, "patches_over_course": round(times["patches"] / times["course"], 2),
                        "course_over_depthwise": round(times["course"] / times["depthwise"], 2)})
    return out


def record(rows: list[dict], *, raw: str, machine: str, date: str, command: str) -> dict:
    import keras
    import tensorflow as tf

    return {"phase": "layer-step-cpu",
            "provenance": {"command": command, "date": date, "machine": machine,
                           "software": f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python {platform.python_version()}",
                           "what": "one training step (forward, mean of squares, gradients with respect to the input and every "
                                   "weight); medians of 10 steps at 32x32 and of 5 at 56x56; the cases of one size take turns",
                           "source": raw},
            "rows": [{k: r[k] for k in ("benchmark", "case", "group", "backend", "mode", "device", "median", "unit", "repeats",
                                        "details") if k in r} for r in rows],
            "ratios": ratios(rows)}


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "not run"
    return f"{seconds:.3g} s" if seconds >= 1 else f"{seconds * 1e3:.3g} ms"


def table(data: dict) -> str:
    times = medians(data["rows"])
    by = {(r["group"], r["mode"]): r for r in data["ratios"]}
    lines = ["| size | mode | course | patches | DepthwiseConv2D | Conv2D | patches ÷ course | course ÷ depthwise |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for group, label in SIZES.items():
        for index, (mode, mode_label) in enumerate(MODES):
            if (group, mode) not in times:
                continue
            t, r = times[(group, mode)], by.get((group, mode), {})
            bold = "**" if mode != "tf.function" else ""
            cells = [label if index == 0 else "", mode_label if index == 0 or mode != "tf.function" else "`tf.function`"]
            cells += [_time(t.get(k)) for k in ("course", "patches", "depthwise", "conv")]
            cells += [f"{bold}{r['patches_over_course']:.2f}×{bold}" if r else "", f"{r['course_over_depthwise']:.2g}×" if r else ""]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def memory_sentence(data: dict) -> str:
    """Peak memory of one step, the course's layer against the patches, under XLA at each size and eagerly at the larger."""
    peak = {(r["group"], r["mode"], _case(r)): r.get("details", {}).get("peak_memory_mb") for r in data["rows"]}

    def pair(group, mode):
        course, patches = peak.get((group, mode, "course")), peak.get((group, mode, "patches"))
        return f"{_megabytes(course)} against {_megabytes(patches)}"

    small, large = SIZES
    return ("Peak memory of one step (resident set above the warmed-up process): under XLA "
            f"{pair(small, 'XLA')} at 32×32 and {pair(large, 'XLA')} at 56×56; eagerly {pair(large, 'eager')} at 56×56.")


def _megabytes(value) -> str:
    if value is None:
        return "not measured"
    return f"{value / 1000:.2g} GB" if value >= 1000 else f"{value:.3g} MB"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", type=Path, help="the benchmark's JSON lines")
    parser.add_argument("--machine", required=True, help="the machine it ran on, in words")
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    parser.add_argument("--command", default="KERAS_BACKEND=tensorflow python benchmarks/bench_involution_op.py --sizes 0,1")
    parser.add_argument("--write", type=Path, help="where to write the record (results/layer-step-cpu.json)")
    args = parser.parse_args(argv)
    data = record(read_rows(args.raw), raw=args.raw.as_posix(), machine=args.machine, date=args.date, command=args.command)
    if args.write:
        args.write.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(table(data))
    print()
    print(memory_sentence(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
