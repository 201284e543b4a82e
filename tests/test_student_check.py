"""``involution-course check``: real runs on a fresh kernel, and sentences for what cannot run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from involution_course.check import CheckError, check_notebook, read_student_notebook
from involution_course.cli import build_parser, main


def _cell(source: str, grade_id: str | None = None, *, solution=False, grade=False, points=None):
    cell = nbformat.v4.new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade": grade, "grade_id": grade_id, "locked": not solution,
                                     "schema_version": 3, "solution": solution, "task": False}
        if points is not None:
            cell.metadata["nbgrader"]["points"] = points
    return cell


def small_notebook(*extra_cells):
    """Three exercises: one right, one wrong, one still blank as released."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Squares"),
        _cell("import math", "setup"),
        _cell("def square(x):\n    return x * x\n\nsquare(3)", "ex1_square", solution=True),
        _cell("assert square(3) == 9, f'square(3) should be 9, not {square(3)}'", "ex1_test_square",
              grade=True, points=2),
        _cell("def cube(x):\n    return x * x", "ex2_cube", solution=True),
        _cell("assert cube(2) == 8, f'cube(2): expected 8, got {cube(2)}\\nsecond line'", "ex2_test_cube",
              grade=True, points=3),
        _cell("def root(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nroot(4)", "ex3_root",
              solution=True),
        _cell("assert root(4) == 2", "ex3_test_root", grade=True, points=1),
        *extra_cells,
    ]
    return notebook


def write(path: Path, notebook) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def test_each_exercise_passed_failed_or_not_done_with_the_test_s_message(tmp_path, capsys):
    path = write(tmp_path / "squares.ipynb", small_notebook())
    before = path.read_bytes()
    assert main(["check", str(path), "--timeout", "60"]) == 1
    out = capsys.readouterr().out
    assert "Exercise 1 (ex1_test_square): passed" in out
    assert "Exercise 2 (ex2_test_cube): failed — cube(2): expected 8, got 4\n" in out
    assert "Exercise 3 (ex3_test_root): not done — exercise 3's answer cell still raises NotImplementedError" in out
    assert "Summary: 1 of 3 exercises pass their visible tests (2 of 6 points)." in out
    assert "Traceback" not in out and "second line" not in out
    assert path.read_bytes() == before  # the student's file is never written


def test_a_finished_notebook_passes_and_exits_zero(tmp_path, capsys):
    notebook = small_notebook()
    notebook.cells[4].source = "def cube(x):\n    return x ** 3"
    notebook.cells[6].source = "def root(x):\n    return math.sqrt(x)\n\nroot(4)"
    assert main(["check", str(write(tmp_path / "done.ipynb", notebook))]) == 0
    out = capsys.readouterr().out
    assert "3 of 3 exercises pass their visible tests (6 of 6 points)" in out and "failed" not in out


def test_a_bare_assert_a_stderr_write_and_other_cells_errors_are_named(tmp_path):
    notebook = small_notebook(
        _cell("x = undefined_name", None),
        _cell("assert square(2) == 5", "ex4_test_bare", grade=True, points=1),
        _cell("import sys\nprint('careful', file=sys.stderr)", "ex5_test_noisy", grade=True, points=1),
    )
    report = check_notebook(write(tmp_path / "n.ipynb", notebook), timeout=60)
    by_id = {t.grade_id: t for t in report.tests}
    assert by_id["ex4_test_bare"].reason == "an assert failed: assert square(2) == 5"
    assert by_id["ex5_test_noisy"].status == "failed" and "stderr" in by_id["ex5_test_noisy"].reason
    assert report.problems == ["cell 9: NameError: name 'undefined_name' is not defined"]


def test_an_endless_cell_is_stopped_at_the_timeout_and_the_rest_still_runs(tmp_path):
    notebook = small_notebook()
    notebook.cells[3].source = "while True:\n    pass"
    report = check_notebook(write(tmp_path / "loop.ipynb", notebook), timeout=3)
    first, second, _ = report.tests
    assert first.status == "failed" and first.reason.startswith("stopped after 3 s (--timeout)")
    assert second.status == "failed"  # ran after the interrupted cell


