"""nbgrader settings for the course: solutions/ is the source, notebooks/ the release."""

import os

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
