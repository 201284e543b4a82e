"""Manual grading where README says: nbgrader's formgrader on the grading course, in a real browser.

Two students' ``squares`` (with a written answer) and one ``means`` are autograded (real nbgrader,
real sandbox); a Jupyter server with nbgrader's extensions runs in the grading course, as README
starts it; Debian's chromium (tests/browser/formgrader.mjs) opens Manual Grading, the assignment,
its notebook and a submission (the written answer with its rubric), and gives the written answer a
score, which must then show in ``involution-instructor grades``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.request
from pathlib import Path

import nbformat
import pytest
from test_autograde_sample import make_sample_course, means_notebook, require_sandbox, write
from test_browser import BROWSER_DIR, CHROMIUM, _free_port, _missing_tools, _stop, _wait_until_serving
from test_regrade import RUBRIC, WRITTEN, with_written_answer

from involution_instructor.autograde import autograde_submissions
from involution_instructor.autograde.sandbox import Sandbox
from involution_instructor.cli import main

pytestmark = pytest.mark.slow
SCRIPT = BROWSER_DIR / "formgrader.mjs"


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    missing = _missing_tools()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the formgrader test, but {missing}: run scripts/install-browser.sh")
        pytest.skip(f"{missing}: run scripts/install-browser.sh")
    require_sandbox()
    base = tmp_path_factory.mktemp("formgrader")
    make_sample_course(base / "source")
    nbformat.write(with_written_answer(), base / "source" / "solutions" / "squares" / "squares.ipynb")
    for student in ("amy", "bo"):
        write(base / "subs" / student / "squares.ipynb", with_written_answer(f"{student}: it grows as the area."))
    write(base / "subs" / "amy" / "means.ipynb", means_notebook())
    course = base / "course"
    report = autograde_submissions(base / "subs", course=course, source_root=base / "source", workers=2,
                                   show_progress=False, sandbox=Sandbox())
    assert len(report.by_status("graded")) == 3, report.text()
    return base, course


@pytest.fixture(scope="module")
def formgrader(graded_course):
    """``jupyter server`` started in the grading course, as README says; yields (url, token)."""
    base, course = graded_course
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(base / "jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(base / "jupyter-runtime")}
    command = [str(Path(sys.executable).parent / "jupyter"), "server", "--config=formgrader_config.py", "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log_path = base / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(server, url, token, log_path)
        yield url, token
    finally:
        _stop(server, url, token)


def _api(url, token, path):
    with urllib.request.urlopen(f"{url}{path}?token={token}", timeout=30) as response:
        return json.loads(response.read())


def test_formgrader_lists_every_graded_assignment_with_its_rubric(formgrader, graded_course):
    url, token = formgrader
    _, course = graded_course
    assignments = {a["name"]: a for a in _api(url, token, "/formgrader/api/assignments")}
    assert set(assignments) == {"squares", "means"}
    assert assignments["squares"]["num_submissions"] == 2 and assignments["means"]["num_submissions"] == 1
    # The rubric: the source notebook that formgrader's assignment page links to.
    source = course / assignments["squares"]["source_path"] / "squares.ipynb"
    assert "doubling x multiplies it by four" in source.read_text() and RUBRIC.splitlines()[1] in source.read_text()
    # No notebook in submitted/: formgrader's own Autograde button would run it outside the sandbox.
    # Pressed (it runs nbgrader autograde), it finds nothing to run and changes nothing.
    assert not list((course / "submitted").rglob("*.ipynb"))
    graded = (course / "autograded" / "amy" / "squares" / "squares.ipynb").read_bytes()
    pressed = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "autograde", "squares", "--student=amy",
                              "--force"], cwd=course, capture_output=True, text=True, timeout=120)
    assert "No notebooks were matched" in pressed.stderr + pressed.stdout
    assert (course / "autograded" / "amy" / "squares" / "squares.ipynb").read_bytes() == graded


def test_a_hand_grade_given_in_the_browser_reaches_the_grades_csv(formgrader, graded_course, tmp_path):
    url, token = formgrader
    _, course = graded_course
    config = {"baseUrl": url, "token": token, "executablePath": str(CHROMIUM),
              "userDataDir": str(tmp_path / "profile"), "resultsPath": str(tmp_path / "results.json"),
              "screenshot": str(tmp_path / "formgrader.png"),
              "assignment": "squares", "notebook": "squares", "gradeId": WRITTEN, "score": 1.5}
    (tmp_path / "config.json").write_text(json.dumps(config))
    done = subprocess.run(["node", str(SCRIPT), str(tmp_path / "config.json")], cwd=BROWSER_DIR,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stderr or done.stdout)[-3000:]
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["ok"], result.get("error")
    listed = " | ".join(result["assignments"])
    assert "squares" in listed and "means" in listed, listed
    assert len(result["submissions"]) == 2, result["submissions"]
    assert "it grows as the area" in result["page"]  # the written answer, on the grading page
    assert "Rubric (written_growth):" in result["page"] and "doubling x multiplies it by four" in result["page"]
    assert result["saved"]["manual_score"] == 1.5
    target = tmp_path / "grades.csv"
    assert main(["grades", "--course", str(course), "--output", str(target)]) == 0
    rows = sorted(line.strip().split(",") for line in target.read_text().splitlines()[1:])
    squares = [row for row in rows if row[1] == "squares"]
    # One of the two was graded by hand: 3 autograded + 1.5, nothing pending; the other still waits.
    assert sorted((row[2], row[4]) for row in squares) == [("3", "2"), ("4.5", "")], rows
