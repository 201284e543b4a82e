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


def build_template(assignment: Assignment, templates_root: Path, config: Path) -> AssignmentTemplate:
    """The template of ``assignment``, regenerated only when its source notebook changed."""
    folder = Path(templates_root) / assignment.name
    source_bytes = assignment.source_path.read_bytes()
    stamp = hashlib.sha256(source_bytes + Path(config).read_bytes()).hexdigest()
    stamp_file = folder / "source.sha256"
    if not (stamp_file.exists() and stamp_file.read_text() == stamp):
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "solutions" / assignment.name).mkdir(parents=True)
        shutil.copy2(config, folder / CONFIG)
        (folder / "solutions" / assignment.name / assignment.notebook_name).write_bytes(source_bytes)
        grading.nbgrader(folder, "generate_assignment", assignment.name, "--force", "--log-level=ERROR")
        stamp_file.write_text(stamp)
    relative = [
        CONFIG, GRADEBOOK,
        f"solutions/{assignment.name}/{assignment.notebook_name}",
        f"notebooks/{assignment.name}/{assignment.notebook_name}",
    ]
    return AssignmentTemplate(
        assignment=assignment.name,
        notebook_name=assignment.notebook_name,
        files={name: (folder / name).read_bytes() for name in relative},
    )
