"""Autograding: seconds per student, grading with one worker and with two.

Every student submits the five solution notebooks (the grading profile, as autograding runs them);
``involution_instructor.autograde.bench.grade_copies`` grades N copies of that submission with W
workers in a fresh scratch course and reports the wall time. Seconds per student = wall time / N,
with N = 2 x W so that each worker grades two students. Preparing the assignments (nbgrader's
generate_assignment, once per run) is reported apart.

    python benchmarks/bench_autograde.py [--quick] [--workers 1 2]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as harness  # noqa: E402
from involution_instructor.solution_code import NotebookCodeError, write_solution_notebooks  # noqa: E402

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

    args = harness.parse_args(__doc__.splitlines()[0], options)
    assignments = list(args.assignments or (ASSIGNMENTS[:1] if args.quick else ASSIGNMENTS))
    per_worker = 1 if args.quick else STUDENTS_PER_WORKER
    group = f"{len(assignments)} notebook{'s' if len(assignments) > 1 else ''} per student"
    context = {"group": group, "backend": os.environ.get("KERAS_BACKEND", "tensorflow"), "mode": MODE,
               "device": "cpu"}
    cases = [f"{w} worker{'s' if w > 1 else ''}: seconds per student" for w in args.workers]
    try:
        from involution_instructor.autograde.bench import grade_copies
    except ImportError as error:
        for case in cases:
            harness.skip(BENCHMARK, case, f"involution_instructor.autograde.bench.grade_copies is not there yet ({error})",
                         **context)
        return

    os.environ["INVOLUTION_COURSE_PROFILE"] = "grading"
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as scratch:
        try:
            source = write_solution_notebooks(assignments, None, Path(scratch) / "source")
        except NotebookCodeError as error:
            for case in cases:
                harness.skip(BENCHMARK, case, str(error), **context)
            return
        notebooks = [source / "solutions" / a / f"{a}.ipynb" for a in assignments]
        for workers, case in zip(args.workers, cases):
            students = per_worker * workers
            harness.note(f"autograde: {students} students, {workers} worker(s)")
            course = Path(scratch) / f"course-{workers}"
            timings = grade_copies(notebooks, students, workers, source_root=source, course=course)
            if timings.failed or timings.graded != students * len(assignments):
                harness.skip(BENCHMARK, case, f"{timings.failed} of {students * len(assignments)} notebooks "
                             f"failed to grade: {first_failure(course)}", **context)
                continue
            harness.emit(BENCHMARK, case, times=[timings.seconds_per_student], **context,
                         details={"students": students, "workers": workers,
                                  "wall_s": round(timings.wall_seconds, 2),
                                  "prepare_s": round(timings.prepare_seconds, 2)})


if __name__ == "__main__":
    main()
