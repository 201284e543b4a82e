"""Regenerate the student notebooks (notebooks/) from the instructor's (solutions/).

1. each ``solutions/<a>/<a>.py`` (the reviewed source) is written to its paired ``.ipynb``;
2. ``nbgrader generate_assignment`` turns that notebook into the student version;
3. each released notebook gets its own percent-format ``.py`` pair.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from .paths import ASSIGNMENTS, project_root

JUPYTEXT_FORMAT = "py:percent"


class ReleaseError(RuntimeError):
    """nbgrader could not generate a release; the message carries nbgrader's own words."""


def py_to_ipynb(py_path: Path) -> Path:
    """Write ``py_path``'s paired notebook (without outputs, with ids that follow the content)."""
    import jupytext

    notebook = jupytext.read(py_path, fmt=JUPYTEXT_FORMAT)
    ipynb_path = py_path.with_suffix(".ipynb")
    _strip_outputs(notebook)
    _stable_ids(notebook)
    text = jupytext.writes(notebook, fmt="ipynb")
    _write_if_changed(ipynb_path, text if text.endswith("\n") else text + "\n")  # as jupytext.write ends it
    return ipynb_path


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless it holds it already; a whole new file replaces the old at
    once, so that a reader never sees half of one."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def ipynb_to_py(ipynb_path: Path) -> Path:
    """Write the percent-format ``.py`` pair of a notebook."""
    import jupytext

    notebook = nbformat.read(ipynb_path, as_version=4)
    py_path = ipynb_path.with_suffix(".py")
    jupytext.write(notebook, py_path, fmt=JUPYTEXT_FORMAT)
    return py_path


def _stable_ids(notebook) -> None:
    """Cell ids from the cells' content, so that releasing twice changes nothing."""
    seen: set[str] = set()
    for cell in notebook.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()
        cell_id = digest[:8]
        while cell_id in seen:
            digest = hashlib.sha1(digest.encode()).hexdigest()
            cell_id = digest[:8]
        seen.add(cell_id)
        cell["id"] = cell_id


def _strip_outputs(notebook) -> None:
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def sync_solutions(root: Path | None = None, assignments=ASSIGNMENTS) -> list[Path]:
    """Bring every solution ``.ipynb`` up to date with its ``.py``."""
    root = root or project_root()
    return [py_to_ipynb(root / "solutions" / a / f"{a}.py") for a in assignments]


def release(root: Path | None = None, assignments=ASSIGNMENTS, quiet: bool = True) -> list[Path]:
    """Regenerate ``notebooks/`` from ``solutions/`` under ``root``; returns the released notebooks."""
    root = root or project_root()
    sync_solutions(root, assignments)
    released = []
    for assignment in assignments:
        command = [
            sys.executable, "-m", "nbgrader", "generate_assignment", assignment,
            "--force", "--no-db", "--log-level=ERROR" if quiet else "--log-level=INFO",
        ]
        result = subprocess.run(command, cwd=root, capture_output=True, text=True)
        if result.returncode != 0:
            raise ReleaseError(
                f"nbgrader could not release {assignment}:\n{(result.stderr or result.stdout).strip()}"
            )
        folder = root / "notebooks" / assignment
        for stray in folder.glob("*.py"):
            stray.unlink()  # only the pair made below belongs here
        notebook = folder / f"{assignment}.ipynb"
        ipynb_to_py(notebook)
        released.append(notebook)
    return released


def release_into(target: Path, source_root: Path | None = None, assignments=ASSIGNMENTS) -> Path:
    """Release a copy of the course into ``target`` (for checks that must not touch the checkout)."""
    source_root = source_root or project_root()
    target.mkdir(parents=True, exist_ok=True)
    for name in ("nbgrader_config.py", "jupytext.toml"):
        shutil.copy2(source_root / name, target / name)
    shutil.copytree(source_root / "solutions", target / "solutions", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    release(target, assignments)
    return target / "notebooks"
