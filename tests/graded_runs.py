"""One real nbgrader run per notebook, for every crafted submission of the test suite.

Grading a notebook costs a kernel start, a TensorFlow import and the whole notebook, so the suite
grades each notebook once, with every student that any test needs: the solution, the unchanged
release, the solution with its last exercise blank, and the crafted students of
``tests/submissions/<module>.py`` (delegating answers, mutants). Students are split over three
scratch courses graded side by side: a kernel waits on its sandbox and the disk part of the time, so
three share two cores better than two (notebook 04: 180 s against 206 s on the 2-core machine).

A submissions module names its notebook in ``ASSIGNMENT`` and gives ``students(source)``: a dict
of student name to notebook, made from the solution notebook ``source``.

The grading profile reaches nbgrader through its environment only; the tests keep theirs.
"""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from involution_instructor import grading

BASELINE = ("solution", "blank", "one_wrong")
WORKERS = int(os.environ.get("INVOLUTION_COURSE_TEST_WORKERS", "3"))
GRADING_ENVIRONMENT = {"INVOLUTION_COURSE_PROFILE": "grading", "INVOLUTION_COURSE_NO_PROGRESS": "1"}


def submission_modules(assignment: str) -> list:
    import submissions

    found = []
    for info in pkgutil.iter_modules(submissions.__path__):
        module = importlib.import_module(f"submissions.{info.name}")
        if getattr(module, "ASSIGNMENT", None) == assignment:
            found.append(module)
    return found


@dataclass
class GradedRun:
    assignment: str
    source: nbformat.NotebookNode
    course_of: dict[str, Path]

    def scores(self, student: str, manual: bool = False) -> dict[str, grading.CellScore]:
        """Every autograded cell's score (and the cells graded by hand too, with ``manual``)."""
        found = grading.scores(self.course_of[student], self.assignment, student)
        return found if manual else grading.autograded_only(found)

    def total(self, student: str) -> tuple[float, float]:
        return grading.total(self.scores(student))

    def exercise_scores(self, student: str) -> dict[str, tuple[float, float]]:
        """(score, max) of each exercise, summed over its test cells."""
        totals: dict[str, tuple[float, float]] = {}
        for cell in self.scores(student).values():
            exercise = grading.exercise_of(cell.grade_id)
            score, maximum = totals.get(exercise, (0.0, 0.0))
            totals[exercise] = (score + cell.score, maximum + cell.max_score)
        return totals

    def cell_scores(self, student: str) -> dict[str, tuple[float, float]]:
        return {name: (cell.score, cell.max_score) for name, cell in self.scores(student).items()}

    def autograded(self, student: str) -> nbformat.NotebookNode:
        course = self.course_of[student]
        return nbformat.read(course / "autograded" / student / self.assignment / f"{self.assignment}.ipynb", 4)


def _students(assignment: str, source, release_path: Path) -> dict[str, object]:
    last = grading.exercises(source)[-1]
    students: dict[str, object] = {
        "solution": source,
        "blank": release_path,
        "one_wrong": grading.with_exercise_blanked(source, last),
    }
    for module in submission_modules(assignment):
        for name, notebook in module.students(source).items():
            if name in students:
                raise ValueError(f"{module.__name__}: the student name {name!r} is taken")
            students[name] = notebook
    from submissions import adversaries  # students who attack the grader, in every notebook

    for name, notebook in adversaries.students(assignment, source, release_path).items():
        if name in students:
            raise ValueError(f"submissions.adversaries: the student name {name!r} is taken")
        students[name] = notebook
    return students


@functools.lru_cache(maxsize=None)
def graded_run(assignment: str, base: str, environ: tuple | None = None) -> GradedRun:
    """Grade every student of ``assignment`` under the grading profile, in scratch courses under
    ``base``; nbgrader starts with ``environ`` (the items of an environment; default: this
    process's as it is then), so that a run in the background keeps the session's environment
    whatever a test beside it sets."""
    environ = dict(environ) if environ is not None else None
    root = Path(base)
    first = grading.prepare_course(root / "course-0", [assignment], environ=environ)
    source = nbformat.read(first / "solutions" / assignment / f"{assignment}.ipynb", 4)
    release = first / "notebooks" / assignment / f"{assignment}.ipynb"
    students = _students(assignment, source, release)
    # The unchanged release stops at its first stub, so it costs a fraction of a full run: dealt
    # first, it lands in the larger group when the count is odd, and the groups end together.
    names = ["blank"] + [name for name in students if name != "blank"]
    groups = [names[i::WORKERS] for i in range(WORKERS) if names[i::WORKERS]]
    courses = [first] + [grading.prepare_course(root / f"course-{i}", [assignment], environ=environ)
                         for i in range(1, len(groups))]
    course_of = {}
    for course, group in zip(courses, groups):
        for name in group:
            grading.submit(course, name, assignment, students[name])
            course_of[name] = course
    with ThreadPoolExecutor(len(courses)) as pool:
        list(pool.map(lambda course: grading.autograde(course, assignment, env=GRADING_ENVIRONMENT, environ=environ),
                      courses))
    return GradedRun(assignment, source, course_of)


def with_answers(notebook, answers: dict[str, str]):
    """A copy of ``notebook`` whose answer cells hold the given code, keyed by the answer cell's
    grade id (``ex3_layer``) or by exercise (``ex3``, for an exercise with one answer cell)."""
    changed = nbformat.from_dict(notebook)
    replaced = set()
    for cell in changed.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("solution") and cell.cell_type == "code"):
            continue
        grade_id = meta.get("grade_id", "")
        for key in (grade_id, grading.exercise_of(grade_id)):
            if key in answers:
                cell.source = answers[key]
                replaced.add(key)
                break
    missing = set(answers) - replaced
    if missing:
        raise ValueError(f"no answer cell for {sorted(missing)}")
    return changed
