"""The fair comparison as an experiment: tuning, several seeds, a cost-accuracy sweep.

``involution-instructor experiment`` runs these phases (``--phases``), each writing
``results/<phase>.json`` (provenance and one row per run) after every finished run:

* ``tune``: each arm of the fair pair (:data:`ARMS`, ``--arms``: the fair involution network and
  the fair CNN, each at its width for the example CNN's parameter budget, kernel size 3) with
  each of :data:`TUNING_VARIANTS` of the recipe, trained on the first 45,000 training images and
  scored on the last 5,000 (a validation split; the test set is never used to choose). Each arm
  gets the recipe that scored best on its own runs (:func:`choose_recipe`);
* ``design``: with its recipe, on the same validation split, each arm's other design at the same
  budget (:data:`DESIGN_CANDIDATES`; K=3 at the budget width is tuning's own run). Each arm
  keeps the design that scored best on validation (:func:`choose_design`);
* ``compare``: each arm with its own recipe and design, and the Keras example's CNN with the
  involution arm's recipe, ``--seeds`` each, on all 50,000 training images, scored on the
  10,000 test images. An arm's design runs as soon as its tuning ends, its comparison as soon as
  its design is chosen; phases not run now take their choices from ``--recorded`` results;
* ``sweep``: with the same recipe, one seed, involution kernel sizes 3 and 7 and two more widths
  of each fair network (kernel size 5 and the budget widths are ``compare``'s runs);
* ``baseline``: the Keras example's recipe (the course's full profile: Adam 1e-3, no
  augmentation, 20 epochs, batch 256) for the four models of notebook 04, ``--seeds`` each;
  seed 0's weights are what ``involution-instructor checkpoints`` ships;
* ``throughput``: training images per second of every model of ``compare`` and ``sweep``
  (``--throughput-models pairs``: the example pair and the fair pair alone), one run at a time
  (the other phases may run several at once and share the device). ``--fused both`` runs each
  model twice, with the fused GPU kernels where they apply and without them
  (``INVOLUTION_COURSE_FUSED=0``); every row names the multiply-add's implementation that ran
  (``multiply_add``: "pallas", "triton" or "keras.ops"). ``--profile`` adds, for the fair pair
  (with the kernels where they apply), where a training step's time goes (:func:`step_profile`).

``--jobs N`` trains N runs at a time in separate processes (one GPU holds many such small
models at once); the rows record it, since their epoch times are then shared-device times. The
workers share the machine (:func:`worker_environment`): JAX does not preallocate the GPU's memory
and each process may take 1/N of it, TensorFlow grows its memory as needed, and the CPU threads
of the numerical libraries are split N ways. Variables already set in the environment are kept.

``python -m involution_instructor.experiment ARGS`` is ``involution-instructor experiment ARGS``.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import time

import numpy as np
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

PHASES = ("tune", "design", "compare", "sweep", "baseline", "throughput")
SEEDS = (0, 1, 2)
VALIDATION_IMAGES = 5000
BUDGET_WIDTHS = {"involution": 24, "conv": 19}  # width_for_budget(319,178) of each fair network
SWEEP_WIDTHS = {"involution": (16, 32), "conv": (12, 26)}
SWEEP_KERNEL_SIZES = (3, 7)  # beside the fair involution network's own 5
# The fair pair's two arms: tuned and designed alike, compared over the same seeds.
ARMS = ("fair_involution", "fair_conv")
# Tuning's runs are K=3 at the budget width for both arms.
TUNING_KERNEL_SIZE = 3
# Each arm's other design at the example CNN's parameter budget, as (width, kernel size), tried
# on the validation split beside tuning's K=3. Involution's weights hardly grow with K (K=7
# passes the budget at width 24, K=5 fits); a KxK convolution's grow with K^2 C^2, so K=5 fits
# the budget only at width 14 (302,946 parameters; 15 has 347,048).
DESIGN_CANDIDATES = {"fair_involution": ((24, 5),), "fair_conv": ((14, 5),)}
DESIGN_KERNEL_SIZES = tuple(k for _, k in DESIGN_CANDIDATES["fair_involution"])
THROUGHPUT_IMAGES = 10240
THROUGHPUT_EPOCHS = 3

# What tuning tries: changes to involution_course.recipe.Recipe(), one seed each.
TUNING_VARIANTS = (
    {"learning_rate": 3e-3, "weight_decay": 5e-4},  # the first, untuned try
    {"learning_rate": 3e-3, "weight_decay": 5e-2},
    {"learning_rate": 3e-3, "weight_decay": 5e-2, "label_smoothing": 0.1},
    {"learning_rate": 1e-2, "weight_decay": 5e-2},
    {"learning_rate": 3e-3, "weight_decay": 2e-1},
    {"learning_rate": 6e-3, "weight_decay": 1e-1, "label_smoothing": 0.1},
)

MODELS = ("example_cnn", "example_involution", "fair_involution", "fair_conv")


def build_model(model: str, *, width: int | None = None, kernel_size: int | None = None, seed: int = 0):
    """One of :data:`MODELS`, built by the instructor's reference (fair networks at ``width``,
    by default the width for the example CNN's parameter budget, and ``kernel_size``, by default
    the design's: ``involution_course.models.design_kernel_size``)."""
    from .reference import models as reference

    if model == "example_cnn":
        return reference.example_cnn(seed)
    if model == "example_involution":
        return reference.example_involution_network(seed)
    if model in ("fair_involution", "fair_conv"):
        spatial = model.split("_", 1)[1]
        return reference.fair_network(width or BUDGET_WIDTHS[spatial], spatial, kernel_size=kernel_size,
                                      seed=seed, name=model)
    raise ValueError(f"model must be one of {MODELS}, got {model!r}.")


