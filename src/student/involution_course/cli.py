"""The student's command: ``involution-course`` (or ``python -m involution_course``)."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="involution-course", description="The Involution Course, for students.")
    parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
