"""Rules about how an answer works, judged from the submitted source, outside the kernel.

A figure measured in the kernel (Python lines run, memory held, a refused call) can be forged by
the student's own code, so it may add to these judgements but never replace them. The source
judged is every code cell the student could write: the answer cells and any cells they added.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from involution_course.code_rules import dotted as _dotted
from involution_course.code_rules import loop_depth, parse, uses


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
        student's code (see :func:`involution_course.code_rules.uses`). With ``within``, only in that
        function and the student's functions it calls (an import at the top of a cell counts where the
        function calls what it imported)."""
        if within is None:
            return uses(self.trees(), names, modules)
        called = {name.split(".")[-1] for name in self.calls(within)}
        imported = [node for tree in self.trees() for node in ast.walk(tree)
                    if isinstance(node, (ast.Import, ast.ImportFrom))
                    and any((a.asname or a.name.split(".")[0]) in called or (a.asname or a.name) in called
                            for a in node.names)]
        return uses([*self.reached(within), *imported], names, modules)

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

    def loop_depth(self, function: str) -> int:
        """The deepest nesting of loops (``for``, ``while``, comprehensions) that ``function`` runs,
        through the student's own functions that it calls by name (each followed once)."""
        defined = self.functions()
        return loop_depth(defined[function], defined) if function in defined else 0

    def calls(self, function: str) -> set[str]:
        """The names ``function`` (or the student's functions it calls) calls."""
        names = set()
        for node in self.reached(function):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call):
                    called = _dotted(inner.func)
                    if called:
                        names.add(called)
        return names
