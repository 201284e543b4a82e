"""Shipped checkpoints: they load into the reference architectures and reproduce the recorded
logits; a missing or corrupt file or another architecture gives a one-sentence CheckpointError."""

import shutil

import numpy as np
import pytest

from involution_course import checkpoints
from involution_course.checkpoints import CheckpointError, load_checkpoint


def _build(model):
    from involution_instructor.experiment import build_model

    return build_model(model)


@pytest.mark.parametrize("profile,model", checkpoints.available())
def test_shipped_checkpoints_load_and_reproduce_the_recorded_logits(profile, model, capfd):
    entry = checkpoints.checkpoint_entry(model, profile)
    built = load_checkpoint(_build(model), model, profile)
    logits = np.asarray(built.predict(checkpoints.probe_inputs(), verbose=0), dtype=np.float64)
    scale = 1 + np.abs(entry["probe_logits"]).max()
    np.testing.assert_allclose(logits, entry["probe_logits"], atol=1e-3 * scale)
    assert checkpoints.probe_checksum(logits) == pytest.approx(entry["probe_checksum"], abs=1e-2 * scale)
    assert capfd.readouterr().err == ""  # notebook test cells must not write to stderr


def test_manifest_records_provenance_hashes_and_every_seeds_history():
    manifest = checkpoints.read_manifest()
    assert {"full", "recipe"} <= set(manifest["sources"])
    for entry in manifest["checkpoints"].values():
        assert entry["file"].endswith(".weights.h5") and len(entry["sha256"]) == 64
        assert entry["seed"] == 0 and "0" in entry["histories"]
    assert set(checkpoints.histories("fair_involution", "recipe")) == {"0", "1", "2"}
    assert set(checkpoints.histories("fair_conv", "full")) == {"0", "1", "2"}


@pytest.fixture
def copied(tmp_path):
    folder = tmp_path / "checkpoints"
    shutil.copytree(checkpoints.CHECKPOINTS_FOLDER, folder)
    return folder


def _one_sentence(error):
    message = str(error.value)
    assert "\n" not in message and message.endswith(".")


def test_missing_file(copied):
    (copied / "full-example_involution.weights.h5").unlink()
    with pytest.raises(CheckpointError, match="missing") as error:
        load_checkpoint(_build("example_involution"), "example_involution", "full", folder=copied)
    _one_sentence(error)


def test_corrupt_file(copied):
    path = copied / "full-example_involution.weights.h5"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt") as error:
        load_checkpoint(_build("example_involution"), "example_involution", "full", folder=copied)
    _one_sentence(error)


def test_wrong_architecture():
    with pytest.raises(CheckpointError, match="does not match") as error:
        load_checkpoint(_build("example_involution"), "example_cnn", "full")
    _one_sentence(error)


def test_same_shapes_but_other_layers_fail_the_probe():
    import keras

    model = _build("example_cnn")
    for layer in model.layers:  # same weights, another activation: only the probe can tell
        if isinstance(layer, keras.layers.ReLU):
            layer.negative_slope = 0.5
    with pytest.raises(CheckpointError, match="other outputs"):
        load_checkpoint(model, "example_cnn", "full")


def test_unknown_checkpoint_and_missing_manifest(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint named"):
        checkpoints.checkpoint_entry("resnet", "full")
    with pytest.raises(CheckpointError, match="ships no checkpoints"):
        checkpoints.read_manifest(tmp_path)


def test_preprocess_matches_each_profile():
    images = np.full((1, 32, 32, 3), 255, dtype=np.uint8)
    np.testing.assert_allclose(checkpoints.preprocess(images, "example_cnn", "full"), 1.0)
    entry = checkpoints.checkpoint_entry("fair_involution", "recipe")
    expected = (1.0 - np.float32(entry["normalisation"]["mean"])) / np.float32(entry["normalisation"]["std"])
    np.testing.assert_allclose(checkpoints.preprocess(images, "fair_involution", "recipe")[0, 0, 0], expected, rtol=1e-6)


# ------------------------------------------------------------------ recorded results


@pytest.mark.parametrize("phase", checkpoints.RESULT_PHASES)
def test_shipped_results_are_the_experiments_results(phase, project_root):
    """results_data/ ships copies of results/*.json; `cp results/*.json src/student/involution_course/results_data/`."""
    shipped = checkpoints.recorded_results(phase)
    source = project_root / "results" / f"{phase}.json"
    assert shipped == __import__("json").loads(source.read_text()), f"copy results/{phase}.json into results_data/"
    assert shipped["runs"] and shipped["provenance"]


def test_recorded_results_errors_are_one_sentence(tmp_path):
    with pytest.raises(CheckpointError, match="No recorded phase") as error:
        checkpoints.recorded_results("final")
    _one_sentence(error)
    with pytest.raises(CheckpointError, match="ships none") as error:
        checkpoints.recorded_results("tune", folder=tmp_path)
    _one_sentence(error)
    (tmp_path / "tune.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt") as error:
        checkpoints.recorded_results("tune", folder=tmp_path)
    _one_sentence(error)


def test_provenance_text_names_hardware_backend_date_commit_and_commands():
    text = checkpoints.provenance_text(checkpoints.recorded_results("compare"))
    assert "H200" in text and "jax backend" in text and "2026-" in text and "involution-instructor experiment" in text
    assert checkpoints.provenance_text({}) == "provenance not recorded"
    merged = {"provenance": [
        {"hardware": {"gpu": "NVIDIA H100"}, "date": "2026-12-07T22:29", "commit": "97dceb65", "command": "b",
         "keras": "3.15.1", "backend": "jax"},
        {"hardware": {"gpu": "NVIDIA H200"}, "date": "2026-11-29T22:28", "commit": "500c1820", "command": "a",
         "keras": "3.15.1", "backend": "jax"}]}
    assert checkpoints.provenance_text(merged) == ("one NVIDIA H100 (2026-12-07) and one NVIDIA H200 (2026-11-29), "
                                                   "Keras 3.15.1 with the jax backend, commits 97dceb6, 500c182; `b`, then `a`")


def test_verify_outputs_refuses_other_logits():
    entry = checkpoints.checkpoint_entry("example_cnn", "full")
    checkpoints.verify_outputs(entry["probe_logits"], "example_cnn", "full")
    with pytest.raises(CheckpointError, match="other outputs"):
        checkpoints.verify_outputs(np.asarray(entry["probe_logits"]) + 1.0, "example_cnn", "full")
