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


# ------------------------------------------------------------------ graded runs, in the background
#
# The graded runs (tests/graded_runs.py) keep both cores busy for minutes, while most other tests
# wait on one subprocess at a time. So the runs that the selected tests need start in a background
# thread as the session starts, the tests that read them go last, and the rest of the suite runs
# meanwhile. Tests marked ``alone`` (they look at the whole host: cgroups, mounts) wait for the
# runs to end, and go last too. INVOLUTION_COURSE_TEST_BACKGROUND=0 grades in the foreground.

_GRADED = pytest.StashKey()  # the assignments whose graded runs the selected tests read


def _assignments_of(item) -> set[str]:
    from involution_instructor.grading import ASSIGNMENTS

    named = {a for a in ASSIGNMENTS if a in item.nodeid}
    if not named:  # a module about one notebook: test_delegation_03.py
        module = Path(str(item.fspath)).stem
        named = {a for a in ASSIGNMENTS if f"_{a[:2]}" in module}
    return named or set(ASSIGNMENTS)


def _reads_graded_runs(item) -> bool:
    return "graded_runs" in getattr(item, "fixturenames", ())


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    graded = [item for item in items if _reads_graded_runs(item)]
    alone = [item for item in items if item.get_closest_marker("alone") and not _reads_graded_runs(item)]
    late = {id(item) for item in graded + alone}
    items[:] = [item for item in items if id(item) not in late] + graded + alone


def pytest_collection_finish(session):
    graded = [item for item in session.items if _reads_graded_runs(item)]
    session.config.stash[_GRADED] = set().union(*map(_assignments_of, graded)) if graded else set()


@pytest.fixture(scope="session")
def _graded_in_background(request, tmp_path_factory):
    """{assignment: future of its graded run}, started as the session starts (none in the foreground mode)."""
    from concurrent.futures import ThreadPoolExecutor

    from graded_runs import graded_run

    wanted = request.config.stash.get(_GRADED, set())
    if not wanted or os.environ.get("INVOLUTION_COURSE_TEST_BACKGROUND") == "0":
        yield {}
        return
    environ = tuple(sorted(os.environ.items()))  # the session's, whatever a test sets later
    base = tmp_path_factory.getbasetemp()
    longest = ("04", "03", "05", "02", "01", "06")  # notebooks by the time their graded run takes
    longest_first = sorted(wanted, key=lambda a: longest.index(a[:2]) if a[:2] in longest else len(longest))
    pool = ThreadPoolExecutor(1, thread_name_prefix="graded-runs")
    futures = {a: pool.submit(graded_run, a, str(base / f"graded-{a}"), environ) for a in longest_first}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(autouse=True)
def _alone(request, _graded_in_background):
    """Starts the background runs at the session's first test; a test marked ``alone`` starts once
    they have ended."""
    if request.node.get_closest_marker("alone"):
        for future in _graded_in_background.values():
            future.exception()  # waits; a failed run fails the tests that read it, not this one


@pytest.fixture(scope="session")
def graded_runs(tmp_path_factory, _graded_in_background):
    """``graded_runs(assignment)``: that notebook's one nbgrader run with every crafted student."""
    from graded_runs import graded_run

    def run(assignment: str):
        if assignment in _graded_in_background:
            return _graded_in_background[assignment].result()
        return graded_run(assignment, str(tmp_path_factory.getbasetemp() / f"graded-{assignment}"))

    return run
