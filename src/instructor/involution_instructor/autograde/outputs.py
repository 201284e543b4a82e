"""What a graded notebook says: timeouts, errors in answers, outputs too large to keep."""

from __future__ import annotations

from .crashes import SKIPPED_CELL

MAX_OUTPUT_CHARACTERS = 20_000
TIMEOUT_ERRORS = {"CellTimeoutError"}
QUIET_ERRORS = {"NotImplementedError"}  # an unanswered exercise, not worth a line


def review_outputs(notebook, cell_timeout: int) -> list[str]:
    """Sentences for the report: cells stopped by the time limit, answers that raised."""
    notes = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        name = meta.get("grade_id") or f"cell {index + 1}"
        enames = [o.get("ename") for o in cell.outputs if o.output_type == "error"]
        if cell.source == SKIPPED_CELL:
            continue  # already reported as the cell that stopped the kernel
        if TIMEOUT_ERRORS & set(enames):
            notes.append(f"{name} ran past the {cell_timeout} s limit per cell and was stopped")
        elif enames and not meta.get("grade") and enames[0] not in QUIET_ERRORS:
            notes.append(f"{name} raised {enames[0]}")
    return notes


def shrink_outputs(notebook, limit: int = MAX_OUTPUT_CHARACTERS) -> list[str]:
    """Cut every output text to ``limit`` characters (in place); a sentence per cut cell.

    nbgrader limits the number of lines, not their length: one ``print`` of a huge
    string would otherwise make a graded notebook of hundreds of megabytes.
    """
    notes = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        removed = 0
        for output in cell.outputs:
            if "text" in output:
                output["text"], cut = _cut(output["text"], limit)
                removed += cut
            for mime, value in output.get("data", {}).items():
                if isinstance(value, str):
                    output["data"][mime], cut = _cut(value, limit)
                    removed += cut
        if removed:
            name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
            notes.append(f"{name} printed too much: {removed:,} characters of output were left out")
    return notes


def _cut(text, limit: int):
    if isinstance(text, list):
        text = "".join(text)
    if len(text) <= limit:
        return text, 0
    return text[:limit] + f"\n... [{len(text) - limit:,} characters left out when graded]\n", len(text) - limit
