"""Seconds per student: N copies of one student's submission, graded with W workers."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .report import GRADED
from .runner import autograde_submissions


@dataclass(frozen=True)
class GradingTimings:
    students: int
    workers: int
    notebooks_per_student: int
    prepare_seconds: float  # templates and gradebook, done once per run
    wall_seconds: float  # grading every copy, from first job to last result
    job_seconds: list[float]  # each notebook's own grading time
    graded: int
    failed: int

    @property
    def seconds_per_student(self) -> float:
        return self.wall_seconds / self.students


def grade_copies(notebooks, copies: int, workers: int, source_root: Path | None = None,
                 course: Path | None = None, executor=None, **options) -> GradingTimings:
    """Grade ``copies`` students who each submitted ``notebooks`` (paths, one per assignment).

    Preparing the assignments' templates (once per run) is timed apart from grading;
    without ``course``, a fresh course folder makes every copy cost the same.
    """
    notebooks = [Path(n) for n in notebooks]
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as scratch:
        scratch = Path(scratch)
        course = Path(course) if course else scratch / "course"
        submissions = scratch / "submissions"
        for index in range(copies):
            folder = submissions / f"student{index + 1:03d}"
            folder.mkdir(parents=True)
            for notebook in notebooks:
                shutil.copy2(notebook, folder / notebook.name)
        report = autograde_submissions(submissions, course=course, source_root=source_root, executor=executor,
                                       workers=workers, show_progress=False, **options)
    graded = report.by_status(GRADED)
    return GradingTimings(
        students=copies, workers=workers, notebooks_per_student=len(notebooks),
        prepare_seconds=report.prepare_seconds, wall_seconds=report.grading_seconds,
        job_seconds=[r.seconds for r in report.results if r.seconds],
        graded=len(graded), failed=len(report.results) - len(graded),
    )
