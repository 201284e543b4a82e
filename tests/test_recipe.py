"""The modern training recipe: augmentation, normalisation, schedule, and a tiny training run."""

import numpy as np
import pytest

from involution_course.recipe import (
    Recipe,
    augment,
    channel_statistics,
    fit_with_recipe,
    learning_rate_at,
    normalise,
    one_hot,
    schedule,
)


def _images(n=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8)


def test_augment_keeps_shape_and_dtype_and_is_fixed_by_the_seed():
    images = _images()
    first = augment(images, np.random.default_rng(3))
    again = augment(images, np.random.default_rng(3))
    other = augment(images, np.random.default_rng(4))
    assert first.shape == images.shape and first.dtype == images.dtype
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_augment_is_a_flip_of_a_crop_of_the_zero_padded_image():
    images = _images(n=20)
    out = augment(images, np.random.default_rng(0), pad=2)
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    for image, result in zip(padded, out):
        crops = [image[r:r + 8, c:c + 8] for r in range(5) for c in range(5)]
        assert any(np.array_equal(result, crop) or np.array_equal(result, crop[:, ::-1]) for crop in crops)


def test_augment_without_flip_or_pad_changes_nothing():
    images = _images()
    np.testing.assert_array_equal(augment(images, np.random.default_rng(0), flip=False, pad=0), images)


def test_channel_statistics_and_normalise():
    images = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    images[..., 0] = 255
    images[1, ..., 1] = 255
    mean, std = channel_statistics(images)
    np.testing.assert_allclose(mean, [1.0, 0.5, 0.0], atol=1e-6)
    np.testing.assert_allclose(std[:2], [0.0, 0.5], atol=1e-3)
    normalised = normalise(images, mean, np.where(std > 0, std, 1))
    np.testing.assert_allclose(normalised[..., 1].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(normalised[..., 1].std(), 1.0, atol=1e-5)


def test_one_hot_takes_keras_shaped_labels():
    np.testing.assert_array_equal(one_hot(np.array([[2], [0]]), 3), [[0, 0, 1], [1, 0, 0]])


def test_schedule_warms_up_to_the_peak_then_decays_to_zero():
    total, peak = 100, 0.01
    values = [learning_rate_at(step, total_steps=total, peak=peak, warmup_fraction=0.1) for step in (0, 5, 10, 55, 100)]
    np.testing.assert_allclose(values, [0.0, 0.005, 0.01, 0.005, 0.0], atol=1e-12)
    keras_schedule = schedule(total, peak, 0.1)
    for step in (0, 5, 10, 30, 55, 99, 100):
        expected = learning_rate_at(step, total_steps=total, peak=peak, warmup_fraction=0.1)
        assert float(keras_schedule(step)) == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize("changes", [{"learning_rate": 0}, {"weight_decay": -1}, {"warmup_fraction": 1.0},
                                     {"label_smoothing": 1.0}, {"epochs": 0}, {"pad": -1}])
def test_bad_recipes_are_refused_with_a_sentence(changes):
    with pytest.raises(ValueError, match="must"):
        Recipe(**changes)


def _tiny_model(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                             keras.layers.Dense(10)])


