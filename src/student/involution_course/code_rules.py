"""Rules about how code works, read from its source: what it uses, how deeply it loops.

The exercises state such rules ("compute it yourself, without Keras' convolutions"; "no Python loop
over images, positions or channels"). The grader judges them from your submitted source, and the
visible tests use the same reading through :func:`assert_own_code` and :func:`assert_loop_depth`,
so that a rule a grade depends on fails in your notebook first, with the same sentence.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import threading
from typing import Callable, Iterable

# CPython 3.11 can fail ast.parse run from two threads at once (gh-106905): one parse at a time.
PARSE_LOCK = threading.Lock()
LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def parse(text: str) -> ast.Module:
    """``text`` as Python; IPython magics and shell escapes blanked; a syntax error gives nothing."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in text.splitlines()]
    with PARSE_LOCK:
        try:
            return ast.parse("\n".join(lines))
        except (SyntaxError, ValueError):
            return ast.parse("")


def dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr}" if head else node.attr
    return None


def within_modules(module: str, modules: Iterable[str]) -> bool:
    return any(module == m or module.startswith(m + ".") for m in modules)


def uses(trees, names: set[str], modules: Iterable[str] = ()) -> list[str]:
    """Attributes and imported names among ``names``, and imports of ``modules``, in ``trees``:
    ``keras.ops.conv``, ``from scipy.signal import correlate2d``, ``import scipy.ndimage``,
    ``getattr(ops, "conv")``."""
    found = []
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in names:
                found.append(dotted(node) or node.attr)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if within_modules(module, modules):
                    found.append(f"import of {module}")
                found += [f"{module}.{alias.name}" for alias in node.names if alias.name in names]
            elif isinstance(node, ast.Import):
                found += [f"import of {alias.name}" for alias in node.names if within_modules(alias.name, modules)]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("getattr", "__import__") and node.args:
                text = " ".join(a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
                if any(part in names or within_modules(part, modules) for part in text.split()):
                    found.append(f"{node.func.id}({text!r})")
    return sorted(set(found))


def loop_depth(node, defined: dict, following: frozenset = frozenset()) -> int:
    """The deepest nesting of loops (``for``, ``while``, comprehensions) under ``node``, through the
    functions of ``defined`` that it calls by name (each followed once)."""
    deepest = 0
    for child in ast.iter_child_nodes(node):
        inner = loop_depth(child, defined, following)
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id in defined \
                and child.func.id not in following:
            inner = max(inner, loop_depth(defined[child.func.id], defined, following | {child.func.id}))
        deepest = max(deepest, inner)
    if isinstance(node, LOOPS):
        return deepest + (len(node.generators) if hasattr(node, "generators") else 1)
    return deepest


def _definitions(function: Callable) -> tuple[ast.AST, dict]:
    """``function``'s syntax tree and those of the functions of its module (or notebook) it can call."""
    def tree_of(value):
        try:
            return parse(textwrap.dedent(inspect.getsource(value))).body[0]
        except (OSError, TypeError, IndexError):
            return None

    own = tree_of(function)
    if own is None:
        raise AssertionError(f"the source of {getattr(function, '__name__', function)!r} cannot be read: define it in a cell")
    defined = {}
    for name, value in getattr(function, "__globals__", {}).items():
        if inspect.isfunction(value) and value is not function and name in {dotted(n.func) for n in ast.walk(own)
                                                                            if isinstance(n, ast.Call)}:
            tree = tree_of(value)
            if tree is not None:
                defined[name] = tree
    return own, defined


def assert_own_code(function: Callable, names: set[str], modules: Iterable[str] = (), *, rule: str) -> None:
    """Fail, stating ``rule``, when ``function`` (or a function of yours it calls) uses ``names`` or ``modules``."""
    own, defined = _definitions(function)
    found = uses([own, *defined.values()], set(names), modules)
    if found:
        raise AssertionError(f"{function.__name__} uses {', '.join(found)}: {rule}")


def assert_loop_depth(function: Callable, at_most: int, *, rule: str) -> None:
    """Fail, stating ``rule``, when ``function`` nests more than ``at_most`` loops (through the
    functions of yours it calls)."""
    own, defined = _definitions(function)
    depth = loop_depth(own, defined)
    if depth > at_most:
        raise AssertionError(f"{function.__name__} nests {depth} loops (at most {at_most}): {rule}")
