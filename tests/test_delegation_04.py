"""Notebook 04: a submission that delegates an exercise to what the course installs earns nothing.

The delegating students (tests/submissions/delegation_04.py) answer every exercise that has a
function to delegate (1, 2, 3, 4 and 6) with the shortest code that imports or calls something
the student's environment offers: the course package's modules, Keras applications, or the
instructor's reference, which is importable where notebooks are graded. They are graded in the
notebook's one shared nbgrader run (tests/graded_runs.py), beside the solution. The quick tests at
the end check ``require``, which names an unfinished exercise in the cells that use the student's
answers, and the grader's checks (solutions/04-cifar10-comparison/checks.py) run in this process:
their NumPy networks against Keras, and their judgement of the solution and of a few answers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from involution_course.exercises import ExerciseUnfinished, require
from submissions.delegation_04 import ASSIGNMENT, DELEGATED, VARIANTS

AUTOGRADED_POINTS = 14


@pytest.fixture
def run(graded_runs):
    return graded_runs(ASSIGNMENT)


@pytest.mark.slow
def test_solution_scores_full_marks(run):
    scores = {exercise: value for exercise, value in run.exercise_scores("solution").items() if exercise}
    score, maximum = sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())
    assert maximum == AUTOGRADED_POINTS and score == maximum


@pytest.mark.slow
@pytest.mark.parametrize("student", VARIANTS)
def test_a_delegating_submission_earns_nothing_for_what_it_delegates(run, student):
    scores = run.exercise_scores(student)
    earned = {exercise: scores[exercise][0] for exercise in DELEGATED if scores[exercise][0] > 0}
    assert not earned, f"{student}: delegated exercises earned points: {earned}"
    score, maximum = scores["ex5"]  # nothing to delegate: the solution's answer stays
    assert score == maximum > 0


# ------------------------------------------------------------------------ require


def test_require_passes_a_finished_answer_through():
    def double(x):
        return 2 * x

    assert require(double, "Exercise 1")(4) == 8
    assert require("double", "Exercise 1", {"double": double})(5) == 10


def test_require_names_an_unfinished_exercise():
    def build():
        raise NotImplementedError()

    with pytest.raises(ExerciseUnfinished, match=r"^Finish Exercise 3 first: `build` still raises NotImplementedError\.$"):
        require(build, "Exercise 3")()
    with pytest.raises(ExerciseUnfinished, match="Finish Exercise 4 first: `search` is not defined yet"):
        require("search", "Exercise 4", {})
    with pytest.raises(ExerciseUnfinished, match="should be a function"):
        require("statements", "Exercise 5", {"statements": {}})


def test_require_looks_names_up_in_the_callers_globals():
    assert require("test_require_passes_a_finished_answer_through", "Exercise 1") is not None


def test_require_shows_one_sentence_in_a_notebook():
    error = ExerciseUnfinished("Finish Exercise 6 first: `confusion_matrix` is not defined yet (run its cell).")
    assert error._render_traceback_() == [f"ExerciseUnfinished: {error}"]


# ------------------------------------------------------------------------ the grader's checks, in process

CHECKS_PATH = Path(__file__).resolve().parents[1] / "solutions" / ASSIGNMENT / "checks.py"
ANSWER_CELLS = ("ex1_answer", "ex2_answer", "ex3_answer", "ex4_answer", "ex5_answer", "ex6_confusion", "ex6_accuracy")


@pytest.fixture(scope="module")
def checks():
    from involution_instructor.judging import load_checks

    return load_checks(CHECKS_PATH, ASSIGNMENT)


@pytest.fixture(scope="module")
def numpy_side(checks):
    """The checks module itself, for its NumPy definitions."""
    import sys

    return sys.modules[f"_involution_checks_{checks.digest[:16]}"]


def verdicts(checks, answers: dict[str, str], seed: int, only=None) -> dict[str, str]:
    """Each check's verdict on the solution with ``answers`` in place of its answer cells: the
    observations run here, through the runtime's encoding, as they would in a kernel."""
    import ast
    import json
    import sys

    import keras
    import numpy as np

    from involution_instructor.judging import runtime
    from involution_instructor.judging.plan import RUNTIME_SOURCE, Context, inputs_for
    from involution_instructor.judging.source import StudentSource
    from submissions.mutants import solution_answer

    cells = {grade_id: answers.get(grade_id, solution_answer(ASSIGNMENT, grade_id)) for grade_id in ANSWER_CELLS}
    user = {"keras": keras, "np": np}
    for source in cells.values():  # the definitions only, not the cells' "Try it" calls
        tree = ast.parse(source)
        tree.body = [node for node in tree.body if not isinstance(node, (ast.Expr, ast.For))]
        exec(compile(tree, "<answer>", "exec"), user)
    observation = {"__name__": "__observation__"}
    exec("import numpy as np\n" + RUNTIME_SOURCE + "\n" + checks.kernel_source, observation)
    found = {}
    for grade_id, check in checks.by_grade_id.items():
        if only and not grade_id.startswith(only):
            continue
        data = inputs_for(check, seed)
        # This process holds the instructor's package, which a student's kernel must not: hide it
        # while the observation looks.
        held = {name: sys.modules.pop(name) for name in list(sys.modules) if name.startswith("involution_instructor")}
        try:
            seen = observation[check.observe.__name__](observation["Student"](user), data)
        finally:
            sys.modules.update(held)
        seen = runtime.decode(json.loads(json.dumps(runtime.encode(runtime.as_data(seen)))))
        context = Context(grade_id, data, seen, check.expect(data) if check.expect else None, StudentSource(cells))
        try:
            check.judge(context)
            found[grade_id] = "passed"
        except AssertionError as error:
            found[grade_id] = f"wrong: {error}"
    return found


