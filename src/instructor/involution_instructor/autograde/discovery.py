"""Submissions in a folder, whichever way they were collected.

Three layouts, mixed freely:

* nbgrader's ``[submitted/]<student>/<assignment>/<any name>.ipynb``;
* a folder per student, ``<student>/<any name>.ipynb``;
* one file per student and notebook, as a learning platform downloads them:
  ``<student>_<anything>.ipynb`` (the student is the text before the first ``_``).

File names are never trusted to name the assignment: the runner recognises a
notebook by its cells (``Copy of 01-convolution (2).ipynb`` is fine).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

SKIPPED_FOLDERS = {".ipynb_checkpoints", "__MACOSX", "__pycache__", ".git"}


@dataclass(frozen=True)
class Submission:
    """One submitted file: whose it is, where it is, and what the folder says it is."""

    student: str | None  # None when neither folder nor file name says whose it is
    path: Path
    folder_assignment: str | None  # from nbgrader's layout, else None
    digest: str  # sha256 of the bytes when found: the file is never changed

    @property
    def label(self) -> str:
        return str(self.path)


def find_submissions(folder: Path) -> list[Submission]:
    """Every ``.ipynb`` under ``folder`` with the student it belongs to."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of submissions: give the folder that holds "
                         "the students' notebooks (nbgrader's submitted/ or a platform's download).")
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        parts = path.relative_to(folder).parts
        if any(part in SKIPPED_FOLDERS or part.startswith(".") for part in parts):
            continue
        if not path.is_file():
            continue
        if parts[0] == "submitted" and len(parts) > 1:
            parts = parts[1:]
        found.append(Submission(
            student=_student_of(parts),
            path=path,
            folder_assignment=parts[1] if len(parts) >= 3 else None,
            digest=file_digest(path),
        ))
    return found


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _student_of(parts: tuple[str, ...]) -> str | None:
    if len(parts) >= 2:
        return student_id(parts[0])
    stem = Path(parts[0]).stem
    if "_" not in stem:
        return None
    return student_id(stem.split("_", 1)[0])


def student_id(text: str) -> str | None:
    """A name safe as nbgrader's student id and as a folder: letters, digits, ``.-_``."""
    cleaned = re.sub(r"[^A-Za-z0-9.@-]+", "_", text.strip()).strip("_.")
    return cleaned or None
