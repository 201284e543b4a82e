"""The reference involution layer and the bottleneck block: behaviour on real inputs.

These tests use ``keras.ops`` and NumPy only, so they run under every Keras backend;
tests/test_layer_backends.py runs this file under JAX and PyTorch as well.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from involution_course.layers import BlockAveragePooling2D, Involution, ReferenceRefused, bottleneck, refusing_reference

RNG = np.random.default_rng(0)


def _images(batch, height, width, channels, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, height, width, channels)).astype("float32")


def _value(variable):
    return keras.ops.convert_to_numpy(variable.value)


def _randomise_weights(layer, seed=1):
    """Replace every weight (BN statistics included) by random values, so no term is trivially 0 or 1."""
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        value = rng.normal(scale=0.5, size=weight.shape)
        if "variance" in weight.path:
            value = np.abs(value) + 0.5
        weight.assign(value.astype("float32"))


def _numpy_kernel(layer, x):
    """The kernel (B, H_out, W_out, G, K, K) computed in NumPy from the layer's weights."""
    k, s, g = layer.kernel_size, layer.stride, layer.groups
    batch, height, width, channels = x.shape
    h_out, w_out = math.ceil(height / s), math.ceil(width / s)
    pooled = np.empty((batch, h_out, w_out, channels), dtype="float64")
    for i in range(h_out):
        for j in range(w_out):
            # Mean over the valid pixels of the s x s block that starts at (i*s, j*s).
            pooled[:, i, j] = x[:, i * s : i * s + s, j * s : j * s + s].mean(axis=(1, 2))
    reduce_kernel, reduce_bias = (np.asarray(w) for w in layer.reduce.weights)
    gamma, beta, mean, variance = (np.asarray(w) for w in layer.bn.weights)
    span_kernel, span_bias = (np.asarray(w) for w in layer.span.weights)
    z = pooled @ reduce_kernel[0, 0] + reduce_bias
    z = gamma * (z - mean) / np.sqrt(variance + 1e-3) + beta
    planes = np.maximum(z, 0) @ span_kernel[0, 0] + span_bias
    return planes.reshape(batch, h_out, w_out, g, k, k)


def _numpy_involution(x, kernel, stride):
    """The course's definition, term by term: out[b,i,j,c] = sum x_pad[b,i*s+ki,j*s+kj,c] * kernel[b,i,j,g(c),ki,kj]."""
    batch, height, width, channels = x.shape
    _, h_out, w_out, groups, k, _ = kernel.shape
    pad = (k - 1) // 2
    x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))).astype("float64")
    group_of_channel = np.arange(channels) // (channels // groups)
    out = np.zeros((batch, h_out, w_out, channels))
    for i in range(h_out):
        for j in range(w_out):
            window = x_pad[:, i * stride : i * stride + k, j * stride : j * stride + k, :]  # (B, K, K, C)
            weights = kernel[:, i, j][:, group_of_channel]  # (B, C, K, K)
            out[:, i, j] = np.einsum("bklc,bckl->bc", window, weights)
    return out


