"""``involution-course check NOTEBOOK``: run a notebook as grading will, before you submit it.

The notebook runs top to bottom on a fresh kernel (nbclient, the student's ``python3``
kernel), in its own folder, and is never written to. Each exercise's visible tests are
then read off their cells the way nbgrader scores them: a test cell passes when it
raised no error and wrote nothing to stderr. Exercises are found by their nbgrader
cell metadata (test cells ``ex<N>_test_*`` with their points), not by their text.
Hidden tests are not in a student's notebook: they run only at grading.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .paths import BUILD_VARIABLE

PASSED, FAILED, NOT_DONE, NOT_RUN = "passed", "failed", "not done", "not run"
DEFAULT_TIMEOUT = 600
DEFAULT_KERNEL = "python3"

_TEST_ID = re.compile(r"^ex(\d+)_test_")
_EXERCISE_ID = re.compile(r"^ex(\d+)_")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class CheckError(Exception):
    """The notebook could not be checked; the message is a sentence saying why and what to do."""


@dataclass
class TestCellResult:
    exercise: int
    grade_id: str
    points: float
    status: str = NOT_RUN
    reason: str = ""

    def line(self) -> str:
        text = f"Exercise {self.exercise} ({self.grade_id}): {self.status}"
        return f"{text} — {self.reason}" if self.reason else text


@dataclass
class CheckReport:
    notebook: Path
    tests: list[TestCellResult]
    problems: list[str] = field(default_factory=list)  # errors in cells other than test cells
    stopped: str | None = None  # why the run ended early (the kernel died)

    def exercises(self) -> dict[int, list[TestCellResult]]:
        grouped: dict[int, list[TestCellResult]] = {}
        for test in self.tests:
            grouped.setdefault(test.exercise, []).append(test)
        return grouped

    @property
    def all_passed(self) -> bool:
        return self.stopped is None and all(t.status == PASSED for t in self.tests)

    def summary(self) -> str:
        exercises = self.exercises()
        done = [n for n, tests in exercises.items() if all(t.status == PASSED for t in tests)]
        points = sum(t.points for t in self.tests if t.status == PASSED)
        total = sum(t.points for t in self.tests)
        text = (f"Summary: {len(done)} of {len(exercises)} exercises pass their visible tests "
                f"({points:g} of {total:g} points). ")
        if self.all_passed:
            return text + "Hidden tests run when your notebook is graded."
        return text + "Fix what is listed above, then check again; hidden tests run when your notebook is graded."

    def text(self) -> str:
        lines = [test.line() for test in self.tests]
        if self.stopped:
            lines.append(f"Stopped early: {self.stopped}")
        if self.problems:
            lines.append("Other cells that raised an error:")
            lines += [f"  {problem}" for problem in self.problems]
        lines.append(self.summary())
        return "\n".join(lines) + "\n"


def read_student_notebook(path: str | Path):
    """The notebook at ``path``, or a :class:`CheckError` that says what is wrong with the file."""
    import nbformat

    path = Path(path)
    if not path.exists():
        raise CheckError(f"there is no file {path}: give the path of your .ipynb notebook.")
    if path.is_dir():
        raise CheckError(f"{path} is a folder: give the path of your .ipynb notebook inside it.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CheckError(f"{path} could not be read as text ({error}): is it a Jupyter notebook (.ipynb)?") from None
    if not text.strip():
        raise CheckError(f"{path} is empty: save the notebook again (File > Save Notebook) and check that copy.")
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        hint = " Give the .ipynb file, not the .py beside it." if path.suffix == ".py" else (
            " Was the download or the copy cut short?")
        raise CheckError(f"{path} is not a Jupyter notebook: it is not valid JSON (line {error.lineno}).{hint}") from None
    if not isinstance(content, dict) or "cells" not in content:
        raise CheckError(f"{path} is JSON but not a Jupyter notebook (it has no cells).")
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat's errors vary by version; the sentence is what matters
        raise CheckError(f"{path} is not a notebook this check can read: {_first_line(str(error))}") from None
    if not any(_test_cell(cell) for cell in notebook.cells):
        raise CheckError(
            f"{path} has no exercise test cells (cells marked as nbgrader tests ex<N>_test_…): "
            "check one of the course's notebooks, or your copy of it."
        )
    return notebook


def check_notebook(path: str | Path, *, timeout: int = DEFAULT_TIMEOUT, kernel: str = DEFAULT_KERNEL) -> CheckReport:
    """Run the notebook at ``path`` on a fresh kernel and report each visible test."""
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    path = Path(path)
    notebook = read_student_notebook(path)
    # The notebook runs in a scratch folder, its build/ (saved models, figures) there too: the check
    # leaves nothing beside the submission.
    scratch = tempfile.TemporaryDirectory(prefix="involution-course-check-")
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name=kernel, allow_errors=True, interrupt_on_timeout=True,
        record_timing=False, resources={"metadata": {"path": scratch.name}},
    )
    client.log.disabled = True  # nbclient logs a timeout to stderr; the report says it instead
    stopped = None
    ran: set[int] = set()
    try:
        # The kernel's own log lines (its start-up warnings) are not the student's business.
        with scratch, client.setup_kernel(stderr=subprocess.DEVNULL,
                                          env={**os.environ, BUILD_VARIABLE: str(Path(scratch.name) / "build")}):
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != "code":
                    continue
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    stopped = (f"the Python kernel died in cell {index + 1}{_named(cell)} (os._exit, a crash or "
                               "too much memory); the cells after it did not run.")
                    break
                ran.add(index)
    except NoSuchKernel:
        raise CheckError(
            f"there is no Jupyter kernel called '{kernel}': install one with "
            f"`python -m ipykernel install --user --name {kernel}` in the environment that has the course."
        ) from None
    except DeadKernelError:
        stopped = "the Python kernel died before the notebook could run (a crash or too little memory)."
    except RuntimeError as error:  # the kernel did not start
        raise CheckError(f"the '{kernel}' kernel did not start: {_first_line(str(error))}") from None
    return _report(path, notebook, ran, stopped, timeout)


def _report(path: Path, notebook, ran: set[int], stopped: str | None, timeout: int) -> CheckReport:
    not_done = set()  # exercises whose answer cell still raises NotImplementedError
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or _test_cell(cell) or index not in ran:
            continue
        error = _error(cell, timeout, stderr=False)  # only test cells are scored on stderr
        if error is None:
            continue
        ename, reason = error
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        exercise = _EXERCISE_ID.match(grade_id or "")
        if ename == "NotImplementedError" and exercise and cell.metadata.get("nbgrader", {}).get("solution"):
            not_done.add(int(exercise.group(1)))
        else:
            problems.append(f"cell {index + 1}{_named(cell)}: {reason}")

    tests = []
    for index, cell in enumerate(notebook.cells):
        if not _test_cell(cell):
            continue
        nbgrader = cell.metadata["nbgrader"]
        number = int(_TEST_ID.match(nbgrader["grade_id"]).group(1))
        result = TestCellResult(number, nbgrader["grade_id"], float(nbgrader.get("points") or 0))
        error = _error(cell, timeout) if index in ran else None
        if index not in ran:
            result.reason = "the notebook stopped before this cell"
        elif error is None:
            result.status = PASSED
        elif error[0] == "NotImplementedError" or number in not_done:
            result.status = NOT_DONE
            result.reason = f"exercise {number}'s answer cell still raises NotImplementedError: write your answer there"
        else:
            result.status, result.reason = FAILED, error[1]
        tests.append(result)
    return CheckReport(path, tests, problems, stopped)


def _test_cell(cell) -> bool:
    nbgrader = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(nbgrader.get("grade")) and bool(_TEST_ID.match(nbgrader.get("grade_id") or ""))


def _error(cell, timeout: int, stderr: bool = True) -> tuple[str, str] | None:
    """``(error name, reason)`` for a cell nbgrader would score 0, else ``None``."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            ename, evalue = output.get("ename", "Error"), _first_line(output.get("evalue", ""))
            if ename == "KeyboardInterrupt":
                return ename, f"stopped after {timeout} s (--timeout): an endless loop, or too much work for one cell?"
            if ename == "AssertionError":
                return ename, evalue or f"an assert failed: {_failing_line(output)}"
            if ename == "NotImplementedError" and not evalue:
                return ename, f"{ename}: it uses an exercise's answer that is not written yet"
            return ename, f"{ename}: {evalue}" if evalue else ename
    for output in cell.get("outputs", []) if stderr else ():
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return "stderr", f"the cell wrote to stderr, which grading counts as a failure: {_first_line(output.get('text', ''))}"
    return None


def _failing_line(output) -> str:
    """The source line an assert without a message stopped on, from the traceback's arrow."""
    for frame in reversed(output.get("traceback", [])):
        for line in _ANSI.sub("", frame).splitlines():
            if line.lstrip().startswith("---->"):
                return line.split("---->", 1)[1].strip().lstrip("0123456789").strip()
    return "no message"


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def _named(cell) -> str:
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    return f" ({grade_id})" if grade_id else ""
