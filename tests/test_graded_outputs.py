"""What the report says of a graded notebook's outputs: figures are not "printed too much"."""

from __future__ import annotations

import base64
import io

import matplotlib
import numpy as np
from nbformat.v4 import new_code_cell, new_notebook, new_output

from involution_instructor.autograde.outputs import MAX_OUTPUT_CHARACTERS, shrink_outputs

matplotlib.use("agg")


def _figure_png() -> str:
    """A plot as a notebook displays it: base64 PNG (a noisy one, so that it is large)."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(12, 4), dpi=100)
    for axis in axes:
        axis.imshow(np.random.default_rng(0).random((64, 64)))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _honest_notebook(png: str):
    return new_notebook(cells=[
        new_code_cell("show(images)", outputs=[
            new_output("display_data", data={"image/png": png, "text/plain": "<Figure size 1200x400 with 3 Axes>"}),
            new_output("stream", name="stdout", text="loss 0.51\n"),
        ]),
    ])


def test_an_honest_notebook_with_plots_gets_no_note_about_output_size():
    png = _figure_png()
    assert len(png) > 2 * MAX_OUTPUT_CHARACTERS  # larger than the cap on printed text
    notebook = _honest_notebook(png)
    assert shrink_outputs(notebook) == []
    assert notebook.cells[0].outputs[0]["data"]["image/png"] == png  # kept whole


def test_printed_text_is_still_cut_and_huge_images_left_out():
    notebook = new_notebook(cells=[
        new_code_cell("print('x' * 10**6)", outputs=[new_output("stream", name="stdout", text="x" * 10**6)]),
        new_code_cell("display(huge)", outputs=[new_output("display_data", data={"image/png": "A" * 10**6})]),
    ])
    notes = shrink_outputs(notebook, image_limit=500_000)
    assert notes == [f"cell 1 printed too much: {10**6 - MAX_OUTPUT_CHARACTERS:,} characters of output were left out",
                     "cell 2 displayed an image of over 500,000 characters: left out"]
    assert len(notebook.cells[0].outputs[0]["text"]) < MAX_OUTPUT_CHARACTERS + 100
    assert notebook.cells[1].outputs[0]["data"] == {"text/plain": "[an image of 1,000,000 characters left out when graded]"}
