"""One notebook's graded run: observation cells in before it runs, verdicts out after.

Before the notebook runs, :meth:`Plan.prepare` strips any hidden block from each test cell (the
kernel never sees hidden-test source) and puts an observation cell of the grader's after it. After
the run, :meth:`Plan.judge` reads each observation cell's outputs, and only those, judges them here,
writes the verdict into the test cell (metadata ``judging`` and one output saying what the grader
decided) and removes the observation cells, whatever they printed, from the notebook.
"""

from __future__ import annotations

import json
import re
import secrets
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from . import Check, Checks
from . import runtime
from .source import StudentSource

PASSED, WRONG, MISSING, MALFORMED, MISTAGGED = "passed", "wrong", "missing", "malformed", "wrongly tagged"
VERDICT_KEY = "judging"
VERDICT_ERROR = "GradedCheckFailed"
OBSERVATION_ID = "observation-"  # the cell ids of the grader's observation cells begin so  # the ename of the output that says a check failed
HIDDEN_BLOCK = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S)
RUNTIME_SOURCE = Path(runtime.__file__).read_text(encoding="utf-8")
_EXPECTED: dict[tuple, Any] = {}  # (checks digest, grade id, seed) -> expected values, per process


@dataclass
class Context:
    """What a judge sees: the inputs, the observation, expected values and the student's source."""

    grade_id: str
    data: Any
    seen: Any
    expected: Any
    source: StudentSource


@dataclass(frozen=True)
class Verdict:
    status: str
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def as_metadata(self, visible_failed: bool) -> dict:
        return {"status": self.status, "message": self.message, "visible_failed": visible_failed}


def inputs_for(check: Check, seed: int):
    """The grader's inputs of ``check`` for a run seeded ``seed`` (the same on every machine)."""
    if check.inputs is None:
        return None
    return check.inputs(np.random.default_rng([seed, zlib.crc32(check.grade_id.encode())]))


def _expected(checks: Checks, check: Check, seed: int, data):
    if check.expect is None:
        return None
    key = (checks.digest, check.grade_id, seed)
    if key not in _EXPECTED:
        _EXPECTED[key] = check.expect(data)
    return _EXPECTED[key]


