"""involution_instructor.solution_code: running parts of a solution notebook outside nbgrader."""

from __future__ import annotations

import json

import pytest

from involution_instructor.solution_code import (
    NotebookCodeError,
    load_functions,
    load_notebook_code,
    write_solution_notebooks,
)

HEADER = "# ---\n# jupyter:\n#   jupytext:\n#     text_representation:\n#       format_name: percent\n# ---\n"


def cell(grade_id: str, source: str, *, solution: bool = False, grade: bool = False) -> str:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    return f"\n# %% nbgrader={json.dumps(meta)}\n{source}\n"


def write_course(root, cells: list[str], assignment: str = "99-demo"):
    folder = root / "solutions" / assignment
    folder.mkdir(parents=True)
    (folder / f"{assignment}.py").write_text(HEADER + "".join(cells), encoding="utf-8")
    (root / "nbgrader_config.py").write_text("c = get_config()\n", encoding="utf-8")
    return assignment


@pytest.fixture
def demo(tmp_path):
    assignment = write_course(tmp_path, [
        cell("setup", "%matplotlib inline\nSCALE = 3"),
        cell("helpers", "def helper(x):\n    return x + 1\nprint('helpers ran')\nRAN = str('helpers')\nLIMIT = 1e-3"),
        cell("answer", "def triple(x):\n    return SCALE * x\nRAN_ANSWER = bool(1)", solution=True),
        cell("test_answer", "assert triple(2) == 6\nTESTED = True", grade=True),
        cell("figure", "raise RuntimeError('figures do not run in tests')"),
    ])
    return tmp_path, assignment


def test_load_notebook_code_runs_setup_named_cells_and_answers_whole(demo):
    root, assignment = demo
    namespace = load_notebook_code(assignment, ("helpers",), root=root)
    assert namespace["triple"](5) == 15
    assert namespace["helper"](1) == 2
    assert namespace["RAN"] == "helpers" and namespace["RAN_ANSWER"] is True
    assert "TESTED" not in namespace  # test cells run only when named


def test_load_notebook_code_names_a_missing_grade_id(demo):
    root, assignment = demo
    with pytest.raises(NotebookCodeError, match=r"no cells with grade ids \['nope'\]"):
        load_notebook_code(assignment, ("nope",), root=root)


def test_load_notebook_code_names_the_cell_that_failed(demo):
    root, assignment = demo
    with pytest.raises(NotebookCodeError, match=r"cell 'figure' of 99-demo failed: RuntimeError: figures do not run"):
        load_notebook_code(assignment, ("figure",), root=root)


def test_load_functions_runs_only_the_definitions_of_cells_that_define_the_names(demo, capsys):
    root, assignment = demo
    namespace = load_functions(assignment, ("helper", "triple"), root=root)
    assert namespace["helper"](1) == 2 and namespace["triple"](2) == 6
    assert namespace["np"].__name__ == "numpy"
    assert namespace["LIMIT"] == 1e-3  # literal constants are definitions too
    # the print, the computed assignments and the failing figure cell never ran
    assert "RAN" not in namespace and "RAN_ANSWER" not in namespace
    assert "helpers ran" not in capsys.readouterr().out


def test_load_functions_skips_cells_that_define_nothing_wanted(demo):
    root, assignment = demo
    namespace = load_functions(assignment, ("triple",), root=root)
    assert "helper" not in namespace and namespace["triple"](1) == 3


def test_a_missing_notebook_is_a_clear_error(tmp_path):
    with pytest.raises(NotebookCodeError, match="no solution notebook at"):
        load_notebook_code("01-nothing", root=tmp_path)
    with pytest.raises(NotebookCodeError, match="no solution notebook at"):
        write_solution_notebooks(["01-nothing"], tmp_path, tmp_path / "out")


def test_a_syntax_error_names_the_cell(tmp_path):
    assignment = write_course(tmp_path, [cell("broken", "def f(:\n    pass", solution=True)])
    with pytest.raises(NotebookCodeError, match=r"cell 'broken' of 99-demo failed: SyntaxError"):
        load_functions(assignment, ("f",), root=tmp_path)


def test_write_solution_notebooks_copies_and_converts_without_touching_the_source(demo):
    root, assignment = demo
    before = (root / "solutions" / assignment / f"{assignment}.py").read_bytes()
    target = write_solution_notebooks([assignment], root, root / "copy")
    notebook = json.loads((target / "solutions" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    grade_ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in notebook["cells"]]
    assert grade_ids == ["setup", "helpers", "answer", "test_answer", "figure"]
    assert (target / "nbgrader_config.py").is_file()
    assert (root / "solutions" / assignment / f"{assignment}.py").read_bytes() == before
    assert not (root / "solutions" / assignment / f"{assignment}.ipynb").exists()


def test_the_course_notebook_02_loads(tmp_path):
    namespace = load_functions("02-involution-numpy", ("involution_forward",))
    assert callable(namespace["involution_forward"])