def _keras_example_output(x, kernel_planes, kernel_size):
    """The Keras example's computation (groups=1, stride 1), as it describes it.

    Patches from ``tf.image.extract_patches`` (padding "SAME") reshaped to (H, W, K*K, C/G, G),
    times the kernel reshaped to (H, W, K*K, 1, G), summed over the K*K axis.
    """
    import tensorflow as tf

    batch, height, width, channels = x.shape
    groups = 1
    k = kernel_size
    patches = tf.image.extract_patches(
        x, sizes=[1, k, k, 1], strides=[1, 1, 1, 1], rates=[1, 1, 1, 1], padding="SAME"
    )
    patches = tf.reshape(patches, (batch, height, width, k * k, channels // groups, groups))
    kernel = tf.reshape(kernel_planes, (batch, height, width, k * k, 1, groups))
    out = tf.reduce_sum(kernel * patches, axis=3)
    return tf.reshape(out, (batch, height, width, channels)).numpy()


# --- shapes -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "height, width, stride, expected",
    [(32, 32, 1, (32, 32)), (32, 32, 2, (16, 16)), (7, 9, 2, (4, 5)), (45, 61, 2, (23, 31)), (10, 11, 3, (4, 4))],
)
def test_output_size_is_ceil_of_input_over_stride(height, width, stride, expected):
    layer = Involution(kernel_size=3, stride=stride)
    x = _images(2, height, width, 3)
    out = keras.ops.convert_to_numpy(layer(x))
    assert out.shape == (2, *expected, 3)
    assert layer.compute_output_shape((2, height, width, 3)) == (2, *expected, 3)
    assert layer.compute_output_shape((None, None, None, 3)) == (None, None, None, 3)


def test_keras_example_shape_checks():
    x = _images(4, 64, 64, 3)
    assert tuple(Involution(3, 1, 1, 2)(x).shape) == (4, 64, 64, 3)
    assert tuple(Involution(3, 2, 1, 2)(x).shape) == (4, 32, 32, 3)
    # The example's third check: a reduction network of width 16 (6 channels, ratio 2 -> 3; here 32 // 2).
    layer = Involution(3, 1, 1, 2)
    assert tuple(layer(_images(4, 64, 64, 32)).shape) == (4, 64, 64, 32)
    assert layer.reduce.filters == 16


def test_generated_kernel_has_course_layout():
    layer = Involution(kernel_size=5, stride=2, groups=4, reduction_ratio=4)
    kernel = layer.generate_kernel(_images(3, 9, 12, 8))
    assert tuple(kernel.shape) == (3, 5, 6, 4, 5, 5)
    assert layer.reduce.filters == 2 and layer.span.filters == 5 * 5 * 4


def test_reduction_never_goes_below_one_channel():
    layer = Involution(reduction_ratio=8)
    layer(_images(1, 5, 5, 3))
    assert layer.reduce.filters == 1


# --- values -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kernel_size, stride, groups, shape",
    [(3, 1, 1, (2, 6, 7, 4)), (3, 2, 2, (2, 7, 9, 4)), (5, 2, 4, (1, 9, 8, 8)), (3, 3, 3, (2, 10, 11, 6)), (7, 1, 2, (1, 8, 8, 4))],
)
def test_output_equals_the_definition(kernel_size, stride, groups, shape):
    x = _images(*shape)
    layer = Involution(kernel_size, stride, groups, reduction_ratio=2)
    layer.build(shape)
    _randomise_weights(layer)
    kernel = keras.ops.convert_to_numpy(layer.generate_kernel(x))
    np.testing.assert_allclose(kernel, _numpy_kernel(layer, x), rtol=1e-5, atol=1e-5)
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(out, _numpy_involution(x, kernel.astype("float64"), stride), rtol=1e-5, atol=1e-5)


def test_output_equals_the_keras_example_for_one_group_and_stride_one():
    x = _images(2, 11, 13, 3)
    layer = Involution(kernel_size=3, stride=1, groups=1, reduction_ratio=2)
    layer.build(x.shape)
    _randomise_weights(layer)
    planes = keras.ops.convert_to_numpy(layer.generate_kernel(x)).reshape(2, 11, 13, 9)
    expected = _keras_example_output(x, planes, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_channels_in_one_group_share_their_kernel():
    # groups=2 on 4 channels: channels 0, 1 share a kernel, as do 2, 3 (contiguous groups).
    x = _images(1, 6, 6, 1)
    x4 = np.repeat(x, 4, axis=-1)
    layer = Involution(3, 1, groups=2, reduction_ratio=2)
    out = keras.ops.convert_to_numpy(layer(x4))
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-6)
    np.testing.assert_allclose(out[..., 2], out[..., 3], atol=1e-6)
    assert not np.allclose(out[..., 1], out[..., 2], atol=1e-4)


