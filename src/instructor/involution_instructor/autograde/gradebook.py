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


@contextmanager
def open_gradebook(course: Path):
    from nbgrader.api import Gradebook

    from ..grading import ensure_tools_on_path

    ensure_tools_on_path()
    with Gradebook(f"sqlite:///{Path(course) / GRADEBOOK}") as gradebook:
        yield gradebook


def ensure_assignments(course: Path, templates) -> None:
    """Give the course gradebook each assignment (its notebooks and cells) from its template."""
    from nbgrader.api import MissingEntry

    course = Path(course)
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


def record(course: Path, result: SubmissionResult, notebook_name: str) -> None:
    """Store a graded result: its scores in the gradebook, its notebook in autograded/."""
    from nbgrader.api import MissingEntry

    if result.status != GRADED:
        if result.student:
            ensure_student(course, result.student)
        return
    with open_gradebook(course) as gradebook:
        gradebook.update_or_create_student(result.student)
        try:
            gradebook.remove_submission(result.assignment, result.student)
        except MissingEntry:
            pass
        with warnings.catch_warnings():
            # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; harmless.
            warnings.simplefilter("ignore")
            submission = gradebook.add_submission(result.assignment, result.student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                cell = result.cells.get(grade.name, {})
                grade.auto_score = cell.get("auto_score", 0.0)
                grade.needs_manual_grade = cell.get("needs_manual_grade", False)
        gradebook.db.commit()
    folder = Path(course) / AUTOGRADED / result.student / result.assignment
    if folder.exists():
        shutil.rmtree(folder)  # nbgrader leaves graded notebooks read-only
    folder.mkdir(parents=True)
    target = folder / notebook_name
    target.write_bytes(result.autograded or b"")
    os.chmod(target, 0o444)
