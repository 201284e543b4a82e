"""Notebook 04: students whose answers delegate to what the course installs (see tests/test_delegation_04.py).

Each student answers every exercise that has a function to delegate (1, 2, 3, 4 and 6) with the
shortest code that imports or calls something the student's environment offers: the course
package's modules, Keras applications, or the instructor's reference, which is importable where
notebooks are graded.
"""

from __future__ import annotations

from graded_runs import with_answers

ASSIGNMENT = "04-cifar10-comparison"
DELEGATED = ("ex1", "ex2", "ex3", "ex4", "ex6")

# The smallest of Keras' ready-made networks: a larger one only makes the graded run longer.
KERAS_MODEL = "keras.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=10)"

VARIANTS = {
    # Everything the course package's modules export, by name.
    "delegate_star": {
        exercise: "from involution_course.models import *\nfrom involution_course.evaluation import *\n"
        "from involution_course.layers import *\nfrom involution_course.training import *"
        for exercise in DELEGATED
    },
    # The functions where the course package once held them.
    "delegate_attribute": {
        "ex1": "from involution_course import models\nbuild_example_cnn = models.example_cnn",
        "ex2": "from involution_course import models\nbuild_example_involution_network = models.example_involution_network",
        "ex3": "from involution_course import models\nbuild_fair_network = models.fair_network",
        "ex4": "from involution_course import models\nlargest_width_within = models.largest_width_within",
        "ex6_confusion": "from involution_course import evaluation\nconfusion_matrix = evaluation.confusion_matrix",
        "ex6_accuracy": "from involution_course import evaluation\nper_class_accuracy = evaluation.per_class_accuracy",
    },
    # A ready-made Keras model for each model exercise.
    "delegate_keras": {
        "ex1": f"def build_example_cnn():\n    return {KERAS_MODEL}",
        "ex2": f"def build_example_involution_network():\n    return {KERAS_MODEL}",
        "ex3": f"def build_fair_network(width, spatial='involution'):\n    return {KERAS_MODEL}",
        "ex4": "from involution_course.models import largest_width_within",
        "ex6_confusion": "from involution_course.evaluation import confusion_matrix",
        "ex6_accuracy": "from involution_course.evaluation import per_class_accuracy",
    },
    # The instructor's reference answers.
    "delegate_instructor": {
        "ex1": "from involution_instructor.reference.models import example_cnn as build_example_cnn",
        "ex2": "from involution_instructor.reference.models import example_involution_network as "
        "build_example_involution_network",
        "ex3": "from involution_instructor.reference.models import fair_network as build_fair_network",
        "ex4": "from involution_instructor.reference.models import largest_width_within",
        "ex6_confusion": "from involution_instructor.reference.evaluation import confusion_matrix",
        "ex6_accuracy": "from involution_instructor.reference.evaluation import per_class_accuracy",
    },
}


def students(source) -> dict:
    return {name: with_answers(source, answers) for name, answers in VARIANTS.items()}
