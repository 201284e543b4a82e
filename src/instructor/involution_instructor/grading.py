"""Real nbgrader runs over the course: a scratch course folder, submissions, scores.

This is the engine under the tests that grade every notebook, and under the
instructor's ``autograde`` command. It drives nbgrader's own command line (no
mocks) against a real gradebook database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .judging import CHECKS_FILE
from .paths import ASSIGNMENTS, project_root
from .release import sync_solutions

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


class GradingError(RuntimeError):
    """nbgrader failed for a reason other than a student's answers."""


@dataclass(frozen=True)
class CellScore:
    grade_id: str
    score: float
    max_score: float
    # Graded by hand (a written answer): 0 until an instructor grades it in formgrader.
    manual: bool = False


def tool_environment(environ=None) -> dict[str, str]:
    """The environment for nbgrader: ``environ`` (default: this process's, as it is now) with this
    interpreter's scripts first on PATH, because nbgrader calls ``alembic`` and ``jupyter`` by name
    and must find this install's."""
    environment = dict(os.environ if environ is None else environ)
    scripts = str(Path(sys.executable).parent)
    environment["PATH"] = os.pathsep.join([scripts, environment.get("PATH", "")])
    return environment


def ensure_tools_on_path() -> None:
    """nbgrader's Gradebook runs ``alembic`` by name: let this process find this install's."""
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = tool_environment()["PATH"]


def nbgrader(course: Path, *args: str, timeout: float | None = None,
             env: dict[str, str] | None = None, environ=None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course`` (whose nbgrader_config.py sets the root);
    ``env`` adds to the environment (a sandboxed kernelspec's folder, for instance), which is
    ``environ`` (default: this process's, as it is when nbgrader starts)."""
    command = [sys.executable, "-m", "involution_instructor.nbgrader_main", *args]
    result = subprocess.run(command, cwd=course, capture_output=True, text=True, timeout=timeout,
                            env={**tool_environment(environ), **(env or {})})
    if result.returncode != 0:
        raise GradingError(f"`nbgrader {' '.join(args)}` failed:\n{(result.stderr or result.stdout)[-4000:]}")
    return result


def prepare_course(target: Path, assignments=ASSIGNMENTS, source_root: Path | None = None, *, environ=None) -> Path:
    """Make a scratch nbgrader course in ``target``: config, sources, a gradebook with
    each assignment generated (which records the original tests in the database); nbgrader
    starts with ``environ`` (default: this process's environment)."""
    source_root = source_root or project_root()
    # Bring a notebook up to date with its reviewed .py source, where there is one.
    paired = [a for a in assignments if (source_root / "solutions" / a / f"{a}.py").exists()]
    sync_solutions(source_root, paired)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source_root / "nbgrader_config.py", target / "nbgrader_config.py")
    for assignment in assignments:
        shutil.copytree(
            source_root / "solutions" / assignment, target / "solutions" / assignment,
            dirs_exist_ok=True, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.py"),
        )
        checks = source_root / "solutions" / assignment / CHECKS_FILE
        if checks.exists():  # the grader's checks: read by nbgrader's process, never by a kernel
            shutil.copy2(checks, target / "solutions" / assignment / CHECKS_FILE)
        nbgrader(target, "generate_assignment", assignment, "--force", "--log-level=ERROR", environ=environ)
    return target


def submit(course: Path, student: str, assignment: str, notebook) -> Path:
    """Place ``notebook`` (a path or a NotebookNode) as ``student``'s submission."""
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{assignment}.ipynb"
    if isinstance(notebook, (str, Path)):
        shutil.copy2(notebook, target)
    else:
        nbformat.write(notebook, target)
    return target


def autograde(course: Path, assignment: str, student: str | None = None, timeout: float | None = None,
              env: dict[str, str] | None = None, environ=None) -> None:
    """Autograde ``assignment`` for every submitted student (or one); ``env`` adds to the
    environment of nbgrader and its kernels (the course profile, for instance), which is
    ``environ`` (default: this process's environment)."""
    args = ["autograde", assignment, "--force", "--log-level=ERROR"]
    if student:
        args.append(f"--student={student}")
    nbgrader(course, *args, timeout=timeout, env=env, environ=environ)


def scores(course: Path, assignment: str, student: str) -> dict[str, CellScore]:
    """Every graded cell's score for one student's submission, from the gradebook."""
    from nbgrader.api import Gradebook

    ensure_tools_on_path()
    url = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(url) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {
            grade.name: CellScore(grade.name, float(grade.score), float(grade.max_score),
                                  manual=grade.auto_score is None)
            for notebook in submission.notebooks
            for grade in notebook.grades
        }


def autograded_only(cell_scores: dict[str, CellScore]) -> dict[str, CellScore]:
    """The cells nbgrader scores by itself, without the answers graded by hand."""
    return {name: cell for name, cell in cell_scores.items() if not cell.manual}


def total(cell_scores: dict[str, CellScore]) -> tuple[float, float]:
    return (
        sum(cell.score for cell in cell_scores.values()),
        sum(cell.max_score for cell in cell_scores.values()),
    )


# ------------------------------------------------------------ crafted submissions


def exercise_of(grade_id: str) -> str | None:
    """``ex3_answer`` and ``ex3_test_hidden`` both belong to exercise ``ex3``."""
    head = grade_id.split("_", 1)[0]
    return head if head.startswith("ex") and head[2:].isdigit() else None


def exercises(notebook) -> list[str]:
    """The exercise names of a notebook, in order of appearance."""
    seen: list[str] = []
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        name = exercise_of(grade_id)
        if name and name not in seen:
            seen.append(name)
    return seen


def with_exercise_blanked(notebook, exercise: str):
    """A copy of ``notebook`` in which ``exercise``'s answer cells hold nbgrader's stub."""
    changed = nbformat.from_dict(notebook)
    found = False
    for cell in changed.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and exercise_of(meta.get("grade_id", "")) == exercise:
            cell.source = CODE_STUB if cell.cell_type == "code" else "YOUR ANSWER HERE"
            found = True
    if not found:
        raise ValueError(f"no answer cell of exercise {exercise!r} in the notebook")
    return changed


def manual_points(notebook) -> float:
    """The points of the answers graded by hand (nbgrader scores them 0 until someone does)."""
    return sum(
        float(cell.metadata["nbgrader"].get("points", 0))
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade") and cell.metadata["nbgrader"].get("solution")
    )


def points_of(notebook, exercise: str) -> float:
    """The points of ``exercise``'s autograded test cells."""
    return sum(
        float(cell.metadata["nbgrader"].get("points", 0))
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
        and exercise_of(cell.metadata["nbgrader"].get("grade_id", "")) == exercise
        and cell.cell_type == "code"
    )
