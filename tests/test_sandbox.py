"""Students' code against the grading sandbox: real nbgrader, real bubblewrap, one class.

Every probe is a student of ONE autograding run (two workers): each answers ex1 with
an attack and ex2 correctly, and prints what it found as a ``PROBE`` line, which the
tests read back from the graded notebook. Where bwrap is missing the tests skip
locally and fail in CI (``CI=true``), where the sandbox must run for real.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from pathlib import Path

import nbformat
import pytest
from test_autograde_sample import make_sample_course, require_sandbox, squares_notebook, with_answer, write

from involution_instructor.autograde import autograde_submissions, write_grades_csv
from involution_instructor.autograde.gradebook import open_gradebook
from involution_instructor.autograde.report import SubmissionResult
from involution_instructor.autograde.sandbox import Sandbox, SandboxLimits, SandboxUnavailable, parse_size, resolve

RIGHT_SQUARE = "\ndef square(x):\n    return np.asarray(x) ** 2\n"
WRONG_SQUARE = "\ndef square(x):\n    return 0\n"
LIMITS = SandboxLimits(memory=parse_size("2G"), processes=128, disk=parse_size("64M"))
SLEEP_MARK = "86399.25"  # the detached processes' argument: found on the host if they survive
REPORT = "import json\nprint('PROBE ' + json.dumps(found))\n"


# Every folder the kernel can reach, but the read-only system and Python (/usr, the venv), whose
# packages (nbgrader's own included) carry files of those names.
WALK = (
    "import sys\n"
    "system = {'/proc', '/sys', '/dev', '/usr', os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}\n"
    "for top in ('/',):\n"
    "    for root, dirs, files in os.walk(top):\n"
    "        dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(root, d)) not in system]\n"
)


def _snoop(paths: dict[str, str]) -> str:
    """Everything reachable, walked: any notebook holding a hidden test, any gradebook or
    submission; and the host's own paths, asked for by name."""
    return (
        "import os, json\n"
        f"paths = {paths!r}\n"
        "found = {'visible': sorted(k for k, p in paths.items() if os.path.exists(p)), 'hits': []}\n"
        + WALK +
        "        for name in dirs + files:\n"
        "            path = os.path.join(root, name)\n"
        "            if name in ('solutions', 'submitted', 'autograded', 'gradebook.db', 'nbgrader_config.py') \\\n"
        "                    or name.endswith(('.db', '.sqlite')):\n"
        "                found['hits'].append(path)\n"
        "            elif name.endswith('.ipynb'):\n"
        "                try:\n"
        "                    if 'square(3) == 9' in open(path, errors='ignore').read():\n"
        "                        found['hits'].append(path)\n"
        "                except OSError:\n"
        "                    pass\n"
        "try:\n"
        "    import involution_instructor\n"
        "    found['instructor_package'] = True\n"
        "except ImportError:\n"
        "    found['instructor_package'] = False\n"
        "import involution_course\n"
        "found['student_package'] = True\n"
        "found['uid'] = os.getuid()\n"
        "found['home'] = os.path.expanduser('~')\n"
        "found['listed'] = {k: sorted(os.listdir(paths[k])) for k in ('instructor_home', 'checkout')\n"
        "                   if os.path.isdir(paths[k])}\n"
        + REPORT + RIGHT_SQUARE
    )


def _vandal(gradebook: str) -> str:
    return (
        "import json, os, sqlite3\n"
        "found = {'changed': []}\n"
        f"candidates = [{gradebook!r}]\n"
        + WALK +
        "        candidates += [os.path.join(root, f) for f in files if f.endswith(('.db', '.sqlite'))]\n"
        "for path in candidates:\n"
        "    try:\n"
        "        db = sqlite3.connect(path)\n"
        "        db.execute('UPDATE grade SET manual_score = 1000, extra_credit = 1000')\n"
        "        db.commit()\n"
        "        found['changed'].append(path)\n"
        "    except Exception as error:\n"
        "        found.setdefault('errors', []).append(type(error).__name__)\n"
        + REPORT + RIGHT_SQUARE
    )


def _network(port: int) -> str:
    return (
        "import json, socket\n"
        "found = {}\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=3).sendall(b'escaped')\n"
        "    found['connected'] = True\n"
        "except OSError as error:\n"
        "    found['connected'] = False\n"
        "    found['error'] = type(error).__name__\n"
        + REPORT + RIGHT_SQUARE
    )