def test_any_resolution_in_one_model():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, Involution(3, stride=2)(Involution(3)(inputs)))
    small = keras.ops.convert_to_numpy(model(_images(2, 32, 32, 3)))
    large = keras.ops.convert_to_numpy(model(_images(2, 45, 61, 3)))
    assert small.shape == (2, 16, 16, 3) and large.shape == (2, 23, 31, 3)
    assert np.isfinite(large).all()


def test_training_uses_batch_statistics_and_reaches_every_weight():
    x = _images(8, 8, 8, 4)
    inputs = keras.Input((None, None, 4))
    outputs = keras.layers.GlobalAveragePooling2D()(Involution(3, 2, 2, 2)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(outputs))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    before = [_value(w) for w in model.trainable_weights]
    history = model.fit(x, np.ones((8, 2), "float32"), epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    # The reduce bias is followed by batch normalisation, which in training removes any constant
    # shift, so its gradient is zero, as for any bias in front of batch normalisation.
    unchanged = [
        w.path
        for w, b in zip(model.trainable_weights, before)
        if np.allclose(_value(w), b) and not w.path.endswith("reduce/bias")
    ]
    assert not unchanged, f"training did not update {unchanged}"
    inv = model.layers[1]
    assert not np.allclose(_value(inv.bn.moving_mean), 0.0), "BN moving mean was not updated in training"


def test_parameter_count_of_the_keras_example_network():
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for stage in range(3):
        x = keras.layers.ReLU()(Involution(kernel_size=3, stride=1, groups=1, reduction_ratio=2)(x))
        if stage < 2:
            x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Dense(64, activation="relu")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 13_074


# --- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"kernel_size": 4}, ["odd", "4"]),
        ({"kernel_size": 0}, ["kernel_size", "0"]),
        ({"stride": 0}, ["stride", "0"]),
        ({"groups": 1.5}, ["groups", "1.5"]),
        ({"reduction_ratio": -2}, ["reduction_ratio", "-2"]),
    ],
)
def test_bad_hyper_parameters_raise_clear_value_errors(kwargs, words):
    with pytest.raises(ValueError) as error:
        Involution(**kwargs)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_groups_that_do_not_divide_channels_name_both_numbers():
    with pytest.raises(ValueError, match=r"5 channels.*groups=2"):
        Involution(groups=2)(_images(1, 6, 6, 5))


def test_inputs_that_are_not_images_raise_clear_value_errors():
    with pytest.raises(ValueError, match="batch, height, width, channels"):
        Involution().build((4, 8, 3))
    with pytest.raises(ValueError, match="number of channels"):
        Involution().build((None, None, None, None))


# --- serialisation ------------------------------------------------------------------------------
def test_config_round_trip():
    layer = Involution(kernel_size=5, stride=2, groups=3, reduction_ratio=4, name="inv")
    config = layer.get_config()
    assert {k: config[k] for k in ("kernel_size", "stride", "groups", "reduction_ratio")} == {
        "kernel_size": 5,
        "stride": 2,
        "groups": 3,
        "reduction_ratio": 4,
    }
    clone = Involution.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, Involution) and restored.groups == 3


def test_works_in_sequential():
    model = keras.Sequential([keras.Input((None, None, 3)), Involution(3, 2), keras.layers.ReLU(), Involution(3)])
    assert tuple(model(_images(1, 9, 9, 3)).shape) == (1, 5, 5, 3)


def test_saved_model_reloads_with_identical_outputs(tmp_path):
    inputs = keras.Input((None, None, 4))
    x = Involution(3, 2, 2, 2)(inputs)
    x = keras.layers.ReLU()(x)
    x = Involution(5, 1, 4, 2)(x)
    model = keras.Model(inputs, x)
    for layer in model.layers[1:]:
        if isinstance(layer, Involution):
            _randomise_weights(layer)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    x = _images(2, 13, 10, 4)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(reloaded(x))
    )


