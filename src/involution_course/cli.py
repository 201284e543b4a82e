"""The instructor's command: ``involution-course`` (or ``python -m involution_course``)."""

from __future__ import annotations

import argparse
import sys

from .paths import ProjectNotFound


def _release(args) -> int:
    from .release import release

    for notebook in release():
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
    commands.add_parser(
        "release", help="regenerate notebooks/ (student versions) from solutions/",
        description="Regenerate notebooks/ from solutions/ with nbgrader, and pair each with a .py.",
    ).set_defaults(handler=_release)
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
