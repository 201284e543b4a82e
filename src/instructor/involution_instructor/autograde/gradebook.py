"""Results merged into the course's gradebook: only the parent process writes it.

SQLite takes one writer at a time; workers grade in gradebooks of their own, and
the runner calls :func:`record` for one result after another.
"""

from __future__ import annotations

import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

from .report import GRADED, SubmissionResult
from .templates import GRADEBOOK

AUTOGRADED = "autograded"
SOURCE = "solutions"  # the source folder of nbgrader_config.py, which formgrader lists
SUBMITTED = "submitted"
BACKUPS = "gradebook.db.backups"  # the gradebook before each run, newest last
KEPT_BACKUPS = 5


@contextmanager
def open_gradebook(course: Path):
    from nbgrader.api import Gradebook

    from ..grading import ensure_tools_on_path

    ensure_tools_on_path()
    with Gradebook(f"sqlite:///{Path(course) / GRADEBOOK}") as gradebook:
        yield gradebook


def ensure_assignments(course: Path, templates) -> None:
    """Give the course gradebook each assignment (its notebooks and cells) from its template,
    and the course its source notebook, where formgrader finds its assignments and rubrics
    (and the configuration that shows them beside the answers: :mod:`.rubrics`)."""
    from nbgrader.api import MissingEntry

    from .rubrics import write_config

    course = Path(course)
    for template in templates.values():
        relative = f"{SOURCE}/{template.assignment}/{template.notebook_name}"
        (course / relative).parent.mkdir(parents=True, exist_ok=True)
        (course / relative).write_bytes(template.files[relative])
    write_config(course)
    database = course / GRADEBOOK
    if not database.exists():
        first = next(iter(templates.values()))
        database.write_bytes(first.files[GRADEBOOK])
    for name, template in templates.items():
        with open_gradebook(course) as gradebook:
            try:
                gradebook.find_assignment(name)
                continue
            except MissingEntry:
                pass
        _copy_assignment(template, course)


def _copy_assignment(template, course: Path) -> None:
    """Copy an assignment's definition from a template gradebook into the course's."""
    import tempfile

    from nbgrader.api import Gradebook

    from ..grading import ensure_tools_on_path

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / GRADEBOOK
        path.write_bytes(template.files[GRADEBOOK])
        ensure_tools_on_path()
        with Gradebook(f"sqlite:///{path}") as source, open_gradebook(course) as target:
            assignment = source.find_assignment(template.assignment)
            target.update_or_create_assignment(assignment.name, duedate=assignment.duedate)
            for notebook in assignment.notebooks:
                target.update_or_create_notebook(notebook.name, assignment.name)
                for cell in notebook.grade_cells:
                    target.update_or_create_grade_cell(
                        cell.name, notebook.name, assignment.name, max_score=cell.max_score,
                        cell_type=cell.cell_type)
                for cell in notebook.solution_cells:
                    target.update_or_create_solution_cell(cell.name, notebook.name, assignment.name)
                for cell in notebook.task_cells:
                    target.update_or_create_task_cell(
                        cell.name, notebook.name, assignment.name, max_score=cell.max_score,
                        cell_type=cell.cell_type)
                for cell in notebook.source_cells:
                    target.update_or_create_source_cell(
                        cell.name, notebook.name, assignment.name, cell_type=cell.cell_type,
                        locked=cell.locked, source=cell.source, checksum=cell.checksum)


def ensure_student(course: Path, student: str) -> None:
    with open_gradebook(course) as gradebook:
        gradebook.update_or_create_student(student)


def backup(course: Path) -> Path | None:
    """Copy the course gradebook into ``gradebook.db.backups/`` (SQLite's own backup, consistent
    even mid-write), keeping the newest :data:`KEPT_BACKUPS`; ``None`` where there is none yet."""
    import sqlite3
    from datetime import datetime, timezone

    database = Path(course) / GRADEBOOK
    if not database.exists():
        return None
    folder = Path(course) / BACKUPS
    folder.mkdir(exist_ok=True)
    target = folder / f"gradebook-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ')}.db"
    source, copy = sqlite3.connect(database), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    for old in sorted(folder.glob("gradebook-*.db"))[:-KEPT_BACKUPS]:
        old.unlink()
    return target