# --- mixed precision ----------------------------------------------------------------------------
@pytest.fixture
def restore_policy():
    previous = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_global_policy(previous)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_without_nan(policy, restore_policy):
    if policy == "mixed_float16" and keras.backend.backend() == "torch":
        pytest.skip("float16 convolutions are not implemented on PyTorch's CPU backend; bfloat16 is")
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.ReLU()(Involution(3, 2, 1, 2)(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    assert model.layers[1].reduce.compute_dtype == policy.split("_")[1]
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    labels = np.arange(16) % 10
    history = model.fit(_images(16, 12, 12, 3), labels, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(np.isfinite(_value(w).astype("float32")).all() for w in model.weights)


# --- bottleneck ---------------------------------------------------------------------------------
@pytest.mark.parametrize("spatial", ["involution", "conv"])
def test_bottleneck_changes_channels_and_resolution(spatial):
    inputs = keras.Input((None, None, 16))
    outputs = bottleneck(inputs, 32, spatial=spatial, stride=2, groups=2, expansion=4, name="block")
    model = keras.Model(inputs, outputs)
    out = keras.ops.convert_to_numpy(model(_images(2, 9, 11, 16)))
    assert out.shape == (2, 5, 6, 32)
    assert (out >= 0).all()
    names = {layer.name for layer in model.layers}
    assert {"block_shortcut_conv", "block_out"} <= names
    assert ("block_involution" in names) == (spatial == "involution")


def test_bottleneck_keeps_identity_shortcut_when_shape_is_unchanged():
    inputs = keras.Input((8, 8, 32))
    model = keras.Model(inputs, bottleneck(inputs, 32, name="same"))
    assert not any("shortcut" in layer.name for layer in model.layers)
    involution = model.get_layer("same_involution")
    assert involution.channels == 8 and involution.reduction_ratio == 4


def test_bottleneck_rejects_unknown_spatial_operator_and_too_few_filters():
    inputs = keras.Input((8, 8, 4))
    with pytest.raises(ValueError, match="spatial"):
        bottleneck(inputs, 16, spatial="attention")
    with pytest.raises(ValueError, match="filters=2"):
        bottleneck(inputs, 2, expansion=4)


# --- block pooling ------------------------------------------------------------------------------
def _numpy_block_mean(x, s):
    rows, cols = math.ceil(x.shape[1] / s), math.ceil(x.shape[2] / s)
    out = np.empty((x.shape[0], rows, cols, x.shape[3]))
    for i in range(rows):
        for j in range(cols):
            out[:, i, j] = x[:, i * s : i * s + s, j * s : j * s + s].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("stride, shape", [(1, (1, 5, 4, 2)), (2, (2, 7, 8, 3)), (3, (2, 4, 5, 2)), (3, (1, 10, 11, 3)), (4, (1, 9, 6, 1))])
def test_block_pooling_averages_the_pixels_of_each_block_inside_the_image(stride, shape):
    x = _images(*shape)
    pool = BlockAveragePooling2D(stride)
    out = keras.ops.convert_to_numpy(pool(x))
    np.testing.assert_allclose(out, _numpy_block_mean(x, stride), rtol=1e-5, atol=1e-6)
    assert pool.compute_output_shape(shape) == out.shape
    assert pool.compute_output_shape((None, None, None, 3)) == (None, None, None, 3)


def test_keras_same_pooling_is_misaligned_for_stride_three():
    """Why the course has its own pooling: "same" centres its padding, so its second block of
    4 rows at stride 3 covers rows 2-4 instead of row 3 alone."""
    x = np.arange(4, dtype="float32").reshape(1, 4, 1, 1)
    same = keras.ops.convert_to_numpy(keras.layers.AveragePooling2D(3, 3, padding="same")(x)).ravel()
    block = keras.ops.convert_to_numpy(BlockAveragePooling2D(3)(x)).ravel()
    np.testing.assert_allclose(block, [1.0, 3.0])
    assert not np.allclose(same, block)


def test_block_pooling_serialises_and_rejects_bad_sizes():
    pool = BlockAveragePooling2D(3, name="pool")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(pool))
    assert isinstance(restored, BlockAveragePooling2D) and restored.pool_size == 3
    with pytest.raises(ValueError, match="pool_size.*0"):
        BlockAveragePooling2D(0)


# --- the grading hook ---------------------------------------------------------------------------
def test_refusing_reference_stops_every_use_of_the_layer_and_restores_it():
    built = Involution(3, 2, 2, 2)
    x = _images(1, 6, 6, 4)
    before = keras.ops.convert_to_numpy(built(x))
    helper = bottleneck

    class Subclass(Involution):
        pass

    uses = {
        "construct": lambda: Involution(3),
        "subclass": lambda: Subclass(3),
        "call a built layer": lambda: built(x),
        "generate_kernel": lambda: built.generate_kernel(x),
        "internals": lambda: built._multiply_add(x, []),
        "bottleneck": lambda: helper(keras.Input((8, 8, 16)), 16),
    }
    with refusing_reference("not allowed here"):
        for what, use in uses.items():
            with pytest.raises(ReferenceRefused, match="not allowed here"):
                use()
        # The pooling layer that exercises are told to use keeps working.
        assert tuple(BlockAveragePooling2D(2)(x).shape) == (1, 3, 3, 4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(built(x)), before)
    assert tuple(Subclass(3)(x).shape) == (1, 6, 6, 4)


def test_refusing_reference_restores_after_an_error():
    with pytest.raises(KeyError):
        with refusing_reference():
            raise KeyError("a failing test")
    assert tuple(Involution(3)(_images(1, 5, 5, 3)).shape) == (1, 5, 5, 3)
    assert bottleneck.__name__ == "bottleneck" and not hasattr(bottleneck, "__wrapped__")


# --- notebook 03's figures ----------------------------------------------------------------------
def test_timing_bars_draws_one_bar_per_method_and_mode():
    from matplotlib.figure import Figure

    from involution_course.figures.layer import timing_bars

    fig = timing_bars(["a", "b", "c"], ["eager", "XLA"], [[3.0, 2.0, 1.0], [1.5, 1.0, 0.5]])
    assert isinstance(fig, Figure)
    heights = sorted(patch.get_height() for patch in fig.axes[0].patches)
    assert heights == [0.5, 1.0, 1.0, 1.5, 2.0, 3.0]
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        timing_bars(["a", "b", "c"], ["eager", "XLA"], [[1.0, 2.0]])


def test_loss_curve_draws_the_losses_and_a_trend():
    from involution_course.figures.layer import loss_curve

    fig = loss_curve([2.3, 2.2, 2.25, 2.0])
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), [2.3, 2.2, 2.25, 2.0])
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="at least two"):
        loss_curve([2.3])
    with pytest.raises(ValueError, match="diverged"):
        loss_curve([2.3, float("nan")])


