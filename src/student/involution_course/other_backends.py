"""Run a layer written in a notebook under Keras' other backends (JAX, PyTorch).

Keras picks its backend once per process, so the layer runs in a fresh Python process with
``KERAS_BACKEND`` set. That process gets the layer's source: the class, the notebook functions it
calls and the imports they need, read from the notebook's cells. It builds a model on an input of
unknown size, gives it this process's weights, and compares outputs with this process's model, then
saves and reloads it.
"""

from __future__ import annotations

import ast
import dis
import importlib.util
import inspect
import json
import linecache
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import types
from pathlib import Path

__all__ = ["layer_source", "run_layer_on_backends"]

_PLAIN = (int, float, str, bool, type(None))


class _NotCarried(Exception):
    """A name the layer uses that cannot be written as source for another process."""


def _class_node(cls: type) -> ast.ClassDef:
    """The class statement of ``cls``, from the cell (or file) its methods were defined in."""
    for member in vars(cls).values():
        member = getattr(member, "__func__", getattr(member, "fget", member))
        code = getattr(member, "__code__", None)
        if code is None:
            continue
        tree = ast.parse("".join(linecache.getlines(code.co_filename)) or "\n")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == cls.__name__ \
                    and node.lineno <= code.co_firstlineno <= (node.end_lineno or node.lineno):
                return node
    raise _NotCarried(f"the source of {cls.__name__} cannot be read: define it in a cell")


def _function_node(function: types.FunctionType) -> ast.AST:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(function))).body[0]
    except (OSError, TypeError, IndexError, SyntaxError):
        raise _NotCarried(f"the source of {function.__name__} cannot be read: define it in a cell") from None


def _code_globals(code) -> set[str]:
    """The global names that ``code`` (and the functions and classes it defines) reads."""
    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _code_globals(constant)
    return names


def _global_names(value, node) -> set[str]:
    """The global names a function, or a class (its bases, decorators and methods), reads."""
    if not isinstance(value, type):
        return _code_globals(value.__code__) | {n.id for d in node.decorator_list for n in ast.walk(d) if isinstance(n, ast.Name)}
    names = {n.id for part in [*node.bases, *node.keywords, *node.decorator_list] for n in ast.walk(part) if isinstance(n, ast.Name)}
    for member in vars(value).values():
        member = getattr(member, "__func__", getattr(member, "fget", member))
        if isinstance(member, types.FunctionType):
            names |= _code_globals(member.__code__)
    return names


def layer_source(layer_class: type) -> str:
    """Python source that defines ``layer_class`` in a fresh process: the imports it needs, the notebook
    functions and classes it reaches by name, then the class itself."""
    namespace = next((m.__globals__ for m in (getattr(v, "__func__", getattr(v, "fget", v)) for v in vars(layer_class).values())
                      if hasattr(m, "__globals__")), {})
    imports, definitions, done = [], [], set()

    def carry(name: str, value) -> None:
        if name in done:
            return
        done.add(name)
        if isinstance(value, types.ModuleType):
            imports.append(f"import {value.__name__} as {name}")
        elif isinstance(value, _PLAIN) or (isinstance(value, tuple) and all(isinstance(v, _PLAIN) for v in value)):
            imports.append(f"{name} = {value!r}")
        elif isinstance(value, (type, types.FunctionType)) and value.__module__ not in ("__main__", None) \
                and getattr(sys.modules.get(value.__module__), value.__qualname__, None) is value:
            imports.append(f"from {value.__module__} import {value.__qualname__} as {name}")
        elif isinstance(value, (type, types.FunctionType)):
            node = _class_node(value) if isinstance(value, type) else _function_node(value)
            for used in sorted(_global_names(value, node) - {node.name}):
                if used in namespace:
                    carry(used, namespace[used])
            definitions.append(ast.unparse(node))
        else:
            raise _NotCarried(f"{name} ({type(value).__name__}) cannot be carried to another process")

    carry(layer_class.__name__, layer_class)
    return "\n".join(imports) + "\n\n\n" + "\n\n\n".join(definitions) + "\n"


