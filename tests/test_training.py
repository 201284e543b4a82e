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


# ------------------------------------------------------------------ sanity checks and checkpoints


def test_initial_loss_of_uniform_logits_is_ln_10():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10, kernel_initializer="zeros")])
    loss = training.initial_loss(model, np.ones((8, 4), "float32"), np.arange(8) % 10)
    assert loss == pytest.approx(np.log(10), abs=1e-6)


def test_overfit_drives_training_accuracy_up_on_a_few_images(small_cifar):
    (x_train, y_train), _, _ = small_cifar
    keras.utils.set_random_seed(0)
    run = training.overfit(models.example_cnn(), x_train[:50], y_train[:50], epochs=25, batch_size=25)
    assert "val_accuracy" not in run.history
    assert run.history["accuracy"][-1] > 0.9 > run.history["accuracy"][0]


def test_load_recorded_measures_a_checkpoint_in_the_callers_model(small_cifar, capsys):
    _, _, x_raw = small_cifar
    _, (_, y_test), _ = small_cifar
    run = training.load_recorded(models.example_cnn, "example_cnn", "full", (x_raw, y_test))
    assert isinstance(run, training.RecordedRun) and run.checkpoint_profile == "full"
    expected = np.argmax(run.model.predict(x_raw.astype("float32") / 255, verbose=0), axis=-1)
    np.testing.assert_array_equal(run.predicted, expected)
    assert run.test_accuracy == pytest.approx(np.mean(expected == y_test[:, 0]))
    assert run.final_val_accuracy == run.test_accuracy > 0.4  # a trained model, far above chance
    assert set(run.recorded_accuracy) == {"0", "1", "2"} and len(run.history["loss"]) == 20
    assert training.predicted_classes(run, x_raw) is run.predicted
    assert capsys.readouterr().out == ""


def test_load_recorded_falls_back_with_one_sentence_for_another_architecture(small_cifar, capsys):
    _, (_, y_test), x_raw = small_cifar
    assert training.load_recorded(models.example_involution_network, "example_cnn", "full", (x_raw, y_test)) is None
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("example_cnn: The model does not match") and printed.endswith("live run instead.")
    assert "\n" not in printed


# ------------------------------------------------------------------ recorded results in words


def _row(model, accuracies, parameters=100, multiply_adds=1000, recipe=None, kernel_size=None, width=None):
    kernel_size = kernel_size or (5 if model == "fair_involution" else 3)  # the designs' kernel sizes
    return {"label": model, "model": model, "width": width, "kernel_size": kernel_size, "recipe": recipe,
            "accuracy": float(np.mean(accuracies)), "accuracy_std": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0,
            "runs": len(accuracies), "accuracies": accuracies, "trainable_parameters": parameters,
            "multiply_adds": multiply_adds}


def test_compare_sentence_names_the_winner_gap_costs_and_evidence():
    rows = [_row("fair_involution", [0.80, 0.82, 0.81], 90, 950), _row("fair_conv", [0.70, 0.71, 0.72], 100, 1000)]
    sentence = training.compare_sentence(rows)
    assert sentence.startswith("Fair involution: 0.8100 ± 0.0100 over 3 seeds")
    assert "ahead by 10.0 points" in sentence and "10% fewer trainable parameters" in sentence
    assert "more than twice" in sentence
    close = [_row("fair_involution", [0.80, 0.84]), _row("fair_conv", [0.81, 0.82])]
    assert "no clear winner" in training.compare_sentence(close)
    single = [_row("fair_involution", [0.80, 0.84]), _row("fair_conv", [0.90])]
    assert training.compare_sentence(single).startswith("Fair conv: 0.9000, one seed") and "weak evidence" in training.compare_sentence(single)


def test_target_sentence_says_met_only_with_enough_seeds_at_the_target():
    assert "target is met" in training.target_sentence(_row("fair_involution", [0.86, 0.85, 0.87]))
    below = training.target_sentence(_row("fair_involution", [0.84, 0.83, 0.85]))
    assert "NOT met" in below and "1.0 points below" in below
    few = training.target_sentence(_row("fair_involution", [0.86, 0.87]))
    assert "NOT met" in few and "only 2 of the 3 seeds" in few


