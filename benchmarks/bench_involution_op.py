"""Involution as an operator: forward + backward time and peak memory, side by side.

Four ways to mix space at the same kernel size K, each timed for one training step (forward,
mean of squares, gradients with respect to the input and every trainable weight):

* the course's ``Involution`` layer (its multiply-add in the form that suits the backend and mode);
* the Keras example's approach: extract K*K patches of the input (K*K times its size), reshape
  them to (B, H, W, K*K, C/G, G), multiply by the kernel reshaped to (B, H, W, K*K, 1, G), sum;
* ``DepthwiseConv2D`` (one K x K kernel per channel, the same at every position);
* ``Conv2D`` from C to C channels.

The backend is Keras' (``KERAS_BACKEND``); every row states its compilation mode:
TensorFlow: eager, ``tf.function`` and ``tf.function(jit_compile=True)`` (XLA);
JAX: eager (op by op) and ``jax.jit`` (XLA), on the default device (a GPU when there is one);
PyTorch: eager.

The cases of one size take turns, one timed step each, so that a load that comes and goes on a
shared machine slows them alike and the ratios between them hold. ``--baseline FILE`` adds the
``Involution`` of another copy of ``layers.py`` (e.g. ``git show HEAD~3:src/student/
involution_course/layers.py > /tmp/before.py``) as a case right after the course's own, so a
change is measured before and after in one run; ``--sizes`` picks sizes by their number.

    KERAS_BACKEND=jax python benchmarks/bench_involution_op.py [--quick] [--repeats N] [--sizes 0,1]
        [--baseline FILE]
"""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as harness  # noqa: E402

BENCHMARK = "involution_op"


@dataclass(frozen=True)
class Size:
    batch: int
    height: int
    width: int
    channels: int
    kernel_size: int
    groups: int
    reduction_ratio: int
    repeats: int

    @property
    def label(self) -> str:
        return (f"{self.height}x{self.width}x{self.channels} K={self.kernel_size} G={self.groups} "
                f"r={self.reduction_ratio} batch {self.batch}")

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.batch, self.height, self.width, self.channels)


SIZES = (
    # The Keras example's network: CIFAR-10 images, 3 channels, one group.
    Size(256, 32, 32, 3, 3, 1, 2, repeats=10),
    # A RedNet-50 stage-1 involution: 56 x 56, 64 channels, K=7, 4 groups (16 channels each).
    Size(32, 56, 56, 64, 7, 4, 4, repeats=5),
    # The other two cases of the fused-kernel benchmarks (by number only: heavy on a CPU).
    Size(64, 28, 28, 256, 7, 16, 4, repeats=5),
    Size(32, 56, 56, 128, 7, 8, 4, repeats=5),
)
DEFAULT_SIZES = SIZES[:2]
QUICK_SIZES = (Size(2, 8, 8, 4, 3, 2, 2, repeats=2),)


# ----------------------------------------------------------------------------------- the layers


