"""`make course`'s runner: executes notebooks, keeps their headline figures, reports failures."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from involution_course import headlines
from involution_instructor.course_runner import NotebookRun, run_notebook, summary_table


def _notebook(tmp_path, name, *sources):
    notebook = new_notebook(cells=[new_markdown_cell("# test")] + [new_code_cell(s) for s in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.slow
def test_a_good_notebook_runs_and_reports_its_figures(tmp_path):
    path = _notebook(
        tmp_path, "good",
        "import involution_course as ic\nic.record('accuracy', 0.5, '')\nic.record('speed-up', 12.345678, 'x')",
        "print('done')",
    )
    run = run_notebook(path, tmp_path / "out")
    assert run.ok and run.error == ""
    assert run.figures == [
        {"name": "accuracy", "value": "0.5", "unit": ""},
        {"name": "speed-up", "value": "12.35", "unit": "x"},
    ]
    executed = nbformat.read(tmp_path / "out" / "good.ipynb", 4)
    assert executed.cells[2].outputs[0].text == "done\n"
    assert "accuracy: 0.5" in (tmp_path / "out" / "good.html").read_text()


@pytest.mark.slow
def test_a_failing_notebook_says_which_error(tmp_path):
    path = _notebook(tmp_path, "bad", "x = 1", "1 / 0", "print('never')")
    run = run_notebook(path, tmp_path / "out")
    assert not run.ok
    assert run.error == "ZeroDivisionError: division by zero"
    # What ran is kept, for the reader to see where it stopped.
    assert (tmp_path / "out" / "bad.html").exists()


@pytest.mark.slow
@pytest.mark.parametrize("last_cell", ["print('done')", "1 / 0"])
def test_each_notebooks_kernel_stops_when_it_ends(tmp_path, last_cell):
    import os

    pid_file = tmp_path / "kernel.pid"
    path = _notebook(tmp_path, "pid", f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))", last_cell)
    run_notebook(path, tmp_path / "out")
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # gone, not left running until this process exits
        os.kill(pid, 0)


def test_summary_table_lists_status_time_and_figures():
    runs = [
        NotebookRun("01-convolution", True, 12.34, figures=[{"name": "speed-up", "value": "80", "unit": "x"}]),
        NotebookRun("02-involution-numpy", False, 3.0, error="ValueError: bad shape"),
    ]
    table = summary_table(runs, "grading")
    assert "| 01-convolution | ok | 12.3 | speed-up = 80 x |" in table
    assert "| 02-involution-numpy | FAILED: ValueError: bad shape | 3.0 | - |" in table


def test_record_without_a_runner_only_prints(capsys, monkeypatch):
    monkeypatch.delenv(headlines.HEADLINES_VARIABLE, raising=False)
    headlines.record("parameters", 13074)
    assert capsys.readouterr().out == "parameters: 13074\n"


def test_record_appends_json_lines(tmp_path, monkeypatch):
    target = tmp_path / "figures.jsonl"
    monkeypatch.setenv(headlines.HEADLINES_VARIABLE, str(target))
    headlines.record("a", 1.0, "s", show=False)
    headlines.record("b", "text")
    assert headlines.read(target) == [
        {"name": "a", "value": "1", "unit": "s"},
        {"name": "b", "value": "text", "unit": ""},
    ]
    assert headlines.read(tmp_path / "missing.jsonl") == []
