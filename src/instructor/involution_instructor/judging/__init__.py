"""Grades decided outside the student's kernel: the kernel reports, the grader judges.

Every autograded test cell of an assignment has a :class:`Check`, defined in the assignment's
``solutions/<assignment>/checks.py`` (instructor-side: never released, never sent to a kernel
as a whole). A check has three parts:

* ``inputs(rng)``: the grader's inputs, drawn afresh for every graded run from a recorded seed;
* ``observe(student, data)``: a function marked :func:`kernel`, whose source travels to the
  student's kernel in an observation cell of its own, run right after the test cell. It calls the
  student's objects on ``data`` and returns plain data; it holds no expected value and no rule;
* ``judge(ctx)``: grader-side, on the observation that came back (``ctx.seen``), the inputs
  (``ctx.data``), expected values worked out here (``ctx.expected``, from ``expect(data)``) and the
  student's submitted source (``ctx.source``) for rules about *how* the code works. It raises
  ``AssertionError`` with a sentence for the student when the answer is wrong.

The visible tests of a test cell still run in the notebook, for the student; they decide nothing.
:mod:`.execute` runs all of this inside ``nbgrader autograde``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

CHECKS_FILE = "checks.py"


def kernel(function: Callable) -> Callable:
    """Mark ``function`` as kernel-side: its source is sent to the student's kernel with every
    observation of its module. It must be self-contained (imports inside) and may call other
    kernel-side functions of the module and the runtime's ``outcome``, ``as_data`` and ``np``."""
    function.__kernel_side__ = True
    return function


@dataclass(frozen=True)
class Check:
    """How one autograded test cell (``grade_id``) is observed and judged; see the module."""

    grade_id: str
    observe: Callable
    judge: Callable
    inputs: Callable | None = None
    expect: Callable | None = None
    rules: tuple[str, ...] = ()  # the rules it judges, one sentence each (listed for instructors)

    def __post_init__(self):
        if not getattr(self.observe, "__kernel_side__", False):
            raise TypeError(f"{self.grade_id}: observe={self.observe.__name__} must be marked @kernel")


@dataclass
class Checks:
    """The checks of one assignment and the kernel-side source that their observations need."""

    assignment: str
    by_grade_id: dict[str, Check]
    kernel_source: str
    digest: str = field(default="")

    def __contains__(self, grade_id: str) -> bool:
        return grade_id in self.by_grade_id

    def __getitem__(self, grade_id: str) -> Check:
        return self.by_grade_id[grade_id]


def checks_path(course: Path, assignment: str, source_directory: str = "solutions") -> Path:
    return Path(course) / source_directory / assignment / CHECKS_FILE


_LOADED: dict[tuple[str, str], Checks] = {}


def load_checks(path: Path, assignment: str) -> Checks:
    """The checks defined by ``path`` (a module with ``CHECKS``, a list of :class:`Check`)."""
    path = Path(path)
    text = path.read_bytes()
    digest = hashlib.sha256(text).hexdigest()
    key = (str(path.resolve()), digest)
    if key in _LOADED:
        return _LOADED[key]
    name = f"_involution_checks_{digest[:16]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and inspect need the module registered
    spec.loader.exec_module(module)
    found = getattr(module, "CHECKS", None)
    if not isinstance(found, (list, tuple)) or not all(isinstance(c, Check) for c in found):
        raise ValueError(f"{path} must define CHECKS, a list of involution_instructor.judging.Check")
    by_id: dict[str, Check] = {}
    for check in found:
        if check.grade_id in by_id:
            raise ValueError(f"{path}: two checks for {check.grade_id}")
        by_id[check.grade_id] = check
    sources = [inspect.getsource(value) for value in vars(module).values()
               if inspect.isfunction(value) and getattr(value, "__kernel_side__", False)
               and value.__module__ == name]
    checks = Checks(assignment, by_id, "\n\n".join(_undecorated(s) for s in sources), digest)
    _LOADED[key] = checks
    return checks


def _undecorated(source: str) -> str:
    """A kernel-side function's source without its ``@kernel`` line (the kernel has no such name)."""
    lines = source.splitlines()
    return "\n".join(line for line in lines if line.strip() != "@kernel")
