"""Involution kernels made visible: what notebook 05 gives, around what it asks.

Notebook 05's exercises (a kernel model, kernel maps, overlays, the similarity of kernels
across positions, local attention weights) are the student's to write; this module holds only
the parts the notebook hands out: finding a network's involution layers, the wrapper that lets
a functional model return a generated kernel, running a kernel model on a few images, a
convolution's kernels at every position, the centre of attention windows, the small network of
the Keras example, and weight snapshots during training.

Shapes follow the course: a kernel tensor is (B, H_out, W_out, G, K, K), one K x K kernel per
position and channel group; a *map* is (B, H_out, W_out), one number per position.
"""

from __future__ import annotations

import keras
import numpy as np

from .layers import Involution

__all__ = [
    "KernelOutput",
    "KernelSnapshots",
    "accuracy_on_test",
    "as_model_inputs",
    "build_small_network",
    "name_unfinished",
    "network_to_inspect",
    "record_similarity",
    "train_short_runs",
    "convolution_kernels",
    "generated_kernels",
    "involution_layers",
    "saved_model_path",
    "window_centre",
]


# ------------------------------------------------------------------- extraction


def involution_layers(model) -> list:
    """The involution layers of ``model``, in order; a clear error when there are none."""
    found = [layer for layer in model.layers if isinstance(layer, Involution)]
    if not found:
        names = ", ".join(layer.name for layer in model.layers)
        raise ValueError(
            f"The model {model.name!r} has no Involution layer among its layers ({names}). "
            "Pass a network built with involution_course.layers.Involution."
        )
    return found


class KernelOutput(keras.layers.Layer):
    """Wraps an involution layer so that a functional model can return its generated kernel.

    Calling ``involution.generate_kernel`` directly in a functional graph would add the
    layer's inner ``reduce``/``bn``/``span`` layers to the graph, and two involution layers
    would then bring two layers called ``reduce``. The wrapper keeps them inside.
    """

    def __init__(self, involution, **kwargs):
        kwargs.setdefault("name", f"{involution.name}_kernel")
        super().__init__(**kwargs)
        self.involution = involution

    def call(self, x):
        return self.involution.generate_kernel(x, training=False)


def as_model_inputs(model, images):
    """``images`` as float32 in the structure ``model`` was built on.

    A model built on ``network.inputs`` (a list, as a reloaded Sequential network requires)
    expects a list of one array; Keras warns when it gets the bare array instead.
    """
    batch = np.asarray(images, dtype="float32")
    try:
        structure = model.input
    except (AttributeError, ValueError):  # a subclassed model that has not been called yet
        return batch
    return keras.tree.map_structure(lambda _: batch, structure)


def generated_kernels(extractor, images) -> list[np.ndarray]:
    """Run a kernel model (a model whose outputs are generated kernels, as notebook 05's
    Exercise 1 builds) on a few images: one array per output.

    A direct call, not ``predict``: for ten images it skips building a prediction graph.
    """
    if not isinstance(extractor, keras.Model):
        raise ValueError(
            f"Expected a kernel model, a keras.Model whose outputs are kernels; got "
            f"{type(extractor).__name__}. Does your kernel_model return the keras.Model it builds?"
        )
    outputs = extractor(as_model_inputs(extractor, images), training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [keras.ops.convert_to_numpy(kernels) for kernels in outputs]


# ------------------------------------------------------------------ positions


def convolution_kernels(weight, height: int, width: int) -> np.ndarray:
    """A convolution's kernel at every position of an (height, width) output: the same one."""
    weight = np.asarray(weight)
    return np.broadcast_to(weight, (height, width, *weight.shape))


# ------------------------------------------------------------ local attention


def window_centre(weights) -> np.ndarray:
    """The centre tap of each K x K window: (..., K, K) -> (...)."""
    weights = np.asarray(weights)
    centre = weights.shape[-1] // 2
    return weights[..., centre, centre]


# ---------------------------------------------------------------- the network


def build_small_network(spatial: str = "involution", seed: int = 0, *, run_eagerly: bool = False):
    """The Keras example's involution network for CIFAR-10, or its convolution twin.

    Three spatial layers on 3 channels (involution: K=3, G=1, r=2; or a 3x3 convolution
    with 3 filters) with ReLU, max pooling after the first two, then Flatten, Dense 64 and
    Dense 10 (logits). Inputs are images scaled to [0, 1]. The involution network has
    13,074 trainable parameters, as in the example. ``run_eagerly`` suits runs of a few
    steps, for which tracing a training graph costs more than it saves.
    """
    if spatial not in ("involution", "conv"):
        raise ValueError(f'spatial must be "involution" or "conv"; got {spatial!r}.')
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3), name="image")
    x = inputs
    for index in (1, 2, 3):
        if spatial == "involution":
            x = Involution(3, 1, 1, 2, name=f"inv_{index}")(x)
        else:
            x = keras.layers.Conv2D(3, 3, padding="same", name=f"conv_{index}")(x)
        x = keras.layers.ReLU(name=f"relu_{index}")(x)
        if index < 3:
            x = keras.layers.MaxPooling2D(2, name=f"pool_{index}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(64, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    model = keras.Model(inputs, outputs, name=f"small_{spatial}")
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        # Compiling with XLA costs more than the few short epochs this network trains for.
        jit_compile=False,
        run_eagerly=run_eagerly,
    )
    return model


