"""`make bench`: the benchmark scripts run (with --quick) and print well-formed JSON lines, and the
runner's ratios and table compare only rows measured side by side. No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from involution_instructor import bench
from test_layer_backends import compile_quickly_under_jax

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
MEASURED_FIELDS = {"benchmark", "case", "group", "backend", "mode", "device", "median", "unit", "repeats", "details"}


def run_script(script: str, *args: str, env: dict | None = None, timeout: int = 900) -> list[dict]:
    environment = {**os.environ, "INVOLUTION_COURSE_NO_PROGRESS": "1", "KERAS_BACKEND": "tensorflow", **(env or {})}
    if environment["KERAS_BACKEND"] == "jax":
        compile_quickly_under_jax(environment)  # these runs check that the scripts work, never their figures
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick", *args], cwd=ROOT,
                            env=environment, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{script} failed:\n{result.stderr[-3000:]}"
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, f"{script} printed nothing on stdout"
    return [json.loads(line) for line in lines]  # every stdout line is JSON


def check_measured(rows: list[dict], benchmark: str) -> list[dict]:
    """Every row is a measured case of ``benchmark`` with positive numbers; returns the rows."""
    for row in rows:
        assert "skipped" not in row, f"case skipped: {row}"
        assert MEASURED_FIELDS <= row.keys(), f"missing fields {MEASURED_FIELDS - row.keys()} in {row}"
        assert row["benchmark"] == benchmark
        assert isinstance(row["median"], float) and row["median"] > 0, row
        assert isinstance(row["repeats"], int) and row["repeats"] >= 1, row
        for name, value in row["details"].items():
            if isinstance(value, (int, float)):
                assert value >= 0, f"{name} = {value} in {row}"
    return rows


# ---------------------------------------------------------------------------------- the scripts

# The shortest notebook: these tests check that the scripts work, not how fast.
SHORTEST = "06-making-involution-fast"

# Each slow test's script run, by key: (test, script, arguments, environment). A run spends most of
# its time importing a framework on one core, so the selected ones start together, two at a time.
SCRIPT_RUNS = {
    "op": ("test_involution_op_measures_four_operators_in_three_modes", "bench_involution_op.py", (), {}),
    "parts-tensorflow": ("test_involution_parts_times_the_whole_layer_and_each_part[tensorflow]",
                         "bench_involution_parts.py", (), {"KERAS_BACKEND": "tensorflow"}),
    "parts-jax": ("test_involution_parts_times_the_whole_layer_and_each_part[jax]",
                  "bench_involution_parts.py", (), {"KERAS_BACKEND": "jax"}),
    "training": ("test_training_benchmark_reports_images_per_second", "bench_training.py", (), {}),
    "op-jax": ("test_involution_op_runs_under_other_backends[jax]", "bench_involution_op.py", (), {"KERAS_BACKEND": "jax"}),
    "op-torch": ("test_involution_op_runs_under_other_backends[torch]", "bench_involution_op.py", (),
                 {"KERAS_BACKEND": "torch"}),
    "course": ("test_course_benchmark_times_a_notebook", "bench_course.py", ("--assignments", SHORTEST), {}),
    # Two workers only: the one-worker row runs the same code, one student after another.
    "autograde": ("test_autograde_benchmark_reports_seconds_per_student", "bench_autograde.py",
                  ("--assignments", SHORTEST, "--workers", "2"), {}),
}


@pytest.fixture(scope="module")
def script_runs(request, tmp_path_factory):
    """{key: future of run_script's rows} for the SCRIPT_RUNS whose tests this session selected."""
    selected = {item.name for item in request.session.items if item.module.__name__ == __name__}
    pool = ThreadPoolExecutor(2)
    futures = {}
    for key, (test, script, args, env) in SCRIPT_RUNS.items():
        if test in selected:
            env = {**env, "INVOLUTION_COURSE_BUILD": str(tmp_path_factory.mktemp(key))}
            futures[key] = pool.submit(run_script, script, *args, env=env)
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.slow
def test_involution_op_measures_four_operators_in_three_modes(script_runs):
    rows = check_measured(script_runs["op"].result(), "involution_op")
    assert {row["mode"] for row in rows} == {"eager", "tf.function", "tf.function(jit_compile=True)"}
    cases = [row["case"] for row in rows if row["mode"] == "eager"]
    assert cases[0].startswith("course Involution") and len(cases) == 4
    assert any("extract_patches (tf.image)" in case for case in cases)
    assert all(row["backend"] == "tensorflow" and row["device"] == "cpu" for row in rows)
    assert all("peak_memory_mb" in row["details"] for row in rows)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_involution_parts_times_the_whole_layer_and_each_part(backend, script_runs):
    rows = check_measured(script_runs[f"parts-{backend}"].result(), "involution_op")
    modes = {"tensorflow": ["eager", "tf.function", "tf.function(jit_compile=True)"], "jax": ["eager", "jax.jit"]}
    assert [row["mode"] for row in rows[:len(modes[backend])]] == modes[backend]
    cases = list(dict.fromkeys(row["case"] for row in rows))
    assert cases == ["course Involution: whole layer", "kernel generation only (reduce, BN, ReLU, span)",
                     "multiply-add only (9 taps, kernel a weight)",
                     "whole layer, kernel generated in tap order (einsum on the span weights)"]
    assert len(rows) == 4 * len(modes[backend]) and {row["group"] for row in rows} == {"8x8x4 K=3 G=2 r=2 batch 2, parts"}


def test_the_multiply_add_part_computes_the_layer_from_its_kernel_weight():
    import numpy as np

    sys.path.insert(0, str(BENCHMARKS))
    try:
        from bench_involution_op import QUICK_SIZES
        from bench_involution_parts import part_layers
    finally:
        sys.path.remove(str(BENCHMARKS))
    size = QUICK_SIZES[0]
    x = np.random.default_rng(1).standard_normal(size.shape).astype("float32")
    (_, whole), (_, kernel_only), (_, taps_only), (_, tap_order) = part_layers(size)
    for layer in (whole, kernel_only, taps_only, tap_order):
        layer(x)
    kernel_only.set_weights(whole.get_weights())
    planes = np.asarray(kernel_only(x))
    assert planes.shape == (*size.shape[:3], size.kernel_size ** 2 * size.groups)
    assert not np.allclose(np.asarray(taps_only(x)), np.asarray(whole(x)), atol=1e-3)
    taps_only.kernel_weight.assign(planes)
    tap_order.set_weights(whole.get_weights())
    np.testing.assert_allclose(np.asarray(tap_order(x)), np.asarray(whole(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(taps_only(x)), np.asarray(whole(x)), rtol=1e-5, atol=1e-6)


def test_numpy_benchmark_times_the_solution_notebooks_functions():
    rows = check_measured(run_script("bench_numpy.py"), "numpy")
    cases = [row["case"] for row in rows]
    assert cases == [
        "conv2d_fast (vectorised)", "conv2d_naive (loops)",
        "involution_forward (shifted slices)", "involution_unfold (patch tensor)",
        "involution_naive (loops)", "involution_backward (shifted slices)",
    ]
    assert all("peak_memory_mb" in row["details"] for row in rows)


@pytest.mark.slow
def test_training_benchmark_reports_images_per_second(script_runs):
    rows = check_measured(script_runs["training"].result(), "training")
    assert [row["case"].split(":")[0] for row in rows] == ["example CNN", "example involution network"]
    assert all(row["details"]["images_per_s"] > 0 for row in rows)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_involution_op_runs_under_other_backends(backend, script_runs):
    rows = check_measured(script_runs[f"op-{backend}"].result(), "involution_op")
    assert {row["backend"] for row in rows} == {backend}
    assert any("extract_patches (keras.ops.image)" in row["case"] for row in rows)


@pytest.mark.slow
def test_course_benchmark_times_a_notebook(script_runs):
    rows = check_measured(script_runs["course"].result(), "course")
    assert [row["case"] for row in rows] == [f"{SHORTEST}, profile grading"]


@pytest.mark.slow
def test_autograde_benchmark_reports_seconds_per_student(script_runs):
    rows = script_runs["autograde"].result()
    check_measured(rows, "autograde")
    assert [row["details"]["workers"] for row in rows] == [2]


def test_the_example_approach_computes_involution():
    """The benchmark's extract_patches layer equals the course layer (one group, where both agree)."""
    import numpy as np

    from involution_course.layers import Involution

    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_involution_op
    finally:
        sys.path.remove(str(BENCHMARKS))
    x = np.random.default_rng(1).standard_normal((2, 9, 7, 6)).astype("float32")
    course = Involution(3, 1, 1, 2)
    example = bench_involution_op.example_involution_layer(3, 1, 2)
    course(x)
    example(x)
    for name in ("reduce", "bn", "span"):
        getattr(example, name).set_weights(getattr(course, name).get_weights())
    np.testing.assert_allclose(np.asarray(example(x)), np.asarray(course(x)), atol=1e-5)


# ------------------------------------------------------------------------------------ the runner


def measured(run, group, mode, case, median):
    return {"benchmark": "b", "case": case, "group": group, "backend": "tensorflow", "mode": mode,
            "device": "cpu", "median": median, "unit": "s", "repeats": 3, "details": {}, "run": run}


def test_ratios_divide_only_by_the_reference_of_the_same_run_group_and_mode():
    rows = bench.add_ratios([
        measured(0, "small", "eager", "course", 2.0),
        measured(0, "small", "xla", "course", 0.5),
        measured(0, "small", "eager", "patches", 5.0),
        measured(0, "small", "xla", "patches", 2.0),
        measured(0, "large", "eager", "conv", 7.0),  # alone in its group: no ratio
        measured(1, "small", "eager", "patches", 1.0),  # another process: alone in its set
        {"benchmark": "b", "case": "missing", "group": "small", "mode": "eager", "run": 0, "skipped": "why"},
        measured(0, "", "notebook", "01", 9.0),  # no group: never compared
        measured(0, "", "notebook", "02", 3.0),
    ])
    ratios = [row.get("ratio") for row in rows]
    assert ratios == [1.0, 1.0, 2.5, 4.0, None, None, None, None, None]
    assert rows[2]["reference"] == "course"


def test_markdown_table_states_machine_date_command_backend_mode_and_ratio():
    run = bench.Run("involution_op", "bench_involution_op.py", {"KERAS_BACKEND": "jax"}, ("--quick",))
    rows = bench.annotate([
        {**measured(0, "32x32", "jax.jit", "course", 0.0123), "details": {"peak_memory_mb": 12.5}},
        measured(0, "32x32", "jax.jit", "patches", 0.0246),
        {"benchmark": "involution_op", "case": "gpu", "skipped": "no GPU"},
    ], run, 0, machine="AMD EPYC, 2 cores", date="2026-11-25 08:00 UTC")
    table = bench.markdown_table(bench.add_ratios(rows)).splitlines()
    assert table[0] == "| machine | date | command | backend | mode | case | median | ratio | details |"
    assert table[2] == ("| AMD EPYC, 2 cores | 2026-11-25 08:00 UTC | `KERAS_BACKEND=jax python "
                        "benchmarks/bench_involution_op.py --quick` | tensorflow | jax.jit | 32x32: course | "
                        "12.3 ms | 1.00 (reference) | device cpu, repeats 3, peak memory mb 12.5 |")
    assert "| 32x32: patches | 24.6 ms | 2.00 |" in table[3]
    assert "skipped: no GPU" in table[4]


def test_values_are_shown_in_readable_units():
    assert bench.format_value(0.000512, "s") == "512 us"
    assert bench.format_value(0.0123, "s") == "12.3 ms"
    assert bench.format_value(4.5678, "s") == "4.57 s"
    assert bench.format_value(1234.5, "images/s") == "1234 images/s"


def test_plan_runs_each_backend_in_its_own_process_and_the_gpu_only_when_there_is_one():
    commands = [run.command for run in bench.plan(quick=True, families=("involution_op", "training"))]
    assert commands == [
        "KERAS_BACKEND=tensorflow python benchmarks/bench_involution_op.py --quick",
        "KERAS_BACKEND=jax JAX_PLATFORMS=cpu python benchmarks/bench_involution_op.py --quick",
        "KERAS_BACKEND=torch CUDA_VISIBLE_DEVICES= python benchmarks/bench_involution_op.py --quick",
        "KERAS_BACKEND=tensorflow python benchmarks/bench_involution_parts.py --quick",
        "KERAS_BACKEND=tensorflow python benchmarks/bench_training.py --quick",
    ]
    without_gpu = bench.plan(families=("involution_op",))
    with_gpu = bench.plan(families=("involution_op",), gpu=True)
    assert with_gpu[:len(without_gpu)] == without_gpu
    assert [(run.script, run.device, run.env["JAX_PLATFORMS"]) for run in with_gpu[len(without_gpu):]] == [
        ("bench_involution_op.py", "gpu", "cuda"), ("bench_involution_parts.py", "gpu", "cuda")]
    assert bench.plan(families=("course",), course_profiles=("full",))[0].args == ("--profiles", "full")


def test_plan_rejects_unknown_families_and_profiles_with_the_choices():
    with pytest.raises(ValueError, match="choose from involution_op, numpy"):
        bench.plan(families=("gpu",))
    with pytest.raises(ValueError, match="no profile called fast"):
        bench.plan(course_profiles=("fast",))


def test_machine_description_names_the_cores():
    assert "core" in bench.cpu_description()


def test_bench_writes_results_jsonl_and_the_markdown_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("INVOLUTION_COURSE_NO_PROGRESS", "1")
    code = bench.main(["--quick", "--only", "numpy", "--output", str(tmp_path)])
    assert code == 0
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {"machine", "date", "command", "ratio"} <= rows[1].keys()
    assert rows[1]["command"] == "python benchmarks/bench_numpy.py --quick"
    assert rows[1]["ratio"] > 0
    table = (tmp_path / "results.md").read_text()
    assert "| conv2d_naive (loops)" not in table  # the group names the case
    assert "01 convolution: 1x6x6x2, 4 kernels 3x3, stride 1, same: conv2d_naive (loops)" in table
    assert "Results:" in capsys.readouterr().out


# ------------------------------------------------------------------- the GPU runs' tables


def _load_script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kernels_table_takes_the_paper_s_measured_lines_and_keeps_notebook_06_s_methods():
    table = _load_script("kernels_table").build(ROOT / "results/raw/kernels-torch-h100.jsonl",
                                                ROOT / "results/raw/kernels-jax-h100.jsonl",
                                                ROOT / "results/raw/kernels-paper-h100.jsonl")
    from involution_course import speed

    methods = {row["method"] for row in table["rows"]}
    assert "paper-cuda" in methods and methods <= set(speed.METHODS)  # fused-pallas-split stays raw
    paper = [row for row in table["rows"] if row["method"] == "paper-cuda"]
    assert len(paper) == 4 and all(row["fwd_bwd_ms"] > 0 for row in paper)
    assert "H100" in table["provenance"]["paper-cuda"] and "H100" in table["provenance"]["source"]
    timings = speed.timings_from(table)
    assert timings.value("B32 C64 56x56 K7 G4", "paper-cuda") > timings.value("B32 C64 56x56 K7 G4", "fused-triton")


def test_throughput_table_gives_both_settings_ratios_and_the_profile():
    text = _load_script("throughput_table").table([ROOT / "results/raw/throughput-jax-h100.json",
                                                   ROOT / "results/raw/throughput-torch-h100.json"])
    assert "| jax | fair_involution (pallas) |" in text and "| torch | fair_conv |" in text
    assert "jax, fair pair, kernels on: 0.78×" in text
    assert "kernel generation" in text and "multiply-add" in text and "H100" in text
