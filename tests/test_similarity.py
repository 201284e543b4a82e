"""Autograding flags answers that copy the course package's own code, whatever the names."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import nbformat
import pytest

from involution_instructor.autograde import similarity
from involution_instructor.autograde.tampering import _parse, find_tampering


def _package_function(min_tokens: int = 80):
    """A real function of the installed student package: (qualified name, source)."""
    folder = Path(importlib.util.find_spec("involution_course").submodule_search_locations[0])
    for path in sorted(folder.rglob("*.py")):
        text = path.read_text()
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef) and len(similarity.normalised_tokens(node)) >= min_tokens:
                module = ".".join(("involution_course", *path.relative_to(folder).with_suffix("").parts))
                return f"{module}.{node.name}", ast.get_source_segment(text, node)
    pytest.skip("the package has no function large enough")


class _Rename(ast.NodeTransformer):
    """What a student copying the code might do: rename everything, reword the messages."""

    def visit_Name(self, node):
        node.id += "_mine"
        return node

    def visit_arg(self, node):
        node.arg += "_mine"
        node.annotation = None
        return node

    def visit_FunctionDef(self, node):
        node.name = "my_" + node.name
        node.returns = None
        if ast.get_docstring(node):
            node.body = node.body[1:] or [ast.Pass()]
        self.generic_visit(node)
        return node

    def visit_Constant(self, node):
        if isinstance(node.value, str) and " " in node.value:
            return ast.Constant("reworded: " + node.value[::-1])
        return node


def _disguised(source: str) -> str:
    return ast.unparse(_Rename().visit(ast.parse(source)))


def _notebook(answer: str, grade_id: str = "ex3_layer"):
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(answer)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": False,
                                 "schema_version": 3, "solution": True, "task": False}
    test = nbformat.v4.new_code_cell("assert True")
    test.metadata["nbgrader"] = {"grade": True, "grade_id": "ex3_test_layer", "locked": True, "points": 1,
                                 "schema_version": 3, "solution": False, "task": False}
    notebook.cells = [cell, test]
    return notebook


def test_a_renamed_copy_is_the_same_code():
    _, source = _package_function()
    original, copied = (similarity.definitions(ast.parse(text))[0] for text in (source, _disguised(source)))
    assert copied.name.startswith("my_")
    assert similarity.similarity(original, copied) == 1.0


def test_a_renamed_copy_in_an_answer_cell_is_flagged_with_its_original_and_figure():
    name, source = _package_function()
    notes = similarity.copied_from_package(_notebook(_disguised(source)), _parse)
    short = name.rsplit(".", 1)[1]
    assert notes == [f"REVIEW: ex3_layer: my_{short} is 100% similar to {name}; it may be copied from the course package"]


def test_a_copy_with_changes_is_flagged_below_100_percent():
    name, source = _package_function(min_tokens=120)
    tree = ast.parse(_disguised(source))
    function = tree.body[0]
    function.body[-1:-1] = ast.parse("extra_mine = len([step for step in range(3)])\nprint(extra_mine)").body
    (match,) = similarity.best_matches(similarity.definitions(tree), list(similarity.package_definitions()))
    assert match.original == name and similarity.THRESHOLD <= match.ratio < 1.0


def test_methods_of_an_answer_class_are_compared_one_by_one():
    name, source = _package_function()
    method = "\n".join("    " + line for line in _disguised(source).splitlines())
    answer = f"class MyLayer:\n    size = 3\n\n{method}\n"
    notes = similarity.copied_from_package(_notebook(answer), _parse)
    assert any(f"MyLayer.my_{name.rsplit('.', 1)[1]} is 100% similar to {name}" in note for note in notes)


def test_an_answer_of_its_own_is_not_flagged():
    answer = '''
def conv2d_naive(x, kernels, bias, stride=1, padding="valid"):
    n, h, w, c = x.shape
    k = kernels.shape[0]
    if padding == "same":
        x = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    out_h = (x.shape[1] - k) // stride + 1
    out_w = (x.shape[2] - k) // stride + 1
    y = np.zeros((n, out_h, out_w, kernels.shape[-1]))
    for b in range(n):
        for i in range(out_h):
            for j in range(out_w):
                window = x[b, i * stride:i * stride + k, j * stride:j * stride + k, :]
                for o in range(kernels.shape[-1]):
                    y[b, i, j, o] = np.sum(window * kernels[..., o]) + bias[o]
    return y
'''
    assert similarity.copied_from_package(_notebook(answer, "ex1_conv2d_naive"), _parse) == []


def test_small_helpers_look_alike_by_chance_and_are_not_judged():
    helper = "def square(x):\n    return x * x\n"
    (definition,) = similarity.definitions(ast.parse(helper))
    assert len(definition.tokens) < similarity.MIN_TOKENS
    assert similarity.best_matches([definition], [definition]) == []


def test_only_answer_cells_are_compared():
    _, source = _package_function()
    notebook = _notebook("x = 1")
    notebook.cells.append(nbformat.v4.new_code_cell(_disguised(source)))  # a cell the notebook itself had
    notebook.cells[-1].metadata["nbgrader"] = {"grade": False, "grade_id": "helpers", "locked": True,
                                               "solution": False, "schema_version": 3, "task": False}
    assert similarity.copied_from_package(notebook, _parse) == []


def test_the_autograde_report_gets_the_note_through_find_tampering():
    name, source = _package_function()
    notebook = _notebook(_disguised(source))
    notes = find_tampering(notebook, _notebook("### BEGIN SOLUTION\n### END SOLUTION"))
    assert any(note.startswith("REVIEW: ex3_layer: my_") and name in note for note in notes)


def test_names_strings_and_annotations_do_not_matter_but_the_calls_do():
    a = "def f(x: int) -> int:\n    '''Doc.'''\n    y = np.einsum('ij,jk->ik', x, x)\n    raise ValueError(f'bad {y}')\n"
    b = "def g(z):\n    w = np.einsum('ij,jk->ik', z, z)\n    raise ValueError('something else entirely')\n"
    c = "def g(z):\n    w = np.matmul(z, z)\n    raise ValueError('something else entirely')\n"
    tokens = [similarity.normalised_tokens(ast.parse(text).body[0]) for text in (a, b, c)]
    assert tokens[0] == tokens[1] != tokens[2]
