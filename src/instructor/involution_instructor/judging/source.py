"""Rules about how an answer works, judged from the submitted source, outside the kernel.

A figure measured in the kernel (Python lines run, memory held, a refused call) can be forged by
the student's own code, so it may add to these judgements but never replace them. The source
judged is every code cell the student could write: the answer cells and any cells they added.
"""

from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass, field

# CPython 3.11 can fail ast.parse run from two threads at once (gh-106905): one parse at a time.
PARSE_LOCK = threading.Lock()


def parse(text: str) -> ast.Module:
    """``text`` as Python; IPython magics and shell escapes blanked; a syntax error gives nothing."""
    lines = ["" if re.match(r"\s*[%!]", line) else line for line in text.splitlines()]
    with PARSE_LOCK:
        try:
            return ast.parse("\n".join(lines))
        except (SyntaxError, ValueError):
            return ast.parse("")


@dataclass
class StudentSource:
    """The student's code cells, by grade id (answer cells) or ``cell N`` (cells they added)."""

    cells: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(self.cells.values())

    def trees(self):
        return [parse(text) for text in self.cells.values()]

    def functions(self) -> dict[str, ast.AST]:
        """Every function and class the student defined, by name (the last definition wins)."""
        found = {}
        for tree in self.trees():
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    found[node.name] = node
        return found

    def uses(self, names: set[str], modules: set[str] = frozenset(), within: str | None = None) -> list[str]:
        """Attributes and imported names among ``names``, and imports of ``modules``, in the
        student's code: ``keras.ops.conv``, ``from scipy.signal import correlate2d``, ``import scipy.ndimage``,
        ``getattr(ops, "conv")``. With ``within``, only in that function and the student's functions it
        calls (an import at the top of a cell counts where the function calls what it imported)."""
        found = []
        if within is not None:
            reached = self.reached(within)
            called = {name.split(".")[-1] for name in self.calls(within)}
            imported = [node for tree in self.trees() for node in ast.walk(tree)
                        if isinstance(node, (ast.Import, ast.ImportFrom))
                        and any((a.asname or a.name.split(".")[0]) in called or (a.asname or a.name) in called
                                for a in node.names)]
            return sorted(set(self._uses([*reached, *imported], names, modules)))
        return sorted(set(self._uses(self.trees(), names, modules)))

    def reached(self, function: str) -> list[ast.AST]:
        """``function``'s definition and those of the student's functions it calls, transitively."""
        defined = self.functions()
        seen, pending = [], [function]
        while pending:
            name = pending.pop()
            if name not in defined or defined[name] in seen:
                continue
            seen.append(defined[name])
            for node in ast.walk(defined[name]):
                if isinstance(node, ast.Call):
                    called = _dotted(node.func)
                    if called:
                        pending.append(called.split(".")[-1])
                elif isinstance(node, ast.Name) and node.id in defined:
                    pending.append(node.id)  # passed as an argument, or aliased
        return seen

    def _uses(self, trees, names, modules) -> list[str]:
        found = []
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr in names:
                    found.append(_dotted(node) or node.attr)
                elif isinstance(node, ast.ImportFrom):
                    module = node.module or ""
                    if _within(module, modules):
                        found.append(f"import of {module}")
                    for alias in node.names:
                        if alias.name in names:
                            found.append(f"{module}.{alias.name}")
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if _within(alias.name, modules):
                            found.append(f"import of {alias.name}")
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                        and node.func.id in ("getattr", "__import__") and len(node.args) >= 1:
                    text = " ".join(a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
                    if any(part in names or _within(part, modules) for part in text.split()):
                        found.append(f"{node.func.id}({text!r})")
        return found

    def loop_depth(self, function: str) -> int:
        """The deepest nesting of loops (``for``, ``while``, comprehensions) that ``function`` runs,
        through the student's own functions that it calls by name (each followed once)."""
        defined = self.functions()
        if function not in defined:
            return 0
        return _depth(defined[function], defined, set())

    def calls(self, function: str) -> set[str]:
        """The names ``function`` (or the student's functions it calls) calls."""
        defined = self.functions()
        seen, pending, names = set(), [function], set()
        while pending:
            name = pending.pop()
            if name in seen or name not in defined:
                continue
            seen.add(name)
            for node in ast.walk(defined[name]):
                if isinstance(node, ast.Call):
                    called = _dotted(node.func)
                    if called:
                        names.add(called)
                        pending.append(called.split(".")[-1])
        return names


LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _depth(node, defined, following) -> int:
    deepest = 0
    for child in ast.iter_child_nodes(node):
        inner = _depth(child, defined, following)
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id in defined \
                and child.func.id not in following:
            inner = max(inner, _depth(defined[child.func.id], defined, following | {child.func.id}))
        deepest = max(deepest, inner)
    if isinstance(node, LOOPS):
        levels = len(node.generators) if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)) else 1
        return deepest + levels
    return deepest


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else node.attr
    return None


def _within(module: str, modules) -> bool:
    return any(module == m or module.startswith(m + ".") for m in modules)
