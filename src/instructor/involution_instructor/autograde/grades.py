"""Every student × assignment score from the gradebook, as a CSV a learning platform imports."""

from __future__ import annotations

import csv
from pathlib import Path

from .gradebook import open_gradebook

COLUMNS = ("student", "assignment", "score", "max_score", "pending")


def pending_points(submission) -> float:
    """Points of answers graded by hand that nobody has graded yet (nbgrader counts them as 0)."""
    return sum(
        grade.max_score
        for notebook in submission.notebooks
        for grade in notebook.grades
        if grade.auto_score is None and grade.manual_score is None
    )


def grade_rows(course: Path) -> list[dict]:
    """One row per student and assignment; ``score`` is empty where nothing was graded, and
    ``pending`` gives the points of written answers still to be graded by hand (empty when none):
    such a score is not final, and the missing points are not zeros."""
    from nbgrader.api import MissingEntry

    rows = []
    with open_gradebook(course) as gradebook:
        assignments = sorted(gradebook.assignments, key=lambda a: a.name)
        for student in sorted(gradebook.students, key=lambda s: s.id):
            for assignment in assignments:
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                    score = f"{submission.score:g}"
                    pending = pending_points(submission)
                except MissingEntry:
                    score, pending = "", 0
                rows.append({"student": student.id, "assignment": assignment.name,
                             "score": score, "max_score": f"{assignment.max_score:g}",
                             "pending": f"{pending:g}" if pending else ""})
    return rows


def write_grades_csv(course: Path, target: Path, wide: bool = False) -> Path:
    """Write the grades: long (a row per student and assignment) or ``wide`` (a row per
    student, a column per assignment, then each maximum in a row named ``max_score``; an
    assignment with answers still to grade by hand gets a ``<assignment> pending`` column)."""
    rows = grade_rows(course)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="", encoding="utf-8") as handle:
        if not wide:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
            return target
        assignments = sorted({r["assignment"] for r in rows})
        waiting = sorted({r["assignment"] for r in rows if r["pending"]})
        writer = csv.writer(handle)
        writer.writerow(["student", *assignments, *(f"{a} pending" for a in waiting)])
        maxima = {r["assignment"]: r["max_score"] for r in rows}
        writer.writerow(["max_score", *(maxima[a] for a in assignments), *("" for _ in waiting)])
        by_student: dict[str, dict] = {}
        for row in rows:
            by_student.setdefault(row["student"], {})[row["assignment"]] = row
        for student, cells in by_student.items():
            writer.writerow([student, *(cells[a]["score"] if a in cells else "" for a in assignments),
                             *(cells[a]["pending"] if a in cells else "" for a in waiting)])
    return target
