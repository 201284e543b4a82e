"""Training as the Keras example does it, with a progress bar and a stopwatch per epoch.

The example compiles with Adam (learning rate 1e-3), sparse categorical cross-entropy on
logits and accuracy, and validates on the test set; :func:`fit` does the same and returns a
:class:`TrainingRun` with the history and the seconds each epoch took. :func:`save_runs`
writes the models to ``build/models/<name>.keras`` with ``results.json`` beside them, where
notebook 05 finds them.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .paths import build_directory
from .progress import progress_bar

# A notebook that evaluates several models traces a predict function for each; TensorFlow then
# warns about "retracing", which is expected here and only noise for a student.
logging.getLogger("tensorflow").setLevel(logging.ERROR)

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

    def preprocess(self, images) -> np.ndarray:
        """Images as this run's model expects them: scaled to [0, 1], as the example does."""
        return scale_images(images)


def scale_images(images) -> np.ndarray:
    """uint8 pixels to float32 in [0, 1], as the example does."""
    return np.asarray(images, dtype=np.float32) / 255.0


# Steps from which compiling an involution network with XLA repays its compilation on a CPU:
# the example's involution network spends about 4 s compiling and saves about 70 ms a step.
XLA_MIN_STEPS = 60


def xla_pays_off(model, steps: int) -> bool:
    """Whether ``fit`` should compile ``model`` with XLA where Keras' default would not.

    On a CPU-only machine Keras' ``jit_compile="auto"`` turns XLA off for TensorFlow, so ``fit``
    runs a ``tf.function``. There the course's involution layer runs several times faster under
    XLA (its per-tap sum fused), and networks built with it train faster for it: the example's
    involution network 2.1x, the fair one 1.16x (``benchmarks/bench_training.py``), while the
    convolution-only networks do not (the example CNN 0.97x, the fair CNN 0.73x). So: TensorFlow,
    no GPU, an ``Involution`` layer in the model, and enough steps to repay the compilation."""
    if steps < XLA_MIN_STEPS or not _tensorflow_on_cpu():  # on a GPU "auto" already compiles with XLA
        return False
    return any(type(layer).__name__ == "Involution" for layer in model._flatten_layers())


