"""One notebook graded in a scratch nbgrader course of its own.

Runs anywhere a ``concurrent.futures`` executor sends it (a thread, a process, a
dask worker): the job carries the submission's bytes and the assignment's
template, and the result carries the scores and the graded notebook back. Nothing
here writes to the course's gradebook or to the submitted file.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .. import grading
from ..judging import checks_path, load_checks
from ..judging.plan import MALFORMED, MISSING, MISTAGGED, OBSERVATION_ID, PASSED, VERDICT_KEY, Plan
from .crashes import SKIPPED_CELL, find_kernel_killer
from .outputs import review_outputs, shrink_outputs
from .reading import UnreadableSubmission, read_notebook
from .report import FAILED, GRADED, SANDBOXED, UNCONFINED, SubmissionResult
from .sandbox import Sandbox, kernel_setup
from .structure import restore_structure
from .tampering import find_tampering
from .templates import CONFIG, GRADEBOOK, AssignmentTemplate

KERNEL_DEATHS_SKIPPED = 3  # cells a grader skips for killing the kernel before giving up
OUT_OF_MEMORY_CELL = (
    "raise MemoryError('This cell ran out of memory when the notebook was graded, so it was stopped "
    "at once; the cells after it were graded.')"
)


@dataclass
class GradingJob:
    student: str
    label: str
    submission: bytes = field(repr=False)
    template: AssignmentTemplate = field(repr=False)
    cell_timeout: int = 120
    notebook_timeout: float = 1800.0
    notes: list[str] = field(default_factory=list)  # from matching, carried into the result
    sandbox: Sandbox | None = None  # None: the student's code runs unconfined (--no-sandbox)
    seed: int | None = None  # of the grader's inputs for this run (drawn afresh when None)

    @property
    def assignment(self) -> str:
        return self.template.assignment


def grade_job(job: GradingJob) -> SubmissionResult:
    """Grade ``job`` in a fresh scratch course; never raises for a student's mistakes."""
    started = time.perf_counter()
    result = SubmissionResult(job.student, job.assignment, job.label, GRADED, notes=list(job.notes),
                              mode=SANDBOXED if job.sandbox else UNCONFINED)
    scratch = Path(tempfile.mkdtemp(prefix=f"autograde-{job.student}-"))
    try:
        _grade_in(scratch, job, result)
    except UnreadableSubmission as error:
        result.status, result.reason, result.mode = FAILED, str(error), ""
    except subprocess.TimeoutExpired:
        result.status = FAILED
        result.reason = f"grading took longer than {job.notebook_timeout:g} s for the whole notebook and was stopped"
    except grading.GradingError as error:
        result.status, result.reason = FAILED, f"nbgrader could not grade it: {_last_line(str(error))}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        result.seconds = time.perf_counter() - started
    return result


def _grade_in(scratch: Path, job: GradingJob, result: SubmissionResult) -> None:
    course = job.template.unpack(scratch / "course")
    notebook = read_notebook(job.submission)
    source = job.template.source()
    notebook, repairs = restore_structure(notebook, job.template.released())
    result.notes += repairs + find_tampering(notebook, source)
    # The kernel is chosen by the grader, never by the notebook's metadata.
    notebook.metadata["kernelspec"] = source.metadata.get("kernelspec", {"name": "python3", "language": "python",
                                                                         "display_name": "Python 3"})
    kernel = kernel_setup(job.sandbox, scratch / "kernel") if job.sandbox else None
    with open(course / CONFIG, "a", encoding="utf-8") as config:
        # The run's seed, and a tag of this notebook's own that every observation must carry.
        config.write(f"\nc.JudgedExecute.seed = {job.seed!r}\nc.JudgedExecute.token = {secrets.token_hex(16)!r}\n")
        if kernel is not None:
            config.write(kernel.nbgrader_config())

    submitted = course / "submitted" / job.student / job.assignment / job.template.notebook_name
    submitted.parent.mkdir(parents=True)
    for _ in range(KERNEL_DEATHS_SKIPPED + 1):
        nbformat.write(notebook, submitted)
        try:
            _autograde(course, job, kernel.environment() if kernel else None)
        except grading.GradingError as error:
            if "DeadKernelError" not in str(error):
                raise
            as_graded = _as_graded(notebook, source, course, job)
            index = find_kernel_killer(as_graded, scratch, job.cell_timeout,
                                       kernel.kernel_manager() if kernel else None, deadline=job.notebook_timeout)
            index = _submitted_index(as_graded, index)
            cell = notebook.cells[index] if index is not None else None
            if cell is None or cell.metadata.get("nbgrader", {}).get("locked"):
                where = f" in locked cell {cell.metadata['nbgrader'].get('grade_id')}" if cell else ""
                result.status = FAILED
                result.reason = f"the Python kernel died{where} (os._exit, a crash or too much memory)"
                return
            name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
            result.notes.append(f"{name} stopped the Python kernel (os._exit, a crash or too much memory): "
                                "it was skipped and the rest graded")
            cell.source = SKIPPED_CELL
            continue
        cell = _memory_hog(course, job, notebook)
        if cell is None:
            break
        # What it hoarded could starve the cells after it: grade again with it stopped at once.
        name = cell.metadata.get("nbgrader", {}).get("grade_id") or "a cell the student added"
        result.notes.append(f"{name} ran out of memory: graded again with it stopped at once, "
                            "so that the cells after it had the memory it took")
        cell.source = OUT_OF_MEMORY_CELL
    else:
        result.status, result.reason = FAILED, "the Python kernel died again and again"
        return

    result.cells = _cell_scores(course, job)
    result.score = sum(c["auto_score"] or 0.0 for c in result.cells.values())
    result.max_score = sum(c["max_score"] for c in result.cells.values())
    graded_path = course / "autograded" / job.student / job.assignment / job.template.notebook_name
    graded = nbformat.read(graded_path, as_version=4)
    result.notes += _verdict_notes(graded, result.cells)
    result.notes += review_outputs(graded, job.cell_timeout) + shrink_outputs(graded)
    result.autograded = nbformat.writes(graded).encode()


