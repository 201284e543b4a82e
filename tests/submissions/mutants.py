"""Mutants: plausible wrong answers and correct alternatives for every graded exercise.

A catalogue ``tests/submissions/mutants_<nn>.py`` names its notebook in ``ASSIGNMENT`` and lists,
per exercise, ``Mutant(name, WRONG or RIGHT, {grade id or exercise: answer code})``. Student
``mutants_k`` carries the k-th entry of every exercise at once (each exercise's test cells test
only that exercise), so a notebook needs as many mutant students as its longest list.

``python tests/submissions/mutants.py --table [ASSIGNMENT ...]`` grades the notebooks that have a
catalogue and rewrites their sections of docs/mutants.md (other sections are kept).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

WRONG = "wrong"
RIGHT = "right"
HIDDEN_MARK = "### BEGIN HIDDEN TESTS"
TABLE = Path(__file__).resolve().parents[2] / "docs" / "mutants.md"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LINE = re.compile(r"line (\d+)")


@dataclass(frozen=True)
class Mutant:
    name: str
    kind: str  # WRONG or RIGHT
    answers: dict  # grade id (or exercise) -> answer code

    def __post_init__(self):
        if self.kind not in (WRONG, RIGHT):
            raise ValueError(f"{self.name}: kind must be WRONG or RIGHT, got {self.kind!r}")


@functools.lru_cache(maxsize=None)
def solution_answer(assignment: str, grade_id: str) -> str:
    """The solution's answer cell ``grade_id`` of ``assignment``, without its solution markers."""
    import jupytext

    source = Path(__file__).resolve().parents[2] / "solutions" / assignment / f"{assignment}.py"
    for cell in jupytext.read(source).cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            lines = cell.source.splitlines()
            return "\n".join(line for line in lines if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")) + "\n"
    raise KeyError(grade_id)


def edited(assignment: str, grade_id: str, *replacements: tuple[str, str]) -> dict[str, str]:
    """The solution's answer to ``grade_id`` with each (old, new) replaced once: a mutant that
    fails loudly when the solution no longer holds the text it replaces."""
    source = solution_answer(assignment, grade_id)
    for old, new in replacements:
        if old not in source:
            raise ValueError(f"{grade_id}: the solution no longer holds {old!r}")
        source = source.replace(old, new, 1)
    return {grade_id: source}


def combine(catalogue: dict[str, list[Mutant]]) -> list[dict[str, str]]:
    """The answers of student ``mutants_k`` for k = 1, 2, ...: the k-th entry of every exercise."""
    depth = max(len(entries) for entries in catalogue.values())
    students = []
    for k in range(depth):
        answers: dict[str, str] = {}
        for entries in catalogue.values():
            if k < len(entries):
                answers.update(entries[k].answers)
        students.append(answers)
    return students


def student_name(k: int) -> str:
    """The name of the student carrying the k-th entries (k from 0)."""
    return f"mutants_{k + 1}"


def students(catalogue: dict[str, list[Mutant]], source) -> dict:
    """The mutant students of a catalogue, made from the solution notebook ``source``."""
    from graded_runs import with_answers

    return {student_name(k): with_answers(source, answers) for k, answers in enumerate(combine(catalogue))}


def entry(catalogue: dict[str, list[Mutant]], exercise: str, k: int) -> Mutant | None:
    entries = catalogue.get(exercise, [])
    return entries[k] if k < len(entries) else None


def _test_cells(notebook, exercise: str) -> list:
    from involution_instructor import grading

    return [
        cell for cell in notebook.cells
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
        and grading.exercise_of(cell.metadata["nbgrader"].get("grade_id", "")) == exercise
    ]


def failing_line(cell) -> int | None:
    """The line of ``cell`` where its error was raised (the traceback's first "line N"), if it failed."""
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            match = _LINE.search(_ANSI.sub("", "\n".join(output.traceback)))
            return int(match.group(1)) if match else 0
    return None


def visible_catch(run, student: str, exercise: str) -> bool:
    """Whether a VISIBLE test of one of ``exercise``'s test cells failed for ``student``. The
    grader records it in the cell's verdict (``judging.visible_failed``); a notebook graded
    without checks falls back to the cell's lines before "### BEGIN HIDDEN TESTS"."""
    for cell in _test_cells(run.autograded(student), exercise):
        verdict = cell.metadata.get("judging")
        if isinstance(verdict, dict):
            if verdict.get("visible_failed"):
                return True
            continue
        line = failing_line(cell)
        if line is None:
            continue
        lines = cell.source.splitlines()
        hidden = next((n for n, text in enumerate(lines, 1) if text.strip() == HIDDEN_MARK), len(lines) + 1)
        if line < hidden:
            return True
    return False


# ------------------------------------------------------------------ the table


def catalogues() -> dict[str, object]:
    """assignment -> catalogue module, for every tests/submissions/mutants_<nn>.py."""
    import importlib
    import pkgutil

    import submissions

    found = {}
    for info in pkgutil.iter_modules(submissions.__path__):
        if info.name.startswith("mutants_"):
            module = importlib.import_module(f"submissions.{info.name}")
            found[module.ASSIGNMENT] = module
    return dict(sorted(found.items()))


def section(run, catalogue: dict[str, list[Mutant]]) -> str:
    """The markdown section of one notebook: every mutant, its score and who catches it."""
    lines = [f"## {run.assignment}", "",
             "| exercise | mutant | kind | score | verdict | visible tests |",
             "| --- | --- | --- | ---: | --- | --- |"]
    killed = caught = wrong = 0
    for exercise, entries in catalogue.items():
        for k, mutant in enumerate(entries):
            student = student_name(k)
            score, maximum = run.exercise_scores(student)[exercise]
            if mutant.kind == WRONG:
                wrong += 1
                killed += score < maximum
                visible = visible_catch(run, student, exercise)
                caught += visible
                verdict = "killed" if score < maximum else "**survives**"
                seen = "fail" if visible else "pass (hidden tests only)"
            else:
                verdict = "full marks" if score == maximum else "**loses points**"
                seen = "pass" if not visible_catch(run, student, exercise) else "**fail**"
            lines.append(f"| {exercise} | {mutant.name} | {mutant.kind} | {score:g} / {maximum:g} | {verdict} | {seen} |")
    lines += ["", f"{killed} of {wrong} wrong answers lose points; the visible tests catch {caught} of them.", ""]
    return "\n".join(lines)


HEADER = """# Mutants: every exercise proven by its wrong and right answers

Generated by `python tests/submissions/mutants.py --table` from one real nbgrader run per notebook
(grading profile); `tests/test_mutants.py` checks that it is current. A wrong answer must lose
points, a right one (another method) must earn full marks; "visible tests" says whether the tests
a student sees already fail.
"""


def _sections(text: str) -> dict[str, str]:
    found = {}
    for block in re.split(r"(?m)^(?=## )", text):
        if block.startswith("## "):
            found[block.split("\n", 1)[0][3:].strip()] = block.rstrip("\n") + "\n"
    return found


def committed_section(assignment: str) -> str | None:
    return _sections(TABLE.read_text()).get(assignment) if TABLE.exists() else None


def write_sections(new: dict[str, str]) -> None:
    """Replace (or add) the given notebooks' sections of docs/mutants.md, keeping the others."""
    sections = _sections(TABLE.read_text()) if TABLE.exists() else {}
    sections.update({name: text.rstrip("\n") + "\n" for name, text in new.items()})
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(HEADER + "\n" + "\n".join(sections[name] for name in sorted(sections)))


def main(argv=None) -> None:
    import argparse
    import sys
    import tempfile

    tests = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(tests))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", action="store_true", help="regenerate docs/mutants.md")
    parser.add_argument("assignments", nargs="*", help="only these notebooks (default: every catalogue)")
    args = parser.parse_args(argv)
    if not args.table:
        parser.error("nothing to do: pass --table")
    from graded_runs import graded_run

    found = catalogues()
    chosen = args.assignments or list(found)
    with tempfile.TemporaryDirectory() as base:
        write_sections({a: section(graded_run(a, f"{base}/{a}"), found[a].MUTANTS) for a in chosen})
    print(f"wrote {TABLE}")


if __name__ == "__main__":
    main()
