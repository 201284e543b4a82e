"""A modern training recipe for small image classifiers, beside the Keras example's.

The Keras example trains with Adam at a fixed learning rate of 1e-3 on raw pixels scaled to
[0, 1], without augmentation, and its accuracies swing by several points from run to run.
:class:`Recipe` names the standard ingredients that make a 20-epoch CIFAR-10 run both better
and steadier:

* **Augmentation**, new every epoch: a random horizontal flip and a random crop of the image
  padded by 4 pixels on each side (zeros after normalisation, i.e. the mean colour). It is
  done in NumPy on the host (:func:`augment`), so it runs the same on every Keras backend.
* **Per-channel normalisation**: subtract the training set's mean colour and divide by its
  standard deviation (:func:`channel_statistics`); the statistics come from the training
  images only and travel with the run (:attr:`RecipeRun.mean`, :attr:`RecipeRun.std`), because
  a trained model expects its inputs normalised the same way.
* **AdamW** with decoupled weight decay (not applied to biases and batch-norm scales/offsets).
* **Learning-rate schedule**: a linear warm-up from 0 to the peak over the first
  ``warmup_fraction`` of the steps, then cosine decay to 0 at the last step
  (:func:`learning_rate_at` gives the value at any step).
* **Label smoothing** (optional), as Keras' ``CategoricalCrossentropy(label_smoothing=e)`` does it:
  the one-hot target ``t`` becomes ``(1 - e) t + e / 10``, so the true class gets
  ``1 - e + e/10`` and each other class ``e/10``.

:func:`fit_with_recipe` trains a model built by the caller and returns a :class:`RecipeRun`
(a :class:`~involution_course.training.TrainingRun` with the normalisation statistics).

Reproducibility: the seed fixes Keras' random state (``keras.utils.set_random_seed``), the
augmentation and the order of the images, so two runs on one CPU give the same weights. On a
GPU they still differ slightly: floating-point reductions (summing gradients over a batch,
cuDNN's convolution algorithms) run in an order that is not fixed, and small differences grow
over training. Compare recipes over several seeds, not single runs.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .progress import progress_bar
from .training import TrainingRun

NUM_CLASSES = 10


@dataclass(frozen=True)
class Recipe:
    """The settings of one training recipe; the defaults are the tuned recipe of the course."""

    learning_rate: float = 1e-2  # the peak, reached at the end of the warm-up
    weight_decay: float = 5e-2  # decoupled (AdamW), multiplied by the learning rate at each step
    warmup_fraction: float = 0.1
    label_smoothing: float = 0.0
    flip: bool = True
    pad: int = 4  # pixels of padding for the random crop; 0 turns cropping off
    epochs: int = 20
    batch_size: int = 256

    def __post_init__(self):
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}.")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be 0 or more, got {self.weight_decay!r}.")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}.")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}.")
        if self.pad < 0 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"pad must be 0 or more and epochs and batch_size at least 1, "
                f"got {self.pad}, {self.epochs} and {self.batch_size}."
            )

    def with_changes(self, **changes) -> Recipe:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------ data


def channel_statistics(images) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``images`` (N, H, W, C) scaled to [0, 1]
    (uint8 pixels are divided by 255), as float32 vectors of length C."""
    array = np.asarray(images)
    if array.ndim != 4 or len(array) == 0:
        raise ValueError(f"images must be a non-empty batch of shape (N, H, W, C), got shape {array.shape}.")
    scale = 255.0 if array.dtype == np.uint8 else 1.0
    mean = np.zeros(array.shape[-1])
    square = np.zeros(array.shape[-1])
    for start in range(0, len(array), 5000):  # in chunks: a float64 copy of 50,000 images is 1.2 GB
        chunk = array[start:start + 5000].astype(np.float64) / scale
        mean += chunk.sum(axis=(0, 1, 2))
        square += (chunk ** 2).sum(axis=(0, 1, 2))
    count = array.shape[0] * array.shape[1] * array.shape[2]
    mean /= count
    std = np.sqrt(np.maximum(square / count - mean ** 2, 1e-12))
    return mean.astype(np.float32), std.astype(np.float32)