def _kernel_size(spec: dict) -> int:
    from involution_course.models import design_kernel_size

    return spec.get("kernel_size") or design_kernel_size(spec["model"])


def run_label(spec: dict) -> str:
    """e.g. ``compare-fair_involution-w24-s0``; ``-k3`` etc. when the kernel size is not the design's."""
    from involution_course.models import design_kernel_size

    parts = [spec["phase"], spec["model"]]
    if spec.get("width"):
        parts.append(f"w{spec['width']}")
    if _kernel_size(spec) != design_kernel_size(spec["model"]):
        parts.append(f"k{spec['kernel_size']}")
    if spec.get("variant") is not None:
        parts.append(f"v{spec['variant']}")
    parts.append(f"s{spec['seed']}")
    if spec.get("fused") == "off":
        parts.append("unfused")
    return "-".join(parts)


# ------------------------------------------------------------------ one run (in a worker)

_DATA_CACHE: dict = {}


def _data(data, n_train, n_test):
    key = (str(data), n_train, n_test)
    if key not in _DATA_CACHE:
        from involution_course.data import load_cifar10

        _DATA_CACHE.clear()
        _DATA_CACHE[key] = load_cifar10(data, n_train=n_train, n_test=n_test, progress=False)
    return _DATA_CACHE[key]


def execute(spec: dict) -> dict:
    """Train and score the run ``spec`` describes; returns its row (see the module docstring).
    A spec with ``fused="off"`` runs with ``INVOLUTION_COURSE_FUSED=0``."""
    if spec.get("fused") != "off":
        return _execute(spec)
    saved = os.environ.get("INVOLUTION_COURSE_FUSED")
    os.environ["INVOLUTION_COURSE_FUSED"] = "0"
    try:
        return _execute(spec)
    finally:
        if saved is None:
            os.environ.pop("INVOLUTION_COURSE_FUSED", None)
        else:
            os.environ["INVOLUTION_COURSE_FUSED"] = saved