_SCRIPT = '''
import json, sys, tempfile
from pathlib import Path
import numpy as np
import keras
{source}
data = np.load(sys.argv[1])
config, channels = json.loads(sys.argv[2])
inputs = keras.Input((None, None, channels))
model = keras.Model(inputs, {name}(*config)(inputs))
model.set_weights([data[f"w{{k}}"] for k in range(len(model.get_weights()))])
out = keras.ops.convert_to_numpy(model(data["x"]))
path = Path(tempfile.mkdtemp()) / "layer.keras"
model.save(path)
reloaded = keras.models.load_model(path, custom_objects={{"{name}": {name}}})
again = keras.ops.convert_to_numpy(reloaded(data["x"]))
print("RESULT", json.dumps({{"shape": list(out.shape), "gap": float(np.max(np.abs(out - data["out"]))),
                            "reload_gap": float(np.max(np.abs(again - out)))}}))
'''


def run_layer_on_backends(layer_class: type, config=(3, 2, 2, 2), channels: int = 4, backends=("jax", "torch"),
                          tolerance: float = 1e-4) -> None:
    """Run ``layer_class(*config)`` on an input of unknown size under each of ``backends`` that is installed, in a
    fresh process; fail with one sentence where its output differs from this process's, or it fails to run or to
    save and reload. A backend that is not installed is skipped, with a sentence saying so."""
    import keras
    import numpy as np

    from .profiles import get_profile

    if get_profile().name == "grading":  # the grader runs TensorFlow only, in a sandbox without the other backends
        return
    inputs = keras.Input((None, None, channels))
    model = keras.Model(inputs, layer_class(*config)(inputs))
    x = np.random.default_rng(0).normal(size=(2, 9, 7, channels)).astype("float32")
    folder = Path(tempfile.mkdtemp())
    arrays = {f"w{k}": np.asarray(w) for k, w in enumerate(model.get_weights())}
    np.savez(folder / "data.npz", x=x, out=np.asarray(keras.ops.convert_to_numpy(model(x))), **arrays)
    try:
        script = _SCRIPT.format(source=layer_source(layer_class), name=layer_class.__name__)
    except _NotCarried as error:
        print(f"Your layer was not run on the other backends: {error}.")
        return
    (folder / "run.py").write_text(script)
    for backend in backends:
        if importlib.util.find_spec(backend) is None:
            print(f"{backend} is not installed here, so your layer was not run on it (pip install {backend} to try it).")
            continue
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        if backend == "jax":  # compile without LLVM's optimisations: these runs check values, not speed
            env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()
        what = f"{layer_class.__name__}{tuple(config)} on keras.Input((None, None, {channels})) under KERAS_BACKEND={backend}"
        try:
            run = subprocess.run([sys.executable, str(folder / "run.py"), str(folder / "data.npz"), json.dumps([list(config), channels])],
                                 env=env, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{what} ran for more than 10 minutes") from None
        lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
        if run.returncode != 0 or not lines:
            errors = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in run.stderr.splitlines() if line.strip()]
            last = next((line for line in reversed(errors) if "Error" in line), errors[-1] if errors else "no output")
            hint = " (does your layer define compute_output_shape? see Exercise 3)" if "infer the output shape" in run.stderr else ""
            raise AssertionError(f"{what} fails{hint}: {last[:400]}")
        result = json.loads(lines[-1][len("RESULT "):])
        expected = [2, -(-9 // config[1]), -(-7 // config[1]), channels]
        if result["shape"] != expected:
            raise AssertionError(f"{what} gives an output of shape {tuple(result['shape'])} on a 9 x 7 input, not {tuple(expected)}")
        if result["gap"] > tolerance:
            raise AssertionError(f"{what} differs from TensorFlow's output by up to {result['gap']:.2g} with the same weights")
        if result["reload_gap"] > tolerance:
            raise AssertionError(f"{what}: after save and reload the output changes by up to {result['reload_gap']:.2g}: "
                                 "build the sublayers in build (see Exercise 3)")
        print(f"{backend}: your layer gives TensorFlow's output (largest difference {result['gap']:.1g}) and survives save and reload.")
