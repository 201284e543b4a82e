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


def names_bound(function: Callable, trees, names: set[str], modules: Iterable[str] = ()) -> list[str]:
    """The bare names in ``trees`` that are among ``names`` or that ``function``'s globals bind to an
    object called so or defined in ``modules`` (``Involution`` imported in another cell, under any name)."""
    namespace = getattr(function, "__globals__", {})
    found = []
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Name):
                continue
            value = namespace.get(node.id)
            module = getattr(value, "__module__", None) if value is not None else None
            if node.id in names or getattr(value, "__name__", None) in names \
                    or (isinstance(module, str) and within_modules(module, modules)):
                found.append(node.id)
    return sorted(set(found))


def assert_not_using(function: Callable, names: set[str], modules: Iterable[str] = (), *, rule: str) -> None:
    """Fail, stating ``rule``, when ``function`` (or a function of yours it calls) uses ``names`` or
    ``modules``: as :func:`assert_own_code`, and calls by a bare name too (``involution_naive(x, k)``,
    a class imported in another cell)."""
    own, defined = _definitions(function)
    trees = [own, *defined.values()]
    found = sorted(set(uses(trees, set(names), modules)) | set(names_bound(function, trees, set(names), modules)))
    if found:
        raise AssertionError(f"{function.__name__} uses {', '.join(found)}: {rule}")


# What a function computing a few kernels may do with the whole image: index it, read its shape. Handing it (or a
# copy, reshape or pooling of it) to a kernel generator or to a matrix product computes something at every position.
IMAGE_COPIES = frozenset({"average_pool", "asarray", "array", "asanyarray", "ascontiguousarray", "copy", "astype", "float64",
                          "float32", "reshape", "transpose", "swapaxes", "moveaxis", "ravel", "flatten", "squeeze", "expand_dims"})
PRODUCTS = frozenset({"matmul", "dot", "einsum", "tensordot", "inner", "vdot"})


def _is_whole(node, whole: set[str]) -> bool:
    """Whether ``node`` holds every pixel of the image: one of the names ``whole``, or a copy, reshape or pooling of one."""
    if isinstance(node, ast.Name):
        return node.id in whole
    if isinstance(node, ast.Call):
        name = (dotted(node.func) or "").split(".")[-1]
        if name in IMAGE_COPIES:
            if isinstance(node.func, ast.Attribute) and _is_whole(node.func.value, whole):
                return True  # x.copy(), x.reshape(...)
            return bool(node.args) and _is_whole(node.args[0], whole)
    return False


def whole_image_uses(defined: dict, function: str, image: int = 0, generators=frozenset({"generate_kernel"}),
                     _seen=None) -> list[str]:
    """Where ``defined[function]`` passes its ``image``-th argument (the image), or a copy, reshape or pooling of
    it, to one of ``generators``, to a matrix product, or to another function of ``defined`` that does so. A name
    counts as the image only when every assignment to it does (``x = x[:, rows, cols]`` is the gathered pixels)."""
    seen = _seen if _seen is not None else set()
    node = defined.get(function)
    if node is None or (function, image) in seen or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return []
    seen.add((function, image))
    parameters = [a.arg for a in node.args.posonlyargs + node.args.args]
    if image >= len(parameters):
        return []
    bound: dict[str, list] = {}
    for statement in ast.walk(node):
        if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    bound.setdefault(target.id, []).append(statement.value)
        else:
            others = [statement.target] if isinstance(statement, (ast.For, ast.AsyncFor, ast.AugAssign, ast.NamedExpr)) else \
                [item.optional_vars for item in statement.items if item.optional_vars is not None] \
                if isinstance(statement, (ast.With, ast.AsyncWith)) else []
            for other in others:
                for target in ast.walk(other):
                    if isinstance(target, ast.Name):
                        bound.setdefault(target.id, []).append(None)  # bound to something else
    image_name = parameters[image]
    whole = {image_name}
    for _ in range(4):  # names bound to the image, or to a copy of it, through a few assignments
        whole = {name for name in {image_name} | set(bound)
                 if (name == image_name or bound.get(name))
                 and all(value is not None and _is_whole(value, whole) for value in bound.get(name, []))}
    found = []
    for call in ast.walk(node):
        if isinstance(call, ast.BinOp) and isinstance(call.op, ast.MatMult) \
                and (_is_whole(call.left, whole) or _is_whole(call.right, whole)):
            found.append(f"{ast.unparse(call)} (in {function})")
        if not isinstance(call, ast.Call):
            continue
        name = (dotted(call.func) or "").split(".")[-1]
        arguments = list(call.args) + [k.value for k in call.keywords]
        if name in generators and arguments and (_is_whole(call.args[0], whole) if call.args else any(
                k.arg == "x" and _is_whole(k.value, whole) for k in call.keywords)):
            found.append(f"{ast.unparse(call)} (in {function})")
        elif name in PRODUCTS and any(_is_whole(a, whole) for a in arguments):
            found.append(f"{ast.unparse(call)} (in {function})")
        elif name in defined and name not in generators:
            for position, argument in enumerate(call.args):
                if _is_whole(argument, whole):
                    found += whole_image_uses(defined, name, position, generators, seen)
    return found


