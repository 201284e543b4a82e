"""Run chosen cells of a solution notebook in a fresh namespace, for tests outside nbgrader.

``solutions/<a>/<a>.py`` is parsed with jupytext; the set-up cell, the cells named by grade id and
(by default) every answer cell run in notebook order. Test cells, figures and timings do not run
unless named, so a test gets the solution's functions in a second or two.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAGIC_LINE = re.compile(r"^(\s*)[%!].*$", flags=re.MULTILINE)


class NotebookCodeError(RuntimeError):
    """A cell could not run; the message names the cell and the error."""


def _plain_python(source: str) -> str:
    """IPython magics and shell lines (``%pip``, ``!ls``) become ``pass``."""
    return MAGIC_LINE.sub(r"\1pass", source)


def notebook_cells(assignment: str, root: Path = ROOT):
    """The code cells of ``assignment``'s solution notebook, as (grade id, metadata, source)."""
    import jupytext

    path = root / "solutions" / assignment / f"{assignment}.py"
    if not path.is_file():
        raise NotebookCodeError(f"no solution notebook at {path}")
    notebook = jupytext.read(path, fmt="py:percent")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            meta = cell.metadata.get("nbgrader", {})
            yield meta.get("grade_id", ""), meta, cell.source


def load_notebook_code(assignment: str, grade_ids=(), *, answers: bool = True, root: Path = ROOT) -> dict:
    """Run the set-up cell, the cells in ``grade_ids`` and (when ``answers``) every answer cell of
    ``assignment``, in notebook order, in one namespace; return it. Printed output is discarded."""
    wanted = {"setup", *grade_ids}
    namespace: dict = {"__name__": f"notebook_{assignment.replace('-', '_')}"}
    found = set()
    for grade_id, meta, source in notebook_cells(assignment, root):
        if grade_id not in wanted and not (answers and meta.get("solution")):
            continue
        found.add(grade_id)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(_plain_python(source), f"{assignment}:{grade_id}", "exec"), namespace)  # noqa: S102
        except Exception as error:  # noqa: BLE001 - reported with the cell's name
            raise NotebookCodeError(f"cell {grade_id!r} of {assignment} failed: {type(error).__name__}: {error}") from error
    missing = wanted - found
    if missing:
        raise NotebookCodeError(f"{assignment} has no cells with grade ids {sorted(missing)}")
    return namespace
