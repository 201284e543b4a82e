"""nbgrader settings for the course: solutions/ is the source, notebooks/ the release."""

import atexit
import os
import shutil
import tempfile

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
# The paired .py files in solutions/ hold solutions and hidden tests: never copy them
# into a release. Student .py pairs are made from the released notebooks instead.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Notebooks train small models; the grading profile keeps each under a minute.
c.ExecutePreprocessor.timeout = 300
c.Execute.timeout = 300
# A graded notebook has finished when its kernel stops: killing it at once saves the second or two
# (of CPU, too) that TensorFlow takes to tear down, for every student.
c.Execute.shutdown_kernel = "immediate"

# Kernels talk over Unix sockets in a folder of this process's own. Over TCP, two graders side
# by side can pick the same free port, and a kernel then dies at its start. Settings appended
# below these (the grading sandbox's, for one) take their place.
_sockets = tempfile.mkdtemp(prefix="nbgrader-kernels-")
atexit.register(shutil.rmtree, _sockets, True)
c.KernelManager.transport = "ipc"
c.KernelManager.ip = os.path.join(_sockets, "kernel")

# Grades are judged outside the student's kernel: where an assignment has solutions/<a>/checks.py,
# the kernel only reports observations and the grader's own process judges them
# (involution_instructor.judging).
c.Autograde.autograde_preprocessors = [
    "involution_instructor.judging.execute.JudgedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "involution_instructor.judging.execute.JudgedSaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
