"""Put a submission's nbgrader cells back as the assignment has them.

nbgrader matches cells by ``grade_id`` and restores the source of locked cells,
but it grades a deleted test cell as zero without running it, and it runs cells
in the order the student left them. Here, before nbgrader sees the notebook:

* a deleted locked cell (set-up, tests) is put back, so the original tests run;
* a deleted answer cell is put back as the release's unanswered stub;
* cells moved out of order go back to the assignment's order, each nbgrader cell
  taking along the student's own cells that followed it;
* a second cell with an id already seen loses its nbgrader metadata (a copy);
* every nbgrader cell gets the assignment's metadata back (tags such as
  ``skip-execution`` or ``raises-exception`` change how a cell runs), and cells the
  student added lose the tags that would change how they run.

Each change is reported in one sentence.
"""

from __future__ import annotations

import copy
import re

from .catalogue import grade_id_of

# Cell tags that nbclient or nbgrader read when running a notebook.
EXECUTION_TAGS = {"skip-execution", "raises-exception"}
HIDDEN_BLOCK = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S)


def visible_source(source: str) -> str:
    """A cell's source as the release shows it: hidden tests removed, ends stripped."""
    return HIDDEN_BLOCK.sub("", source).strip()


def restore_structure(notebook, released) -> tuple[object, list[str]]:
    """A repaired copy of ``notebook`` and the sentences saying what was repaired.

    ``released`` is the student version of the assignment (``nbgrader generate_assignment``).
    """
    notebook = copy.deepcopy(notebook)
    order = [grade_id_of(cell) for cell in released.cells if grade_id_of(cell)]
    position = {grade_id: index for index, grade_id in enumerate(order)}
    released_cells = {grade_id_of(cell): cell for cell in released.cells if grade_id_of(cell)}
    notes: list[str] = []

    head: list = []
    groups: dict[str, list] = {}
    current = head
    for cell in notebook.cells:
        grade_id = grade_id_of(cell)
        if grade_id in position and grade_id not in groups:
            current = groups[grade_id] = [cell]
            continue
        if grade_id in groups:
            del cell.metadata["nbgrader"]  # a copy of a cell: the first one is graded
            notes.append(f"cell {grade_id} appears twice: the first copy was graded")
        elif grade_id:
            del cell.metadata["nbgrader"]  # an id from some other notebook
        current.append(cell)

    seen = [grade_id for grade_id in order if grade_id in groups]
    student_order = [grade_id_of(group[0]) for group in groups.values()]
    if student_order != seen:
        notes.append("cells were moved out of order: graded in the assignment's order")

    for grade_id in order:
        if grade_id in groups:
            continue
        original = copy.deepcopy(released_cells[grade_id])
        meta = original.metadata["nbgrader"]
        if meta.get("solution"):
            notes.append(f"answer cell {grade_id} was deleted: graded as unanswered")
        elif meta.get("grade"):
            notes.append(f"test cell {grade_id} was deleted: the original tests were run")
        else:
            notes.append(f"locked cell {grade_id} was deleted: the original was put back")
        groups[grade_id] = [original]

    for grade_id in order:
        meta = released_cells[grade_id].metadata["nbgrader"]
        cell = groups[grade_id][0]
        if meta.get("locked") and visible_source(cell.source) != visible_source(released_cells[grade_id].source):
            kind = "test cell" if meta.get("grade") else "locked cell"
            notes.append(f"{kind} {grade_id} was edited: the original was run")

    for grade_id in order:
        cell, original = groups[grade_id][0], released_cells[grade_id]
        if cell.metadata != original.metadata:
            if _execution_tags(cell) != _execution_tags(original):
                added = ", ".join(sorted(_execution_tags(cell) - _execution_tags(original))) or "removed"
                notes.append(f"cell {grade_id}'s metadata was changed (tags: {added}): the assignment's was restored")
            cell.metadata = copy.deepcopy(original.metadata)
    for cell in notebook.cells:
        if not grade_id_of(cell) and _execution_tags(cell):
            tags = cell.metadata.get("tags")
            cell.metadata["tags"] = [t for t in tags if t not in EXECUTION_TAGS] if isinstance(tags, list) else []

    notebook.cells = head + [cell for grade_id in order for cell in groups[grade_id]]
    return notebook, notes


def _execution_tags(cell) -> set[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return set(tags) & EXECUTION_TAGS if isinstance(tags, list) else set(EXECUTION_TAGS)