def example_involution_layer(kernel_size: int, groups: int, reduction_ratio: int):
    """The Keras example's involution (stride 1), its patch extraction written as the example does."""
    import keras
    from keras import layers, ops

    backend = keras.backend.backend()

    class ExtractPatchesInvolution(layers.Layer):
        def build(self, input_shape):
            channels = input_shape[-1]
            self.channels = channels
            self.reduce = layers.Conv2D(max(1, channels // reduction_ratio), 1, name="reduce")
            self.bn = layers.BatchNormalization(name="bn")
            self.span = layers.Conv2D(kernel_size * kernel_size * groups, 1, name="span")
            self.reduce.build(input_shape)
            reduced = self.reduce.compute_output_shape(input_shape)
            self.bn.build(reduced)
            self.span.build(reduced)

        def call(self, x, training=None):
            k, g, c = kernel_size, groups, self.channels
            kernel = self.span(ops.relu(self.bn(self.reduce(x), training=training)))
            batch, height, width = ops.shape(x)[:3]
            kernel = ops.reshape(kernel, (batch, height, width, k * k, 1, g))
            if backend == "tensorflow":
                import tensorflow as tf

                patches = tf.image.extract_patches(
                    images=x, sizes=[1, k, k, 1], strides=[1, 1, 1, 1], rates=[1, 1, 1, 1], padding="SAME")
            else:
                patches = ops.image.extract_patches(x, k, strides=1, padding="same")
            patches = ops.reshape(patches, (batch, height, width, k * k, c // g, g))
            out = ops.sum(kernel * patches, axis=3)
            return ops.reshape(out, (batch, height, width, c))

    return ExtractPatchesInvolution(name="extract_patches_involution")


def extract_patches_case_name() -> str:
    import keras

    where = "tf.image" if keras.backend.backend() == "tensorflow" else "keras.ops.image"
    return f"Keras example: extract_patches ({where})"


def baseline_layer_class(path: str):
    """``Involution`` from another copy of the course's ``layers.py`` (a module of its own, with
    its package's relative imports resolved against ``involution_course``)."""
    import importlib.util

    import involution_course

    name = "involution_course._baseline_layers"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise ValueError(f"--baseline must name a Python file; got {path!r}.")
    module = importlib.util.module_from_spec(spec)
    module.__package__ = involution_course.__name__
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.Involution


def candidate_layers(size: Size, baseline: str | None = None):
    """(case name, factory or None, why it is missing) in the order they are compared."""
    from keras import layers

    try:
        from involution_course.layers import Involution
    except ImportError as error:
        course = None
        missing = f"involution_course.layers.Involution is not importable ({error})"
    else:
        def course():
            return Involution(size.kernel_size, 1, size.groups, size.reduction_ratio)
        missing = ""
    k, c = size.kernel_size, size.channels
    before = []
    if baseline:
        baseline_class = baseline_layer_class(baseline)

        def earlier():
            return baseline_class(size.kernel_size, 1, size.groups, size.reduction_ratio)
        before = [(f"course Involution from {os.path.basename(baseline)}", earlier, "")]
    return [
        ("course Involution", course, missing),
        *before,
        (extract_patches_case_name(),
         lambda: example_involution_layer(k, size.groups, size.reduction_ratio), ""),
        (f"DepthwiseConv2D {k}x{k}", lambda: layers.DepthwiseConv2D(k, padding="same"), ""),
        (f"Conv2D {k}x{k}, {c} to {c}", lambda: layers.Conv2D(c, k, padding="same"), ""),
    ]


def patch_tensor_too_large(size: Size) -> str:
    """Why the example's approach would not fit in memory here, or ''."""
    patches = size.batch * size.height * size.width * size.kernel_size ** 2 * size.channels * 4
    needed = 4 * patches  # patches, their product with the kernel, and both gradients
    available = _available_memory_bytes()
    if available is not None and needed > available // 2:
        return (f"the example's patch tensors need about {needed / 2**30:.1f} GiB and this machine "
                f"has {available / 2**30:.1f} GiB available; run it on a larger machine")
    return ""


def _available_memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# ----------------------------------------------------------------------------- one training step

# Scratch memory of the last compiled step, by mode, where the compiler reports it (jax.jit);
# on a GPU this stands in for the host's resident memory, which does not see device buffers.
XLA_MEMORY: dict[str, float | None] = {}


def training_steps(layer, x):
    """{mode: step()} for this backend; each step runs forward + backward and waits for it."""
    import keras

    backend = keras.backend.backend()
    layer(x)  # builds the weights
    XLA_MEMORY.clear()
    if backend == "tensorflow":
        return _tensorflow_steps(layer, x)
    if backend == "jax":
        return _jax_steps(layer, x)
    if backend == "torch":
        return _torch_steps(layer, x)
    raise ValueError(f"no benchmark step for the Keras backend {backend!r}; use tensorflow, jax or torch.")


def _tensorflow_steps(layer, x):
    import tensorflow as tf

    x = tf.constant(x)

    def gradients(images):
        with tf.GradientTape() as tape:
            tape.watch(images)
            loss = tf.reduce_mean(tf.square(layer(images, training=True)))
        return tape.gradient(loss, [images, *layer.trainable_variables])

    graph = tf.function(gradients)
    xla = tf.function(gradients, jit_compile=True)
    return {
        "eager": lambda: gradients(x),
        "tf.function": lambda: graph(x),
        "tf.function(jit_compile=True)": lambda: xla(x),
    }


def _jax_steps(layer, x):
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(x)
    # stateless_call hands keyword arguments straight to call(), and convolutions take no `training`.
    call_arguments = {"training": True} if "training" in inspect.signature(layer.call).parameters else {}
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def loss(weights, images):
        out, _ = layer.stateless_call(weights, non_trainable, images, **call_arguments)
        return jnp.mean(jnp.square(out))

    gradients = jax.grad(loss, argnums=(0, 1))
    jitted = jax.jit(gradients)
    XLA_MEMORY["jax.jit"] = _xla_scratch_mb(jitted, trainable, x)
    return {
        "eager": lambda: jax.block_until_ready(gradients(trainable, x)),
        "jax.jit": lambda: jax.block_until_ready(jitted(trainable, x)),
    }


def _xla_scratch_mb(jitted, *args) -> float | None:
    """The scratch memory XLA plans for the compiled step (beyond inputs and outputs), or None."""
    try:
        analysis = jitted.lower(*args).compile().memory_analysis()
        return round(analysis.temp_size_in_bytes / 2**20, 1)
    except Exception:  # noqa: BLE001 - not every platform reports it
        return None


def _torch_steps(layer, x):
    import torch
    from keras import ops

    images = ops.convert_to_tensor(x).detach().requires_grad_(True)
    weights = [v.value for v in layer.trainable_variables]

    def step():
        loss = torch.mean(torch.square(layer(images, training=True)))
        grads = torch.autograd.grad(loss, [images, *weights])
        if grads[0].is_cuda:
            torch.cuda.synchronize()
        return grads

    return {"eager": step}


def device_name() -> str:
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.default_backend()
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


# -------------------------------------------------------------------------------------- the run


def run(sizes, repeats_override: int | None, warmup: int, baseline: str | None = None) -> None:
    import keras
    import numpy as np

    backend = keras.backend.backend()
    device = device_name()
    for size in sizes:
        repeats = repeats_override or size.repeats
        x = np.random.default_rng(0).standard_normal(size.shape).astype("float32")
        context = {"group": size.label, "backend": backend, "device": device}
        cases = {}  # case: ({mode: step}, {mode: XLA scratch MB})
        for case, factory, missing in candidate_layers(size, baseline):
            if factory is None:
                harness.skip(BENCHMARK, case, missing, **context)
                continue
            if case.startswith("Keras example") and (too_large := patch_tensor_too_large(size)):
                harness.skip(BENCHMARK, case, too_large, **context)
                continue
            keras.utils.set_random_seed(0)
            cases[case] = (training_steps(factory(), x), dict(XLA_MEMORY))
        modes = list(dict.fromkeys(mode for steps, _ in cases.values() for mode in steps))
        for mode in modes:
            times = _measure_in_turns({case: steps[mode] for case, (steps, _) in cases.items()},
                                      f"{backend} {mode}", size.label, repeats, warmup, context)
            for case, case_times in times.items():
                steps, scratch = cases[case]
                # Resident memory is meaningful on the host only; a GPU's is not in it.
                memory = harness.peak_memory_mb(steps[mode]) if device == "cpu" else None
                harness.emit(
                    BENCHMARK, case, mode=mode, times=case_times,
                    details={"peak_memory_mb": memory, "xla_scratch_mb": scratch.get(mode),
                             "images": size.batch}, **context,
                )


def _measure_in_turns(steps: dict, what: str, label: str, repeats: int, warmup: int, context: dict) -> dict:
    """{case: seconds of each timed step}: every case warms up, then they take turns."""
    ready = {}
    for case, step in steps.items():
        harness.note(f"{what}: {case} at {label}")
        try:
            harness.measure(step, repeats=0, warmup=warmup)
        except Exception as error:  # noqa: BLE001 - e.g. an op this compiler cannot take
            mode = what.split(" ", 1)[1]
            harness.skip(BENCHMARK, case, f"{type(error).__name__}: {str(error)[:300]}", mode=mode, **context)
            continue
        ready[case] = step
    times = {case: [] for case in ready}
    for _ in range(repeats):
        for case, step in ready.items():
            times[case] += harness.measure(step, repeats=1, warmup=0)
    return times


def main() -> None:
    harness.use_returning_allocator()
    args = harness.parse_args(__doc__.splitlines()[0], extra=_options)
    from involution_course.notebook import silence_framework_logging

    silence_framework_logging()
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    try:
        import keras  # noqa: F401 - imports the backend's framework
    except ImportError as error:
        harness.skip(BENCHMARK, "every case", f"KERAS_BACKEND={backend} needs its framework installed ({error})",
                     backend=backend)
        return
    numbered = QUICK_SIZES if args.quick else SIZES
    sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    if args.sizes:
        try:
            sizes = [numbered[int(number)] for number in args.sizes.split(",")]
        except (ValueError, IndexError):
            raise SystemExit(f"--sizes takes numbers from 0 to {len(numbered) - 1} separated by commas; got {args.sizes!r}.")
    if args.baseline and not os.path.isfile(args.baseline):
        raise SystemExit(f"--baseline must name a copy of layers.py; {args.baseline!r} is not a file.")
    run(sizes, args.repeats, warmup=1 if args.quick else 2, baseline=args.baseline)


def _options(parser) -> None:
    parser.add_argument("--sizes", help="which sizes to run, by number (0: the example's, 1: RedNet's, 2 and 3: the other fused-kernel cases; default 0,1), e.g. 0,1")
    parser.add_argument("--baseline", metavar="FILE",
                        help="also time the Involution of this copy of layers.py, right after the course's")


if __name__ == "__main__":
    main()
