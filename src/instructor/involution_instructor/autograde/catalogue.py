"""The course's assignments, read from solutions/, and how to tell which one a notebook is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..release import py_to_ipynb


@dataclass(frozen=True)
class Assignment:
    """One assignment: its name, its source notebook (solutions and hidden tests)."""

    name: str
    source_path: Path

    @property
    def notebook_name(self) -> str:
        """nbgrader grades a submission only under the source notebook's file name."""
        return self.source_path.name

    def source(self):
        return nbformat.read(self.source_path, as_version=4)

    def grade_ids(self) -> set[str]:
        return {grade_id_of(cell) for cell in self.source().cells} - {None}

    def locked_sources(self) -> set[str]:
        """Sources of cells a student cannot change: they identify the notebook even
        when a student's tools dropped the nbgrader metadata."""
        return {
            cell.source.strip()
            for cell in self.source().cells
            if cell.metadata.get("nbgrader", {}).get("locked") and cell.source.strip()
            and "### BEGIN HIDDEN TESTS" not in cell.source
        }


def grade_id_of(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or None


class Catalogue:
    """The assignments of a course, by name."""

    def __init__(self, assignments: list[Assignment]):
        self.assignments = {a.name: a for a in assignments}
        self._ids = {a.name: a.grade_ids() for a in assignments}
        self._locked = {a.name: a.locked_sources() for a in assignments}

    @classmethod
    def from_source(cls, source_root: Path, names=None) -> "Catalogue":
        """Every ``solutions/<a>/<a>.ipynb`` (made from its ``.py`` where there is one)."""
        folder = Path(source_root) / "solutions"
        chosen = names or sorted(p.name for p in folder.iterdir() if p.is_dir())
        assignments = []
        for name in chosen:
            notebook = folder / name / f"{name}.ipynb"
            paired = notebook.with_suffix(".py")
            if paired.exists():
                py_to_ipynb(paired)
            if notebook.exists():
                assignments.append(Assignment(name, notebook))
            elif names:
                raise ValueError(f"no assignment {name!r}: {notebook} does not exist")
        if not assignments:
            raise ValueError(f"no assignment notebooks in {folder}: expected solutions/<name>/<name>.ipynb")
        return cls(assignments)

    def __getitem__(self, name: str) -> Assignment:
        return self.assignments[name]

    def __contains__(self, name: str) -> bool:
        return name in self.assignments

    @property
    def names(self) -> list[str]:
        return list(self.assignments)

    def named_in(self, text: str) -> str | None:
        """The assignment whose name appears in ``text`` (a file or folder name), if any."""
        lowered = text.lower()
        hits = [name for name in self.assignments if name.lower() in lowered]
        return max(hits, key=len) if hits else None

    def recognise(self, notebook) -> str | None:
        """The assignment whose cells this notebook holds most of; ``None`` when it holds none."""
        ids = {grade_id_of(cell) for cell in notebook.cells} - {None}
        sources = {cell.get("source", "").strip() for cell in notebook.cells}
        best, best_overlap = None, 0
        for name in self.assignments:
            overlap = len(ids & self._ids[name]) + len(sources & self._locked[name])
            if overlap > best_overlap:
                best, best_overlap = name, overlap
        return best
