"""A tiny real course for the autograding tests, and the fast checks that need no kernel.

``make_sample_course`` writes two small assignments (NumPy only, no TensorFlow) with
the project's nbgrader_config.py, so nbgrader grades them in seconds:

* ``squares``: ex1 ``square`` (2 points: a visible ``assert_allclose``, a hidden
  plain ``assert``) and ex2 ``cube`` (1 point);
* ``means``: ex1 ``mean`` (1 point).

The other autograding test modules import the builders from here.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from involution_instructor.autograde.catalogue import Catalogue
from involution_instructor.autograde.discovery import find_submissions
from involution_instructor.autograde.reading import UnreadableSubmission, read_notebook
from involution_instructor.autograde.structure import restore_structure
from involution_instructor.autograde.tampering import find_tampering

ROOT = Path(__file__).resolve().parents[1]
SQUARE_ANSWER = "def square(x):\n    ### BEGIN SOLUTION\n    return np.asarray(x) ** 2\n    ### END SOLUTION"
CUBE_ANSWER = "def cube(x):\n    ### BEGIN SOLUTION\n    return x ** 3\n    ### END SOLUTION"


def _meta(grade_id, *, grade=False, solution=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def squares_notebook():
    return new_notebook(cells=[
        new_markdown_cell("# Squares and cubes\nWrite two small functions.", metadata=_meta("intro")),
        new_code_cell("import numpy as np", metadata=_meta("setup")),
        new_code_cell(SQUARE_ANSWER, metadata=_meta("ex1_square", solution=True)),
        new_code_cell(
            "np.testing.assert_allclose(square([1, 2]), [1, 4])\n"
            "### BEGIN HIDDEN TESTS\nassert square(3) == 9, f'square(3) should be 9, got {square(3)}'\n"
            "### END HIDDEN TESTS", metadata=_meta("ex1_test_square", grade=True, points=2)),
        new_code_cell(CUBE_ANSWER, metadata=_meta("ex2_cube", solution=True)),
        new_code_cell("assert cube(2) == 8, f'cube(2) should be 8, got {cube(2)}'\n"
                      "### BEGIN HIDDEN TESTS\nassert cube(-1) == -1\n### END HIDDEN TESTS",
                      metadata=_meta("ex2_test_cube", grade=True, points=1)),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def means_notebook():
    return new_notebook(cells=[
        new_markdown_cell("# Means\nAverage a list.", metadata=_meta("intro")),
        new_code_cell("import numpy as np", metadata=_meta("setup")),
        new_code_cell("def mean(values):\n    ### BEGIN SOLUTION\n    return sum(values) / len(values)\n"
                      "    ### END SOLUTION", metadata=_meta("ex1_mean", solution=True)),
        new_code_cell("assert mean([1, 3]) == 2", metadata=_meta("ex1_test_mean", grade=True, points=1)),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


# How the grader judges the sample assignments, outside the student's kernel (see
# involution_instructor.judging): the kernel reports the student's values, this code judges them.
SQUARES_CHECKS = """
import numpy as np

from involution_instructor.judging import Check, expect, kernel


@kernel
def observe_calls(student, data):
    function = student[data["name"]]
    return [outcome(function, argument) for argument in data["arguments"]]


def square_inputs(rng):
    return {"name": "square", "arguments": [[1.0, 2.0], float(rng.normal()), rng.normal(size=3)]}


def judge_square(ctx):
    for argument, seen in zip(ctx.data["arguments"], ctx.seen):
        expected = np.asarray(argument, dtype=float) ** 2
        expect.close(expect.value(seen, f"square({argument!r})"), expected, f"square({argument!r})")


def cube_inputs(rng):
    return {"name": "cube", "arguments": [2, -1, int(rng.integers(3, 10**6))]}


def judge_cube(ctx):
    for argument, seen in zip(ctx.data["arguments"], ctx.seen):
        expect.equal(expect.value(seen, f"cube({argument})"), argument ** 3, f"cube({argument})")