def test_equal_cost_sentence_pairs_settings_within_the_tolerance():
    rows = [_row("fair_involution", [0.8], 100, 1000), _row("fair_conv", [0.9], 105, 2000),
            _row("fair_conv", [0.5], 300, 3000, recipe="example")]
    assert "5% apart" in training.equal_cost_sentence(rows, "trainable_parameters")
    assert training.equal_cost_sentence(rows, "multiply_adds").startswith("No recorded pair")


def test_conclusions_come_from_the_shipped_results():
    from involution_course import checkpoints

    payloads = [checkpoints.recorded_results(phase) for phase in ("compare", "sweep", "baseline")]
    speeds = {"gpu": checkpoints.recorded_results("throughput-gpu"), "cpu": checkpoints.recorded_results("throughput-cpu")}
    rows = figures.cost_accuracy_rows(payloads, speeds)
    recipes = {(row["model"], row["recipe"]) for row in rows}
    assert ("fair_involution", None) in recipes and ("fair_involution", "example") in recipes
    involution = training.find_row(rows, "fair_involution", width=24)
    compare = [r["accuracy"] for r in payloads[0]["runs"] if r["model"] == "fair_involution"]
    assert involution["accuracies"] == sorted(compare, key=compare.index) or sorted(involution["accuracies"]) == sorted(compare)
    assert involution["accuracy"] == pytest.approx(np.mean(compare))
    sentences = training.conclusions(rows, involution_width=24)
    assert any(s.startswith("With kernel size 3, fair involution w24") and "against kernel size 5" in s for s in sentences)
    assert any(s.startswith("Under the example's recipe: ") for s in sentences)
    verdict = "NOT met" if np.mean(compare) < 0.85 or len(compare) < 3 else "met"
    assert any(f"target is {verdict}" in s for s in sentences)
    assert all(s.endswith(".") for s in sentences)
    markdown = training.results_markdown(rows)
    assert "| fair involution w24 |" in markdown and "| fair involution w24 K=3 |" in markdown
    figure = figures.cost_accuracy_figure(rows)
    assert [axis.get_xscale() for axis in figure.axes[:3]] == ["log"] * 3


def test_a_recipe_tuned_for_the_cnn_twin_is_its_own_row_and_its_own_conclusion():
    from involution_course.recipe import Recipe

    course = Recipe().as_dict()
    own = {**course, "learning_rate": 0.006, "weight_decay": 0.1, "label_smoothing": 0.1}

    def run(model, width, k, recipe, seed, accuracy):
        return {"model": model, "width": width, "kernel_size": k, "recipe": recipe, "seed": seed, "accuracy": accuracy,
                "trainable_parameters": 300_000, "multiply_adds": 50_000_000, "phase": "compare"}

    runs = ([run("fair_involution", 24, 5, course, s, a) for s, a in enumerate((0.85, 0.84, 0.86))]
            + [run("fair_conv", 19, 3, course, s, a) for s, a in enumerate((0.84, 0.84, 0.85))]
            + [run("fair_conv", 14, 5, own, s, a) for s, a in enumerate((0.86, 0.85, 0.86))])
    rows = figures.cost_accuracy_rows([{"runs": runs}])
    labels = {row["label"]: row["recipe"] for row in rows}
    assert labels == {"fair involution w24": None, "fair conv w19": None,
                      "fair conv w14 K=5 (fair conv's own recipe)": "fair conv's own"}
    assert training.find_row(rows, "fair_conv")["width"] == 19  # the course recipe's row stays the default
    sentences = training.conclusions(rows, involution_width=24)
    assert any(s.startswith("With the course recipe (the fair involution network's choice) for both: Fair involution w24")
               for s in sentences)
    own_tuning = [s for s in sentences if s.startswith("Each network with the recipe and design that its own tuning chose: ")]
    assert len(own_tuning) == 1 and "Fair conv w14 K=5 (fair conv's own recipe) is ahead by 0.7 points" in own_tuning[0]


