"""The Triton kernels through Triton's CPU interpreter, in a process of their own.

triton's compiler library aborts the process when it loads beside jaxlib's or TensorFlow's (which
other test modules import), and TRITON_INTERPRET must be set before triton's first import; so the
cases (tests/interpreter/triton_cases.py) run in a fresh interpreter, with only their own conftest.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).parent / "interpreter" / "triton_cases.py"


@pytest.mark.slow  # 30 s to 3 min on two shared cores: every case through Triton's interpreter, in a process of its own
def test_triton_kernels_agree_with_numpy_through_the_interpreter():
    for package in ("torch", "triton"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed: the Triton kernels need torch and triton")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--confcutdir", str(CASES.parent), str(CASES)],
        env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True, text=True, timeout=900,
    )
    summary = result.stdout.strip().splitlines()[-1:] or ["no output"]
    assert result.returncode == 0, f"{summary[0]}\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    assert " passed" in summary[0] and "skipped" not in summary[0], summary[0]
