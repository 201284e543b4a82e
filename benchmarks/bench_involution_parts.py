"""Where the course layer's time goes: kernel generation against the K*K multiply-add.

The course's ``Involution`` does two things per call: it generates a kernel at every position
(1x1 reduce, batch normalisation, ReLU, 1x1 span) and sums K*K shifted slices of the input times
the kernel planes. Each is timed alone for one training step (forward and backward), beside the
whole layer, under each compilation mode of the backend (see bench_involution_op.py):

* whole layer (the reference of its group);
* kernel generation only: the span output, no multiply-add;
* multiply-add only: the K*K taps, forward and backward (to the input and to the kernel), with
  the kernel a weight of its own instead of generated;
* the whole layer again, with the kernel generated straight in tap order: what the reordering
  between the two parts costs.

The parts need not add up to the whole: compiled, they fuse differently.

    KERAS_BACKEND=tensorflow python benchmarks/bench_involution_parts.py [--quick] [--repeats N]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as harness  # noqa: E402
import bench_involution_op as operator_bench  # noqa: E402

BENCHMARK = "involution_op"
REPEATS = 3


def part_layers(size):
    """(case, layer) for the whole layer, each of its two parts, and the layer with its kernel in tap order."""
    from keras import ops

    from involution_course.layers import Involution

    args = (size.kernel_size, 1, size.groups, size.reduction_ratio)

    class KernelGenerationOnly(Involution):
        def call(self, x, training=None):
            return self._kernel_planes(x, training=training)

    class MultiplyAddOnly(Involution):
        def build(self, input_shape):
            super().build(input_shape)
            # The kernel as a weight of its own: the taps and both their gradients (to the input
            # and to the kernel) run, the kernel generation does not.
            batch, height, width = input_shape[:3]
            self.kernel_weight = self.add_weight(
                shape=(batch, height, width, self.kernel_size ** 2 * self.groups),
                initializer="random_normal", name="kernel_weight")

        def _kernel_planes(self, x, training=None):
            return self.kernel_weight.value

    class KernelInTapOrder(Involution):
        """The whole layer, its kernel generated straight into one plane per tap.

        The span convolution's channels run g*K*K + tap; here an einsum on the span's own weights
        writes (tap, B, H, W, G) directly, so no reordering sits between the two parts.
        """

        def call(self, x, training=None):
            z = self._reduced(x, training=training)
            g, taps = self.groups, self.kernel_size ** 2
            weights = ops.reshape(ops.cast(self.span.kernel, z.dtype), (-1, g, taps))
            bias = ops.transpose(ops.reshape(ops.cast(self.span.bias, z.dtype), (g, taps)))
            planes = ops.einsum("bhwr,rgt->tbhwg", z, weights) + bias[:, None, None, None, :]
            if self._grouped:
                planes = planes[..., None]
            return self._multiply_add(x, ops.unstack(planes, num=taps, axis=0))

    return [
        ("course Involution: whole layer", Involution(*args)),
        ("kernel generation only (reduce, BN, ReLU, span)", KernelGenerationOnly(*args)),
        (f"multiply-add only ({size.kernel_size ** 2} taps, kernel a weight)", MultiplyAddOnly(*args)),
        ("whole layer, kernel generated in tap order (einsum on the span weights)", KernelInTapOrder(*args)),
    ]


def run(sizes, repeats: int, warmup: int) -> None:
    import keras
    import numpy as np

    backend = keras.backend.backend()
    device = operator_bench.device_name()
    for size in sizes:
        x = np.random.default_rng(0).standard_normal(size.shape).astype("float32")
        keras.utils.set_random_seed(0)
        for case, layer in part_layers(size):
            context = {"group": f"{size.label}, parts", "backend": backend, "device": device}
            for mode, step in operator_bench.training_steps(layer, x).items():
                harness.note(f"{backend} {mode}: {case} at {size.label}")
                harness.emit(BENCHMARK, case, mode=mode, times=harness.measure(step, repeats=repeats, warmup=warmup),
                             details={"images": size.batch}, **context)


def main() -> None:
    args = harness.parse_args(__doc__.splitlines()[0])
    from involution_course.notebook import silence_framework_logging

    silence_framework_logging()
    quick = args.quick
    run(operator_bench.QUICK_SIZES if quick else operator_bench.SIZES,
        args.repeats or (1 if quick else REPEATS), warmup=1)


if __name__ == "__main__":
    main()
