"""The student's path through JupyterLab, in a real browser.

JupyterLab runs headless on a loopback port (with a token) in the project's
environment, on a copy of notebooks/ and solutions/ in a temporary folder. Debian's
chromium, driven by Playwright (tests/browser/run-notebooks.mjs), opens every
notebook, runs every cell with Shift+Enter as a student does, and saves it. This
file then checks the saved notebooks and what the page rendered.

What "the only errors are the stubs" means for a released notebook:

* every code cell runs (a kernel that died or hung leaves cells without a count);
* no cell before the first answer cell fails: set-up, data and teaching cells run;
* an answer cell either runs or stops with ``NotImplementedError`` (nbgrader's stub);
* a test cell either passes or fails with ``NotImplementedError`` (it called a stub),
  ``NameError`` (the answer's name was never defined), ``ExerciseUnfinished`` (the sentence
  naming the exercise whose stub it called) or ``AssertionError``;
* any other cell after the first answer cell either runs or fails with
  ``NotImplementedError``, ``NameError`` or ``ExerciseUnfinished`` (the sentence that names the
  exercise to finish): it uses an answer not yet written.

A solution notebook, run under the grading profile, has no error at all; every figure
it draws shows as a loaded image, and a notebook that draws figures shows at least
one; a notebook that builds ipywidgets shows their controls, with no widget error, and
moving the first slider of a widget view (the right arrow key) redraws its figure.

Screenshots of one figure and of notebook 05's widget view go to build/browser/.
Without chromium, node or playwright-core the test is skipped with the reason,
except in CI (``CI=true``), where it fails: scripts/install-browser.sh installs them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from involution_instructor.paths import ASSIGNMENTS, build_directory
from involution_instructor.release import py_to_ipynb

ROOT = Path(__file__).resolve().parents[1]
BROWSER_DIR = ROOT / "tests" / "browser"
SCRIPT = BROWSER_DIR / "run-notebooks.mjs"
CHROMIUM = Path(os.environ.get("INVOLUTION_COURSE_CHROMIUM", "/usr/bin/chromium"))
WIDGET_ASSIGNMENT = "05-kernel-visualisation"
RUN_TIMEOUT_S = 1200
# Runs that wait for another, because notebooks share build/ as a student's do: solution 05
# inspects the network that solution 04 saves in build/models/, and the release of 04 (which
# may save too) must not replace it before 05 has read it.
RUNS_AFTER = {
    "solution-05-kernel-visualisation": "solution-04-cifar10-comparison",
    "release-04-cifar10-comparison": "solution-05-kernel-visualisation",
}
CELL_TIMEOUT_S = 300

ANSWER_ERRORS = {"NotImplementedError"}
TEST_ERRORS = {"NotImplementedError", "NameError", "AssertionError", "ExerciseUnfinished"}
# ExerciseUnfinished: a later cell naming the exercise whose answer it needs.
DOWNSTREAM_ERRORS = {"NotImplementedError", "NameError", "ExerciseUnfinished"}
FIGURE_CODE = re.compile(r"\bplt\.\w+\s*\(|\bfigures\.\w+\s*\(|^\s*(from|import) matplotlib", re.M)
WIDGET_CODE = re.compile(r"\bipywidgets\b|\binteract(ive)?\s*\(")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


# ------------------------------------------------------------------------ tools


def _missing_tools() -> str | None:
    if not CHROMIUM.exists():
        return f"no chromium at {CHROMIUM}"
    if shutil.which("node") is None:
        return "no node on PATH"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed in tests/browser"
    return None


@pytest.fixture(scope="module")
def browser_tools():
    missing = _missing_tools()
    if missing:
        advice = f"{missing}: run scripts/install-browser.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser test, but {advice} (before `make test` in .ci/run)")
        pytest.skip(advice)


# -------------------------------------------------------------------- JupyterLab


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _course_copy(target: Path) -> Path:
    """notebooks/ and solutions/ as they are in the checkout, solutions' notebooks made
    from their .py (the source), in ``target``; the checkout is never written."""
    for folder in ("notebooks", "solutions"):
        shutil.copytree(ROOT / folder, target / folder,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for name in ("jupytext.toml", "nbgrader_config.py"):
        shutil.copy2(ROOT / name, target / name)
    for assignment in ASSIGNMENTS:
        py_to_ipynb(target / "solutions" / assignment / f"{assignment}.py")
    # Paired files with one time stamp: jupytext opens neither as out of date.
    stamp = time.time()
    for path in target.rglob("*"):
        if path.is_file():
            os.utime(path, (stamp, stamp))
    return target


def _lab_settings(folder: Path) -> Path:
    settings = {
        # Every cell in the page, so the test sees every output (no virtual scrolling).
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        # No news or update prompts over the notebook.
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false", "checkForUpdates": False,
        },
    }
    for name, values in settings.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


@pytest.fixture(scope="module")
def lab(browser_tools, shared_data, tmp_path_factory):
    """A headless JupyterLab on a copy of the course; yields (url, token, root)."""
    base = tmp_path_factory.mktemp("lab")
    root = _course_copy(base / "course")
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "INVOLUTION_COURSE_PROFILE": "grading",
        "INVOLUTION_COURSE_DATA": str(shared_data),
        "INVOLUTION_COURSE_BUILD": str(base / "build"),
        "JUPYTER_CONFIG_DIR": str(base / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(base / "jupyter-runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(_lab_settings(base / "lab-settings")),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "lab-workspaces"),
    }
    # As a student has it: progress bars show (as widgets), figures go inline.
    for name in ("INVOLUTION_COURSE_NO_PROGRESS", "INVOLUTION_COURSE_HEADLINES", "MPLBACKEND"):
        env.pop(name, None)
    log_path = base / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(server, url, token, log_path)
        yield url, token, root
    finally:
        _stop(server, url, token)


def _wait_until_serving(server, url, token, log_path, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited ({server.returncode}):\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {timeout_s} s:\n{_tail(log_path)}")


def _stop(server, url, token):
    if server.poll() is None:
        request = urllib.request.Request(f"{url}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
        try:
            urllib.request.urlopen(request, timeout=10).close()
            server.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            pass
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGKILL)  # the server and the kernels it started
        server.wait()


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:]


# ------------------------------------------------------------------- the browser


def _notebook_path(kind: str, assignment: str) -> str:
    folder = "solutions" if kind == "solution" else "notebooks"
    return f"{folder}/{assignment}/{assignment}.ipynb"


KIND_OF_TEST = {
    "test_release_shows_only_the_stubs_errors": "release",
    "test_solution_runs_clean_and_its_figures_render": "solution",
}


def _selected_notebooks(session) -> set[tuple[str, str]]:
    """The (kind, assignment) pairs whose tests this session runs, so that
    `pytest tests/test_browser.py -k 01-convolution` opens only that notebook."""
    return {
        (KIND_OF_TEST[item.originalname], item.callspec.params["assignment"])
        for item in session.items
        if getattr(item, "originalname", None) in KIND_OF_TEST and hasattr(item, "callspec")
    }


@pytest.fixture(scope="module")
def browser_run(lab, tmp_path_factory, request):
    """The selected notebooks run in the browser; returns ({(kind, assignment): report}, root)."""
    url, token, root = lab
    selected = _selected_notebooks(request.session)
    work = tmp_path_factory.mktemp("browser")
    shots = build_directory() / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    jobs = []
    # Solutions first, longest (04) first: they run longest, and their screenshots matter most.
    solutions_first = sorted(ASSIGNMENTS, key=lambda a: a != "04-cifar10-comparison")
    for kind in ("solution", "release"):
        for assignment in solutions_first:
            if (kind, assignment) not in selected:
                continue
            wanted = {"failure": str(shots / f"failure-{kind}-{assignment}.png")}
            if kind == "solution":
                wanted["figure"] = str(work / f"figure-{assignment}.png")
                wanted["widgets"] = str(work / f"widgets-{assignment}.png")
            job_id = f"{kind}-{assignment}"
            jobs.append({"id": job_id, "path": _notebook_path(kind, assignment),
                         "after": RUNS_AFTER.get(job_id), "screenshots": wanted})
    config = {
        "baseUrl": url, "token": token, "executablePath": str(CHROMIUM),
        "userDataDir": str(work / "chromium-profile"), "resultsPath": str(work / "results.json"),
        # Two tabs: one loads a page or waits on the browser while the other's kernel computes.
        "concurrency": 2, "cellTimeoutMs": CELL_TIMEOUT_S * 1000, "notebooks": jobs,
    }
    (work / "config.json").write_text(json.dumps(config))
    for stale in shots.glob("*.png"):
        stale.unlink()
    started = time.monotonic()
    done = subprocess.run(["node", str(SCRIPT), str(work / "config.json")], cwd=BROWSER_DIR,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, f"the browser script failed:\n{(done.stderr or done.stdout)[-4000:]}"
    reports = json.loads((work / "results.json").read_text())
    print(f"\nbrowser run: {len(reports)} notebooks in {time.monotonic() - started:.0f} s")
    for report in reports:
        slowest = max(report["cells"], key=lambda c: c.get("seconds", 0), default=None)
        print(f"  {report['id']}: {report['seconds']:.0f} s"
              + (f" (slowest: cell {slowest['index']}, {slowest['seconds']:.0f} s)" if slowest else ""))
    _keep_screenshots(reports, shots)
    by_job = {}
    for report in reports:
        kind, assignment = report["id"].split("-", 1)
        by_job[(kind, assignment)] = report
    return by_job, root


def _keep_screenshots(reports, shots: Path) -> None:
    """One figure (the first solution notebook's that has one) and 05's widget view."""
    for report in sorted(reports, key=lambda r: r["id"]):
        figure = report["screenshots"].get("figure")
        if figure and not (shots / "figure.png").exists():
            shutil.copy(figure, shots / "figure.png")
        widgets = report["screenshots"].get("widgets")
        if widgets and report["id"] == f"solution-{WIDGET_ASSIGNMENT}":
            shutil.copy(widgets, shots / "widget-view.png")


def _opened(browser_run, kind, assignment):
    reports, root = browser_run
    report = reports[(kind, assignment)]
    assert report["ok"], (
        f"{kind} {assignment}: the browser could not run the notebook "
        f"(screenshot: {report['screenshots'].get('failure')}):\n{report['error'][-3000:]}"
    )
    notebook = nbformat.read(root / _notebook_path(kind, assignment), 4)
    return report, notebook


# ----------------------------------------------------------------------- checks


def allowed_errors(cell, after_first_answer: bool) -> set[str]:
    """The errors a released notebook's cell may show before the student answers."""
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("solution"):
        return ANSWER_ERRORS
    if not after_first_answer:
        return set()
    return TEST_ERRORS if meta.get("grade") else DOWNSTREAM_ERRORS


def _where(index, cell) -> str:
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
    first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
    return " ".join(filter(None, (f"cell {index}", grade_id, f"({first_line[:70]!r})")))


def _not_run(notebook) -> list[str]:
    return [
        f"{_where(i, c)} did not run"
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "code" and c.source.strip() and c.execution_count is None
    ]


def stub_only_problems(notebook) -> list[str]:
    """What is wrong with a released notebook run top to bottom: the errors that are not
    the stubs' (see the module's docstring), and code cells that never ran."""
    problems = _not_run(notebook)
    after_first_answer = False
    for index, cell in enumerate(notebook.cells):
        if cell.metadata.get("nbgrader", {}).get("solution"):
            after_first_answer = True
        if cell.cell_type != "code":
            continue
        allowed = allowed_errors(cell, after_first_answer)
        for output in cell.outputs:
            if output.output_type == "error" and output.ename not in allowed:
                problems.append(f"{_where(index, cell)}: {output.ename}: {output.evalue}"
                                f" (allowed here: {', '.join(sorted(allowed)) or 'none'})")
    return problems


def solution_problems(notebook, shown_cells: list[dict], slider_redraws: bool | None = None) -> list[str]:
    """What is wrong with a solution notebook run top to bottom, given what the page
    showed for each cell and whether moving a widget view's first slider redrew its
    figure (``None``: no slider beside a figure); both from the browser script."""
    problems = _not_run(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.output_type == "error":
                problems.append(f"{_where(index, cell)}: {output.ename}: {output.evalue}")
        drawn = sum(1 for o in cell.outputs if any(t in o.get("data", {}) for t in IMAGE_TYPES))
        shown = shown_cells[index]
        if shown["images"] < drawn or shown["brokenImages"]:
            problems.append(f"{_where(index, cell)} drew {drawn} figure(s); the page shows "
                            f"{shown['images']} loaded and {shown['brokenImages']} broken image(s)")
        problems.extend(f"{_where(index, cell)}: {error}" for error in shown["widgetErrors"])
    source = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    if FIGURE_CODE.search(source) and not any(c["images"] for c in shown_cells):
        problems.append("the notebook draws figures, but the page shows none")
    if WIDGET_CODE.search(source) and not any(c["controls"] for c in shown_cells):
        problems.append("the notebook builds ipywidgets, but the page shows no widget controls")
    if slider_redraws is False:
        problems.append("moving the widget view's first slider did not redraw its figure")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_shows_only_the_stubs_errors(browser_run, assignment):
    _, notebook = _opened(browser_run, "release", assignment)
    problems = stub_only_problems(notebook)
    assert not problems, f"released {assignment}, run in JupyterLab:\n" + "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_runs_clean_and_its_figures_render(browser_run, assignment):
    report, notebook = _opened(browser_run, "solution", assignment)
    problems = solution_problems(notebook, report["cells"], report.get("sliderRedraws"))
    assert not problems, f"solution {assignment}, run in JupyterLab:\n" + "\n".join(problems)


# ------------------------------------------- the checks themselves, on made-up runs


def _cell(source, grade_id=None, *, solution=False, grade=False, error=None, count=1, outputs=()):
    cell = nbformat.v4.new_code_cell(source, execution_count=count)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": solution, "grade": grade}
    cell.outputs = list(outputs)
    if error:
        cell.outputs.append(nbformat.v4.new_output("error", ename=error, evalue="", traceback=[]))
    return cell


def _run(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


def test_release_check_accepts_the_ways_a_missing_answer_shows():
    notebook = _run(
        _cell("import involution_course as ic", "setup"),
        _cell("def f(x):\n    raise NotImplementedError()", "ex1_answer", solution=True),
        _cell("assert f(1) == 2", "ex1_test", grade=True, error="NotImplementedError"),
        _cell("y = ...\nraise NotImplementedError()", "ex2_answer", solution=True, error="NotImplementedError"),
        _cell("assert y.shape == (2,)", "ex2_test", grade=True, error="NameError"),
        _cell("assert g == 3", "ex3_test", grade=True, error="AssertionError"),
        _cell("plot(y)", error="NameError"),
        _cell("plot(f(2))", error="NotImplementedError"),
    )
    assert stub_only_problems(notebook) == []


@pytest.mark.parametrize("cells, expected", [
    ((_cell("import involution_course as ic", "setup", error="ModuleNotFoundError"),),
     "cell 0 setup ('import involution_course as ic'): ModuleNotFoundError:  (allowed here: none)"),
    ((_cell("x = load()", error="NameError"),
      _cell("raise NotImplementedError()", "ex1_answer", solution=True, error="NotImplementedError")),
     "cell 0 ('x = load()'): NameError:  (allowed here: none)"),
    ((_cell("raise NotImplementedError()", "ex1_answer", solution=True, error="NameError"),),
     "cell 0 ex1_answer ('raise NotImplementedError()'): NameError:  (allowed here: NotImplementedError)"),
    ((_cell("raise NotImplementedError()", "ex1_answer", solution=True, error="NotImplementedError"),
      _cell("plot(y)", error="AssertionError")),
     "cell 1 ('plot(y)'): AssertionError:  (allowed here: ExerciseUnfinished, NameError, NotImplementedError)"),
    ((_cell("raise NotImplementedError()", "ex1_answer", solution=True, error="NotImplementedError"),
      _cell("assert f(1) == 2", "ex1_test", grade=True, error="TypeError")),
     "cell 1 ex1_test ('assert f(1) == 2'): TypeError:  "
     "(allowed here: AssertionError, ExerciseUnfinished, NameError, NotImplementedError)"),
    ((_cell("raise NotImplementedError()", "ex1_answer", solution=True, count=None),),
     "cell 0 ex1_answer ('raise NotImplementedError()') did not run"),
])
def test_release_check_reports_every_other_error(cells, expected):
    assert stub_only_problems(_run(*cells)) == [expected]


def _shown(images=0, broken=0, controls=0, errors=()):
    return {"images": images, "brokenImages": broken, "widgets": controls, "controls": controls,
            "widgetErrors": list(errors)}


def test_solution_check_wants_every_figure_and_widget_shown():
    figure = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
    notebook = _run(
        _cell("fig = figures.plot_kernel(k)", outputs=[figure]),
        _cell("ipywidgets.interact(show, index=(0, 9))"),
    )
    assert solution_problems(notebook, [_shown(images=1), _shown(controls=2)], slider_redraws=True) == []
    shown = [_shown(broken=1), _shown(errors=["Error displaying widget: model not found"])]
    assert solution_problems(notebook, shown, slider_redraws=False) == [
        "cell 0 ('fig = figures.plot_kernel(k)') drew 1 figure(s); the page shows 0 loaded and 1 broken image(s)",
        "cell 1 ('ipywidgets.interact(show, index=(0, 9))'): Error displaying widget: model not found",
        "the notebook draws figures, but the page shows none",
        "the notebook builds ipywidgets, but the page shows no widget controls",
        "moving the widget view's first slider did not redraw its figure",
    ]


def test_solution_check_reports_errors_and_cells_that_never_ran():
    notebook = _run(_cell("train()", error="ValueError"), _cell("evaluate()", count=None))
    assert solution_problems(notebook, [_shown(), _shown()]) == [
        "cell 1 ('evaluate()') did not run",
        "cell 0 ('train()'): ValueError: ",
    ]