def test_a_kernel_that_dies_is_a_sentence(tmp_path, capsys):
    notebook = small_notebook()
    notebook.cells.insert(4, _cell("import os\nos._exit(1)"))
    assert main(["check", str(write(tmp_path / "dies.ipynb", notebook)), "--timeout", "60"]) == 1
    out = capsys.readouterr().out
    assert "Stopped early: the Python kernel died in cell 5" in out
    assert "Exercise 1 (ex1_test_square): passed" in out
    assert "Exercise 2 (ex2_test_cube): not run — the notebook stopped before this cell" in out
    assert "Traceback" not in out


@pytest.mark.parametrize("make, words", [
    (lambda d: d / "missing.ipynb", "there is no file"),
    (lambda d: d, "is a folder"),
    (lambda d: _text(d / "empty.ipynb", ""), "is empty"),
    (lambda d: _text(d / "cut.ipynb", '{"cells": [{"cell_type": "co'), "not valid JSON (line 1)"),
    (lambda d: _text(d / "answers.py", "# %%\nx = 1\n"), "not the .py beside it"),
    (lambda d: _text(d / "list.ipynb", "[1, 2]"), "not a Jupyter notebook"),
    (lambda d: write(d / "plain.ipynb", nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])),
     "has no exercise test cells"),
])
def test_what_cannot_be_checked_is_a_sentence_not_a_traceback(tmp_path, capsys, make, words):
    path = make(tmp_path)
    with pytest.raises(CheckError, match=words.replace("(", r"\(").replace(")", r"\)")):
        read_student_notebook(path)
    assert main(["check", str(path)]) == 2
    error = capsys.readouterr().err
    assert words in error and "Traceback" not in error


def test_a_missing_kernel_says_how_to_install_one(tmp_path, capsys):
    path = write(tmp_path / "n.ipynb", small_notebook())
    assert main(["check", str(path), "--kernel", "no-such-kernel"]) == 2
    assert "ipykernel install --user --name no-such-kernel" in capsys.readouterr().err


def test_the_timeout_must_be_a_positive_number(capsys):
    for bad in ("0", "soon"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["check", "x.ipynb", "--timeout", bad])
    assert "Traceback" not in capsys.readouterr().err


def test_the_console_script_checks_a_notebook(tmp_path):
    path = write(tmp_path / "squares.ipynb", small_notebook())
    script = Path(sys.executable).parent / "involution-course"
    result = subprocess.run([str(script), "check", str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "Exercise 1 (ex1_test_square): passed" in result.stdout and result.stderr == ""


@pytest.mark.slow
def test_a_released_notebook_is_reported_as_not_done(project_root, tmp_path, monkeypatch, capsys):
    """The release is blank: no exercise passes, and each says which answer to write."""
    monkeypatch.setenv("INVOLUTION_COURSE_PROFILE", "grading")
    monkeypatch.setenv("INVOLUTION_COURSE_BUILD", str(tmp_path / "build"))
    released = project_root / "notebooks" / "01-convolution" / "01-convolution.ipynb"
    assert main(["check", str(released), "--timeout", "120"]) == 1
    out = capsys.readouterr().out
    tests = [line for line in out.splitlines() if line.startswith("Exercise ")]
    assert len(tests) == 7 and not any(": passed" in line for line in tests), out  # 01 has 7 test cells
    assert all(": not done" in line or ": failed" in line for line in tests), out
    assert "Summary: 0 of 4 exercises pass their visible tests (0 of 14 points)." in out
    assert "Traceback" not in out


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_the_check_leaves_nothing_beside_the_submission(tmp_path, capsys):
    """A notebook that writes files (notebook 04 saves its models under build/) writes them into the
    check's scratch folder, never beside the checked notebook."""
    notebook = small_notebook(_cell(
        "from pathlib import Path\n"
        "from involution_course.paths import build_directory\n"
        "(build_directory() / 'models').mkdir(parents=True, exist_ok=True)\n"
        "(build_directory() / 'models' / 'net.keras').write_text('weights')\n"
        "Path('written-here.txt').write_text('x')"))
    folder = tmp_path / "submission"
    path = write(folder / "mine.ipynb", notebook)
    main(["check", str(path)])
    capsys.readouterr()
    assert sorted(p.name for p in folder.iterdir()) == ["mine.ipynb"]
