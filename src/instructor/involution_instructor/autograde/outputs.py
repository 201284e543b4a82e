"""What a graded notebook says: timeouts, errors in answers, printed text too large to keep."""

from __future__ import annotations

from .crashes import SKIPPED_CELL

MAX_OUTPUT_CHARACTERS = 20_000  # printed text per output
MAX_IMAGE_CHARACTERS = 4_000_000  # per image: a figure's PNG takes a few hundred thousand
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


def shrink_outputs(notebook, limit: int = MAX_OUTPUT_CHARACTERS, image_limit: int = MAX_IMAGE_CHARACTERS) -> list[str]:
    """Cut every printed text to ``limit`` characters (in place); a sentence per cut cell.

    nbgrader limits the number of lines, not their length: one ``print`` of a huge
    string would otherwise make a graded notebook of hundreds of megabytes. Images
    (a figure's PNG is a base64 text of a few hundred thousand characters) are not
    printed text: they are kept whole up to ``image_limit`` each, and left out above it.
    """
    notes = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        removed, images = 0, 0
        for output in cell.outputs:
            if "text" in output:
                output["text"], cut = _cut(output["text"], limit)
                removed += cut
            data = output.get("data", {})
            for mime, value in list(data.items()):
                if mime.startswith("image/"):
                    size = len("".join(value)) if isinstance(value, (str, list)) else 0
                    if size > image_limit:
                        del data[mime]
                        data.setdefault("text/plain", f"[an image of {size:,} characters left out when graded]")
                        images += 1
                elif isinstance(value, (str, list)):
                    data[mime], cut = _cut(value, limit)
                    removed += cut
        name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
        if removed:
            notes.append(f"{name} printed too much: {removed:,} characters of output were left out")
        if images:
            what = "an image" if images == 1 else f"{images} images"
            notes.append(f"{name} displayed {what} of over {image_limit:,} characters: left out")
    return notes


def _cut(text, limit: int):
    if isinstance(text, list):
        text = "".join(text)
    if len(text) <= limit:
        return text, 0
    return text[:limit] + f"\n... [{len(text) - limit:,} characters left out when graded]\n", len(text) - limit
