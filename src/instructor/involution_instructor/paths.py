"""Where the course's source lives on disk: the project root, its assignments, its build folder."""

from __future__ import annotations

import os
from pathlib import Path

from involution_course.paths import BUILD_VARIABLE, build_directory  # noqa: F401 - one definition, shared

ASSIGNMENTS = (
    "01-convolution",
    "02-involution-numpy",
    "03-involution-keras",
    "04-cifar10-comparison",
    "05-kernel-visualisation",
    "06-making-involution-fast",
)


class ProjectNotFound(RuntimeError):
    """A command that needs the course's source tree was run outside it."""


def find_project_root(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest folder, from ``start`` (default: the working directory) upwards,
    that holds ``nbgrader_config.py`` and ``solutions/``; ``None`` outside a checkout."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
            return folder
    # An editable install points back into the checkout (src/instructor/involution_instructor).
    package_root = Path(__file__).resolve().parents[3]
    if (package_root / "nbgrader_config.py").is_file():
        return package_root
    return None


def project_root(start: str | os.PathLike | None = None) -> Path:
    """Like :func:`find_project_root`, but a clear error when there is no checkout."""
    root = find_project_root(start)
    if root is None:
        raise ProjectNotFound(
            "This command needs the course's source tree (a folder with nbgrader_config.py and "
            "solutions/). Run it from inside a clone of the course repository."
        )
    return root


def solution_notebook(assignment: str, root: Path | None = None) -> Path:
    root = root or project_root()
    return root / "solutions" / assignment / f"{assignment}.ipynb"


def student_notebook(assignment: str, root: Path | None = None) -> Path:
    root = root or project_root()
    return root / "notebooks" / assignment / f"{assignment}.ipynb"
