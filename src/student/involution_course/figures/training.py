"""Figures: training and evaluating classifiers (learning curves, confusion matrix, mistakes)."""

from __future__ import annotations

import numpy as np

__all__ = ["learning_curves", "confusion_matrix_figure", "per_class_accuracy_figure", "misclassified_grid",
           "cost_accuracy_rows", "cost_accuracy_figure"]


def learning_curves(histories: dict[str, dict[str, list[float]]]):
    """Loss (left) and accuracy (right) per epoch; one colour per model, training solid and
    validation dashed. ``histories`` maps a model's name to its Keras history dict."""
    import matplotlib.pyplot as plt

    if not histories:
        raise ValueError("learning_curves needs at least one model's history.")
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, history) in enumerate(histories.items()):
        colour = colours[index % len(colours)]
        for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
            epochs = np.arange(1, len(history[metric]) + 1)
            axis.plot(epochs, history[metric], color=colour, marker="o", markersize=3, label=f"{name} (train)")
            if f"val_{metric}" in history:
                axis.plot(epochs, history[f"val_{metric}"], color=colour, linestyle="--", marker="o",
                          markersize=3, label=f"{name} (validation)")
    for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.set_title(metric.capitalize())
        axis.grid(alpha=0.3)
    accuracy_axis.legend(fontsize="small", loc="best")
    return figure


def confusion_matrix_figure(confusion, class_names, title: str = "Confusion matrix"):
    """Rows: true class, columns: predicted class; cells coloured by the share of the row
    and labelled with the count."""
    import matplotlib.pyplot as plt

    confusion = np.asarray(confusion)
    n = len(class_names)
    if confusion.shape != (n, n):
        raise ValueError(f"confusion must be {n}x{n} for {n} class names, got shape {confusion.shape}.")
    totals = confusion.sum(axis=1, keepdims=True)
    shares = confusion / np.where(totals > 0, totals, 1)
    figure, axis = plt.subplots(figsize=(7, 6), layout="constrained")
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            axis.text(j, i, str(int(confusion[i, j])), ha="center", va="center", fontsize=8,
                      color="white" if shares[i, j] > 0.5 else "black")
    axis.set_xticks(range(n), class_names, rotation=45, ha="right")
    axis.set_yticks(range(n), class_names)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    axis.set_title(title)
    figure.colorbar(image, ax=axis, label="share of the true class")
    return figure


def per_class_accuracy_figure(accuracies: dict[str, np.ndarray], class_names):
    """Grouped bars: for each class, the share each model classifies correctly."""
    import matplotlib.pyplot as plt

    if not accuracies:
        raise ValueError("per_class_accuracy_figure needs at least one model's accuracies.")
    n = len(class_names)
    width = 0.8 / len(accuracies)
    figure, axis = plt.subplots(figsize=(11, 4), layout="constrained")
    for index, (name, values) in enumerate(accuracies.items()):
        values = np.asarray(values, dtype=float)
        if values.shape != (n,):
            raise ValueError(f"{name}: expected {n} per-class accuracies, got shape {values.shape}.")
        axis.bar(np.arange(n) + (index - (len(accuracies) - 1) / 2) * width, values, width, label=name)
    axis.set_xticks(range(n), class_names, rotation=30, ha="right")
    axis.set_ylim(0, 1)
    axis.set_ylabel("accuracy on the class")
    axis.legend(fontsize="small", ncols=min(4, len(accuracies)))
    axis.grid(axis="y", alpha=0.3)
    return figure


