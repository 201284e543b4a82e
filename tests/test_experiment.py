"""The experiment runner end to end on a tiny subset (1 epoch, in-process on the CPU), and its
bookkeeping: summaries, the recipe choice, merging, provenance."""

import json

import pytest

from involution_instructor import experiment
from involution_instructor.cli import build_parser


def _tiny(model, *, width=None, kernel_size=3, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(2, kernel_size, strides=4),
                             keras.layers.Flatten(), keras.layers.Dense(10)], name=model)


@pytest.mark.slow  # about a minute on two shared cores: 9 tiny runs, each compiled
def test_experiment_runs_every_phase_and_writes_results_with_provenance(shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr(experiment, "build_model", _tiny)  # the runner, not the models, is under test here
    monkeypatch.setattr(experiment, "TUNING_VARIANTS", ({"learning_rate": 1e-3}, {"learning_rate": 1e-2}))
    monkeypatch.setattr(experiment, "SWEEP_WIDTHS", {"involution": (), "conv": ()})
    monkeypatch.setattr(experiment, "SWEEP_KERNEL_SIZES", (5,))
    output, weights = tmp_path / "results", tmp_path / "weights"
    args = build_parser().parse_args([
        "experiment", "--phases", "tune,compare,sweep,baseline", "--epochs", "1", "--batch-size", "32",
        "--seeds", "0", "--n-train", "120", "--n-test", "40", "--validation-images", "20",
        "--data", str(shared_data), "--output", str(output), "--weights", str(weights),
    ])
    args.argv = ["(test)"]
    assert args.handler(args) == 0

    tune = json.loads((output / "tune.json").read_text())
    assert len(tune["runs"]) == 4  # two candidates for each arm
    assert all(r["train_images"] == 100 and r["evaluated_on"].startswith("validation") for r in tune["runs"])
    chosen = {m: experiment.choose_recipe(tune["runs"], m) for m in experiment.ARMS}
    compare = json.loads((output / "compare.json").read_text())
    assert {r["model"] for r in compare["runs"]} == {"fair_involution", "fair_conv", "example_cnn"}
    assert all(r["recipe"] == chosen.get(r["model"], chosen["fair_involution"])
               and r["evaluated_on"] == "test: 40 test images" for r in compare["runs"])
    assert [r["kernel_size"] for r in json.loads((output / "sweep.json").read_text())["runs"]] == [5]
    baseline = json.loads((output / "baseline.json").read_text())
    assert len(baseline["runs"]) == 4 and all(r["recipe"] == "example" for r in baseline["runs"])
    provenance = compare["provenance"]
    assert {"command", "commit", "date", "hardware", "backend", "seeds"} <= set(provenance)
    row = compare["runs"][0]
    assert 0 <= row["accuracy"] <= 1 and row["trainable_parameters"] > 0 and row["images_per_second"] > 0
    assert len(row["history"]["loss"]) == 1
    saved = sorted(p.name for p in weights.iterdir())
    assert saved == sorted([f"{profile}-{m}.weights.h5" for profile, models in
                            (("recipe", ("fair_involution", "fair_conv", "example_cnn")),
                             ("full", ("fair_involution", "fair_conv", "example_cnn", "example_involution")))
                            for m in models])

    folder = experiment.make_checkpoints(output, weights, tmp_path / "shipped", builder=_tiny)
    from involution_course import checkpoints

    assert len(checkpoints.available(folder)) == 7
    checkpoints.load_checkpoint(_tiny("example_cnn"), "example_cnn", "recipe", folder=folder)


def _row(model, seed, accuracy, recipe="example", **extra):
    return {"label": f"x-{model}-s{seed}", "phase": "compare", "model": model, "seed": seed, "accuracy": accuracy,
            "recipe": recipe, "trainable_parameters": 1, "multiply_adds": 2, "images_per_second": 3.0, **extra}


def test_summary_gives_mean_and_sample_std_per_model():
    rows = [_row("a", 0, 0.8), _row("a", 1, 0.9), _row("b", 0, 0.5)]
    summary = {s["model"]: s for s in experiment.summarise(rows)}
    assert summary["a"]["mean_accuracy"] == pytest.approx(0.85)
    assert summary["a"]["std_accuracy"] == pytest.approx(0.0707107, rel=1e-5)
    assert summary["b"]["std_accuracy"] is None and summary["b"]["runs"] == 1


def test_recipe_choice_uses_the_best_validation_run_and_needs_one():
    rows = [_row("f", 0, 0.7, recipe={"learning_rate": 1}), _row("f", 0, 0.8, recipe={"learning_rate": 2})]
    assert experiment.choose_recipe(rows) == {"learning_rate": 2}
    with pytest.raises(ValueError, match="No tuning run finished"):
        experiment.choose_recipe([])


def test_merge_keeps_each_runs_provenance(tmp_path):
    for index, seeds in enumerate(((0, 1), (1, 2))):
        payload = {"phase": "compare", "provenance": {"call": index}, "runs": [_row("a", s, 0.5) for s in seeds]}
        (tmp_path / f"{index}.json").write_text(json.dumps(payload))
    merged = json.loads(experiment.merge_results([tmp_path / "0.json", tmp_path / "1.json"],
                                                 tmp_path / "m.json").read_text())
    assert merged["provenance"] == [{"call": 0}, {"call": 1}]
    assert [(r["seed"], r["provenance"]) for r in merged["runs"]] == [(0, 0), (1, 0), (2, 1)]


def test_unknown_phase_is_refused(shared_data):
    args = build_parser().parse_args(["experiment", "--phases", "tune,warmup"])
    with pytest.raises(ValueError, match="Unknown phase"):
        args.handler(args)


def test_recorded_results_meet_their_own_format(project_root):
    for path in sorted((project_root / "results").glob("*.json")):
        # The experiment's phases only: the kernel benchmarks' and the layer step's tables have formats of their own.
        if path.stem.split("-")[0] not in experiment.PHASES:
            continue
        payload = json.loads(path.read_text())
        assert payload["runs"] and payload["provenance"]
        for row in payload["runs"]:
            assert row["trainable_parameters"] > 0 and row["images_per_second"] > 0


def _tiny_involution(model, *, width=None, kernel_size=3, seed=0):
    import keras

    from involution_course.layers import Involution

    keras.utils.set_random_seed(seed)
    if "involution" not in model:
        return _tiny(model, seed=seed)
    return keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 1, strides=4),
                             Involution(3, 1, 2, 2), keras.layers.BatchNormalization(),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)], name=model)


