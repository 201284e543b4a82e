"""nbgrader's autograde step, judged outside the kernel.

:class:`JudgedExecute` takes the place of nbgrader's ``Execute``: where the assignment has a
``checks.py``, it prepares the notebook (:meth:`.plan.Plan.prepare`), runs it in the student's
kernel as nbgrader does, then judges the observations in this process (:meth:`.plan.Plan.judge`).
:class:`JudgedSaveAutoGrades` takes the place of ``SaveAutoGrades``: a judged test cell scores its
points when its verdict passed and 0 otherwise, whatever the kernel printed. An assignment without
``checks.py`` is graded as nbgrader grades it.
"""

from __future__ import annotations

from pathlib import Path

from nbgrader.preprocessors import Execute, SaveAutoGrades
from traitlets import Integer, Unicode

from . import checks_path, load_checks
from .plan import VERDICT_KEY, Plan


class JudgedExecute(Execute):
    seed = Integer(None, allow_none=True, help="the seed of the grader's inputs (default: drawn afresh)").tag(config=True)
    token = Unicode("", help="the tag every observation must carry (default: drawn afresh)").tag(config=True)

    def preprocess(self, nb, resources, *args, **kwargs):
        for cell in nb.cells:  # a verdict is the grader's to write, never the submission's
            cell.get("metadata", {}).pop(VERDICT_KEY, None)
        plan = self._plan(resources)
        if plan is None:
            return super().preprocess(nb, resources, *args, **kwargs)
        plan.prepare(nb)
        nb, resources = super().preprocess(nb, resources, *args, **kwargs)
        plan.judge(nb)
        return nb, resources

    def _plan(self, resources) -> Plan | None:
        assignment = resources.get("nbgrader", {}).get("assignment")
        if not assignment:
            return None
        settings = self.config.get("CourseDirectory", {})
        root, source = settings.get("root") or ".", settings.get("source_directory") or "source"
        path = checks_path(Path(str(root)), assignment, str(source))
        if not path.exists():
            return None
        return Plan(load_checks(path, assignment), seed=self.seed, token=self.token or None)


class JudgedSaveAutoGrades(SaveAutoGrades):
    def _add_score(self, cell, resources) -> None:
        verdict = cell.metadata.get(VERDICT_KEY)
        if not isinstance(verdict, dict):
            return super()._add_score(cell, resources)
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"], self.notebook_id,
                                          self.assignment_id, self.student_id)
        grade.auto_score = float(cell.metadata["nbgrader"]["points"]) if verdict.get("status") == "passed" else 0.0
        grade.needs_manual_grade = grade.manual_score is not None
        self.gradebook.db.commit()
