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


def run_through_the_interpreter(cases: Path, timeout: int) -> None:
    """Run the pytest file ``cases`` in a fresh interpreter with TRITON_INTERPRET=1; fail unless all of it passed."""
    for package in ("torch", "triton"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed: the Triton kernels need torch and triton")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--confcutdir", str(cases.parent), str(cases)],
        env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True, text=True, timeout=timeout,
    )
    summary = result.stdout.strip().splitlines()[-1:] or ["no output"]
    assert result.returncode == 0, f"{summary[0]}\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    assert " passed" in summary[0] and "skipped" not in summary[0], summary[0]


@pytest.mark.slow  # 30 s to 3 min on two shared cores: every case through Triton's interpreter, in a process of its own
def test_triton_kernels_agree_with_numpy_through_the_interpreter():
    run_through_the_interpreter(CASES, timeout=900)