def normalise(images, mean, std) -> np.ndarray:
    """``(images / 255 - mean) / std`` for uint8 images (``(images - mean) / std`` otherwise), float32."""
    array = np.asarray(images)
    scaled = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
    return (scaled - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def augment(images, rng: np.random.Generator, *, flip: bool = True, pad: int = 4) -> np.ndarray:
    """A random horizontal flip (probability 1/2) and a random ``H x W`` crop of each image
    padded with ``pad`` zeros on every side; a new array of the same shape and dtype."""
    array = np.asarray(images)
    if array.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C), got shape {array.shape}.")
    n, height, width, _ = array.shape
    out = array
    if pad:
        padded = np.pad(array, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        rows = rng.integers(0, 2 * pad + 1, size=n)[:, None] + np.arange(height)
        cols = rng.integers(0, 2 * pad + 1, size=n)[:, None] + np.arange(width)
        out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    else:
        out = array.copy()
    if flip:
        flipped = rng.random(n) < 0.5
        out[flipped] = out[flipped, :, ::-1]
    return out


def one_hot(labels, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Class indices, shape (N,) or (N, 1), as float32 one-hot rows."""
    indices = np.asarray(labels).reshape(-1).astype(np.int64)
    return np.eye(num_classes, dtype=np.float32)[indices]


# ------------------------------------------------------------------ schedule


def learning_rate_at(step, *, total_steps: int, peak: float, warmup_fraction: float) -> float:
    """The learning rate at ``step`` (0-based): linear from 0 to ``peak`` over the first
    ``round(warmup_fraction * total_steps)`` steps, then cosine decay to 0 at ``total_steps``."""
    warmup = warmup_steps(total_steps, warmup_fraction)
    if step < warmup:
        return peak * step / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_steps(total_steps: int, warmup_fraction: float) -> int:
    return int(round(warmup_fraction * total_steps))


def schedule(total_steps: int, peak: float, warmup_fraction: float):
    """The same schedule as a Keras learning-rate schedule, for the optimizer."""
    import keras

    warmup = warmup_steps(total_steps, warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else peak,
        decay_steps=max(1, total_steps - warmup),
        alpha=0.0,
        warmup_target=peak if warmup else None,
        warmup_steps=warmup,
    )


def compile_with_recipe(model, recipe: Recipe, total_steps: int, *, run_eagerly: bool = False):
    """Compile ``model`` with AdamW, the warm-up + cosine schedule and (smoothed) cross-entropy
    on logits and one-hot targets; the accuracy metric is called ``accuracy``. ``run_eagerly``
    skips tracing the training step, which costs more than a handful of steps on a CPU."""
    import keras

    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule(total_steps, recipe.learning_rate, recipe.warmup_fraction),
        weight_decay=recipe.weight_decay,
    )
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=recipe.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        run_eagerly=run_eagerly,
    )
    return model


# ------------------------------------------------------------------ training


@dataclass
class RecipeRun(TrainingRun):
    """A :class:`TrainingRun` trained with a recipe: also the recipe and the normalisation
    statistics that the model's inputs need (:meth:`preprocess`)."""

    recipe: Recipe | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    evaluation_seconds: list[float] = field(default_factory=list)
    train_images: int = 0

    def preprocess(self, images) -> np.ndarray:
        """Images as this run's model expects them (normalised with the training statistics)."""
        return normalise(images, self.mean, self.std)

    @property
    def images_per_second(self) -> float:
        """Training throughput: images per second of one epoch (median epoch, first left out)."""
        seconds = self.seconds_per_epoch
        return self.train_images / seconds if seconds and seconds == seconds else float("nan")


def _epoch_data(x, y, epoch_rng, recipe, mean, std, batch_size):
    order = epoch_rng.permutation(len(x))
    images = augment(x[order], epoch_rng, flip=recipe.flip, pad=0)
    images = normalise(images, mean, std)
    if recipe.pad:  # pad after normalising, so the border is the mean colour
        images = augment(images, epoch_rng, flip=False, pad=recipe.pad)
    return images, y[order]


def fit_with_recipe(model, train, validation=None, *, recipe: Recipe | None = None, epochs: int | None = None,
                    batch_size: int | None = None, seed: int = 0, name: str | None = None,
                    progress: bool = True) -> RecipeRun:
    """Train ``model`` (built by the caller; its initial weights are the caller's) with ``recipe``.

    ``train`` and ``validation`` are ``(images, labels)`` pairs of raw images (uint8 pixels, or
    floats in [0, 1]) and class indices; ``validation`` may be ``None``. ``epochs`` and
    ``batch_size`` override the recipe's. Every epoch sees a fresh augmentation and order of the
    training images; the validation images are only normalised. Epoch times count training
    only (the validation pass is timed apart, in ``evaluation_seconds``).
    """
    import keras

    recipe = recipe or Recipe()
    recipe = recipe.with_changes(epochs=epochs or recipe.epochs, batch_size=batch_size or recipe.batch_size)
    x_train, y_train = np.asarray(train[0]), one_hot(train[1])
    if len(x_train) == 0:
        raise ValueError("The training set is empty: load the data before training.")
    if len(x_train) != len(y_train):
        raise ValueError(f"train has {len(x_train)} images but {len(y_train)} labels.")
    name = name or model.name
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    mean, std = channel_statistics(x_train)
    steps_per_epoch = math.ceil(len(x_train) / recipe.batch_size)
    compile_with_recipe(model, recipe, recipe.epochs * steps_per_epoch)
    if validation is not None:
        x_val, y_val = normalise(validation[0], mean, std), one_hot(validation[1])

    history: dict[str, list[float]] = {}
    run = RecipeRun(name, model, history, [], recipe=recipe, mean=mean, std=std, train_images=len(x_train))
    bar = progress_bar(total=recipe.epochs * steps_per_epoch, desc=name, unit="batch", leave=False,
                       disable=not progress or None)
    epoch_rngs = rng.spawn(recipe.epochs)

    class _Batches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            bar.update(1)

    # The next epoch's augmented images are made on a host thread while the current one trains.
    with ThreadPoolExecutor(max_workers=1) as pool:
        def prepare(epoch):
            return _epoch_data(x_train, y_train, epoch_rngs[epoch], recipe, mean, std, recipe.batch_size)

        upcoming = pool.submit(prepare, 0)
        for epoch in range(recipe.epochs):
            images, labels = upcoming.result()
            if epoch + 1 < recipe.epochs:
                upcoming = pool.submit(prepare, epoch + 1)
            start = time.perf_counter()
            logs = model.fit(images, labels, batch_size=recipe.batch_size, epochs=epoch + 1, initial_epoch=epoch,
                             shuffle=False, verbose=0, callbacks=[_Batches()]).history
            run.epoch_seconds.append(time.perf_counter() - start)
            for key, values in logs.items():
                history.setdefault(key, []).append(float(values[-1]))
            if validation is not None:
                start = time.perf_counter()
                scores = model.evaluate(x_val, y_val, batch_size=recipe.batch_size, verbose=0, return_dict=True)
                run.evaluation_seconds.append(time.perf_counter() - start)
                for key, value in scores.items():
                    history.setdefault(f"val_{key}", []).append(float(value))
            bar.set_postfix(epoch=epoch + 1, acc=f"{history['accuracy'][-1]:.3f}",
                            val_acc=f"{history.get('val_accuracy', [float('nan')])[-1]:.3f}")
    bar.close()
    return run


def evaluate_accuracy(model, images, labels, *, mean=None, std=None, batch_size: int = 256) -> float:
    """Share of ``images`` classified correctly; with ``mean``/``std`` the images are normalised
    first (a recipe-trained model), otherwise scaled to [0, 1] (the example's models)."""
    array = np.asarray(images)
    if mean is not None:
        inputs = normalise(array, mean, std)
    else:
        inputs = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
    logits = np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0))
    return float(np.mean(np.argmax(logits, axis=-1) == np.asarray(labels).reshape(-1)))


