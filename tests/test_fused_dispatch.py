"""``involution_course.fused.fused_multiply_add``: which kernel it picks, and when it declines.

The dispatch tests replace the kernel modules with fakes, so they need neither a GPU nor the
Pallas and Triton modules; the last tests run the real kernels through their interpreters, each
in a process of its own (Keras picks its backend once per process), where they are installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import keras
import pytest

from involution_course import fused

PALLAS = "involution_course.fused.pallas_kernels"
TRITON = "involution_course.fused.triton_kernels"
ROOT = Path(__file__).resolve().parents[1]


class FakeKernels(types.ModuleType):
    """A kernel module that records its calls and returns a marker (or raises ``error``)."""

    def __init__(self, name, error=None):
        super().__init__(name)
        self.calls = []
        self.error = error

    def multiply_add(self, x, planes, **arguments):
        self.calls.append(arguments)
        if self.error is not None:
            raise self.error
        return "fused result"


class FakeTensor:
    def __init__(self, is_cuda):
        self.is_cuda = is_cuda


@pytest.fixture
def on(monkeypatch):
    """``on(backend, gpu=False)``: make the dispatcher see that Keras backend (and a GPU for JAX)."""
    monkeypatch.setattr(fused, "_UNAVAILABLE", set())
    monkeypatch.delenv("INVOLUTION_COURSE_FUSED", raising=False)

    def choose(backend, gpu=False):
        monkeypatch.setattr(keras.backend, "backend", lambda: backend)
        monkeypatch.setattr(fused, "_jax_on_gpu", lambda: gpu)

    return choose


@pytest.fixture
def fake(monkeypatch):
    """``fake(module, error=None)``: a fake kernel module in place of ``module``."""

    def install(name, error=None):
        module = FakeKernels(name, error)
        monkeypatch.setitem(sys.modules, name, module)
        return module

    return install


ARGUMENTS = dict(kernel_size=3, stride=2, groups=4)


def test_jax_on_a_gpu_uses_pallas(on, fake):
    on("jax", gpu=True)
    pallas = fake(PALLAS)
    assert fused.fused_multiply_add("x", "planes", **ARGUMENTS) == "fused result"
    assert pallas.calls == [dict(interpret=False, **ARGUMENTS)]


def test_jax_on_a_cpu_keeps_the_keras_path(on, fake):
    on("jax", gpu=False)
    pallas = fake(PALLAS)
    assert fused.fused_multiply_add("x", "planes", **ARGUMENTS) is None
    assert pallas.calls == []


def test_torch_uses_triton_for_cuda_tensors_only(on, fake):
    on("torch")
    triton = fake(TRITON)
    assert fused.fused_multiply_add(FakeTensor(is_cuda=False), "planes", **ARGUMENTS) is None
    assert triton.calls == []
    assert fused.fused_multiply_add(FakeTensor(is_cuda=True), "planes", **ARGUMENTS) == "fused result"
    assert triton.calls == [ARGUMENTS]


def test_tensorflow_has_no_fused_kernel(on, fake, monkeypatch):
    on("tensorflow", gpu=True)
    monkeypatch.setenv("INVOLUTION_COURSE_FUSED", "interpret")
    fakes = [fake(PALLAS), fake(TRITON)]
    assert fused.fused_multiply_add(FakeTensor(is_cuda=True), "planes", **ARGUMENTS) is None
    assert all(module.calls == [] for module in fakes)


def test_setting_zero_turns_the_kernels_off(on, fake, monkeypatch):
    monkeypatch.setenv("INVOLUTION_COURSE_FUSED", "0")
    pallas, triton = fake(PALLAS), fake(TRITON)
    on("jax", gpu=True)
    assert fused.fused_multiply_add("x", "planes", **ARGUMENTS) is None
    on("torch")
    assert fused.fused_multiply_add(FakeTensor(is_cuda=True), "planes", **ARGUMENTS) is None
    assert pallas.calls == [] and triton.calls == []


def test_interpret_runs_pallas_in_its_interpreter_on_a_cpu(on, fake, monkeypatch):
    on("jax", gpu=False)
    monkeypatch.setenv("INVOLUTION_COURSE_FUSED", "interpret")
    pallas = fake(PALLAS)
    assert fused.fused_multiply_add("x", "planes", **ARGUMENTS) == "fused result"
    assert pallas.calls == [dict(interpret=True, **ARGUMENTS)]


def test_interpret_sets_triton_interpret_before_triton_is_imported(on, fake, monkeypatch):
    on("torch")
    monkeypatch.setenv("INVOLUTION_COURSE_FUSED", "interpret")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.delitem(sys.modules, "triton", raising=False)
    triton = fake(TRITON)
    assert fused.fused_multiply_add(FakeTensor(is_cuda=False), "planes", **ARGUMENTS) == "fused result"
    assert os.environ["TRITON_INTERPRET"] == "1" and triton.calls == [ARGUMENTS]


def test_interpret_says_when_triton_was_imported_without_its_interpreter(on, fake, monkeypatch):
    on("torch")
    monkeypatch.setenv("INVOLUTION_COURSE_FUSED", "interpret")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setitem(sys.modules, "triton", types.ModuleType("triton"))
    fake(TRITON)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1 before triton is first imported"):
        fused.fused_multiply_add(FakeTensor(is_cuda=False), "planes", **ARGUMENTS)


@pytest.mark.parametrize("backend, module", [("jax", PALLAS), ("torch", TRITON)])
def test_a_kernel_module_that_cannot_be_imported_leaves_the_keras_path(on, monkeypatch, backend, module):
    on(backend, gpu=True)
    monkeypatch.setitem(sys.modules, module, None)  # importing it raises ImportError
    assert fused.fused_multiply_add(FakeTensor(is_cuda=True), "planes", **ARGUMENTS) is None
    assert module.rsplit(".", 1)[1] in fused._UNAVAILABLE  # not tried again in this process


def test_a_kernel_that_declines_the_input_leaves_the_keras_path(on, fake):
    on("jax", gpu=True)
    pallas = fake(PALLAS, error=ValueError("x and planes must have fewer than 2**30 elements"))
    assert fused.fused_multiply_add("x", "planes", **ARGUMENTS) is None
    assert len(pallas.calls) == 1


def test_unknown_settings_mean_automatic():
    for value, expected in (("0", "0"), (" Interpret ", "interpret"), ("1", "auto"), ("", "auto"), ("gpu", "auto")):
        os.environ["INVOLUTION_COURSE_FUSED"] = value
        try:
            assert fused.setting() == expected
        finally:
            del os.environ["INVOLUTION_COURSE_FUSED"]



def test_used_names_the_implementation_each_call_took(on, fake, monkeypatch):
    """What the experiment records per run: the kernels that ran, or the layer's keras.ops path
    wherever the dispatcher returned None (no GPU, turned off, declined)."""
    fused.used(reset=True)
    on("jax", gpu=True)
    fake(PALLAS)
    fused.fused_multiply_add("x", "planes", **ARGUMENTS)
    on("torch")
    fake(TRITON)
    fused.fused_multiply_add(FakeTensor(is_cuda=True), "planes", **ARGUMENTS)
    fused.fused_multiply_add(FakeTensor(is_cuda=True), "planes", **ARGUMENTS)
    fused.fused_multiply_add(FakeTensor(is_cuda=False), "planes", **ARGUMENTS)
    fake(TRITON, error=ValueError("declined"))
    fused.fused_multiply_add(FakeTensor(is_cuda=True), "planes", **ARGUMENTS)
    monkeypatch.setenv("INVOLUTION_COURSE_FUSED", "0")
    fused.fused_multiply_add(FakeTensor(is_cuda=True), "planes", **ARGUMENTS)
    assert fused.used(reset=True) == {"pallas": 1, "triton": 2, "keras.ops": 3}
    assert fused.used() == {}

# -- the real kernels, through their interpreters ---------------------------------------------------
LAYER_AGAINST_KERAS_PATH = r"""
import os
import numpy as np
import keras
from involution_course.layers import Involution

