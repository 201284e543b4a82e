"""Answers that copy the student package's own code.

Each function, method and class an answer cell defines is compared with every one in
the installed ``involution_course`` package, on their syntax trees with every name a
program chooses (variables, arguments, functions, classes) replaced by its order of
first use, docstrings, annotations and string literals left out. Renaming variables
or rewording messages does not hide a copy; the library calls (attribute names,
keyword arguments), the numbers and one-word strings stay. The figure is difflib's
ratio of the two sequences of nodes: 100% is the same code up to names.
"""

from __future__ import annotations

import ast
import copy
import difflib
import functools
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "involution_course"
THRESHOLD = 0.85  # at or above: flagged for review
MIN_TOKENS = 30  # smaller definitions (a one-line helper) look alike by chance

_TOKEN = re.compile(r"\w+|[^\s\w]")


@dataclass(frozen=True)
class Definition:
    name: str  # qualified: Class.method
    tokens: tuple[str, ...]
    lines: tuple[int, int] = field(default=(0, 0), compare=False)  # first and last line in its source


@dataclass(frozen=True)
class Match:
    answer: str
    original: str  # package.module.Class.method
    ratio: float

    def note(self, where: str) -> str:
        return (f"REVIEW: {where}: {self.answer} is {self.ratio:.0%} similar to {self.original}; "
                "it may be copied from the course package")


def definitions(tree: ast.AST, prefix: str = "") -> list[Definition]:
    """Every function, method and class in ``tree``, normalised, with its qualified name."""
    found = []
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{node.name}"
            found.append(Definition(name, normalised_tokens(node), (node.lineno, node.end_lineno or node.lineno)))
            if isinstance(node, ast.ClassDef):
                found += definitions(node, f"{name}.")
        elif isinstance(node, (ast.If, ast.Try, ast.With)):  # definitions under `if`, `try`
            found += definitions(node, prefix)
    return found


def normalised_tokens(node: ast.AST) -> tuple[str, ...]:
    """``node``'s tree in pre-order, a token per node, with chosen names numbered in order of first use."""
    tokens: list[str] = []
    _flatten(_Normaliser().visit(copy.deepcopy(node)), tokens)
    return tuple(tokens)


def similarity(a: Definition, b: Definition, threshold: float = 0.0) -> float:
    """How alike two normalised definitions are, from 0 to 1 (0 where it is surely below ``threshold``)."""
    matcher = difflib.SequenceMatcher(None, a.tokens, b.tokens, autojunk=False)
    if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
        return 0.0
    return matcher.ratio()


def best_matches(answer: list[Definition], originals: list[Definition], threshold: float = THRESHOLD) -> list[Match]:
    """For each answer definition large enough to judge, its most similar original at or above ``threshold``."""
    originals = [theirs for theirs in originals if len(theirs.tokens) >= MIN_TOKENS]
    matches = []
    for mine in answer:
        if len(mine.tokens) < MIN_TOKENS:
            continue
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(mine.tokens)  # indexed once, compared with every original
        best, name = 0.0, ""
        for theirs in originals:
            matcher.set_seq1(theirs.tokens)
            floor = max(threshold, best)
            if matcher.real_quick_ratio() < floor or matcher.quick_ratio() < floor:
                continue
            ratio = matcher.ratio()
            if ratio > best:
                best, name = ratio, theirs.name
        if best >= threshold:
            matches.append(Match(mine.name, name, best))
    return matches


# CPython 3.11 can fail ast.parse run from two threads at once ("AST constructor recursion
# depth mismatch", gh-106905), and graders run in threads: every parse here takes this lock.
from involution_course.code_rules import PARSE_LOCK  # noqa: E402 - one lock for every parse of the grader's


@functools.lru_cache(maxsize=4)
def package_definitions(package: str = PACKAGE) -> tuple[Definition, ...]:
    """Every definition in the installed ``package``'s source, named ``package.module.Qualified``."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return ()
    found: list[Definition] = []
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).rglob("*.py")):
            module = ".".join((package, *path.relative_to(folder).with_suffix("").parts))
            module = module.removesuffix(".__init__")
            try:
                source = path.read_text(encoding="utf-8")
                with PARSE_LOCK:
                    tree = ast.parse(source)
            except (SyntaxError, UnicodeDecodeError, OSError):
                continue
            found += definitions(tree, f"{module}.")
    return tuple(found)


def copied_from_package(notebook, parse) -> list[str]:
    """REVIEW notes for the answer cells of ``notebook`` that closely copy the course package.

    ``parse`` turns a cell's source into a tree (magics blanked, a syntax error as an empty tree).
    """
    originals = list(package_definitions())
    notes = []
    for cell in notebook.cells:
        nbgrader = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not nbgrader.get("solution") or nbgrader.get("grade"):
            continue
        where = nbgrader.get("grade_id") or "an answer cell"
        notes += [match.note(where) for match in best_matches(definitions(parse(cell.source)), originals)]
    return notes


_WORD = re.compile(r"^\w{1,40}$")


class _Normaliser(ast.NodeTransformer):
    """Chosen names to ``_1``, ``_2``, ...; docstrings, annotations and messages dropped.

    Short one-word strings (dictionary keys, option names) are kept: they are part of
    what the code does, where a message is not.
    """

    def __init__(self):
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        return self.names.setdefault(name, f"_{len(self.names) + 1}")

    def _definition(self, node):
        node.name = self._name(node.name)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        if hasattr(node, "returns"):
            node.returns = None
        self.generic_visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition

    def visit_arg(self, node):
        node.arg = self._name(node.arg)
        node.annotation = None
        return node

    def visit_Name(self, node):
        node.id = self._name(node.id)
        return node

    def visit_AnnAssign(self, node):
        node.annotation = ast.Constant(None)
        return self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and not _WORD.match(node.value):
            return ast.Constant("")
        return node

    def visit_JoinedStr(self, node):
        return ast.Constant("")


_SKIPPED = (ast.expr_context, ast.Pass)


def _flatten(node: ast.AST, tokens: list[str]) -> None:
    if isinstance(node, _SKIPPED):
        return
    label = type(node).__name__
    for field in ("id", "arg", "attr", "name", "op"):
        value = getattr(node, field, None)
        if isinstance(value, str):
            label += f":{value}"
    if isinstance(node, ast.Constant):
        label += f":{node.value!r}"
    tokens.append(label)
    for child in ast.iter_child_nodes(node):
        _flatten(child, tokens)
