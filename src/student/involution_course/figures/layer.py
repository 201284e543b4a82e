"""Figures and measurements of notebook 03 (the involution layer in Keras): the course's plumbing,
kept out of the cells so that each cell shows what it teaches."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["finished", "loss_curve", "output_change", "print_recorded_steps", "report_timings", "time_training_steps",
           "timing_bars"]

RECORDED_STEPS = Path(__file__).resolve().parent.parent / "results_data" / "layer-step-cpu.json"


def finished(exercises: str, *calls) -> None:
    """Run each of ``calls`` (a quick use of an answer); stop the cell with one sentence naming
    ``exercises`` where one still raises ``NotImplementedError``."""
    from involution_course.exercises import ExerciseUnfinished

    try:
        for call in calls:
            call()
    except NotImplementedError:
        raise ExerciseUnfinished(f"Finish {exercises} first: this cell uses your answers.") from None


def time_training_steps(methods: dict, x, modes, repeats: int):
    """Milliseconds of one training step (forward, sum of squares, gradients with respect to the input and
    every weight) of each layer of ``methods`` under each of ``modes`` ("eager", "XLA"), TensorFlow:
    the best of ``repeats`` runs after a warm-up, the methods taking turns so that a passing load hits
    them alike."""
    import tensorflow as tf

    from involution_course.progress import progress_bar

    def gradient_step(layer):
        def step(inputs):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                loss = tf.reduce_sum(tf.square(layer(inputs, training=True)))
            return tape.gradient(loss, [inputs] + layer.trainable_variables)

        return step

    compile_modes = {"eager": lambda f: f, "XLA": lambda f: tf.function(f, jit_compile=True)}
    x = tf.constant(x)
    milliseconds = np.zeros((len(modes), len(methods)))
    for m, mode in enumerate(progress_bar(list(modes), desc="timing modes")):
        steps = [compile_modes[mode](gradient_step(layer)) for layer in methods.values()]
        for step in steps:
            step(x)  # builds the layer and, for XLA, compiles
        best = np.full(len(steps), np.inf)
        for _ in range(repeats):
            for k, step in enumerate(steps):
                start = time.perf_counter()
                _ = step(x)[0].numpy()
                best[k] = min(best[k], time.perf_counter() - start)
        milliseconds[m] = best * 1e3
    return milliseconds


def report_timings(methods, modes, milliseconds, batch: int, repeats: int) -> None:
    """Print the times of ``time_training_steps`` with their ratios, and keep the ratios as headline figures.
    Columns: the course's layer, the patch method, DepthwiseConv2D, in that order."""
    import involution_course as ic

    print(f"TensorFlow, this machine, batch {batch}, best of {repeats} runs, one training step:")
    for m, mode in enumerate(modes):
        course, patches, depthwise = milliseconds[m]
        print(f"  {mode:5s}: Involution {course:.1f} ms, extract_patches {patches:.1f} ms ({patches / course:.2f}x the time), "
              f"DepthwiseConv2D {depthwise:.1f} ms (Involution takes {course / depthwise:.2f}x its time)")
        ic.record(f"{mode}: extract_patches time / Involution time", float(patches / course), "x", show=False)
        ic.record(f"{mode}: Involution time / DepthwiseConv2D time", float(course / depthwise), "x", show=False)


def recorded_steps(path=RECORDED_STEPS) -> dict:
    """The course's recorded timings of one training step on TensorFlow (``results/layer-step-cpu.json``)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def print_recorded_steps(path=RECORDED_STEPS) -> None:
    """Print the recorded times of the course's layer and the recorded ratios, patch method over the course's
    layer and the layer over DepthwiseConv2D, per size and mode, with the date, machine and command."""
    data = recorded_steps(path)
    source = data["provenance"]
    medians = {(row["group"], row["mode"], row["case"]): row["median"] for row in data["rows"]}
    print(f"Recorded by the course on {source['date']}: {source['machine']}, {source['software']}")
    print(f"  ({source['command']}; {source['what']})")
    group = None
    for ratio in data["ratios"]:
        if ratio["group"] != group:
            group = ratio["group"]
            print(f"  {group}:")
        course = medians[(group, ratio["mode"], "course Involution")]
        print(f"    {ratio['mode']:11s}: course {course * 1e3:7.1f} ms, extract_patches {ratio['patches_over_course']:g}x its time, "
              f"course {ratio['course_over_depthwise']:g}x DepthwiseConv2D's time")



def timing_bars(methods, modes, milliseconds) -> Figure:
    """Grouped bars: forward+backward time of each method (bars) under each compilation mode (groups).

    ``milliseconds[m][k]`` is the time of ``methods[k]`` under ``modes[m]``.
    """
    times = np.asarray(milliseconds, dtype=float)
    if times.shape != (len(modes), len(methods)):
        raise ValueError(
            f"milliseconds must have one row per mode and one column per method, "
            f"shape ({len(modes)}, {len(methods)}); got {times.shape}."
        )
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(methods)
    centres = np.arange(len(modes))
    for k, method in enumerate(methods):
        positions = centres + (k - (len(methods) - 1) / 2) * width
        bars = ax.bar(positions, times[:, k], width, label=method)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(centres, modes)
    ax.set_ylabel("forward + backward (ms)")
    ax.set_title("Time per batch, lower is better")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def loss_curve(losses, title: str = "Training loss, one value per step") -> Figure:
    """The training loss of each step, in order; a straight line shows the overall trend."""
    values = np.asarray(losses, dtype=float).ravel()
    if values.size < 2:
        raise ValueError(f"a loss curve needs the losses of at least two steps; got {values.size}.")
    if not np.all(np.isfinite(values)):
        raise ValueError("the losses contain NaN or infinite values: the training diverged.")
    steps = np.arange(1, values.size + 1)
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(steps, values, marker="o", markersize=3, label="loss of the step's batch")
    slope, intercept = np.polyfit(steps, values, 1)
    ax.plot(steps, slope * steps + intercept, linestyle="--", color="0.4", label="trend")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")
    ax.set_ylabel("cross-entropy")
    ax.set_title(title)
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def training_plan(profile) -> tuple[int, int, bool]:
    """(batch, passes over the images, run eagerly) for section 7's short training run: fewer passes and no
    traced graph when autograding, where tracing costs more than so few steps."""
    grading = profile.name == "grading"
    return 64, 2 if grading else 5, grading


def timing_plan(profile) -> tuple[int, list[str], int]:
    """(batch, modes, repeats) for section 8's timings: when autograding, the eager mode alone on a smaller batch."""
    grading = profile.name == "grading"
    return (32 if grading else 256), (["eager"] if grading else ["eager", "XLA"]), 3 * profile.repeats


def record_training(first: float, last: float) -> None:
    """Keep section 7's two losses as the notebook's headline figures."""
    from ..headlines import record

    record("training loss of your layer's network, first 4 steps", float(first), show=False)
    record("training loss of your layer's network, last 4 steps", float(last), show=False)


def output_change(model, reloaded, images) -> float:
    """The largest change of ``model``'s outputs on ``images`` after a save and reload into
    ``reloaded``, printed and kept as a headline figure."""
    from keras import ops

    from ..headlines import record

    gap = float(np.max(np.abs(ops.convert_to_numpy(model(images)) - ops.convert_to_numpy(reloaded(images)))))
    record("largest output change after save and reload", gap)
    return gap
