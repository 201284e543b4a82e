"""What runs in the student's kernel when a notebook is graded: it reports, it never judges.

The source of this module travels inside each observation cell (the sandbox hides the
instructor package from the kernel), so it imports nothing of the course at the top and
defines only what an observation needs:

* ``encode``/``decode``: plain data (numbers, strings, lists, tuples, dicts, NumPy arrays) to
  JSON and back, arrays as ``.npy`` bytes in base64 (never pickles);
* ``as_data``: whatever a student's object returned, as plain data; anything else becomes a
  ``{"__object__": type name}`` marker for the judge to refuse;
* ``outcome``: one call of a student's object, as ``{"value": ...}`` or ``{"raised": name, ...}``;
* ``observe``: runs one check's observation and shows it as a single output of its own MIME type,
  tagged with the token of this graded run. Nothing else it does is visible: what the student's
  code prints meanwhile is swallowed, and the grader drops the whole cell from the notebook.
"""

MIME = "application/vnd.involution-course.observation+json"
_MAX_DEPTH = 40


def encode(value, _depth=0):
    """Plain data as JSON-ready values; arrays as base64 ``.npy``; raises TypeError otherwise."""
    import base64
    import io
    import math

    import numpy as np

    if _depth > _MAX_DEPTH:
        raise TypeError("data nested too deeply")
    if value is None or type(value) in (bool, str):
        return value
    if type(value) is int:
        return value if abs(value) < 2**53 else {"__int__": str(value)}
    if type(value) is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("an array of Python objects is not data")
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(value), allow_pickle=False)
        return {"__ndarray__": base64.b64encode(buffer.getvalue()).decode("ascii")}
    if isinstance(value, np.generic):
        return encode(value.item(), _depth + 1)
    if type(value) is tuple:
        return {"__tuple__": [encode(v, _depth + 1) for v in value]}
    if type(value) is list:
        return [encode(v, _depth + 1) for v in value]
    if type(value) is dict:
        return {"__dict__": [[encode(k, _depth + 1), encode(v, _depth + 1)] for k, v in value.items()]}
    raise TypeError(f"{type(value).__name__} is not data")


def decode(value, _depth=0):
    """The inverse of :func:`encode`; raises ValueError on anything it did not make (dicts and
    lists may be subclasses: nbformat reads outputs as its own nodes)."""
    import base64
    import io

    import numpy as np

    if _depth > _MAX_DEPTH:
        raise ValueError("data nested too deeply")
    if value is None or type(value) in (bool, str, int, float):
        return value
    if isinstance(value, list):
        return [decode(v, _depth + 1) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), = value.items()
        if key == "__ndarray__" and type(inner) is str:
            return np.load(io.BytesIO(base64.b64decode(inner, validate=True)), allow_pickle=False)
        if key == "__tuple__" and isinstance(inner, list):
            return tuple(decode(v, _depth + 1) for v in inner)
        if key == "__dict__" and isinstance(inner, list):
            pairs = [decode(pair, _depth + 1) for pair in inner]
            if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
                raise ValueError("a dict's items must be pairs")
            return {_key(k): v for k, v in pairs}
        if key == "__int__" and type(inner) is str:
            return int(inner)
        if key == "__float__" and inner in ("nan", "inf", "-inf"):
            return float(inner)
        if key == "__object__" and type(inner) is str:
            return {"__object__": inner}
    raise ValueError(f"not encoded data: {str(value)[:80]}")


def _key(value):
    if isinstance(value, list):
        return tuple(_key(v) for v in value)
    return value


def as_data(value, _depth=0):
    """What a student's object returned, as plain data the judge can read.

    Tensors and array-likes become NumPy arrays (of numbers or booleans: anything else is not
    data). Python numbers become exactly ``int``/``float``/``bool``, whatever subclass they were,
    so that an object "equal to everything" arrives as the number it holds, or as an
    ``{"__object__": type}`` marker that no judge accepts.
    """
    import numpy as np

    if _depth > _MAX_DEPTH:
        return {"__object__": "nested too deeply"}
    try:
        if value is None:
            return None
        if isinstance(value, bool):
            return value is True
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, int):
            return int.__index__(value)
        if isinstance(value, float):
            return float.__float__(value)
        if isinstance(value, (list, tuple)):
            items = [as_data(v, _depth + 1) for v in list.__iter__(value)] if isinstance(value, list) \
                else [as_data(v, _depth + 1) for v in tuple.__iter__(value)]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, dict):
            return {as_data(k, _depth + 1) if not isinstance(k, str) else str.__str__(k): as_data(v, _depth + 1)
                    for k, v in dict.items(value)}
        if isinstance(value, np.generic):
            return as_data(value.item(), _depth + 1)
        array = value if type(value) is np.ndarray else np.asarray(value)
        if type(array) is not np.ndarray:
            array = np.array(array)
        if array.dtype.kind in "biuf":
            return np.array(array, copy=True)
        return {"__object__": type(value).__name__}
    except Exception:  # noqa: BLE001 - a broken object is reported, not raised
        return {"__object__": type(value).__name__}


def outcome(function, *args, **kwargs):
    """One call: ``{"value": as_data(result)}``, or ``{"raised": type name, "message": text}``."""
    try:
        result = function(*args, **kwargs)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the judge reads what was raised
        return {"raised": type(error).__name__, "message": _text(error)}
    return {"value": as_data(result)}


def _text(error) -> str:
    try:
        return str(error)[:2000]
    except Exception:  # noqa: BLE001
        return f"<{type(error).__name__} with an unprintable message>"


class Student:
    """The student's namespace, read-only: ``student["name"]`` or a clear error naming it."""

    def __init__(self, namespace):
        self._namespace = namespace

    def __getitem__(self, name):
        if name not in self._namespace:
            raise LookupError(f"{name} is not defined: run the cell that defines it")
        return self._namespace[name]

    def get(self, name, default=None):
        return self._namespace.get(name, default)

    def __contains__(self, name):
        return name in self._namespace


def observe(token, grade_id, payload, function_name, namespace):
    """Run ``function_name(student, data)`` of ``namespace`` and show what it returned."""
    import contextlib
    import io
    import json

    from IPython.display import display

    message = {"token": token, "check": grade_id}
    try:
        data = decode(json.loads(payload))
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            from IPython import get_ipython

            shell = get_ipython()
            seen = namespace[function_name](Student(shell.user_ns if shell is not None else {}), data)
        message["seen"] = encode(as_data(seen))
    except (Exception, SystemExit) as error:  # noqa: BLE001 - reported for the judge
        message["error"] = f"{type(error).__name__}: {_text(error)}"
    display({MIME: message}, raw=True)
