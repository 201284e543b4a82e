"""Autograding: seconds per student, grading with one worker and with two.

Every student submits the five solution notebooks (the grading profile, as autograding runs them);
``involution_course.autograde.bench.grade_copies`` grades N copies of that submission with W
workers in a fresh scratch course and reports the wall time. Seconds per student = wall time / N,
with N = 2 x W so that each worker grades two students. Preparing the assignments (nbgrader's
generate_assignment, once per run) is reported apart.

    python benchmarks/bench_autograde.py [--quick] [--workers 1 2]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as harness  # noqa: E402
from _notebook_code import ROOT, NotebookCodeError, write_solution_notebooks  # noqa: E402

BENCHMARK = "autograde"
MODE = "nbgrader autograde, grading profile"
STUDENTS_PER_WORKER = 2


def main() -> None:
    from involution_course.paths import ASSIGNMENTS

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
        from involution_course.autograde.bench import grade_copies
    except ImportError as error:
        for case in cases:
            harness.skip(BENCHMARK, case, f"involution_course.autograde.bench.grade_copies is not there yet ({error})",
                         **context)
        return

    os.environ["INVOLUTION_COURSE_PROFILE"] = "grading"
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as scratch:
        try:
            source = write_solution_notebooks(assignments, ROOT, Path(scratch) / "source")
        except NotebookCodeError as error:
            for case in cases:
                harness.skip(BENCHMARK, case, str(error), **context)
            return
        notebooks = [source / "solutions" / a / f"{a}.ipynb" for a in assignments]
        for workers, case in zip(args.workers, cases):
            students = per_worker * workers
            harness.note(f"autograde: {students} students, {workers} worker(s)")
            timings = grade_copies(notebooks, students, workers, source_root=source,
                                   course=Path(scratch) / f"course-{workers}")
            if timings.failed or timings.graded != students * len(assignments):
                harness.skip(BENCHMARK, case, f"{timings.failed} of {students * len(assignments)} notebooks "
                             "failed to grade; run `involution-course autograde` on one to see why", **context)
                continue
            harness.emit(BENCHMARK, case, times=[timings.seconds_per_student], **context,
                         details={"students": students, "workers": workers,
                                  "wall_s": round(timings.wall_seconds, 2),
                                  "prepare_s": round(timings.prepare_seconds, 2)})


if __name__ == "__main__":
    main()
