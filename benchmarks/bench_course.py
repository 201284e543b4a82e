"""The whole course: wall time of each solution notebook, top to bottom, under each profile.

Each notebook runs as ``make course`` runs it (``involution_instructor.course_runner.run_notebook``:
a fresh Jupyter kernel, every cell in order), from ``.ipynb`` copies made from
``solutions/<a>/<a>.py`` under build/bench/course/, so the checkout is left as it is. A notebook
that fails is reported with its error instead of a time.

    python benchmarks/bench_course.py [--quick] [--profiles grading,quick] [--assignments A ...]
"""

from __future__ import annotations

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as harness  # noqa: E402
from involution_instructor.solution_code import NotebookCodeError, write_solution_notebooks  # noqa: E402

BENCHMARK = "course"
MODE = "notebook (fresh kernel, nbclient)"


def main() -> None:
    from involution_instructor.paths import ASSIGNMENTS, build_directory
    from involution_course.profiles import PROFILES

    def options(parser):
        parser.add_argument("--profiles", default=None,
                            help="comma-separated profiles (default: grading,quick; --quick: grading)")
        parser.add_argument("--assignments", nargs="+", choices=list(ASSIGNMENTS), default=None,
                            help="notebooks to run (default: all five; --quick: the first)")

    args = harness.parse_args(__doc__.splitlines()[0], options)
    profiles = [p.strip() for p in (args.profiles or ("grading" if args.quick else "grading,quick")).split(",")
                if p.strip()]
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        raise SystemExit(f"bench_course: no profile called {', '.join(unknown)}; choose from {', '.join(PROFILES)}")
    assignments = args.assignments or (ASSIGNMENTS[:1] if args.quick else ASSIGNMENTS)
    repeats = args.repeats or 1  # a whole notebook is long enough to time once

    from involution_instructor.course_runner import run_notebook

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    work = build_directory() / "bench" / "course"
    try:
        source = write_solution_notebooks(assignments, None, work / "sources")
    except NotebookCodeError as error:
        for assignment in assignments:
            harness.skip(BENCHMARK, assignment, str(error), group="", backend=backend, mode=MODE)
        return
    for profile in profiles:
        total = 0.0
        complete = True
        for assignment in assignments:
            context = {"group": "", "backend": backend, "mode": MODE, "device": "cpu"}
            case = f"{assignment}, profile {profile}"
            times = []
            for _ in range(repeats):
                harness.note(f"course: {case}")
                run = run_notebook(source / "solutions" / assignment / f"{assignment}.ipynb",
                                   work / "executed" / profile, env={"INVOLUTION_COURSE_PROFILE": profile})
                if not run.ok:
                    break
                times.append(run.seconds)
            if not times:
                harness.skip(BENCHMARK, case, f"the notebook failed: {run.error}", **context)
                complete = False
                continue
            total += statistics.median(times)
            harness.emit(BENCHMARK, case, times=times, **context)
        if complete and len(assignments) > 1:
            harness.emit(BENCHMARK, f"all {len(assignments)} notebooks, profile {profile}", times=[total],
                         group="", backend=backend, mode=MODE, device="cpu")


if __name__ == "__main__":
    main()
