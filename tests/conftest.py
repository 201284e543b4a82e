"""Shared fixtures: the project root, the shared CIFAR-10 copy, an isolated cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_ARCHIVE = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


def shared_data_path() -> Path | None:
    configured = os.environ.get("INVOLUTION_COURSE_DATA")
    if configured and Path(configured).exists():
        return Path(configured)
    return SHARED_ARCHIVE if SHARED_ARCHIVE.exists() else None


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_path()
    if path is None:
        pytest.skip("no local CIFAR-10 copy: set INVOLUTION_COURSE_DATA (CI always does)")
    return path


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """A cache folder of the test's own, so cache hits and misses are the test's doing."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("INVOLUTION_COURSE_CACHE", str(cache))
    return cache


def _graded_base(tmp_path_factory, assignment: str) -> str:
    return str(tmp_path_factory.getbasetemp() / f"graded-{assignment}")


@pytest.fixture(scope="session")
def graded_runs(tmp_path_factory):
    """``graded_runs(assignment)``: that notebook's one nbgrader run with every crafted student."""
    from graded_runs import graded_run

    def run(assignment: str):
        return graded_run(assignment, _graded_base(tmp_path_factory, assignment))

    return run


def _assignments_graded_by(items) -> list[str]:
    """The notebooks whose graded runs the selected tests use, in the order they first need them:
    a test's ``assignment`` parameter, its module's ``ASSIGNMENT``, or a notebook named in its id."""
    from involution_instructor.paths import ASSIGNMENTS

    needed: list[str] = []
    for item in items:
        if "graded_runs" not in getattr(item, "fixturenames", ()):
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        found = [params.get("assignment"), getattr(item.module, "ASSIGNMENT", None)]
        found += [name for name in ASSIGNMENTS if name in item.nodeid]
        for name in found:
            if name in ASSIGNMENTS and name not in needed:
                needed.append(name)
    return needed


@pytest.fixture(scope="session", autouse=True)
def _grade_in_background(request, tmp_path_factory):
    """Grade the notebooks that the selected tests need while the other tests run (see
    tests/graded_runs.py); runs not started when the session ends are cancelled."""
    import graded_runs

    needed = _assignments_graded_by(request.session.items)
    if needed and shared_data_path() is not None:
        graded_runs.prefetch(needed, lambda assignment: _graded_base(tmp_path_factory, assignment))
    yield
    graded_runs.stop_prefetching()