def _execute(spec: dict) -> dict:
    import keras

    from involution_course import fused

    from involution_course.evaluation import multiply_adds
    from involution_course.models import trainable_parameters
    from involution_course.recipe import Recipe, evaluate_accuracy, fit_with_recipe
    from involution_course.training import device_description, fit, scale_images

    keras.backend.clear_session()
    (x_train, y_train), (x_test, y_test) = _data(spec.get("data"), spec.get("n_train"), spec.get("n_test"))
    y_train, y_test = y_train.reshape(-1), y_test.reshape(-1)
    if spec["split"] == "validation":
        held_out = spec.get("validation_images", VALIDATION_IMAGES)
        x_eval, y_eval = x_train[-held_out:], y_train[-held_out:]
        x_train, y_train = x_train[:-held_out], y_train[:-held_out]
    else:
        x_eval, y_eval = x_test, y_test
    if spec["phase"] == "throughput":
        x_train, y_train = x_train[:spec.get("throughput_images", THROUGHPUT_IMAGES)], y_train[:spec.get(
            "throughput_images", THROUGHPUT_IMAGES)]

    spec = {**spec, "kernel_size": _kernel_size(spec)}
    model = build_model(spec["model"], width=spec.get("width"), kernel_size=spec["kernel_size"], seed=spec["seed"])
    fused.used(reset=True)
    started = time.perf_counter()
    if spec["recipe"] == "example":
        keras.utils.set_random_seed(spec["seed"])
        run = fit(model, (scale_images(x_train), y_train), (scale_images(x_eval), y_eval),
                  epochs=spec["epochs"], batch_size=spec["batch_size"], name=spec["model"])
        mean = std = None
        images_per_second = len(x_train) / run.seconds_per_epoch
    else:
        recipe = Recipe(**spec["recipe"])
        run = fit_with_recipe(model, (x_train, y_train), None if spec["phase"] == "throughput" else (x_eval, y_eval),
                              recipe=recipe, epochs=spec["epochs"], batch_size=spec["batch_size"],
                              seed=spec["seed"], name=spec["model"], progress=False)
        mean, std = run.mean, run.std
        images_per_second = run.images_per_second
    wall = time.perf_counter() - started
    implementations = sorted(fused.used(reset=True))
    accuracy = None
    if spec["phase"] != "throughput":
        accuracy = evaluate_accuracy(model, x_eval, y_eval, mean=mean, std=std)
    row = {
        "label": run_label(spec),
        **{key: spec.get(key) for key in ("phase", "model", "width", "kernel_size", "seed", "variant",
                                          "recipe", "epochs", "batch_size", "split", "jobs")},
        "train_images": int(len(x_train)),
        "evaluated_on": (f"validation: the last {len(x_eval):,} training images" if spec["split"] == "validation"
                         else f"test: {len(x_eval):,} test images"),
        "accuracy": accuracy,
        "trainable_parameters": trainable_parameters(model),
        "multiply_adds": multiply_adds(model),
        "epoch_seconds": [round(s, 4) for s in run.epoch_seconds],
        "seconds_per_epoch": run.seconds_per_epoch,
        "images_per_second": images_per_second,
        "wall_seconds": round(wall, 2),
        "device": device_description(),
        "history": run.history,
    }
    if spec.get("fused"):
        row["fused"] = spec["fused"]
    if implementations:  # networks with an Involution layer
        row["multiply_add"] = implementations
    if spec.get("profile"):
        steps = len(x_train) / spec["batch_size"]
        row["step_profile"] = step_profile(model, spec["batch_size"], step_ms=1000 * row["seconds_per_epoch"] / steps)
    if mean is not None:
        row["normalisation"] = {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}
    if spec.get("weights"):
        path = Path(spec["weights"])
        path.parent.mkdir(parents=True, exist_ok=True)
        # A compiled model's file would also hold the optimizer's state: save an uncompiled twin.
        twin = build_model(spec["model"], width=spec.get("width"), kernel_size=spec["kernel_size"])
        twin.set_weights(model.get_weights())
        twin.save_weights(path)
        row["weights"] = str(path)
        row["weights_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return row


# ------------------------------------------------------------------ where a step goes

PROFILE_PARTS = ("kernel generation", "multiply-add", "convolution", "batch norm", "other layers", "the rest")


def step_profile(model, batch_size: int, *, step_ms: float | None = None, repeats: int = 10) -> dict:
    """Where one training step of ``model`` goes, in ms: each layer timed alone (its forward and
    the gradients with respect to its inputs and weights, batch norm in training mode, on random
    inputs of its shapes), summed by part: an ``Involution`` layer's kernel generation (its
    ``_kernel_planes``) and multiply-add (the rest of the layer), convolutions, batch norm, other
    layers; and "the rest", ``step_ms`` (the measured step) minus those (the loss, the optimizer,
    the input pipeline; negative where the whole step's compilation fuses across layers what
    layers timed alone cannot).

    Layers alone include each call's dispatch, so the sums are upper bounds for small layers.
    """
    import keras

    from involution_course.layers import Involution

    timer = _LayerTimer(keras.backend.backend(), repeats)
    parts = dict.fromkeys(PROFILE_PARTS[:-1], 0.0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        shapes = [(batch_size, *tensor.shape[1:]) for tensor in inputs]
        whole = timer.time(layer, lambda *xs, layer=layer: layer(list(xs) if len(xs) > 1 else xs[0], training=True), shapes)
        if isinstance(layer, Involution):
            generation = timer.time(layer, lambda x, layer=layer: layer._kernel_planes(x, training=True), shapes)
            parts["kernel generation"] += generation
            parts["multiply-add"] += whole - generation
        elif isinstance(layer, keras.layers.BatchNormalization):
            parts["batch norm"] += whole
        elif isinstance(layer, keras.layers.Conv2D):
            parts["convolution"] += whole
        else:
            parts["other layers"] += whole
    profile = {part: round(ms, 4) for part, ms in parts.items()}
    if step_ms is not None:
        profile["the rest"] = round(step_ms - sum(parts.values()), 4)
        profile["step"] = round(step_ms, 4)
    profile["how"] = (f"each layer alone, forward and gradients, batch {batch_size}, median of {repeats} "
                      f"(ms); the rest: the measured step minus the layers")
    return profile


class _LayerTimer:
    """Median milliseconds of a layer function's forward and backward on one backend."""

    def __init__(self, backend: str, repeats: int):
        self.backend, self.repeats = backend, repeats

    def _inputs(self, shapes, dtype):
        rng = np.random.default_rng(0)
        return [rng.standard_normal(shape).astype(dtype) for shape in shapes]

    def time(self, layer, function, shapes) -> float:
        dtype = layer.compute_dtype if isinstance(layer.compute_dtype, str) else "float32"
        arrays = self._inputs(shapes, "float32")
        step, sync = getattr(self, f"_{self.backend}")(layer, function, arrays, dtype)
        sync(step())  # compile, tune, warm up
        samples = []
        for _ in range(self.repeats):
            started = time.perf_counter()
            sync(step())
            samples.append(time.perf_counter() - started)
        return 1000 * statistics.median(samples)

    @staticmethod
    def _jax(layer, function, arrays, dtype):
        import jax
        import jax.numpy as jnp
        import keras

        trainable, others = layer.trainable_variables, layer.non_trainable_variables
        inputs = [jnp.asarray(a, dtype) for a in arrays]

        def loss(values, inputs, cotangent):
            mapping = list(zip(trainable, values)) + [(v, v.value) for v in others]
            with keras.StatelessScope(state_mapping=mapping):
                out = function(*inputs)
            return jnp.sum(out.astype(jnp.float32) * cotangent)

        shape = jax.eval_shape(lambda v, i: _apply_stateless(function, trainable, others, v, i),
                               [v.value for v in trainable], inputs)
        cotangent = jnp.asarray(np.random.default_rng(1).standard_normal(shape.shape), jnp.float32)
        gradient = jax.jit(jax.grad(loss, argnums=(0, 1)))
        values = [v.value for v in trainable]
        return (lambda: gradient(values, inputs, cotangent)), jax.block_until_ready

    @staticmethod
    def _torch(layer, function, arrays, dtype):
        import torch

        device = layer.trainable_variables[0].value.device if layer.trainable_variables else (
            "cuda" if torch.cuda.is_available() else "cpu")
        inputs = [torch.tensor(a, device=device, dtype=getattr(torch, dtype)).requires_grad_() for a in arrays]
        weights = [v.value for v in layer.trainable_variables]
        with torch.no_grad():
            shape = function(*inputs).shape
        cotangent = torch.randn(shape, device=device, dtype=getattr(torch, dtype))

        def step():
            out = function(*inputs)
            return torch.autograd.grad(out, inputs + weights, cotangent, allow_unused=True)

        def sync(_):
            if torch.cuda.is_available():
                torch.cuda.synchronize()

        return step, sync

    @staticmethod
    def _tensorflow(layer, function, arrays, dtype):
        import tensorflow as tf

        inputs = [tf.constant(a, dtype=dtype) for a in arrays]
        weights = list(layer.trainable_variables)

        def step():
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                out = function(*inputs)
            return tape.gradient(out, inputs + weights)

        return step, (lambda grads: [g.numpy() for g in grads if g is not None])


def _apply_stateless(function, trainable, others, values, inputs):
    import keras

    mapping = list(zip(trainable, values)) + [(v, v.value) for v in others]
    with keras.StatelessScope(state_mapping=mapping):
        return function(*inputs)


# ------------------------------------------------------------------ plans


def _recipe_dict(changes: dict) -> dict:
    from involution_course.recipe import Recipe

    return Recipe().with_changes(**changes).as_dict()


def _arms(options) -> tuple[str, ...]:
    return tuple(getattr(options, "arms", None) or ARMS)


def tuning_specs(options, arms=None) -> list[dict]:
    """Every arm (default ``--arms``) with every recipe of :data:`TUNING_VARIANTS`: the same
    candidates, the same split, the same kernel size."""
    return [
        dict(phase="tune", model=model, width=BUDGET_WIDTHS[model.split("_")[1]], kernel_size=TUNING_KERNEL_SIZE,
             seed=0, variant=index, recipe=_recipe_dict(changes), split="validation")
        for model in (arms or _arms(options)) for index, changes in enumerate(TUNING_VARIANTS)
    ]


def design_specs(options, recipe: dict, arms=None) -> list[dict]:
    """Each arm's :data:`DESIGN_CANDIDATES` with ``recipe`` (the arm's own), on the validation split."""
    return [dict(phase="design", model=model, width=width, kernel_size=k, seed=options.seeds[0], recipe=recipe,
                 split="validation")
            for model in (arms or _arms(options)) for width, k in DESIGN_CANDIDATES[model]]


def default_design(model: str) -> tuple[int, int]:
    """(width, kernel size) of an arm as the course builds it: the budget width, the design's K."""
    from involution_course.models import design_kernel_size

    return BUDGET_WIDTHS[model.split("_")[1]], design_kernel_size(model)


def comparison_specs(options, recipe: dict, *, recipes: dict | None = None, designs: dict | None = None,
                     models=("fair_involution", "fair_conv", "example_cnn")) -> list[dict]:
    """``models`` over ``--seeds``: an arm with its own recipe (``recipes[model]``, else ``recipe``)
    and design (``designs[model]``, (width, kernel size), else :func:`default_design`); the
    example CNN with ``recipe``."""
    recipes, designs = recipes or {}, designs or {}
    specs = []
    for seed in options.seeds:
        for model in models:
            width, kernel_size = designs.get(model) or (default_design(model) if "fair" in model else (None, None))
            specs.append(dict(phase="compare", model=model, width=width, kernel_size=kernel_size, seed=seed,
                              recipe=recipes.get(model, recipe), split="test",
                              weights=_weights_path(options, "recipe", model) if seed == options.seeds[0] else None))
    return specs


def sweep_specs(options, recipe: dict) -> list[dict]:
    specs = [dict(phase="sweep", model="fair_involution", width=BUDGET_WIDTHS["involution"], kernel_size=k,
                  seed=options.seeds[0], recipe=recipe, split="test") for k in sorted(SWEEP_KERNEL_SIZES, reverse=True)]
    for spatial, widths in SWEEP_WIDTHS.items():
        specs += [dict(phase="sweep", model=f"fair_{spatial}", width=w, seed=options.seeds[0], recipe=recipe,
                       split="test") for w in widths]
    return specs


def baseline_specs(options) -> list[dict]:
    return [
        dict(phase="baseline", model=model, width=BUDGET_WIDTHS.get(model.split("_")[-1]) if "fair" in model else None,
             seed=seed, recipe="example", split="test",
             weights=_weights_path(options, "full", model) if seed == options.seeds[0] else None)
        for seed in options.seeds for model in ("fair_involution", "fair_conv", "example_cnn", "example_involution")
    ]


def throughput_specs(options, recipe: dict) -> list[dict]:
    """The throughput runs: every model of compare and sweep, or (``throughput_models="pairs"``)
    the example pair and the fair pair; twice each with ``fused="both"`` (kernels on, then off)."""
    specs = [dict(phase="throughput", model=m, seed=0, recipe=recipe, split="test", epochs=THROUGHPUT_EPOCHS,
                  throughput_images=options.throughput_images) for m in ("example_cnn", "example_involution")]
    configs = [] if getattr(options, "throughput_models", "all") == "pairs" else [
        ("involution", BUDGET_WIDTHS["involution"], k) for k in SWEEP_KERNEL_SIZES]
    for spatial in ("involution", "conv"):
        widths = (sorted({BUDGET_WIDTHS[spatial], *SWEEP_WIDTHS[spatial]})
                  if getattr(options, "throughput_models", "all") != "pairs" else [BUDGET_WIDTHS[spatial]])
        configs += [(spatial, w, None) for w in widths]
    specs += [dict(phase="throughput", model=f"fair_{s}", width=w, kernel_size=k, seed=0, recipe=recipe,
                   split="test", epochs=THROUGHPUT_EPOCHS, throughput_images=options.throughput_images)
              for s, w, k in configs]
    if getattr(options, "throughput_models", "all") == "pairs":  # the fair pair first: the target's ratio
        specs = specs[2:] + specs[:2]
    fused = getattr(options, "fused", "auto")
    settings = ("auto", "off") if fused == "both" else (fused,)
    profile = getattr(options, "profile", False)
    return [{**spec, "fused": setting,
             # The fair pair's step, where it goes: the budget widths at the design's kernel size.
             "profile": profile and setting != "off" and spec["model"].startswith("fair_") and spec.get("kernel_size") is None
             and spec["width"] == BUDGET_WIDTHS[spec["model"].split("_")[1]]}
            for spec in specs for setting in settings]


def _weights_path(options, profile: str, model: str) -> str | None:
    return str(Path(options.weights) / f"{profile}-{model}.weights.h5") if options.weights else None


def choose_recipe(rows: list[dict], model: str | None = None) -> dict:
    """The recipe of the tuning run (of ``model``, if given) with the highest validation accuracy."""
    scored = [row for row in rows if row.get("accuracy") is not None and model in (None, row["model"])]
    if not scored:
        which = f" of {model}" if model else ""
        raise ValueError(f"No tuning run{which} finished, so no recipe can be chosen: run the tune phase or pass "
                         "--recipe.")
    return max(scored, key=lambda row: row["accuracy"])["recipe"]


def choose_design(rows: list[dict], model: str, recipe: dict) -> tuple[int, int] | None:
    """(width, kernel size) of ``model``'s validation run with ``recipe`` (tuning's and design's
    runs) that scored best, or None where no design run of it with that recipe finished."""
    scored = [row for row in rows if row.get("accuracy") is not None and row["model"] == model
              and row.get("split") == "validation" and row.get("recipe") == recipe]
    if not any(row["phase"] == "design" for row in scored):
        return None
    best = max(scored, key=lambda row: row["accuracy"])
    return best["width"], _kernel_size(best)


# ------------------------------------------------------------------ results


def provenance(options) -> dict:
    import keras

    commit = os.environ.get("EXPERIMENT_COMMIT")
    if not commit:
        try:
            commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                    cwd=Path(__file__).resolve().parent).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            commit = "unknown"
    gpu = ""
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20).stdout.strip().replace("\n", ", ")
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "command": "involution-instructor experiment " + " ".join(options.argv),
        "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hardware": {"gpu": gpu or None, "cpu": platform.processor() or platform.machine(),
                     "cpu_count": os.cpu_count(), "platform": platform.platform()},
        "backend": os.environ.get("KERAS_BACKEND", keras.backend.backend()),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "jobs": options.jobs,
        "seeds": list(options.seeds),
        **({"worker_environment": worker_environment(options.jobs)} if options.jobs > 1 else {}),
    }


