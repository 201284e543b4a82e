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


BACKENDS = ("jax", "torch")


@pytest.fixture(scope="module")
def backend_runs(request, tmp_path_factory):
    """{backend: its running pytest process} for the backends this session selected, all started at
    once: each spends much of its time importing on one core."""
    selected = {item.callspec.params["backend"] for item in request.session.items
                if item.module.__name__ == __name__ and hasattr(item, "callspec")}
    runs = {}
    for backend in BACKENDS:
        if backend not in selected or importlib.util.find_spec(backend) is None:
            continue
        env = dict(os.environ, KERAS_BACKEND=backend, INVOLUTION_COURSE_NO_PROGRESS="1")
        if backend == "jax":
            compile_quickly_under_jax(env)  # 55 s against 76 s for this file
        base = tmp_path_factory.mktemp(f"layers-{backend}")
        output = open(base / "output.txt", "w+")
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", str(LAYER_TESTS), "-q", "-p", "no:cacheprovider", "--basetemp", str(base / "tmp")],
            env=env, stdout=output, stderr=subprocess.STDOUT, text=True, cwd=LAYER_TESTS.parent.parent)
        runs[backend] = (process, output)
    yield runs
    for process, output in runs.values():
        if process.poll() is None:
            process.kill()
        process.wait()
        output.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_layer_tests_pass_under_backend(backend, backend_runs):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed: pip install {backend} to test the layer under it")
    process, output = backend_runs[backend]
    returncode = process.wait(timeout=900)
    output.seek(0)
    stdout = output.read()
    assert returncode == 0, f"tests/test_layers.py fails under KERAS_BACKEND={backend}:\n{stdout[-4000:]}"
    assert "passed" in stdout