def test_throughput_says_where_when_and_with_which_multiply_add():
    def run(model, fused, speed, multiply_add=None):
        return {"model": model, "fused": fused, "images_per_second": speed,
                **({"multiply_add": multiply_add} if multiply_add else {})}

    provenance = {"date": "2026-12-07T16:38:25+00:00", "backend": "jax", "hardware": {"gpu": "NVIDIA H100"}}
    payload = {"provenance": provenance, "runs": [
        run("fair_involution", "auto", 2000.0, ["pallas"]), run("fair_involution", "off", 1000.0, ["keras.ops"]),
        run("fair_conv", "auto", 2500.0), run("fair_conv", "off", 2400.0)]}
    sentence = training.fused_throughput_sentence(payload)
    assert sentence.startswith("With the fused kernels (NVIDIA H100, 2026-12-07, Keras on jax; the involution layers' "
                               "multiply-add: pallas): fair involution 2,000 images per second against fair conv's 2,500 "
                               "(0.80 times as fast; without the fused kernels 1,000 against 2,400, 0.42)")
    assert "example" not in sentence  # that pair was not recorded
    old = {"provenance": [provenance], "runs": [run("fair_conv", None, 30000.0)]}
    assert training.implementation_text(old).endswith("multiply-add in keras.ops (runs from before the fused kernels)")
    assert training.fused_throughput_sentence(old) == "No run with and without the fused kernels was recorded."


@pytest.mark.parametrize("build, steps, expected", [
    (models.example_involution_network, training.XLA_MIN_STEPS, True),  # TensorFlow on the CPU here
    (models.example_involution_network, training.XLA_MIN_STEPS - 1, False),  # compiling would not pay
    (models.example_cnn, 10 * training.XLA_MIN_STEPS, False),  # no involution: XLA does not help it
])
def test_fit_compiles_involution_networks_with_xla_on_a_cpu_when_it_pays(build, steps, expected):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the rule is about TensorFlow's CPU default")
    assert training.xla_pays_off(build(), steps) is expected


@pytest.mark.parametrize("steps, expected", [(training.EAGER_MAX_STEPS, True), (training.EAGER_MAX_STEPS + 1, False)])
def test_fit_runs_a_few_steps_eagerly_on_a_cpu(steps, expected):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the rule is about TensorFlow on a CPU")
    assert training.eager_pays_off(steps) is expected


def test_a_short_fit_trains_eagerly_and_a_long_one_traced():
    images = np.random.default_rng(0).random((8, 32, 32, 3), dtype=np.float32)
    labels = np.arange(8) % 10
    short = training.fit(models.example_cnn(), (images, labels), None, epochs=1, batch_size=4)
    long = training.fit(models.example_cnn(), (images, labels), None, epochs=training.EAGER_MAX_STEPS, batch_size=4)
    assert short.model.run_eagerly is training.eager_pays_off(2)
    assert not long.model.run_eagerly


def test_live_run_settings_and_the_choice_between_live_and_recorded_runs(capsys):
    from involution_course.profiles import get_profile

    grading = get_profile("grading")
    live = training.LiveRun.of(grading, 100)
    assert (live.images, live.epochs, live.batch_size) == (min(grading.live_images, 100), grading.live_epochs,
                                                           grading.batch_size)
    assert "live run of the example pair" in str(live)
    scored = training.TrainingRun("a", None, {"val_accuracy": [0.5]})
    steps = training.TrainingRun("b", None, {"loss": [2.3]})  # a few live steps: never scored
    record = training.RecordedRun("a", None, {}, [], test_accuracy=0.7, recorded_accuracy={"0": 0.8})
    chosen = training.live_or_recorded({"a": scored, "b": steps}, {"a": record, "b": None}, 10, trained_for_real=False)
    assert chosen == {"a": record, "b": steps}
    said = capsys.readouterr().out
    assert "a: live run 0.5000; recorded run (seed 0) on these 10 test images 0.7000" in said
    assert "20.0 points below the recorded one" in said and "\nb:" not in said
    assert training.live_or_recorded({"a": scored}, {"a": record}, 10, trained_for_real=True) == {"a": scored}