def run(setting):
    os.environ["INVOLUTION_COURSE_FUSED"] = setting
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((2, 7, 6, 8)).astype("float32")
    layer = Involution(3, 2, 2, 2)
    layer(x)
    layer.set_weights([np.random.default_rng(i).standard_normal(w.shape).astype("float32") * 0.5 + (i == 5)
                       for i, w in enumerate(layer.get_weights())])
    out, grads = gradients(layer, x)
    return out, grads

if keras.backend.backend() == "jax":
    import jax
    import jax.numpy as jnp

    def gradients(layer, x):
        trainable = [v.value for v in layer.trainable_variables]
        fixed = [v.value for v in layer.non_trainable_variables]
        def loss(weights, images):
            out, _ = layer.stateless_call(weights, fixed, images, training=False)
            return jnp.sum(out * jnp.cos(out)), out
        (_, out), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(trainable, jnp.asarray(x))
        return np.asarray(out), [np.asarray(g) for g in jax.tree_util.tree_leaves(grads)]
else:
    import torch

    def gradients(layer, x):
        images = torch.tensor(x, requires_grad=True)
        out = layer(images, training=False)
        torch.sum(out * torch.cos(out)).backward()
        return out.detach().numpy(), [images.grad.numpy()] + [v.value.grad.numpy() for v in layer.trainable_variables]

from involution_course import fused

kernels = fused._kernels("pallas_kernels" if keras.backend.backend() == "jax" else "triton_kernels")
calls = []
original = kernels.multiply_add
kernels.multiply_add = lambda *args, **kwargs: calls.append(kwargs) or original(*args, **kwargs)
fused_out, fused_grads = run("interpret")
assert calls, "the layer did not call the fused kernel"
plain_out, plain_grads = run("0")
np.testing.assert_allclose(fused_out, plain_out, rtol=1e-4, atol=1e-4)
for got, want in zip(fused_grads, plain_grads):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
print("fused kernel in interpret mode agrees")
"""


def _run_with_backend(backend, env=None):
    environment = {**os.environ, "KERAS_BACKEND": backend, "INVOLUTION_COURSE_NO_PROGRESS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-c", LAYER_AGAINST_KERAS_PATH], env=environment, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_layer_through_the_pallas_interpreter_equals_the_keras_path():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed: pip install jax to run the Pallas kernels in interpret mode")
    if importlib.util.find_spec(PALLAS) is None:
        pytest.skip("involution_course/fused/pallas_kernels.py is not there yet")
    result = _run_with_backend("jax")
    assert result.returncode == 0, f"the Pallas kernels (interpret mode) disagree:\n{result.stderr[-4000:]}"
    assert "agrees" in result.stdout


@pytest.mark.slow
def test_layer_through_the_triton_interpreter_equals_the_keras_path():
    for package in ("torch", "triton"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed: the Triton kernels need torch and triton")
    if importlib.util.find_spec(TRITON) is None:
        pytest.skip("involution_course/fused/triton_kernels.py is not there yet")
    result = _run_with_backend("torch", {"TRITON_INTERPRET": "1"})
    assert result.returncode == 0, f"the Triton kernels (interpret mode) disagree:\n{result.stderr[-4000:]}"
    assert "agrees" in result.stdout
