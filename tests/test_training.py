"""Training on real CIFAR-10 images, epoch timing, saving for notebook 05, and the figures."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from involution_course import figures, training  # noqa: E402
from involution_course.data import load_cifar10  # noqa: E402
from involution_instructor.reference import models  # noqa: E402


@pytest.fixture(scope="module")
def small_cifar(shared_data):
    (x_train, y_train), (x_test, y_test) = load_cifar10(shared_data, n_train=200, n_test=100, progress=False)
    return (training.scale_images(x_train), y_train), (training.scale_images(x_test), y_test), x_test


@pytest.fixture(scope="module")
def trained_cnn(small_cifar):
    train, test, _ = small_cifar
    return training.fit(models.example_cnn(), train, test, epochs=2, batch_size=50, name="example_cnn")


def test_scale_images_maps_pixels_to_the_unit_interval():
    scaled = training.scale_images(np.array([[0, 51, 255]], dtype=np.uint8))
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, [[0.0, 0.2, 1.0]])


def test_fit_records_history_and_epoch_times(trained_cnn):
    run = trained_cnn
    assert set(run.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 2 for values in run.history.values())
    assert len(run.epoch_seconds) == 2 and all(s > 0 for s in run.epoch_seconds)
    assert run.seconds_per_epoch == run.epoch_seconds[1]  # the first epoch also compiles
    assert 0.0 <= run.final_val_accuracy <= 1.0
    assert run.history["loss"][1] < run.history["loss"][0]


def test_fit_rejects_an_empty_training_set():
    empty = (np.zeros((0, 32, 32, 3), "float32"), np.zeros((0, 1), "uint8"))
    with pytest.raises(ValueError, match="empty"):
        training.fit(models.example_cnn(), empty, empty, epochs=1, batch_size=8)


def test_saved_models_reload_with_the_same_predictions(trained_cnn, small_cifar, tmp_path, monkeypatch):
    monkeypatch.setenv("INVOLUTION_COURSE_BUILD", str(tmp_path))
    _, (x_test, _), _ = small_cifar
    rows = [{"model": "example_cnn", "test_accuracy": trained_cnn.final_val_accuracy}]
    folder = training.save_runs([trained_cnn], rows, "quick")
    assert folder == tmp_path / "models"
    reloaded = keras.saving.load_model(folder / "example_cnn.keras")
    np.testing.assert_allclose(reloaded.predict(x_test[:8], verbose=0),
                               trained_cnn.model.predict(x_test[:8], verbose=0), rtol=1e-5, atol=1e-5)
    results = training.load_results(folder)
    assert results["profile"] == "quick" and results["rows"] == rows
    assert results["histories"]["example_cnn"] == trained_cnn.history


def test_involution_network_survives_saving(tmp_path):
    model = models.example_involution_network()
    model.save(tmp_path / "inv.keras")
    reloaded = keras.saving.load_model(tmp_path / "inv.keras")
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_a_smaller_profile_keeps_a_larger_profiles_models(tmp_path, monkeypatch):
    monkeypatch.setenv("INVOLUTION_COURSE_BUILD", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "results.json").write_text(json.dumps({"profile": "full", "rows": []}))
    assert training.models_directory("grading") == tmp_path / "models" / "grading"
    assert training.models_directory("full") == tmp_path / "models"


def test_load_results_without_a_run_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="Run notebook 04"):
        training.load_results(tmp_path)


def test_figures_draw_real_results(trained_cnn, small_cifar):
    _, (_, y_test), x_raw = small_cifar
    curves = figures.learning_curves({"example_cnn": trained_cnn.history})
    assert [axis.get_ylabel() for axis in curves.axes] == ["loss", "accuracy"]
    assert len(curves.axes[1].lines) == 2  # training and validation
    confusion = np.diag(np.arange(1, 11))
    matrix = figures.confusion_matrix_figure(confusion, [str(i) for i in range(10)])
    assert matrix.axes[0].get_xlabel() == "predicted class"
    bars = figures.per_class_accuracy_figure({"a": np.linspace(0, 1, 10), "b": np.ones(10)}, list("abcdefghij"))
    assert len(bars.axes[0].patches) == 20
    grid = figures.misclassified_grid(x_raw[:5], y_test[:5], (y_test[:5, 0] + 1) % 10, [str(i) for i in range(10)], columns=4)
    assert sum(1 for axis in grid.axes if axis.images) == 5
    with pytest.raises(ValueError, match="as many labels"):
        figures.misclassified_grid(x_raw[:5], y_test[:4], y_test[:5], [str(i) for i in range(10)])
