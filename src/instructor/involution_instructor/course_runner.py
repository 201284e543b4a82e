"""``make course``: run every solution notebook top to bottom and summarise the run.

Executed notebooks and their HTML go to ``build/course/``; the summary lists,
per notebook, whether it ran, how long it took and the headline figures it
recorded with :func:`involution_course.record`.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from involution_course import headlines
from .paths import ASSIGNMENTS, build_directory, project_root, solution_notebook
from involution_course.profiles import get_profile
from involution_course.progress import progress_bar
from .release import sync_solutions


@dataclass
class NotebookRun:
    assignment: str
    ok: bool
    seconds: float
    error: str = ""
    figures: list[dict] = field(default_factory=list)


def run_notebook(path: Path, output_dir: Path, *, timeout: int = 3600, env: dict | None = None) -> NotebookRun:
    """Execute ``path`` in a fresh kernel; write the executed notebook and its HTML to ``output_dir``."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    assignment = path.stem
    output_dir.mkdir(parents=True, exist_ok=True)
    figures_file = output_dir / f"{assignment}.headlines.jsonl"
    figures_file.unlink(missing_ok=True)
    notebook = nbformat.read(path, as_version=4)
    code_cells = sum(cell.cell_type == "code" for cell in notebook.cells)

    saved = {k: os.environ.get(k) for k in (headlines.HEADLINES_VARIABLE, *(env or {}))}
    os.environ[headlines.HEADLINES_VARIABLE] = str(figures_file)
    os.environ.update(env or {})
    start = time.perf_counter()
    error = ""
    # No time estimate: cells differ too much in length for a rate to predict the rest.
    bar = progress_bar(total=code_cells, desc=assignment, unit="cell", leave=False,
                       bar_format="{desc}: {n_fmt}/{total_fmt} cells [{elapsed}] {postfix}")
    ticker = _CellTicker(bar)
    sockets = tempfile.TemporaryDirectory(prefix="ic-kernel-")
    try:
        client = NotebookClient(
            notebook, timeout=timeout, km=_local_kernel_manager(Path(sockets.name)),
            resources={"metadata": {"path": str(path.parent)}},
            on_cell_start=lambda cell, **_: ticker.start(cell),
            on_cell_executed=lambda cell, **_: ticker.done(cell),
            shutdown_kernel="immediate",  # the notebook has run: skip TensorFlow's second-long tear-down
        )
        # nbclient stops only the kernels of managers it made itself: stop this one as each notebook
        # ends, so that kernels do not pile up (and warn when this process exits).
        client.execute(cleanup_kc=True)
    except CellTimeoutError:
        error = f"a cell ran longer than {timeout} s"
    except DeadKernelError:
        error = "the kernel died (out of memory, or a crash in native code)"
    except CellExecutionError as failure:
        error = f"{failure.ename}: {failure.evalue}".strip()
    finally:
        ticker.stop()
        bar.close()
        sockets.cleanup()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.perf_counter() - start
    nbformat.write(notebook, output_dir / f"{assignment}.ipynb")
    _write_html(notebook, output_dir / f"{assignment}.html")
    return NotebookRun(assignment, not error, seconds, error, headlines.read(figures_file))


def _local_kernel_manager(sockets: Path):
    """A kernel on this machine, reached through Unix sockets in ``sockets`` (IPC) rather than
    loopback TCP: nothing else can connect to it, and there is no unencrypted-TCP warning."""
    from jupyter_client.manager import KernelManager

    # An absolute socket prefix: the kernel starts in the notebook's folder, the client here.
    return KernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "kernel"))


class _CellTicker:
    """Keeps the terminal bar alive during long cells: it names the running cell and its
    elapsed seconds, refreshed every few seconds, so a cell that trains for minutes never
    looks stuck."""

    def __init__(self, bar, every: float = 5.0):
        self.bar, self.every = bar, every
        self._cell, self._since = "", 0.0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()

    def start(self, cell) -> None:
        if cell.cell_type == "code":
            self._cell = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {cell.get('id', '')}"
            self._since = time.perf_counter()
            self._show()

    def done(self, cell) -> None:
        if cell.cell_type == "code":
            self._cell = ""
            self.bar.update(1)

    def _show(self) -> None:
        if self._cell:
            self.bar.set_postfix_str(f"{self._cell}, {time.perf_counter() - self._since:.0f} s", refresh=True)

    def _tick(self) -> None:
        while not self._stopped.wait(self.every):
            self._show()

    def stop(self) -> None:
        self._stopped.set()


def _write_html(notebook, target: Path) -> None:
    # Readable offline: MathJax beside the page, widgets as static views, no remote images.
    from .offline_html import write_html

    write_html(notebook, target)


def summary_table(runs: list[NotebookRun], profile_name: str) -> str:
    lines = [
        f"Involution Course - profile '{profile_name}'",
        "",
        "| notebook | status | seconds | headline figures |",
        "| --- | --- | ---: | --- |",
    ]
    for run in runs:
        status = "ok" if run.ok else f"FAILED: {run.error}"
        figures = "; ".join(
            f"{f['name']} = {f['value']}{(' ' + f['unit']) if f['unit'] else ''}" for f in run.figures
        )
        lines.append(f"| {run.assignment} | {status} | {run.seconds:.1f} | {figures or '-'} |")
    return "\n".join(lines)


def run_course(assignments=ASSIGNMENTS) -> int:
    """Run the course under the active profile; print and save the summary. Returns an exit code."""
    root = project_root()
    profile = get_profile()
    output_dir = build_directory() / "course"
    sync_solutions(root, assignments)
    runs = []
    for assignment in progress_bar(assignments, desc="Course", unit="notebook"):
        runs.append(run_notebook(solution_notebook(assignment, root), output_dir))
    table = summary_table(runs, profile.name)
    (output_dir / "summary.md").write_text(table + "\n", encoding="utf-8")
    print("\n" + table)
    print(f"\nExecuted notebooks and HTML: {output_dir}")
    return 0 if all(run.ok for run in runs) else 1