class ResultsWriter:
    """``<output>/<phase>.json``: provenance, rows, and a summary per model; rewritten per row."""

    def __init__(self, output: Path, provenance: dict, archive: Path | None = None):
        self.output, self.provenance, self.archive = output, provenance, archive
        self.rows: dict[str, list[dict]] = {}
        output.mkdir(parents=True, exist_ok=True)

    def add(self, row: dict) -> None:
        self.rows.setdefault(row["phase"], []).append(row)
        self.write(row["phase"])
        if self.archive and row.get("weights"):
            with tarfile.open(self.archive, "a") as tar:
                tar.add(row["weights"], arcname=Path(row["weights"]).name)

    def write(self, phase: str) -> None:
        rows = sorted(self.rows.get(phase, []), key=lambda r: r["label"])
        payload = {"phase": phase, "provenance": self.provenance, "summary": summarise(rows), "runs": rows}
        path = self.output / f"{phase}.json"
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        temporary.replace(path)


def summarise(rows: list[dict]) -> list[dict]:
    """Mean, standard deviation (n-1), min and max of the accuracy for each model and setting."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (row["model"], row.get("width"), _kernel_size(row), json.dumps(row.get("recipe")),
               row.get("variant"), row.get("fused"))
        groups.setdefault(key, []).append(row)
    summary = []
    for (model, width, kernel_size, recipe, variant, fused), group in groups.items():
        accuracies = [r["accuracy"] for r in group if r.get("accuracy") is not None]
        throughputs = [r["images_per_second"] for r in group if r.get("images_per_second")]
        summary.append({
            "model": model, "width": width, "kernel_size": kernel_size, "variant": variant,
            "recipe": json.loads(recipe), "runs": len(group), "seeds": [r["seed"] for r in group],
            "accuracies": accuracies,
            "mean_accuracy": statistics.fmean(accuracies) if accuracies else None,
            "std_accuracy": statistics.stdev(accuracies) if len(accuracies) > 1 else None,
            "min_accuracy": min(accuracies) if accuracies else None,
            "max_accuracy": max(accuracies) if accuracies else None,
            "trainable_parameters": group[0]["trainable_parameters"],
            "multiply_adds": group[0]["multiply_adds"],
            "images_per_second": statistics.median(throughputs) if throughputs else None,
            **({"fused": fused} if fused else {}),
        })
    return summary


def load_rows(folder: Path, phase: str) -> list[dict]:
    path = Path(folder) / f"{phase}.json"
    if not path.exists():
        return []
    return json.loads(path.read_text())["runs"]


# ------------------------------------------------------------------ running


def _complete(spec: dict, options) -> dict:
    spec = dict(spec)
    spec.setdefault("epochs", options.epochs)
    spec.setdefault("batch_size", options.batch_size)
    spec.update(data=options.data, n_train=options.n_train, n_test=options.n_test,
                jobs=1 if spec["phase"] == "throughput" else options.jobs,
                validation_images=options.validation_images)
    return spec


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def worker_environment(jobs: int, cpu_count: int | None = None, environ=None) -> dict[str, str]:
    """The variables each of ``jobs`` worker processes starts with, so that they share one machine:
    JAX neither preallocates the GPU's memory (by default it takes 75% at its first use, so a
    second process would fail) nor takes more than its share of it; TensorFlow grows its GPU
    memory as needed; the CPU threads of OpenMP, BLAS and TensorFlow are split ``jobs`` ways.
    Variables set in ``environ`` (default: this process's environment) are kept as they are."""
    environ = os.environ if environ is None else environ
    threads = str(max(1, (cpu_count or os.cpu_count() or 1) // jobs))
    wanted = {
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        # A cap, not an allocation (with preallocation off): 90% of the card split N ways.
        "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.9 / jobs:.3f}",
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
        "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "2",
    }
    return {name: value for name, value in wanted.items() if name not in environ}


def _start_worker(threads: int) -> None:
    """In each worker before its first run: PyTorch's intra-op threads, which no variable sets."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


class _Runner:
    """Runs specs in-process (one job) or in a pool of worker processes, stopping new ones at
    the deadline; finished rows go to the writer at once."""

    def __init__(self, options, writer: ResultsWriter, jobs: int):
        self.options, self.writer, self.jobs = options, writer, jobs
        self.pool = None
        self._saved_environment: dict = {}
        if jobs > 1:
            import multiprocessing

            variables = worker_environment(jobs)
            # Spawned workers copy this process's environment when they start (at the first
            # submissions): the variables stay set until close().
            self._saved_environment = {name: os.environ.get(name) for name in variables}
            os.environ.update(variables)
            # PyTorch's threads are set in each worker (only where torch is the backend: it imports torch).
            threads = max(1, (os.cpu_count() or 1) // jobs)
            initializer = _start_worker if os.environ.get("KERAS_BACKEND") == "torch" else None
            self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=initializer, initargs=(threads,) if initializer else ())
        self.pending: dict = {}

    def past_deadline(self) -> bool:
        return bool(self.options.deadline) and time.monotonic() - self.options.started > self.options.deadline

    def submit(self, specs: list[dict]) -> None:
        for spec in specs:
            spec = _complete(spec, self.options)
            if self.options.only and not any(fnmatch.fnmatchcase(run_label(spec), pattern)
                                             for pattern in self.options.only):
                continue
            if self.pool is None:
                if self.past_deadline():
                    _log(f"deadline passed: skipped {run_label(spec)}")
                    continue
                self._finished(spec, lambda s=spec: execute(s))
            else:
                self.pending[self.pool.submit(execute, spec)] = spec

    def _finished(self, spec, result) -> None:
        try:
            row = result()
        except Exception as error:  # noqa: BLE001 - one failed run must not stop the others
            _log(f"FAILED {run_label(spec)}: {type(error).__name__}: {error}")
            return
        self.writer.add(row)
        accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
        _log(f"done {row['label']}: accuracy {accuracy}, {row['images_per_second']:.0f} images/s, "
             f"{row['wall_seconds']:.0f} s")

    def drain(self, until=None) -> None:
        """Wait for the pending runs (all, or until ``until(rows)`` holds)."""
        while self.pending:
            if self.past_deadline():
                for future in self.pending:
                    future.cancel()
            done, _ = wait(list(self.pending), return_when=FIRST_COMPLETED)
            for future in done:
                spec = self.pending.pop(future)
                if future.cancelled():
                    _log(f"deadline passed: skipped {run_label(spec)}")
                    continue
                self._finished(spec, future.result)
            if until is not None and until():
                return

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment = {}


class _Arms:
    """Each arm's way through tune, design and compare: its design runs are submitted once its
    recipe is chosen (from its tuning runs, new or ``--recorded``), its comparison once its design
    is chosen (from its validation runs with that recipe). ``--recipe`` fixes every arm's recipe."""

    def __init__(self, options, writer: ResultsWriter, runner: _Runner, recipe: dict | None):
        self.options, self.writer, self.runner = options, writer, runner
        self.phases, self.arms = options.phases, _arms(options)
        self.recorded = Path(getattr(options, "recorded", None) or options.output)
        self.recipes = dict.fromkeys(self.arms, recipe) if recipe is not None else {}
        self.designs: dict = {}
        self.submitted: set = set()

    def rows(self, phase: str) -> list[dict]:
        new = self.writer.rows.get(phase, [])
        labels = {row["label"] for row in new}
        return new + [row for row in load_rows(self.recorded, phase) if row["label"] not in labels]

    def pending(self, phase: str, model: str) -> bool:
        return any(s["phase"] == phase and s["model"] == model for s in self.runner.pending.values())

    def advance(self) -> None:
        from involution_course.recipe import Recipe

        for model in self.arms:
            if model not in self.recipes and not self.pending("tune", model):
                self.recipes[model] = Recipe(**choose_recipe(self.rows("tune"), model)).as_dict()
                _log(f"{model}: chosen recipe {self.recipes[model]}")
            if model not in self.recipes:
                continue
            recipe = self.recipes[model]
            if "design" in self.phases and ("design", model) not in self.submitted:
                self.submitted.add(("design", model))
                self.runner.submit(design_specs(self.options, recipe, arms=(model,)))
            if model not in self.designs and not self.pending("design", model):
                chosen = choose_design(self.rows("tune") + self.rows("design"), model, recipe)
                self.designs[model] = chosen or default_design(model)
                _log(f"{model}: chosen design (width, kernel size) {self.designs[model]}"
                     + ("" if chosen else ", the course's (no validation run with its recipe)"))
            if model in self.designs and "compare" in self.phases and ("compare", model) not in self.submitted:
                self.submitted.add(("compare", model))
                self.runner.submit(comparison_specs(self.options, recipe, recipes=self.recipes,
                                                    designs=self.designs, models=(model,)))


def run_experiment(options) -> ResultsWriter:
    options.started = time.monotonic()
    output = Path(options.output)
    writer = ResultsWriter(output, provenance(options), Path(options.archive) if options.archive else None)
    phases = options.phases
    recipe = json.loads(options.recipe) if options.recipe else None
    runner = _Runner(options, writer, options.jobs)
    arms = _Arms(options, writer, runner, recipe)
    try:
        if "tune" in phases:
            runner.submit(tuning_specs(options))
        if "baseline" in phases:
            runner.submit(baseline_specs(options))
        if any(p in phases for p in ("design", "compare")):
            arms.advance()
            while runner.pending and any(m not in arms.designs for m in arms.arms):
                runner.drain(until=lambda: True)  # one finished run at a time
                arms.advance()
        # The example CNN, the sweep and the throughput runs take the involution arm's recipe.
        needs_recipe = any(p in phases for p in ("compare", "sweep", "throughput"))
        if needs_recipe and recipe is None:
            tuned = lambda: not any(s["phase"] == "tune" for s in runner.pending.values())  # noqa: E731
            if "tune" in phases:
                runner.drain(until=tuned)
            recipe = arms.recipes.get("fair_involution") or choose_recipe(arms.rows("tune"), "fair_involution")
            _log(f"chosen recipe: {recipe}")
        if recipe is not None:
            from involution_course.recipe import Recipe

            recipe = Recipe(**recipe).as_dict()
        sweep = sweep_specs(options, recipe) if "sweep" in phases else []
        runner.submit(sweep[:len(SWEEP_KERNEL_SIZES)])  # the slowest runs first
        if "compare" in phases:
            runner.submit(comparison_specs(options, recipe, models=("example_cnn",)))
        runner.submit(sweep[len(SWEEP_KERNEL_SIZES):])
        runner.drain()
    finally:
        runner.close()
    if "throughput" in phases:
        alone = _Runner(options, writer, 1)  # one run at a time, in this process
        alone.submit([dict(spec) for spec in throughput_specs(options, recipe)])
    return writer


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phases", default="tune,design,compare,sweep,baseline,throughput",
                        help=f"comma-separated phases, from {', '.join(PHASES)} (default: all)")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the compare and baseline phases (default 0,1,2)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, each in its own process (default 1)")
    parser.add_argument("--recipe", help="the recipe as JSON (fields of involution_course.recipe.Recipe) instead "
                        "of the one tuning chose")
    parser.add_argument("--output", default="results", help="folder of the results JSON files (default results/)")
    parser.add_argument("--weights", help="folder for the seed-0 weights of compare and baseline (none if omitted)")
    parser.add_argument("--archive", help="also append every saved weights file to this tar")
    parser.add_argument("--data", help="CIFAR-10 copy (default: INVOLUTION_COURSE_DATA)")
    parser.add_argument("--n-train", type=int, help="a stratified subset of the training images (for a smoke test)")
    parser.add_argument("--n-test", type=int, help="a stratified subset of the test images (for a smoke test)")
    parser.add_argument("--validation-images", type=int, default=VALIDATION_IMAGES,
                        help="training images held out for tuning (default 5,000)")
    parser.add_argument("--throughput-images", type=int, default=THROUGHPUT_IMAGES)
    parser.add_argument("--throughput-models", choices=("all", "pairs"), default="all",
                        help="throughput of every model of compare and sweep (default), or of the example pair and "
                        "the fair pair alone")
    parser.add_argument("--fused", choices=("auto", "off", "both"), default="auto",
                        help="throughput runs with the fused GPU kernels where they apply (auto, default), without "
                        "them (off: INVOLUTION_COURSE_FUSED=0), or each run both ways")
    parser.add_argument("--profile", action="store_true",
                        help="throughput rows of the fair pair say where a training step's time goes")
    parser.add_argument("--deadline", type=float, help="seconds after which no new run starts")
    parser.add_argument("--only", help="comma-separated run labels (e.g. baseline-fair_involution-w24-s2) or "
                        "shell patterns (tune-fair_conv-*): run only these, to complete an interrupted experiment")
    parser.add_argument("--arms", default=",".join(ARMS),
                        help=f"the fair pair's arms that tune, design and compare run for (default {','.join(ARMS)})")
    parser.add_argument("--recorded", help="results folder whose tune and design rows stand for runs not made now "
                        "(default: --output)")
    parser.set_defaults(handler=command)


def command(args) -> int:
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = sorted(set(args.phases) - set(PHASES))
    if unknown:
        raise ValueError(f"Unknown phase(s) {', '.join(unknown)}: choose from {', '.join(PHASES)}.")
    try:
        args.seeds = tuple(int(s) for s in args.seeds.split(","))
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, got {args.seeds!r}.") from None
    args.arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
    if not args.arms or set(args.arms) - set(ARMS):
        raise ValueError(f"--arms must name some of {', '.join(ARMS)}, got {','.join(args.arms) or 'none'}.")
    args.only = {label.strip() for label in args.only.split(",") if label.strip()} if args.only else None
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}.")
    if not hasattr(args, "argv"):
        args.argv = _ARGV if _ARGV is not None else sys.argv[2:] if len(sys.argv) > 2 else []
    if args.data is None:
        args.data = os.environ.get("INVOLUTION_COURSE_DATA")
    from involution_course.data import load_cifar10

    load_cifar10(args.data, progress=False)  # decode once, so the workers read the cache
    writer = run_experiment(args)
    for phase in writer.rows:
        _log(f"wrote {Path(args.output) / (phase + '.json')}")
    return 0


_ARGV: list[str] | None = None  # the arguments when started by main()


def main(argv: list[str] | None = None) -> int:
    """``python -m involution_instructor.experiment ARGS``: the same as ``involution-instructor
    experiment ARGS``."""
    from . import experiment  # this module under its own name (``-m`` runs it as __main__)
    from .cli import main as cli_main

    argv = list(sys.argv[1:] if argv is None else argv)
    experiment._ARGV = argv  # for the provenance's command
    return cli_main(["experiment", *argv])


# ------------------------------------------------------------------ checkpoints

CHECKPOINT_PROFILES = {"full": "baseline", "recipe": "compare"}


def make_checkpoints(results: Path, weights: Path, destination: Path | None = None, *, builder=None) -> Path:
    """Copy seed 0's weights of the ``baseline`` (profile ``full``) and ``compare`` (profile
    ``recipe``) runs from ``weights`` into the student package's ``checkpoints_data/`` and write its
    manifest: provenance, sha256, weight shapes, preprocessing, every seed's history, and the
    logits of the fixed probe inputs computed here (on this machine's backend and CPU)."""
    import shutil

    from involution_course import checkpoints
    from involution_course.models import design_kernel_size

    destination = Path(destination or checkpoints.CHECKPOINTS_FOLDER)
    destination.mkdir(parents=True, exist_ok=True)
    entries, sources = {}, {}
    for profile, phase in CHECKPOINT_PROFILES.items():
        path = Path(results) / f"{phase}.json"
        if not path.exists():
            continue
        payload = json.loads(path.read_text())
        sources[profile] = {"results": f"{Path(results).name}/{phase}.json", "provenance": payload["provenance"]}
        rows = [r for r in payload["runs"] if r.get("width") in (None, BUDGET_WIDTHS.get(r["model"].split("_")[-1]))
                and _kernel_size(r) == design_kernel_size(r["model"])]
        for model in sorted({r["model"] for r in rows}):
            runs = sorted((r for r in rows if r["model"] == model), key=lambda r: r["seed"])
            first = runs[0]
            name = f"{profile}-{model}.weights.h5"
            source = Path(weights) / name
            if not source.exists():
                raise FileNotFoundError(f"No weights file {source}: run the experiment with --weights {weights}.")
            shutil.copyfile(source, destination / name)
            built = (builder or build_model)(model, width=first.get("width"), kernel_size=first.get("kernel_size"))
            built.load_weights(destination / name)
            logits = np.asarray(built.predict(checkpoints.probe_inputs(), verbose=0), dtype=np.float64)
            entries[f"{profile}-{model}"] = {
                "profile": profile, "model": model, "file": name, "seed": first["seed"],
                "sha256": checkpoints.file_sha256(destination / name),
                "weight_shapes": [list(w.shape) for w in built.weights],
                "trainable_parameters": first["trainable_parameters"],
                "width": first.get("width"),
                "recipe": first["recipe"],
                "normalisation": first.get("normalisation"),
                "test_accuracy": {str(r["seed"]): r["accuracy"] for r in runs},
                "histories": {str(r["seed"]): r["history"] for r in runs},
                "probe_logits": np.round(logits, 6).tolist(),
                "probe_checksum": checkpoints.probe_checksum(logits),
            }
    if not entries:
        raise FileNotFoundError(f"No baseline.json or compare.json in {results}: run the experiment first.")
    import keras

    manifest = {
        "about": "Weights only (.weights.h5) of seed 0 of each model; load with "
                 "involution_course.checkpoints.load_checkpoint into a model you built.",
        "made_by": "involution-instructor checkpoints (make checkpoints)",
        "probe_logits_computed_with": f"keras {keras.__version__}, {keras.backend.backend()} backend on the CPU",
        "sources": sources,
        "checkpoints": entries,
    }
    (destination / checkpoints.MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return destination


def configure_checkpoints_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", default="results", help="the experiment's results folder (default results/)")
    parser.add_argument("--weights", default="build/experiment-weights",
                        help="where the experiment saved its weights (default build/experiment-weights/)")
    parser.add_argument("--destination", help="default: the student package's checkpoints_data/")
    parser.set_defaults(handler=lambda args: _checkpoints_command(args))


def _checkpoints_command(args) -> int:
    try:
        folder = make_checkpoints(Path(args.results), Path(args.weights), args.destination)
    except FileNotFoundError as error:
        raise ValueError(str(error)) from None
    _log(f"wrote {folder}")
    return 0


def merge_results(paths, output) -> Path:
    """One ``<phase>.json`` from the files of several (interrupted, then completed) runs of the
    same phase: the provenances become a list and every row names its own (``provenance``)."""
    paths = [Path(p) for p in paths]
    payloads = [json.loads(p.read_text()) for p in paths]
    phases = {payload["phase"] for payload in payloads}
    if len(phases) != 1:
        raise ValueError(f"Only files of one phase can be merged, got phases {sorted(phases)}.")
    rows, seen, provenances = [], set(), []
    for payload in payloads:
        # A file merged before holds a list of provenances, and its rows their index in it.
        merged_before = isinstance(payload["provenance"], list)
        offset = len(provenances)
        provenances += payload["provenance"] if merged_before else [payload["provenance"]]
        for row in payload["runs"]:
            if row["label"] not in seen:
                seen.add(row["label"])
                rows.append({**row, "provenance": offset + (row.get("provenance", 0) if merged_before else 0)})
    rows.sort(key=lambda r: r["label"])
    merged = {"phase": phases.pop(), "provenance": provenances,
              "summary": summarise(rows), "runs": rows}
    output = Path(output)
    output.write_text(json.dumps(merged, indent=1) + "\n", encoding="utf-8")
    return output


if __name__ == "__main__":
    sys.exit(main())
