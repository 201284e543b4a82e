"""Checks for exercises: numerical gradients and assertions that explain themselves.

``grad_check`` is the centred-difference test of a hand-written backward pass:
it perturbs each checked entry of an array by +-eps, evaluates a scalar function
twice and compares the slope with the analytic gradient. It needs float64,
because in float32 the rounding error of ``f`` swamps the difference quotient.

The ``assert_*`` helpers raise ``AssertionError`` with a sentence that says what
was expected and what came back, which is what a student reads in a test cell.

``python_lines`` and ``assert_vectorised`` tell vectorised code from Python loops without a clock:
they count the Python lines a function runs, which a loop over positions multiplies with the size
of the input and a vectorised version does not. ``peak_bytes`` and ``assert_peak_bytes`` measure the
most memory a call holds at once, with ``tracemalloc``.

``needs`` stops a later notebook cell with one sentence when results computed from an
unfinished exercise are missing.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = [
    "assert_close",
    "assert_peak_bytes",
    "assert_shape",
    "assert_vectorised",
    "grad_check",
    "needs",
    "numerical_gradient",
    "peak_bytes",
    "python_lines",
    "relative_error",
    "report_gradient_errors",
]


def _checked_indices(shape, samples: int | None, seed: int) -> list[tuple[int, ...]]:
    """Every index of ``shape``, or ``samples`` of them drawn without replacement."""
    size = int(np.prod(shape))
    if samples is None or samples >= size:
        flat = np.arange(size)
    else:
        flat = np.random.default_rng(seed).choice(size, size=samples, replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def numerical_gradient(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    *,
    eps: float = 1e-5,
    indices: list[tuple[int, ...]] | None = None,
) -> np.ndarray:
    """Centred differences (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) of a scalar ``f``.

    ``x`` is perturbed in place and restored, so ``f`` may close over it.
    Entries not in ``indices`` (default: all) are left at zero.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise ValueError(
            f"numerical_gradient needs a float64 NumPy array (float32 rounding hides the slope); "
            f"got {type(x).__name__} of dtype {getattr(x, 'dtype', None)}. Use x.astype(np.float64)."
        )
    grad = np.zeros_like(x)
    for index in indices if indices is not None else np.ndindex(x.shape):
        original = x[index]
        x[index] = original + eps
        plus = float(f(x))
        x[index] = original - eps
        minus = float(f(x))
        x[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a, b, floor: float = 1e-12) -> float:
    """||a - b|| / (||a|| + ||b||): the relative error of a gradient check.

    Measured over the whole array rather than entry by entry, because entries whose true
    gradient is zero (kernel taps that only ever meet padding) carry pure rounding noise.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare arrays of shapes {a.shape} and {b.shape}")
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / max(scale, floor))


def grad_check(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    analytic,
    *,
    eps: float = 1e-5,
    samples: int | None = None,
    seed: int = 0,
    name: str = "x",
) -> float:
    """The largest relative error between ``analytic`` and the centred-difference gradient of
    the scalar function ``f`` at ``x``, over all entries or ``samples`` random ones.

    >>> x = np.array([1.0, -2.0, 3.0])
    >>> grad_check(lambda v: float(np.sum(v ** 2)), x, 2 * x) < 1e-9
    True
    """
    analytic = np.asarray(analytic)
    if analytic.shape != np.shape(x):
        raise ValueError(
            f"the gradient with respect to {name} must have {name}'s shape {np.shape(x)}; "
            f"got shape {analytic.shape}."
        )
    indices = _checked_indices(x.shape, samples, seed)
    numeric = numerical_gradient(f, x, eps=eps, indices=indices)
    picked = tuple(np.array(axis) for axis in zip(*indices)) if indices else ()
    return relative_error(analytic[picked], numeric[picked])


def report_gradient_errors(errors: dict, *, tolerance: float = 1e-6) -> float:
    """Print each gradient's relative error (from :func:`grad_check`), marked ok or too large
    against ``tolerance``; keep the largest as a headline figure and return it."""
    from .headlines import record

    for label, error in errors.items():
        print(f"{label:30s} relative error {error:.1e}  {'ok' if error < tolerance else 'TOO LARGE: check this gradient'}")
    largest = max(errors.values())
    record("largest relative error of the backward pass", largest)
    return largest


def assert_shape(actual, expected_shape, name: str = "the result") -> None:
    """Fail with a sentence when ``actual`` is not an array of ``expected_shape``."""
    shape = getattr(actual, "shape", None)
    if shape is None:
        raise AssertionError(f"{name} should be a NumPy array of shape {tuple(expected_shape)}; got {type(actual).__name__}.")
    if tuple(shape) != tuple(expected_shape):
        raise AssertionError(f"{name} should have shape {tuple(expected_shape)}; got {tuple(shape)}.")


def assert_close(actual, expected, *, atol: float = 1e-6, rtol: float = 1e-6, name: str = "the result") -> None:
    """Fail with the shape or the largest difference (and where it is) when the arrays differ."""
    expected = np.asarray(expected)
    assert_shape(actual, expected.shape, name)
    actual = np.asarray(actual)
    if not np.all(np.isfinite(actual)):
        raise AssertionError(f"{name} contains NaN or infinite values.")
    difference = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    allowed = atol + rtol * np.abs(expected.astype(np.float64))
    if np.any(difference > allowed):
        worst = np.unravel_index(int(np.argmax(difference - allowed)), difference.shape)
        raise AssertionError(
            f"{name} differs from the expected values: at index {tuple(int(i) for i in worst)} "
            f"expected {float(expected[worst]):.6g}, got {float(actual[worst]):.6g} "
            f"(largest difference {float(difference.max()):.3g}, tolerance {atol:g} + {rtol:g}*|expected|)."
        )


def python_lines(function: Callable, *args, **kwargs) -> int:
    """How many Python lines ``function(*args, **kwargs)`` runs, its callees' included.

    A count, not a time: it does not change when the machine is busy. Code that NumPy runs in C
    counts nothing, so a vectorised function runs about as many lines on a large input as on a
    small one, and a Python loop over the elements runs more with every element.
    """
    import sys

    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame, event, arg):
        nonlocal count
        count += 1
        return local

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        function(*args, **kwargs)
    finally:
        sys.settrace(previous)
    return count


def assert_vectorised(function: Callable, small: tuple, large: tuple, *, growth: float, name: str = "your function") -> None:
    """Fail when ``function`` runs many more Python lines on the ``large`` arguments than on the
    ``small`` ones, which hold ``growth`` times as many output values: the sign of a Python loop over
    them. The allowance (twice the small count, plus 100) is wide, and a loop over the values still
    runs far more."""
    few = python_lines(function, *small)
    many = python_lines(function, *large)
    allowed = 2 * few + 100
    if many > allowed:
        raise AssertionError(
            f"{name} ran {few:,} Python lines on the small input and {many:,} on one with {growth:g} times as "
            f"many output values (at most {allowed:,} allowed). A vectorised version runs about as many lines on "
            "both; this looks like a Python loop over images, positions or channels, or a call to a loop version."
        )


def peak_bytes(function: Callable, *args, **kwargs) -> int:
    """The most memory ``function(*args, **kwargs)`` held at once beyond what existed before, in bytes."""
    import tracemalloc

    tracemalloc.start()
    try:
        function(*args, **kwargs)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def assert_peak_bytes(used: int, allowed: int, *, name: str = "your function", budget: str = "", instead: str = "") -> None:
    """Fail with both numbers when ``used`` bytes exceed ``allowed``; ``budget`` says what the
    allowance is made of, ``instead`` what to do about it."""
    if used > allowed:
        raise AssertionError(
            f"{name} held {used:,} bytes at its peak; {allowed:,} bytes are allowed"
            + (f" ({budget})" if budget else "") + "." + (f" {instead}" if instead else "")
        )


def shapes_handed(namespace: dict, name: str, call: Callable) -> list[tuple]:
    """The shape of the first argument of every call of ``namespace[name]`` (a function of your notebook,
    ``globals()``) while ``call()`` runs: what your code hands ``generate_kernel``, for instance."""
    own = namespace.get(name)
    if not callable(own):
        call()
        return []
    handed = []

    def recording(*args, **kwargs):
        handed.append(tuple(np.shape(args[0] if args else kwargs.get("x", ()))))
        return own(*args, **kwargs)

    namespace[name] = recording
    try:
        call()
    finally:
        namespace[name] = own
    return handed


def needs(**results: str) -> None:
    """Stop a notebook cell with one sentence when results it uses are missing.

    Each keyword names a variable that an earlier cell computes with the student's answer to an
    exercise, and gives that exercise: ``needs(layer_kernels="Exercise 1")``. When that cell
    stopped (the exercise is unfinished) or never ran, the variable is not among the calling
    notebook's globals, and the cell stops naming the first such exercise, in the order given,
    instead of failing with a ``NameError`` that does not say what to finish.
    """
    import inspect

    from .exercises import ExerciseUnfinished

    caller = inspect.currentframe().f_back
    namespace = caller.f_globals if caller is not None else {}
    for name, exercise in results.items():
        if name not in namespace:
            raise ExerciseUnfinished(
                f"Finish {exercise} first: this cell uses `{name}`, which a cell above computes "
                "from it (run that cell again once the exercise is done)."
            )
