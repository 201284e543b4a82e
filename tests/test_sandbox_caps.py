"""Limits for each sandbox as a whole: real nbgrader, real bubblewrap, real cgroups.

Each probe student starts several processes, each well under the per-process limits, which
together pass the sandbox's: memory, CPU time, processes; another writes into the sockets'
folder. One autograding run (two workers) grades them beside an honest student. Where no
cgroup can be had (not root, no cgroup filesystem), the tests that need one skip, saying why.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from test_autograde_sample import make_sample_course, require_sandbox, squares_notebook, with_answer, write

from involution_instructor.autograde import autograde_submissions
from involution_instructor.autograde import sandbox as sandbox_module
from involution_instructor.autograde.gradebook import open_gradebook
from involution_instructor.autograde.sandbox import Sandbox, SandboxLimits, SandboxUnavailable, find_cgroups, parse_size
from involution_instructor.autograde.sandbox_launch import CGROUP_PREFIX, SOCKETS_SIZE
from involution_instructor.cli import main

WRONG_SQUARE = "\ndef square(x):\n    return 0\n"
REPORT = "import json\nprint('PROBE ' + json.dumps(found))\n"
LIMITS = SandboxLimits(memory=parse_size("1536M"), cpu_seconds=6, processes=64, disk=parse_size("64M"))
CHILDREN = 5

# Five children of 400 MB each: every one under the 1.5 GB a process may have, 2 GB together.
HOARD = (
    "import os, time\n"
    "children = []\n"
    f"for _ in range({CHILDREN}):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        hoard = bytearray(400 * 1024 ** 2)  # zeroed: real memory\n"
    "        time.sleep(5)\n"
    "        os._exit(0)\n"
    "    children.append(pid)\n"
    "statuses = [os.waitpid(pid, 0)[1] for pid in children]\n"
    "found = {'killed': sum(os.WIFSIGNALED(s) and os.WTERMSIG(s) == 9 for s in statuses)}\n"
    + REPORT + WRONG_SQUARE
)
# Three children spinning: each would stop at 6 CPU seconds alone; the sandbox stops at 6 together.
BURN = (
    "import os\n"
    "children = []\n"
    "for _ in range(3):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        while True:\n"
    "            pass\n"
    "    children.append(pid)\n"
    "statuses = [os.waitpid(pid, 0)[1] for pid in children]\n"
    "found = {'signals': [os.WTERMSIG(s) for s in statuses]}\n"
    + REPORT + WRONG_SQUARE
)
# Eight children, each forking sixteen more: a tree, not one process's loop.
FORKS = (
    "import os, signal, time\n"
    "children = []\n"
    "for _ in range(8):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        os.setpgid(0, 0)\n"
    "        for _ in range(16):\n"
    "            try:\n"
    "                if os.fork() == 0:\n"
    "                    time.sleep(30)\n"
    "                    os._exit(0)\n"
    "            except OSError:\n"
    "                break\n"
    "        time.sleep(30)\n"
    "        os._exit(0)\n"
    "    children.append(pid)\n"
    "time.sleep(1)\n"
    "running = sum(name.isdigit() for name in os.listdir('/proc'))  # this sandbox's pid namespace\n"
    "for pid in children:\n"
    "    os.killpg(pid, signal.SIGKILL)\n"
    "    os.waitpid(pid, 0)\n"
    "found = {'made': len(children), 'running': running}\n"
    + REPORT + WRONG_SQUARE
)
SOCKETS = (
    "import json, os\n"
    "folder = os.path.dirname(json.load(open('/run/jupyter/kernel.json'))['ip'])\n"
    "written = 0\n"
    "try:\n"
    "    for index in range(1000):\n"
    "        with open(os.path.join(folder, f'filler{index}'), 'wb') as handle:\n"
    "            handle.write(b'x' * 16 * 1024)\n"
    "        written += 16 * 1024\n"
    "except OSError as error:\n"
    "    error_name = type(error).__name__\n"
    "else:\n"
    "    error_name = None\n"
    "found = {'written': written, 'error': error_name}\n"
    + REPORT + WRONG_SQUARE
)


def require_cgroups():
    require_sandbox()
    method, reason = find_cgroups()
    if method is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI runs as root with cgroups: the sandbox's limits must hold as a whole: {reason}")
        pytest.skip(f"no cgroup can be had here: {reason}")


def _cgroups_left() -> list[str]:
    left = []
    for root in Path("/sys/fs/cgroup").glob("*"):
        left += [str(p) for p in root.rglob(f"{CGROUP_PREFIX}*")] if root.is_dir() else []
    return left


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    require_cgroups()
    base = tmp_path_factory.mktemp("caps")
    source = make_sample_course(base / "source")
    course, submissions = base / "course", base / "submissions"
    good = squares_notebook()
    for student, answer in (("hoard", HOARD), ("burn", BURN), ("forks", FORKS), ("sockets", SOCKETS)):
        write(submissions / student / "squares.ipynb", with_answer(good, "ex1_square", answer))
    write(submissions / "good" / "squares.ipynb", good)
    report = autograde_submissions(submissions, course=course, source_root=source, workers=2, cell_timeout=120,
                                   show_progress=False, sandbox=Sandbox(LIMITS, strict=True),
                                   assignments=["squares"])
    return report, course


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


@pytest.mark.slow
def test_processes_together_over_the_memory_limit_fail_only_their_own_cell(capped):
    report, course = capped
    assert _probe(course, "hoard")["killed"] >= 1, report.find("hoard").line()
    assert _score(course, "hoard") == 1 and _score(course, "good") == 3
    assert report.find("good").notes == [] and "WARNING" not in report.summary()


@pytest.mark.slow
def test_processes_together_over_the_cpu_time_fail_only_their_own_cell(capped):
    report, course = capped
    # The whole sandbox is stopped at 6 CPU seconds together (alone, each child would have run
    # to its own 6): the kernel with it, so that cell is skipped and the rest graded.
    assert "ex1_square stopped the Python kernel" in "\n".join(report.find("burn").notes), report.find("burn").line()
    assert _score(course, "burn") == 1


@pytest.mark.slow
def test_a_process_tree_is_held_to_the_sandboxs_count(capped):
    report, course = capped
    found = _probe(course, "forks")
    assert found["made"] == 8 and found["running"] <= LIMITS.processes, found
    assert _score(course, "forks") == 1


@pytest.mark.slow
def test_the_sockets_folder_is_capped_as_a_whole(capped):
    report, course = capped
    found = _probe(course, "sockets")
    assert found["error"] == "OSError" and found["written"] <= SOCKETS_SIZE, found
    assert _score(course, "sockets") == 1


@pytest.mark.slow
@pytest.mark.alone  # any sandbox's cgroup counts: it runs when no other grading does
def test_each_sandboxs_cgroup_and_sockets_mount_are_removed(capped):
    # The watcher removes them just after its sandbox ends, which may be a moment after grading.
    deadline = time.monotonic() + 15
    while (_cgroups_left() or "/sockets tmpfs" in Path("/proc/self/mounts").read_text()) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _cgroups_left() == []
    assert "/sockets tmpfs" not in Path("/proc/self/mounts").read_text()


# ------------------------------------------------------------------ where no cgroup can be had


def test_without_cgroups_grading_says_what_the_limits_mean_and_strict_refuses(tmp_path, monkeypatch, capsys):
    require_sandbox()
    monkeypatch.setattr(sandbox_module, "find_cgroups", lambda: (None, "no cgroup filesystem is mounted"))
    sandbox_module._settings.cache_clear()
    try:
        settings = sandbox_module.resolve(Sandbox())
        assert sandbox_module.caps_warning(settings) == (
            "The sandbox's limits bind each process, not each sandbox as a whole, because no cgroup can be had here "
            "(no cgroup filesystem is mounted): a notebook's processes together may use up to --processes times "
            "--memory and --cpu-time; " + sandbox_module.CGROUP_ADVICE + ", or pass --strict to refuse to grade.")
        with pytest.raises(SandboxUnavailable, match=r"^--strict grading needs limits for each sandbox as a whole"):
            sandbox_module.resolve(Sandbox(strict=True))
        source = make_sample_course(tmp_path / "source")
        write(tmp_path / "subs" / "amy" / "squares.ipynb", squares_notebook())
        assert main(["autograde", str(tmp_path / "subs"), "--source", str(source), "--course",
                     str(tmp_path / "course"), "--strict"]) == 2
        error = capsys.readouterr().err
        assert "--strict grading needs" in error and "Traceback" not in error
        assert main(["autograde", str(tmp_path / "subs"), "--source", str(source), "--course",
                     str(tmp_path / "course"), "--strict", "--no-sandbox"]) == 2
        assert "choose one" in capsys.readouterr().err
        assert not (tmp_path / "course" / "gradebook.db").exists()
    finally:
        sandbox_module._settings.cache_clear()


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_the_cgroup_files_are_written_and_read_as_each_version_names_them(tmp_path, kind):
    from involution_instructor.autograde.sandbox_launch import cpu_seconds, join_group, make_group

    if kind == "v1":
        method = {"kind": "v1", "parents": {c: str(tmp_path / c) for c in ("memory", "pids", "cpuacct")}}
        for parent in method["parents"].values():
            os.mkdir(parent)
    else:
        method = {"kind": "v2", "parent": str(tmp_path)}
    group = make_group(method, 1024, 16)
    folders = {Path(f).parent.name if kind == "v1" else "all": Path(f) for f in group["folders"]}
    memory, pids = (folders["memory"], folders["pids"]) if kind == "v1" else (folders["all"], folders["all"])
    assert (memory / ("memory.limit_in_bytes" if kind == "v1" else "memory.max")).read_text() == "1024"
    assert (memory / ("memory.memsw.limit_in_bytes" if kind == "v1" else "memory.swap.max")).read_text() \
        == ("1024" if kind == "v1" else "0")
    assert (pids / "pids.max").read_text() == "16"
    if kind == "v1":
        (folders["cpuacct"] / "cpuacct.usage").write_text("2500000000\n")
    else:
        (folders["all"] / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    assert cpu_seconds(group) == 2.5
    join_group(group, 4321)
    assert all((folder / "cgroup.procs").read_text() == "4321" for folder in folders.values())
