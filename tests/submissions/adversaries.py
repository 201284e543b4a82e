"""Students who attack the grader instead of answering, for every notebook of the course.

Each is graded in the notebook's one shared nbgrader run (tests/graded_runs.py) and must earn no more
than the unchanged release; the honest one (``adversary_echo``) must keep the solution's marks and
leak no line of the grader's checks. The classes (issue "a grade that means what it says"):

* ``adversary_rewrite``: an input transformer turns every later cell into a line that prints a pass;
* ``adversary_tamper``: an AST transformer drops ``assert`` and ``raise``; pre- and post-run hooks
  clear every error; a custom exception handler and a patched ``showtraceback`` swallow the rest;
  NumPy's and the course's assertion helpers pass everything; and every answer is an object equal
  to everything;
* ``adversary_forge``: the grader's observation cells are rewritten to show forged observations,
  half with this run's tag (read from the cell) and half with a tag from an earlier run, and test
  cells print a pass;
* ``adversary_echo``: the solution's answers, plus hooks that print every later cell's source as it
  runs and all of them again in a cell at the end.
"""

from __future__ import annotations

import ast
import copy
from textwrap import dedent

import nbformat

from involution_instructor import grading

NAMES = ("adversary_rewrite", "adversary_tamper", "adversary_forge", "adversary_echo")
# Rewriting later cells and forging observations attack IPython and the grader's tags, the same in every
# notebook: they run where a student is cheapest to grade. Tampering (objects equal to everything, patched
# helpers) meets each notebook's own judges, and the echo each notebook's own checks: those run everywhere.
GENERIC = ("adversary_rewrite", "adversary_forge")
GENERIC_IN = ("01-convolution", "02-involution-numpy", "06-making-involution-fast")


def names(assignment: str) -> tuple[str, ...]:
    """The adversaries graded in ``assignment``'s run."""
    return tuple(n for n in NAMES if n not in GENERIC or assignment in GENERIC_IN)

REWRITE = dedent("""\
    def _every_later_cell(lines):
        return ["print('Graded: passed (2 of 2 points).')\\n"]


    get_ipython().input_transformers_cleanup.append(_every_later_cell)
    """)

TAMPER = dedent("""\
    import ast as _ast

    import numpy as _np


    class _Lenient(_ast.NodeTransformer):
        def visit_Assert(self, node):
            return _ast.Pass()

        def visit_Raise(self, node):
            return _ast.Pass()


    def _clear(result):
        result.error_in_exec = None
        result.error_before_exec = None


    _shell = get_ipython()
    _shell.ast_transformers.append(_Lenient())
    _shell.events.register("pre_run_cell", lambda info: None)
    _shell.events.register("post_run_cell", _clear)
    _shell.set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: print("ok"))
    _shell.showtraceback = lambda *args, **kwargs: None
    for _name in dir(_np.testing):
        if _name.startswith("assert"):
            setattr(_np.testing, _name, lambda *args, **kwargs: None)
    try:
        import involution_course.checks as _checks

        for _name in dir(_checks):
            if _name.startswith(("assert", "grad_check")):
                setattr(_checks, _name, lambda *args, **kwargs: None)
    except ImportError:
        pass


    class Everything:
        \"\"\"Equal to everything, and everything it is asked for.\"\"\"

        def __eq__(self, other):
            return True

        def __ne__(self, other):
            return False

        __lt__ = __le__ = __gt__ = __ge__ = __eq__
        __hash__ = object.__hash__

        def __init__(self, *args, **kwargs):
            pass

        def __call__(self, *args, **kwargs):
            return Everything()

        def __getattr__(self, name):
            return Everything()

        def __getitem__(self, key):
            return Everything()

        def __iter__(self):
            return iter([Everything(), Everything()])

        def __len__(self):
            return 2

        def __bool__(self):
            return True

        def __float__(self):
            return 0.0

        def __int__(self):
            return 0

        __index__ = __int__

        def __repr__(self):
            return "Everything()"
    """)

FORGE = dedent("""\
    import re as _re

    from IPython.display import display as _display

    _MIME = "application/vnd.involution-course.observation+json"
    _EARLIER = "0123456789abcdef0123456789abcdef"
    _count = [0]


    def _forged(lines):
        text = "".join(lines)
        if "The grader observes" in text:
            check = _re.search(r"The grader observes (\\w+)", text).group(1)
            token = _re.search(r"observe\\(\\\\?'([0-9a-f]{32})", text)
            _count[0] += 1
            tag = token.group(1) if token and _count[0] % 2 else _EARLIER
            seen = {"__dict__": [["value", 0], ["cases", []], ["passed", True]]}
            message = {"token": tag, "check": check, "seen": seen}
            return [f"_display({{_MIME: {message!r}}}, raw=True)\\n"]
        if "Graded" not in text:
            return ["print('Graded: passed (2 of 2 points).')\\n"]
        return lines


    get_ipython().input_transformers_cleanup.append(_forged)
    """)

ECHO = dedent("""\
    _echoed = []


    def _echo(info):
        _echoed.append(info.raw_cell)
        print(info.raw_cell)


    get_ipython().events.register("pre_run_cell", _echo)
    """)
ECHO_END = "print('\\n'.join(_echoed))\n"


def _answer_cells(notebook):
    return [cell for cell in notebook.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")]


def _defined(source: str) -> list[str]:
    """The names an answer cell defines at its top level (functions, classes, assignments)."""
    lines = [line if not line.lstrip().startswith(("%", "!")) else "" for line in source.splitlines()]
    names = []
    for node in ast.parse("\n".join(lines)).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


def _prefixed(release, prefix: str):
    """The unchanged release with ``prefix`` run at the top of its first answer cell."""
    student = copy.deepcopy(release)
    first = _answer_cells(student)[0]
    first.source = prefix + "\n" + first.source
    return student


def _everything(source, release):
    """The release whose answers are all objects equal to everything, behind the tampering prelude."""
    student = copy.deepcopy(release)
    answers = {cell.metadata["nbgrader"]["grade_id"]: cell for cell in _answer_cells(student)}
    for index, cell in enumerate(_answer_cells(source)):
        names = _defined(cell.source)
        body = "".join(f"{name} = Everything\n" if name[:1].isupper() else f"{name} = Everything()\n" for name in names)
        target = answers[cell.metadata["nbgrader"]["grade_id"]]
        target.source = (TAMPER + "\n" if index == 0 else "") + (body or "pass\n")
    return student


def students(assignment: str, source, release) -> dict:
    """The adversaries of ``assignment``: ``source`` is the solution notebook, ``release`` the student's."""
    release = nbformat.read(release, 4) if not hasattr(release, "cells") else release
    echo = _prefixed(source, ECHO)
    echo.cells.append(nbformat.v4.new_code_cell(ECHO_END))
    made = {
        "adversary_rewrite": lambda: _prefixed(release, REWRITE),
        "adversary_tamper": lambda: _everything(source, release),
        "adversary_forge": lambda: _prefixed(release, FORGE),
        "adversary_echo": lambda: echo,
    }
    return {name: made[name]() for name in names(assignment)}


def blank_total(run) -> float:
    return grading.total(run.scores("blank"))[0]
