"""Finding the cell that killed the kernel (``os._exit``, a segfault, the OOM killer).

nbgrader abandons a notebook whose kernel dies. To grade the rest, the notebook
is run once more, cell by cell, to find the culprit; the grader then skips that
cell (in its own copy) and grades again.
"""

from __future__ import annotations

import time
from pathlib import Path

from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

SKIPPED_CELL = (
    "raise RuntimeError('This cell stopped the Python kernel when the notebook was graded, "
    "so it was skipped; the cells after it were graded.')"
)


def find_kernel_killer(notebook, workdir: Path, cell_timeout: int, kernel_manager=None,
                       deadline: float | None = None) -> int | None:
    """The index of the first cell during which the kernel died, or ``None``; where it
    survives this time, the first cell that ran out of memory (the likely cause), if any.

    ``kernel_manager``: the sandbox's (see ``sandbox.KernelSetup``); ``None`` runs the
    kernel unconfined, for grading with ``--no-sandbox`` only."""
    # A cell past its time is interrupted and recorded as timed out, never waited on again: a kernel
    # too starved to answer an interrupt would otherwise hold the search for ever. The whole search
    # stops after ``deadline`` seconds.
    client = NotebookClient(
        notebook, km=kernel_manager, timeout=cell_timeout, allow_errors=True, interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": "", "traceback": []},
        kernel_name="python3", resources={"metadata": {"path": str(workdir)}},
    )
    stop = time.monotonic() + (deadline if deadline is not None else 4 * cell_timeout * max(1, len(notebook.cells)))
    exhausted = None  # the first cell that ran out of memory: what it hoards can starve later cells
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            if time.monotonic() > stop:
                break
            try:
                client.execute_cell(cell, index)
            except DeadKernelError:
                return index
            except CellTimeoutError:
                continue
            if exhausted is None and any(o.get("ename") == "MemoryError" for o in cell.get("outputs", [])):
                exhausted = index
    return exhausted