# --- the multiply-add's formulations -------------------------------------------------------------
# The layer picks a formulation per backend and mode (fused kernel; under XLA per tap or by kernel
# rows; patch tensor op by op on TensorFlow; widened planes on JAX; per-tap broadcast elsewhere);
# each must give the per-tap sum and its gradients, on every backend these tests run under.
FORMULATIONS = ["_rows_multiply_add", "_patches_multiply_add", "_widened_multiply_add", "_xla_multiply_add"]
# The formulations each backend other than TensorFlow uses (torch: the per-tap sum itself).
USED_BY = {"jax": ("_widened_multiply_add",), "torch": ()}
MULTIPLY_ADD_CASES = [((2, 9, 7, 6), 3, 1, 1), ((2, 9, 7, 6), 3, 2, 2), ((1, 10, 11, 6), 5, 3, 6),
                      ((2, 8, 8, 4), 7, 1, 4), ((2, 11, 9, 4), 3, 2, 2)]


def _gradients(function, x, planes, weights):
    """Gradients of sum(function(x, planes) * weights) with respect to x and planes, as NumPy."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x, planes = tf.constant(x), tf.constant(planes)
        with tf.GradientTape() as tape:
            tape.watch([x, planes])
            loss = tf.reduce_sum(function(x, planes) * weights)
        return [g.numpy() for g in tape.gradient(loss, [x, planes])]
    if backend == "jax":
        import jax

        # Under jit: op by op, JAX compiles every one of the K^2 taps' operations on its own.
        grads = jax.jit(jax.grad(lambda a, b: (function(a, b) * weights).sum(), argnums=(0, 1)))(x, planes)
        return [np.asarray(g) for g in grads]
    import torch

    x, planes = torch.tensor(x, requires_grad=True), torch.tensor(planes, requires_grad=True)
    (function(x, planes) * torch.tensor(weights)).sum().backward()
    return [x.grad.numpy(), planes.grad.numpy()]


def _layer_and_inputs(shape, k, s, g, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype("float32")
    layer = Involution(k, s, g, 2)
    layer.build(shape)
    out_shape = (shape[0], -(-shape[1] // s), -(-shape[2] // s))
    planes = rng.standard_normal((*out_shape, g * k * k)).astype("float32")
    weights = rng.standard_normal((*out_shape, shape[3])).astype("float32")
    return layer, x, planes, weights


@pytest.mark.parametrize("method", FORMULATIONS)
@pytest.mark.parametrize("shape, kernel_size, stride, groups", MULTIPLY_ADD_CASES)
def test_every_formulation_computes_the_per_tap_sum_and_its_gradients(method, shape, kernel_size, stride, groups):
    backend = keras.backend.backend()
    if backend != "tensorflow" and method not in USED_BY.get(backend, ()):
        pytest.skip(f"{backend} never uses {method}; it is tested under TensorFlow")
    layer, x, planes, weights = _layer_and_inputs(shape, kernel_size, stride, groups)

    def per_tap(a, b):
        return layer._multiply_add(a, layer._tap_planes(b))

    formulation = getattr(layer, method)
    expected = keras.ops.convert_to_numpy(per_tap(x, planes))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(formulation(x, planes)), expected, rtol=1e-5, atol=1e-5)
    expected_kernel = _numpy_involution(x, planes.reshape(*planes.shape[:3], groups, kernel_size, kernel_size), stride)
    np.testing.assert_allclose(expected, expected_kernel, rtol=1e-5, atol=1e-5)
    for got, want in zip(_gradients(formulation, x, planes, weights), _gradients(per_tap, x, planes, weights)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("limit, used", [(0, "_rows_multiply_add"), (2**40, "_multiply_add")])
def test_xla_uses_rows_for_large_layers_and_taps_for_small_ones(limit, used, monkeypatch):
    from involution_course import layers as layers_module

    layer, x, planes, _ = _layer_and_inputs((2, 9, 7, 6), 3, 2, 2)
    monkeypatch.setattr(layers_module, "_PER_TAP_BYTES", limit)
    calls = []
    original = getattr(Involution, used)
    monkeypatch.setattr(Involution, used, lambda self, *args: calls.append(used) or original(self, *args))
    out = keras.ops.convert_to_numpy(layer._xla_multiply_add(x, planes))
    assert calls == [used]
    expected = _numpy_involution(x, planes.reshape(*planes.shape[:3], 2, 3, 3), 2)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_layer_output_is_the_same_in_every_formulation():
    x = _images(2, 9, 7, 8)
    layer = Involution(3, 2, 4, 2)
    layer(x)
    _randomise_weights(layer)
    planes = layer._kernel_planes(x, training=False)
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(out, _numpy_involution(x, _numpy_kernel(layer, x), 2), rtol=1e-4, atol=1e-4)
    for method in FORMULATIONS:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(getattr(layer, method)(x, planes)), out,
                                   rtol=1e-5, atol=1e-5)


def test_pointwise_convolutions_equal_the_conv2d_sublayers():
    """The kernel generator runs its 1x1 convolutions as matrix products of the sublayers' weights."""
    x = _images(2, 6, 5, 8)
    layer = Involution(3, 1, 2, 2)
    layer(x)
    _randomise_weights(layer)
    for conv, inputs in ((layer.reduce, x), (layer.span, keras.ops.convert_to_numpy(layer._reduced(x)))):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer._pointwise(conv, inputs)),
                                   keras.ops.convert_to_numpy(conv(inputs)), rtol=1e-5, atol=1e-5)


def test_a_fused_kernel_result_is_used_when_there_is_one(monkeypatch):
    from involution_course import layers as layers_module

    calls = []

    def fused(x, planes, *, kernel_size, stride, groups):
        calls.append((tuple(planes.shape), kernel_size, stride, groups))
        return keras.ops.zeros_like(x[:, ::stride, ::stride])

    monkeypatch.setattr(layers_module, "fused_multiply_add", fused)
    out = keras.ops.convert_to_numpy(Involution(3, 2, 2, 2)(_images(2, 6, 6, 4)))
    assert calls == [((2, 3, 3, 18), 3, 2, 2)] and out.shape == (2, 3, 3, 4) and not out.any()


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="XLA's context is TensorFlow's")
def test_tensorflow_picks_xla_forms_under_xla_and_patches_op_by_op(monkeypatch):
    import tensorflow as tf

    from involution_course import layers as layers_module

    seen = []
    choose = layers_module._formulation
    monkeypatch.setattr(layers_module, "_formulation", lambda: seen.append(choose()) or seen[-1])
    x = _images(4, 6, 6, 4)
    layer = Involution(3, 1, 2, 2)
    eager = keras.ops.convert_to_numpy(layer(x))
    graph = tf.function(lambda a: layer(a))(x).numpy()
    xla = tf.function(lambda a: layer(a), jit_compile=True)(x).numpy()
    assert seen == ["patches", "patches", "xla"]
    np.testing.assert_allclose(graph, eager, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xla, eager, rtol=1e-5, atol=1e-5)
    # model.fit compiles its step with XLA when asked to, inside a tf.function of its own.
    seen.clear()
    model = keras.Sequential([keras.Input((6, 6, 4)), layer, keras.layers.GlobalAveragePooling2D()])
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    model.fit(x, np.zeros((4, 4), "float32"), epochs=1, batch_size=4, verbose=0)
    assert "xla" in seen and "patches" not in seen


