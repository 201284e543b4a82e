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


@pytest.fixture(scope="session")
def graded_runs(tmp_path_factory):
    """``graded_runs(assignment)``: that notebook's one nbgrader run with every crafted student."""
    from graded_runs import graded_run

    def run(assignment: str):
        return graded_run(assignment, str(tmp_path_factory.getbasetemp() / f"graded-{assignment}"))

    return run
