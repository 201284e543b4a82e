"""The code of the solution notebooks, for tests and benchmarks that run it outside nbgrader.

``solutions/<a>/<a>.py`` is parsed with jupytext. Two ways to run part of it in a fresh namespace:

* :func:`load_notebook_code` runs the set-up cell, the cells named by grade id and (by default)
  every answer cell, whole, in notebook order: what a test of the answers needs.
* :func:`load_functions` runs the set-up cell and only the *definitions* (functions, classes,
  imports, literal constants) of the ungraded cells that define the wanted names: what a
  benchmark needs, without the figures, timings and data loading around them.

:func:`write_solution_notebooks` writes ``.ipynb`` copies outside the checkout, to run or grade.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shutil
import sys
from pathlib import Path

MAGIC_LINE = re.compile(r"^(\s*)[%!].*$", flags=re.MULTILINE)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


class NotebookCodeError(RuntimeError):
    """A cell could not run; the message names the cell and the error."""


def _root(root: Path | None) -> Path:
    from .paths import project_root

    return Path(root) if root is not None else project_root()


def _plain_python(source: str) -> str:
    """IPython magics and shell lines (``%pip``, ``!ls``) become ``pass``."""
    return MAGIC_LINE.sub(r"\1pass", source)


def _solution_path(assignment: str, root: Path) -> Path:
    path = root / "solutions" / assignment / f"{assignment}.py"
    if not path.is_file():
        raise NotebookCodeError(f"no solution notebook at {path}")
    return path


def notebook_cells(assignment: str, root: Path | None = None):
    """The code cells of ``assignment``'s solution notebook, as (grade id, metadata, source)."""
    import jupytext

    notebook = jupytext.read(_solution_path(assignment, _root(root)), fmt="py:percent")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            meta = cell.metadata.get("nbgrader", {})
            yield meta.get("grade_id", ""), meta, cell.source


def _run(code, namespace: dict, where: str, output) -> None:
    try:
        with contextlib.redirect_stdout(output):
            exec(code if not isinstance(code, str) else compile(code, where, "exec"), namespace)  # noqa: S102
    except Exception as error:  # noqa: BLE001 - reported with the cell's name
        raise NotebookCodeError(f"cell {where} failed: {type(error).__name__}: {error}") from error


def _namespace(assignment: str) -> dict:
    return {"__name__": f"notebook_{assignment.replace('-', '_')}"}


def load_notebook_code(assignment: str, grade_ids=(), *, answers: bool = True, root: Path | None = None) -> dict:
    """Run the set-up cell, the cells in ``grade_ids`` and (when ``answers``) every answer cell of
    ``assignment``, whole and in notebook order, in one namespace; return it. Printed output is
    discarded."""
    wanted = {"setup", *grade_ids}
    namespace = _namespace(assignment)
    found = set()
    for grade_id, meta, source in notebook_cells(assignment, root):
        if grade_id not in wanted and not (answers and meta.get("solution")):
            continue
        found.add(grade_id)
        _run(_plain_python(source), namespace, f"{grade_id!r} of {assignment}", io.StringIO())
    missing = wanted - found
    if missing:
        raise NotebookCodeError(f"{assignment} has no cells with grade ids {sorted(missing)}")
    return namespace


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
    """The cell's top-level definitions as compiled code, and the names of its functions and classes."""
    tree = ast.parse(source, filename=where)
    kept = [node for node in tree.body if isinstance(node, _DEFINITIONS) or _is_constant(node)]
    names = {node.name for node in kept if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return compile(ast.Module(body=kept, type_ignores=[]), where, "exec"), names


def load_functions(assignment: str, names, root: Path | None = None) -> dict:
    """Run ``assignment``'s set-up cell, then the definitions of every ungraded code cell that
    defines one of ``names``, after ``import numpy as np``; return the namespace. Printed output
    goes to stderr, so a benchmark's stdout stays JSON. Names no cell defines are absent."""
    wanted = set(names)
    namespace = _namespace(assignment)
    # Notebooks import NumPy as np in a cell that also loads data or imports Keras; answers need only np.
    exec("import numpy as np", namespace)  # noqa: S102
    for grade_id, meta, source in notebook_cells(assignment, root):
        if meta.get("grade"):
            continue
        where = f"{grade_id or '?'!r} of {assignment}"
        source = _plain_python(source)
        if grade_id == "setup":
            _run(source, namespace, where, sys.stderr)
            continue
        try:
            code, defined = _definitions(source, where)
        except SyntaxError as error:
            raise NotebookCodeError(f"cell {where} failed: SyntaxError: {error}") from error
        if defined & wanted:
            _run(code, namespace, where, sys.stderr)
    return namespace


def write_solution_notebooks(assignments, root: Path | None, target: Path) -> Path:
    """A copy of the course's sources in ``target`` (nbgrader config and ``solutions/<a>/<a>.py``),
    with each ``.py`` written as its ``.ipynb`` there: what ``make release`` would make, without
    touching the checkout. Returns ``target``."""
    from .release import py_to_ipynb

    root = _root(root)
    sources = [_solution_path(assignment, root) for assignment in assignments]
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "nbgrader_config.py", target / "nbgrader_config.py")
    for assignment, source in zip(assignments, sources):
        copy = target / "solutions" / assignment / source.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)
        py_to_ipynb(copy)
        checks = source.parent / "checks.py"
        if checks.exists():  # how the grader judges the notebook
            shutil.copy2(checks, copy.parent / "checks.py")
    return target


def write_revision_notebooks(assignments, revision: str, target: Path, root: Path | None = None) -> Path:
    """As :func:`write_solution_notebooks`, from the sources of git ``revision`` of the checkout
    (its nbgrader config, notebooks and checks): a baseline to time grading against."""
    import subprocess

    from .release import py_to_ipynb

    root = _root(root)

    def show(path: str) -> bytes | None:
        done = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=root, capture_output=True)
        return done.stdout if done.returncode == 0 else None

    target.mkdir(parents=True, exist_ok=True)
    config = show("nbgrader_config.py")
    if config is None:
        raise NotebookCodeError(f"git revision {revision!r} has no nbgrader_config.py")
    (target / "nbgrader_config.py").write_bytes(config)
    for assignment in assignments:
        folder = target / "solutions" / assignment
        folder.mkdir(parents=True, exist_ok=True)
        notebook = show(f"solutions/{assignment}/{assignment}.py")
        if notebook is None:
            raise NotebookCodeError(f"git revision {revision!r} has no solutions/{assignment}/{assignment}.py")
        (folder / f"{assignment}.py").write_bytes(notebook)
        py_to_ipynb(folder / f"{assignment}.py")
        checks = show(f"solutions/{assignment}/checks.py")
        if checks is not None:
            (folder / "checks.py").write_bytes(checks)
    return target
