"""Notebook 06's support: the recorded GPU timings, their table and sentences, the figures, live timing.

The recorded file ships with the student package (results_data/kernels-gpu.json, a copy of
results/kernels-gpu.json). Live timing needs a CUDA GPU; here its methods run on the CPU, checked
against the definition of the multiply-add.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from involution_course import live_speed, speed  # noqa: E402
from involution_course.figures import speed as figures  # noqa: E402


def _timings(rows, provenance=None):
    return speed.timings_from({"provenance": provenance or {"gpu": "test GPU"}, "rows": rows})


def _row(case, method, fwd_bwd, fwd=None, bwd=None):
    return {"case": case, "dtype": "float32", "framework": "torch", "method": method,
            "fwd_ms": fwd, "bwd_ms": bwd, "fwd_bwd_ms": fwd_bwd}


def _one_sentence(error):
    message = str(error.value)
    assert "\n" not in message and message.endswith("."), message


# ------------------------------------------------------------------ the recorded file


def test_shipped_timings_are_the_recorded_results(project_root):
    """results_data/ ships a copy of results/kernels-gpu.json:
    `cp results/kernels-gpu.json src/student/involution_course/results_data/`."""
    source = json.loads((project_root / "results" / "kernels-gpu.json").read_text())
    assert json.loads(speed.RESULTS_FILE.read_text()) == source, "copy results/kernels-gpu.json into results_data/"


def test_recorded_timings_load_with_their_provenance():
    recorded = speed.load_timings()
    assert recorded.provenance["gpu"] and recorded.bandwidth > 1e11 and recorded.peak_flops > 1e12
    assert recorded.cases() and "floor" in recorded.methods()
    assert set(recorded.methods()) <= set(speed.METHODS)
    for case in recorded.cases():
        assert speed.Case.parse(case).name == case
        assert recorded.value(case, "floor") is not None


def test_case_names_parse_into_sizes():
    case = speed.Case.parse("B32 C64 56x48 K7 G4")
    assert (case.batch, case.channels, case.height, case.width, case.kernel_size, case.groups) == (32, 64, 56, 48, 7, 4)
    assert case.sizes() == {"batch": 32, "height": 56, "width": 48, "channels": 64, "kernel_size": 7}
    with pytest.raises(speed.SpeedDataError, match="looks like") as error:
        speed.Case.parse("32 x 64")
    _one_sentence(error)


@pytest.mark.parametrize(("text", "match"), [
    ("{", "not valid JSON"),
    ('{"rows": []}', "provenance"),
    ('{"provenance": {}, "rows": [{"case": "B1 C1 2x2 K3 G1", "method": "unfold"}]}', "lacks framework"),
    ('{"provenance": {}, "rows": [' + json.dumps(_row("B1 C1 2x2 K3 G1", "unfold", -1.0)) + "]}", "positive number"),
])
def test_a_bad_timings_file_is_refused_in_one_sentence(tmp_path, text, match):
    path = tmp_path / "kernels-gpu.json"
    path.write_text(text)
    with pytest.raises(speed.SpeedDataError, match=match) as error:
        speed.load_timings(path)
    _one_sentence(error)


def test_a_missing_timings_file_is_named(tmp_path):
    with pytest.raises(speed.SpeedDataError, match="No recorded timings") as error:
        speed.load_timings(tmp_path / "none.json")
    _one_sentence(error)


# ------------------------------------------------------------------ table and sentences


def test_the_table_has_a_row_per_case_and_a_column_per_measured_method():
    recorded = speed.load_timings()
    lines = speed.timing_table(recorded).splitlines()
    assert len(lines) == 2 + len(recorded.cases())
    assert lines[0].count("|") == 2 + len(recorded.methods())
    first = recorded.cases()[0]
    assert f"{recorded.value(first, 'unfold'):#.3g}".rstrip(".") in lines[2]
    # Only the methods timed apart appear in the forward table.
    forward = speed.timing_table(recorded, "fwd_ms").splitlines()[0]
    assert speed.METHODS["paper-cuda"] in forward
    untimed = _timings([_row("B1 C8 8x8 K3 G1", "unfold", 2.0), _row("B1 C8 8x8 K3 G1", "paper-cuda", 1.0, 0.4, 0.5)])
    forward = speed.timing_table(untimed, "fwd_ms").splitlines()[0]
    assert "unfold" not in forward and speed.METHODS["paper-cuda"] in forward
    with pytest.raises(speed.SpeedDataError, match="measure"):
        speed.timing_table(recorded, "ms")


def test_sentences_are_computed_from_the_rows():
    timings = _timings([
        _row("B1 C2 4x4 K3 G1", "paper-cuda", 2.0), _row("B1 C2 4x4 K3 G1", "floor", 0.5),
        _row("B1 C2 4x4 K3 G1", "unfold", 11.0), _row("B1 C2 8x8 K3 G1", "paper-cuda", 3.0),
        _row("B1 C2 8x8 K3 G1", "floor", 0.5), _row("B1 C2 8x8 K3 G1", "unfold", 12.0),
        _row("B1 C2 8x8 K3 G1", "fused-triton", 1.5),
    ])
    said = speed.conclusions(timings)
    assert "The course's fused Triton kernel takes 3.0 times the floor." in said
    assert "The course's fused Triton kernel takes 0.5 times the time of the paper's CUDA kernels." in said
    assert "The paper's CUDA kernels take 4.0 to 6.0 times the floor." in said
    assert "The patch tensor (unfold) takes 4.0 to 5.5 times the time of the paper's CUDA kernels." in said
    # No sentence about a method that has no rows.
    assert not [s for s in said if "slices" in s or "cuDNN" in s]


def test_without_the_paper_s_kernels_the_course_s_kernel_is_the_reference():
    """As in a live run: the fused kernel, unfold and slices, no paper's kernels, no floor."""
    timings = _timings([_row("B1 C2 4x4 K3 G1", "fused-triton", 0.5), _row("B1 C2 4x4 K3 G1", "unfold", 3.0),
                        _row("B1 C2 4x4 K3 G1", "slices-eager", 7.0)])
    assert speed.conclusions(timings) == [
        "The patch tensor (unfold) takes 6.0 times the time of the course's fused Triton kernel.",
        "Shifted slices run eagerly take 14 times the time of the course's fused Triton kernel.",
    ]