DETACH = (
    "import json, os\n"
    "for _ in range(20):\n"
    "    if os.fork() == 0:\n"
    "        os.setsid()\n"
    "        if os.fork() == 0:\n"
    f"            os.execv('/bin/sleep', ['sleep', '{SLEEP_MARK}'])\n"
    "        os._exit(0)\n"
    "    os.wait()\n"
    "found = {'started': 20}\n"
    + REPORT + RIGHT_SQUARE
)
MEMORY = (
    "hoard = []\n"
    "while True:\n"
    "    hoard.append(bytearray(64 * 1024 ** 2))  # touched: real memory, not a reservation\n"
    + WRONG_SQUARE
)
DISK = (
    "import os\n"
    "index = 0\n"
    "while True:\n"
    "    with open(f'filler{index}', 'wb') as handle:\n"
    "        handle.write(b'x' * 16 * 1024 ** 2)\n"
    "    index += 1\n"
    + WRONG_SQUARE
)
FORKS = (
    "import json, os, time\n"
    "children = 0\n"
    "try:\n"
    "    while True:\n"
    "        if os.fork() == 0:\n"
    "            time.sleep(600)\n"
    "            os._exit(0)\n"
    "        children += 1\n"
    "except OSError as error:\n"
    "    found = {'children': children, 'error': type(error).__name__}\n"
    + REPORT + WRONG_SQUARE
)


def _skipper():
    """Wrong answers whose test cells were tagged to be skipped or allowed to fail."""
    notebook = with_answer(with_answer(squares_notebook(), "ex1_square", WRONG_SQUARE),
                           "ex2_cube", "def cube(x):\n    return 0")
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "ex1_test_square":
            cell.metadata["tags"] = ["skip-execution"]
        elif grade_id == "ex2_test_cube":
            cell.metadata["tags"] = ["raises-exception"]
            cell.metadata["nbgrader"]["points"] = 100
    return notebook