CHECKS = [
    Check("ex1_test_square", observe_calls, judge_square, square_inputs),
    Check("ex2_test_cube", observe_calls, judge_cube, cube_inputs),
]
"""
MEANS_CHECKS = """
from involution_instructor.judging import Check, expect, kernel


@kernel
def observe_mean(student, data):
    return [outcome(student["mean"], values) for values in data]


def judge_mean(ctx):
    for values, seen in zip(ctx.data, ctx.seen):
        expect.close(expect.value(seen, f"mean({values})"), sum(values) / len(values), f"mean({values})")


CHECKS = [Check("ex1_test_mean", observe_mean, judge_mean, lambda rng: [[1, 3], [float(v) for v in rng.normal(size=4)]])]
"""


def make_sample_course(root: Path) -> Path:
    """A course source folder: nbgrader_config.py and solutions/{squares,means}/, each with its
    notebook and the checks.py that judges it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    for name, notebook, checks in (("squares", squares_notebook(), SQUARES_CHECKS), ("means", means_notebook(), MEANS_CHECKS)):
        (root / "solutions" / name).mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, root / "solutions" / name / f"{name}.ipynb")
        (root / "solutions" / name / "checks.py").write_text(checks.lstrip())
    return root


def student_version(notebook):
    """What a student would submit having answered everything: the solution, markers and all."""
    return copy.deepcopy(notebook)


def with_answer(notebook, grade_id: str, source: str):
    changed = copy.deepcopy(notebook)
    for cell in changed.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return changed
    raise ValueError(f"no cell {grade_id}")


def without(notebook, grade_id: str):
    changed = copy.deepcopy(notebook)
    changed.cells = [c for c in changed.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return changed


def as_colab(notebook) -> bytes:
    """The notebook as Colab saves it: nbformat 4.0, ids in cell metadata, Colab's
    metadata and outputs, sources as lists of lines, no top-level cell ids."""
    cells = []
    for index, cell in enumerate(notebook.cells):
        saved = {"cell_type": cell.cell_type, "source": cell.source.splitlines(True),
                 "metadata": {"id": f"Zx{index}Qa9", **copy.deepcopy(dict(cell.metadata))}}
        if cell.cell_type == "code":
            saved["metadata"].update({"colab": {"base_uri": "https://localhost:8080/"}, "outputId": f"5e{index}"})
            saved["execution_count"] = index + 1
            saved["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["ran on Colab\n"]}]
        cells.append(saved)
    return json.dumps({
        "nbformat": 4, "nbformat_minor": 0, "cells": cells,
        "metadata": {"colab": {"provenance": [], "name": "Copy of squares.ipynb", "gpuType": "T4"},
                     "kernelspec": {"name": "python3", "display_name": "Python 3"},
                     "language_info": {"name": "python"}, "accelerator": "GPU"},
    }, indent=2).encode()


def require_sandbox() -> None:
    """Autograding runs students' kernels in bubblewrap: CI must have it (.ci/run installs it);
    elsewhere, tests that grade skip where it cannot run, saying why."""
    from involution_instructor.autograde.sandbox import Sandbox, SandboxUnavailable, resolve

    try:
        resolve(Sandbox())
    except SandboxUnavailable as error:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must run the grading sandbox for real: {error}")
        pytest.skip(f"the grading sandbox cannot run here: {error}")


def write(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        nbformat.write(content, path)
    return path


# ------------------------------------------------------------------ fast checks


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return Catalogue.from_source(make_sample_course(tmp_path_factory.mktemp("sample")))


def test_notebooks_are_recognised_by_their_cells_not_their_names(catalogue):
    assert catalogue.recognise(squares_notebook()) == "squares"
    assert catalogue.recognise(means_notebook()) == "means"
    stripped = squares_notebook()
    for cell in stripped.cells:
        cell.metadata = {}  # a tool that drops metadata: the locked cells' text still tells
    assert catalogue.recognise(stripped) == "squares"
    assert catalogue.recognise(new_notebook(cells=[new_code_cell("print(1)")])) is None


def test_submissions_are_found_in_every_layout(tmp_path):
    write(tmp_path / "submitted" / "ann" / "squares" / "squares.ipynb", squares_notebook())
    write(tmp_path / "bo" / "Copy of squares (2).ipynb", squares_notebook())
    write(tmp_path / "Cy Li_4471_assignsubmission_file_squares.ipynb", squares_notebook())
    write(tmp_path / "Copy of squares.ipynb", squares_notebook())
    write(tmp_path / "ann" / ".ipynb_checkpoints" / "squares-checkpoint.ipynb", squares_notebook())
    found = {(s.student, s.folder_assignment, s.path.name) for s in find_submissions(tmp_path)}
    assert found == {
        ("ann", "squares", "squares.ipynb"),
        ("bo", None, "Copy of squares (2).ipynb"),
        ("Cy_Li", None, "Cy Li_4471_assignsubmission_file_squares.ipynb"),
        (None, None, "Copy of squares.ipynb"),
    }


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="is not a folder of submissions"):
        find_submissions(tmp_path / "nowhere")


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b'{"cells": [{"cell_type": "code", "sou', "not valid JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not text"),
    (b"[1, 2, 3]", "not a Jupyter notebook"),
    (b'{"nbformat": 3, "cells": [], "metadata": {}}', "format version 3"),
])
def test_unreadable_files_say_why(data, reason):
    with pytest.raises(UnreadableSubmission, match=reason):
        read_notebook(data)


