"""Grading on a dask.distributed cluster through its concurrent.futures executor,
and the timing function the benchmark calls: no grade lost in the shared gradebook."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_autograde_sample import make_sample_course, require_sandbox, squares_notebook, write

from involution_instructor.autograde import GradingTimings, grade_copies
from involution_instructor.autograde.gradebook import open_gradebook

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dask_executor():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client.get_executor()


def test_copies_graded_on_a_dask_cluster_all_reach_the_gradebook(tmp_path, dask_executor):
    require_sandbox()
    source = make_sample_course(tmp_path / "source")
    notebook = write(tmp_path / "squares.ipynb", squares_notebook())
    course = tmp_path / "course"
    timings = grade_copies([notebook], copies=3, workers=2, source_root=source, course=course,
                           executor=dask_executor, cell_timeout=30)
    assert isinstance(timings, GradingTimings)
    assert (timings.students, timings.graded, timings.failed) == (3, 3, 0)
    assert len(timings.job_seconds) == 3 and all(s > 0 for s in timings.job_seconds)
    assert timings.seconds_per_student == pytest.approx(timings.wall_seconds / 3)
    with open_gradebook(course) as gradebook:
        scores = {s.student.id: s.score for s in gradebook.assignment_submissions("squares")}
    assert scores == {"student001": 3, "student002": 3, "student003": 3}
    graded = sorted(p.relative_to(course).as_posix() for p in Path(course, "autograded").glob("*/*/*.ipynb"))
    assert graded == [f"autograded/student00{i}/squares/squares.ipynb" for i in (1, 2, 3)]


def test_workers_must_be_positive(tmp_path):
    source = make_sample_course(tmp_path / "source")
    with pytest.raises(ValueError, match="workers must be 1 or more"):
        grade_copies([write(tmp_path / "squares.ipynb", squares_notebook())], copies=1, workers=0,
                     source_root=source)