class _Listener:
    """A loopback server on the grading host, counting who reached it."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.server.settimeout(0.5)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                connection, _ = self.server.accept()
                self.connections += 1
                connection.close()
            except OSError:
                continue

    def close(self):
        self.running = False
        self.thread.join()
        self.server.close()


def _host_processes_with(argument: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if argument.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    require_sandbox()
    base = tmp_path_factory.mktemp("sandbox")
    source = make_sample_course(base / "source")
    course = base / "course"
    submissions = base / "submissions"
    marker = Path(f"/tmp/host-secret-{os.getpid()}.txt")
    marker.write_text("not for students")
    paths = {"source": str(source), "solutions": str(source / "solutions"), "course": str(course),
             "gradebook": str(course / "gradebook.db"), "submissions": str(submissions),
             "host_tmp_file": str(marker), "instructor_home": str(Path.home()), "checkout": str(Path.cwd())}
    listener = _Listener()
    good = squares_notebook()
    students = {
        "good": good,
        "snoop": with_answer(good, "ex1_square", _snoop(paths)),
        "vandal": with_answer(good, "ex1_square", _vandal(paths["gradebook"])),
        "network": with_answer(good, "ex1_square", _network(listener.port)),
        "detach": with_answer(good, "ex1_square", DETACH),
        "memory": with_answer(good, "ex1_square", MEMORY),
        "disk": with_answer(good, "ex1_square", DISK),
        "forks": with_answer(good, "ex1_square", FORKS),
        "skipper": _skipper(),
    }
    for student, notebook in students.items():
        write(submissions / student / "squares.ipynb", notebook)
    report = autograde_submissions(submissions, course=course, source_root=source, workers=2, cell_timeout=60,
                                   show_progress=False, sandbox=Sandbox(LIMITS), assignments=["squares"])
    listener.close()
    marker.unlink()
    yield report, course, listener
    for pid in _host_processes_with(SLEEP_MARK):  # only if a test failed: never leave them running
        os.kill(pid, 9)


def _mounted() -> list[str]:
    import involution_course

    return [sys.prefix, sys.base_prefix, str(Path(involution_course.__file__).parent)]


def _probe(course: Path, student: str) -> dict:
    graded = nbformat.read(course / "autograded" / student / "squares" / "squares.ipynb", 4)
    [cell] = [c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1_square"]
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    lines = [line for line in text.splitlines() if line.startswith("PROBE ")]
    assert lines, f"{student}'s probe printed nothing: {cell.outputs}"
    return json.loads(lines[-1][len("PROBE "):])


def _score(course: Path, student: str) -> float:
    with open_gradebook(course) as gradebook:
        return gradebook.find_submission("squares", student).score


pytestmark = pytest.mark.slow


def test_every_notebook_says_it_ran_in_the_sandbox(probed):
    report, course, _ = probed
    assert _score(course, "good") == 3
    for result in report.results:
        assert result.status == "graded", result.line()
        assert "(sandboxed)" in result.line()
    assert "each kernel in its own sandbox" in report.summary()


def test_nothing_of_the_course_or_the_host_can_be_found(probed):
    _, course, _ = probed
    found = _probe(course, "snoop")
    # The home and checkout folders exist only where Python and the student package are mounted below them.
    assert set(found["visible"]) <= {"instructor_home", "checkout"}
    for name, host in (("instructor_home", Path.home()), ("checkout", Path.cwd())):
        mounted = {Path(p).relative_to(host).parts[0] for p in _mounted() if Path(p).is_relative_to(host)}
        assert set(found["listed"].get(name, [])) <= mounted, (name, found["listed"], mounted)
    assert found["hits"] == []  # no hidden test, gradebook or submission anywhere it can walk
    assert found["instructor_package"] is False and found["student_package"] is True
    assert found["uid"] != 0 and found["home"] == "/tmp/home"
    assert _score(course, "snoop") == 3


def test_writing_a_gradebook_changes_no_grade(probed):
    _, course, _ = probed
    assert _probe(course, "vandal")["changed"] == []
    with open(write_grades_csv(course, course / "grades.csv")) as handle:
        rows = {line.split(",")[0]: line.strip().split(",") for line in handle.readlines()[1:]}
    assert rows["good"][2] == "3" and rows["vandal"][2] == "3"
    with open_gradebook(course) as gradebook:
        for submission in gradebook.assignment_submissions("squares"):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    assert not grade.manual_score and not grade.extra_credit, (submission.student.id, grade.name)


def test_the_hosts_loopback_cannot_be_reached(probed):
    _, course, listener = probed
    found = _probe(course, "network")
    assert found["connected"] is False, found
    assert listener.connections == 0


def test_detached_processes_end_with_the_notebook(probed):
    _, course, _ = probed
    assert _probe(course, "detach") == {"started": 20}
    assert _host_processes_with(SLEEP_MARK) == []
    assert _score(course, "detach") == 3


def test_a_memory_bomb_fails_only_its_own_cell(probed):
    report, course, _ = probed
    assert _score(course, "memory") == 1, report.find("memory").line()
    notes = "\n".join(report.find("memory").notes)
    # The hoard would starve later cells, or kill the kernel: the grader stops that cell and grades on.
    assert "ex1_square ran out of memory: graded again with it stopped at once" in notes \
        or "ex1_square stopped the Python kernel" in notes


def test_filling_the_disk_fails_only_its_own_cell(probed):
    report, course, _ = probed
    assert _score(course, "disk") == 1
    assert "ex1_square raised OSError" in report.find("disk").notes


def test_a_fork_loop_is_contained(probed):
    _, course, _ = probed
    found = _probe(course, "forks")
    assert found["error"] in ("BlockingIOError", "OSError") and 0 < found["children"] < LIMITS.processes
    assert _score(course, "forks") == 1


def test_tags_that_skip_or_excuse_tests_are_undone(probed):
    report, course, _ = probed
    assert _score(course, "skipper") == 0
    notes = report.find("skipper").notes
    assert "cell ex1_test_square's metadata was changed (tags: skip-execution): the assignment's was restored" in notes
    assert "cell ex2_test_cube's metadata was changed (tags: raises-exception): the assignment's was restored" in notes


# ------------------------------------------------------------------ no bwrap, no grading


def test_a_missing_bwrap_stops_grading_with_what_to_do(tmp_path):
    source = make_sample_course(tmp_path / "source")
    write(tmp_path / "subs" / "amy" / "squares.ipynb", squares_notebook())
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap.*--no-sandbox"):
        autograde_submissions(tmp_path / "subs", course=tmp_path / "course", source_root=source,
                              show_progress=False, sandbox=Sandbox(bwrap=str(tmp_path / "no-bwrap")))
    assert not (tmp_path / "course" / "gradebook.db").exists()


def test_the_report_says_how_each_notebook_ran():
    sandboxed = SubmissionResult("amy", "squares", "amy.ipynb", "graded", score=3, max_score=3, mode="sandboxed")
    assert sandboxed.line().startswith("graded   amy / squares: 3 of 3 (sandboxed)")
    unconfined = SubmissionResult("bo", "squares", "bo.ipynb", "graded", score=3, max_score=3, mode="NOT sandboxed")
    assert "(NOT sandboxed)" in unconfined.line()


@pytest.mark.parametrize("text, size", [("4G", 4 * 1024 ** 3), ("512M", 512 * 1024 ** 2), ("1.5G", 3 * 1024 ** 3 // 2),
                                        ("1024", 1024), ("2GiB", 2 * 1024 ** 3)])
def test_sizes_read_as_instructors_write_them(text, size):
    assert parse_size(text) == size


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="is not a size"):
        parse_size("lots")
    with pytest.raises(ValueError, match="processes limit must be positive"):
        SandboxLimits(processes=0)


def test_the_probe_runs_where_bwrap_does():
    require_sandbox()
    settings = resolve(Sandbox())
    assert settings["memory"] == 4 * 1024 ** 3 and not any("instructor" in inside for _, inside in settings["read_only"])
