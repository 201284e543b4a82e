"""Where a notebook's run writes models and figures: the course's ``build/`` folder."""

from __future__ import annotations

import os
from pathlib import Path

BUILD_VARIABLE = "INVOLUTION_COURSE_BUILD"


def course_root(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest folder, from ``start`` (default: the working directory) upwards, that holds
    the course's ``notebooks/``; ``None`` when the notebook runs on its own (Colab, a download)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir():
            return folder
    return None


def build_directory() -> Path:
    """Where runs write models, figures and reports: ``INVOLUTION_COURSE_BUILD``,
    else ``build/`` of the course folder, else ``build/`` of the working directory."""
    configured = os.environ.get(BUILD_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    root = course_root()
    return (root if root is not None else Path.cwd()) / "build"
