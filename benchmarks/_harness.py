"""What every benchmark script shares: its command line, timing, peak memory and its JSON lines.

Each script prints one JSON object per line and per case, on stdout, and nothing else there
(progress and diagnostics go to stderr). A measured case reads::

    {"benchmark": "involution_op", "case": "course Involution", "group": "32x32x3 K=3 ...",
     "backend": "tensorflow", "mode": "xla", "device": "cpu", "median": 0.0123, "unit": "s",
     "repeats": 10, "details": {"peak_memory_mb": 41.2}}

``group`` names the rows measured side by side: the first row of a group (within one run of
one script, under one mode) is the reference that ``python -m involution_instructor bench`` divides
the others by. A case that cannot run prints ``{"benchmark": ..., "case": ..., "skipped": "why"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

# glibc keeps freed memory for reuse, which hides every allocation after the first from the
# resident-set size; a fixed, low mmap threshold hands large buffers back to the system on free,
# so the peak resident set of one step measures that step's own working memory.
_ALLOCATOR_SETTINGS = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def use_returning_allocator() -> None:
    """Restart this script once with allocator settings that make peak memory measurable.

    Call it first, before any heavy import; it does nothing when the settings are in place.
    """
    if all(os.environ.get(key) == value for key, value in _ALLOCATOR_SETTINGS.items()):
        return
    os.environ.update(_ALLOCATOR_SETTINGS)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *sys.argv])


def parse_args(description: str, extra=None) -> argparse.Namespace:
    """The common command line: ``--quick`` (tiny sizes, one or two repeats) and ``--repeats``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and 1-2 repeats: checks that the script works, measures nothing")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per case after the warm-up (default: the script's own)")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be at least 1; got {args.repeats}")
    return args


def emit(benchmark: str, case: str, *, group: str, backend: str, mode: str, device: str,
         times: list[float], unit: str = "s", details: dict | None = None) -> dict:
    """Print the JSON line of one measured case: the median of ``times``."""
    row = {
        "benchmark": benchmark,
        "case": case,
        "group": group,
        "backend": backend,
        "mode": mode,
        "device": device,
        "median": statistics.median(times),
        "unit": unit,
        "repeats": len(times),
        "details": {key: value for key, value in (details or {}).items() if value is not None},
    }
    _print(row)
    return row


def skip(benchmark: str, case: str, why: str, **context) -> dict:
    """Print the JSON line of a case that could not run, and why."""
    row = {"benchmark": benchmark, "case": case, **context, "skipped": why}
    _print(row)
    return row


def _print(row: dict) -> None:
    print(json.dumps(row), flush=True)


def note(message: str) -> None:
    """A progress line for the person watching (stderr, so stdout stays JSON)."""
    print(message, file=sys.stderr, flush=True)


def measure(step, *, repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``step()``, after ``warmup`` untimed calls.

    ``step`` must return only when its work is done (block on asynchronous results inside it).
    """
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_memory_mb(step) -> float | None:
    """Peak resident memory that one call of ``step()`` adds above what was resident before it.

    Linux only (``/proc/self/clear_refs`` resets the high-water mark); ``None`` elsewhere. Run it
    after a warm-up, so compilation and one-off caches are not counted.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        return None
    before = _status_kib("VmRSS")
    step()
    peak = _status_kib("VmHWM")
    if before is None or peak is None:
        return None
    return round(max(peak - before, 0) / 1024, 1)
