"""Students who attack the grader earn no more than the unchanged release.

The adversaries (tests/submissions/adversaries.py) are graded in each notebook's one shared nbgrader
run: errors swallowed, assertion helpers patched and objects equal to everything in every notebook
(each has its own judges); later cells rewritten and observations forged with this run's tag and with
an earlier one in notebooks 01, 02 and 06 (IPython and the grader's tags are the same everywhere). Grades are judged outside the
kernel (involution_instructor.judging), so none of it earns a point. An honest student whose hooks
print every cell keeps full marks, and their feedback page holds no line of the grader's checks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from involution_instructor import grading
from involution_instructor.autograde.feedback import FEEDBACK_PREPROCESSORS
from involution_instructor.paths import ASSIGNMENTS
from submissions import adversaries

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ATTACKS = [name for name in adversaries.NAMES if name != "adversary_echo"]


def grader_lines(assignment: str) -> set[str]:
    """Lines of the grader's side of checks.py: everything but the kernel-side functions, whose source
    is sent to the kernel and holds no expected value and no rule, and but lines the notebook holds too."""
    path = ROOT / "solutions" / assignment / "checks.py"
    text = path.read_text()
    sent = set()
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and any(getattr(d, "id", None) == "kernel" for d in node.decorator_list):
            sent.update(range(node.lineno - len(node.decorator_list), node.end_lineno + 1))
    kernel_side = {line.strip() for number, line in enumerate(text.splitlines(), 1) if number in sent}
    # Lines the notebook itself holds (an answer, a visible test) are no secret.
    kernel_side |= {line.strip() for line in (ROOT / "solutions" / assignment / f"{assignment}.py").read_text().splitlines()}
    lines = set()
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if number in sent or stripped in kernel_side or len(stripped) < 30 \
                or stripped.startswith(("#", "import ", "from ", '"""')):
            continue
        lines.add(stripped)
    return lines


@pytest.mark.parametrize(("attack", "assignment"),
                         [(a, n) for n in ASSIGNMENTS for a in adversaries.names(n) if a in ATTACKS])
def test_an_attack_earns_no_more_than_the_blank_release(assignment, attack, graded_runs):
    run = graded_runs(assignment)
    earned, maximum = run.total(attack)
    blank = adversaries.blank_total(run)
    assert earned <= blank, f"{assignment}: {attack} earned {earned} of {maximum} (the blank release earns {blank})"
    verdicts = [cell.metadata.get("judging", {}) for cell in run.autograded(attack).cells
                if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"]
    assert verdicts and all(v.get("status") != "passed" for v in verdicts), f"{assignment}: {attack}: {verdicts}"
    if attack == "adversary_rewrite":
        assert {v["status"] for v in verdicts} == {"missing"}, verdicts
    if attack == "adversary_forge":
        assert "wrongly tagged" in {v["status"] for v in verdicts}, verdicts


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_an_honest_student_who_echoes_every_cell_keeps_full_marks_and_sees_no_check(assignment, graded_runs):
    run = graded_runs(assignment)
    assert run.total("adversary_echo") == run.total("solution")
    course = run.course_of["adversary_echo"]
    preprocessors = "[" + ", ".join(f"'{name}'" for name in FEEDBACK_PREPROCESSORS) + "]"
    grading.nbgrader(course, "generate_feedback", assignment, "--student=adversary_echo", "--force",
                     "--log-level=ERROR", f"--GenerateFeedback.preprocessors={preprocessors}")
    html = (course / "feedback" / "adversary_echo" / assignment / f"{assignment}.html").read_text()
    page = BeautifulSoup(html, "html.parser").get_text()
    graded = run.autograded("adversary_echo")
    autograded = "\n".join([cell.source for cell in graded.cells] + [
        str(output.get("text", "")) + "".join(str(v) for v in output.get("data", {}).values())
        for cell in graded.cells for output in cell.get("outputs", [])])
    for text, where in ((page, "feedback page"), (autograded, "graded notebook")):
        leaked = sorted(line for line in grader_lines(assignment) if line in text)
        assert not leaked, f"{assignment}: the {where} holds lines of the grader's checks: {leaked[:3]}"
        assert "BEGIN HIDDEN TESTS" not in text
