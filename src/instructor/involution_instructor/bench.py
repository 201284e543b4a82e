"""``make bench``: run every script in benchmarks/, collect their JSON lines, write a table.

Each script runs in its own process (one per Keras backend where the backend matters), prints
one JSON line per case on stdout, and this module writes them all to ``build/bench/results.jsonl``
and a markdown table to ``build/bench/results.md`` for the README. Every row states the machine,
the date, the command that measured it, the backend and the compilation mode.

Ratios compare rows measured side by side: the same run of one script, the same ``group`` and
the same mode. The first row of such a set is its reference (ratio 1.00); nothing is ever
divided by a row of another process, backend or mode.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .paths import build_directory, project_root

FAMILIES = ("involution_op", "numpy", "training", "course", "autograde")
COURSE_PROFILES = ("grading", "quick", "full")
DEFAULT_COURSE_PROFILES = ("grading", "quick")


@dataclass(frozen=True)
class Run:
    """One process: a benchmark script under one backend and environment."""

    family: str
    script: str
    env: dict = field(default_factory=dict)
    args: tuple = ()
    device: str = "cpu"

    @property
    def command(self) -> str:
        """The command line that reproduces this run, from the project root."""
        settings = " ".join(f"{key}={value}" for key, value in self.env.items())
        return " ".join(part for part in (settings, "python", f"benchmarks/{self.script}", *self.args) if part)


# --------------------------------------------------------------------------------- the machine


def cpu_description() -> str:
    """The CPU model and the number of cores this process may use, e.g. 'AMD EPYC, 2 cores'."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return f"{model}, {cores} core{'s' if cores != 1 else ''}"


