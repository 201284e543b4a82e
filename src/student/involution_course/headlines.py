"""Headline figures: the few numbers each notebook states, collected for ``make course``.

A notebook calls :func:`record`; the value is printed for the reader and, when the
course runner names a file in ``INVOLUTION_COURSE_HEADLINES``, appended to it as
one JSON line, so the runner's summary shows figures that came from this run.
"""

from __future__ import annotations

import json
import os

HEADLINES_VARIABLE = "INVOLUTION_COURSE_HEADLINES"


def record(name: str, value, unit: str = "", *, show: bool = True) -> None:
    """Print ``name: value unit`` and keep it as one of this notebook's headline figures."""
    if isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    if show:
        print(f"{name}: {text}{(' ' + unit) if unit else ''}")
    target = os.environ.get(HEADLINES_VARIABLE)
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"name": name, "value": text, "unit": unit}) + "\n")


def read(path) -> list[dict]:
    """The headline figures a run wrote to ``path`` (empty when none)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []
