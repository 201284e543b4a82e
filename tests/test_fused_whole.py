"""The whole-involution forward kernel (span convolution and multiply-add in one Triton kernel)
through Triton's CPU interpreter, in a process of its own, as tests/test_fused_triton.py runs the
multiply-add kernels: the cases are tests/interpreter/whole_cases.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_fused_triton import run_through_the_interpreter

CASES = Path(__file__).parent / "interpreter" / "whole_cases.py"


@pytest.mark.slow  # about 10 s: Triton's interpreter in a process of its own
def test_whole_involution_kernel_agrees_with_numpy_through_the_interpreter():
    run_through_the_interpreter(CASES, timeout=300)


def test_the_dispatcher_keeps_the_two_step_form(monkeypatch):
    """The whole kernel is a measured alternative, not dispatched (it has no backward, which
    training needs; README's "Fused GPU kernels"): on torch with a CUDA tensor the dispatcher calls
    the multiply-add kernel and never touches whole_triton."""
    import types

    import keras

    from involution_course import fused

    class Untouchable(types.ModuleType):
        def __getattr__(self, name):
            raise AssertionError(f"the dispatcher used whole_triton.{name}")

    class Kernels(types.ModuleType):
        def multiply_add(self, x, planes, **arguments):
            return "two-step"

    class Cuda:
        is_cuda = True

    monkeypatch.setattr(fused, "_UNAVAILABLE", set())
    monkeypatch.delenv("INVOLUTION_COURSE_FUSED", raising=False)
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    monkeypatch.setitem(sys.modules, "involution_course.fused.triton_kernels", Kernels("triton_kernels"))
    monkeypatch.setitem(sys.modules, "involution_course.fused.whole_triton", Untouchable("whole_triton"))
    assert fused.fused_multiply_add(Cuda(), "planes", kernel_size=7, stride=1, groups=4) == "two-step"
