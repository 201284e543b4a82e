"""The kernel reports, the grader judges (involution_instructor.judging).

Fast tests of the pieces: the data that travels out of the kernel, the verdict of every kind of
observation (missing, wrongly tagged, malformed, wrong, passed), the rules judged from source, and
every course notebook's checks. Then, with real nbgrader and the real sandbox on the small sample
course, the strongest forgery: observations recorded in an earlier graded run by a student whose
answers were right, replayed with that run's tag and with the new run's tag.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from test_autograde_sample import make_sample_course, require_sandbox, squares_notebook, with_answer, write

from involution_instructor.grading import exercise_of
from involution_instructor.judging import Check, load_checks, runtime
from involution_instructor.judging.plan import MALFORMED, MISSING, MISTAGGED, PASSED, WRONG, Plan
from involution_instructor.judging.source import StudentSource
from involution_instructor.paths import ASSIGNMENTS

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ what travels out of the kernel


def test_data_round_trips_and_nothing_else_is_read():
    value = {"a": [1, 2.5, None, True, "x"], ("t", 1): (np.arange(6.0).reshape(2, 3), float("nan")),
             "big": 2**70, "i": np.int32(7)}
    back = runtime.decode(json.loads(json.dumps(runtime.encode(value))))
    assert np.array_equal(back[("t", 1)][0], np.arange(6.0).reshape(2, 3)) and np.isnan(back[("t", 1)][1])
    assert back["a"] == [1, 2.5, None, True, "x"] and back["big"] == 2**70 and back["i"] == 7
    for forged in ({"__pickle__": "gASV"}, {"__ndarray__": 3}, {"a": 1, "b": 2}, {"__dict__": [[1]]}):
        with pytest.raises(ValueError):
            runtime.decode(forged)
    with pytest.raises(TypeError):
        runtime.encode(object())


def test_objects_equal_to_everything_arrive_as_what_they_hold():
    class Everything:
        def __eq__(self, other):
            return True

        __hash__ = object.__hash__

    class Liar(float):
        def __eq__(self, other):
            return True

        __hash__ = float.__hash__

    assert runtime.as_data(Everything()) == {"__object__": "Everything"}
    liar = runtime.as_data(Liar(2.0))
    assert type(liar) is float and liar == 2.0
    assert runtime.as_data([Everything(), np.float32(1.5)])[1] == 1.5
    assert runtime.outcome(lambda: 1 / 0) == {"raised": "ZeroDivisionError", "message": "division by zero"}


# ------------------------------------------------------------------ verdicts


def _check(judge=None):
    from involution_instructor.judging import expect, kernel

    @kernel
    def observe_square(student, data):
        return [outcome(student["square"], x) for x in data]

    def judge_square(ctx):
        for x, seen in zip(ctx.data, ctx.seen):
            expect.close(expect.value(seen, f"square({x})"), np.asarray(x, float) ** 2, f"square({x})")

    return Check("ex1_test_square", observe_square, judge or judge_square, lambda rng: [float(rng.integers(2, 9))])


def _planned():
    from involution_instructor.judging import Checks

    check = _check()
    checks = Checks("squares", {check.grade_id: check}, "", "digest")
    notebook = squares_notebook()
    notebook.cells = [c for c in notebook.cells if c.metadata["nbgrader"]["grade_id"] != "ex2_test_cube"]
    plan = Plan(checks, seed=5, token="a" * 32)
    plan.prepare(notebook)
    observation = next(c for c in notebook.cells if "The grader observes" in c.source)
    return plan, notebook, observation


def _shown(message):
    return nbformat.v4.new_output("display_data", data={runtime.MIME: message})


def _verdict(outputs):
    plan, notebook, observation = _planned()
    observation.outputs = outputs
    return plan.judge(notebook)["ex1_test_square"], notebook


def test_each_kind_of_observation_gets_its_verdict():
    plan, _, _ = _planned()
    x = plan._data["ex1_test_square"][0]
    right = runtime.encode([{"value": x * x}])
    tagged = {"token": "a" * 32, "check": "ex1_test_square"}
    assert _verdict([])[0].status == MISSING
    assert _verdict([nbformat.v4.new_output("error", ename="CellTimeoutError", evalue="", traceback=[])])[0].status == MISSING
    assert _verdict([_shown({**tagged, "token": "b" * 32, "seen": right})])[0].status == MISTAGGED
    assert _verdict([_shown({**tagged, "check": "ex2_test_cube", "seen": right})])[0].status == MISTAGGED
    assert _verdict([_shown({**tagged, "seen": right})] * 2)[0].status == MALFORMED
    assert _verdict([_shown({**tagged, "seen": {"__pickle__": "x"}})])[0].status == MALFORMED
    assert _verdict([_shown({**tagged, "seen": runtime.encode([{"value": x * x + 1}])})])[0].status == WRONG
    assert _verdict([_shown({**tagged, "error": "LookupError: square is not defined"})])[0].status == WRONG
    verdict, notebook = _verdict([_shown({**tagged, "seen": right})])
    assert verdict.status == PASSED
    assert not any("The grader observes" in c.source for c in notebook.cells), "observation cells are removed"
    test_cell = next(c for c in notebook.cells if c.metadata["nbgrader"]["grade_id"] == "ex1_test_square")
    assert test_cell.metadata["judging"]["status"] == PASSED and "BEGIN HIDDEN" not in test_cell.source


def test_the_kernel_never_sees_hidden_tests_or_expected_values():
    plan, notebook, observation = _planned()
    sources = "\n".join(c.source for c in notebook.cells)
    assert "square(3) should be 9" not in sources and "BEGIN HIDDEN" not in sources
    assert "np.asarray(x, float) ** 2" not in observation.source  # the judge's expected value stays here


def test_a_verdict_in_the_submission_is_never_trusted():
    from involution_instructor.judging import Checks

    check = _check()
    notebook = squares_notebook()
    for cell in notebook.cells:
        cell.metadata["judging"] = {"status": "passed"}
    Plan(Checks("squares", {check.grade_id: check, "ex2_test_cube": check}, "", "d")).prepare(notebook)
    assert not any("judging" in c.metadata for c in notebook.cells)


# ------------------------------------------------------------------ rules judged from source


def test_how_an_answer_works_is_read_from_its_source():
    source = StudentSource({
        "ex1": "from scipy.signal import correlate2d\nimport keras\n"
               "def helper(x):\n    return correlate2d(x, x)\n"
               "def f(x):\n    for i in range(3):\n        for j in range(3):\n            y = [k for k in range(2)]\n"
               "    return helper(x)\n"
               "def g(x):\n    return getattr(keras.ops, 'conv')(x)\n"
               "def h(x):\n    return x.sum()\n",
    })
    assert source.uses({"correlate2d"}, {"scipy.signal"}, within="f") == ["import of scipy.signal", "scipy.signal.correlate2d"]
    assert source.uses({"conv"}, within="g") == ["getattr('conv')"]
    assert source.uses({"conv", "correlate2d"}, {"scipy.signal"}, within="h") == []
    assert source.loop_depth("f") == 3 and source.loop_depth("h") == 0


# ------------------------------------------------------------------ the course's checks


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_graded_cell_of_the_course_has_a_check_that_loads(assignment):
    import jupytext

    path = ROOT / "solutions" / assignment / "checks.py"
    if not path.exists():
        pytest.skip(f"{assignment} is still graded inside the kernel")
    checks = load_checks(path, assignment)
    notebook = jupytext.read(ROOT / "solutions" / assignment / f"{assignment}.py")
    graded = {c.metadata["nbgrader"]["grade_id"] for c in notebook.cells
              if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
              and not c.metadata["nbgrader"].get("solution")}
    assert graded == set(checks.by_grade_id), f"{assignment}: test cells and checks differ"
    assert not any("BEGIN HIDDEN TESTS" in c.source for c in notebook.cells), f"{assignment}: hidden tests live in checks.py"
    compile(checks.kernel_source, "<kernel side>", "exec")
    grader_side = re.sub(r"(?ms)^@kernel\ndef .*?(?=^\S)", "", path.read_text())
    assert not re.search(r"(?m)^\s*(import|from)\s+(keras|tensorflow|torch|jax)\b", grader_side), (
        f"{assignment}: the grader's side of checks.py must not import a deep-learning framework (it runs per student)")
    for check in checks.by_grade_id.values():
        assert exercise_of(check.grade_id)
        runtime.encode(Plan(checks, seed=1)._data.get(check.grade_id)) if check.inputs is None else \
            runtime.encode(check.inputs(np.random.default_rng(1)))


# ------------------------------------------------------------------ forged with recorded observations

SPY = """
import json as _json

