"""Every student × assignment score from the gradebook, as a CSV a learning platform imports."""

from __future__ import annotations

import csv
from pathlib import Path

from .gradebook import open_gradebook

COLUMNS = ("student", "assignment", "score", "max_score")


def grade_rows(course: Path) -> list[dict]:
    """One row per student and assignment; ``score`` is empty where nothing was graded."""
    from nbgrader.api import MissingEntry

    rows = []
    with open_gradebook(course) as gradebook:
        assignments = sorted(gradebook.assignments, key=lambda a: a.name)
        for student in sorted(gradebook.students, key=lambda s: s.id):
            for assignment in assignments:
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                    score = f"{submission.score:g}"
                except MissingEntry:
                    score = ""
                rows.append({"student": student.id, "assignment": assignment.name,
                             "score": score, "max_score": f"{assignment.max_score:g}"})
    return rows


def write_grades_csv(course: Path, target: Path, wide: bool = False) -> Path:
    """Write the grades: long (a row per student and assignment) or ``wide`` (a row per
    student, a column per assignment, then each maximum in a row named ``max_score``)."""
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
        writer = csv.writer(handle)
        writer.writerow(["student", *assignments])
        maxima = {r["assignment"]: r["max_score"] for r in rows}
        writer.writerow(["max_score", *(maxima[a] for a in assignments)])
        by_student: dict[str, dict] = {}
        for row in rows:
            by_student.setdefault(row["student"], {})[row["assignment"]] = row["score"]
        for student, scores in by_student.items():
            writer.writerow([student, *(scores.get(a, "") for a in assignments)])
    return target