def _memory_hog(course: Path, job: GradingJob, notebook):
    """The student's first cell that raised MemoryError when graded (not yet stopped), or ``None``."""
    graded = nbformat.read(course / "autograded" / job.student / job.assignment / job.template.notebook_name, 4)
    for cell in graded.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and not meta.get("locked") and cell.source != OUT_OF_MEMORY_CELL \
                and any(o.get("ename") == "MemoryError" for o in cell.get("outputs", [])):
            matches = [c for c in notebook.cells if c.get("id") == cell.get("id")]
            return matches[0] if matches else None
    return None


def _autograde(course: Path, job: GradingJob, env: dict[str, str] | None) -> None:
    limit = str(job.cell_timeout)
    grading.nbgrader(
        course, "autograde", job.assignment, f"--student={job.student}", "--force", "--log-level=ERROR",
        f"--ExecutePreprocessor.timeout={limit}", f"--Execute.timeout={limit}",
        timeout=job.notebook_timeout, env=env,
    )


def _as_graded(notebook, source, course: Path, job: GradingJob):
    """``notebook`` as nbgrader runs it: locked cells restored and, where the assignment has
    checks, hidden blocks out and the grader's observation cells in."""
    originals = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("locked")}
    copy = nbformat.from_dict(notebook)
    for cell in copy.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in originals:
            cell.source = originals[grade_id]
        if cell.cell_type == "code":
            cell.outputs = []
    path = checks_path(course, job.assignment)
    if path.exists():
        Plan(load_checks(path, job.assignment), seed=job.seed).prepare(copy)
    return copy


def _submitted_index(as_graded, index: int | None) -> int | None:
    """The submitted notebook's cell at ``index`` of the notebook as graded: the grader's own
    observation cells are not in the submission, and one that killed the kernel counts against the
    test cell it follows (locked: the notebook cannot be graded)."""
    if index is None:
        return None
    own = [not (cell.get("id") or "").startswith(OBSERVATION_ID) for cell in as_graded.cells[: index + 1]]
    return max(sum(own) - 1, 0)


def _verdict_notes(graded, cells: dict[str, dict]) -> list[str]:
    """The grader's verdict of every judged test cell, kept with its score, and one sentence naming
    the checks that earned 0 and why: wrong, or an observation missing, malformed or wrongly tagged
    (which no honest answer causes)."""
    failed, unusual = [], False
    for cell in graded.cells:
        verdict = cell.get("metadata", {}).get(VERDICT_KEY)
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if not isinstance(verdict, dict) or grade_id not in cells:
            continue
        cells[grade_id]["verdict"] = verdict.get("status")
        cells[grade_id]["message"] = verdict.get("message", "")
        if verdict.get("status") != PASSED:
            failed.append(f"{grade_id} ({verdict.get('status')})")
            unusual |= verdict.get("status") in (MISSING, MALFORMED, MISTAGGED)
    if not failed:
        return []
    note = f"0 points from {', '.join(failed)}"
    if unusual:
        note += ": an observation missing, malformed or wrongly tagged means the student's code changed how later cells ran"
    return [note]


def _cell_scores(course: Path, job: GradingJob) -> dict[str, dict]:
    from nbgrader.api import Gradebook

    grading.ensure_tools_on_path()
    with Gradebook(f"sqlite:///{course / GRADEBOOK}") as gradebook:
        submission = gradebook.find_submission(job.assignment, job.student)
        return {
            grade.name: {
                # None for an answer graded by hand: pending, not a zero.
                "auto_score": None if grade.auto_score is None else float(grade.auto_score),
                "max_score": float(grade.max_score),
                "needs_manual_grade": bool(grade.needs_manual_grade),
            }
            for notebook in submission.notebooks
            for grade in notebook.grades
        }


def _last_line(text: str) -> str:
    """The line of nbgrader's log that names the error (its last lines only point back up)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"[\w.]+(Error|Exception)\b", line)]
    return (errors or lines or ["no message"])[-1]