def is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def student_source(notebook) -> StudentSource:
    """Every code cell the student could write: answer cells and cells they added."""
    cells = {}
    for index, cell in enumerate(notebook.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and not meta.get("locked"):
            cells[meta.get("grade_id") or f"cell {index + 1}"] = cell.source
    return StudentSource(cells)


class Plan:
    def __init__(self, checks: Checks, seed: int | None = None, token: str | None = None):
        self.checks = checks
        self.seed = int(seed) if seed is not None else secrets.randbits(63)
        self.token = token or secrets.token_hex(16)
        self._pairs: list[tuple[Any, Any, Check]] = []
        self._data: dict[str, Any] = {}
        self._source = StudentSource()

    def prepare(self, notebook) -> None:
        """In place: hidden blocks out, an observation cell after every test cell."""
        missing = [c.metadata["nbgrader"]["grade_id"] for c in notebook.cells
                   if is_test_cell(c) and c.metadata["nbgrader"].get("grade_id") not in self.checks]
        if missing:
            raise ValueError(f"{self.checks.assignment}: no check in checks.py for the test cells {', '.join(missing)}")
        for cell in notebook.cells:
            cell.get("metadata", {}).pop(VERDICT_KEY, None)  # a verdict is the grader's to write
        self._source = student_source(notebook)
        cells, self._pairs = [], []
        for cell in notebook.cells:
            cells.append(cell)
            if not is_test_cell(cell):
                continue
            cell.source = HIDDEN_BLOCK.sub("", cell.source).rstrip() + "\n"
            check = self.checks[cell.metadata["nbgrader"]["grade_id"]]
            self._data[check.grade_id] = inputs_for(check, self.seed)
            observation = nbformat.v4.new_code_cell(self._observation_source(check, self._data[check.grade_id]))
            observation.id = f"{OBSERVATION_ID}{self.token[:8]}-{len(self._pairs)}"
            cells.append(observation)
            self._pairs.append((cell, observation, check))
        notebook.cells = cells
        notebook.metadata[VERDICT_KEY] = {"seed": self.seed, "checks": self.checks.digest}

    def _observation_source(self, check: Check, data) -> str:
        payload = json.dumps(runtime.encode(data))
        program = "\n\n".join([
            "import numpy as np", RUNTIME_SOURCE, self.checks.kernel_source,
            f"observe({self.token!r}, {check.grade_id!r}, {payload!r}, {check.observe.__name__!r}, globals())",
        ])
        return (f"# The grader observes {check.grade_id}: it judges what this cell shows, outside this kernel.\n"
                f"exec(compile({program!r}, '<observation of {check.grade_id}>', 'exec'), {{'__name__': '__observation__'}})\n")

    def judge(self, notebook) -> dict[str, Verdict]:
        """In place: a verdict in every test cell, the observation cells gone."""
        verdicts = {}
        for cell, observation, check in self._pairs:
            verdict = self._verdict(check, observation)
            visible_failed = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
            cell.metadata[VERDICT_KEY] = verdict.as_metadata(visible_failed)
            cell.outputs.append(_verdict_output(verdict, cell.metadata["nbgrader"].get("points", 0)))
            verdicts[check.grade_id] = verdict
        made = {id(observation) for _, observation, _ in self._pairs}
        notebook.cells = [cell for cell in notebook.cells if id(cell) not in made]
        return verdicts

    def _verdict(self, check: Check, cell) -> Verdict:
        outputs = cell.get("outputs", [])
        shown = [o["data"][runtime.MIME] for o in outputs
                 if isinstance(o.get("data"), dict) and runtime.MIME in o["data"]]
        if not shown:
            errors = [o.get("ename") for o in outputs if o.get("output_type") == "error"]
            why = (f"the observation stopped with {errors[0]}" if errors
                   else "nothing came back from the observation")
            return Verdict(MISSING, f"{why} (a cell of yours may have changed how later cells run)")
        tagged = [m for m in shown if isinstance(m, dict) and m.get("token") == self.token
                  and m.get("check") == check.grade_id]
        if not tagged:
            return Verdict(MISTAGGED, "the observation did not carry this graded run's tag")
        if len(shown) > 1:
            return Verdict(MALFORMED, f"{len(shown)} observations were shown where the grader makes one")
        message = tagged[0]
        if "error" in message:
            return Verdict(WRONG, f"the check could not run: {str(message['error'])[:500]}")
        try:
            seen = runtime.decode(message["seen"])
        except (KeyError, ValueError, TypeError) as error:
            return Verdict(MALFORMED, f"the observation could not be read ({type(error).__name__})")
        data = self._data[check.grade_id]
        context = Context(check.grade_id, data, seen, _expected(self.checks, check, self.seed, data), self._source)
        try:
            check.judge(context)
        except AssertionError as error:
            return Verdict(WRONG, str(error) or "a check failed")
        except Exception as error:  # noqa: BLE001 - an observation the judge cannot read scores 0
            return Verdict(MALFORMED, f"the observation could not be judged ({type(error).__name__}: {error})"[:600])
        return Verdict(PASSED)


def _verdict_output(verdict: Verdict, points) -> nbformat.NotebookNode:
    if verdict.passed:
        return nbformat.v4.new_output("stream", name="stdout", text=f"Graded: passed ({points:g} of {points:g} points).\n")
    label = "wrong" if verdict.status == WRONG else verdict.status
    return nbformat.v4.new_output("error", ename=VERDICT_ERROR, evalue=f"{label}: {verdict.message}",
                                  traceback=[f"Graded: 0 of {points:g} points ({label}): {verdict.message}"])
