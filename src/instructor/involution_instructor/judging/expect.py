"""Grader-side assertions on observed values: each failure is one sentence for the student."""

from __future__ import annotations

import numpy as np


def value(outcome, what: str):
    """The value of one observed call, or an AssertionError saying what went wrong instead."""
    if not isinstance(outcome, dict):
        raise AssertionError(f"{what}: no result was observed")
    if "raised" in outcome:
        raise AssertionError(f"{what} raised {outcome['raised']}: {outcome.get('message', '')}"[:600])
    if "value" not in outcome:
        raise AssertionError(f"{what}: no result was observed")
    found = outcome["value"]
    if isinstance(found, dict) and set(found) == {"__object__"}:
        raise AssertionError(f"{what} returned a {found['__object__']}, which is not numbers")
    return found


def number(found, what: str) -> float:
    """``found`` as one real number (a Python number or an array of one value)."""
    if isinstance(found, bool) or not isinstance(found, (int, float, np.ndarray)):
        raise AssertionError(f"{what}: expected a number, got {_shown(found)}")
    if isinstance(found, np.ndarray):
        if found.size != 1 or found.dtype.kind not in "iuf":
            raise AssertionError(f"{what}: expected one number, got an array of shape {found.shape}")
        found = found.reshape(())[()]
    return float(found)


def raised(outcome, error: str, what: str, mentions: tuple[str, ...] = ()) -> None:
    """The call raised ``error`` (by name, or a subclass the kernel reported by that name)."""
    if not isinstance(outcome, dict) or "raised" not in outcome:
        raise AssertionError(f"{what} should raise a {error}")
    if outcome["raised"] != error:
        raise AssertionError(f"{what} should raise a {error}, not {outcome['raised']}: {outcome.get('message', '')}"[:600])
    message = str(outcome.get("message", ""))
    for needed in mentions:
        if needed not in message:
            raise AssertionError(f"{what}: the {error}'s message should mention {needed!r}: {message}"[:600])


def array(found, what: str, dtype_kinds: str = "biuf") -> np.ndarray:
    """``found`` as an array of numbers, or an AssertionError naming what it was."""
    if isinstance(found, dict) and set(found) == {"__object__"}:
        raise AssertionError(f"{what}: got a {found['__object__']}, not an array of numbers")
    if isinstance(found, (bool, int, float)) or found is None:
        found = np.asarray(found)
    if isinstance(found, (list, tuple)):
        try:
            found = np.asarray(found, dtype=float)
        except (TypeError, ValueError):
            raise AssertionError(f"{what}: got a {type(found).__name__} that is not an array of numbers") from None
    if not isinstance(found, np.ndarray) or found.dtype.kind not in dtype_kinds:
        raise AssertionError(f"{what}: got {type(found).__name__}, not an array of numbers")
    return found


def shape(found, expected: tuple, what: str) -> np.ndarray:
    got = array(found, what)
    if tuple(got.shape) != tuple(expected):
        raise AssertionError(f"{what}: expected shape {tuple(expected)}, got {tuple(got.shape)}")
    return got


def close(found, expected, what: str, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Same shape, and every value within ``atol + rtol * |expected|``."""
    expected = np.asarray(expected, dtype=float)
    got = shape(found, expected.shape, what).astype(float)
    if not np.all(np.isfinite(got) == np.isfinite(expected)):
        raise AssertionError(f"{what}: NaN or infinite values where none are expected")
    both = np.isfinite(expected)
    if not np.allclose(got[both], expected[both], atol=atol, rtol=rtol):
        error = float(np.max(np.abs(got[both] - expected[both])))
        raise AssertionError(f"{what}: your values differ from the expected ones by up to {error:.2e}")


def equal(found, expected, what: str) -> None:
    """Plain values (numbers, strings, lists, tuples, dicts) equal to ``expected``; a tuple and a list count alike."""
    if _plain(found) != _plain(expected):
        raise AssertionError(f"{what}: expected {expected!r}, got {_shown(found)}")


def _plain(value):
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _shown(value) -> str:
    if isinstance(value, dict) and set(value) == {"__object__"}:
        return f"a {value['__object__']}"
    text = repr(_plain(value))
    return text if len(text) < 200 else text[:200] + "..."
