"""Involution's multiply-add timed live on this machine's CUDA GPU (notebook 06), with PyTorch.

Where PyTorch sees a CUDA GPU (a Colab GPU runtime), :func:`measure` times forward + sum loss +
gradients of the multiply-add three ways, channels last as the course's layer has it: the patch
tensor (``unfold``), shifted slices run eagerly, and the course's fused Triton kernel
(:mod:`involution_course.fused.triton_kernels`) where Triton is installed. It also measures the
GPU's memory bandwidth with a large copy, and adds the floor of a whole step (forward and
backward bytes at that bandwidth), so that a step is set against a step's floor. The result has
the form of the recorded timings (:mod:`involution_course.speed`), so the same table and
sentences describe it. Elsewhere :func:`cuda_device` is ``None`` and nothing here runs.

On any computer, :func:`median_ms` times a function on the CPU and :func:`cpu_caches` reads the
sizes of the processor's caches, for section 1's measurement.
"""

from __future__ import annotations

import datetime
import statistics
import time
from pathlib import Path

from .colab import runtime_has_gpu
from .speed import Case, Timings, timings_from


def cuda_device() -> str | None:
    """The name of the CUDA GPU that PyTorch sees, or ``None`` (no NVIDIA GPU, no PyTorch, or
    a PyTorch without CUDA)."""
    if not runtime_has_gpu():
        return None  # without a GPU, not even PyTorch's import (seconds) is needed
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def median_ms(function, *args, repeats: int = 3) -> float:
    """Median milliseconds of ``repeats`` calls of ``function(*args)`` after one call to warm up."""
    function(*args)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        function(*args)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def cpu_caches(folder: str = "/sys/devices/system/cpu/cpu0/cache") -> dict[str, int]:
    """The data caches of this CPU's first core, in bytes (``{"L1": ..., "L2": ..., "L3": ...}``),
    as Linux reports them; empty where it does not (another system, or a container that hides them)."""
    found = {}
    for index in sorted(Path(folder).glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        units = {"K": 2**10, "M": 2**20, "G": 2**30}
        if kind == "Instruction" or not size:
            continue
        try:
            found[f"L{level}"] = int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)
        except ValueError:
            continue
    return dict(sorted(found.items()))


def step_floor_bytes(case: Case, itemsize: int = 4) -> tuple[int, int]:
    """(forward, backward) bytes a fused kernel must move: forward reads X and H and writes Y;
    backward reads X, H and dY and writes dX and dH (stride 1)."""
    n_x = case.batch * case.height * case.width * case.channels
    n_kernel = case.batch * case.height * case.width * case.groups * case.kernel_size**2
    return (2 * n_x + n_kernel) * itemsize, (3 * n_x + 2 * n_kernel) * itemsize


