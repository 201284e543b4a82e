"""A submitted file to a notebook, or one sentence that says why it is not one."""

from __future__ import annotations

import json

import nbformat


class UnreadableSubmission(ValueError):
    """The file is not a notebook that can be graded; the message says why."""


def read_notebook(data: bytes):
    """Parse ``data`` as a Jupyter notebook (any nbformat 4 minor version, Colab's included).

    Upgrades it to the current minor version (cell ids added), as nbgrader expects.
    """
    if not data.strip():
        raise UnreadableSubmission("the file is empty (0 bytes of notebook)")
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise UnreadableSubmission("the file is not text: it is not a saved notebook") from None
    except json.JSONDecodeError as error:
        raise UnreadableSubmission(
            f"the file is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            "it was probably cut off or edited outside Jupyter"
        ) from None
    if not isinstance(raw, dict) or "cells" not in raw or "nbformat" not in raw:
        raise UnreadableSubmission("the file is JSON but not a Jupyter notebook (no cells)")
    if raw.get("nbformat") != 4:
        raise UnreadableSubmission(f"the notebook has format version {raw.get('nbformat')}; "
                                   "only version 4 notebooks (Jupyter, Colab) can be graded")
    try:
        notebook = nbformat.reads(json.dumps(raw), as_version=4)
        notebook = upgrade(notebook)
    except Exception as error:  # nbformat raises several kinds for malformed cells
        raise UnreadableSubmission(f"the notebook's structure is broken: {str(error).splitlines()[0]}") from None
    return notebook


def upgrade(notebook):
    """Bring an older nbformat 4 notebook (Colab writes 4.0) to the current minor version:
    every cell gets a unique id and the fields a code cell must have."""
    notebook.nbformat_minor = max(notebook.get("nbformat_minor", 0), nbformat.v4.nbformat_minor)
    seen: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        cell.setdefault("metadata", {})
        if cell.cell_type == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
        cell_id = cell.get("id") or cell.metadata.get("id") or f"cell-{index}"
        while cell_id in seen:
            cell_id = f"{cell_id}-{index}"
        seen.add(cell_id)
        cell["id"] = cell_id[:64]
    nbformat.validate(notebook)
    return notebook
