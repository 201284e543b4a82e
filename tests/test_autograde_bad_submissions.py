"""A class with every kind of bad submission, graded by real nbgrader runs in parallel.

One run grades the whole class (two workers, a 3 s limit per cell) beside correct
submissions; each test reads one student's line of the report, their score in the
real gradebook, and checks that nothing else was disturbed.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import nbformat
import pytest
from test_autograde_sample import (
    as_colab, make_sample_course, means_notebook, require_sandbox, squares_notebook, with_answer, without, write,
)

from involution_instructor.autograde import autograde_submissions, generate_feedback, write_grades_csv
from involution_instructor.autograde.gradebook import open_gradebook

pytestmark = pytest.mark.slow

CELL_TIMEOUT = 5
WRONG_SQUARE = "def square(x):\n    return 0"
CUBE_THEN_TEST = ("ex2_test_cube", "ex2_cube")


def _class_submissions(folder: Path) -> None:
    """Independent faults share a notebook (one per exercise) to keep the run short."""
    good = squares_notebook()
    nb = folder / "submitted"
    write(nb / "good" / "squares" / "squares.ipynb", good)
    write(nb / "loop" / "squares" / "squares.ipynb", with_answer(good, "ex1_square", "while True:\n    pass"))
    write(nb / "crash" / "squares" / "squares.ipynb", with_answer(good, "ex1_square", "import os\nos._exit(1)"))
    # ex1: a MemoryError; ex2: right, after printing 5 MB.
    memory_huge = with_answer(good, "ex1_square", "hoard = bytearray(10 ** 16)\n" + WRONG_SQUARE)
    write(nb / "memory_huge" / "squares" / "squares.ipynb",
          with_answer(memory_huge, "ex2_cube", "print('y' * 5_000_000)\ndef cube(x):\n    return x ** 3"))
    # ex1: wrong, its test cell deleted; ex2: wrong, its test cell emptied.
    tests_gone = without(with_answer(good, "ex1_square", WRONG_SQUARE), "ex1_test_square")
    write(nb / "tests_gone" / "squares" / "squares.ipynb",
          with_answer(with_answer(tests_gone, "ex2_cube", "def cube(x):\n    return 0"), "ex2_test_cube", "pass"))
    # ex1: answer cell deleted; ex2: right, but its test cell moved above the answer.
    moved = without(good, "ex1_square")
    moved.cells[-2], moved.cells[-1] = moved.cells[-1], moved.cells[-2]
    write(nb / "moved" / "squares" / "squares.ipynb", moved)
    write(nb / "invalid" / "squares" / "squares.ipynb", nbformat.writes(good).encode()[:200])
    write(nb / "empty" / "squares" / "squares.ipynb", b"")
    write(nb / "misfiled" / "squares" / "squares.ipynb", means_notebook())  # another assignment's notebook
    write(nb / "cheat" / "squares" / "squares.ipynb", with_answer(
        good, "ex1_square", "np.testing.assert_allclose = lambda *args, **kwargs: None\n" + WRONG_SQUARE))
    write(folder / "colab_Copy of squares (1).ipynb", as_colab(good))  # Colab, then a platform's naming
    write(folder / "Copy of squares.ipynb", good)  # nobody's: no folder, no student in the name


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    require_sandbox()
    base = tmp_path_factory.mktemp("class")
    source = make_sample_course(base / "source")
    submissions = base / "submissions"
    _class_submissions(submissions)
    before = _digests(submissions)
    course = base / "course"
    report = autograde_submissions(submissions, course=course, source_root=source, workers=2,
                                   cell_timeout=CELL_TIMEOUT, notebook_timeout=300, show_progress=False)
    return report, course, submissions, before


def _score(course: Path, student: str, assignment: str = "squares") -> float:
    with open_gradebook(course) as gradebook:
        return gradebook.find_submission(assignment, student).score


def _notes(report, student, assignment="squares") -> str:
    return "\n".join(report.find(student, assignment).notes)


def test_correct_submissions_get_full_marks_beside_bad_ones(graded_class):
    report, course, _, _ = graded_class
    for student in ("good", "colab"):
        assert report.find(student, "squares").status == "graded", report.find(student, "squares").line()
        assert _score(course, student) == 3, report.find(student, "squares").line()


def test_no_submission_is_changed_or_lost(graded_class):
    report, _, submissions, before = graded_class
    assert _digests(submissions) == before
    assert report.changed_files == []
    assert sorted(r.label for r in report.results) == sorted(str(submissions / p) for p in before)


def test_an_infinite_loop_is_stopped_and_the_rest_graded(graded_class):
    report, course, _, _ = graded_class
    assert _score(course, "loop") == 1
    assert f"ex1_square ran past the {CELL_TIMEOUT} s limit per cell and was stopped" in _notes(report, "loop")


def test_a_kernel_crash_skips_that_cell_and_grades_the_rest(graded_class):
    report, course, _, _ = graded_class
    assert _score(course, "crash") == 1
    assert "ex1_square stopped the Python kernel" in _notes(report, "crash")


def test_a_memory_error_costs_only_its_exercise(graded_class):
    report, course, _, _ = graded_class
    assert _score(course, "memory_huge") == 1
    assert "ex1_square raised MemoryError" in _notes(report, "memory_huge")


def test_a_huge_output_is_cut_and_graded(graded_class):
    report, course, _, _ = graded_class
    assert report.find("memory_huge", "squares").cells["ex2_test_cube"]["auto_score"] == 1
    assert "ex2_cube printed too much: 4,980,001 characters of output were left out" in _notes(report, "memory_huge")
    graded = course / "autograded" / "memory_huge" / "squares" / "squares.ipynb"
    assert graded.stat().st_size < 100_000


def test_deleted_and_edited_test_cells_run_as_the_course_wrote_them(graded_class):
    report, course, _, _ = graded_class
    assert _score(course, "tests_gone") == 0  # both wrong answers fail the original tests
    notes = _notes(report, "tests_gone")
    assert "test cell ex1_test_square was deleted: the original tests were run" in notes
    assert "test cell ex2_test_cube was edited: the original was run" in notes


def test_deleted_answers_and_moved_cells(graded_class):
    report, course, _, _ = graded_class
    assert _score(course, "moved") == 1  # ex1 unanswered; ex2 right once put back in order
    notes = _notes(report, "moved")
    assert "answer cell ex1_square was deleted: graded as unanswered" in notes
    assert "cells were moved out of order: graded in the assignment's order" in notes


@pytest.mark.parametrize("student, reason", [
    ("invalid", "the file is not valid JSON (line"),
    ("empty", "the file is empty"),
])
def test_unreadable_files_fail_with_a_reason(graded_class, student, reason):
    report, course, _, _ = graded_class
    result = report.find(student)
    assert result.status == "failed" and result.reason.startswith(reason)
    assert f"failed   {student} / squares: {reason}" in report.text()
    assert [r for r in _grades(course) if r["student"] == student and r["assignment"] == "squares"][0]["score"] == ""


def test_another_assignments_notebook_is_graded_as_what_it_is(graded_class):
    report, course, _, _ = graded_class
    result = report.find("misfiled")
    assert result.assignment == "means" and _score(course, "misfiled", "means") == 1
    assert "submitted as squares, but it is the notebook of means: graded as means" in result.notes


def test_monkeypatched_checks_are_caught_by_hidden_tests_and_flagged(graded_class):
    report, course, _, _ = graded_class
    assert _score(course, "cheat") == 1  # the visible test passed, the hidden plain assert did not
    assert ("REVIEW: cell ex1_square replaces np.testing.assert_allclose; the tests may have been defeated"
            in _notes(report, "cheat"))
    assert "Review: cheat / squares" in report.summary()


def test_a_file_that_names_no_student_fails_with_a_reason(graded_class):
    report, _, submissions, _ = graded_class
    [result] = [r for r in report.results if r.label == str(submissions / "Copy of squares.ipynb")]
    assert result.status == "failed" and result.reason.startswith("cannot tell whose notebook this is")


def test_the_summary_counts_graded_and_failed(graded_class):
    report, _, _, _ = graded_class
    assert report.summary().splitlines()[0].endswith(
        "9 graded, 3 failed, 0 skipped, 1 flagged for review.")
    assert "Failed: 1 × cannot tell whose notebook this is; 1 × the file is empty; 1 × the file is not valid JSON" \
        in report.summary()


def _grades(course: Path) -> list[dict]:
    with open(write_grades_csv(course, course / "grades.csv"), newline="") as handle:
        return list(csv.DictReader(handle))


def test_grades_csv_has_every_student_and_assignment(graded_class):
    _, course, _, _ = graded_class
    rows = {(r["student"], r["assignment"]): (r["score"], r["max_score"]) for r in _grades(course)}
    assert rows[("good", "squares")] == ("3", "3") and rows[("good", "means")] == ("", "1")
    assert rows[("cheat", "squares")] == ("1", "3") and rows[("cheat", "means")] == ("", "1")
    assert rows[("misfiled", "means")] == ("1", "1")
    assert len(rows) == 2 * 11  # every student who sent a file someone could own, in both assignments


def test_feedback_shows_scores_but_no_hidden_tests(graded_class):
    _, course, _, _ = graded_class
    written = generate_feedback(course)
    assert course / "feedback" / "cheat" / "squares" / "squares.html" in written
    cheat = (course / "feedback" / "cheat" / "squares" / "squares.html").read_text()
    # What the grader decided, and why, for the student (judged outside the kernel).
    assert "Graded: 0 of 2 points (wrong): square([1.0, 2.0])" in cheat, cheat[-3000:]
    for page in written:
        text = page.read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "cube(-1)" not in text, page


def test_grades_csv_has_a_pending_column_empty_without_written_answers(graded_class):
    _, course, _, _ = graded_class
    assert all(row["pending"] == "" for row in _grades(course))
