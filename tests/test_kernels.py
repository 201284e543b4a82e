"""Notebook 05's kernels: what the student package gives (involution_course.kernels) and the
reference answers (involution_instructor.reference.kernels), on real Keras networks.

The truth of every check is computed here (layer by layer, pair by pair, loop by loop) or
written as literals, never by the function under test.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from involution_course import kernels as kern  # noqa: E402
from involution_course.layers import Involution  # noqa: E402
from involution_instructor.reference import kernels as ref  # noqa: E402


@pytest.fixture(scope="module")
def network():
    return kern.build_small_network("involution", seed=3)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((4, 32, 32, 3)).astype("float32")


def _kernels_layer_by_layer(model, batch):
    expected = []
    for layer in model.layers:
        if isinstance(layer, Involution):
            layer_input = keras.Model(model.inputs, layer.input)(batch)
            expected.append(keras.ops.convert_to_numpy(layer.generate_kernel(layer_input)))
    return expected


# ------------------------------------------------------------------ the network


def test_small_network_has_the_example_parameter_count(network):
    trainable = sum(int(np.prod(weight.shape)) for weight in network.trainable_weights)
    assert trainable == 13_074
    assert [layer.name for layer in kern.involution_layers(network)] == ["inv_1", "inv_2", "inv_3"]


def test_convolution_twin_has_no_involution_layer():
    twin = kern.build_small_network("conv")
    assert twin.get_layer("conv_1").kernel.shape == (3, 3, 3, 3)
    with pytest.raises(ValueError, match="no Involution layer"):
        kern.involution_layers(twin)


def test_unknown_spatial_operator_is_refused():
    with pytest.raises(ValueError, match='"involution" or "conv"'):
        kern.build_small_network("attention")


# ------------------------------------------------------------------ extraction


def test_kernel_model_returns_each_layers_generated_kernel(network, images):
    got = kern.generated_kernels(ref.kernel_model(network), images)
    expected = _kernels_layer_by_layer(network, images)
    assert [k.shape for k in got] == [(4, 32, 32, 1, 3, 3), (4, 16, 16, 1, 3, 3), (4, 8, 8, 1, 3, 3)]
    for out, want in zip(got, expected):
        np.testing.assert_allclose(out, want, atol=1e-5)


def test_kernel_model_handles_stride_and_groups():
    keras.utils.set_random_seed(5)
    inputs = keras.Input((10, 10, 4))
    x = Involution(5, 1, 2, 2, name="wide")(inputs)
    x = Involution(3, 2, 4, 2, name="strided")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    batch = np.random.default_rng(1).normal(size=(2, 10, 10, 4)).astype("float32")
    got = kern.generated_kernels(ref.kernel_model(model), batch)
    assert [k.shape for k in got] == [(2, 10, 10, 2, 5, 5), (2, 5, 5, 4, 3, 3)]
    for out, want in zip(got, _kernels_layer_by_layer(model, batch)):
        np.testing.assert_allclose(out, want, atol=1e-5)


def test_saved_network_is_found_reloaded_and_inspected(network, images, tmp_path, monkeypatch):
    monkeypatch.setenv("INVOLUTION_COURSE_BUILD", str(tmp_path))
    assert kern.saved_model_path("example_involution") is None
    (tmp_path / "models").mkdir()
    network.save(tmp_path / "models" / "example_involution.keras")
    path = kern.saved_model_path("example_involution")
    assert path == tmp_path / "models" / "example_involution.keras"
    reloaded = keras.models.load_model(path)
    before = kern.generated_kernels(ref.kernel_model(network), images)
    after = kern.generated_kernels(ref.kernel_model(reloaded), images)
    for one, two in zip(before, after):
        np.testing.assert_allclose(one, two, atol=1e-6)


def test_kernel_model_works_on_a_reloaded_sequential_network(images, tmp_path):
    """Notebook 04 saves keras.Sequential networks; reloaded, they have inputs but no input."""
    keras.utils.set_random_seed(6)
    model = keras.Sequential([
        keras.Input((32, 32, 3)), Involution(3, 1, 1, 2, name="inv_1"), keras.layers.MaxPooling2D(),
        Involution(3, 1, 1, 2, name="inv_2"), keras.layers.Flatten(), keras.layers.Dense(10),
    ], name="sequential_involution")
    model.save(tmp_path / "network.keras")
    reloaded = keras.models.load_model(tmp_path / "network.keras", compile=False)
    got = kern.generated_kernels(ref.kernel_model(reloaded), images)
    for out, want in zip(got, _kernels_layer_by_layer(model, images)):
        np.testing.assert_allclose(out, want, atol=1e-5)


def test_snapshots_give_the_kernels_of_start_middle_and_end(images):
    model = kern.build_small_network("involution", seed=4)
    start = kern.generated_kernels(ref.kernel_model(model), images)
    rng = np.random.default_rng(2)
    x, y = rng.random((64, 32, 32, 3)).astype("float32"), rng.integers(0, 10, (64, 1))
    snapshots = kern.KernelSnapshots()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[snapshots])
    assert list(snapshots.weights) == ["start", "middle", "end"]
    end = kern.generated_kernels(ref.kernel_model(model), images)
    stages = snapshots.kernels(ref.kernel_model, images)
    assert list(stages) == ["start", "middle", "end"]
    for one, two in zip(stages["start"], start):
        np.testing.assert_allclose(one, two, atol=1e-6)
    for one, two in zip(stages["end"], end):
        np.testing.assert_allclose(one, two, atol=1e-6)
    assert [k.shape for k in stages["middle"]] == [k.shape for k in end]
    assert not all(np.allclose(a, b) for a, b in zip(stages["start"], stages["end"]))
    assert not all(np.allclose(a, b) for a, b in zip(stages["middle"], stages["end"]))
    # The network keeps its trained weights.
    for one, two in zip(kern.generated_kernels(ref.kernel_model(model), images), end):
        np.testing.assert_allclose(one, two, atol=1e-6)


def test_snapshots_before_training_and_a_kernel_model_that_is_no_model():
    with pytest.raises(ValueError, match="model.fit"):
        kern.KernelSnapshots().kernels(ref.kernel_model, np.zeros((1, 32, 32, 3)))
    with pytest.raises(ValueError, match="return the keras.Model"):
        kern.generated_kernels(None, np.zeros((1, 32, 32, 3)))


def test_the_modules_of_notebook_05_hold_no_answer():
    """What notebook 05 imports holds none of the functions its exercises ask for (the
    delegation test grades submissions that try the whole student package)."""
    import involution_course.checks
    import involution_course.exercises
    import involution_course.figures
    import involution_course.figures.kernels

    for module in (kern, involution_course.checks, involution_course.exercises, involution_course.figures,
                   involution_course.figures.kernels):
        held = set(ref.__all__) & set(vars(module))
        assert not held, f"{module.__name__} holds {sorted(held)}, answers of notebook 05"


# ------------------------------------------------------------------------ maps


def test_kernel_maps_sum_groups_and_window():
    kernels = np.arange(2 * 3 * 3 * 2 * 3 * 3, dtype=float).reshape(2, 3, 3, 2, 3, 3)
    maps = ref.kernel_maps(kernels)
    assert maps.shape == (2, 3, 3)
    assert maps[1, 2, 0] == kernels[1, 2, 0].sum()
    with pytest.raises(ValueError, match="last three axes"):
        ref.kernel_maps(np.ones((3, 3)))


def test_normalise_rescales_clips_and_handles_constants():
    np.testing.assert_allclose(ref.normalise([2.0, 4.0, 6.0, 10.0]), [0.0, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(ref.normalise([2.0, 4.0, 6.0, 10.0], low=4, high=8), [0.0, 0.0, 0.5, 1.0])
    assert np.all(ref.normalise(np.full((2, 2), 3.0)) == 0.0)
    with pytest.raises(ValueError, match="must not be below"):
        ref.normalise([1.0, 2.0], low=2, high=1)


def test_upsample_repeats_blocks():
    heat = np.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(ref.upsample(heat, (4, 2)), [[1, 2], [1, 2], [3, 4], [3, 4]])
    with pytest.raises(ValueError, match="whole multiple"):
        ref.upsample(heat, (5, 4))
    with pytest.raises(ValueError, match=r"\(h, w\)"):
        ref.upsample(np.ones((2, 2, 2)), (4, 4))


def test_overlay_blends_colour_over_the_image():
    from matplotlib import colormaps

    image = np.full((4, 4, 3), 255, dtype=np.uint8)
    heat = np.array([[0.0, 1.0], [1.0, 0.0]])
    blended = ref.overlay(image, heat, alpha=0.25)
    colour_one = colormaps["inferno"](1.0)[:3]
    np.testing.assert_allclose(blended[0, 3], 0.75 + 0.25 * np.array(colour_one))
    np.testing.assert_allclose(ref.overlay(image / 255.0, heat, alpha=0.0), 1.0)
    with pytest.raises(ValueError, match="alpha"):
        ref.overlay(image, heat, alpha=1.5)


# ------------------------------------------------------------------ similarity


def test_a_convolution_scores_exactly_one():
    weight = np.random.default_rng(3).normal(size=(3, 3, 3, 3))
    assert ref.position_similarity(kern.convolution_kernels(weight, 32, 32)) == pytest.approx(1.0, abs=1e-12)


def test_similarity_matches_the_pairwise_mean():
    kernels = np.random.default_rng(4).normal(size=(3, 5, 1, 3, 3))
    vectors = kernels.reshape(15, -1)
    units = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    table = units @ units.T
    expected = (table.sum() - 15) / (15 * 14)
    assert ref.position_similarity(kernels) == pytest.approx(expected, abs=1e-12)


def test_similarity_leaves_out_zero_kernels():
    kernels = np.ones((2, 2, 4))
    kernels[0, 0] = 0.0
    assert ref.position_similarity(kernels) == pytest.approx(1.0)
    assert ref.position_similarity(np.array([[[1.0, 0.0]], [[-3.0, 0.0]]])) == pytest.approx(-1.0)
    assert np.isnan(ref.position_similarity(np.zeros((3, 3, 9))))
    with pytest.raises(ValueError, match=r"\(H, W, \.\.\.\)"):
        ref.position_similarity(np.ones((4, 9)))


# ------------------------------------------------------------ local attention


def _attention_by_loops(x, w_query, w_key, size):
    batch, height, width, _ = x.shape
    pad = (size - 1) // 2
    out = np.zeros((batch, height, width, size, size))
    for b in range(batch):
        for i in range(height):
            for j in range(width):
                logits = {}
                for ki in range(size):
                    for kj in range(size):
                        r, c = i + ki - pad, j + kj - pad
                        if 0 <= r < height and 0 <= c < width:
                            logits[ki, kj] = (x[b, i, j] @ w_query) @ (x[b, r, c] @ w_key) / np.sqrt(w_query.shape[1])
                top = max(logits.values())
                total = sum(np.exp(v - top) for v in logits.values())
                for key, v in logits.items():
                    out[(b, i, j, *key)] = np.exp(v - top) / total
    return out


@pytest.mark.parametrize("size", [3, 5])
def test_local_attention_matches_the_formula(size):
    rng = np.random.default_rng(size)
    x = rng.normal(size=(2, 5, 6, 3))
    w_query, w_key = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    weights = ref.local_attention_weights(x, w_query, w_key, size)
    assert weights.shape == (2, 5, 6, size, size)
    np.testing.assert_allclose(weights, _attention_by_loops(x, w_query, w_key, size), atol=1e-12)
    np.testing.assert_allclose(weights.sum(axis=(-2, -1)), 1.0)
    assert np.all(weights[:, 0, :, 0, :] == 0.0)  # the row above the image


def test_local_attention_centre_and_errors():
    uniform = ref.local_attention_weights(np.ones((1, 3, 3, 2)), np.eye(2), np.eye(2), 3)
    assert kern.window_centre(uniform)[0, 1, 1] == pytest.approx(1 / 9)
    assert kern.window_centre(uniform)[0, 0, 0] == pytest.approx(1 / 4)
    assert kern.window_centre(np.arange(25.0).reshape(5, 5)) == 12.0
    with pytest.raises(ValueError, match="odd"):
        ref.local_attention_weights(np.ones((1, 3, 3, 2)), np.eye(2), np.eye(2), 4)
    with pytest.raises(ValueError, match=r"\(C, d\)"):
        ref.local_attention_weights(np.ones((1, 3, 3, 2)), np.eye(3), np.eye(3), 3)


# ------------------------------------------------------------ later cells


def test_needs_names_the_first_exercise_whose_result_is_missing():
    from involution_course.exercises import ExerciseUnfinished

    namespace = {"layer_kernels": [1]}
    exec("from involution_course.checks import needs\nneeds(layer_kernels='Exercise 1')", namespace)
    with pytest.raises(ExerciseUnfinished, match=r"^Finish Exercise 2 first: this cell uses `layer_maps`") as caught:
        exec("needs(layer_kernels='Exercise 1', layer_maps='Exercise 2', attention='Exercise 5')", namespace)
    # One sentence instead of a traceback in the notebook.
    assert caught.value._render_traceback_() == [f"ExerciseUnfinished: {caught.value}"]