def train_steps(model, train, *, steps: int, batch_size: int = 32, recipe: Recipe | None = None, seed: int = 0,
                name: str | None = None, progress: bool = True) -> RecipeRun:
    """A few training steps from the model's current weights with ``recipe`` (its augmentation,
    normalisation with ``train``'s statistics, AdamW and schedule over ``steps``), each on a fresh
    batch of ``train`` (raw images, labels). Runs eagerly: on a CPU, tracing the training step of a
    network with involutions costs more than a dozen steps. Returns a :class:`RecipeRun` whose
    history holds the loss and accuracy of every step's batch (measured before that step's
    update), enough to see learning begin; with ``steps=0`` the model stays untrained."""
    import keras

    if steps < 0 or batch_size < 1:
        raise ValueError(f"steps must be 0 or more and batch_size at least 1, got {steps} and {batch_size}.")
    recipe = recipe or Recipe()
    x_train, y_train = np.asarray(train[0]), np.asarray(train[1])
    if len(x_train) < batch_size:
        raise ValueError(f"train has {len(x_train)} images, fewer than one batch of {batch_size}.")
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    mean, std = channel_statistics(x_train)
    if steps == 0:  # no training: the model as built, with the statistics its inputs need
        return RecipeRun(name or model.name, model, {"loss": [], "accuracy": []}, [], recipe=recipe,
                         mean=mean, std=std, train_images=0)
    compile_with_recipe(model, recipe, steps, run_eagerly=True)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    bar = progress_bar(total=steps, desc=name or model.name, unit="step", leave=False, disable=not progress or None)
    for _ in range(steps):
        picked = rng.choice(len(x_train), size=batch_size, replace=False)
        images, labels = _epoch_data(x_train[picked], one_hot(y_train[picked]), rng, recipe, mean, std, batch_size)
        logs = model.train_on_batch(images, labels, return_dict=True)
        history["loss"].append(float(logs["loss"]))
        history["accuracy"].append(float(logs["accuracy"]))
        bar.update(1)
        bar.set_postfix(loss=f"{history['loss'][-1]:.3f}")
    bar.close()
    return RecipeRun(name or model.name, model, history, [], recipe=recipe.with_changes(batch_size=batch_size),
                     mean=mean, std=std, train_images=steps * batch_size)


