"""Autograding whole classes with nbgrader: find submissions, grade them in parallel, report.

Modules, one job each:

* ``catalogue``  - the course's assignments and how to recognise their notebooks;
* ``discovery``  - submissions in a folder: nbgrader's layout or files from a learning platform;
* ``reading``    - a submitted file to a notebook, or a sentence saying why it is not one;
* ``structure``  - deleted, reordered and edited cells put back as the assignment has them;
* ``tampering``  - answers that redefine what the tests rely on;
* ``templates``  - a clean nbgrader course per assignment, copied into every worker;
* ``worker``     - one notebook graded in its own scratch course (its own gradebook);
* ``sandbox``    - the bubblewrap sandbox each student kernel runs in (``sandbox_launch`` starts it);
* ``crashes``    - finding the cell that killed the kernel;
* ``outputs``    - what a graded notebook says about timeouts, errors and huge outputs;
* ``gradebook``  - results merged into the course gradebook, one writer at a time, hand grades kept;
* ``runner``     - every submission through any ``concurrent.futures.Executor``;
* ``report``     - the per-submission lines and the summary;
* ``feedback``   - feedback HTML without the hidden tests;
* ``grades``     - the grades CSV for a learning platform;
* ``rubrics``    - each written answer's rubric beside it in formgrader;
* ``bench``      - seconds per student for N copies of one submission.
"""

from .bench import GradingTimings, grade_copies
from .feedback import generate_feedback
from .grades import grade_rows, write_grades_csv
from .report import Report, SubmissionResult
from .runner import autograde_submissions, default_course_directory
from .sandbox import Sandbox, SandboxLimits, SandboxUnavailable

__all__ = [
    "GradingTimings",
    "Report",
    "Sandbox",
    "SandboxLimits",
    "SandboxUnavailable",
    "SubmissionResult",
    "autograde_submissions",
    "default_course_directory",
    "generate_feedback",
    "grade_copies",
    "grade_rows",
    "write_grades_csv",
]
