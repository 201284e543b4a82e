"""Recorded GPU timings of involution's multiply-add (notebook 06): read, tabulate, conclude.

``results_data/kernels-gpu.json`` ships a copy of the instructor's ``results/kernels-gpu.json``:
``provenance`` (GPU, date, command, the measured memory bandwidth and the peak FP32 rate) and
``rows``, one per case, framework and method, with ``fwd_ms``, ``bwd_ms`` and ``fwd_bwd_ms``
(a time in milliseconds, or null where it was not measured). A case is named like
``"B32 C64 56x56 K7 G4"`` (batch, channels, height x width, kernel size, groups; stride 1).
:func:`live_speed.measure <involution_course.live_speed.measure>` returns the same form, so a
live run on this machine's GPU goes through the same table and sentences.

Every sentence :func:`conclusions` writes is computed from the rows: nothing here is typed in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

RESULTS_FILE = Path(__file__).resolve().parent / "results_data" / "kernels-gpu.json"
MEASURES = ("fwd_ms", "bwd_ms", "fwd_bwd_ms")
METHODS = {
    "fused-triton": "the course's fused kernel (Triton)",
    "fused-pallas": "the course's fused kernel (Pallas)",
    "paper-cuda": "the paper's CUDA kernels",
    "unfold": "unfold (patch tensor)",
    "slices-eager": "shifted slices, eager",
    "slices-compile": "shifted slices, torch.compile",
    "slices-xla": "shifted slices, XLA",
    "cudnn-depthwise": "cuDNN depthwise KxK convolution",
    "xla-depthwise": "XLA depthwise KxK convolution",
    "floor": "floor (bytes at full bandwidth)",
}
_CASE = re.compile(r"^B(\d+) C(\d+) (\d+)x(\d+) K(\d+) G(\d+)$")


class SpeedDataError(ValueError):
    """A timings file that cannot be read; the message says what is wrong in one sentence."""


@dataclass(frozen=True)
class Case:
    """The sizes a case name stands for (stride 1, as in every recorded case)."""

    batch: int
    channels: int
    height: int
    width: int
    kernel_size: int
    groups: int

    @classmethod
    def parse(cls, name: str) -> "Case":
        match = _CASE.match(name.strip())
        if not match:
            raise SpeedDataError(f"A case name looks like 'B32 C64 56x56 K7 G4'; got {name!r}.")
        return cls(*map(int, match.groups()))

    @property
    def name(self) -> str:
        return f"B{self.batch} C{self.channels} {self.height}x{self.width} K{self.kernel_size} G{self.groups}"

    def sizes(self) -> dict:
        """Keyword arguments in the order of notebook 06's counting functions."""
        return {"batch": self.batch, "height": self.height, "width": self.width,
                "channels": self.channels, "kernel_size": self.kernel_size}


@dataclass(frozen=True)
class Timings:
    provenance: dict
    rows: tuple

    def cases(self) -> list[str]:
        """The cases in the order they first appear."""
        return list(dict.fromkeys(row["case"] for row in self.rows))

    def methods(self) -> list[str]:
        """The methods present, in :data:`METHODS` order (unknown ones last)."""
        present = dict.fromkeys(row["method"] for row in self.rows)
        return [m for m in METHODS if m in present] + [m for m in present if m not in METHODS]

    def value(self, case: str, method: str, measure: str = "fwd_bwd_ms") -> float | None:
        """The time of ``method`` on ``case`` (the first framework that has it), or ``None``."""
        for row in self.rows:
            if row["case"] == case and row["method"] == method and row.get(measure) is not None:
                return float(row[measure])
        return None

    def kernels_alone(self, case: str, method: str) -> float | None:
        """Forward plus backward kernels, timed apart, where both were."""
        forward, backward = self.value(case, method, "fwd_ms"), self.value(case, method, "bwd_ms")
        return None if forward is None or backward is None else forward + backward

    @property
    def bandwidth(self) -> float | None:
        """Memory bandwidth in bytes per second, where the provenance records it."""
        tb_s = self.provenance.get("memory_bandwidth_tb_s")
        return None if tb_s is None else float(tb_s) * 1e12

    @property
    def peak_flops(self) -> float | None:
        """Peak FP32 rate in FLOP per second, where the provenance records it."""
        tflops = self.provenance.get("peak_fp32_tflops")
        return None if tflops is None else float(tflops) * 1e12


