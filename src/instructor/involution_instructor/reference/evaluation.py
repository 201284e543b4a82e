"""Reference answers of notebook 04's Exercise 6: the confusion matrix and per-class accuracy.

A confusion matrix has the true class in rows and the predicted class in columns; per-class
accuracy is the share of each true class predicted correctly (the diagonal over the row sums).
"""

from __future__ import annotations

import numpy as np

from involution_course.evaluation import class_indices


def confusion_matrix(y_true, y_pred, num_classes: int = 10) -> np.ndarray:
    """Counts ``C[t, p]`` of test images of true class ``t`` predicted as ``p``; int64, shape (n, n)."""
    true, pred = class_indices(y_true, "y_true"), class_indices(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {true.shape[0]} and {pred.shape[0]}.")
    for name, array in (("y_true", true), ("y_pred", pred)):
        if array.size and (array.min() < 0 or array.max() >= num_classes):
            raise ValueError(f"{name} holds class indices outside 0..{num_classes - 1}.")
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (true, pred), 1)
    return counts


def per_class_accuracy(confusion) -> np.ndarray:
    """The diagonal of ``confusion`` over its row sums; NaN for a class absent from the test set."""
    confusion = np.asarray(confusion, dtype=np.float64)
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(confusion) / np.where(totals > 0, totals, 1), np.nan)