import IPython.display as _shown_module

_recorded = []


def _record(info):
    # Run each of the grader's observations once more, with the right answers, and keep what it shows.
    if "The grader observes" in info.raw_cell:
        kept, _shown_module.display = _shown_module.display, lambda obj, raw=False, **kwargs: _recorded.append(obj)
        try:
            exec(info.raw_cell, {})
        finally:
            _shown_module.display = kept


get_ipython().events.register("pre_run_cell", _record)
"""
SPY_END = "print('RECORDED' + _json.dumps(_recorded))"
REPLAY = """
import re as _re

from IPython.display import display as _display

_RECORDED = {recorded}


def _replay(lines):
    text = "".join(lines)
    if "The grader observes" not in text:
        return lines
    check = _re.search(r"The grader observes (\\w+)", text).group(1)
    message = dict(next(m for m in _RECORDED if m["check"] == check))
    if {current}:
        message["token"] = _re.search(r"observe\\(\\\\?'([0-9a-f]{{32}})", text).group(1)
    return ["_display({{%r: %r}}, raw=True)\\n" % ({mime!r}, message)]


get_ipython().input_transformers_cleanup.append(_replay)
raise NotImplementedError()
"""


@pytest.mark.slow
def test_observations_recorded_in_an_earlier_run_earn_nothing(tmp_path):
    from involution_instructor.autograde import autograde_submissions

    require_sandbox()
    source = make_sample_course(tmp_path / "source")
    good = squares_notebook()
    spy = with_answer(good, "ex1_square", SPY + "\n" + good.cells[2].source)
    spy.cells.append(nbformat.v4.new_code_cell(SPY_END))
    write(tmp_path / "first" / "spy" / "squares" / "squares.ipynb", spy)
    first = autograde_submissions(tmp_path / "first", course=tmp_path / "course-1", source_root=source,
                                  show_progress=False, assignments=["squares"])
    assert first.find("spy").score == 3
    graded = nbformat.read(tmp_path / "course-1" / "autograded" / "spy" / "squares" / "squares.ipynb", 4)
    printed = [o.text for c in graded.cells for o in c.get("outputs", []) if "RECORDED" in o.get("text", "")]
    recorded = json.loads(printed[0].strip()[len("RECORDED"):])
    messages = [m[runtime.MIME] for m in recorded]
    assert {m["check"] for m in messages} == {"ex1_test_square", "ex2_test_cube"}

    for name, current in (("replay_old_tag", False), ("replay_new_tag", True)):
        code = REPLAY.format(recorded=repr(messages), current=current, mime=runtime.MIME)
        blank = with_answer(with_answer(good, "ex1_square", code), "ex2_cube", "raise NotImplementedError()")
        write(tmp_path / "second" / name / "squares" / "squares.ipynb", blank)
    second = autograde_submissions(tmp_path / "second", course=tmp_path / "course-2", source_root=source,
                                   show_progress=False, assignments=["squares"])
    assert second.seed != first.seed
    old, new = second.find("replay_old_tag"), second.find("replay_new_tag")
    assert old.score == 0 and {c.get("verdict") for c in old.cells.values() if "verdict" in c} == {MISTAGGED}
    assert new.score == 0 and {c.get("verdict") for c in new.cells.values() if "verdict" in c} == {WRONG}
    assert any("REVIEW" in note and "machinery" in note for note in new.notes)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_rule_a_check_judges_has_a_visible_twin(assignment):
    """Every rule of the grader's checks is stated and visibly tested: each check lists its rules with
    a text of the visible test that checks it, and that text is in the test cell the student sees."""
    import jupytext

    checks = load_checks(ROOT / "solutions" / assignment / "checks.py", assignment)
    notebook = jupytext.read(ROOT / "solutions" / assignment / f"{assignment}.py")
    cells = {c.metadata["nbgrader"]["grade_id"]: c.source for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")}
    for grade_id, check in checks.by_grade_id.items():
        assert check.rules, f"{assignment}: {grade_id} lists no rule"
        for rule in check.rules:
            assert isinstance(rule, tuple) and len(rule) == 2, f"{assignment}: {grade_id}: {rule!r} names no visible test"
            assert rule[1] in cells[grade_id], f"{assignment}: {grade_id}: no visible test for {rule[0]!r} ({rule[1]!r})"
