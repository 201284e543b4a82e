"""Answers that redefine what the tests rely on.

A student who writes ``np.testing.assert_allclose = lambda *a, **k: None`` passes
every visible test that calls it. The hidden tests of the course use plain
``assert`` as well, but the report also flags the attempt, found statically in
the student's own cells: rebinding a name the tests call or import, setting,
deleting or ``setattr``-ing an attribute of a module the notebook imports, or
touching ``builtins``. Answers that closely copy the course package's own code are
flagged too (``similarity``).
"""

from __future__ import annotations

import ast
import re

from .similarity import PARSE_LOCK, copied_from_package

ALWAYS_PROTECTED_MODULES = {"builtins", "__builtins__", "sys", "unittest", "pytest"}
# The kernel's execution machinery: what lets code change how later cells run, what they raise or
# what they show. Grades are judged outside the kernel, so touching it earns nothing by itself;
# the report flags it for a person to read.
MACHINERY = {
    "input_transformers_cleanup", "input_transformers_post", "input_transformer_manager", "ast_transformers",
    "set_custom_exc", "custom_exceptions", "showtraceback", "_showtraceback", "showsyntaxerror", "run_cell",
    "run_cell_async", "run_ast_nodes", "transform_cell", "transform_ast", "settrace", "setprofile", "monitoring",
    "excepthook", "displayhook", "display_pub", "display_formatter", "register_magic_function", "pre_run_cell",
    "post_run_cell", "pre_execute", "post_execute", "__builtins__", "meta_path", "path_hooks",
}
MACHINERY_CALLS = {"events.register", "events.unregister", "register_post_execute"}


def find_tampering(notebook, source) -> list[str]:
    """One sentence per tampering statement in ``notebook``'s unlocked code cells, and one per
    answer definition that closely copies the course package."""
    locked = [c for c in source.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("locked")]
    answers = [c for c in source.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    imports = {bound: root for cell in locked for bound, root in _imported(_parse(cell.source)).items()}
    modules = ALWAYS_PROTECTED_MODULES | set(imports) | set(imports.values())
    called = {name for cell in locked for name in _called(_parse(cell.source))}
    defined_by_solution = {name for cell in answers for name in _bound(_parse(cell.source))}
    protected = (called | modules) - defined_by_solution

    locked_ids = {c.metadata["nbgrader"]["grade_id"] for c in locked if "grade_id" in c.metadata.get("nbgrader", {})}
    notes = []
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or grade_id in locked_ids:
            continue
        where = f"cell {grade_id}" if grade_id else "a cell the student added"
        tree = _parse(cell.source)
        # ``import numpy as n`` in an answer makes ``n`` a module the tests rely on too.
        aliases = {bound for bound, root in _imported(tree).items() if root in modules}
        for finding in _findings(tree, protected, modules | aliases):
            notes.append(f"REVIEW: {where} {finding}; the tests may have been defeated")
        touched = _machinery(tree)
        if touched:
            notes.append(f"REVIEW: {where} touches the kernel's execution machinery ({', '.join(touched)}); "
                         "grades are judged outside the kernel, so it earns nothing by itself")
    return notes + copied_from_package(notebook, _parse)


# One lock for every parse in the graders' threads (see similarity.PARSE_LOCK).
_PARSE_LOCK = PARSE_LOCK


def _parse(source: str):
    # IPython magics and shell escapes are not Python: blank them out.
    lines = ["" if re.match(r"\s*[%!]", line) else line for line in source.splitlines()]
    with _PARSE_LOCK:
        try:
            return ast.parse("\n".join(lines))
        except SyntaxError:
            return ast.parse("")


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _imported(tree) -> dict[str, str]:
    """Each name an import binds, with the top-level module it comes from."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = node.module.split(".")[0]
    return names


def _called(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            dotted = _dotted(node.func)
            if dotted:
                names.add(dotted)
                names.add(dotted.split(".")[0])
    return names


def _bound(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _module_level(tree):
    """Nodes outside function and class bodies: a local variable may shadow anything."""
    pending = list(ast.iter_child_nodes(tree))
    while pending:
        node = pending.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            pending.extend(ast.iter_child_nodes(node))


def _unpacked(target):
    """The single targets of ``a, (b.c, *d) = ...``."""
    if isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _unpacked(element)
    elif isinstance(target, ast.Starred):
        yield from _unpacked(target.value)
    else:
        yield target


def _machinery(tree) -> list[str]:
    """Uses of IPython's hooks and transformers, exception handling, tracing and ``builtins``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node) or node.attr
            if node.attr in MACHINERY or any(dotted.endswith(call) for call in MACHINERY_CALLS):
                found.add(dotted)
        elif isinstance(node, ast.Name) and node.id in ("__builtins__",):
            found.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            # (builtins: what an answer does with it is reported as a replaced name, above)
            found.update(name for name in names if name.split(".")[0] in ("ctypes", "gc"))
        elif isinstance(node, ast.Call) and _dotted(node.func) in ("getattr", "setattr", "__import__") and node.args:
            text = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            found.update(t for t in text if t in MACHINERY or t == "ctypes")
    return sorted(found)


def _findings(tree, protected: set[str], modules: set[str]) -> list[str]:
    findings = []
    for node in ast.walk(tree):
        # Anywhere, even inside a function: changing a module the tests import.
        targets = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for part in _unpacked(target):
                dotted = _dotted(part) if isinstance(part, ast.Attribute) else None
                if dotted and dotted.split(".")[0] in modules:
                    findings.append(f"replaces {dotted}")
        if isinstance(node, ast.Call) and _dotted(node.func) in {"setattr", "delattr"} and node.args:
            target = _dotted(node.args[0])
            if target and target.split(".")[0] in modules:
                findings.append(f"calls {_dotted(node.func)} on {target}")
    for node in _module_level(tree):
        # At the top of a cell: rebinding a name the tests call.
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)) and node.id in protected:
            findings.append(f"rebinds {node.id}, which the tests use")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in protected:
            findings.append(f"redefines {node.name}, which the tests use")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if bound in protected and bound not in modules:
                    findings.append(f"rebinds {bound} by an import, which the tests use")
    return sorted(set(findings))
