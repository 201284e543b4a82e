"""Solution notebooks for the benchmarks: the functions they define, and copies to run or grade.

:func:`load_functions` parses ``solutions/<a>/<a>.py`` with jupytext and runs its set-up cell and
the code cells that define the wanted functions (answer cells, or locked helper cells), in notebook
order, in one fresh namespace; only the definitions of those cells run (functions, classes,
imports, literal constants), so figures, timings, data loading and test cells do not.
:func:`write_solution_notebooks` makes the ``.ipynb`` notebooks outside the checkout.
"""

from __future__ import annotations

import ast
import contextlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class NotebookCodeError(RuntimeError):
    """The notebook's code could not be loaded; the message says which cell and why."""


def _without_magics(source: str) -> str:
    """IPython magics and shell lines (``%pip``, ``!ls``) become ``pass``: plain Python runs the rest."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            line = line[: len(line) - len(stripped)] + "pass"
        lines.append(line)
    return "\n".join(lines)


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def _is_constant(node) -> bool:
    """``NAME = <literal>`` (``BN_EPSILON = 1e-3``): a definition that runs nothing."""
    if not isinstance(node, ast.Assign):
        return False
    try:
        ast.literal_eval(node.value)
    except ValueError:
        return False
    return True


def _definitions(source: str, where: str):
    """The cell's top-level definitions (functions, classes, imports, literal constants) as
    compiled code, and the names of the functions and classes; its other statements (examples
    printed for the reader, figures) are left out."""
    tree = ast.parse(source, filename=where)
    kept = [node for node in tree.body if isinstance(node, _DEFINITIONS) or _is_constant(node)]
    names = {node.name for node in kept if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return compile(ast.Module(body=kept, type_ignores=[]), where, "exec"), names


def load_functions(assignment: str, names, root: Path = ROOT) -> dict:
    """Run ``assignment``'s set-up cell, then the definitions of every ungraded code cell that
    defines one of ``names``, after ``import numpy as np``; return the namespace. Printed output
    goes to stderr, so a benchmark's stdout stays JSON. Names no cell defines are absent."""
    import jupytext

    path = root / "solutions" / assignment / f"{assignment}.py"
    if not path.is_file():
        raise NotebookCodeError(f"no solution notebook at {path}")
    notebook = jupytext.read(path, fmt="py:percent")
    wanted = set(names)
    namespace: dict = {"__name__": f"notebook_{assignment.replace('-', '_')}"}
    # Notebooks import NumPy as np in a cell that also loads data or imports Keras; answers need only np.
    exec("import numpy as np", namespace)  # noqa: S102
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        name = meta.get("grade_id", "?")
        where = f"{assignment}:{name}"
        try:
            source = _without_magics(cell.source)
            if name == "setup":
                code = compile(source, where, "exec")
            else:
                code, defined = _definitions(source, where)
                if not defined & wanted:
                    continue
            with contextlib.redirect_stdout(sys.stderr):
                exec(code, namespace)  # noqa: S102 - the course's own solution code
        except Exception as error:  # noqa: BLE001 - reported with the cell's name
            raise NotebookCodeError(
                f"cell {name!r} of {path.name} failed: {type(error).__name__}: {error}") from error
    return namespace


def write_solution_notebooks(assignments, root: Path, target: Path) -> Path:
    """A copy of the course's sources in ``target`` (nbgrader config and ``solutions/<a>/<a>.py``),
    with each ``.py`` written as its ``.ipynb`` there: what ``make release`` would make, without
    touching the checkout. Returns ``target``."""
    import shutil

    from involution_course.release import py_to_ipynb

    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "nbgrader_config.py", target / "nbgrader_config.py")
    for assignment in assignments:
        source = root / "solutions" / assignment / f"{assignment}.py"
        if not source.is_file():
            raise NotebookCodeError(f"no solution notebook at {source}")
        copy = target / "solutions" / assignment / source.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)
        py_to_ipynb(copy)
    return target
