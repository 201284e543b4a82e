"""The models of notebook 04: exact parameter counts, output shapes, the budget search, and the
literal fixtures that notebook 04's tests hold."""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest

from involution_course import evaluation
from involution_course import models as facts
from involution_instructor.reference import models

NOTEBOOK = "solutions/04-cifar10-comparison/04-cifar10-comparison.py"


def _logits_shape(model) -> tuple:
    return tuple(model(np.zeros((2, *models.INPUT_SHAPE), "float32")).shape)


def test_example_cnn_matches_the_keras_example():
    model = models.example_cnn()
    assert models.trainable_parameters(model) == facts.EXAMPLE_CNN_PARAMETERS == 319_178
    assert _logits_shape(model) == (2, 10)
    # 32*32*27*32 + 16*16*288*64 + 8*8*576*64 + 4096*64 + 64*10
    assert evaluation.multiply_adds(model) == 884_736 + 4_718_592 + 2_359_296 + 262_144 + 640


def test_example_involution_network_matches_the_keras_example():
    model = models.example_involution_network()
    assert models.trainable_parameters(model) == facts.EXAMPLE_INVOLUTION_PARAMETERS == 13_074
    assert _logits_shape(model) == (2, 10)


def test_builders_are_deterministic():
    first, second = models.example_cnn(seed=3), models.example_cnn(seed=3)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("spatial", models.SPATIAL_OPS)
def test_fair_network_shapes_and_groups(spatial):
    model = models.fair_network(16, spatial)
    assert _logits_shape(model) == (2, 10)
    involutions = [layer for layer in model.layers if type(layer).__name__ == "Involution"]
    if spatial == "involution":
        assert sorted({layer.groups for layer in involutions}) == [2, 4, 8]
        assert len(involutions) == sum(models.STAGE_BLOCKS)
    else:
        assert involutions == []


@pytest.mark.parametrize(("spatial", "width"), [("involution", 8), ("involution", 40), ("conv", 5), ("conv", 19)])
def test_parameter_count_without_building_is_exact(spatial, width):
    assert models.fair_parameter_count(width, spatial) == models.trainable_parameters(models.fair_network(width, spatial))


def test_fair_pair_fits_the_cnn_budget():
    for spatial in models.SPATIAL_OPS:
        width = models.width_for_budget(models.EXAMPLE_CNN_PARAMETERS, spatial)
        step = models.WIDTH_STEP[spatial]
        assert models.fair_parameter_count(width, spatial) <= models.EXAMPLE_CNN_PARAMETERS
        assert models.fair_parameter_count(width + step, spatial) > models.EXAMPLE_CNN_PARAMETERS
    assert models.width_for_budget(spatial="involution") == 24
    assert models.width_for_budget(spatial="conv") == 19


def test_largest_width_within_on_a_known_curve():
    calls = []

    def count(width):
        calls.append(width)
        return 10 * width * width

    assert models.largest_width_within(1000, count) == 10
    assert len(calls) < 12
    assert models.largest_width_within(10 * 64 * 64, count, step=8) == 64
    assert models.largest_width_within(10 * 64 * 64 - 1, count, step=8) == 56


def test_budget_too_small_is_a_clear_error():
    with pytest.raises(ValueError, match="Raise the budget"):
        models.largest_width_within(5, lambda width: 10 * width * width)


@pytest.mark.parametrize(("width", "spatial"), [(12, "involution"), (0, "conv"), (16, "pooling")])
def test_invalid_fair_arguments_are_explained(width, spatial):
    with pytest.raises(ValueError):
        models.fair_network(width, spatial)


def test_parameter_counter_builds_each_width_once():
    built = []

    def build(width, spatial):
        built.append((width, spatial))
        return models.fair_network(width, spatial)

    count = facts.parameter_counter(build, "conv")
    assert count(5) == count(5) == models.fair_parameter_count(5, "conv")
    assert built == [(5, "conv")]


def _notebook_literals(project_root) -> dict:
    """Every ``_FAIR_... = <literal>`` assignment of notebook 04's source."""
    source = (project_root / NOTEBOOK).read_text()
    found = {}
    for name, value in re.findall(r"^(_FAIR_[A-Z0-9_]+) = (.+)$", source, flags=re.M):
        assert name not in found, f"{NOTEBOOK}: {name} is assigned twice"
        found[name] = ast.literal_eval(value)
    return found


def test_notebook_fixtures_equal_the_reference(project_root):
    """The literals in notebook 04's tests are what `python -m involution_instructor.reference.models` prints."""
    assert _notebook_literals(project_root) == models.notebook_fixtures()


@pytest.mark.parametrize("spatial", models.SPATIAL_OPS)
def test_the_fair_count_curve_is_exact_away_from_width_8(spatial):
    a, b, c = models.fair_count_curve(spatial)
    for width in (16, 24, 40, 64):
        assert a * width * width + b * width + c == models.fair_parameter_count(width, spatial)
    assert a * 64 + b * 8 + c != models.fair_parameter_count(8, spatial)  # the stem's width: no shortcut conv
