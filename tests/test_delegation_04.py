"""Notebook 04: a submission that delegates an exercise to what the course installs earns nothing.

Each delegating student submits the solution notebook with every exercise that has a function
to delegate (1, 2, 3, 4 and 6) answered by the shortest code that imports or calls something
the student's environment offers: the course package's modules, Keras applications, or the
instructor's reference, which is importable where notebooks are graded. All of them are graded
in one real nbgrader run, beside the solution. The quick tests at the end check ``require``, which
names an unfinished exercise in the cells that use the student's answers.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from involution_course.exercises import ExerciseUnfinished, require
from involution_instructor import grading

ASSIGNMENT = "04-cifar10-comparison"
DELEGATED = ("ex1", "ex2", "ex3", "ex4", "ex6")

KERAS_MODEL = (
    "keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=10,"
    " include_preprocessing=False)"
)

VARIANTS = {
    # Everything the course package's modules export, by name.
    "star": {
        exercise: "from involution_course.models import *\nfrom involution_course.evaluation import *\n"
        "from involution_course.layers import *\nfrom involution_course.training import *"
        for exercise in DELEGATED
    },
    # The functions where the course package once held them.
    "attribute": {
        "ex1": "from involution_course import models\nbuild_example_cnn = models.example_cnn",
        "ex2": "from involution_course import models\nbuild_example_involution_network = models.example_involution_network",
        "ex3": "from involution_course import models\nbuild_fair_network = models.fair_network",
        "ex4": "from involution_course import models\nlargest_width_within = models.largest_width_within",
        "ex6": "from involution_course import evaluation\nconfusion_matrix = evaluation.confusion_matrix\n"
        "per_class_accuracy = evaluation.per_class_accuracy",
    },
    # A ready-made Keras model for each model exercise.
    "keras": {
        "ex1": f"def build_example_cnn():\n    return {KERAS_MODEL}",
        "ex2": f"def build_example_involution_network():\n    return {KERAS_MODEL}",
        "ex3": f"def build_fair_network(width, spatial='involution'):\n    return {KERAS_MODEL}",
        "ex4": "from involution_course.models import largest_width_within",
        "ex6": "from involution_course.evaluation import confusion_matrix, per_class_accuracy",
    },
    # The instructor's reference answers.
    "instructor": {
        "ex1": "from involution_instructor.reference.models import example_cnn as build_example_cnn",
        "ex2": "from involution_instructor.reference.models import example_involution_network as "
        "build_example_involution_network",
        "ex3": "from involution_instructor.reference.models import fair_network as build_fair_network",
        "ex4": "from involution_instructor.reference.models import largest_width_within",
        "ex6": "from involution_instructor.reference.evaluation import confusion_matrix, per_class_accuracy",
    },
}


def with_answers_replaced(notebook, answers: dict[str, str]):
    """A copy of ``notebook`` whose answer cells of each exercise in ``answers`` hold that code."""
    changed = nbformat.from_dict(notebook)
    replaced = set()
    for cell in changed.cells:
        meta = cell.metadata.get("nbgrader", {})
        exercise = grading.exercise_of(meta.get("grade_id", ""))
        if meta.get("solution") and cell.cell_type == "code" and exercise in answers:
            cell.source = answers[exercise]
            replaced.add(exercise)
    assert replaced == set(answers), f"no answer cell for {sorted(set(answers) - replaced)}"
    return changed


def _exercise_scores(course: Path, student: str) -> dict[str, tuple[float, float]]:
    totals: dict[str, tuple[float, float]] = {}
    for cell in grading.scores(course, ASSIGNMENT, student).values():
        exercise = grading.exercise_of(cell.grade_id)
        score, maximum = totals.get(exercise, (0.0, 0.0))
        totals[exercise] = (score + cell.score, maximum + cell.max_score)
    return totals


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    os.environ["INVOLUTION_COURSE_PROFILE"] = "grading"
    os.environ.setdefault("INVOLUTION_COURSE_NO_PROGRESS", "1")
    course = grading.prepare_course(tmp_path_factory.mktemp("delegation-04"), [ASSIGNMENT])
    source = nbformat.read(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    grading.submit(course, "solution", ASSIGNMENT, source)
    for student, answers in VARIANTS.items():
        grading.submit(course, student, ASSIGNMENT, with_answers_replaced(source, answers))
    grading.autograde(course, ASSIGNMENT)
    return course


@pytest.mark.slow
def test_solution_scores_full_marks(graded):
    score, maximum = grading.total(grading.scores(graded, ASSIGNMENT, "solution"))
    assert maximum == 14 and score == maximum


@pytest.mark.slow
@pytest.mark.parametrize("student", VARIANTS)
def test_a_delegating_submission_earns_nothing_for_what_it_delegates(graded, student):
    scores = _exercise_scores(graded, student)
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
