"""A clean nbgrader course per assignment, which every worker copies into its scratch folder.

Each worker grades in its own copy, with its own SQLite gradebook, so workers never
share a database file; only the parent process writes the course's gradebook.
The template is carried as bytes, so a worker on another machine needs no shared disk.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .. import grading
from ..judging import CHECKS_FILE
from .catalogue import Assignment

CONFIG = "nbgrader_config.py"
GRADEBOOK = "gradebook.db"


@dataclass(frozen=True)
class AssignmentTemplate:
    """What a worker needs to grade one assignment: files by relative path."""

    assignment: str
    notebook_name: str
    files: dict[str, bytes] = field(repr=False)

    def source(self):
        return nbformat.reads(self.files[f"solutions/{self.assignment}/{self.notebook_name}"].decode(), 4)

    def released(self):
        return nbformat.reads(self.files[f"notebooks/{self.assignment}/{self.notebook_name}"].decode(), 4)

    def unpack(self, course: Path) -> Path:
        for relative, data in self.files.items():
            target = course / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return course


def build_templates(assignments: list[Assignment], templates_root: Path, config: Path) -> dict[str, AssignmentTemplate]:
    """The templates of ``assignments``, made by one ``nbgrader generate_assignment`` run
    and made again only when a source notebook or the configuration changed."""
    folder = Path(templates_root)
    digest = hashlib.sha256(Path(config).read_bytes())
    for assignment in assignments:
        digest.update(assignment.name.encode() + b"\0" + assignment.source_path.read_bytes())
        checks = assignment.source_path.parent / CHECKS_FILE
        digest.update(b"\0" + (checks.read_bytes() if checks.exists() else b""))
    stamp, stamp_file = digest.hexdigest(), folder / "sources.sha256"
    if not (stamp_file.exists() and stamp_file.read_text() == stamp):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        shutil.copy2(config, folder / CONFIG)
        for assignment in assignments:
            (folder / "solutions" / assignment.name).mkdir(parents=True)
            shutil.copy2(assignment.source_path, folder / "solutions" / assignment.name / assignment.notebook_name)
            checks = assignment.source_path.parent / CHECKS_FILE
            if checks.exists():  # how the grader judges: read by the grading process, never by a kernel
                shutil.copy2(checks, folder / "solutions" / assignment.name / CHECKS_FILE)
        # One run for all: nbgrader reads the assignment id as a pattern.
        grading.nbgrader(folder, "generate_assignment", "*", "--force", "--log-level=ERROR")
        stamp_file.write_text(stamp)
    shared = {name: (folder / name).read_bytes() for name in (CONFIG, GRADEBOOK)}
    return {
        assignment.name: AssignmentTemplate(
            assignment=assignment.name,
            notebook_name=assignment.notebook_name,
            files={**shared, **{
                relative: (folder / relative).read_bytes()
                for relative in (f"solutions/{assignment.name}/{assignment.notebook_name}",
                                 f"notebooks/{assignment.name}/{assignment.notebook_name}",
                                 f"solutions/{assignment.name}/{CHECKS_FILE}")
                if (folder / relative).exists()
            }},
        )
        for assignment in assignments
    }