def test_fit_with_recipe_trains_records_times_and_is_repeatable_on_the_cpu():
    rng = np.random.default_rng(0)
    images, labels = _images(n=64), rng.integers(0, 10, size=(64, 1))
    runs = [fit_with_recipe(_tiny_model(), (images, labels), (images[:16], labels[:16]),
                            recipe=Recipe(label_smoothing=0.1), epochs=2, batch_size=16, seed=1, progress=False)
            for _ in range(2)]
    run = runs[0]
    assert set(run.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(run.history["loss"]) == 2 and len(run.epoch_seconds) == 2
    assert run.mean.shape == (3,) and run.images_per_second > 0
    assert run.preprocess(images).dtype == np.float32
    for a, b in zip(runs[0].model.get_weights(), runs[1].model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fit_with_recipe_refuses_an_empty_training_set():
    with pytest.raises(ValueError, match="empty"):
        fit_with_recipe(_tiny_model(), (np.zeros((0, 8, 8, 3), np.uint8), np.zeros(0)), epochs=1)


def test_train_steps_records_every_steps_loss_and_keeps_the_normalisation():
    rng = np.random.default_rng(0)
    images, labels = _images(n=32), rng.integers(0, 10, size=(32, 1))
    from involution_course.recipe import train_steps

    run = train_steps(_tiny_model(), (images, labels), steps=3, batch_size=8, progress=False)
    assert len(run.history["loss"]) == len(run.history["accuracy"]) == 3
    assert run.mean.shape == (3,) and run.preprocess(images).shape == images.shape
    untrained = _tiny_model()
    before = [w.copy() for w in untrained.get_weights()]
    run = train_steps(untrained, (images, labels), steps=0, batch_size=8, progress=False)
    assert run.history["loss"] == [] and all(np.array_equal(a, b) for a, b in zip(before, untrained.get_weights()))
    with pytest.raises(ValueError, match="fewer than one batch"):
        train_steps(_tiny_model(), (images[:4], labels[:4]), steps=1, batch_size=8)


def test_tuning_rows_mark_the_course_recipe_and_come_best_first():
    from involution_course.checkpoints import recorded_results
    from involution_course.recipe import tuning_markdown, tuning_rows

    rows = tuning_rows(recorded_results("tune"))
    for model in {row["model"] for row in rows}:
        accuracies = [row["validation_accuracy"] for row in rows if row["model"] == model]
        assert accuracies == sorted(accuracies, reverse=True)
        assert [row["chosen"] for row in rows if row["model"] == model] == [True] + [False] * (len(accuracies) - 1)
    assert rows[0]["model"] == "fair_involution" and rows[0]["course_recipe"]  # the course's recipe is involution's
    assert all("validation" in row["evaluated_on"] for row in rows)  # never the test set
    assert "the course recipe" in tuning_markdown(rows)


def test_fairness_sentences_say_what_each_arm_was_tuned_over_chose_and_scored():
    from involution_course.recipe import fairness_sentences

    def run(phase, model, accuracy, width, kernel_size, recipe, seed=0, variant=None):
        return {"phase": phase, "model": model, "accuracy": accuracy, "width": width, "kernel_size": kernel_size,
                "recipe": recipe, "seed": seed, "variant": variant, "evaluated_on": "validation: the last 5 images"}

    low = {"learning_rate": 0.003, "weight_decay": 0.05, "label_smoothing": 0.0}
    high = {"learning_rate": 0.01, "weight_decay": 0.05, "label_smoothing": 0.1}
    tune = {"runs": [run("tune", "fair_involution", 0.80, 24, 3, low, variant=0),
                     run("tune", "fair_involution", 0.83, 24, 3, high, variant=1),
                     run("tune", "fair_conv", 0.82, 19, 3, low, variant=0),
                     run("tune", "fair_conv", 0.81, 19, 3, high, variant=1)]}
    design = {"runs": [run("design", "fair_involution", 0.85, 24, 5, high), run("design", "fair_conv", 0.79, 14, 5, low)]}
    compare = {"runs": [run("compare", "fair_involution", a, 24, 5, high, seed=s) for s, a in enumerate((0.85, 0.86, 0.84))]
               + [run("compare", "fair_conv", a, 19, 3, low, seed=s) for s, a in enumerate((0.84, 0.85, 0.86, 0.99))]
               + [run("compare", "fair_conv", 0.5, 19, 3, high, seed=0)]}  # another recipe: not the arm's
    said = fairness_sentences(tune, design, compare)
    assert "variant 1 (peak learning rate 0.01, weight decay 0.05, label smoothing 0.1) at 0.8300" in said[0]
    assert "K=3 at width 24 0.8300, K=5 at width 24 0.8500; chosen: K=5 at width 24" in said[0]
    assert "variant 0" in said[1] and "K=3 at width 19 0.8200, K=5 at width 14 0.7900; chosen: K=3 at width 19" in said[1]
    assert "same 2 candidates" in said[2]
    # Seed 3 of the CNN has no involution twin: only the shared seeds count.
    assert "seeds (0, 1, 2)" in said[3] and "fair involution 0.8500 ± 0.0100; fair conv 0.8500 ± 0.0100" in said[3]
    assert "no clear winner" in said[3]
    # A CNN twin never tuned, trained with the involution network's recipe: said, and the runs still compared.
    twin = [run("compare", "fair_conv", a, 19, 3, high, seed=s) for s, a in enumerate((0.80, 0.81, 0.82))]
    said = fairness_sentences({"runs": tune["runs"][:2]}, design, {"runs": compare["runs"][:3] + twin})
    assert "fair conv was not tuned" in said[1] and "fair involution's chosen recipe and K=3 at width 19" in said[1]
    assert "any advantage of choosing went to fair involution" in said[1]
    assert "as recorded (fair conv with fair involution's recipe)" in said[2] and "fair conv 0.8100 ± 0.0100" in said[2]
    assert "more than twice" in said[2]
