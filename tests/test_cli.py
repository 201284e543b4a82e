"""The instructor's command: help texts, clear errors, and autograde → feedback → grades."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_autograde_sample import make_sample_course, squares_notebook, with_answer, write

from involution_instructor.cli import build_parser, main


@pytest.mark.parametrize("command, words", [
    ("autograde", ["SUBMISSIONS", "--workers", "--cell-timeout", "<student>_<anything>.ipynb"]),
    ("feedback", ["hidden tests"]),
    ("grades", ["CSV", "--wide", "max_score"]),
    ("release", ["solutions/"]),
])
def test_every_command_explains_itself(capsys, command, words):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for word in words:
        assert word in text


def test_the_console_script_is_installed():
    script = Path(sys.executable).parent / "involution-instructor"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "autograde" in result.stdout and "grades" in result.stdout


def test_a_missing_submissions_folder_is_a_sentence_not_a_traceback(tmp_path, capsys):
    source = make_sample_course(tmp_path / "source")
    assert main(["autograde", str(tmp_path / "nowhere"), "--source", str(source),
                 "--course", str(tmp_path / "course")]) == 2
    error = capsys.readouterr().err
    assert "is not a folder of submissions" in error and "Traceback" not in error


def test_grades_and_feedback_before_grading_say_what_to_do(tmp_path, capsys):
    assert main(["grades", "--course", str(tmp_path)]) == 2
    assert "run `involution-instructor autograde` first" in capsys.readouterr().err
    assert main(["feedback", "--course", str(tmp_path)]) == 2
    assert "run `involution-instructor autograde` first" in capsys.readouterr().err


@pytest.mark.slow
def test_autograde_feedback_grades_from_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("INVOLUTION_COURSE_NO_PROGRESS", "1")
    source = make_sample_course(tmp_path / "source")
    downloads = tmp_path / "downloads"
    write(downloads / "ana_squares.ipynb", squares_notebook())
    write(downloads / "ben_Copy of squares.ipynb",
          with_answer(squares_notebook(), "ex2_cube", "def cube(x):\n    return x * x"))
    course = tmp_path / "course"

    assert main(["autograde", str(downloads), "--source", str(source), "--course", str(course),
                 "--workers", "2", "--cell-timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert "graded   ana / squares: 3 of 3" in out and "graded   ben / squares: 2 of 3" in out
    assert "2 graded, 0 failed, 0 skipped, 0 flagged for review." in out

    assert main(["feedback", "--course", str(course)]) == 0
    assert (course / "feedback" / "ben" / "squares" / "squares.html").exists()

    target = tmp_path / "grades.csv"
    assert main(["grades", "--course", str(course), "--wide", "--output", str(target)]) == 0
    with open(target, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["student", "squares"], ["max_score", "3"], ["ana", "3"], ["ben", "2"]]


def test_a_relative_data_path_is_made_absolute_before_any_command_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INVOLUTION_COURSE_DATA", "data/cifar10.tar.gz")
    assert main(["release", "99-no-such-assignment"]) == 2
    assert os.environ["INVOLUTION_COURSE_DATA"] == str(tmp_path / "data" / "cifar10.tar.gz")


def test_make_exports_an_absolute_data_path(tmp_path):
    root = Path(__file__).resolve().parents[1]
    show = ["make", "-s", "-C", str(root), "--eval", "show-data: ; @echo $$INVOLUTION_COURSE_DATA", "show-data"]
    env = {**os.environ, "INVOLUTION_COURSE_DATA": "../shared/data/x.tar.gz"}
    shown = subprocess.run(show, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert shown == os.path.normpath(root / "../shared/data/x.tar.gz")
