"""The course's nbgrader_config.py: graders side by side never share a kernel's sockets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LOAD = f"""
import os
from traitlets.config.loader import PyFileConfigLoader
config = PyFileConfigLoader("nbgrader_config.py", path={str(ROOT)!r}).load_config()
manager = config.KernelManager
print(manager.transport, manager.ip, os.path.isdir(os.path.dirname(manager.ip)))
"""

KERNEL = f"""
from jupyter_client import KernelManager
from traitlets.config.loader import PyFileConfigLoader
config = PyFileConfigLoader("nbgrader_config.py", path={str(ROOT)!r}).load_config()
manager = KernelManager(config=config, kernel_name="python3")
manager.start_kernel()
client = manager.blocking_client()
client.start_channels()
client.wait_for_ready(timeout=60)
reply = client.execute_interactive("print(6 * 7)", timeout=60, output_hook=lambda msg: print(msg["content"].get("text", ""), end=""))
print(manager.transport, reply["content"]["status"])
client.stop_channels()
manager.shutdown_kernel()
"""


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_each_grader_gets_its_own_socket_folder_and_removes_it():
    first, second = (_run(LOAD).split() for _ in range(2))
    assert first[0] == second[0] == "ipc"
    assert os.path.isabs(first[1]) and first[1] != second[1]
    assert first[2] == "True"  # made while the grader runs ...
    assert not os.path.exists(os.path.dirname(first[1]))  # ... and gone when it ends


def test_a_kernel_runs_over_the_configured_sockets():
    assert _run(KERNEL).split() == ["42", "ipc", "ok"]