def test_a_colab_notebook_reads_as_a_current_notebook():
    notebook = read_notebook(as_colab(squares_notebook()))
    assert notebook.nbformat_minor >= 5
    assert [c["id"] for c in notebook.cells][:2] == ["Zx0Qa9", "Zx1Qa9"]
    nbformat.validate(notebook)


def test_structure_is_restored_and_each_repair_reported():
    source = squares_notebook()
    cells = source.cells
    moved = copy.deepcopy(source)
    moved.cells = [cells[0], cells[1], cells[3], cells[2], cells[4], new_code_cell("print('mine')")]
    repaired, notes = restore_structure(moved, source)
    assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in repaired.cells] == [
        "intro", "setup", "ex1_square", "ex1_test_square", "ex2_cube", None, "ex2_test_cube"]
    assert notes == [
        "cells were moved out of order: graded in the assignment's order",
        "test cell ex2_test_cube was deleted: the original tests were run",
    ]
    edited = with_answer(without(source, "ex2_cube"), "ex1_test_square", "pass")
    _, notes = restore_structure(edited, source)
    assert notes == ["answer cell ex2_cube was deleted: graded as unanswered",
                     "test cell ex1_test_square was edited: the original was run"]


@pytest.mark.parametrize("answer, finding", [
    ("np.testing.assert_allclose = lambda *a, **k: None\ndef square(x):\n    return 0", "replaces np.testing.assert_allclose"),
    ("import numpy\nsetattr(numpy.testing, 'assert_allclose', print)", "calls setattr on numpy.testing"),
    ("import builtins\nbuiltins.AssertionError = Exception", "replaces builtins.AssertionError"),
    ("def square(x):\n    return x * x\nnp = None", "rebinds np, which the tests use"),
])
def test_answers_that_defeat_the_checks_are_flagged(answer, finding):
    source = squares_notebook()
    notes = find_tampering(with_answer(source, "ex1_square", answer), source)
    assert notes == [f"REVIEW: cell ex1_square {finding}; the tests may have been defeated"]


def test_honest_answers_are_not_flagged():
    source = squares_notebook()
    honest = with_answer(source, "ex1_square",
                         "import numpy as np\ndef square(x):\n    sum = np.asarray(x)\n    return sum * sum")
    assert find_tampering(honest, source) == []
