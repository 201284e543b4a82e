"""Fused GPU kernels for involution's multiply-add, used by ``involution_course.layers.Involution``.

The multiply-add takes the input ``x`` (B, H, W, C), channels last, and the kernel-generating
network's output ``planes`` (B, H_out, W_out, G*K*K), whose channel ``g*K*K + ki*K + kj`` is the
weight of tap (ki, kj) for channel group g (channels ``g*C/G .. (g+1)*C/G - 1``)::

    out[b, i, j, c] = sum_{ki, kj < K} x_pad[b, i*s + ki, j*s + kj, c] * planes[b, i, j, (c // (C/G))*K*K + ki*K + kj]

with ``x_pad`` zero-padded by (K - 1) / 2 on each side and H_out = ceil(H / s). A fused kernel
reads x and the planes once and writes the output once; it never builds a patch tensor.

* :mod:`.pallas_kernels`: Pallas kernels for Keras' JAX backend (``jax.custom_vjp``).
* :mod:`.triton_kernels`: Triton kernels for Keras' torch backend (``torch.autograd.Function``).
* :mod:`.whole_triton`: the whole involution's forward (span convolution and multiply-add) in one
  Triton kernel, from the kernel generator's hidden features; a measured alternative that the
  dispatcher does not use (forward only; README's "Fused GPU kernels" weighs it).

:func:`fused_multiply_add` picks the one that fits the backend and device, or returns ``None``
so that the layer keeps its ``keras.ops`` path. ``INVOLUTION_COURSE_FUSED=0`` turns the kernels
off; ``INVOLUTION_COURSE_FUSED=interpret`` runs them through their interpreters on the CPU
(slow; for tests). :func:`used` says which implementation the calls took (the experiment records it).
"""

from __future__ import annotations

import importlib
import os

__all__ = ["fused_multiply_add", "setting", "used"]

# The modules that failed to import in this process (missing, or triton not installed): not retried.
_UNAVAILABLE: set[str] = set()
# How the calls since the last ``used(reset=True)`` computed the multiply-add: name -> calls.
_USED: dict[str, int] = {}


def used(reset: bool = False) -> dict[str, int]:
    """The implementations the calls of :func:`fused_multiply_add` took, with their number of calls:
    "pallas", "triton" (their "-interpret" forms), or "keras.ops" where it returned None (the layer's
    own path). Under ``jax.jit`` a call happens once per trace, not per step. ``reset`` empties it."""
    seen = dict(_USED)
    if reset:
        _USED.clear()
    return seen


def _record(name: str, result):
    name = name if result is not None else "keras.ops"
    _USED[name] = _USED.get(name, 0) + 1
    return result


def setting() -> str:
    """``INVOLUTION_COURSE_FUSED``: "0" (never), "interpret" (the interpreters, any device), or
    anything else, unset included (the kernels where they apply: a GPU)."""
    value = os.environ.get("INVOLUTION_COURSE_FUSED", "").strip().lower()
    return value if value in ("0", "interpret") else "auto"


def fused_multiply_add(x, planes, *, kernel_size: int, stride: int, groups: int):
    """The multiply-add of ``x`` with ``planes`` by a fused kernel, or ``None`` where none applies.

    JAX on a GPU (``jax.default_backend() == "gpu"``): :mod:`.pallas_kernels`; PyTorch with ``x``
    on a CUDA device: :mod:`.triton_kernels`. ``None`` on every other backend and device, with
    ``INVOLUTION_COURSE_FUSED=0``, where the kernel's module cannot be imported (Pallas or Triton
    missing), and where the kernel declines the input (its checks raise ``ValueError``: e.g. more
    than 2**30 elements); the caller then computes the multiply-add with ``keras.ops``.

    ``INVOLUTION_COURSE_FUSED=interpret`` runs the backend's kernel through its interpreter, on the
    CPU too: Pallas with ``interpret=True``; Triton only where ``TRITON_INTERPRET=1`` was set before
    ``triton`` was first imported (this function sets it when triton is not imported yet).
    """
    mode = setting()
    if mode == "0":
        return _record("keras.ops", None)
    import keras

    backend = keras.backend.backend()
    interpret = mode == "interpret"
    arguments = dict(kernel_size=kernel_size, stride=stride, groups=groups)
    if backend == "jax":
        if not interpret and not _jax_on_gpu():
            return _record("keras.ops", None)
        kernels = _kernels("pallas_kernels")
        if kernels is None:
            return _record("keras.ops", None)
        result = _declined_as_none(kernels.multiply_add, x, planes, interpret=interpret, **arguments)
        return _record("pallas-interpret" if interpret else "pallas", result)
    if backend == "torch":
        if not interpret and not getattr(x, "is_cuda", False):
            return _record("keras.ops", None)
        if interpret:
            _triton_interpreter()
        kernels = _kernels("triton_kernels")
        if kernels is None:
            return _record("keras.ops", None)
        result = _declined_as_none(kernels.multiply_add, x, planes, **arguments)
        return _record("triton-interpret" if interpret else "triton", result)
    return _record("keras.ops", None)


def _jax_on_gpu() -> bool:
    import jax

    return jax.default_backend() == "gpu"


def _triton_interpreter() -> None:
    """Triton reads TRITON_INTERPRET once, when imported: set it first, or say why it is too late."""
    import sys

    if os.environ.get("TRITON_INTERPRET") == "1":
        return
    if "triton" in sys.modules:
        raise RuntimeError(
            "INVOLUTION_COURSE_FUSED=interpret needs TRITON_INTERPRET=1 before triton is first imported; "
            "set both in the environment before starting Python."
        )
    os.environ["TRITON_INTERPRET"] = "1"


def _kernels(name: str):
    """This package's kernel module ``name``, or None where it cannot be imported."""
    if name in _UNAVAILABLE:
        return None
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ImportError:
        _UNAVAILABLE.add(name)
        return None


def _declined_as_none(kernel, x, planes, **arguments):
    try:
        return kernel(x, planes, **arguments)
    except ValueError:
        return None