def _tensorflow_on_cpu() -> bool:
    """Whether Keras runs on TensorFlow on a machine without a GPU."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return not tf.config.list_physical_devices("GPU")


# Steps up to which a run is faster op by op than traced into a graph on a CPU, where tracing and
# optimising the training step costs one to two seconds: at 8 steps of 128 images the example CNN
# trains in 1.8 s eagerly against 2.1 s traced, its involution network in 1.7 s against 3.3 s; at
# 16 steps the graph wins (4.2 s against 5.3 s for the CNN).
EAGER_MAX_STEPS = 10


def eager_pays_off(steps: int) -> bool:
    """Whether ``fit`` should run its few steps eagerly: TensorFlow, no GPU, at most
    ``EAGER_MAX_STEPS`` steps (autograding's short runs; a longer run keeps its graph)."""
    return steps <= EAGER_MAX_STEPS and _tensorflow_on_cpu()


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
    if xla_pays_off(model, steps):
        model.jit_compile = True
    elif eager_pays_off(steps):
        model.run_eagerly = True
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


# ----------------------------------------------------------------------------- sanity checks


def initial_loss(model, images, labels, batch_size: int = 256) -> float:
    """Mean softmax cross-entropy of ``model``'s logits on ``images`` (already prepared for the
    model) before any training: about ln 10 = 2.303 for ten classes when the logits start small."""
    logits = np.asarray(model.predict(np.asarray(images), batch_size=batch_size, verbose=0), dtype=np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    indices = np.asarray(labels).reshape(-1).astype(np.int64)
    return float(-log_probabilities[np.arange(len(indices)), indices].mean())


def overfit(model, images, labels, *, epochs: int, batch_size: int, learning_rate: float = 1e-3,
            name: str = "overfit") -> TrainingRun:
    """Train ``model`` as the example does on a small set only, with no validation data: a network
    that can learn drives its training accuracy on a few hundred images to about 1."""
    return fit(model, (images, labels), None, epochs=epochs, batch_size=batch_size, name=name,
               learning_rate=learning_rate)


# ----------------------------------------------------------------------------- shipped checkpoints


@dataclass
class RecordedRun(TrainingRun):
    """A model holding a shipped checkpoint's weights (see :mod:`involution_course.checkpoints`):
    its history is the recorded one (seed 0), ``test_accuracy`` is measured here on this
    profile's test images, ``recorded_accuracy`` is what the full run measured on all 10,000."""

    checkpoint_profile: str = "full"
    test_accuracy: float = float("nan")
    recorded_accuracy: dict[str, float] = field(default_factory=dict)
    predicted: np.ndarray | None = None  # the predicted classes of the test images it was measured on

    def preprocess(self, images) -> np.ndarray:
        """Images prepared as this checkpoint's model expects them."""
        from . import checkpoints

        return checkpoints.preprocess(images, self.name, self.checkpoint_profile)

    @property
    def final_val_accuracy(self) -> float:
        return self.test_accuracy


def load_recorded(build, name: str, checkpoint_profile: str, test, *, report: bool = True) -> RecordedRun | None:
    """Build a model with ``build()`` (the student's builder), load the shipped weights of
    ``checkpoint_profile``-``name`` into it and measure its accuracy on ``test`` (raw images,
    labels). Where the checkpoint cannot be used (missing, corrupt, another architecture) it
    prints the one-sentence reason and returns ``None``, so the caller falls back to training."""
    from . import checkpoints

    model = build()
    x_test, y_test = test
    try:
        checkpoints.load_checkpoint(model, name, checkpoint_profile, verify=False)
        # One pass for the probe and the test images: every batch of the same shape, traced once.
        probe = checkpoints.probe_inputs()
        logits = _predict_in_full_batches(model, np.concatenate(
            [probe, checkpoints.preprocess(x_test, name, checkpoint_profile)]))
        checkpoints.verify_outputs(logits[:len(probe)], name, checkpoint_profile)
    except checkpoints.CheckpointError as error:
        if report:
            print(f"{name}: {error} Using the live run instead.")
        return None
    entry = checkpoints.checkpoint_entry(name, checkpoint_profile)
    predicted = np.argmax(logits[len(probe):], axis=-1)
    accuracy = float(np.mean(predicted == np.asarray(y_test).reshape(-1)))
    history = checkpoints.histories(name, checkpoint_profile).get(str(entry["seed"]), {})
    return RecordedRun(name, model, history, [], checkpoint_profile=checkpoint_profile, test_accuracy=accuracy,
                       recorded_accuracy=dict(entry.get("test_accuracy", {})), predicted=predicted)


def _predict_in_full_batches(model, inputs, batch_size: int = 256) -> np.ndarray:
    """``model.predict`` with the last batch padded to full size, so that a predict function is
    traced for one batch shape only (each new shape costs a trace, and TensorFlow warns)."""
    batch_size = min(batch_size, len(inputs))
    missing = -len(inputs) % batch_size
    padded = np.concatenate([inputs, np.zeros((missing, *inputs.shape[1:]), inputs.dtype)]) if missing else inputs
    return np.asarray(model.predict(padded, batch_size=batch_size, verbose=0))[:len(inputs)]


def predicted_classes(run: TrainingRun, images) -> np.ndarray:
    """The classes ``run``'s model predicts for raw ``images``, prepared as the model expects
    (a :class:`RecordedRun` reuses the predictions it was measured with)."""
    if getattr(run, "predicted", None) is not None and len(run.predicted) == len(images):
        return run.predicted
    return np.argmax(_predict_in_full_batches(run.model, run.preprocess(images)), axis=-1)


# ----------------------------------------------------------------------------- recorded results in words


def mean_and_spread(row: dict) -> str:
    """``0.8375 ± 0.0034 over 2 seeds: 0.8399, 0.8351`` or ``0.8485, one seed`` for a row of
    :func:`involution_course.figures.cost_accuracy_rows`."""
    runs = row["runs"]
    every = ", ".join(f"{value:.4f}" for value in row.get("accuracies", []))
    if runs > 1:
        return f"{row['accuracy']:.4f} ± {row['accuracy_std']:.4f} over {runs} seeds: {every}"
    return f"{row['accuracy']:.4f}, one seed"


def find_row(rows: list[dict], model: str, *, width: int | None = None, kernel_size: int | None = None,
             recipe: str | None = None) -> dict:
    """The row of ``model`` (at ``width`` when given, else the width compared rather than swept;
    ``kernel_size``, by default the design's; ``recipe``) among ``rows``."""
    from involution_course.models import design_kernel_size

    kernel_size = kernel_size or design_kernel_size(model)
    found = [row for row in rows if row["model"] == model and (row.get("kernel_size") or design_kernel_size(model)) == kernel_size
             and row.get("recipe") == recipe and (width is None or row.get("width") == width)]
    if width is None and len(found) > 1:  # a sweep's other widths: the compared setting is meant
        found = [row for row in found if "sweep" not in row.get("phases", ())]
    if len(found) != 1:
        raise ValueError(f"expected one recorded row of {model} (width {width}, K={kernel_size}, recipe {recipe}), "
                         f"found {len(found)}.")
    return found[0]


def _name(row: dict) -> str:
    return row.get("label", row["model"]).replace("_", " ")


def _ratio_words(a: float, b: float) -> str:
    """``8% more``, ``3% fewer``, ``24.4 times as many``, ``about the same``: a against b."""
    if a >= 2 * b:
        return f"{a / b:.1f} times as many"
    if b >= 2 * a:
        return f"{b / a:.1f} times fewer"
    percent = abs(a / b - 1) * 100
    return f"{percent:.0f}% {'more' if a > b else 'fewer'}" if percent >= 0.5 else "about the same"


def compare_sentence(rows: list[dict], first: str = "fair_involution", second: str = "fair_conv", *,
                     recipe: str | None = None, first_kernel_size: int | None = None) -> str:
    """Sentences from recorded rows: which of two models reached the higher mean test accuracy,
    by how many points, at what cost (parameters, multiply-adds), and whether the gap is larger
    than the seeds' spread (``first`` at ``first_kernel_size``, by default its design's)."""
    return pair_sentence(find_row(rows, first, recipe=recipe, kernel_size=first_kernel_size),
                         find_row(rows, second, recipe=recipe))


def pair_sentence(a: dict, b: dict) -> str:
    """Which of two recorded rows reached the higher mean test accuracy, by how many points, at what
    cost (parameters, multiply-adds), and whether the gap is larger than the seeds' spread."""
    winner, loser = (a, b) if a["accuracy"] >= b["accuracy"] else (b, a)
    gap = (winner["accuracy"] - loser["accuracy"]) * 100
    spread = max(a.get("accuracy_std") or 0.0, b.get("accuracy_std") or 0.0) * 100
    if min(a["runs"], b["runs"]) < 2:
        caution = ("With a single seed on one side, that model's spread between seeds is unknown, "
                   "so a gap this size is weak evidence")
    elif gap <= 2 * spread:
        caution = (f"The gap is within twice the larger standard deviation over seeds ({spread:.1f} points): "
                   "no clear winner")
    else:
        caution = f"The gap is more than twice the larger standard deviation over seeds ({spread:.1f} points)"
    first = _name(winner)[:1].upper() + _name(winner)[1:]  # str.capitalize would lower "K=3"
    return (f"{first}: {mean_and_spread(winner)}; {_name(loser)}: {mean_and_spread(loser)}. "
            f"{first} is ahead by {gap:.1f} points of test accuracy, with "
            f"{_ratio_words(winner['trainable_parameters'], loser['trainable_parameters'])} trainable parameters "
            f"({winner['trainable_parameters']:,} against {loser['trainable_parameters']:,}) and "
            f"{_ratio_words(winner['multiply_adds'], loser['multiply_adds'])} multiply-adds per image "
            f"({winner['multiply_adds'] / 1e6:.2f} M against {loser['multiply_adds'] / 1e6:.2f} M). {caution}.")


def target_sentence(row: dict, target: float = 0.85, seeds: int = 3) -> str:
    """Whether a recorded row meets a target mean test accuracy over at least ``seeds`` seeds."""
    reached = row["accuracy"] >= target
    enough = row["runs"] >= seeds
    verdict = "met" if reached and enough else "NOT met"
    reasons = []
    if not reached:
        reasons.append(f"the mean is {(target - row['accuracy']) * 100:.1f} points below {target:.2f}")
    if not enough:
        reasons.append(f"only {row['runs']} of the {seeds} seeds were run")
    because = f" ({'; '.join(reasons)})" if reasons else ""
    return (f"Target: a mean test accuracy of at least {target:.2f} over {seeds} seeds for {_name(row)}. "
            f"Recorded: {mean_and_spread(row)}. The target is {verdict}{because}.")


def equal_cost_sentence(rows: list[dict], cost: str, *, model: str = "fair_involution",
                        other: str = "fair_conv", tolerance: float = 0.1, recipe: str | None = None) -> str:
    """The pairs of ``model`` and ``other`` settings (trained with ``recipe``) whose ``cost``
    ("trainable_parameters" or "multiply_adds") is within ``tolerance`` (relative) of each
    other, and which of each pair is more accurate."""
    words = {"trainable_parameters": "trainable parameters", "multiply_adds": "multiply-adds per image"}[cost]
    pairs = []
    for a in (row for row in rows if row["model"] == model and row.get("recipe") == recipe):
        for b in (row for row in rows if row["model"] == other and row.get("recipe") == recipe):
            difference = abs(a[cost] / b[cost] - 1)
            if difference <= tolerance:
                winner, loser = (a, b) if a["accuracy"] >= b["accuracy"] else (b, a)
                weak = " (a single seed on one side: weak evidence)" if min(a["runs"], b["runs"]) < 2 else ""
                pairs.append(f"{_name(winner)} ({mean_and_spread(winner)}) is ahead of {_name(loser)} "
                             f"({mean_and_spread(loser)}) by {(winner['accuracy'] - loser['accuracy']) * 100:.1f} "
                             f"points, their {words} {difference * 100:.0f}% apart{weak}")
    if not pairs:
        return f"No recorded pair of {model} and {other} lies within {tolerance:.0%} in {words}."
    return f"At about equal {words} (within {tolerance:.0%}): " + "; ".join(pairs) + "."


def results_markdown(rows: list[dict]) -> str:
    """Recorded rows as a Markdown table: mean ± std, every run, and the costs."""
    lines = ["| model | recipe | seeds | test accuracy: mean ± std | every run | trainable parameters | "
             "multiply-adds per image | training images/s, GPU | CPU |",
             "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for row in rows:
        std = f" ± {row['accuracy_std']:.4f}" if row["runs"] > 1 else ""
        speeds = [f"{row[key]:,.0f}" if row.get(key) else "-" for key in ("images_per_second_gpu", "images_per_second_cpu")]
        lines.append(f"| {row['label']} | {row.get('recipe') or 'modern'} | {row['runs']} | {row['accuracy']:.4f}{std} | "
                     f"{', '.join(f'{v:.4f}' for v in row.get('accuracies', []))} | {row['trainable_parameters']:,} | "
                     f"{row['multiply_adds']:,} | {speeds[0]} | {speeds[1]} |")
    return "\n".join(lines)


def direction_sentence(here: dict[str, float], rows: list[dict], test_images: int,
                       first: str = "fair_involution", second: str = "fair_conv") -> str:
    """Whether two accuracies measured here (``here``: model name to accuracy on ``test_images``
    images) rank the models as the recorded means do, with the sampling error of the difference."""
    a, b = find_row(rows, first), find_row(rows, second)
    recorded_first = a["accuracy"] >= b["accuracy"]
    here_first = here[first] >= here[second]
    mean = (here[first] + here[second]) / 2
    error = 100 * math.sqrt(2 * mean * (1 - mean) / test_images)  # standard error of the difference, in points
    order = "the same order as" if here_first == recorded_first else "the OPPOSITE order to"
    return (f"On these {test_images:,} test images {first.replace('_', ' ')} scores {here[first]:.4f} and "
            f"{second.replace('_', ' ')} {here[second]:.4f}: {order} the recorded means "
            f"({a['accuracy']:.4f} and {b['accuracy']:.4f}); with this many test images a difference of "
            f"{abs(here[first] - here[second]) * 100:.1f} points has a sampling error of about {error:.1f} points.")


def throughput_sentence(rows: list[dict], first: str = "fair_involution", second: str = "fair_conv") -> str:
    """How fast the two models train (images per second) on each recorded device, and the ratio."""
    a, b = find_row(rows, first), find_row(rows, second)
    parts = []
    for device in ("gpu", "cpu"):
        key = f"images_per_second_{device}"
        if a.get(key) and b.get(key):
            ratio = a[key] / b[key]
            parts.append(f"on the {device.upper()} {_name(a)} trains at {a[key]:,.0f} images per second and "
                         f"{_name(b)} at {b[key]:,.0f} ({ratio:.2f} times as fast)")
        elif a.get(key) or b.get(key):
            known = a if a.get(key) else b
            parts.append(f"on the {device.upper()} only {_name(known)} was measured ({known[key]:,.0f} images per second)")
    if not parts:
        return f"No training throughput of {first} and {second} was recorded."
    return "Measured training throughput: " + "; ".join(parts) + "."


def implementation_text(payload: dict) -> str:
    """Where and with which multiply-add a throughput file's runs were timed: its last run's GPU or
    CPU, date and backend, and the multiply-adds its rows name (rows from before the fused kernels
    name none: the layer's ``keras.ops`` form)."""
    records = payload.get("provenance") or []
    records = records if isinstance(records, list) else [records]
    last = records[-1] if records else {}
    hardware = last.get("hardware", {})
    device = hardware.get("gpu") or f"{hardware.get('cpu_count', '?')} CPU cores"
    dates = ", ".join(sorted({str(record.get("date", "?"))[:10] for record in records}))
    named = sorted({name for run in payload.get("runs", []) if run.get("fused") != "off"
                    for name in run.get("multiply_add") or ()})
    how = (f"the involution layers' multiply-add: {', '.join(named)}" if named else
           "the involution layers' multiply-add in keras.ops (runs from before the fused kernels)")
    return f"{device}, {dates}, Keras on {last.get('backend', '?')}; {how}"


def fused_throughput_sentence(payload: dict) -> str:
    """Each pair's training throughput with the fused kernels and without them, from one run of the
    experiment's throughput phase with ``--fused both``: images per second and the involution
    network's ratio to its CNN."""
    speeds = {(run["model"], run.get("fused")): run["images_per_second"] for run in payload.get("runs", [])
              if run.get("images_per_second")}
    parts = []
    for involution, cnn in (("fair_involution", "fair_conv"), ("example_involution", "example_cnn")):
        on = speeds.get((involution, "auto")), speeds.get((cnn, "auto"))
        off = speeds.get((involution, "off")), speeds.get((cnn, "off"))
        if all(on) and all(off):
            parts.append(f"{involution.replace('_', ' ')} {on[0]:,.0f} images per second against {cnn.replace('_', ' ')}'s "
                         f"{on[1]:,.0f} ({on[0] / on[1]:.2f} times as fast; without the fused kernels {off[0]:,.0f} "
                         f"against {off[1]:,.0f}, {off[0] / off[1]:.2f})")
    if not parts:
        return "No run with and without the fused kernels was recorded."
    return (f"With the fused kernels ({implementation_text(payload)}): " + "; ".join(parts) + ".")


def conclusions(rows: list[dict], *, involution_width: int | None = None, target: float = 0.85) -> list[str]:
    """The notebook's conclusions, each written from the recorded rows: the recipe's effect on
    each model, the fair comparison under both recipes, the target, equal-cost comparisons,
    a larger involution kernel, throughput, and the example's own comparison."""
    sentences = []
    for model in ("fair_involution", "fair_conv", "example_cnn"):
        try:
            old, new = find_row(rows, model, recipe="example"), find_row(rows, model)
        except ValueError:
            continue
        spread = (f"; its spread over seeds goes from {old['accuracy_std'] * 100:.1f} to {new['accuracy_std'] * 100:.1f} points"
                  if old["runs"] > 1 and new["runs"] > 1 else "")
        sentences.append(f"With the modern recipe, {_name(new)} goes from {mean_and_spread(old)} to {mean_and_spread(new)} "
                         f"({(new['accuracy'] - old['accuracy']) * 100:+.1f} points){spread}.")
    sentences.append("With the course recipe (the fair involution network's choice) for both: " + compare_sentence(rows))
    own = [row for row in rows if row["model"] == "fair_conv" and row.get("recipe") == "fair conv's own"]
    if len(own) == 1:  # the convolution twin with the recipe and design its own tuning chose
        try:
            sentences.append("Each network with the recipe and design that its own tuning chose: "
                             + pair_sentence(find_row(rows, "fair_involution", width=involution_width), own[0]))
        except ValueError:
            pass
    for kernel_size in (None, 3):  # the example's recipe was recorded for the first design (K=3) only
        try:
            sentences.append("Under the example's recipe: " + compare_sentence(rows, recipe="example",
                                                                                first_kernel_size=kernel_size))
            break
        except ValueError:
            continue
    involution = find_row(rows, "fair_involution", width=involution_width)
    sentences.append(target_sentence(involution, target))
    sentences.append(equal_cost_sentence(rows, "multiply_adds"))
    others = [row for row in rows if row["model"] == "fair_involution" and row.get("recipe") is None
              and row.get("width") == involution.get("width") and row.get("kernel_size") != involution.get("kernel_size")]
    for row in others:
        sentences.append(f"With kernel size {row['kernel_size']}, {_name(involution)} reaches {mean_and_spread(row)}, "
                         f"{(row['accuracy'] - involution['accuracy']) * 100:+.1f} points against kernel size "
                         f"{involution['kernel_size']}, for "
                         f"{_ratio_words(row['trainable_parameters'], involution['trainable_parameters'])} trainable "
                         f"parameters and {_ratio_words(row['multiply_adds'], involution['multiply_adds'])} multiply-adds.")
    sentences.append(throughput_sentence(rows))
    try:
        cnn, small = find_row(rows, "example_cnn", recipe="example"), find_row(rows, "example_involution", recipe="example")
        sentences.append(f"The example's own comparison sets {_name(cnn)} ({cnn['trainable_parameters']:,} parameters; "
                         f"{mean_and_spread(cnn)}) against {_name(small)} ({small['trainable_parameters']:,}, "
                         f"{cnn['trainable_parameters'] / small['trainable_parameters']:.0f} times fewer; "
                         f"{mean_and_spread(small)}): a gap of "
                         f"{(cnn['accuracy'] - small['accuracy']) * 100:.1f} points between models of very different sizes.")
    except ValueError:
        pass
    return sentences


# ------------------------------------------------------------------ notebook 04's bookkeeping, out of its cells


@dataclass
class LiveRun:
    """What a profile trains live: the example pair on ``images`` training images (at most the
    profile's) for ``epochs`` epochs of ``batch_size``; the sanity checks' sizes (the loss at
    initialisation on ``probe_images``, overfitting ``overfit_images`` in ``overfit_epochs``); and
    whether the live runs are the full ones (``is_full``) and the fair pair trains with the recipe
    (``trains_fair_pair``) rather than loading its recorded weights."""

    images: int
    epochs: int
    batch_size: int
    profile: str
    probe_images: int
    overfit_images: int
    overfit_epochs: int
    is_full: bool
    trains_fair_pair: bool

    @classmethod
    def of(cls, profile, train_images: int) -> "LiveRun":
        """The sizes of ``profile`` (``involution_course.profiles``), capped at ``train_images``."""
        return cls(min(profile.live_images or train_images, train_images), profile.live_epochs or profile.epochs,
                   profile.batch_size, profile.name, probe_images=min(profile.probe_images, train_images),
                   overfit_images=min(profile.overfit_images, train_images), overfit_epochs=profile.overfit_epochs,
                   is_full=profile.is_full, trains_fair_pair=profile.trains_fair_pair)

    def __str__(self) -> str:
        return (f"live run of the example pair: {self.epochs} epoch(s) on {self.images:,} images, batch size "
                f"{self.batch_size}; Keras backend: {device_description()}")


def live_or_recorded(runs: dict, recorded: dict, test_images: int, *, trained_for_real: bool) -> dict:
    """Print each live run beside its recorded full run (where its checkpoint loaded) and return
    the runs the notebook analyses: the live run where it trained for real (``trained_for_real``,
    the full profile), else the recorded run where it loaded, else the live run."""
    for name, run in runs.items():
        scored = bool(run.history.get("val_accuracy"))  # a few live steps are not scored
        parts = [f"live run {run.final_val_accuracy:.4f}"] if scored else []
        if recorded.get(name) is not None:
            record = recorded[name]
            parts.append(f"recorded run (seed 0) on these {test_images:,} test images {record.test_accuracy:.4f}, "
                         f"on all 10,000 when recorded {record.recorded_accuracy['0']:.4f}")
            if scored:
                gap = (record.test_accuracy - run.final_val_accuracy) * 100
                parts[-1] += f": the live run is {abs(gap):.1f} points {'below' if gap > 0 else 'above'} the recorded one"
        if parts:
            print(f"{name}: " + "; ".join(parts))
    analysed = {name: run if trained_for_real or recorded.get(name) is None else recorded[name]
                for name, run in runs.items()}
    print("analysed below:", ", ".join(f"{name} ({'recorded run' if isinstance(run, RecordedRun) else 'live run'})"
                                        for name, run in analysed.items()))
    return analysed


def record_headlines(live: LiveRun, runs: dict, recorded: list, recorded_rows: list[dict], fair_models: dict,
                     involution_width: int, test_images: int) -> None:
    """Notebook 04's headline figures (``involution_course.record``)."""
    from . import record
    from .models import trainable_parameters

    for name, run in runs.items():
        record(f"{name} test accuracy, live run ({live.epochs} epoch(s), {live.images:,} images)",
               round(run.final_val_accuracy, 4))
    for run in recorded:
        if run is not None:
            record(f"{run.name} test accuracy, recorded {run.checkpoint_profile} run on {test_images:,} test images",
                   round(run.test_accuracy, 4))
    record("fair_involution recorded recipe mean test accuracy",
           mean_and_spread(find_row(recorded_rows, "fair_involution", width=involution_width)))
    record("fair_involution trainable parameters", trainable_parameters(fair_models["fair_involution"]))
    record("example_cnn seconds per epoch, live", round(runs["example_cnn"].seconds_per_epoch, 2), "s")