def saved_model_path(name: str):
    """``build/models/<name>.keras`` when notebook 04 saved it, else ``None``."""
    from .paths import build_directory

    path = build_directory() / "models" / f"{name}.keras"
    return path if path.is_file() else None


class KernelSnapshots(keras.callbacks.Callback):
    """Keeps the network's weights during training: before the first step, after half of the
    steps and after the last one.

    ``weights`` maps "start", "middle", "end" to ``model.get_weights()`` at that stage (batch
    normalisation's moving statistics included). Weights, not kernels: the kernels come
    afterwards, from a kernel model the caller passes to :meth:`kernels`.
    """

    def __init__(self):
        super().__init__()
        self.weights: dict[str, list[np.ndarray]] = {}
        self._step = 0
        self._middle = 1

    def _take(self, stage):
        self.weights[stage] = [np.array(value) for value in self.model.get_weights()]

    def on_train_begin(self, logs=None):
        steps = (self.params.get("steps") or 1) * (self.params.get("epochs") or 1)
        self._middle = max(1, steps // 2)
        self._step = 0
        self.weights = {}
        self._take("start")

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step == self._middle:
            self._take("middle")

    def on_train_end(self, logs=None):
        self._take("end")

    def kernels(self, make_kernel_model, images) -> dict[str, list[np.ndarray]]:
        """The kernels of each stage: ``make_kernel_model(network)`` run on ``images`` with that
        stage's weights, one array (N, H_out, W_out, G, K, K) per involution layer.

        The network keeps its final weights afterwards.
        """
        if not self.weights:
            raise ValueError("No snapshots yet: pass this callback to model.fit(callbacks=[...]) first.")
        network = self.model
        # Built once: it shares the network's layers, so it sees whichever weights are set.
        extractor = make_kernel_model(network)
        final = network.get_weights()
        try:
            stages = {}
            for stage, weights in self.weights.items():
                network.set_weights(weights)
                stages[stage] = generated_kernels(extractor, images)
        finally:
            network.set_weights(final)
        return stages


# ------------------------------------------------------------- notebook 05's plumbing

# The functions notebook 05 asks for, and the results its later cells compute from them.
EXERCISES = {
    "kernel_model": "Exercise 1", "kernel_maps": "Exercise 2", "normalise": "Exercise 2", "upsample": "Exercise 3",
    "overlay": "Exercise 3", "position_similarity": "Exercise 4", "local_attention_weights": "Exercise 5",
}
RESULTS = {
    "layer_kernels": "Exercise 1", "first": ("Exercise 1", "layer_kernels"),
    "layer_maps": ("Exercise 2", "layer_kernels"), "attention": "Exercise 5",
}


def name_unfinished() -> None:
    """Notebook 05's later cells call the student's functions directly; until an exercise is
    done, a cell that needs it stops with one sentence naming it."""
    from .exercises import name_unfinished_exercises

    name_unfinished_exercises(EXERCISES, RESULTS)


def train_short_runs(x_train, y_train, profile=None) -> tuple[dict, KernelSnapshots]:
    """Notebook 05's short run: the involution network and its convolution twin, each trained for
    at most 5 epochs on at most 10,000 images (256 when autograding, run eagerly: tracing a
    training graph would cost more than the few steps save). The involution network's weights are
    kept at its start, middle and end. Returns ``({"involution": ..., "conv": ...}, snapshots)``.
    """
    from .profiles import Profile, get_profile
    from .progress import progress_bar

    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    grading = profile.name == "grading"
    size = 256 if grading else min(len(x_train), 10_000)
    epochs = min(profile.epochs, 5)
    snapshots = KernelSnapshots()
    networks = {}
    for spatial in progress_bar(["involution", "conv"], desc="Training", unit="network"):
        model = build_small_network(spatial, run_eagerly=grading)
        model.fit(np.asarray(x_train[:size]) / 255.0, y_train[:size], epochs=epochs, batch_size=profile.batch_size,
                  verbose=0, callbacks=[snapshots] if spatial == "involution" else [])
        networks[spatial] = model
    print(f"Trained both networks here on {size} images for {epochs} epoch(s).")
    return networks, snapshots


def accuracy_on_test(model, x_test, y_test, batch: int = 1000) -> float:
    """Share of test images (uint8, scaled here) whose largest logit is the true class."""
    logits = np.concatenate([
        keras.ops.convert_to_numpy(model(np.asarray(x_test[start:start + batch]) / 255.0, training=False))
        for start in range(0, len(x_test), batch)
    ])
    return float(np.mean(logits.argmax(axis=1) == np.asarray(y_test).reshape(-1)))


def network_to_inspect(trained):
    """The involution network that notebook 04 saved, when it did, else ``trained``; and a phrase
    saying which."""
    saved = saved_model_path("example_involution")
    if saved:
        return keras.models.load_model(saved, compile=False), "the network saved by notebook 04"
    return trained, "the network trained here"


def record_similarity(layer_names, involution_scores, conv_scores) -> None:
    """Record notebook 05's headline similarities: each involution layer's mean S over the images
    (``involution_scores`` is images x layers) and the convolutions' mean."""
    from .headlines import record

    for name, scores in zip(layer_names, np.asarray(involution_scores).T):
        record(f"kernel similarity S, {name}", float(scores.mean()), show=False)
    record("kernel similarity S, convolution", float(np.mean(conv_scores)), show=False)
