"""End to end on a real course notebook: 01-convolution, downloaded from a learning
platform, autograded under the grading profile, into a gradebook and a grades CSV."""

from __future__ import annotations

import nbformat
import pytest

from involution_instructor import grading
from involution_instructor.autograde import autograde_submissions, grade_rows
from involution_instructor.paths import solution_notebook
from involution_instructor.release import sync_solutions
from test_autograde_sample import require_sandbox

pytestmark = pytest.mark.slow
ASSIGNMENT = "01-convolution"


def test_a_real_notebook_from_a_platform_download_is_graded(tmp_path, monkeypatch, project_root, shared_data):
    require_sandbox()
    monkeypatch.setenv("INVOLUTION_COURSE_PROFILE", "grading")
    monkeypatch.setenv("INVOLUTION_COURSE_NO_PROGRESS", "1")
    sync_solutions(project_root, [ASSIGNMENT])
    solution = nbformat.read(solution_notebook(ASSIGNMENT, project_root), 4)
    last = grading.exercises(solution)[-1]
    submissions = tmp_path / "downloads"
    submissions.mkdir()
    # A student who left the last exercise blank, as a platform names the download.
    nbformat.write(grading.with_exercise_blanked(solution, last),
                   submissions / f"amy_12345_Copy of {ASSIGNMENT}.ipynb")

    report = autograde_submissions(submissions, course=tmp_path / "course", source_root=project_root,
                                   assignments=[ASSIGNMENT], cell_timeout=120, show_progress=False)

    result = report.find("amy", ASSIGNMENT)
    assert result.status == "graded", result.line()
    assert result.max_score > 0
    # The written answers are pending until graded by hand: they count 0 in nbgrader's score.
    pending = grading.manual_points(solution)
    assert result.score == result.max_score - grading.points_of(solution, last) - pending, result.line()
    assert not [note for note in result.notes if note.startswith("REVIEW")], result.notes
    [row] = grade_rows(tmp_path / "course")
    # The written answers graded by hand are pending: not final, never counted as zeros.
    assert row == {"student": "amy", "assignment": ASSIGNMENT, "score": f"{result.score:g}",
                   "max_score": f"{result.max_score:g}", "pending": f"{pending:g}"}