def test_the_recorded_layer_steps_ship_with_the_student_package(capsys):
    """Notebook 03 prints the recorded timings from the student package's copy of results/layer-step-cpu.json,
    with their date and machine (`cp results/layer-step-cpu.json src/student/involution_course/results_data/`);
    the record, README's table and its memory sentence are made from the raw lines by benchmarks/layer_step_table.py."""
    import json
    import sys
    from pathlib import Path

    from involution_course.figures import layer as layer_figures

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "benchmarks"))
    import layer_step_table

    source = root / "results" / "layer-step-cpu.json"
    recorded = json.loads(source.read_text())
    assert layer_figures.recorded_steps() == recorded, "copy results/layer-step-cpu.json into results_data/"
    raw = layer_step_table.read_rows(root / recorded["provenance"]["source"])
    assert recorded["ratios"] == layer_step_table.ratios(raw), "remake results/layer-step-cpu.json with layer_step_table.py"
    readme = (root / "README.md").read_text()
    assert layer_step_table.table(recorded) in readme, "README's operator table is not the one the record gives"
    assert layer_step_table.memory_sentence(recorded) in readme
    layer_figures.print_recorded_steps()
    printed = capsys.readouterr().out
    assert recorded["provenance"]["date"] in printed and recorded["provenance"]["machine"] in printed
    for ratio in recorded["ratios"]:
        assert f"extract_patches {ratio['patches_over_course']:g}x" in printed, ratio
