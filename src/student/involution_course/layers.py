"""The course's reference involution layer for Keras 3, and a RedNet-style bottleneck block.

Involution (Li et al., CVPR 2021) of an input ``x`` of shape (B, H, W, C) with an odd
kernel size K, stride s and G channel groups::

    out[b, i, j, c] = sum_{ki, kj < K} x_pad[b, i*s + ki, j*s + kj, c] * kernel[b, i, j, c // (C/G), ki, kj]

``x_pad`` is ``x`` zero-padded by (K - 1) / 2 on each side; the output is ceil(H/s) x ceil(W/s).
The kernel is generated from the input itself: block average pooling (``BlockAveragePooling2D``,
when s > 1: the mean over the pixels inside the image of the s x s block starting at (i*s, j*s)),
a 1x1 "reduce" convolution to max(1, C // r) channels, batch normalisation, ReLU and a 1x1 "span"
convolution to K*K*G channels, whose channel g*K*K + ki*K + kj is kernel[..., g, ki, kj].

The layer uses ``keras.ops`` only, so it runs on TensorFlow, JAX and PyTorch. The multiply-add is
written in the form that is fastest where it runs (each computes the same sums, to float rounding):

* a fused GPU kernel, where one applies (:func:`involution_course.fused.fused_multiply_add`:
  Pallas on JAX, Triton on PyTorch);
* TensorFlow under XLA (``jit_compile=True``): small layers the per-tap sum below, which XLA
  fuses into a few loops; large ones by kernel rows: the K shifted slices of a row stacked on a
  last axis, so that the backward pass reduces a row's stack against the upstream gradient once
  for K planes, a custom gradient building the stacks there only (XLA would otherwise keep
  them, K*K times the input, in memory);
* TensorFlow op by op (eagerly or in a ``tf.function`` without XLA): every op is a separate
  kernel, so few large ops beat K*K small ones. Depthwise convolutions with one-hot filters copy
  the K*K shifted windows of each channel side by side (the patch tensor, K*K times the input's
  size), and one ``einsum`` contracts it with the kernel over the taps (a multiply and a sum
  where TensorFlow uses oneDNN, whose batched matrix product is slow on small matrices);
* JAX (``jax.jit`` or op by op): the sum over the K*K taps of a shifted slice times that tap's
  plane, each plane widened over its group's channels by concatenation and split off with one
  ``split``: XLA's CPU backend then runs the backward pass as fused loops too, where a broadcast's
  gradient (a reduction) and per-tap plane slices (whose gradients it does not fuse) cost far more;
* elsewhere (PyTorch without a GPU kernel): the same sum over taps, each plane broadcast over its
  group (``_multiply_add``).

The 1 x 1 convolutions of the kernel generator run as matrix products over the channels with the
sublayers' own weights, which XLA's CPU backend runs several times faster than a 1 x 1 convolution.

``refusing_reference`` is a grading hook: while it is active, ``Involution`` and its helpers
raise, so that notebook 03's tests can tell a student's own layer from one that delegates here.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys

import keras
import numpy as np
from keras import layers, ops

from .fused import fused_multiply_add

__all__ = ["BlockAveragePooling2D", "Involution", "ReferenceRefused", "bottleneck", "refusing_reference"]


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive whole number; got {value!r}.")
    return value


def _output_size(size, stride: int):
    """ceil(size / stride), or None when the size is only known at call time."""
    return None if size is None else -(-size // stride)


@keras.saving.register_keras_serializable(package="involution_course")
class BlockAveragePooling2D(layers.Layer):
    """The mean of each s x s block that starts at (i*s, j*s), over the pixels inside the input.

    The output is ceil(H / s) x ceil(W / s), and output pixel (i, j) averages exactly the input
    pixels that involution of stride s applies its kernel at: notebook 02's ``average_pool``.
    Keras' ``AveragePooling2D(s, s, padding="same")`` differs for s >= 3: it centres its padding,
    so a block can start one pixel early (H = 4, s = 3: its second block covers rows 2 to 4, not
    3 to 5). Padding at the bottom and right only, then dividing by the share of real pixels in
    each block, keeps the blocks aligned on every backend.
    """

    def __init__(self, pool_size, **kwargs):
        super().__init__(**kwargs)
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f"pool_size must be a positive whole number; got {pool_size!r}.")
        self.pool_size = pool_size

    def call(self, x):
        s = self.pool_size
        if s == 1:
            return x
        padding = ((0, 0), (0, s - 1), (0, s - 1), (0, 0))
        sums = ops.average_pool(ops.pad(x, padding), s, s, padding="valid")
        real = ops.average_pool(ops.pad(ops.ones_like(x[:1, :, :, :1]), padding), s, s, padding="valid")
        return sums / real

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        s = self.pool_size
        return (batch, None if height is None else -(-height // s), None if width is None else -(-width // s), channels)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


@keras.saving.register_keras_serializable(package="involution_course")
class Involution(layers.Layer):
    """Involution: a spatially varying, channel-shared kernel generated from the input.

    Args:
        kernel_size: odd K, the side of the square kernel.
        stride: s; the output is ceil(H / s) x ceil(W / s).
        groups: G; channels are split into G contiguous groups that share a kernel.
            The input's channel count must be divisible by G.
        reduction_ratio: r; the kernel-generating network squeezes C channels to max(1, C // r).

    ``call`` returns the output only, so the layer works inside ``keras.Sequential``;
    ``generate_kernel(x)`` returns the kernel (B, H_out, W_out, G, K, K) for inspection.
    """

    def __init__(self, kernel_size=3, stride=1, groups=1, reduction_ratio=2, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = _positive_int(kernel_size, "kernel_size")
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size must be odd so the kernel has a centre pixel; got {kernel_size}. "
                f"Use {kernel_size - 1} or {kernel_size + 1}."
            )
        self.stride = _positive_int(stride, "stride")
        self.groups = _positive_int(groups, "groups")
        self.reduction_ratio = _positive_int(reduction_ratio, "reduction_ratio")

    # -- building -----------------------------------------------------------------------------
    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"Involution expects images of shape (batch, height, width, channels); "
                f"got an input of shape {tuple(input_shape)}."
            )
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "Involution needs to know the number of channels when it is built; "
                "give the input's last dimension, e.g. keras.Input((None, None, 3))."
            )
        if channels % self.groups:
            raise ValueError(
                f"The input's {channels} channels cannot be split into groups={self.groups} "
                f"equal groups; choose groups that divides {channels}."
            )
        self.channels = channels
        k, g, s = self.kernel_size, self.groups, self.stride
        # Sublayers follow this layer's dtype policy, so mixed precision reaches them all.
        policy = self.dtype_policy
        # ceil(H/s) blocks that start at (i*s, j*s), as the multiply-add's output pixels do.
        self.pool = BlockAveragePooling2D(s, dtype=policy, name="pool") if s > 1 else None
        self.reduce = layers.Conv2D(max(1, channels // self.reduction_ratio), 1, dtype=policy, name="reduce")
        self.bn = layers.BatchNormalization(dtype=policy, name="bn")
        self.span = layers.Conv2D(k * k * g, 1, dtype=policy, name="span")

        batch, height, width = input_shape[:3]
        pooled = (batch, _output_size(height, s), _output_size(width, s), channels)
        self.reduce.build(pooled)
        reduced = self.reduce.compute_output_shape(pooled)
        self.bn.build(reduced)
        self.span.build(reduced)
        if self.pool is not None:
            self.pool.build((batch, height, width, channels))

    # -- kernel generation --------------------------------------------------------------------
    def _reduced(self, x, training=None):
        """The kernel generator's hidden features: pool (stride > 1), 1x1 reduce, BN, ReLU."""
        pooled = self.pool(x) if self.pool is not None else x
        return ops.relu(self.bn(self._pointwise(self.reduce, pooled), training=training))

    def _kernel_planes(self, x, training=None):
        """The span output (B, H_out, W_out, G*K*K); channel g*K*K + ki*K + kj."""
        return self._pointwise(self.span, self._reduced(x, training=training))

    @staticmethod
    def _pointwise(conv, x):
        """``conv(x)`` for a 1x1, stride-1 ``Conv2D``, as a matrix product over the channels."""
        if conv.data_format != "channels_last" or tuple(conv.strides) != (1, 1):
            return conv(x)
        kernel = conv.kernel  # with LoRA's update when enabled, cast to the compute dtype
        out = ops.matmul(x, ops.reshape(kernel, tuple(kernel.shape[2:])))
        if conv.use_bias:
            out = out + conv.bias
        return conv.activation(out)

    def generate_kernel(self, x, training=False):
        """The kernel the layer applies to ``x``: shape (B, H_out, W_out, G, K, K)."""
        if not self.built:
            self.build(tuple(ops.shape(x)))
        planes = self._kernel_planes(x, training=training)
        batch, height, width = ops.shape(planes)[:3]
        k = self.kernel_size
        return ops.reshape(planes, (batch, height, width, self.groups, k, k))

    # -- the multiply-add ---------------------------------------------------------------------
    def call(self, x, training=None):
        planes = self._kernel_planes(x, training=training)
        fused = fused_multiply_add(x, planes, kernel_size=self.kernel_size, stride=self.stride, groups=self.groups)
        if fused is not None:
            return fused
        formulation = _formulation()
        if formulation == "xla":
            return self._xla_multiply_add(x, planes)
        if formulation == "patches":
            return self._patches_multiply_add(x, planes)
        if formulation == "widened":
            return self._widened_multiply_add(x, planes)
        return self._multiply_add(x, self._tap_planes(planes))

    @property
    def _grouped(self) -> bool:
        """Whether groups share channels: then the channels are handled as (G, C/G)."""
        return 1 < self.groups < self.channels

    def _tap_planes(self, planes):
        """The span output as K*K planes, one per tap, each (B, H_out, W_out, G), with a last
        axis of 1 when grouped so that one kernel value broadcasts over its group's channels."""
        taps = self.kernel_size ** 2
        if not self._grouped:
            return [planes[..., tap::taps] for tap in range(taps)]
        # Split off once: slicing each plane out of the last axis tap by tap (and widening it
        # to C channels) costs more than the multiply-add itself.
        planes = ops.reshape(planes, (*ops.shape(planes)[:3], self.groups, taps, 1))
        return ops.unstack(ops.moveaxis(planes, 4, 0), num=taps, axis=0)

    def _multiply_add(self, x, tap_planes):
        """The sum over the K*K taps of the shifted input times that tap's plane."""
        k, s, g = self.kernel_size, self.stride, self.groups
        pad = (k - 1) // 2
        x_pad = ops.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        if self._grouped:
            batch, height, width = ops.shape(x_pad)[:3]
            x_pad = ops.reshape(x_pad, (batch, height, width, g, self.channels // g))
        out = None
        for ki in range(k):
            for kj in range(k):
                # Rows ki, ki+s, ... of the H rows starting at ki: static bounds counted from
                # the end, so any resolution works and the slice has ceil(H/s) rows.
                rows_end = ki - (k - 1) or None
                cols_end = kj - (k - 1) or None
                window = x_pad[:, ki:rows_end:s, kj:cols_end:s]
                term = window * tap_planes[ki * k + kj]
                out = term if out is None else out + term
        if self._grouped:
            out = ops.reshape(out, (*ops.shape(out)[:3], self.channels))
        return out

    def _padded_groups(self, x):
        """x zero-padded by (K - 1) / 2 on each side, its channels split as (G, C/G)."""
        pad = (self.kernel_size - 1) // 2
        x_pad = ops.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        batch, height, width = ops.shape(x_pad)[:3]
        return ops.reshape(x_pad, (batch, height, width, self.groups, self.channels // self.groups))

    def _window(self, x_pad, ki, kj):
        """The input pixels that tap (ki, kj) meets: rows ki, ki+s, ... (bounds counted from the
        end, so any resolution works), ceil(H/s) of them, and the same for the columns."""
        k, s = self.kernel_size, self.stride
        return x_pad[:, ki:(ki - (k - 1)) or None:s, kj:(kj - (k - 1)) or None:s]

    def _xla_multiply_add(self, x, planes):
        """Under XLA: the per-tap sum (``_multiply_add``) for layers whose patch tensor would be
        small, as it leaves XLA the least scratch memory; past ``_PER_TAP_BYTES`` the K*K
        reductions of its backward pass dominate, and kernel rows (``_rows_multiply_add``) win."""
        if _patch_bytes(planes.shape, self.channels, self.kernel_size, x.dtype) > _PER_TAP_BYTES:
            return self._rows_multiply_add(x, planes)
        return self._multiply_add(x, self._tap_planes(planes))

    def _rows_multiply_add(self, x, planes):
        """Per kernel row, the K windows stacked on a last axis: the backward pass reduces a row's
        stack against the upstream gradient in one go, for the row's K planes; the forward pass
        sums the K*K products in one reduction. A custom gradient (``_rows_rebuilt_in_backward``)
        builds the stacks there only, so XLA never keeps them (K*K times the input) in memory."""
        k, g = self.kernel_size, self.groups
        x_pad = self._padded_groups(x)
        windows = [self._window(x_pad, ki, kj) for ki in range(k) for kj in range(k)]
        batch, height, width = ops.shape(planes)[:3]
        kernel = ops.reshape(planes, (batch, height, width, g, k * k))
        out = _rows_rebuilt_in_backward(k)(kernel, *windows)
        return ops.reshape(out, (batch, height, width, self.channels))

    def _patches_multiply_add(self, x, planes):
        """Op by op on TensorFlow: the patch tensor (``_patches``) contracted with the kernel over
        the K*K taps in one ``einsum``, a batched matrix product that stores no K*K-times-larger
        product (a multiply then a sum would, in both passes); with oneDNN, a multiply and a sum."""
        k, s, g = self.kernel_size, self.stride, self.groups
        batch, height, width = ops.shape(planes)[:3]
        kernel = ops.reshape(planes, (batch, height, width, g, k * k))
        patches = _patches(x, k, s, g)
        if _tensorflow_uses_onednn():  # its batched matrix product is slow on small matrices
            out = ops.sum(patches * ops.expand_dims(kernel, -2), axis=-1)
        else:
            out = ops.einsum("bhwgct,bhwgt->bhwgc", patches, kernel)
        return ops.reshape(out, (batch, height, width, self.channels))

    def _widened_multiply_add(self, x, planes):
        """On JAX: per tap, the window times the tap's plane widened over its group's channels."""
        k, g, c = self.kernel_size, self.groups, self.channels
        x_pad = self._padded_groups(x)
        batch, height, width = ops.shape(planes)[:3]
        kernel = ops.reshape(planes, (batch, height, width, g, k * k))
        out = None
        for tap, plane in enumerate(ops.split(kernel, k * k, axis=-1)):
            term = self._window(x_pad, *divmod(tap, k)) * _widen(plane, c // g)
            out = term if out is None else out + term
        return ops.reshape(out, (batch, height, width, c))

    # -- shapes and serialisation -------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, _output_size(height, self.stride), _output_size(width, self.stride), channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            kernel_size=self.kernel_size,
            stride=self.stride,
            groups=self.groups,
            reduction_ratio=self.reduction_ratio,
        )
        return config


def _formulation() -> str:
    """Which multiply-add suits the current backend and mode (see the module's description)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return "xla" if _tensorflow_compiles_with_xla() else "patches"
    if backend == "jax":
        return "widened"
    return "taps"


def _tensorflow_compiles_with_xla() -> bool:
    """Whether TensorFlow is tracing for XLA now: inside ``tf.function(jit_compile=True)``, also
    as ``model.fit`` runs it with ``jit_compile=True``. TensorFlow exposes this only internally;
    where that is missing, a traced call counts as compiled, an eager one as not."""
    import tensorflow as tf

    try:
        from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext
    except ImportError:
        return not tf.executing_eagerly()
    return bool(GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))


# Under XLA, layers whose patch tensor (B*H_out*W_out*C*K*K values) would exceed this many bytes
# use kernel rows, smaller ones the per-tap sum (measured on a 2-core CPU with the operator
# benchmark: per tap 1.1x faster at 28 MB, rows 1.8x faster at 1.2 GB).
_PER_TAP_BYTES = 128 * 2**20


def _patch_bytes(planes_shape, channels: int, kernel_size: int, dtype) -> int:
    """The patch tensor's size in bytes; a dimension unknown while tracing counts as 1."""
    batch, height, width = (size or 1 for size in planes_shape[:3])
    return batch * height * width * channels * kernel_size**2 * np.dtype(keras.backend.standardize_dtype(dtype)).itemsize


@functools.lru_cache(maxsize=16)
def _rows_rebuilt_in_backward(kernel_size: int):
    """The multiply-add of ``kernel`` (B, H, W, G, K*K) with the K*K ``windows`` (B, H, W, G, C/G)
    whose backward pass stacks each kernel row's windows again rather than keeping them."""
    k = kernel_size

    @ops.custom_gradient
    def multiply_add(kernel, *windows):
        planes = [kernel[..., tap:tap + 1] for tap in range(k * k)]
        out = ops.sum(ops.stack([w * p for w, p in zip(windows, planes)], axis=-1), axis=-1)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            g = ops.expand_dims(upstream, -1)
            rows = [ops.sum(ops.stack(windows[ki * k:(ki + 1) * k], axis=-1) * g, axis=-2) for ki in range(k)]
            return (ops.concatenate(rows, axis=-1), *[upstream * p for p in planes])

        return out, grad

    return multiply_add


def _patches(x, kernel_size: int, stride: int, groups: int):
    """The patch tensor (B, H_out, W_out, G, C/G, K*K) of x: [..., g, c, ki*K + kj] is channel
    g*C/G + c of the padded input at (i*s + ki, j*s + kj). Depthwise convolutions with one-hot
    filters build it: at stride 1 two, the K row shifts side by side (channel c*K + ki), then the
    K column shifts of each, K multiply-adds per value where one K x K convolution spends K*K;
    TensorFlow's depthwise convolution takes only equal strides on both axes, so a strided layer
    uses the one K x K convolution."""
    k, channels = kernel_size, x.shape[-1]
    pad = (k - 1) // 2
    patches = ops.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    filters = [("rows", channels), ("columns", channels * k)] if stride == 1 else [("both", channels)]
    for axis, width in filters:
        one_hot = ops.convert_to_tensor(_one_hot_shifts(k, width, axis), dtype=x.dtype)
        patches = ops.depthwise_conv(patches, one_hot, strides=stride, padding="valid", data_format="channels_last")
    batch, height, width = ops.shape(patches)[:3]
    return ops.reshape(patches, (batch, height, width, groups, channels // groups, k * k))


def _tensorflow_uses_onednn() -> bool:
    """Whether TensorFlow runs its CPU kernels through oneDNN: by default on x86, not with
    ``TF_ENABLE_ONEDNN_OPTS=0``, which ``import involution_course`` sets (TensorFlow reads it once,
    when it loads)."""
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() not in ("0", "false")


@functools.lru_cache(maxsize=32)
def _one_hot_shifts(kernel_size: int, channels: int, axis: str) -> np.ndarray:
    """Depthwise filters that copy each channel's shifts side by side: "rows" (K, 1, C, K) and
    "columns" (1, K, C, K) put channel c shifted by i in channel c*K + i; "both" (K, K, C, K*K)
    puts channel c shifted by (ki, kj) in channel c*K*K + ki*K + kj."""
    k = kernel_size
    shape = {"rows": (k, 1, 1, k), "columns": (1, k, 1, k), "both": (k, k, 1, k * k)}[axis]
    one_hot = np.eye(shape[-1], dtype="float32").reshape(shape)
    return np.repeat(one_hot, channels, axis=2)


def _widen(plane, width: int):
    """``plane`` (..., 1) repeated ``width`` times on its last axis, by doubling concatenations:
    their gradient is a sum of slices, which XLA fuses, where a broadcast's is a reduction."""
    parts, block = [], plane
    while width:
        if width & 1:
            parts.append(block)
        width >>= 1
        if width:
            block = ops.concatenate([block, block], axis=-1)
    return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)


def bottleneck(
    x,
    filters,
    *,
    spatial="involution",
    stride=1,
    kernel_size=3,
    groups=1,
    reduction_ratio=4,
    expansion=4,
    name=None,
):
    """A RedNet-style residual bottleneck block, built with the functional API.

    1x1 conv to ``filters // expansion`` channels + BN + ReLU; the spatial operator
    (``Involution`` or a ``Conv2D`` of the same kernel size and stride) + BN + ReLU;
    1x1 conv to ``filters`` + BN; plus the input (or a strided 1x1 conv + BN of it when the
    shape changes); then ReLU. Involution cannot change the channel count, so the 1x1
    convolutions around it do.
    """
    if spatial not in ("involution", "conv"):
        raise ValueError(f'spatial must be "involution" or "conv"; got {spatial!r}.')
    filters = _positive_int(filters, "filters")
    stride = _positive_int(stride, "stride")
    expansion = _positive_int(expansion, "expansion")
    width = filters // expansion
    if width < 1:
        raise ValueError(
            f"filters={filters} with expansion={expansion} leaves no channels inside the block; "
            f"use filters of at least {expansion}."
        )

    def named(part):
        return None if name is None else f"{name}_{part}"

    in_channels = x.shape[-1]
    y = layers.Conv2D(width, 1, use_bias=False, name=named("reduce_conv"))(x)
    y = layers.BatchNormalization(name=named("reduce_bn"))(y)
    y = layers.ReLU(name=named("reduce_relu"))(y)
    if spatial == "involution":
        y = Involution(kernel_size, stride, groups, reduction_ratio, name=named("involution"))(y)
    else:
        y = layers.Conv2D(width, kernel_size, strides=stride, padding="same", use_bias=False, name=named("conv"))(y)
    y = layers.BatchNormalization(name=named("spatial_bn"))(y)
    y = layers.ReLU(name=named("spatial_relu"))(y)
    y = layers.Conv2D(filters, 1, use_bias=False, name=named("expand_conv"))(y)
    y = layers.BatchNormalization(name=named("expand_bn"))(y)

    shortcut = x
    if stride != 1 or in_channels != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=named("shortcut_conv"))(x)
        shortcut = layers.BatchNormalization(name=named("shortcut_bn"))(shortcut)
    y = layers.Add(name=named("add"))([y, shortcut])
    return layers.ReLU(name=named("out"))(y)


# -- grading hook ---------------------------------------------------------------------------------
class ReferenceRefused(AssertionError):
    """Raised by the reference layer while ``refusing_reference`` is active."""


# Module-level helpers of the reference layer; BlockAveragePooling2D stays usable (exercises use it).
_REFUSED_HELPERS = ("_positive_int", "_output_size", "bottleneck", "_formulation", "_patch_bytes", "_rows_rebuilt_in_backward",
                    "_patches", "_tensorflow_uses_onednn", "_one_hot_shifts", "_widen")


@contextlib.contextmanager
def refusing_reference(message="this answer must compute involution itself, not use involution_course.layers.Involution"):
    """While active, every method of ``Involution`` and its module-level helpers raise
    ``ReferenceRefused(message)``; everything is restored on exit, also after an error.

    Notebook 03 asks students to write the layer that this module provides; its hidden tests run
    the student's answer inside this context, so that an answer that subclasses, wraps or calls
    ``Involution`` fails with ``message`` instead of scoring. (A class that copies the methods
    themselves, ``call = Involution.call``, keeps the originals: those tests look for that apart.)
    """

    def refuse(*args, **kwargs):
        raise ReferenceRefused(message)

    def refuse_method(self, *args, **kwargs):  # Keras reads the name of __init__'s first argument
        raise ReferenceRefused(message)

    def refused(value):
        if isinstance(value, property):
            return property(refuse_method)
        if isinstance(value, (staticmethod, classmethod)):
            return type(value)(functools.wraps(value.__func__)(refuse))
        if inspect.isfunction(value):
            return functools.wraps(value)(refuse_method)
        return None

    module = sys.modules[__name__]
    saved_attributes = {}
    saved_helpers = {name: getattr(module, name) for name in _REFUSED_HELPERS}
    try:
        for name, value in list(vars(Involution).items()):
            replacement = refused(value)
            if replacement is not None:
                saved_attributes[name] = value
                setattr(Involution, name, replacement)
        for name, value in saved_helpers.items():
            setattr(module, name, functools.wraps(value)(refuse))
        yield
    finally:
        for name, value in saved_attributes.items():
            setattr(Involution, name, value)
        for name, value in saved_helpers.items():
            setattr(module, name, value)
