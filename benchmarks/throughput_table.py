"""README's table of training throughput with and without the fused kernels, from the experiment's files.

    python benchmarks/throughput_table.py results/raw/throughput-jax-h100.json results/raw/throughput-torch-h100.json

Each file is the ``throughput.json`` that ``involution-instructor experiment --phases throughput
--throughput-models pairs --fused both --profile`` writes (one backend per file). Prints, per
backend, images per second of each model with the fused kernels where they apply and without
them, the involution network over its CNN twin, and where the fair involution network's step goes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PAIRS = (("example_involution", "example_cnn", "example"), ("fair_involution", "fair_conv", "fair"))


def load(path: Path) -> tuple[dict, dict]:
    payload = json.loads(path.read_text(encoding="utf-8"))
    provenance = payload["provenance"][0] if isinstance(payload["provenance"], list) else payload["provenance"]
    rows = {(r["model"], r.get("fused", "auto")): r for r in payload["runs"]}
    return provenance, rows


def table(paths: list[Path]) -> str:
    lines = ["| backend | model | fused kernels where they apply | without (`INVOLUTION_COURSE_FUSED=0`) |",
             "| --- | --- | ---: | ---: |"]
    ratios, profiles, sources = [], [], []
    for path in paths:
        provenance, rows = load(path)
        backend = provenance["backend"]
        sources.append(f"{path.as_posix()}: {provenance['hardware']['gpu']}, {provenance['date'][:10]}, "
                       f"commit {provenance['commit'][:7]}")
        for involution, conv, name in PAIRS:
            for model in (conv, involution):
                on, off = rows.get((model, "auto")), rows.get((model, "off"))
                cells = [f"{r['images_per_second']:,.0f}" if r else "not run" for r in (on, off)]
                used = f" ({', '.join(on['multiply_add'])})" if on and on.get("multiply_add") else ""
                lines.append(f"| {backend} | {model}{used} | {cells[0]} | {cells[1]} |")
            for setting in ("auto", "off"):
                a, b = rows.get((involution, setting)), rows.get((conv, setting))
                if a and b:
                    label = "kernels on" if setting == "auto" else "kernels off"
                    ratios.append(f"{backend}, {name} pair, {label}: {a['images_per_second'] / b['images_per_second']:.2f}×")
        for setting in ("auto", "off"):
            row = rows.get(("fair_involution", setting))
            if row and row.get("step_profile"):
                parts = {k: v for k, v in row["step_profile"].items() if isinstance(v, (int, float))}
                profiles.append(f"{backend}, kernels {'on' if setting == 'auto' else 'off'}: "
                                + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))
    return "\n".join([*lines, "", "involution ÷ CNN: " + "; ".join(ratios), "",
                      "fair involution network's step (ms): " + " | ".join(profiles), "", *sources])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        raise SystemExit(f"throughput_table: no file {', '.join(missing)}; run the experiment's throughput phase first.")
    print(table(args.files))


if __name__ == "__main__":
    main()