def test_the_recorded_sentences_match_the_recorded_numbers():
    recorded = speed.load_timings()
    said = " ".join(speed.conclusions(recorded))
    ratios = [recorded.value(c, "unfold") / recorded.value(c, "paper-cuda") for c in recorded.cases()]
    assert speed.times_text((min(ratios), max(ratios))) in said


def test_times_text_rounds_and_merges():
    assert speed.times_text((3.96, 4.41)) == "4.0 to 4.4 times"
    assert speed.times_text((4.01, 4.04)) == "4.0 times"
    assert speed.times_text((11.2, 34.6)) == "11 to 35 times"


# ------------------------------------------------------------------ figures


def _renders(figure) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.tell() > 1000


def test_roofline_draws_the_roof_it_is_given_and_its_points():
    intensity = np.logspace(-2, 3, 50)
    roof = np.minimum(67e12, intensity * 4.17e12)
    figure = figures.roofline(intensity, roof, [("fused", 4.8, 2e13), ("measured: kernel", 4.8, 1.8e12)],
                              peak_flops=67e12, bandwidth=4.17e12)
    ax = figure.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), roof / 1e12)
    assert [t.get_text() for t in ax.get_legend().get_texts()][1:] == ["fused", "measured: kernel"]
    _renders(figure)
    with pytest.raises(ValueError, match="positive"):
        figures.roofline(intensity, roof * 0, [], peak_flops=1.0, bandwidth=1.0)
    with pytest.raises(ValueError, match="one shape"):
        figures.roofline(intensity, roof[:3], [], peak_flops=1.0, bandwidth=1.0)


def test_time_bars_draw_every_measured_time_and_the_floor():
    times = [[1.0, np.nan], [2.0, 4.0]]
    figure = figures.time_bars(["a", "b"], ["m1", "m2"], times, floor=[0.1, 0.2])
    ax = figure.axes[0]
    assert len(ax.patches) == 3 and ax.get_xscale() == "log"
    assert len(ax.lines) == 2
    _renders(figure)
    with pytest.raises(ValueError, match="one row per case"):
        figures.time_bars(["a"], ["m1", "m2"], times)


# ------------------------------------------------------------------ live timing, on the CPU


