"""The outcome of an autograding run: a line per submission and a summary."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path

GRADED, FAILED, SKIPPED = "graded", "failed", "skipped"
SANDBOXED, UNCONFINED = "sandboxed", "NOT sandboxed"  # how the student's code ran


@dataclass
class SubmissionResult:
    """One submitted file: graded (with a score), failed or skipped (with the reason)."""

    student: str | None
    assignment: str | None
    label: str
    status: str
    reason: str = ""
    score: float = 0.0
    max_score: float = 0.0
    cells: dict[str, dict] = field(default_factory=dict)  # grade_id -> auto_score, max_score, ...
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    autograded: bytes | None = field(default=None, repr=False)  # the graded notebook
    mode: str = ""  # SANDBOXED or UNCONFINED once the notebook ran; "" when it never ran

    @property
    def flagged(self) -> bool:
        return any(note.startswith("REVIEW") for note in self.notes)

    @property
    def pending(self) -> float:
        """Points of answers graded by hand (nbgrader gives them no automatic score)."""
        return sum(cell["max_score"] for cell in self.cells.values() if cell.get("auto_score") is None)

    def line(self) -> str:
        who = f"{self.student or '?'} / {self.assignment or '?'}"
        if self.status == GRADED:
            text = f"graded   {who}: {self.score:g} of {self.max_score:g}"
            if self.pending:
                text += f", {self.pending:g} of them to grade by hand"
        else:
            text = f"{self.status:<8} {who}: {self.reason}"
        if self.mode:
            text += f" ({self.mode})"
        details = "".join(f"\n           - {note}" for note in self.notes)
        return f"{text}  [{self.label}]{details}"


@dataclass
class Report:
    results: list[SubmissionResult]
    workers: int = 1
    prepare_seconds: float = 0.0
    grading_seconds: float = 0.0
    changed_files: list[str] = field(default_factory=list)  # submissions changed while grading
    sandboxed: bool = True
    warnings: list[str] = field(default_factory=list)  # about the whole run (limits per process only)
    seed: int | None = None  # the grader's inputs were drawn from it

    def by_status(self, status: str) -> list[SubmissionResult]:
        return [r for r in self.results if r.status == status]

    def find(self, student: str, assignment: str | None = None) -> SubmissionResult:
        matches = [r for r in self.results if r.student == student and (assignment is None or r.assignment == assignment)]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} results for {student} / {assignment}")
        return matches[0]

    def summary(self) -> str:
        graded, failed, skipped = (self.by_status(s) for s in (GRADED, FAILED, SKIPPED))
        students = {r.student for r in self.results if r.student}
        flagged = [r for r in graded if r.flagged]
        lines = [
            f"Autograded {len(self.results)} notebooks of {len(students)} students with "
            f"{self.workers} worker{'s' if self.workers != 1 else ''} in {self.grading_seconds:.0f} s, "
            f"{'each kernel in its own sandbox' if self.sandboxed else 'WITHOUT the sandbox'}: "
            f"{len(graded)} graded, {len(failed)} failed, {len(skipped)} skipped, {len(flagged)} flagged for review."
        ]
        if self.seed is not None:
            lines.append(f"Judged outside the students' kernels, on inputs drawn with seed {self.seed}.")
        if failed:
            why = Counter(r.reason.split(":")[0].split(" (")[0] for r in failed)
            ranked = sorted(why.items(), key=lambda item: (-item[1], item[0]))
            lines.append("Failed: " + "; ".join(f"{n} × {reason}" for reason, n in ranked))
        for result in flagged:
            lines.append(f"Review: {result.student} / {result.assignment}")
        if not self.sandboxed:
            lines.append("WARNING: graded with --no-sandbox: students' code ran as this user and could read "
                         "the hidden tests and change files, the gradebook included.")
        lines += [f"WARNING: {warning}" for warning in self.warnings]
        if self.changed_files:
            lines.append("WARNING: these submissions changed on disk during grading (not by the grader): "
                         + ", ".join(self.changed_files))
        return "\n".join(lines)

    def text(self) -> str:
        order = {FAILED: 0, SKIPPED: 1, GRADED: 2}
        ordered = sorted(self.results, key=lambda r: (order[r.status], r.student or "", r.assignment or ""))
        return "\n".join([*(r.line() for r in ordered), "", self.summary()]) + "\n"

    def write(self, folder: Path) -> Path:
        """``autograde-report.txt`` and ``.json`` in ``folder``; returns the text file."""
        folder.mkdir(parents=True, exist_ok=True)
        text_path = folder / "autograde-report.txt"
        text_path.write_text(self.text(), encoding="utf-8")
        records = [{f.name: getattr(r, f.name) for f in fields(r) if f.name != "autograded"} for r in self.results]
        payload = {"workers": self.workers, "sandboxed": self.sandboxed, "prepare_seconds": self.prepare_seconds,
                   "grading_seconds": self.grading_seconds, "changed_files": self.changed_files,
                   "warnings": self.warnings, "seed": self.seed,
                   "results": records}
        (folder / "autograde-report.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
        return text_path