def misclassified_grid(images, true_labels, predicted_labels, class_names, columns: int = 8):
    """Images with their true and predicted class (uint8 or [0, 1] floats, shape (N, H, W, 3))."""
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    true_labels, predicted_labels = np.ravel(true_labels), np.ravel(predicted_labels)
    if not (len(images) == len(true_labels) == len(predicted_labels)):
        raise ValueError(
            f"Give as many labels as images: {len(images)} images, {len(true_labels)} true and "
            f"{len(predicted_labels)} predicted labels."
        )
    if len(images) == 0:
        raise ValueError("No images to show: the model made no mistakes on these images.")
    rows = int(np.ceil(len(images) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.9 * rows), layout="constrained",
                                squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, true, predicted in zip(axes.flat, images, true_labels, predicted_labels):
        axis.imshow(image if image.dtype == np.uint8 else np.clip(image, 0, 1))
        axis.set_title(f"{class_names[true]}\n→ {class_names[predicted]}", fontsize=8, color="firebrick")
    return figure


def _setting(row) -> tuple:
    from involution_course.models import design_kernel_size

    return (row["model"], row.get("width"), row.get("kernel_size") or design_kernel_size(row["model"]))


def _recipe_tag(row) -> str | None:
    """``"example"`` for the Keras example's recipe, ``None`` for the course's modern recipe (the
    fair involution network's choice), ``"fair conv's own"`` for another modern recipe that tuning
    chose for that model."""
    recipe = row.get("recipe")
    if recipe == "example":
        return "example"
    if not isinstance(recipe, dict):
        return None
    from involution_course.recipe import Recipe

    course = Recipe().as_dict()
    if all(recipe.get(name, value) == value for name, value in course.items() if name not in ("epochs", "batch_size")):
        return None
    return f"{row['model'].replace('_', ' ')}'s own"


def _setting_label(model, width, kernel_size, recipe=None) -> str:
    from involution_course.models import design_kernel_size

    label = model.replace("_", " ")
    if width:
        label += f" w{width}"
    if kernel_size != design_kernel_size(model):
        label += f" K={kernel_size}"
    if recipe:
        label += f" ({recipe} recipe)"
    return label


def cost_accuracy_rows(accuracy_payloads, throughput_payloads=None) -> list[dict]:
    """One row per model setting and recipe from the experiment's results files (loaded JSON):
    mean test accuracy over the runs of ``accuracy_payloads`` (e.g. compare and sweep; runs of the
    example's recipe, as in baseline, make rows of their own), every run's accuracy and seed,
    parameters, multiply-adds, and the images per second of each ``throughput_payloads`` entry, a
    dict ``{"gpu": payload, "cpu": payload}``."""
    groups: dict[tuple, list[dict]] = {}
    for payload in accuracy_payloads:
        for row in payload["runs"]:
            if row.get("accuracy") is not None:
                groups.setdefault((*_setting(row), _recipe_tag(row)), []).append(row)
    speeds = {}
    for device, payload in (throughput_payloads or {}).items():
        for row in payload["runs"]:
            speeds.setdefault(_setting(row), {})[device] = row["images_per_second"]
    rows = []
    for key, runs in sorted(groups.items(), key=lambda item: str(item[0])):
        runs = sorted(runs, key=lambda r: r.get("seed", 0))
        accuracies = [r["accuracy"] for r in runs]
        rows.append({
            "label": _setting_label(*key), "model": key[0], "width": key[1], "kernel_size": key[2], "recipe": key[3],
            "accuracy": float(np.mean(accuracies)), "accuracy_std": float(np.std(accuracies, ddof=1)) if len(runs) > 1 else 0.0,
            "runs": len(runs), "accuracies": accuracies, "seeds": [r.get("seed") for r in runs],
            "phases": sorted({r.get("phase") or "" for r in runs}),
            "trainable_parameters": runs[0]["trainable_parameters"], "multiply_adds": runs[0]["multiply_adds"],
            **{f"images_per_second_{device}": speed for device, speed in speeds.get(key[:3], {}).items()},
        })
    return rows


def cost_accuracy_figure(rows: list[dict]):
    """Test accuracy against trainable parameters, multiply-adds per image and training
    throughput (images per second; circles GPU, open squares CPU; open circles the example's
    recipe). ``rows`` come from
    :func:`cost_accuracy_rows` (``label``, ``model``, ``accuracy``, optional ``accuracy_std``,
    ``trainable_parameters``, ``multiply_adds``, ``images_per_second_gpu``/``_cpu``)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    if not rows:
        raise ValueError("cost_accuracy_figure needs at least one row of results.")
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5), layout="constrained", sharey=True)
    colours = {"fair_involution": "C0", "fair_conv": "C1", "example_cnn": "C2", "example_involution": "C3"}
    panels = (("trainable_parameters", "trainable parameters (log scale)"),
              ("multiply_adds", "multiply-adds per image (log scale)"),
              ("images_per_second", "training images per second (log scale)"))
    for axis, (key, title) in zip(axes, panels):
        for row in rows:
            colour = colours.get(row["model"], "C7")
            filled = "none" if row.get("recipe") else colour  # the example's recipe: open markers
            devices = (("gpu", "o", filled), ("cpu", "s", "none")) if key == "images_per_second" else ((None, "o", filled),)
            for device, marker, face in devices:
                x = row.get(f"{key}_{device}") if device else row.get(key)
                if x is None:
                    continue
                axis.errorbar(x, row["accuracy"], yerr=row.get("accuracy_std") or None, fmt=marker, color=colour,
                              markerfacecolor=face, capsize=3)
                axis.annotate(row["label"] + (f" ({device})" if device else ""), (x, row["accuracy"]),
                              textcoords="offset points", xytext=(4, 4), fontsize="x-small")
        axis.set_xlabel(title)
        axis.grid(alpha=0.3)
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on a short decade
    axes[0].set_ylabel("test accuracy")
    figure.suptitle("Accuracy against cost (mean over seeds; error bars: standard deviation; "
                    "open circles: the example's recipe)")
    return figure