def _definition(x, planes, size, groups):
    """Channels last, stride 1, term by term."""
    batch, height, width, channels = x.shape
    half = (size - 1) // 2
    padded = np.pad(x, ((0, 0), (half, half), (half, half), (0, 0)))
    out = np.zeros_like(x)
    for ki in range(size):
        for kj in range(size):
            for c in range(channels):
                weight = planes[..., (c // (channels // groups)) * size * size + ki * size + kj]
                out[..., c] += padded[:, ki:ki + height, kj:kj + width, c] * weight
    return out


@pytest.mark.parametrize("method", [live_speed.unfold_multiply_add, live_speed.slices_multiply_add])
def test_live_methods_compute_the_multiply_add(method):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, planes = rng.normal(size=(2, 5, 6, 6)), rng.normal(size=(2, 5, 6, 3 * 9))
    got = method(torch.tensor(x), torch.tensor(planes), 3, 3).numpy()
    np.testing.assert_allclose(got, _definition(x, planes, 3, 3), atol=1e-12)


def test_live_measure_returns_timings_of_the_recorded_form():
    pytest.importorskip("torch")
    timings, notes = live_speed.measure(["B1 C4 8x8 K3 G2"], steps=2, device="cpu", bandwidth_megabytes=4)
    assert timings.methods() == ["unfold", "slices-eager", "floor"]
    assert all(timings.value("B1 C4 8x8 K3 G2", m, measure) > 0 for m in timings.methods() for measure in ("fwd_ms", "fwd_bwd_ms"))
    assert timings.bandwidth > 0 and timings.provenance["source"] == "measured live in this notebook"
    assert notes == ["the fused kernel needs a CUDA GPU"]
    # A step is set against a step's floor: forward + backward bytes at the bandwidth measured in the run.
    forward, backward = live_speed.step_floor_bytes(speed.Case.parse("B1 C4 8x8 K3 G2"))
    assert forward == (2 * 256 + 9 * 128) * 4 and backward == (3 * 256 + 2 * 9 * 128) * 4
    assert timings.value("B1 C4 8x8 K3 G2", "floor") == pytest.approx((forward + backward) / timings.bandwidth * 1e3)
    assert any("median of 2 calls" in sentence for sentence in speed.column_sources(timings))


def test_the_recorded_step_floor_is_a_step_s_bytes_at_the_recorded_bandwidth():
    """The floor that the recorded table shows is the same count as the live one."""
    recorded = speed.load_timings()
    for name in recorded.cases():
        forward, backward = live_speed.step_floor_bytes(speed.Case.parse(name))
        assert recorded.value(name, "floor") == pytest.approx((forward + backward) / recorded.bandwidth * 1e3, rel=0.01)


def test_cpu_helpers_time_and_report_caches():
    calls = []
    assert live_speed.median_ms(calls.append, 1, repeats=3) >= 0 and len(calls) == 4  # one call warms up
    assert all(isinstance(size, int) and size > 0 for size in live_speed.cpu_caches().values())


def test_cpu_caches_read_linux_s_description(tmp_path):
    for number, (level, kind, size) in enumerate([(1, "Data", "32K"), (1, "Instruction", "32K"), (2, "Unified", "1024K"),
                                                   (3, "Unified", "32768K")]):
        index = tmp_path / f"index{number}"
        index.mkdir()
        (index / "level").write_text(f"{level}\n")
        (index / "type").write_text(f"{kind}\n")
        (index / "size").write_text(f"{size}\n")
    assert live_speed.cpu_caches(tmp_path) == {"L1": 32 * 2**10, "L2": 2**20, "L3": 32 * 2**20}
    assert live_speed.cpu_caches(tmp_path / "absent") == {}


def test_every_column_says_how_and_when_it_was_timed():
    recorded = speed.load_timings()
    sources = speed.column_sources(recorded)
    assert len(sources) == len(recorded.methods())
    paper = next(s for s in sources if s.startswith(speed.METHODS["paper-cuda"]))
    assert "not timed in the same run" in paper
    floor = next(s for s in sources if s.startswith(speed.METHODS["floor"]))
    assert floor.startswith(speed.METHODS["floor"] + ": computed, not timed")
    timed = [s for s in sources if s not in (paper, floor)]
    assert all(recorded.provenance["gpu"] in s and recorded.provenance["date"][:10] in s for s in timed)
    assert all(recorded.provenance["torch"]["timing"] in s or recorded.provenance["jax"]["timing"] in s for s in timed)


def test_the_side_by_side_file_is_the_raw_run_shipped(project_root):
    """results_data/kernels-paper-h100.jsonl is a copy of results/raw/kernels-paper-h100.jsonl: the
    paper's kernels and the course's Triton kernels timed in one process."""
    raw = project_root / "results" / "raw" / "kernels-paper-h100.jsonl"
    assert speed.SIDE_BY_SIDE_FILE.read_text() == raw.read_text(), f"copy {raw} into results_data/"
    side = speed.load_side_by_side()
    assert set(side.methods()) == {"fused-triton", "paper-cuda"}
    for name in side.cases():
        assert side.value(name, "paper-cuda") and side.value(name, "fused-triton")
    assert side.provenance["gpu"] and side.provenance["date"] and side.provenance["timing"]


WHOLE = {"provenance": {"command": "python benchmarks/bench_whole_involution.py", "commit": "abc1234",
                        "date": "2026-12-07T18:00:00+00:00", "gpu": "NVIDIA H100 80GB HBM3"},
         "cases": [{"case": "B32 C64 56x56 K7 G4", "two_step_ms": 0.2, "whole_ms": 0.1, "floor_ms": 0.02,
                    "two_step_bytes": 220_000_000, "whole_bytes": 60_000_000, "flops": 629_407_744},
                   {"case": "B256 C3 32x32 K3 G1", "two_step_ms": 0.05, "whole_ms": 0.08, "floor_ms": 0.01,
                    "two_step_bytes": 40_000_000, "whole_bytes": 10_000_000, "flops": 14_155_776}]}


def test_the_whole_involution_file_is_rendered_whichever_way_it_went(tmp_path):
    path = tmp_path / "whole-involution.json"
    path.write_text(json.dumps(WHOLE))
    whole = speed.load_whole(path)
    table = speed.whole_table(whole)
    assert "| B32 C64 56x56 K7 G4 | 0.200 | 0.100 | 0.0200 | 2.00 | 220.0 | 60.0 |" in table
    said = speed.whole_conclusions(whole)
    assert "faster than two steps" in said[0] and "3.7 times fewer bytes" in said[0] and "5.0 times its memory floor" in said[0]
    assert "slower than two steps" in said[1]
    assert not any("ridge" in sentence for sentence in said)  # no peak given: no roofline


def test_the_whole_involution_is_placed_against_the_ridge_with_both_rates():
    bandwidth_gbps = 3000.0  # ridge 67e12 / 3e12 = 22.3 FLOPs per byte
    cases = [  # one case per side of the ridge, and one at it
        {**WHOLE["cases"][0], "flops": 300_000_000, "whole_bytes": 60_000_000},
        {**WHOLE["cases"][0], "flops": 1_340_000_000, "whole_bytes": 60_000_000},
        {**WHOLE["cases"][0], "flops": 3_000_000_000, "whole_bytes": 60_000_000, "C_r": 16, "span_ms": 0.05},
    ]
    whole = {"provenance": {**WHOLE["provenance"], "copy_bandwidth_GBps": bandwidth_gbps}, "cases": cases}
    said = speed.whole_conclusions(whole, peak_flops=67e12)
    assert "below the ridge: bound by memory (ridge 22)" in said[0] and "3.0 TFLOP/s, 4% of the peak" in said[0]
    assert "at the ridge" in said[1]
    assert "above the ridge: bound by arithmetic" in said[2] and "30.0 TFLOP/s, 45% of the peak" in said[2]
    # the span: 2 * 32 * 56 * 56 pixels * C_r 16 * 49 taps * 4 groups = 629,407,744 FLOPs in 0.05 ms
    assert "the span convolution alone (21% of the FLOPs) ran at 12.6 TFLOP/s, 19% of the peak" in said[2]
    assert "span" not in said[0]  # not recorded for that case


def test_a_missing_whole_involution_file_means_not_measured(tmp_path):
    assert speed.load_whole(tmp_path / "whole-involution.json") is None


def test_a_malformed_whole_involution_file_says_what_is_wrong(tmp_path):
    path = tmp_path / "whole-involution.json"
    path.write_text(json.dumps({**WHOLE, "cases": [{**WHOLE["cases"][0], "whole_ms": -1}]}))
    with pytest.raises(speed.SpeedDataError, match="whole_ms should be a positive number"):
        speed.load_whole(path)


def test_the_shipped_whole_involution_file_is_the_recorded_one(project_root):
    """results_data/whole-involution.json ships a copy of results/whole-involution.json once it is measured."""
    recorded = project_root / "results" / "whole-involution.json"
    if not recorded.is_file():
        assert not speed.WHOLE_FILE.is_file(), "results_data has a whole-involution.json that results/ lacks"
        return
    assert speed.WHOLE_FILE.is_file() and json.loads(speed.WHOLE_FILE.read_text()) == json.loads(recorded.read_text()), (
        f"copy {recorded} into {speed.WHOLE_FILE.parent}")
    assert speed.load_whole() is not None


def test_without_a_gpu_nothing_is_imported(monkeypatch):
    monkeypatch.setattr(live_speed, "runtime_has_gpu", lambda: False)
    assert live_speed.cuda_device() is None


# ------------------------------------------------------------------ notebook 06's cells that read these files

NOTEBOOK = Path(__file__).resolve().parents[1] / "solutions" / "06-making-involution-fast" / "06-making-involution-fast.py"


def _cell(grade_id: str) -> str:
    import jupytext

    notebook = jupytext.read(NOTEBOOK)
    return next(c.source for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _counting_namespace(case_names):
    """What notebook 06's later cells find from the earlier ones: the cases, exercise 1 and 2's answers."""
    namespace = {"np": np, "speed": speed, "live_speed": live_speed, "Markdown": str, "shown": []}
    namespace["display"] = namespace["shown"].append
    exec(_cell("ex1_counts"), namespace)
    exec(_cell("ex2_roofline"), namespace)
    cases = [speed.Case.parse(name) for name in case_names]
    namespace.update(cases=cases, METHODS=("fused", "unfold", "slices"), peak=67e12, bandwidth=4e12, ridge=67e12 / 4e12,
                     gpu="a GPU", counts={c: {"fused": namespace["bytes_moved"]("fused", **c.sizes(), groups=c.groups)}
                                          for c in cases})
    return namespace


def test_section_6_says_in_one_sentence_that_nothing_is_measured_yet(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(speed, "WHOLE_FILE", tmp_path / "whole-involution.json")
    namespace = _counting_namespace(["B32 C64 56x56 K7 G4"])
    exec(_cell("whole"), namespace)
    printed = capsys.readouterr().out
    assert "has not been measured on a GPU yet" in printed and "3.7 times fewer bytes" in printed
    assert namespace["shown"] == []


def test_section_6_renders_a_measured_result(monkeypatch, tmp_path, capsys):
    path = tmp_path / "whole-involution.json"
    path.write_text(json.dumps(WHOLE))
    monkeypatch.setattr(speed, "WHOLE_FILE", path)
    namespace = _counting_namespace(["B32 C64 56x56 K7 G4"])
    exec(_cell("whole"), namespace)
    printed = capsys.readouterr().out
    assert "Measured: NVIDIA H100 80GB HBM3, 2026-12-07, commit abc1234" in printed
    assert "faster than two steps" in printed and "slower than two steps" in printed
    assert namespace["shown"] == [speed.whole_table(WHOLE)]


def test_the_live_cell_sets_a_step_against_a_step_s_floor(monkeypatch, capsys):
    """The live cell as it runs on a GPU, here on the CPU with a small case."""
    pytest.importorskip("torch")
    import functools
    import types

    name = "B1 C4 8x8 K3 G2"
    monkeypatch.setattr(live_speed, "cuda_device", lambda: "cpu")
    monkeypatch.setattr(live_speed, "measure", functools.partial(live_speed.measure, device="cpu", bandwidth_megabytes=4))
    namespace = _counting_namespace([name])
    recorded = speed.timings_from({"provenance": {}, "rows": [{"case": name, "framework": "torch", "method": "floor",
                                                               "fwd_ms": 1.0, "bwd_ms": 1.0, "fwd_bwd_ms": 2.0}]})
    namespace.update(recorded=recorded, profile=types.SimpleNamespace(repeats=0))
    capsys.readouterr()
    exec(_cell("gpu-live"), namespace)
    printed = capsys.readouterr().out
    assert printed.startswith("Live: measured live in this notebook")
    table = namespace["shown"][0]
    assert "floor (bytes at full bandwidth)" in table and "How each column was obtained" in table
