"""involution_course.figures.kernels: every figure drawn off screen from real arrays."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from involution_course.figures import kernels as fk  # noqa: E402

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
LAYER_KERNELS = [RNG.normal(size=(4, 32, 32, 1, 3, 3)), RNG.normal(size=(4, 16, 16, 1, 3, 3))]


def _renders(figure: Figure) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.tell() > 1000


def test_all_names_exist():
    assert fk.__all__ and all(callable(getattr(fk, name)) for name in fk.__all__)


def test_map_grid_has_one_row_per_layer_and_a_labelled_shared_scale():
    rows = [RNG.random((4, 32, 32)), RNG.random((4, 16, 16)), RNG.random((4, 8, 8))]
    figure = fk.map_grid(IMAGES, rows, ["inv_1", "inv_2", "inv_3"], list("abcd"), scale_label="kernel sum")
    image_rows = [ax for ax in figure.axes if ax.images and ax.get_ylabel()]
    assert [ax.get_ylabel() for ax in image_rows] == ["image", "inv_1", "inv_2", "inv_3"]
    colourbars = [ax for ax in figure.axes if ax.get_ylabel() == "kernel sum"]
    assert len(colourbars) == 1
    # Every map row uses the same colour limits, so one bar reads them all.
    assert {ax.images[0].get_clim() for ax in image_rows[1:]} == {(0.0, 1.0)}
    # Each map keeps its own resolution and is stretched over its image's column, so the
    # columns line up with the images and no value is invented between map values.
    assert image_rows[0].images[0].get_array().shape[:2] == (32, 4 * 32 + 3 * fk.GAP)
    for ax, maps in zip(image_rows[1:], rows):
        assert [image.get_array().shape for image in ax.images] == [maps.shape[1:]] * 4
        assert [tuple(image.get_extent()[:2]) for image in ax.images] == [
            (i * (32 + fk.GAP) - 0.5, i * (32 + fk.GAP) + 31.5) for i in range(4)
        ]
        assert ax.get_xlim() == image_rows[0].get_xlim()
        np.testing.assert_array_equal(ax.images[2].get_array(), maps[2])
    assert [t.get_text() for t in image_rows[0].get_xticklabels()] == list("abcd")
    _renders(figure)


def test_map_grid_refuses_mismatched_input():
    with pytest.raises(ValueError, match="row labels"):
        fk.map_grid(IMAGES, [RNG.random((4, 8, 8))], ["a", "b"])
    with pytest.raises(ValueError, match="3 maps for 4 images"):
        fk.map_grid(IMAGES, [RNG.random((3, 8, 8))], ["a"])
    with pytest.raises(ValueError, match="divide"):
        fk.map_grid(IMAGES, [RNG.random((4, 5, 5))], ["a"])
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        fk.map_grid(IMAGES[..., 0], [RNG.random((4, 8, 8))], ["a"])


def test_overlay_grid_draws_each_blend():
    overlays = [RNG.random((4, 32, 32, 3)), RNG.random((4, 32, 32, 3))]
    figure = fk.overlay_grid(IMAGES, overlays, ["inv_1", "inv_2"], title="overlays")
    assert [ax.get_ylabel() for ax in figure.axes] == ["image", "inv_1", "inv_2"]
    strip = figure.axes[1].images[0].get_array()
    np.testing.assert_allclose(strip[:, :32], overlays[0][0])
    with pytest.raises(ValueError, match="overlays of shape"):
        fk.overlay_grid(IMAGES, [RNG.random((4, 16, 16, 3))], ["inv_2"])
    _renders(figure)


def test_kernel_panels_show_each_kernel_with_its_values():
    kernel = np.arange(9.0).reshape(3, 3) - 4
    figure = fk.kernel_panels(IMAGES[0], {"involution": kernel, "convolution": -kernel},
                              {"object": (16, 16)}, title="kernels")
    assert [ax.get_title() for ax in figure.axes] == ["image", "involution", "convolution"]
    texts = [t.get_text() for t in figure.axes[1].texts]
    assert texts[0] == "-4.00" and texts[-1] == "4.00"
    # Zero sits in the middle of a symmetric scale.
    assert figure.axes[1].images[0].get_clim() == (-4.0, 4.0)
    with pytest.raises(ValueError, match="square"):
        fk.kernel_panels(IMAGES[0], {"bad": np.ones((2, 3))})
    _renders(figure)


def test_similarity_bars_show_mean_per_layer():
    scores = np.array([[0.5, 0.9], [0.7, 1.0]])
    figure = fk.similarity_bars(["inv_1", "inv_2"], scores, [1.0, 1.0])
    ax = figure.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    np.testing.assert_allclose(heights, [0.6, 0.95, 1.0, 1.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["inv_1", "inv_2"]
    with pytest.raises(ValueError, match="2 layers"):
        fk.similarity_bars(["inv_1", "inv_2"], scores[:, :1], [1.0, 1.0])
    _renders(figure)


def test_training_snapshots_put_stages_in_rows():
    stages = {"start": RNG.random((4, 16, 16)), "middle": RNG.random((4, 16, 16)), "end": RNG.random((4, 16, 16))}
    figure = fk.training_snapshots(IMAGES, stages, "inv_2")
    labels = [ax.get_ylabel() for ax in figure.axes if ax.images]
    assert labels == ["image", "inv_2\nstart", "inv_2\nmiddle", "inv_2\nend"]
    _renders(figure)


def test_explorer_falls_back_to_a_static_figure(monkeypatch):
    assert not fk.widgets_available()  # no Jupyter kernel under pytest
    figure = fk.kernel_explorer(IMAGES, LAYER_KERNELS, ["inv_1", "inv_2"], np.ones((3, 3)))
    assert isinstance(figure, Figure)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[1:] == ["inv_1 centre (16,16)", "inv_2 centre (8,8)", "convolution\n(every position)"]
    np.testing.assert_allclose(figure.axes[1].images[0].get_array(), LAYER_KERNELS[0][0, 16, 16, 0])
    monkeypatch.setenv(fk.NO_WIDGETS_VARIABLE, "1")
    assert not fk.widgets_available()
    with pytest.raises(ValueError, match="layer names"):
        fk.kernel_explorer(IMAGES, LAYER_KERNELS, ["inv_1"])


def test_explorer_widget_draws_the_chosen_position():
    widgets = pytest.importorskip("ipywidgets")
    view = fk.kernel_explorer(IMAGES, LAYER_KERNELS, ["inv_1", "inv_2"], use_widgets=True)
    assert isinstance(view, widgets.interactive)
    names = [child.description for child in view.children if hasattr(child, "description")]
    assert names[:4] == ["image", "layer", "row", "column"]
    figure = fk._position_view(IMAGES, LAYER_KERNELS, ["inv_1", "inv_2"], 2, 1, 30, 3, None)
    # Row 30 does not exist in a 16 x 16 map: the view clamps it to the last row.
    assert figure.axes[1].get_title() == "inv_2 (15,3)"
    np.testing.assert_allclose(figure.axes[1].images[0].get_array(), LAYER_KERNELS[1][2, 15, 3, 0])


def test_similarity_bars_survive_equal_scores_and_silent_layers():
    """Equal scores round the mean past the range; a silent layer has no score at all (nan)."""
    from involution_course.figures.kernels import similarity_bars

    scores = np.array([[0.1 + 0.2, np.nan, 0.5], [0.3, np.nan, 0.7]])
    figure = similarity_bars(["inv_1", "inv_2", "inv_3"], scores, [1.0, 1.0, 1.0])
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert texts == ["0.300", "n/a", "0.600"]


def test_notebook_05s_try_it_cell_emits_no_warning(tmp_path):
    """The cell of Exercise 1 (its answer and its "Try it" lines) on the notebook's network and on a
    reloaded Sequential one: the kernel model gets its inputs in the structure it was built on."""
    import warnings
    from pathlib import Path

    import jupytext
    import keras

    from involution_course import kernels as kern
    from involution_course.layers import Involution

    source = Path(__file__).resolve().parents[1] / "solutions" / "05-kernel-visualisation" / "05-kernel-visualisation.py"
    cell = next(c.source for c in jupytext.read(source).cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1_kernel_model")
    keras.utils.set_random_seed(0)
    sequential = keras.Sequential([keras.Input((32, 32, 3)), Involution(3, 1, 1, 2), keras.layers.Flatten()])
    sequential.save(tmp_path / "sequential.keras")
    reloaded = keras.models.load_model(tmp_path / "sequential.keras", compile=False)
    for network in (kern.build_small_network("involution"), reloaded):
        namespace = {"keras": keras, "np": np, "kern": kern, "Involution": Involution, "network": network,
                     "inputs": RNG.random((2, 32, 32, 3)).astype("float32")}
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            exec(compile(cell, "ex1_kernel_model", "exec"), namespace)


def test_notebook_05s_later_cells_name_the_unfinished_exercise(capsys):
    """Later cells call the student's functions directly: an unfinished exercise, or a result
    missing because of one, stops a cell with one sentence naming it; the answer cell's own lines
    and other errors show as usual."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("from involution_course import kernels as kern\nkern.name_unfinished()")
        cells = [
            ("def kernel_maps(kernels):\n    raise NotImplementedError()\n\nkernel_maps(1)", "NotImplementedError"),
            ("layer_maps = [kernel_maps(k) for k in (1, 2)]",
             "ExerciseUnfinished: Finish Exercise 2 first: `kernel_maps` still raises NotImplementedError."),
            ("print(layer_maps)", "Finish Exercise 1 first: this cell uses `layer_maps`, which cells above compute "
                                  "from it through `layer_kernels`"),
            ("kernel_model(3)", "Finish Exercise 1 first: `kernel_model` is not defined yet"),
            ("undefined_name + 1", "NameError"),
            ("layer_kernels = 1\nprint(layer_maps)", "Finish Exercise 2 first: this cell uses `layer_maps`"),
        ]
        for source, shown in cells:
            capsys.readouterr()
            result = shell.run_cell(source)
            out = capsys.readouterr().out
            assert shown in out, (source, out)
            plain = shown in ("NotImplementedError", "NameError")
            assert ("Traceback" in out) == plain, (source, out)
            # The kernel's reply names the error the cell shows (nbgrader adds the reply's when they differ).
            assert type(result.error_in_exec).__name__ == (shown if plain else "ExerciseUnfinished"), source
    finally:
        shell.set_custom_exc((), None)
        InteractiveShell.clear_instance()
