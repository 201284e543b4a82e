"""The gradient check and the assertion helpers that exercises rely on."""

from __future__ import annotations

import numpy as np
import pytest

from involution_course import checks


def test_numerical_gradient_of_a_cubic_is_its_derivative():
    x = np.array([[0.5, -1.0], [2.0, 3.0]])
    grad = checks.numerical_gradient(lambda v: float(np.sum(v**3)), x, eps=1e-5)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-8)


def test_numerical_gradient_leaves_the_input_unchanged():
    x = np.linspace(-1.0, 1.0, 6)
    before = x.copy()
    checks.numerical_gradient(lambda v: float(np.sum(np.sin(v))), x)
    np.testing.assert_array_equal(x, before)


def test_grad_check_accepts_a_right_gradient_and_rejects_a_wrong_one():
    x = np.random.default_rng(0).normal(size=(3, 4))
    weights = np.random.default_rng(1).normal(size=(3, 4))

    def loss(v):
        return float(np.sum(weights * np.tanh(v)))

    right = weights * (1 - np.tanh(x) ** 2)
    assert checks.grad_check(loss, x, right) < 1e-8
    wrong = right.copy()
    wrong[1, 2] += 0.1
    assert checks.grad_check(loss, x, wrong) > 1e-3


def test_grad_check_with_samples_checks_only_some_entries():
    x = np.arange(1.0, 101.0)
    calls = []

    def loss(v):
        calls.append(1)
        return float(np.sum(v**2))

    assert checks.grad_check(loss, x, 2 * x, samples=5) < 1e-7
    assert len(calls) == 10  # two evaluations per checked entry


def test_grad_check_is_not_fooled_by_entries_whose_gradient_is_zero():
    """Kernel taps that only meet padding have a zero gradient; rounding noise there must not fail the check."""
    x = np.random.default_rng(2).normal(size=50)
    mask = np.zeros(50)
    mask[:25] = 1.0

    def loss(v):
        return float(np.sum(mask * v) * 1e3)

    assert checks.grad_check(loss, x, mask * 1e3) < 1e-9


def test_grad_check_needs_float64():
    x = np.ones(3, dtype=np.float32)
    with pytest.raises(ValueError, match="float64"):
        checks.grad_check(lambda v: float(np.sum(v)), x, np.ones(3))


def test_grad_check_names_a_gradient_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"gradient with respect to kernel must have kernel's shape \(2, 3\)"):
        checks.grad_check(lambda v: float(np.sum(v)), np.ones((2, 3)), np.ones(6), name="kernel")


def test_relative_error_is_zero_for_equal_arrays_and_one_for_opposite_ones():
    a = np.array([1.0, -2.0, 3.0])
    assert checks.relative_error(a, a) == 0.0
    assert checks.relative_error(a, -a) == pytest.approx(1.0)
    assert checks.relative_error(np.zeros(3), np.zeros(3)) == 0.0


def test_assert_close_passes_within_tolerance():
    checks.assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), atol=1e-8)


def test_assert_close_says_where_and_by_how_much():
    expected = np.zeros((2, 3))
    actual = expected.copy()
    actual[1, 2] = 0.5
    with pytest.raises(AssertionError) as failure:
        checks.assert_close(actual, expected, atol=1e-6, name="your kernel")
    message = str(failure.value)
    assert "your kernel" in message and "(1, 2)" in message and "expected 0, got 0.5" in message


def test_assert_close_reports_shapes_and_nan():
    with pytest.raises(AssertionError, match=r"your output should have shape \(2, 2\); got \(4,\)"):
        checks.assert_close(np.zeros(4), np.zeros((2, 2)), name="your output")
    with pytest.raises(AssertionError, match="NaN"):
        checks.assert_close(np.array([np.nan]), np.array([0.0]))


def test_assert_shape_rejects_something_that_is_not_an_array():
    with pytest.raises(AssertionError, match=r"should be a NumPy array of shape \(3,\); got NoneType"):
        checks.assert_shape(None, (3,))
