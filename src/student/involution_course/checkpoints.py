"""Trained weights that ship with the course, for machines too slow to train notebook 04's models.

``checkpoints_data/`` holds the weights of seed 0 of each model (``<profile>-<model>.weights.h5``:
weights only, never an architecture) and ``manifest.json``: how they were made (command,
commit, hardware, date, seed), the sha256 of every file, how inputs must be prepared, every
seed's training history and the logits of a few fixed inputs. Two profiles:

* ``full``: the Keras example's recipe (Adam 1e-3, pixels scaled to [0, 1], 20 epochs, batch 256);
* ``recipe``: the course's modern recipe (:mod:`involution_course.recipe`; inputs normalised with
  the statistics the manifest records).

:func:`load_checkpoint` loads weights into a model the caller built, so the architecture must be
the one the weights were trained with. It checks the file's hash first and the model's
predictions on the fixed inputs afterwards. Any problem (no such checkpoint, a missing or
corrupt file, another architecture) raises :class:`CheckpointError`, with one sentence that
says what is wrong, so a caller can catch it and train instead.

The experiment's recorded results ship beside them, in ``results_data/`` (copies of the
instructor's ``results/*.json``, one file per phase: ``tune``, ``baseline``, ``compare``, ``sweep``,
``throughput-gpu``, ``throughput-cpu``); :func:`recorded_results` reads one, and
:func:`provenance_text` says in one line where and how it was measured.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

CHECKPOINTS_FOLDER = Path(__file__).resolve().parent / "checkpoints_data"
RESULTS_FOLDER = Path(__file__).resolve().parent / "results_data"
RESULT_PHASES = ("tune", "design", "baseline", "compare", "sweep", "throughput-gpu", "throughput-cpu",
                 "throughput-gpu-fused")
MANIFEST = "manifest.json"
PROBE_SEED = 20210401
PROBE_IMAGES = 4
# Predictions on the fixed inputs must match the manifest's to this tolerance (relative to the
# logits' size): loose enough for other backends' arithmetic, far too tight for another model.
PROBE_TOLERANCE = 2e-3


class CheckpointError(RuntimeError):
    """A shipped checkpoint could not be loaded; the message says why in one sentence."""


def probe_inputs() -> np.ndarray:
    """The fixed inputs whose logits the manifest records: 4 images of uniform values in [0, 1)."""
    return np.random.default_rng(PROBE_SEED).random((PROBE_IMAGES, 32, 32, 3), dtype=np.float32)


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder=None) -> dict:
    """The manifest of ``folder`` (the shipped checkpoints by default)."""
    path = Path(folder or CHECKPOINTS_FOLDER) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"No checkpoint manifest at {path}: this copy of the course ships no checkpoints.") from None
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"The checkpoint manifest {path} is corrupt: reinstall the course.") from None


def available(folder=None) -> list[tuple[str, str]]:
    """``(profile, model)`` of every shipped checkpoint."""
    entries = read_manifest(folder).get("checkpoints", {})
    return sorted((entry["profile"], entry["model"]) for entry in entries.values())


def checkpoint_entry(model_name: str, profile: str = "full", folder=None) -> dict:
    """The manifest's entry of one checkpoint (file, sha256, preprocessing, histories, probe logits)."""
    entries = read_manifest(folder).get("checkpoints", {})
    key = f"{profile}-{model_name}"
    if key not in entries:
        names = ", ".join(sorted(entries)) or "none"
        raise CheckpointError(f"No checkpoint named {key!r} is shipped (available: {names}).")
    return entries[key]


def histories(model_name: str, profile: str = "full", folder=None) -> dict[str, dict[str, list[float]]]:
    """Every seed's training history of a checkpointed model, keyed by seed (as text)."""
    return checkpoint_entry(model_name, profile, folder)["histories"]


def preprocess(images, model_name: str, profile: str = "full", folder=None) -> np.ndarray:
    """Images prepared as the checkpoint's model expects: scaled to [0, 1] (``full``) or
    normalised with the training set's statistics (``recipe``)."""
    entry = checkpoint_entry(model_name, profile, folder)
    array = np.asarray(images)
    scaled = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
    normalisation = entry.get("normalisation")
    if normalisation:
        return (scaled - np.float32(normalisation["mean"])) / np.float32(normalisation["std"])
    return scaled


def _shapes(model) -> list[list[int]]:
    return [list(weight.shape) for weight in model.weights]


