"""The instructor's command: ``involution-course`` (or ``python -m involution_course``)."""

from __future__ import annotations

import argparse
import sys

from .paths import ASSIGNMENTS, ProjectNotFound


def _release(args) -> int:
    from .release import release

    unknown = sorted(set(args.assignments) - set(ASSIGNMENTS))
    if unknown:
        print(f"involution-course: no assignment called {', '.join(unknown)}; "
              f"choose from {', '.join(ASSIGNMENTS)}.", file=sys.stderr)
        return 2
    for notebook in release(assignments=args.assignments or ASSIGNMENTS):
        print(f"released {notebook}")
    return 0


def _course(args) -> int:
    from .course_runner import run_course

    return run_course()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="involution-course",
        description="Run, release and grade the Involution Course.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    release = commands.add_parser(
        "release", help="regenerate notebooks/ (student versions) from solutions/",
        description="Regenerate notebooks/ from solutions/ with nbgrader, and pair each with a .py.",
    )
    release.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                         help=f"assignments to release (default: all five: {', '.join(ASSIGNMENTS)})")
    release.set_defaults(handler=_release)
    commands.add_parser(
        "course", help="run every solution notebook under INVOLUTION_COURSE_PROFILE",
        description="Run every solution notebook top to bottom; write executed notebooks, HTML "
        "and a summary to build/course/.",
    ).set_defaults(handler=_course)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ProjectNotFound as error:
        print(f"involution-course: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("involution-course: interrupted.", file=sys.stderr)
        return 130