def gpu_name() -> str | None:
    """The first NVIDIA GPU's name, or ``None`` when there is none."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return names[0] if result.returncode == 0 and names else None


def jax_sees_gpu() -> bool:
    """Whether JAX, as installed, can run on the GPU (it needs its CUDA plugin)."""
    probe = "import jax; print(jax.default_backend())"
    try:
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                                env={**os.environ, "JAX_PLATFORMS": ""})
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0 and result.stdout.strip() == "gpu"


# ------------------------------------------------------------------------------------ the plan


def plan(*, quick: bool = False, families=FAMILIES, course_profiles=DEFAULT_COURSE_PROFILES,
         gpu: bool = False) -> list[Run]:
    """The processes ``make bench`` runs, in order."""
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise ValueError(f"no benchmark family called {', '.join(unknown)}; choose from {', '.join(FAMILIES)}.")
    bad_profiles = sorted(set(course_profiles) - set(COURSE_PROFILES))
    if bad_profiles:
        raise ValueError(f"no profile called {', '.join(bad_profiles)}; choose from {', '.join(COURSE_PROFILES)}.")
    extra = ("--quick",) if quick else ()
    cpu_only = {"CUDA_VISIBLE_DEVICES": ""}
    runs = []
    if "involution_op" in families:
        script = "bench_involution_op.py"
        runs += [
            Run("involution_op", script, {"KERAS_BACKEND": "tensorflow"}, extra),
            Run("involution_op", script, {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}, extra),
            Run("involution_op", script, {"KERAS_BACKEND": "torch", **cpu_only}, extra),
            # Where the course layer's own time goes, under the backend with all three modes.
            Run("involution_op", "bench_involution_parts.py", {"KERAS_BACKEND": "tensorflow"}, extra),
        ]
        if gpu:
            runs += [Run("involution_op", name, {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cuda"}, extra, device="gpu")
                     for name in (script, "bench_involution_parts.py")]
    if "numpy" in families:
        runs.append(Run("numpy", "bench_numpy.py", {}, extra))
    if "training" in families:
        runs.append(Run("training", "bench_training.py", {"KERAS_BACKEND": "tensorflow"}, extra))
        if gpu:
            runs.append(Run("training", "bench_training.py", {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cuda"},
                            extra, device="gpu"))
    if "course" in families:
        runs.append(Run("course", "bench_course.py", {}, (*extra, "--profiles", ",".join(course_profiles))))
    if "autograde" in families:
        runs.append(Run("autograde", "bench_autograde.py", {}, extra))
    return runs


# ------------------------------------------------------------------------------------- running


def execute(run: Run, root: Path, *, timeout: float | None = None) -> list[dict]:
    """Run one script; its JSON lines, or one line saying why it failed."""
    command = [sys.executable, str(root / "benchmarks" / run.script), *run.args]
    env = {**os.environ, "INVOLUTION_COURSE_NO_PROGRESS": "1", **run.env}
    try:
        result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [{"benchmark": run.family, "case": run.script, "failed": f"ran longer than {timeout:.0f} s"}]
    rows = []
    for line in result.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    if result.returncode != 0:
        last = [line for line in result.stderr.strip().splitlines() if line.strip()]
        reason = last[-1] if last else "no message"
        rows.append({"benchmark": run.family, "case": run.script,
                     "failed": f"exit code {result.returncode}: {reason}"})
    return rows


def annotate(rows: list[dict], run: Run, run_index: int, *, machine: str, date: str) -> list[dict]:
    """Add where, when and how each row was measured."""
    return [{**row, "run": run_index, "machine": machine, "date": date, "command": run.command,
             "backend": row.get("backend", run.env.get("KERAS_BACKEND", "-"))}
            for row in rows]


def add_ratios(rows: list[dict]) -> list[dict]:
    """Give each measured row ``ratio``: its median over the reference of its side-by-side set.

    A set is (run, group, mode); its first measured row is the reference. Rows without a group
    (nothing measured beside them), sets of one row, skipped and failed rows get no ratio.
    """
    sets: dict[tuple, list[dict]] = {}
    for row in rows:
        if is_measured(row) and row.get("group"):
            sets.setdefault((row.get("run"), row["group"], row["mode"]), []).append(row)
    out = []
    for row in rows:
        row = dict(row)
        members = sets.get((row.get("run"), row.get("group"), row.get("mode")), [])
        if is_measured(row) and row.get("group") and len(members) > 1:
            reference = members[0]
            row["ratio"] = row["median"] / reference["median"]
            row["reference"] = reference["case"]
        out.append(row)
    return out


def is_measured(row: dict) -> bool:
    return "skipped" not in row and "failed" not in row and isinstance(row.get("median"), (int, float))


# -------------------------------------------------------------------------------------- report


def format_value(value: float, unit: str) -> str:
    """A median with a readable unit: 512 us, 12.3 ms, 4.56 s; other units as they are."""
    if unit == "s":
        if value < 1e-3:
            return f"{value * 1e6:.0f} us"
        if value < 1:
            return f"{value * 1e3:.3g} ms"
        return f"{value:.3g} s"
    return f"{value:.4g} {unit}".strip()


def _details_text(details: dict) -> str:
    return ", ".join(f"{key.replace('_', ' ')} {_number(value)}" for key, value in details.items())


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict]) -> str:
    """The README's table: one line per row, ratios against each set's reference."""
    lines = [
        "| machine | date | command | backend | mode | case | median | ratio | details |",
        "| --- | --- | --- | --- | --- | --- | ---: | ---: | --- |",
    ]
    for row in rows:
        case = row["case"] if not row.get("group") or row["group"] == row["case"] else f"{row['group']}: {row['case']}"
        if "skipped" in row:
            median, ratio, details = f"skipped: {row['skipped']}", "", ""
        elif "failed" in row:
            median, ratio, details = f"failed: {row['failed']}", "", ""
        else:
            median = format_value(row["median"], row.get("unit", "s"))
            if "ratio" not in row:
                ratio = ""
            elif row["case"] == row["reference"]:
                ratio = "1.00 (reference)"
            else:
                ratio = f"{row['ratio']:.2f}"
            details = _details_text({"device": row.get("device"), "repeats": row.get("repeats"),
                                     **row.get("details", {})})
        cells = (row.get("machine", ""), row.get("date", ""), f"`{row.get('command', '')}`",
                 row.get("backend", ""), row.get("mode", ""), case, median, ratio, details)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def write_results(rows: list[dict], output_dir: Path) -> tuple[Path, Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    jsonl = output_dir / "results.jsonl"
    with open(jsonl, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    markdown = output_dir / "results.md"
    header = ("Medians of several runs after a warm-up. Ratios divide by the reference row measured "
              "side by side in the same run, group and mode. Reproduce with `make bench`.\n\n")
    markdown.write_text(header + markdown_table(rows) + "\n", encoding="utf-8")
    return jsonl, markdown


def run_benchmarks(*, quick: bool = False, families=FAMILIES, course_profiles=DEFAULT_COURSE_PROFILES,
                   output_dir: Path | None = None, timeout: float | None = None) -> int:
    """Run the benchmarks, write build/bench/results.{jsonl,md}; 0 when no script failed."""
    from involution_course.progress import progress_bar

    root = project_root()
    output_dir = output_dir or build_directory() / "bench"
    cpu = cpu_description()
    gpu = gpu_name()
    gpu_usable = gpu is not None and any(f in families for f in ("involution_op", "training")) and jax_sees_gpu()
    runs = plan(quick=quick, families=families, course_profiles=course_profiles, gpu=gpu_usable)
    rows: list[dict] = []
    if gpu is not None and not gpu_usable and any(f in families for f in ("involution_op", "training")):
        rows.append({"benchmark": "involution_op", "case": "JAX on the GPU", "machine": f"{cpu}, {gpu}",
                     "skipped": f"a GPU ({gpu}) is present but JAX cannot use it; "
                                "install its CUDA build, e.g. pip install 'jax[cuda12]'"})
    jsonl, markdown = write_results(add_ratios(rows), output_dir)
    for index, run in enumerate(progress_bar(runs, desc="Benchmarks", unit="script")):
        machine = f"{cpu}, {gpu}" if run.device == "gpu" and gpu else cpu
        date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        rows += annotate(execute(run, root, timeout=timeout), run, index, machine=machine, date=date)
        # Written after every script, so an interrupted run keeps what it measured.
        jsonl, markdown = write_results(add_ratios(rows), output_dir)
    print(markdown.read_text(encoding="utf-8"))
    print(f"Results: {jsonl}\nTable:   {markdown}")
    failed = [row for row in rows if "failed" in row]
    for row in failed:
        print(f"involution-instructor bench: {row['benchmark']} failed: {row['failed']}", file=sys.stderr)
    return 1 if failed else 0


# -------------------------------------------------------------------------------- command line


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``bench``'s options to ``parser`` and make :func:`run_from_args` its handler."""
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and 1-2 repeats: checks that every benchmark runs (no real figures)")
    parser.add_argument("--only", nargs="+", choices=FAMILIES, default=list(FAMILIES), metavar="FAMILY",
                        help=f"run only these benchmark families ({', '.join(FAMILIES)})")
    parser.add_argument("--profiles", default=",".join(DEFAULT_COURSE_PROFILES),
                        help="profiles of the whole-course benchmark, comma-separated "
                             f"(default: {','.join(DEFAULT_COURSE_PROFILES)}; full takes hours on a CPU)")
    parser.add_argument("--output", type=Path, default=None,
                        help="folder for results.jsonl and results.md (default: build/bench)")
    parser.set_defaults(handler=run_from_args)
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    profiles = tuple(p.strip() for p in args.profiles.split(",") if p.strip())
    try:
        return run_benchmarks(quick=args.quick, families=tuple(args.only), course_profiles=profiles,
                              output_dir=args.output)
    except ValueError as error:
        print(f"involution-instructor bench: {error}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    parser = configure_parser(argparse.ArgumentParser(
        prog="involution-instructor bench",
        description="Run the benchmarks in benchmarks/ and write build/bench/results.jsonl and results.md.",
    ))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