def _reachable(function: Callable) -> dict:
    """The syntax trees of ``function`` and of every function of its module (or notebook) it reaches by name."""
    own, defined = _definitions(function)
    trees = {function.__name__: own}
    waiting = list(defined.items())
    namespace = getattr(function, "__globals__", {})
    while waiting:
        name, tree = waiting.pop()
        if name in trees:
            continue
        trees[name] = tree
        value = namespace.get(name)
        if inspect.isfunction(value):
            waiting += [(n, t) for n, t in _definitions(value)[1].items() if n not in trees]
    return trees


def assert_gathers_first(function: Callable, *, rule: str, generators=frozenset({"generate_kernel"})) -> None:
    """Fail, stating ``rule``, when ``function`` hands its first argument, the whole image (or a copy, reshape or
    pooling of it), to a kernel generator or a matrix product, in its own code or a function of yours it calls."""
    found = whole_image_uses(_reachable(function), function.__name__, 0, frozenset(generators))
    if found:
        raise AssertionError(f"{function.__name__} computes on the whole image: {found[0][:200]}; {rule}")


def names_used(value, names: set[str], modules: Iterable[str] = (), borrowed_from: str = "involution_course") -> list[str]:
    """Where ``value`` (a function, or a class: its bases and the methods it defines) or a function of yours
    it calls names one of ``names`` (as a name, an attribute or an import) or imports one of ``modules``;
    a class's methods taken from the package ``borrowed_from`` count too (``call = Involution.call``)."""
    functions, found = [], []
    if isinstance(value, type):
        found += [f"its base class {base.__name__}" for base in value.__mro__[1:] if base.__name__ in names]
        for name, member in vars(value).items():
            member = getattr(member, "__func__", getattr(member, "fget", member))
            if inspect.isfunction(member):
                module = getattr(member, "__module__", None) or ""
                if within_modules(module, [borrowed_from, *modules]):
                    found.append(f"{value.__name__}.{name} from {module}")
                else:
                    functions.append(member)
    else:
        functions.append(value)
    for function in functions:
        own, defined = _definitions(function)
        trees = [own, *defined.values()]
        found += uses(trees, set(names), modules)
        found += [node.id for tree in trees for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id in names]
        namespace = getattr(function, "__globals__", {})
        for node in (node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.Name)):
            value = namespace.get(node.id)  # the course's layer imported under another name
            if getattr(value, "__name__", None) in names and within_modules(getattr(value, "__module__", "") or "", [borrowed_from]):
                found.append(f"{node.id} ({value.__module__}.{value.__name__})")
    return sorted(set(found))


def assert_not_named(value, names: set[str], modules: Iterable[str] = (), *, rule: str) -> None:
    """Fail, stating ``rule``, when ``value`` (a function or a class) uses ``names`` or ``modules``, as
    :func:`names_used` reads it."""
    found = names_used(value, names, modules)
    if found:
        raise AssertionError(f"{value.__name__} uses {', '.join(found)}: {rule}")