def unfold_multiply_add(x, planes, kernel_size: int, groups: int):
    """Stride 1, channels last: build the K*K-times-larger patch tensor, weigh it, sum the taps."""
    import torch.nn.functional as F

    batch, height, width, channels = x.shape
    taps = kernel_size * kernel_size
    patches = F.unfold(x.permute(0, 3, 1, 2), kernel_size, padding=(kernel_size - 1) // 2)
    patches = patches.view(batch, groups, channels // groups, taps, height, width)
    weights = planes.permute(0, 3, 1, 2).reshape(batch, groups, 1, taps, height, width)
    return (patches * weights).sum(dim=3).reshape(batch, channels, height, width).permute(0, 2, 3, 1)


def slices_multiply_add(x, planes, kernel_size: int, groups: int):
    """Stride 1, channels last: one shifted window of the padded input per tap, eagerly."""
    import torch.nn.functional as F

    batch, height, width, channels = x.shape
    half = (kernel_size - 1) // 2
    padded = F.pad(x, (0, 0, half, half, half, half)).unflatten(3, (groups, channels // groups))
    weights = planes.unflatten(3, (groups, kernel_size * kernel_size)).unsqueeze(-1)
    total = 0
    for tap in range(kernel_size * kernel_size):
        row, col = divmod(tap, kernel_size)
        total = total + padded[:, row:row + height, col:col + width] * weights[..., tap, :]
    return total.flatten(3)


def _fused():
    """The course's fused Triton multiply-add, or the sentence that says why there is none."""
    try:
        from .fused import triton_kernels
    except Exception as error:  # no Triton, or one that does not fit this GPU
        return None, f"the course's fused Triton kernel is not available here ({type(error).__name__}: {error})"

    def fused(x, planes, kernel_size, groups):
        return triton_kernels.multiply_add(x, planes, kernel_size=kernel_size, stride=1, groups=groups)

    return fused, None


def step_ms(function, x, planes, kernel_size, groups, *, steps: int, warmup: int = 3, backward: bool = True) -> float:
    """Median milliseconds of forward, sum loss and backward (gradients of x and planes), or of the
    forward alone when ``backward`` is false."""
    import torch

    def step():
        if not backward:
            with torch.no_grad():
                function(x, planes, kernel_size, groups)
            return
        x.grad = planes.grad = None
        function(x, planes, kernel_size, groups).sum().backward()

    def synchronise():
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        synchronise()
        start = time.perf_counter()
        step()
        synchronise()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def copy_bandwidth(device: str = "cuda", megabytes: int = 1024, steps: int = 10) -> float:
    """Bytes per second of a large device-to-device copy (it reads and writes every byte once)."""
    import torch

    source = torch.empty(megabytes * 2**20 // 4, dtype=torch.float32, device=device)
    target = torch.empty_like(source)
    times = []
    for _ in range(steps + 2):
        if source.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        target.copy_(source)
        if source.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 2 * source.numel() * 4 / statistics.median(times[2:])


def measure(cases, *, steps: int = 20, device: str = "cuda", bandwidth_megabytes: int = 1024) -> tuple[Timings, list[str]]:
    """Time every case (names such as ``"B32 C64 56x56 K7 G4"``; stride 1) on ``device``.

    Returns the timings, in the form of the recorded ones, and notes on what could not run.
    """
    import torch

    methods = {"unfold": unfold_multiply_add, "slices-eager": slices_multiply_add}
    notes = []
    fused, why_not = _fused() if device == "cuda" else (None, "the fused kernel needs a CUDA GPU")
    if fused is None:
        notes.append(why_not)
    else:
        methods = {"fused-triton": fused, **methods}
    rows = []
    generator = torch.Generator(device=device).manual_seed(0)
    for name in cases:
        case = Case.parse(name)
        size = (case.batch, case.height, case.width)
        x = torch.randn(*size, case.channels, device=device, generator=generator, requires_grad=True)
        planes = torch.randn(*size, case.groups * case.kernel_size**2, device=device, generator=generator,
                             requires_grad=True)
        for method, function in methods.items():
            try:
                forward = step_ms(function, x, planes, case.kernel_size, case.groups, steps=steps, backward=False)
                ms = step_ms(function, x, planes, case.kernel_size, case.groups, steps=steps)
            except Exception as error:  # out of memory on a small GPU, a kernel that fails to compile
                notes.append(f"{method} on {name} did not run ({type(error).__name__}: {str(error)[:200]})")
                if device == "cuda":
                    torch.cuda.empty_cache()
                continue
            rows.append({"case": name, "dtype": "float32", "framework": "torch", "method": method,
                         "fwd_ms": forward, "bwd_ms": None, "fwd_bwd_ms": ms})
        del x, planes
    bandwidth = copy_bandwidth(device, bandwidth_megabytes)
    for name in cases:  # a step against a step's floor, a forward against a forward's
        forward_bytes, backward_bytes = step_floor_bytes(Case.parse(name))
        rows.append({"case": name, "dtype": "float32", "framework": "torch", "method": "floor",
                     "fwd_ms": forward_bytes / bandwidth * 1e3, "bwd_ms": backward_bytes / bandwidth * 1e3,
                     "fwd_bwd_ms": (forward_bytes + backward_bytes) / bandwidth * 1e3})
    provenance = {
        "source": "measured live in this notebook",
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else device,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": f"involution_course.live_speed.measure(cases, steps={steps})",
        "layout": "NHWC",
        "memory_bandwidth_tb_s": bandwidth / 1e12,
        "memory_bandwidth_source": "a device-to-device copy timed in this run",
        "timing": f"median of {steps} calls, each timed with time.perf_counter between two torch.cuda.synchronize",
        "torch": torch.__version__,
    }
    return timings_from({"provenance": provenance, "rows": rows}, "the live timings"), notes
