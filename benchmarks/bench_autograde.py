"""Autograding: seconds per student, grading with one worker and with two.

Every student submits the five solution notebooks (the grading profile, as autograding runs them);
``involution_instructor.autograde.bench.grade_copies`` grades N copies of that submission with W
workers in a fresh scratch course and reports the wall time. Seconds per student = wall time / N,
with N = 2 x W so that each worker grades two students. Preparing the assignments (nbgrader's
generate_assignment, once per run) is reported apart. Every student kernel runs in the grading
sandbox (bubblewrap); ``--sandbox-overhead`` also grades the same copies without it, first, as the
reference row of each worker count, so the ratio is the sandbox's cost. ``--baseline REV`` grades the
same students with the sources of git revision REV first (its notebooks, hidden tests and checks), as
the reference row: ``--baseline ae5af76`` times the grading judged outside the kernel against the
hidden tests run inside it, side by side.

    python benchmarks/bench_autograde.py [--quick] [--workers 1 2] [--sandbox-overhead] [--baseline REV]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as harness  # noqa: E402
from involution_instructor.solution_code import (  # noqa: E402
    NotebookCodeError, write_revision_notebooks, write_solution_notebooks,
)

BENCHMARK = "autograde"
MODE = "nbgrader autograde, grading profile"
STUDENTS_PER_WORKER = 2


def first_failure(course: Path) -> str:
    """The first reason in the grading report that the runner wrote to ``course``."""
    try:
        report = json.loads((course / "autograde-report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no report was written"
    reasons = [f"{r.get('assignment')}: {r.get('reason')}" for r in report.get("results", [])
               if r.get("status") != "graded" and r.get("reason")]
    return reasons[0] if reasons else "the report gives no reason"


def main() -> None:
    from involution_instructor.paths import ASSIGNMENTS

    def options(parser):
        parser.add_argument("--workers", nargs="+", type=int, default=[1, 2],
                            help="worker counts to compare (default: 1 2)")
        parser.add_argument("--assignments", nargs="+", choices=list(ASSIGNMENTS), default=None,
                            help="notebooks each student submits (default: all five; --quick: the first)")
        parser.add_argument("--sandbox-overhead", action="store_true",
                            help="also grade without the sandbox, as each worker count's reference row")
        parser.add_argument("--baseline", metavar="REV", default=None,
                            help="also grade with the sources of git revision REV, as each worker count's reference row")

    args = harness.parse_args(__doc__.splitlines()[0], options)
    assignments = list(args.assignments or (ASSIGNMENTS[:1] if args.quick else ASSIGNMENTS))
    per_worker = 1 if args.quick else STUDENTS_PER_WORKER
    group = f"{len(assignments)} notebook{'s' if len(assignments) > 1 else ''} per student"
    context = {"group": group, "backend": os.environ.get("KERAS_BACKEND", "tensorflow"), "mode": MODE,
               "device": "cpu"}
    # (workers, sandboxed, sources, case): the reference row of each group first (without the sandbox,
    # or the baseline revision's sources), then the row it is compared with.
    versions = (args.baseline, None) if args.baseline else (None,)
    runs = [(w, sandboxed, version, f"{w} worker{'s' if w > 1 else ''}: seconds per student"
             + ("" if sandboxed else ", no sandbox") + (f", sources of {version}" if version else ""))
            for w in args.workers for sandboxed in ((False, True) if args.sandbox_overhead else (True,))
            for version in versions]
    try:
        from involution_instructor.autograde.bench import grade_copies
        from involution_instructor.autograde.sandbox import Sandbox, SandboxUnavailable, resolve
    except ImportError as error:
        for *_, case in runs:
            harness.skip(BENCHMARK, case, f"involution_instructor.autograde.bench.grade_copies is not there yet ({error})",
                         **context)
        return
    try:
        resolve(Sandbox())
    except SandboxUnavailable as error:
        for *_, case in runs:
            harness.skip(BENCHMARK, case, str(error), **context)
        return

    os.environ["INVOLUTION_COURSE_PROFILE"] = "grading"
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as scratch:
        sources = {}
        try:
            sources[None] = write_solution_notebooks(assignments, None, Path(scratch) / "source")
            if args.baseline:
                sources[args.baseline] = write_revision_notebooks(assignments, args.baseline, Path(scratch) / "baseline")
        except NotebookCodeError as error:
            for *_, case in runs:
                harness.skip(BENCHMARK, case, str(error), **context)
            return
        for workers, sandboxed, version, case in runs:
            source = sources[version]
            notebooks = [source / "solutions" / a / f"{a}.ipynb" for a in assignments]
            students = per_worker * workers
            harness.note(f"autograde: {students} students, {workers} worker(s), "
                         f"{'in the sandbox' if sandboxed else 'without the sandbox'}")
            course = Path(scratch) / f"course-{workers}-{'sandbox' if sandboxed else 'none'}-{version or 'head'}"
            timings = grade_copies(notebooks, students, workers, source_root=source, course=course,
                                   sandbox=Sandbox() if sandboxed else None)
            row_context = {**context, "group": f"{group}, {workers} worker{'s' if workers > 1 else ''}"} \
                if args.sandbox_overhead or args.baseline else context
            if timings.failed or timings.graded != students * len(assignments):
                harness.skip(BENCHMARK, case, f"{timings.failed} of {students * len(assignments)} notebooks "
                             f"failed to grade: {first_failure(course)}", **row_context)
                continue
            harness.emit(BENCHMARK, case, times=[timings.seconds_per_student], **row_context,
                         details={"students": students, "workers": workers, "sandbox": sandboxed,
                                  "sources": version or "working tree",
                                  "wall_s": round(timings.wall_seconds, 2),
                                  "prepare_s": round(timings.prepare_seconds, 2),
                                  "notebook_s": [round(s, 2) for s in timings.job_seconds]})


if __name__ == "__main__":
    main()