def load_checkpoint(model, model_name: str, profile: str = "full", *, folder=None, verify: bool = True):
    """Load the shipped weights of ``profile``-``model_name`` into ``model`` and return it.

    ``model`` must have the architecture the weights were trained with (for notebook 04: your
    own model, built as the exercise asks). Raises :class:`CheckpointError` on any problem.
    """
    folder = Path(folder or CHECKPOINTS_FOLDER)
    entry = checkpoint_entry(model_name, profile, folder)
    path = folder / entry["file"]
    if not path.is_file():
        raise CheckpointError(f"The checkpoint file {path} is missing: reinstall the course or train the model.")
    if file_sha256(path) != entry["sha256"]:
        raise CheckpointError(f"The checkpoint file {path} is corrupt (its sha256 does not match the manifest).")
    expected = entry["weight_shapes"]
    if _shapes(model) != expected:
        raise CheckpointError(
            f"The model does not match checkpoint {profile}-{model_name}: it has {len(model.weights)} weights "
            f"and {sum(int(np.prod(s)) for s in _shapes(model)):,} values, the checkpoint "
            f"{len(expected)} and {sum(int(np.prod(s)) for s in expected):,}; build the architecture the "
            "exercise asks for."
        )
    try:
        model.load_weights(path)
    except Exception as error:  # noqa: BLE001 - Keras raises several kinds; one sentence for all
        raise CheckpointError(
            f"The weights of checkpoint {profile}-{model_name} do not fit the model "
            f"({type(error).__name__}); build the architecture the exercise asks for."
        ) from error
    if verify:
        verify_outputs(model.predict(probe_inputs(), verbose=0), model_name, profile, folder=folder)
    return model


def verify_outputs(logits, model_name: str, profile: str = "full", *, folder=None) -> None:
    """Raise :class:`CheckpointError` unless ``logits``, a model's outputs on :func:`probe_inputs`
    (unprepared), are the ones recorded for the checkpoint: the check that the model holding its
    weights computes what the trained model computed."""
    entry = checkpoint_entry(model_name, profile, folder)
    logits = np.asarray(logits, dtype=np.float64)
    recorded = np.asarray(entry["probe_logits"], dtype=np.float64)
    scale = 1.0 + np.abs(recorded).max()
    if logits.shape != recorded.shape or np.abs(logits - recorded).max() > PROBE_TOLERANCE * scale:
        raise CheckpointError(
            f"The model computes other outputs than the one checkpoint {profile}-{model_name} was trained "
            "with (same weight shapes, different layers or order); build the architecture the exercise asks for."
        )


def probe_checksum(logits) -> float:
    """The sum of the fixed inputs' logits, a one-number summary the manifest also records."""
    return float(np.asarray(logits, dtype=np.float64).sum())


# ------------------------------------------------------------------ recorded results


def recorded_results(phase: str, folder=None) -> dict:
    """The recorded results of one phase of the experiment (loaded JSON: ``provenance``,
    ``summary`` and ``runs``), from the copies that ship with the course."""
    if phase not in RESULT_PHASES:
        raise CheckpointError(f"No recorded phase {phase!r}: choose one of {', '.join(RESULT_PHASES)}.")
    path = Path(folder or RESULTS_FOLDER) / f"{phase}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"No recorded results at {path}: this copy of the course ships none.") from None
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"The recorded results {path} are corrupt: reinstall the course.") from None


def provenance_text(payload: dict) -> str:
    """One line on where a results payload was measured: each machine with the dates of its runs,
    the Keras version and backend, every commit, and every command that contributed (a file merged
    from several runs lists them all)."""
    records = payload.get("provenance") or []
    if isinstance(records, dict):
        records = [records]
    if not records:
        return "provenance not recorded"
    machines: dict[str, set] = {}
    for record in records:
        hardware = record.get("hardware", {})
        device = f"one {hardware['gpu']}" if hardware.get("gpu") else f"a {hardware.get('cpu_count', '?')}-core CPU"
        machines.setdefault(device, set()).add(str(record.get("date", "?"))[:10])
    where = " and ".join(f"{device} ({' and '.join(sorted(dates))})" for device, dates in machines.items())
    commits = ", ".join(dict.fromkeys(str(record.get("commit", "?"))[:7] for record in records))
    last = records[-1]
    commands = ", then ".join(f"`{record.get('command', '?')}`" for record in records)
    return (f"{where}, Keras {last.get('keras', '?')} with the {last.get('backend', '?')} backend, "
            f"commit{'s' if ',' in commits else ''} {commits}; {commands}")