# ------------------------------------------------------------------ how the recipe was chosen

_TUNED = ("learning_rate", "weight_decay", "label_smoothing")


def tuning_rows(payload: dict) -> list[dict]:
    """The tuning phase's candidates (loaded ``tune`` results), one row per run: the network tuned,
    each variant's settings, the validation accuracy it reached, whether it is the course's recipe
    (:class:`Recipe`'s defaults) and whether it is the one its network chose (its best); each
    network's rows together, best first."""
    default = Recipe()
    rows = []
    for run in payload["runs"]:
        settings = run["recipe"] if isinstance(run.get("recipe"), dict) else {}
        rows.append({
            "model": run.get("model", "fair_involution"),
            "variant": run.get("variant"), **{key: settings.get(key) for key in _TUNED},
            "validation_accuracy": run["accuracy"], "evaluated_on": run.get("evaluated_on", ""),
            "train_images": run.get("train_images"),
            "course_recipe": all(settings.get(key) == getattr(default, key) for key in _TUNED),
        })
    rows.sort(key=lambda row: (row["model"] != "fair_involution", row["model"], -row["validation_accuracy"]))
    for index, row in enumerate(rows):
        row["chosen"] = index == 0 or rows[index - 1]["model"] != row["model"]
    return rows


def tuning_markdown(rows: list[dict]) -> str:
    lines = ["| network | variant | peak learning rate | weight decay | label smoothing | validation accuracy | |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        notes = [note for note, flag in (("chosen", row["chosen"]), ("the course recipe", row["course_recipe"])) if flag]
        lines.append(f"| {row['model']} | {row['variant']} | {row['learning_rate']:g} | {row['weight_decay']:g} | "
                     f"{row['label_smoothing']:g} | {row['validation_accuracy']:.4f} | {', '.join(notes)} |")
    return "\n".join(lines)


def design_sentence(tuning: list[dict], design: dict) -> str:
    """How the fair involution network's kernel size was chosen, from the recorded validation
    accuracies: tuning's run of the course's recipe (K=3) against the ``design`` phase's runs."""
    chosen = next((row for row in tuning if row["course_recipe"] and row["model"] == "fair_involution"), None)
    runs = sorted((run for run in design.get("runs", []) if run.get("model", "fair_involution") == "fair_involution"),
                  key=lambda run: run.get("kernel_size") or 0)
    if chosen is None or not runs:
        return "No recorded validation run compares the involution network's kernel sizes."
    scores = [(3, chosen["validation_accuracy"])] + [(run["kernel_size"], run["accuracy"]) for run in runs]
    best = max(scores, key=lambda score: score[1])
    listed = ", ".join(f"K={k} {accuracy:.4f}" for k, accuracy in scores)
    return (f"Kernel size on the same validation split, with the course's recipe: {listed}. "
            f"The best is K={best[0]}, {(best[1] - scores[0][1]) * 100:+.1f} points against K=3.")


# ------------------------------------------------------------------ was the comparison fair?

_ARMS = ("fair_involution", "fair_conv")


def _kernel_size(run: dict) -> int:
    """A recorded run's kernel size; rows recorded before it was written hold the design's."""
    from .models import design_kernel_size

    return run.get("kernel_size") or design_kernel_size(run["model"])


def _settings_text(settings: dict) -> str:
    return (f"peak learning rate {settings.get('learning_rate'):g}, weight decay {settings.get('weight_decay'):g}, "
            f"label smoothing {settings.get('label_smoothing'):g}")


def arm_choices(tune: dict, design: dict, model: str) -> dict | None:
    """What one arm of the fair pair was tuned over and what it chose, from the recorded ``tune``
    and ``design`` results: its recipe candidates (one validation run each), the best of them,
    and its design candidates with that recipe ((width, kernel size), validation accuracy), the
    best of those. None where the arm has no tuning run."""
    tuned = [run for run in tune.get("runs", []) if run["model"] == model and run.get("accuracy") is not None]
    if not tuned:
        return None
    best = max(tuned, key=lambda run: run["accuracy"])
    designs = [run for run in tuned + [run for run in design.get("runs", []) if run["model"] == model]
               if run.get("accuracy") is not None and run.get("recipe") == best["recipe"]]
    scores = sorted({(run["width"], _kernel_size(run)): run["accuracy"] for run in designs}.items(),
                    key=lambda item: item[0][1])
    return {"model": model, "candidates": len(tuned), "split": best.get("evaluated_on", ""),
            "variant": best.get("variant"), "recipe": best["recipe"], "validation_accuracy": best["accuracy"],
            "designs": scores, "design": max(scores, key=lambda item: item[1])[0]}


def fairness_sentences(tune: dict, design: dict, compare: dict, arms=_ARMS) -> list[str]:
    """How each arm of the fair pair was tuned and designed, and both arms' test accuracy over the
    seeds they share, each with its own choices: every number from the recorded results."""
    sentences, chosen, untuned = [], {}, []
    for model in arms:
        arm = arm_choices(tune, design, model)
        name = model.replace("_", " ")
        if arm is None:
            untuned.append(model)
            continue
        chosen[model] = arm
        listed = ", ".join(f"K={k} at width {w} {accuracy:.4f}" for (w, k), accuracy in arm["designs"])
        sentences.append(
            f"{name}: {arm['candidates']} recipe candidates, one run each, scored on {arm['split'] or 'validation'}; "
            f"best: variant {arm['variant']} ({_settings_text(arm['recipe'])}) at {arm['validation_accuracy']:.4f}. "
            f"With it, on the same split: {listed}; chosen: K={arm['design'][1]} at width {arm['design'][0]}.")
    if len(chosen) == len(arms) and len({arm["candidates"] for arm in chosen.values()}) == 1:
        sentences.append(f"Both arms were tuned over the same {chosen[arms[0]]['candidates']} candidates on the same "
                         "split, and each chose its own kernel size there.")
    borrowed = {}
    for model in untuned:
        name = model.replace("_", " ")
        donor = next(iter(chosen), None)
        runs = [run for run in compare.get("runs", []) if run["model"] == model
                and donor is not None and run.get("recipe") == chosen[donor]["recipe"]]
        if not runs:
            sentences.append(f"{name} was not tuned: the recorded runs hold no tuning or design run of it.")
            continue
        widths = [(run.get("width"), _kernel_size(run)) for run in runs]
        width, kernel_size = max(set(widths), key=widths.count)
        donor_name = donor.replace("_", " ")
        chosen[model] = {"recipe": chosen[donor]["recipe"], "design": (width, kernel_size)}
        borrowed[model] = donor
        sentences.append(
            f"{name} was not tuned: the recorded runs hold no tuning or design run of it. Its test runs used "
            f"{donor_name}'s chosen recipe and K={kernel_size} at width {width}, which no validation run chose for it: "
            f"the recipe and the kernel size were chosen on validation for {donor_name} alone, so any advantage of "
            f"choosing went to {donor_name}.")
    results = {}
    for model, arm in chosen.items():
        width, kernel_size = arm["design"]
        runs = [run for run in compare.get("runs", []) if run["model"] == model and run.get("width") == width
                and _kernel_size(run) == kernel_size and run.get("recipe") == arm["recipe"]
                and run.get("accuracy") is not None]
        if runs:
            results[model] = {run["seed"]: run["accuracy"] for run in runs}
    if len(results) < 2:
        sentences.append("No recorded test runs compare both arms, each with its own recipe and design.")
        return sentences
    seeds = sorted(set.intersection(*(set(r) for r in results.values())))
    if not seeds:
        sentences.append("The two arms' recorded test runs share no seed.")
        return sentences
    stats = {}
    for model in arms:
        values = np.array([results[model][seed] for seed in seeds])
        stats[model] = (values.mean(), values.std(ddof=1) if len(values) > 1 else float("nan"))
    text = "; ".join(f"{model.replace('_', ' ')} {mean:.4f} ± {std:.4f}" for model, (mean, std) in stats.items())
    (a, (mean_a, std_a)), (b, (mean_b, std_b)) = stats.items()
    gap = (mean_a - mean_b) * 100
    spread = max(std_a, std_b) * 100
    leader = a if gap >= 0 else b
    verdict = (f"{leader.replace('_', ' ')} is ahead by {abs(gap):.1f} points, "
               + ("within twice the larger standard deviation over seeds: no clear winner"
                  if abs(gap) <= 2 * spread else "more than twice the larger standard deviation over seeds"))
    how = ("each arm with its own recipe and design" if not borrowed else
           "as recorded (" + "; ".join(f"{m.replace('_', ' ')} with {d.replace('_', ' ')}'s recipe"
                                       for m, d in borrowed.items()) + ")")
    sentences.append(f"On the test set over the same seeds ({', '.join(map(str, seeds))}), {how}, mean ± standard "
                     f"deviation: {text}. {verdict[:1].upper() + verdict[1:]}.")
    return sentences


def train_fair_pair(models: dict, train, test, profile) -> dict:
    """Notebook 04's live run of the recipe: in a profile that trains the fair pair (the full
    one), every model of ``models`` with :func:`fit_with_recipe` for the profile's epochs; in the
    others, each fair network from scratch for ``profile.fair_live_steps`` steps on two batches of
    training images (is the loss falling?). Prints one line per model; returns the runs."""
    runs = {}
    if profile.trains_fair_pair:
        import keras

        keras.utils.set_random_seed(0)
        for name, model in models.items():
            runs[name] = fit_with_recipe(model, train, test, epochs=profile.epochs, batch_size=profile.batch_size,
                                         seed=0, name=name)
            print(f"{name}, recipe: test accuracy {runs[name].final_val_accuracy:.4f} after {profile.epochs} "
                  f"epochs, {runs[name].seconds_per_epoch:.1f} s per epoch")
        return runs
    pool = (train[0][:64], train[1][:64])
    for name, model in models.items():
        if not name.startswith("fair_"):
            continue
        runs[name] = train_steps(model, pool, steps=profile.fair_live_steps, batch_size=32, name=name)
        losses, last = runs[name].history["loss"], min(2, profile.fair_live_steps)
        if not losses:
            print(f"{name}: no live step in the '{profile.name}' profile")
            continue
        print(f"{name}, live: {len(losses)} step(s) from scratch on {len(pool[0])} training images; batch loss "
              f"{losses[0]:.3f} at the first step, {np.mean(losses[-last:]):.3f} on average over the last {last} "
              f"(ln 10 = {np.log(10):.3f})")
    return runs
