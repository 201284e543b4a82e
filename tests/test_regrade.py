"""Grading again keeps what the instructor did by hand: real nbgrader, real sandbox.

The sample course's ``squares`` gets a written answer graded by hand (2 points). Amy and Bo
are graded; hand grades, a comment and extra credit are given through nbgrader's own
Gradebook API (as formgrader does); then the class is graded again, unchanged, and once more
with Amy's written answer rewritten.
"""

from __future__ import annotations

import sqlite3

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell
from test_autograde_sample import _meta, make_sample_course, require_sandbox, squares_notebook, write

from involution_instructor.autograde import autograde_submissions, write_grades_csv
from involution_instructor.autograde import gradebook as gradebook_module
from involution_instructor.autograde.gradebook import BACKUPS, KEPT_BACKUPS, open_gradebook
from involution_instructor.autograde.sandbox import Sandbox

pytestmark = pytest.mark.slow

WRITTEN = "written_growth"
RUBRIC = "### BEGIN SOLUTION\nA square grows with the area: doubling x multiplies it by four.\n### END SOLUTION"


def with_written_answer(answer: str | None = None):
    """The squares notebook with a written question graded by hand (its rubric, or an answer)."""
    notebook = squares_notebook()
    notebook.cells.append(new_markdown_cell(answer or RUBRIC, metadata=_meta(WRITTEN, grade=True, solution=True,
                                                                            points=2)))
    return notebook


def _grade(base, submissions):
    return autograde_submissions(submissions, course=base / "course", source_root=base / "source",
                                 assignments=["squares"], show_progress=False, sandbox=Sandbox())


def _grades(course, student):
    with open_gradebook(course) as gradebook:
        submission = gradebook.find_submission("squares", student)
        [notebook] = submission.notebooks
        grades = {g.name: (g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade) for g in notebook.grades}
        comments = {c.name: c.manual_comment for c in notebook.comments}
        return grades, comments, submission.score


def _csv(course):
    with open(write_grades_csv(course, course / "grades.csv")) as handle:
        return {line.split(",")[0]: line.strip().split(",") for line in handle.readlines()[1:]}


@pytest.fixture(scope="module")
def regraded(tmp_path_factory):
    require_sandbox()
    base = tmp_path_factory.mktemp("regrade")
    make_sample_course(base / "source")
    nbformat.write(with_written_answer(), base / "source" / "solutions" / "squares" / "squares.ipynb")
    submissions = base / "submissions"
    for student in ("amy", "bo"):
        write(submissions / student / "squares.ipynb", with_written_answer(f"{student}: it grows as the area does."))
    course = base / "course"
    first = _grade(base, submissions)
    states = {"first": (first, _grades(course, "amy"), _csv(course))}
    with open_gradebook(course) as gradebook:  # what formgrader does, through nbgrader's API
        for student, score in (("amy", 1.5), ("bo", 2)):
            grade = gradebook.find_grade(WRITTEN, "squares", "squares", student)
            grade.manual_score, grade.needs_manual_grade = score, False
            gradebook.find_comment(WRITTEN, "squares", "squares", student).manual_comment = f"Well put, {student}."
        gradebook.find_grade("ex1_test_square", "squares", "squares", "amy").extra_credit = 0.5
        gradebook.db.commit()
    states["hand"] = (None, _grades(course, "amy"), _csv(course))
    states["unchanged"] = (_grade(base, submissions), _grades(course, "amy"), _csv(course))
    write(submissions / "amy" / "squares.ipynb", with_written_answer("amy: it grows fourfold when x doubles."))
    states["changed"] = (_grade(base, submissions), _grades(course, "amy"), _csv(course))
    with pytest.MonkeyPatch.context() as patch:  # two copies kept: one more run shows the oldest go
        patch.setattr(gradebook_module, "KEPT_BACKUPS", 2)
        _grade(base, submissions)
    states["bo"] = _grades(course, "bo")
    return course, states


def test_a_regrade_of_unchanged_notebooks_keeps_every_hand_grade(regraded):
    course, states = regraded
    _, (grades, comments, score), rows = states["first"]
    assert score == 3 and grades[WRITTEN][:2] == (None, None) and rows["amy"][2:] == ["3", "5", "2"]
    _, (grades, comments, score), rows = states["hand"]
    assert score == 5 and rows["amy"][2:] == ["5", "5", ""]
    report, (grades, comments, score), rows = states["unchanged"]
    assert grades[WRITTEN] == (None, 1.5, None, False)
    assert grades["ex1_test_square"] == (2, None, 0.5, False)
    assert comments[WRITTEN] == "Well put, amy."
    assert score == 5 and rows["amy"][2:] == ["5", "5", ""] and rows["bo"][2:] == ["5", "5", ""]
    assert report.find("amy").notes == [] and report.find("bo").notes == []


def test_a_changed_written_answer_keeps_its_old_grade_beside_it_and_is_flagged(regraded):
    course, states = regraded
    report, (grades, comments, score), rows = states["changed"]
    assert grades[WRITTEN] == (None, None, None, True)  # pending again: never a silent 0 nor a stale grade
    assert comments[WRITTEN] == "[Earlier answer, graded 1.5 of 2: Well put, amy.]"
    assert grades["ex1_test_square"][1:3] == (None, 0.5)  # an answer that did not change keeps its extra credit
    assert rows["amy"][2:] == ["3.5", "5", "2"]
    assert report.find("amy").notes == [
        f"{WRITTEN} changed since it was graded by hand (1.5 of 2): grade it again; "
        "the earlier grade and comment are kept in its comment"]
    assert report.find("bo").notes == []
    assert "grade it again" in report.text()
    bo_grades, bo_comments, bo_score = states["bo"]
    assert bo_grades[WRITTEN][1] == 2 and bo_comments[WRITTEN] == "Well put, bo." and bo_score == 5


def test_the_gradebook_is_backed_up_before_each_run_keeping_the_last_few(regraded):
    course, _ = regraded
    backups = sorted((course / BACKUPS).glob("gradebook-*.db"))
    assert KEPT_BACKUPS == 5 and len(backups) == 2  # three runs backed up, two kept in this test
    # The newest was taken before the last run: a full gradebook, with the hand grades in it.
    with sqlite3.connect(backups[-1]) as database:
        assert database.execute("SELECT manual_score FROM grade WHERE manual_score IS NOT NULL").fetchall() == [(2.0,)]
