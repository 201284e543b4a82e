"""The student's command: ``involution-course`` (or ``python -m involution_course``)."""

from __future__ import annotations

import argparse
import sys


def _check(args) -> int:
    from .check import CheckError, check_notebook

    try:
        print(f"Checking {args.notebook}: running it top to bottom on a fresh '{args.kernel}' kernel "
              f"(at most {args.timeout} s a cell)...", flush=True)
        report = check_notebook(args.notebook, timeout=args.timeout, kernel=args.kernel)
    except CheckError as error:
        print(f"involution-course check: {error}", file=sys.stderr)
        return 2
    print(report.text(), end="")
    return 0 if report.all_passed else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="involution-course", description="The Involution Course, for students.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check", help="run a notebook top to bottom and report each exercise's visible tests",
        description="Run NOTEBOOK top to bottom on a fresh kernel, as grading will, without changing the "
        "file, then say for each exercise whether its visible tests passed, failed (with the test's "
        "message) or are not done yet, and sum up. Hidden tests run only when the notebook is graded. "
        "Exit status: 0 when every visible test passes, 1 when some do not, 2 when the notebook "
        "could not be checked.",
    )
    check.add_argument("notebook", metavar="NOTEBOOK", help="your notebook (.ipynb)")
    check.add_argument("--timeout", type=_positive, default=600, metavar="SECONDS",
                       help="longest one cell may run before it is stopped (default: 600)")
    check.add_argument("--kernel", default="python3", metavar="NAME",
                       help="the Jupyter kernel to run it with (default: python3)")
    check.set_defaults(handler=_check)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("it must be at least 1 second")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("involution-course: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
