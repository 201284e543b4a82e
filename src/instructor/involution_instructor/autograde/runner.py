"""Every submission of a class through nbgrader, in parallel, into one gradebook.

The runner reads and recognises each file, hands one job per notebook to any
``concurrent.futures.Executor`` (threads by default; a dask cluster's
``client.get_executor()`` for a class too large for one machine), and records
each result in the course gradebook as it arrives, from this process only.
"""

from __future__ import annotations

import secrets
import shutil
import time
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from pathlib import Path

from ..paths import build_directory, project_root
from involution_course.progress import progress_bar
from . import gradebook
from .catalogue import Catalogue
from .discovery import Submission, file_digest, find_submissions
from .reading import UnreadableSubmission, read_notebook
from .report import FAILED, SKIPPED, Report, SubmissionResult
from .sandbox import Sandbox, caps_warning, resolve
from .templates import CONFIG, build_templates
from .worker import GradingJob, grade_job

DEFAULT_CELL_TIMEOUT = 120  # seconds per cell: a grading-profile cell needs far less
DEFAULT_NOTEBOOK_TIMEOUT = 1200  # seconds per notebook, kernel start and every cell included


def default_course_directory() -> Path:
    """Where grading happens unless told otherwise: ``build/grading`` of the project."""
    return build_directory() / "grading"


def autograde_submissions(
    submissions: Path,
    course: Path | None = None,
    source_root: Path | None = None,
    assignments=None,
    executor: Executor | None = None,
    workers: int = 1,
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT,
    show_progress: bool = True,
    sandbox: Sandbox | None = Sandbox(),
    seed: int | None = None,
) -> Report:
    """Grade every notebook under ``submissions`` into the nbgrader course ``course``.

    ``executor`` runs the grading jobs (any ``concurrent.futures.Executor``); without
    one, ``workers`` threads do. Results go to ``course``'s gradebook and
    ``autograded/``; the report is returned and written to ``course``.

    Each student kernel runs in ``sandbox`` (see :mod:`.sandbox`); where it cannot run,
    :class:`~.sandbox.SandboxUnavailable` says why. Only ``sandbox=None`` grades without
    it, the students' code then running as this user.

    The grader's inputs of every check are drawn from ``seed`` (default: a fresh one, recorded in the
    report), so that no notebook can carry answers computed beforehand.
    """
    seed = secrets.randbits(63) if seed is None else int(seed)
    if workers < 1:
        raise ValueError(f"workers must be 1 or more, not {workers}")
    warnings = []
    if sandbox is not None:
        settings = resolve(sandbox)  # before anything is graded: where it cannot run, say why
        warnings = [caps_warning(settings)] if caps_warning(settings) else []  # limits per process only
    started = time.perf_counter()
    source_root = Path(source_root) if source_root else project_root()
    course = Path(course) if course else default_course_directory()
    catalogue = Catalogue.from_source(source_root, assignments)
    found = find_submissions(Path(submissions))
    planned, results = plan(found, catalogue)

    course.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source_root / CONFIG, course / CONFIG)
    needed = sorted({assignment for _, assignment, _ in planned})
    templates = build_templates([catalogue[name] for name in needed], course / ".templates",
                                source_root / CONFIG) if needed else {}
    gradebook.backup(course)  # before anything is merged: the last few runs can be undone
    if templates:
        gradebook.ensure_assignments(course, templates)
    jobs = [
        GradingJob(student=sub.student, label=sub.label, submission=sub.path.read_bytes(),
                   template=templates[assignment], cell_timeout=cell_timeout,
                   notebook_timeout=notebook_timeout, notes=notes, sandbox=sandbox, seed=seed)
        for sub, assignment, notes in planned
    ]
    prepared = time.perf_counter()

    graded = _run(jobs, executor, workers, course, templates, show_progress)
    for result in results:  # failed before grading: the student still appears in the gradebook
        gradebook.record(course, result, "")
    report = Report(
        results=results + graded,
        workers=getattr(executor, "_max_workers", None) or workers,
        prepare_seconds=prepared - started,
        grading_seconds=time.perf_counter() - prepared,
        changed_files=[s.label for s in found if not s.path.exists() or file_digest(s.path) != s.digest],
        sandboxed=sandbox is not None,
        warnings=warnings,
        seed=seed,
    )
    report.write(course)
    return report


def plan(found: list[Submission], catalogue: Catalogue):
    """Which assignment each file is: ``(submission, assignment, notes)`` to grade, and the
    results of files that cannot be graded (unreadable, nobody's, duplicates)."""
    results: list[SubmissionResult] = []
    candidates: dict[tuple[str, str], list] = {}
    for sub in found:
        named = sub.folder_assignment if sub.folder_assignment in catalogue else catalogue.named_in(sub.path.name)
        if sub.student is None:
            results.append(SubmissionResult(None, named, sub.label, FAILED,
                                            "cannot tell whose notebook this is: put it in a folder named after the "
                                            "student or name it <student>_<assignment>.ipynb"))
            continue
        try:
            content = catalogue.recognise(read_notebook(sub.path.read_bytes()))
        except UnreadableSubmission as error:
            results.append(SubmissionResult(sub.student, named, sub.label, FAILED, str(error)))
            continue
        notes = []
        if content is None and named is None:
            results.append(SubmissionResult(sub.student, None, sub.label, FAILED,
                                            "not a notebook of this course: none of its cells belong to "
                                            f"{', '.join(catalogue.names)}"))
            continue
        if content is None:
            notes.append(f"none of {named}'s cells were found (metadata removed?): graded as {named} by its name")
        elif sub.folder_assignment and sub.folder_assignment != content:
            notes.append(f"submitted as {sub.folder_assignment}, but it is the notebook of {content}: graded as {content}")
        assignment = content or named
        candidates.setdefault((sub.student, assignment), []).append((sub, notes))

    planned = []
    for (student, assignment), options in candidates.items():
        # Prefer the file filed under its own assignment, then the newest.
        options.sort(key=lambda option: (option[0].folder_assignment in (None, assignment),
                                         option[0].path.stat().st_mtime), reverse=True)
        (chosen, notes), others = options[0], options[1:]
        planned.append((chosen, assignment, notes))
        for sub, _ in others:
            results.append(SubmissionResult(student, assignment, sub.label, SKIPPED,
                                            f"another notebook of {assignment} by {student} was graded: {chosen.label}"))
    return planned, results


def _run(jobs, executor, workers, course, templates, show_progress) -> list[SubmissionResult]:
    if not jobs:
        return []
    own = executor is None
    executor = executor or ThreadPoolExecutor(max_workers=max(1, workers))
    remaining: dict[str, int] = {}
    for job in jobs:
        remaining[job.student] = remaining.get(job.student, 0) + 1
    results = []
    bar = progress_bar(total=len(remaining), desc="autograding", unit="student", disable=not show_progress or None)
    try:
        futures = {executor.submit(grade_job, job): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                result = future.result()
            except Exception as error:  # the machinery failed, not the student: say so, go on
                result = SubmissionResult(job.student, job.assignment, job.label, FAILED,
                                          f"the grading worker failed: {type(error).__name__}: {error}",
                                          notes=list(job.notes))
            gradebook.record(course, result, templates[job.assignment].notebook_name)
            result.autograded = None  # on disk now; keep the report small
            results.append(result)
            remaining[job.student] -= 1
            if remaining[job.student] == 0:
                bar.update(1)
                bar.set_postfix_str(job.student)
    finally:
        bar.close()
        if own:
            executor.shutdown()
    return results
