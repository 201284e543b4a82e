"""Training throughput of notebook 04's models: images per second and seconds per epoch.

The Keras example's CNN, its involution network, and the fair pair of notebook 04 (RedNet-style
bottleneck networks with involution or 3x3 convolutions, as wide as fits the CNN's 319,178
parameters), compiled as the example does (Adam, sparse cross-entropy, batch 256) and trained with
``model.fit`` on CIFAR-10 images (``INVOLUTION_COURSE_DATA``; random images of the same shape when
no local copy is set). ``--quick`` trains the two example networks on 64 images. The first epoch
compiles and is not timed; each timed epoch sees the same
images. Seconds per epoch are for 50,000 images, from the measured images per second.

TensorFlow runs ``fit`` twice per model: ``jit_compile=False`` (a ``tf.function``) and
``jit_compile=True`` (XLA); JAX always compiles with ``jax.jit``.

    KERAS_BACKEND=tensorflow python benchmarks/bench_training.py [--quick] [--repeats N] [--images N]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as harness  # noqa: E402

BENCHMARK = "training"
EPOCH_IMAGES = 50_000
BATCH_SIZE = 256


MODELS = {
    "cnn": "example CNN",
    "involution": "example involution network",
    "fair-involution": "fair involution network",
    "fair-cnn": "fair CNN",
}
QUICK_MODELS = ("cnn", "involution")


def model_factories(chosen, quick: bool):
    """(case name, builder or None, why missing) of the ``chosen`` models, in ``MODELS`` order."""
    chosen = [key for key in MODELS if key in chosen]
    try:
        from involution_instructor.reference import models
    except ImportError as error:
        why = f"the instructor's reference models are not importable ({error})"
        return [(MODELS[key], None, why) for key in chosen]

    def width(spatial):
        # --quick: the narrowest network; otherwise as wide as fits the example CNN's parameters.
        if quick:
            return models.WIDTH_STEP["involution"]
        return models.width_for_budget(models.EXAMPLE_CNN_PARAMETERS, spatial)

    factories = []
    for key in chosen:
        if key == "cnn":
            factories.append((MODELS[key], models.example_cnn, ""))
        elif key == "involution":
            factories.append((MODELS[key], models.example_involution_network, ""))
        else:
            spatial = "involution" if key == "fair-involution" else "conv"
            try:
                chosen_width = width(spatial)
            except Exception as error:  # noqa: BLE001 - reported as a skipped case
                factories.append((MODELS[key], None, f"could not size it: {type(error).__name__}: {error}"))
                continue
            factories.append((f"{MODELS[key]} (width {chosen_width})",
                              lambda w=chosen_width, sp=spatial: models.fair_network(w, sp), ""))
    return factories


def training_images(count: int):
    """``count`` CIFAR-10 training images scaled to [0, 1] and their labels, and where they came from."""
    import numpy as np

    if os.environ.get("INVOLUTION_COURSE_DATA"):
        from involution_course import load_cifar10

        (x, y), _ = load_cifar10(n_train=count, n_test=10, progress=False)
        return x.astype("float32") / 255.0, y.reshape(-1), "CIFAR-10"
    rng = np.random.default_rng(0)
    x = rng.random((count, 32, 32, 3), dtype=np.float32)
    return x, rng.integers(0, 10, count), "random images (INVOLUTION_COURSE_DATA unset)"


def modes(backend: str) -> dict:
    if backend == "tensorflow":
        return {"fit, jit_compile=False (tf.function)": False, "fit, jit_compile=True (XLA)": True}
    return {"fit (jax.jit)" if backend == "jax" else "fit": "auto"}


def epoch_seconds(build, jit_compile, x, y, *, batch_size: int, repeats: int) -> tuple[list[float], bool]:
    """Seconds of each timed epoch (after one untimed epoch that compiles), and whether XLA compiled
    the step (Keras falls back to no XLA for a model that does not support it)."""
    import keras

    from involution_course.training import compile_like_example

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    seconds: list[float] = []
    model = build()
    compile_like_example(model)
    if jit_compile != "auto":
        model.jit_compile = jit_compile
    model.fit(x, y, batch_size=batch_size, epochs=1 + repeats, callbacks=[Clock()], verbose=0, shuffle=False)
    return seconds[1:], bool(model.jit_compile)


def main() -> None:
    def options(parser):
        parser.add_argument("--images", type=int, default=None,
                            help="images per timed epoch (default 2,048: eight batches of 256; --quick: 64)")
        parser.add_argument("--models", nargs="+", choices=list(MODELS), default=None,
                            help=f"models to train (default: all; --quick: {' '.join(QUICK_MODELS)})")

    args = harness.parse_args(__doc__.splitlines()[0], options)
    from involution_course.notebook import silence_framework_logging

    silence_framework_logging()
    import keras

    from involution_course.training import device_description

    backend = keras.backend.backend()
    device = device_description().rsplit(" on ", 1)[-1]
    count = args.images or (64 if args.quick else 2_048)
    batch_size = 32 if args.quick else BATCH_SIZE
    repeats = args.repeats or (1 if args.quick else 3)
    if count < 1:
        raise SystemExit("bench_training: --images must be at least 1")
    x, y, source = training_images(count)
    group = f"CIFAR-10 32x32x3, batch {batch_size}"
    chosen_modes = modes(backend)
    if args.quick:  # one mode is enough to check the script
        chosen_modes = dict(list(chosen_modes.items())[:1])
    chosen = args.models or (QUICK_MODELS if args.quick else tuple(MODELS))
    for case, build, missing in model_factories(chosen, args.quick):
        context = {"group": group, "backend": backend, "device": device}
        if build is None:
            harness.skip(BENCHMARK, case, missing, **context)
            continue
        for mode, jit_compile in chosen_modes.items():
            harness.note(f"training {mode}: {case}")
            try:
                seconds, compiled = epoch_seconds(build, jit_compile, x, y, batch_size=batch_size, repeats=repeats)
            except Exception as error:  # noqa: BLE001 - one model's failure must not hide the others
                harness.skip(BENCHMARK, case, f"training failed: {type(error).__name__}: {error}", mode=mode,
                             **context)
                continue
            if jit_compile is True and not compiled:
                mode = "fit, jit_compile=True requested, run without XLA (unsupported by the model)"
            per_epoch = [EPOCH_IMAGES * s / count for s in seconds]
            images_per_second = count / statistics.median(seconds)
            harness.emit(BENCHMARK, f"{case}: seconds per epoch of {EPOCH_IMAGES:,} images", mode=mode,
                         times=per_epoch, **context,
                         details={"images_per_s": round(images_per_second, 1), "timed_images": count,
                                  "data": source})


if __name__ == "__main__":
    main()
