"""Training as the Keras example does it, with a progress bar and a stopwatch per epoch.

The example compiles with Adam (learning rate 1e-3), sparse categorical cross-entropy on
logits and accuracy, and validates on the test set; :func:`fit` does the same and returns a
:class:`TrainingRun` with the history and the seconds each epoch took. :func:`save_runs`
writes the models to ``build/models/<name>.keras`` with ``results.json`` beside them, where
notebook 05 finds them.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .paths import build_directory
from .progress import progress_bar

RESULTS_FILE = "results.json"
# Larger profiles train longer; a run never overwrites the models of a larger one.
PROFILE_RANK = {"grading": 0, "quick": 1, "full": 2}


@dataclass
class TrainingRun:
    """One trained model: its history (lists per metric, per epoch) and epoch times."""

    name: str
    model: object
    history: dict[str, list[float]]
    epoch_seconds: list[float] = field(default_factory=list)

    @property
    def seconds_per_epoch(self) -> float:
        """Median epoch time, leaving out the first epoch (which also compiles) when there are more."""
        times = self.epoch_seconds[1:] if len(self.epoch_seconds) > 1 else self.epoch_seconds
        return float(statistics.median(times)) if times else float("nan")

    @property
    def final_val_accuracy(self) -> float:
        return float(self.history["val_accuracy"][-1])


def scale_images(images) -> np.ndarray:
    """uint8 pixels to float32 in [0, 1], as the example does."""
    return np.asarray(images, dtype=np.float32) / 255.0


def compile_like_example(model, learning_rate: float = 1e-3):
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _progress_callback(total_steps: int, description: str):
    import keras

    class ProgressAndClock(keras.callbacks.Callback):
        """One bar for the whole run, and the wall-clock seconds of each epoch."""

        def __init__(self):
            super().__init__()
            self.epoch_seconds: list[float] = []
            self.bar = None

        def on_train_begin(self, logs=None):
            self.bar = progress_bar(total=total_steps, desc=description, unit="batch", leave=False)

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(1)

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_seconds.append(time.perf_counter() - self._start)
            logs = logs or {}
            self.bar.set_postfix(
                epoch=epoch + 1,
                acc=f"{logs.get('accuracy', float('nan')):.3f}",
                val_acc=f"{logs.get('val_accuracy', float('nan')):.3f}",
            )

        def on_train_end(self, logs=None):
            self.bar.close()

    return ProgressAndClock()


def fit(model, train, validation, *, epochs: int, batch_size: int, name: str | None = None,
        learning_rate: float = 1e-3) -> TrainingRun:
    """Compile ``model`` as the example does and train it; ``train`` and ``validation`` are
    ``(images, labels)`` pairs with images already scaled to [0, 1]."""
    x_train, y_train = train
    if len(x_train) == 0:
        raise ValueError("The training set is empty: load the data before training.")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be at least 1, got {epochs} and {batch_size}.")
    name = name or model.name
    compile_like_example(model, learning_rate)
    steps = epochs * int(np.ceil(len(x_train) / batch_size))
    clock = _progress_callback(steps, name)
    history = model.fit(
        x_train, y_train, batch_size=batch_size, epochs=epochs,
        validation_data=validation, callbacks=[clock], verbose=0,
    )
    metrics = {key: [float(v) for v in values] for key, values in history.history.items()}
    return TrainingRun(name, model, metrics, clock.epoch_seconds)


def device_description() -> str:
    """The Keras backend and the device it computes on, e.g. ``jax on gpu`` or ``tensorflow on cpu``."""
    import keras

    backend = keras.backend.backend()
    device = "cpu"
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0].platform
        elif backend == "tensorflow":
            import tensorflow as tf

            device = "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
        elif backend == "torch":
            import torch

            device = "gpu" if torch.cuda.is_available() else "cpu"
    except Exception:  # noqa: BLE001 - a description must never stop a run
        device = "unknown device"
    where = f"{platform.processor() or platform.machine()}" if device == "cpu" else ""
    return f"{backend} on {device}{(' (' + where + ')') if where else ''}"


# ----------------------------------------------------------------------------- saving


def models_directory(profile_name: str) -> Path:
    """``build/models/``, unless it holds the results of a larger profile than ``profile_name``;
    then ``build/models/<profile_name>/``, so that a short run keeps a long run's models."""
    base = build_directory() / "models"
    existing = base / RESULTS_FILE
    if existing.exists():
        try:
            saved_profile = json.loads(existing.read_text())["profile"]
        except (ValueError, KeyError, TypeError):
            saved_profile = None
        if PROFILE_RANK.get(saved_profile, -1) > PROFILE_RANK.get(profile_name, -1):
            return base / profile_name
    return base


def save_runs(runs: list[TrainingRun], rows: list[dict], profile_name: str) -> Path:
    """Save each run's model as ``<name>.keras`` and the results table as ``results.json``;
    returns the folder."""
    folder = models_directory(profile_name)
    folder.mkdir(parents=True, exist_ok=True)
    for run in runs:
        run.model.save(folder / f"{run.name}.keras")
    payload = {
        "profile": profile_name,
        "rows": rows,
        "histories": {run.name: run.history for run in runs},
    }
    (folder / RESULTS_FILE).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return folder


def load_results(folder: Path | None = None) -> dict:
    """What :func:`save_runs` wrote (``build/models/results.json`` by default)."""
    path = (folder or build_directory() / "models") / RESULTS_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"No saved results at {path}. Run notebook 04-cifar10-comparison first; it trains and saves the models."
        )
    return json.loads(path.read_text())
