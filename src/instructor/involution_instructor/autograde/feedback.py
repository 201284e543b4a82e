"""Feedback HTML for each graded notebook (``nbgrader generate_feedback``), hidden tests left out.

nbgrader's feedback shows test cells as they ran, hidden tests and all, and a
failing hidden assert's traceback quotes its code. :class:`HideHiddenTests` runs
inside nbgrader's feedback step: it removes the hidden block from each test cell
and shortens each test cell's error to its last line, the assertion's message.
"""

from __future__ import annotations

from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from .. import grading
from .gradebook import AUTOGRADED
from ..judging.plan import VERDICT_ERROR
from .structure import HIDDEN_BLOCK

HIDDEN_NOTE = "# (hidden tests: they ran when your notebook was graded)\n"
FEEDBACK_PREPROCESSORS = (
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "involution_instructor.autograde.feedback.HideHiddenTests",
)


class HideHiddenTests(Preprocessor):
    """Removes hidden tests, and the tracebacks that would quote them, from test cells."""

    enabled = Bool(True, help="nbconvert runs only enabled preprocessors").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = HIDDEN_BLOCK.sub(HIDDEN_NOTE, cell.source)
            for output in cell.get("outputs", []):
                if output.output_type == "error" and output.ename != VERDICT_ERROR:  # the grader's verdict stays whole
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


def generate_feedback(course: Path, assignments=None) -> list[Path]:
    """Write ``feedback/<student>/<assignment>/*.html`` for every graded notebook in ``course``."""
    course = Path(course)
    graded = course / AUTOGRADED
    found = sorted({p.name for p in graded.glob("*/*") if p.is_dir()}) if graded.exists() else []
    chosen = [a for a in (assignments or found) if a in found]
    preprocessors = "[" + ", ".join(f"'{name}'" for name in FEEDBACK_PREPROCESSORS) + "]"
    for assignment in chosen:
        grading.nbgrader(course, "generate_feedback", assignment, "--force", "--log-level=ERROR",
                         f"--GenerateFeedback.preprocessors={preprocessors}")
    return sorted((course / "feedback").glob("*/*/*.html"))