def load_timings(path=None) -> Timings:
    """The recorded timings (the shipped copy unless ``path`` names another file)."""
    path = Path(path or RESULTS_FILE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpeedDataError(f"No recorded timings at {path}: reinstall the course.") from None
    except (ValueError, UnicodeDecodeError):
        raise SpeedDataError(f"The timings file {path} is not valid JSON: reinstall the course.") from None
    return timings_from(data, str(path))


def timings_from(data, where: str = "the timings") -> Timings:
    """Check the form of ``{"provenance": ..., "rows": [...]}`` and wrap it."""
    if not isinstance(data, dict) or not isinstance(data.get("provenance"), dict) or not isinstance(data.get("rows"), list):
        raise SpeedDataError(f"{where} should hold a 'provenance' object and a list of 'rows'.")
    for number, row in enumerate(data["rows"]):
        missing = [key for key in ("case", "framework", "method", *MEASURES) if key not in row]
        if missing:
            raise SpeedDataError(f"Row {number} of {where} lacks {', '.join(missing)}.")
        Case.parse(row["case"])
        for measure in MEASURES:
            value = row[measure]
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise SpeedDataError(f"Row {number} of {where}: {measure} should be a positive number or null; got {value!r}.")
    return Timings(dict(data["provenance"]), tuple(data["rows"]))


def provenance_text(timings: Timings) -> str:
    """One line: where, when and how the timings were measured."""
    p = timings.provenance
    parts = [p.get("source") or "recorded timings", p.get("gpu") or "GPU not recorded"]
    if p.get("date"):
        parts.append(str(p["date"])[:10])
    if p.get("layout"):
        parts.append(str(p["layout"]))
    if timings.bandwidth:
        parts.append(f"memory bandwidth {timings.bandwidth / 1e12:.2f} TB/s")
    if p.get("command"):
        parts.append(f"`{p['command']}`")
    return "; ".join(parts)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:#.3g}".rstrip(".")


def timing_table(timings: Timings, measure: str = "fwd_bwd_ms") -> str:
    """A Markdown table: one row per case, one column per method, times in ms."""
    if measure not in MEASURES:
        raise SpeedDataError(f"measure should be one of {', '.join(MEASURES)}; got {measure!r}.")
    methods = [m for m in timings.methods() if any(timings.value(c, m, measure) for c in timings.cases())]
    lines = ["| case | " + " | ".join(METHODS.get(m, m) for m in methods) + " |",
             "| --- | " + " | ".join("---:" for _ in methods) + " |"]
    for case in timings.cases():
        lines.append(f"| {case} | " + " | ".join(_ms(timings.value(case, m, measure)) for m in methods) + " |")
    return "\n".join(lines)


def ratio_range(timings: Timings, numerator: str, denominator: str, measure: str = "fwd_bwd_ms"):
    """(smallest, largest) of numerator's time over denominator's across the cases that have
    both, or ``None`` when none has."""
    ratios = []
    for case in timings.cases():
        top, bottom = timings.value(case, numerator, measure), timings.value(case, denominator, measure)
        if top is not None and bottom is not None:
            ratios.append(top / bottom)
    return (min(ratios), max(ratios)) if ratios else None


def times_text(span) -> str:
    """``(3.96, 4.41)`` -> ``"4.0 to 4.4 times"``; one value when both round alike."""
    low, high = (f"{value:.1f}" if value < 10 else f"{value:.0f}" for value in span)
    return f"{low} times" if low == high else f"{low} to {high} times"


# How the sentences name each method (a table's column labels read badly in prose).
PROSE = {
    "fused-triton": "the course's fused Triton kernel",
    "fused-pallas": "the course's fused Pallas kernel",
    "paper-cuda": "the paper's CUDA kernels",
    "unfold": "the patch tensor (unfold)",
    "slices-eager": "shifted slices run eagerly",
    "slices-compile": "shifted slices under torch.compile",
    "slices-xla": "shifted slices under XLA",
    "cudnn-depthwise": "cuDNN's depthwise KxK convolution",
    "xla-depthwise": "XLA's depthwise KxK convolution",
    "floor": "the floor",
}


def conclusions(timings: Timings) -> list[str]:
    """Sentences about the forward + backward times, each computed from the rows present."""
    said = []

    def compare(method, reference, verb="takes"):
        span = ratio_range(timings, method, reference)
        if span:
            whose = "" if reference == "floor" else "the time of "
            said.append(f"{PROSE[method]} {verb} {times_text(span)} {whose}{PROSE[reference]}")

    for fused in ("fused-triton", "fused-pallas"):
        compare(fused, "floor")
        compare(fused, "paper-cuda")
    compare("paper-cuda", "floor", "take")
    alone = [timings.kernels_alone(c, "paper-cuda") / timings.kernels_alone(c, "floor")
             for c in timings.cases()
             if timings.kernels_alone(c, "paper-cuda") and timings.kernels_alone(c, "floor")]
    if alone:
        said.append(f"{PROSE['paper-cuda']} alone (forward and backward kernels timed apart) take "
                    f"{times_text((min(alone), max(alone)))} the floor")
    # The other methods against the paper's kernels or, where those were not timed, the course's.
    present = timings.methods()
    reference = next((m for m in ("paper-cuda", "fused-triton", "fused-pallas") if m in present), None)
    if reference:
        compare("unfold", reference)
        for slices in ("slices-eager", "slices-compile", "slices-xla"):
            compare(slices, reference, "take")
        compare("cudnn-depthwise", reference)
        compare("xla-depthwise", reference)
    # Sentences open with a capital, except a name that is spelt with a small letter (cuDNN).
    return [(s if s.startswith("cuDNN") else s[0].upper() + s[1:]) + "." for s in said]


# ------------------------------------------------------------------ how each column was obtained


def _framework_of(timings: Timings, method: str) -> str | None:
    return next((row["framework"] for row in timings.rows if row["method"] == method), None)


def column_sources(timings: Timings) -> list[str]:
    """One sentence per method present: timed in which run, on which GPU, when and how; or, for
    the floor, how it was computed. Everything is read from the provenance."""
    p = timings.provenance
    gpu, date = p.get("gpu") or "a GPU not recorded", str(p.get("date") or "")[:10] or "a date not recorded"
    said = []
    for method in timings.methods():
        label = METHODS.get(method, method)
        if method == "floor":
            source = p.get("memory_bandwidth_source") or "a source not recorded"
            bandwidth = f"{timings.bandwidth / 1e12:.2f} TB/s" if timings.bandwidth else "a bandwidth not recorded"
            said.append(f"{label}: computed, not timed: the bytes a fused kernel must move (forward: read X and H, "
                        f"write Y; backward: read X, H and dY, write dX and dH) at {bandwidth}, the bandwidth of {source}")
            continue
        if method == "paper-cuda" and p.get("paper-cuda"):
            how = p.get("paper-cuda-timing")
            said.append(f"{label}: {p['paper-cuda']}" + (f"; {how}" if how else "")
                        + "; not timed in the same run as the other columns")
            continue
        framework = _framework_of(timings, method)
        details = p.get(framework) if isinstance(p.get(framework), dict) else {}
        how = details.get("timing") or p.get("timing") or "timing method not recorded"
        said.append(f"{label}: timed with {framework} on {gpu}, {date}: {how}")
    return said


# ------------------------------------------------------------------ side by side, in one run

SIDE_BY_SIDE_FILE = RESULTS_FILE.parent / "kernels-paper-h100.jsonl"


def load_side_by_side(path=None) -> Timings:
    """The paper's CUDA kernels and the course's Triton kernels timed in one process on one GPU:
    ``bench_paper_kernels.py``'s JSON lines (a provenance line, then one line per case and method;
    ratio lines are left out, since they are computed from the others)."""
    path = Path(path or SIDE_BY_SIDE_FILE)
    try:
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        raise SpeedDataError(f"No side-by-side timings at {path}: reinstall the course.") from None
    except (ValueError, UnicodeDecodeError):
        raise SpeedDataError(f"The side-by-side timings {path} are not JSON lines: reinstall the course.") from None
    if not lines or not isinstance(lines[0].get("provenance"), dict):
        raise SpeedDataError(f"{path} should open with a provenance line.")
    rows = [{"case": line["case"], "dtype": line.get("dtype", "float32"), "framework": "torch",
             "method": "paper-cuda" if line["method"] == "paper-cupy" else line["method"],
             **{m: line.get(m) for m in MEASURES}}
            for line in lines[1:] if "method" in line]
    provenance = {**lines[0]["provenance"], "source": "the paper's kernels and the course's, timed side by side in one run"}
    return timings_from({"provenance": provenance, "rows": rows}, str(path))


# ------------------------------------------------------------------ the whole involution in one kernel

WHOLE_FILE = RESULTS_FILE.parent / "whole-involution.json"
_WHOLE_NUMBERS = {"two_step_ms": float, "whole_ms": float, "floor_ms": float,
                  "two_step_bytes": int, "whole_bytes": int, "flops": int}


def load_whole(path=None) -> dict | None:
    """The measured whole-involution kernel against the two-step form and the floor
    (``{"provenance": {...}, "cases": [...]}``), or ``None`` when it has not been measured yet."""
    path = Path(path or WHOLE_FILE)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise SpeedDataError(f"{path} is not valid JSON: reinstall the course.") from None
    if not isinstance(data, dict) or not isinstance(data.get("provenance"), dict) or not isinstance(data.get("cases"), list):
        raise SpeedDataError(f"{path} should hold a 'provenance' object and a list of 'cases'.")
    for number, case in enumerate(data["cases"]):
        Case.parse(str(case.get("case", "")))
        for key, kind in _WHOLE_NUMBERS.items():
            value = case.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 \
                    or (kind is int and value != int(value)):
                raise SpeedDataError(f"Case {number} of {path}: {key} should be a positive number; got {value!r}.")
    return data


def whole_table(whole: dict) -> str:
    """A Markdown table of the measured cases: times, bytes and arithmetic intensity of both forms."""
    lines = ["| case | two steps (ms) | one kernel (ms) | floor (ms) | two steps ÷ one kernel "
             "| bytes, two steps (MB) | bytes, one kernel (MB) | FLOPs per byte, two steps | FLOPs per byte, one kernel |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for c in whole["cases"]:
        lines.append(f"| {c['case']} | {_ms(c['two_step_ms'])} | {_ms(c['whole_ms'])} | {_ms(c['floor_ms'])} "
                     f"| {c['two_step_ms'] / c['whole_ms']:.2f} | {c['two_step_bytes'] / 1e6:,.1f} | {c['whole_bytes'] / 1e6:,.1f} "
                     f"| {c['flops'] / c['two_step_bytes']:.2f} | {c['flops'] / c['whole_bytes']:.2f} |")
    return "\n".join(lines)


def whole_conclusions(whole: dict, peak_flops: float | None = None) -> list[str]:
    """Sentences computed from the measured cases, whichever way they went; with ``peak_flops`` (FLOP
    per second) and the run's copy bandwidth, where each form sits against the roofline's ridge."""
    said = []
    bandwidth = whole["provenance"].get("copy_bandwidth_GBps")
    ridge = peak_flops / (float(bandwidth) * 1e9) if peak_flops and bandwidth else None
    for c in whole["cases"]:
        speedup = c["two_step_ms"] / c["whole_ms"]
        fewer = c["two_step_bytes"] / c["whole_bytes"]
        verdict = "faster than" if speedup > 1.02 else "slower than" if speedup < 0.98 else "about as fast as"
        sentence = (f"{c['case']}: one kernel moves {fewer:.1f} times fewer bytes by the count and runs "
                    f"{verdict} two steps ({c['whole_ms']:.3g} ms against {c['two_step_ms']:.3g} ms), "
                    f"{c['whole_ms'] / c['floor_ms']:.1f} times its memory floor.")
        if ridge:
            intensity = c["flops"] / c["whole_bytes"]
            rate = c["flops"] / (c["whole_ms"] * 1e-3)
            side = ("at the ridge: memory and arithmetic bound it alike" if abs(intensity / ridge - 1) <= 0.1
                    else "above the ridge: bound by arithmetic" if intensity > ridge else "below the ridge: bound by memory")
            sentence += (f" Its {intensity:.0f} FLOPs per byte lie {side} (ridge {ridge:.0f}); it ran at "
                         f"{rate / 1e12:.1f} TFLOP/s, {rate / peak_flops:.0%} of the peak.")
            if c.get("span_ms") and c.get("C_r"):  # the span convolution alone, as two steps run it
                shape = Case.parse(c["case"])
                span_flops = 2 * shape.batch * shape.height * shape.width * c["C_r"] * shape.kernel_size ** 2 * shape.groups
                span_rate = span_flops / (c["span_ms"] * 1e-3)
                sentence += (f" In two steps the span convolution alone ({span_flops / c['flops']:.0%} of the FLOPs) ran "
                             f"at {span_rate / 1e12:.1f} TFLOP/s, {span_rate / peak_flops:.0%} of the peak, as one "
                             "dense matrix product.")
        said.append(sentence)
    return said