def test_every_test_cell_has_one_check(checks):
    import jupytext

    notebook = jupytext.read(CHECKS_PATH.parent / f"{ASSIGNMENT}.py")
    graded = {cell.metadata["nbgrader"]["grade_id"] for cell in notebook.cells
              if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")}
    assert graded == set(checks.by_grade_id)


@pytest.mark.slow  # builds six Keras models
def test_the_numpy_networks_are_the_reference_networks(numpy_side):
    """The judge's NumPy forward passes give the reference models' logits for the same weights."""
    import numpy as np

    from involution_instructor.reference import models

    rng = np.random.default_rng(0)
    images = numpy_side.draw_images(rng)
    cases = [(models.example_cnn(), numpy_side.example_cnn_spec(), numpy_side.example_cnn_forward),
             (models.example_involution_network(), numpy_side.example_involution_spec(),
              numpy_side.example_involution_forward)]
    for width, spatial in ((8, "involution"), (16, "involution"), (8, "conv"), (5, "conv")):
        cases.append((models.fair_network(width, spatial), numpy_side.fair_spec(width, spatial),
                      lambda w, x, width=width, spatial=spatial: numpy_side.fair_forward(w, x, width, spatial)))
    for model, spec, forward in cases:
        assert [tuple(w.shape) for w in model.weights] == [shape for shape, _, _ in spec]
        assert numpy_side.trainable_count(spec) == models.trainable_parameters(model)
        weights = numpy_side.draw_weights(rng, spec)
        model.set_weights(weights)
        expected = forward(weights, images)
        np.testing.assert_allclose(np.asarray(model(images, training=False)), expected, rtol=1e-4,
                                   atol=1e-4 * np.abs(expected).max())


@pytest.mark.slow  # builds and runs four Keras models
def test_the_solution_passes_every_check(checks):
    assert set(verdicts(checks, {}, seed=1).values()) == {"passed"}


def test_the_budget_check_wants_a_value_error_and_a_search_that_halves(checks):
    from submissions import mutants_04

    def ex4(answer):
        return verdicts(checks, {"ex4_answer": answer}, seed=2, only="ex4")["ex4_test_budget"]

    assert "should raise a ValueError" in ex4(mutants_04.SEARCH_SILENT)
    assert "calls of count" in ex4(mutants_04.SEARCH_LINEAR)
    # Few calls, but by fixed jumps, with no doubling or halving in the code: refused, as the text says.
    jumps = mutants_04.SEARCH_LINEAR.replace(
        "    while count(width + step) <= budget:\n        width += step\n",
        "    for jump in (4096, 256, 16, 1):\n        while count(width + jump * step) <= budget:\n"
        "            width += jump * step\n")
    assert jumps != mutants_04.SEARCH_LINEAR
    assert "no doubling or halving" in ex4(jumps)
    assert ex4(mutants_04.SEARCH_MULTIPLES) == ex4(mutants_04.SEARCH_RECURSIVE) == ex4(mutants_04.SEARCH_BISECT) == "passed"


def test_importing_the_instructors_package_loses_that_exercise_only(checks):
    answer = "import involution_instructor  # noqa: F401\n\n\n" + "def confusion_matrix"
    from submissions.mutants import solution_answer

    source = solution_answer(ASSIGNMENT, "ex6_confusion").replace("def confusion_matrix", answer, 1)
    found = verdicts(checks, {"ex6_confusion": source}, seed=3, only="ex6")
    assert found["ex6_test_confusion"].startswith("wrong: the answer imports the instructor's package")
    assert found["ex6_test_accuracy"] == "passed"