def test_throughput_phase_runs_quickly_on_the_cpu_with_and_without_the_fused_kernels(shared_data, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setattr(experiment, "build_model", _tiny_involution)
    monkeypatch.setattr(experiment, "THROUGHPUT_EPOCHS", 2)
    output = tmp_path / "results"
    args = build_parser().parse_args([
        "experiment", "--phases", "throughput", "--recipe", '{"learning_rate": 0.001}', "--batch-size", "16",
        "--n-train", "60", "--n-test", "20", "--throughput-images", "32", "--throughput-models", "pairs",
        "--fused", "both", "--profile", "--data", str(shared_data), "--output", str(output),
    ])
    args.argv = ["(test)"]
    assert args.handler(args) == 0

    rows = {r["label"]: r for r in json.loads((output / "throughput.json").read_text())["runs"]}
    models = ("example_cnn", "example_involution", "fair_involution-w24", "fair_conv-w19")
    assert set(rows) == {f"throughput-{m}-s0{suffix}" for m in models for suffix in ("", "-unfused")}
    assert all(r["images_per_second"] > 0 and r["train_images"] == 32 for r in rows.values())
    # No GPU here: the layer's own keras.ops path, with the kernels allowed or not.
    assert rows["throughput-example_involution-s0"]["multiply_add"] == ["keras.ops"]
    assert rows["throughput-example_involution-s0-unfused"]["fused"] == "off"
    assert "multiply_add" not in rows["throughput-example_cnn-s0"]
    profile = rows["throughput-fair_involution-w24-s0"]["step_profile"]
    assert set(experiment.PROFILE_PARTS) <= set(profile)
    assert profile["kernel generation"] > 0 and profile["batch norm"] > 0 and profile["step"] > 0
    assert "step_profile" not in rows["throughput-example_involution-s0"]
    assert "step_profile" not in rows["throughput-fair_involution-w24-s0-unfused"]
    summary = json.loads((output / "throughput.json").read_text())["summary"]
    assert sorted(s["fused"] for s in summary if s["model"] == "fair_conv") == ["auto", "off"]


def test_workers_share_one_gpu_and_the_cpu_and_keep_what_the_user_set():
    env = experiment.worker_environment(4, cpu_count=16, environ={"OMP_NUM_THREADS": "1"})
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert float(env["XLA_PYTHON_CLIENT_MEM_FRACTION"]) * 4 <= 0.9
    assert env["MKL_NUM_THREADS"] == "4" and "OMP_NUM_THREADS" not in env
    assert experiment.worker_environment(64, cpu_count=2, environ={})["TF_NUM_INTRAOP_THREADS"] == "1"


def test_runner_sets_the_workers_variables_only_while_it_runs(monkeypatch):
    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    options = build_parser().parse_args(["experiment", "--jobs", "2"])
    runner = experiment._Runner(options, writer=None, jobs=2)
    try:
        assert __import__("os").environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    finally:
        runner.close()
    assert "XLA_PYTHON_CLIENT_PREALLOCATE" not in __import__("os").environ


def test_module_runs_as_the_experiment_command():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "involution_instructor.experiment", "--phases", "warmup"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Unknown phase(s) warmup" in result.stderr


def test_both_arms_are_tuned_and_designed_alike_then_compared_with_their_own_choices(tmp_path, monkeypatch):
    """The spec generation alone (no training): every arm gets the same recipe candidates on the
    same split, a design run with its own chosen recipe at the same budget, and a comparison with
    its own recipe and design over the same seeds."""
    fake = {  # validation accuracy per (model, variant or design)
        ("fair_involution", 0): 0.70, ("fair_involution", 1): 0.75,
        ("fair_conv", 0): 0.72, ("fair_conv", 1): 0.71,
        ("fair_involution", "design"): 0.80, ("fair_conv", "design"): 0.60,
    }

    def execute(spec):
        key = (spec["model"], spec["variant"] if spec["phase"] == "tune" else "design")
        accuracy = fake.get(key, 0.5)
        return {"label": experiment.run_label(spec), **{k: spec.get(k) for k in (
            "phase", "model", "width", "kernel_size", "seed", "variant", "recipe", "split")},
            "accuracy": accuracy, "trainable_parameters": 1, "multiply_adds": 1, "images_per_second": 1.0,
            "wall_seconds": 1.0}

    monkeypatch.setattr(experiment, "execute", execute)
    monkeypatch.setattr(experiment, "TUNING_VARIANTS", ({"learning_rate": 1e-3}, {"learning_rate": 1e-2}))
    monkeypatch.setattr(experiment, "provenance", lambda options: {"command": "(test)"})
    args = build_parser().parse_args(["experiment", "--phases", "tune,design,compare", "--seeds", "0,1",
                                      "--output", str(tmp_path)])
    args.phases, args.seeds, args.only, args.arms = ["tune", "design", "compare"], (0, 1), None, experiment.ARMS
    experiment.run_experiment(args)

    tune = json.loads((tmp_path / "tune.json").read_text())["runs"]
    by_arm = {m: [(r["variant"], r["width"], r["kernel_size"], r["split"]) for r in tune if r["model"] == m]
              for m in experiment.ARMS}
    assert [v[0] for v in by_arm["fair_involution"]] == [v[0] for v in by_arm["fair_conv"]] == [0, 1]
    assert {(k, s) for _, _, k, s in by_arm["fair_involution"] + by_arm["fair_conv"]} == {(3, "validation")}
    recipes = {m: experiment.choose_recipe(tune, m) for m in experiment.ARMS}
    assert recipes["fair_involution"]["learning_rate"] == 1e-2 and recipes["fair_conv"]["learning_rate"] == 1e-3

    design = json.loads((tmp_path / "design.json").read_text())["runs"]
    assert {(r["model"], r["width"], r["kernel_size"], r["split"]) for r in design} == {
        ("fair_involution", 24, 5, "validation"), ("fair_conv", 14, 5, "validation")}
    assert all(r["recipe"] == recipes[r["model"]] for r in design)

    compare = json.loads((tmp_path / "compare.json").read_text())["runs"]
    arms = {(r["model"], r["width"], r["kernel_size"]) for r in compare if r["model"] in experiment.ARMS}
    # The involution arm's K=5 beat its K=3 on validation; the CNN's K=3 beat its K=5.
    assert arms == {("fair_involution", 24, 5), ("fair_conv", 19, 3)}
    assert all(r["recipe"] == recipes.get(r["model"], recipes["fair_involution"]) for r in compare)
    seeds = {m: sorted(r["seed"] for r in compare if r["model"] == m) for m in ("fair_involution", "fair_conv",
                                                                                 "example_cnn")}
    assert seeds == {"fair_involution": [0, 1], "fair_conv": [0, 1], "example_cnn": [0, 1]}


def test_recorded_choices_stand_for_phases_not_run_and_patterns_pick_runs(tmp_path, monkeypatch):
    recorded, output = tmp_path / "recorded", tmp_path / "out"
    recorded.mkdir()
    recipe = experiment._recipe_dict({"learning_rate": 1e-2})
    rows = {"tune": [dict(label="tune-fair_involution-w24-k3-v0-s0", phase="tune", model="fair_involution", width=24,
                          kernel_size=3, split="validation", recipe=recipe, accuracy=0.8)],
            "design": [dict(label="design-fair_involution-w24-s0", phase="design", model="fair_involution", width=24,
                            kernel_size=5, split="validation", recipe=recipe, accuracy=0.85)]}
    for phase, runs in rows.items():
        (recorded / f"{phase}.json").write_text(json.dumps({"phase": phase, "runs": runs}))
    ran = []
    monkeypatch.setattr(experiment, "execute", lambda spec: ran.append(spec) or {
        "label": experiment.run_label(spec), "phase": spec["phase"], "model": spec["model"], "seed": spec["seed"],
        "width": spec["width"], "kernel_size": spec["kernel_size"], "recipe": spec["recipe"], "accuracy": 0.5,
        "trainable_parameters": 1, "multiply_adds": 1, "images_per_second": 1.0, "wall_seconds": 1.0})
    monkeypatch.setattr(experiment, "provenance", lambda options: {"command": "(test)"})
    args = build_parser().parse_args(["experiment", "--phases", "compare", "--arms", "fair_involution",
                                      "--recorded", str(recorded), "--output", str(output),
                                      "--only", "compare-fair_*"])
    args.phases, args.seeds, args.arms, args.only = ["compare"], (0, 1, 2), ("fair_involution",), {"compare-fair_*"}
    experiment.run_experiment(args)
    assert [(s["model"], s["width"], s["kernel_size"], s["seed"]) for s in ran] == [
        ("fair_involution", 24, 5, seed) for seed in (0, 1, 2)]
    assert all(s["recipe"] == recipe for s in ran)
    with pytest.raises(ValueError, match="--arms must name"):
        bad = build_parser().parse_args(["experiment", "--arms", "fair_mlp"])
        bad.handler(bad)
