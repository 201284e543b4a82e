"""Confusion matrix and per-class accuracy (the instructor's reference answers of notebook 04's
Exercise 6), and the student package's accuracy, mistakes, multiply-adds and results table."""

from __future__ import annotations

import numpy as np
import pytest

from involution_course import evaluation
from involution_instructor.reference import evaluation as reference


def test_confusion_matrix_counts_pairs_with_true_classes_in_rows():
    true = np.array([[0], [0], [1], [2], [2], [2]], dtype=np.uint8)  # CIFAR-10's (N, 1) labels
    pred = np.array([0, 1, 1, 2, 0, 2])
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    got = reference.confusion_matrix(true, pred, num_classes=3)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int64


def test_confusion_matrix_agrees_with_a_loop_on_random_labels():
    rng = np.random.default_rng(0)
    true, pred = rng.integers(0, 10, 1000), rng.integers(0, 10, 1000)
    expected = np.zeros((10, 10), dtype=int)
    for t, p in zip(true, pred):
        expected[t, p] += 1
    np.testing.assert_array_equal(reference.confusion_matrix(true, pred), expected)
    assert evaluation.accuracy(true, pred) == pytest.approx(np.trace(expected) / 1000)


def test_per_class_accuracy_is_the_diagonal_over_row_sums():
    accuracies = reference.per_class_accuracy(np.array([[3, 1, 0], [0, 0, 0], [1, 1, 2]]))
    np.testing.assert_allclose(accuracies[[0, 2]], [0.75, 0.5])
    assert np.isnan(accuracies[1])


@pytest.mark.parametrize(
    ("true", "pred", "message"),
    [([0, 1], [0], "differ in length"), ([0, 10], [0, 1], "outside"), ([0.5, 1.0], [0, 1], "integer")],
)
def test_bad_labels_are_explained(true, pred, message):
    with pytest.raises(ValueError, match=message):
        reference.confusion_matrix(np.array(true), np.array(pred), num_classes=10)


def test_the_student_package_holds_no_answer_of_exercise_6():
    assert not hasattr(evaluation, "confusion_matrix")
    assert not hasattr(evaluation, "per_class_accuracy")


@pytest.mark.parametrize(("true", "pred", "message"), [([0, 1], [0], "differ in length"), ([[0, 1]], [0], "vector")])
def test_accuracy_explains_bad_labels(true, pred, message):
    with pytest.raises(ValueError, match=message):
        evaluation.accuracy(np.array(true), np.array(pred))


def test_misclassified_lists_wrong_predictions_in_order():
    np.testing.assert_array_equal(evaluation.misclassified([1, 2, 3, 4], [1, 0, 3, 0]), [1, 3])
    np.testing.assert_array_equal(evaluation.misclassified([1, 2, 3, 4], [0, 0, 0, 0], limit=2), [0, 1])


def test_multiply_adds_of_a_strided_involution_and_dense_layer():
    import keras

    from involution_course.layers import Involution

    model = keras.Sequential([
        keras.Input((8, 8, 16)),
        Involution(kernel_size=3, stride=2, groups=4, reduction_ratio=4),
        keras.layers.Flatten(),
        keras.layers.Dense(5),
    ])
    pixels = 4 * 4
    generate = pixels * (16 * 4 + 4 * 9 * 4)
    apply = pixels * 16 * 9
    assert evaluation.multiply_adds(model) == generate + apply + 256 * 5


def test_markdown_table_shows_missing_values_as_dashes():
    rows = [
        {"model": "a", "trainable_parameters": 1234, "multiply_adds": 5, "test_accuracy": 0.71234,
         "seconds_per_epoch": 2.25, "device": "jax on gpu", "profile": "full"},
        {"model": "b", "trainable_parameters": 10, "multiply_adds": 5, "test_accuracy": None,
         "seconds_per_epoch": None, "device": "cpu", "profile": "grading"},
    ]
    lines = evaluation.markdown_table(rows).splitlines()
    assert len(lines) == 4
    assert lines[2] == "| a | 1,234 | 5 | 0.7123 | 2.2 | jax on gpu | full |"
    assert lines[3] == "| b | 10 | 5 | - | - | cpu | grading |"
