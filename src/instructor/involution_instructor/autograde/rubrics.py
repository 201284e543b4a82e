"""Each written answer's rubric beside it in formgrader's grading page.

Formgrader shows the graded notebook, which holds the student's answer only; the rubric is
in the assignment's source notebook (``solutions/`` of the grading course, which
``autograde`` writes). ``autograde`` also writes :data:`CONFIG_NAME` into the grading
course: started with it (``jupyter server --config=formgrader_config.py``), formgrader
renders every page through :class:`ShowRubrics`, which puts the rubric under each answer
graded by hand. Only the page shows it: the graded notebook, and the feedback made from it,
stay as they were.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor

CONFIG_NAME = "formgrader_config.py"
CONFIG = (
    "# Formgrader for this grading course, with each written answer's rubric beside it:\n"
    "#   jupyter server --config=formgrader_config.py --ServerApp.default_url=/formgrader\n"
    "c = get_config()  # noqa: F821\n"
    "c.HTMLExporter.preprocessors = ['involution_instructor.autograde.rubrics.ShowRubrics']\n"
)
SOLUTION = re.compile(r"### BEGIN SOLUTION\s*\n(.*?)\n\s*### END SOLUTION", re.S)


def write_config(course: Path) -> Path:
    target = Path(course) / CONFIG_NAME
    target.write_text(CONFIG, encoding="utf-8")
    return target


def rubrics(source_notebook: Path) -> dict[str, str]:
    """grade_id -> rubric text of each answer graded by hand in a source notebook."""
    found = {}
    for cell in nbformat.read(source_notebook, as_version=4).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and meta.get("solution") and meta.get("grade_id"):
            match = SOLUTION.search(cell.source)
            found[meta["grade_id"]] = (match.group(1) if match else cell.source).strip()
    return found


class ShowRubrics(Preprocessor):
    """A markdown cell with the rubric after each answer graded by hand (the page's copy only)."""

    def preprocess(self, nb, resources):
        folder = resources.get("metadata", {}).get("path")  # <course>/autograded/<student>/<assignment>
        assignment, notebook = resources.get("assignment_id"), resources.get("notebook_id")
        if not (folder and assignment and notebook):
            return nb, resources
        source = Path(folder).resolve().parents[2] / "solutions" / assignment / f"{notebook}.ipynb"
        if not source.exists():
            return nb, resources
        found = rubrics(source)
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id in found and cell.metadata["nbgrader"].get("solution"):
                quoted = "\n".join(f"> {line}" for line in found[grade_id].splitlines())
                cells.append(nbformat.v4.new_markdown_cell(f"**Rubric** ({grade_id}):\n\n{quoted}",
                                                           metadata={"rubric": True}))
        nb.cells = cells
        return nb, resources