def record(course: Path, result: SubmissionResult, notebook_name: str) -> None:
    """Store a graded result: its scores in the gradebook, its notebook in autograded/.

    A submission graded before keeps what was done by hand (manual scores, comments, extra
    credit, flags): see :func:`_keep_hand_grade`. Only automatic scores are replaced.
    """
    from nbgrader.api import MissingEntry

    if result.status != GRADED:
        if result.student:
            ensure_student(course, result.student)
        return
    folder = Path(course) / AUTOGRADED / result.student / result.assignment
    before = _answers(folder / notebook_name)
    after = _answers(result.autograded)
    with open_gradebook(course) as gradebook:
        gradebook.update_or_create_student(result.student)
        try:
            submission, regraded = gradebook.find_submission(result.assignment, result.student), True
        except MissingEntry:
            with warnings.catch_warnings():
                # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; harmless.
                warnings.simplefilter("ignore")
                submission, regraded = gradebook.add_submission(result.assignment, result.student), False
        for notebook in submission.notebooks:
            comments = {comment.name: comment for comment in notebook.comments}
            for grade in notebook.grades:
                cell = result.cells.get(grade.name, {})
                earlier = grade.auto_score
                grade.auto_score = cell.get("auto_score", 0.0)
                grade.needs_manual_grade = cell.get("needs_manual_grade", False)
                if regraded:
                    _keep_hand_grade(grade, comments.get(grade.name), earlier, before, after, result)
        gradebook.db.commit()
    if folder.exists():
        shutil.rmtree(folder)  # nbgrader leaves graded notebooks read-only
    folder.mkdir(parents=True)
    target = folder / notebook_name
    target.write_bytes(result.autograded or b"")
    os.chmod(target, 0o444)
    _mark_submitted(Path(course), result)


def _mark_submitted(course: Path, result: SubmissionResult) -> None:
    """Formgrader counts a submission by its folder in submitted/. The folder holds no notebook:
    formgrader's own autograde button would run it outside the sandbox."""
    folder = course / SUBMITTED / result.student / result.assignment
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.txt").write_text(
        f"Graded by `involution-instructor autograde` (in its sandbox) from {result.label}; the graded notebook "
        f"is in {AUTOGRADED}/{result.student}/{result.assignment}/. Grade it again with that command, not here.\n",
        encoding="utf-8")


def _keep_hand_grade(grade, comment, earlier_auto, before: dict, after: dict, result: SubmissionResult) -> None:
    """Keep a hand grade through a regrade. An answer graded by hand whose text changed since
    (a resubmission) is pending again, its earlier grade and comment kept in its comment, and
    the report says so; a test cell's hand grade stays, flagged where its automatic score moved."""
    manual_comment = comment.manual_comment if comment is not None else None
    if grade.manual_score is None and not grade.extra_credit and not manual_comment:
        return
    changed = grade.name in before and grade.name in after and before[grade.name] != after[grade.name]
    if changed:
        earlier = []
        if grade.manual_score is not None:
            earlier.append(f"{grade.manual_score:g} of {grade.max_score:g}")
        if grade.extra_credit:
            earlier.append(f"{grade.extra_credit:g} extra credit")
        kept = f"[Earlier answer, graded {', '.join(earlier) or 'without a score'}"
        kept += f": {manual_comment}]" if manual_comment else "]"
        if comment is not None:
            comment.manual_comment = kept
        grade.manual_score = grade.extra_credit = None
        grade.needs_manual_grade = True
        result.notes.append(f"{grade.name} changed since it was graded by hand ({', '.join(earlier) or 'a comment'}): "
                            "grade it again; the earlier grade and comment are kept in its comment")
    elif grade.auto_score is None:
        grade.needs_manual_grade = grade.manual_score is None  # graded by hand and unchanged: done
    elif grade.manual_score is not None and earlier_auto != grade.auto_score:
        grade.needs_manual_grade = True
        result.notes.append(f"{grade.name} keeps its hand grade of {grade.manual_score:g}, but its tests now give "
                            f"{grade.auto_score:g} (were {earlier_auto if earlier_auto is None else format(earlier_auto, 'g')}): review it")


def _answers(notebook) -> dict[str, str]:
    """The text of each answer graded by hand (cells both graded and answered) of a graded
    notebook: its path or bytes; empty where there is none."""
    import nbformat

    try:
        if isinstance(notebook, Path):
            if not notebook.exists():
                return {}
            notebook = notebook.read_bytes()
        if not notebook:
            return {}
        cells = nbformat.reads(notebook.decode("utf-8"), as_version=4).cells
    except Exception:  # noqa: BLE001 - an unreadable earlier copy: nothing to compare with
        return {}
    answers = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and meta.get("solution") and meta.get("grade_id"):
            answers[meta["grade_id"]] = "\n".join(line.rstrip() for line in cell.source.strip().splitlines())
    return answers
