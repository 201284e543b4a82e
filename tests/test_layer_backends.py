"""The reference layer's tests under the other Keras backends.

Keras picks its backend once per process, when first imported, so each backend runs
tests/test_layers.py in a fresh interpreter; the rest of the suite runs under TensorFlow.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LAYER_TESTS = Path(__file__).with_name("test_layers.py")


def compile_quickly_under_jax(env: dict) -> None:
    """Let XLA compile without LLVM's optimisations in a process run with ``env``: op by op, JAX
    compiles every operation at its first use, and faster so. For runs that check values, not speed."""
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_layer_tests_pass_under_backend(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed: pip install {backend} to test the layer under it")
    env = dict(os.environ, KERAS_BACKEND=backend, INVOLUTION_COURSE_NO_PROGRESS="1")
    if backend == "jax":
        compile_quickly_under_jax(env)  # 55 s against 76 s for this file
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(LAYER_TESTS), "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        cwd=LAYER_TESTS.parent.parent,
    )
    assert result.returncode == 0, f"tests/test_layers.py fails under KERAS_BACKEND={backend}:\n{result.stdout[-4000:]}"
    assert "passed" in result.stdout
