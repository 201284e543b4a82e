"""Reference answers of notebook 04: the Keras example's pair, and a fair pair at one parameter budget.

* :func:`example_cnn` and :func:`example_involution_network` rebuild the two models of the
  Keras example "Involutional neural networks" layer for layer (319,178 and 13,074
  trainable parameters).
* :func:`fair_network` is a small RedNet-style network: a stem convolution, three stages of
  bottleneck blocks whose width doubles from stage to stage, global average pooling and a
  linear classifier. ``spatial="involution"`` mixes space with involution,
  ``spatial="conv"`` with 3x3 convolutions (involution's window is 5x5: see
  ``FAIR_KERNEL_SIZE``); everything else is identical.
* :func:`width_for_budget` picks the widest fair network that fits a parameter budget.

Every builder seeds Keras first, so the same call always gives the same initial weights.
"""

from __future__ import annotations

import functools
from fractions import Fraction

from involution_course.models import (  # noqa: F401 - the facts are the student package's
    EXAMPLE_CNN_PARAMETERS,
    EXAMPLE_INVOLUTION_PARAMETERS,
    FAIR_KERNEL_SIZE,
    GROUP_CHANNELS,
    INPUT_SHAPE,
    NUM_CLASSES,
    SPATIAL_OPS,
    WIDTH_STEP,
    trainable_parameters,
)

STAGE_BLOCKS = (2, 2, 2)
EXPANSION = 4
STEM_CHANNELS = 32
DEFAULT_SEED = 0


def example_cnn(seed: int = DEFAULT_SEED):
    """The Keras example's CNN: three 3x3 convolutions ("same" padding), two max-pools,
    Dense 64 and a Dense 10 that outputs logits. 319,178 trainable parameters."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(32, (3, 3), padding="same"),
            layers.ReLU(name="relu1"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), padding="same"),
            layers.ReLU(name="relu2"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), padding="same"),
            layers.ReLU(name="relu3"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(NUM_CLASSES),
        ],
        name="example_cnn",
    )


def example_involution_network(seed: int = DEFAULT_SEED):
    """The Keras example's involution network: three involutions on 3 channels (one group,
    K=3, stride 1, reduction 2), each followed by ReLU, max-pools after the first two,
    then Flatten, Dense 64 and Dense 10 (logits). 13,074 trainable parameters."""
    import keras
    from keras import layers

    from involution_course.layers import Involution

    keras.utils.set_random_seed(seed)

    def involution(name):
        return Involution(kernel_size=3, stride=1, groups=1, reduction_ratio=2, name=name)

    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            involution("inv_1"),
            layers.ReLU(),
            layers.MaxPooling2D((2, 2)),
            involution("inv_2"),
            layers.ReLU(),
            layers.MaxPooling2D((2, 2)),
            involution("inv_3"),
            layers.ReLU(),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(NUM_CLASSES),
        ],
        name="example_involution",
    )


def stage_widths(width: int) -> tuple[int, int, int]:
    """The inner (bottleneck) widths of the three stages: ``width``, ``2*width``, ``4*width``."""
    return (width, 2 * width, 4 * width)


def _check_fair_arguments(width, spatial) -> None:
    if spatial not in SPATIAL_OPS:
        raise ValueError(f"spatial must be one of {SPATIAL_OPS}, got {spatial!r}.")
    step = WIDTH_STEP[spatial]
    if isinstance(width, bool) or not isinstance(width, int) or width < step or width % step:
        why = f" (so that every stage splits into groups of {GROUP_CHANNELS} channels)" if step > 1 else ""
        raise ValueError(f"width of the {spatial} network must be a positive multiple of {step}{why}, got {width!r}.")


def fair_network(width: int, spatial: str = "involution", *, blocks=STAGE_BLOCKS, kernel_size: int | None = None,
                 seed: int = DEFAULT_SEED, name: str | None = None):
    """A RedNet-style network for 32x32 images, identical for both spatial operators.

    Stem: 3x3 convolution to 32 channels + batch norm + ReLU. Then three stages of
    ``STAGE_BLOCKS`` bottleneck blocks; stage ``s`` has inner width ``width * 2**s`` and output
    width ``4 * width * 2**s``; the first block of stages 2 and 3 has stride 2 (32 -> 16 -> 8
    pixels). Involutions use groups of ``GROUP_CHANNELS`` channels, K=5 and reduction 4;
    convolutions K=3 (``kernel_size`` overrides either, for the experiment's sweep).
    Head: global average pooling and a Dense layer to 10 logits.
    """
    import keras
    from keras import layers

    from involution_course.layers import bottleneck

    _check_fair_arguments(width, spatial)
    kernel_size = FAIR_KERNEL_SIZE[spatial] if kernel_size is None else kernel_size
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(INPUT_SHAPE)
    x = layers.Conv2D(STEM_CHANNELS, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for stage, inner in enumerate(stage_widths(width)):
        for block in range(blocks[stage]):
            x = bottleneck(
                x,
                EXPANSION * inner,
                spatial=spatial,
                stride=2 if (stage > 0 and block == 0) else 1,
                kernel_size=kernel_size,
                groups=inner // GROUP_CHANNELS,
                reduction_ratio=4,
                expansion=EXPANSION,
                name=f"stage{stage + 1}_block{block + 1}",
            )
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name=name or f"fair_{spatial}")


# Every layer's parameter count in the fair network is a polynomial of degree at most 2 in
# the width (the groups grow with it too), so three built networks give every other count
# exactly, without building a Keras model per candidate width. The one exception is the width
# whose first block outputs as many channels as the stem, where the shortcut needs no conv.
_FIT_WIDTHS = (16, 24, 32)


@functools.lru_cache(maxsize=None)
def _built_count(width: int, spatial: str) -> int:
    return trainable_parameters(fair_network(width, spatial))


def _fitted_counts(spatial: str) -> tuple[int, int, int]:
    return tuple(_built_count(width, spatial) for width in _FIT_WIDTHS)


def fair_parameter_count(width: int, spatial: str = "involution") -> int:
    """Trainable parameters of ``fair_network(width, spatial)``, from the exact quadratic
    through three built networks (Newton's form, in exact fractions)."""
    _check_fair_arguments(width, spatial)
    if EXPANSION * width == STEM_CHANNELS:
        return _built_count(width, spatial)
    c0, c1, c2 = _fitted_counts(spatial)
    t = Fraction(width - _FIT_WIDTHS[0], _FIT_WIDTHS[1] - _FIT_WIDTHS[0])
    value = c0 + (c1 - c0) * t + (c2 - 2 * c1 + c0) * t * (t - 1) / 2
    if value.denominator != 1:
        raise ArithmeticError(
            f"The parameter count of the {spatial} network is not quadratic in its width; "
            "build the model and count with trainable_parameters(model) instead."
        )
    return int(value)


def largest_width_within(budget: int, count, step: int = 1, *, smallest: int | None = None) -> int:
    """The largest multiple of ``step`` (from ``smallest``, default ``step``) whose
    ``count(width)`` is at most ``budget``. ``count`` must grow with the width.

    Doubles the width until the budget is passed, then bisects, so a few counts suffice.
    """
    smallest = step if smallest is None else smallest
    if count(smallest) > budget:
        raise ValueError(
            f"Even the narrowest network (width {smallest}) has {count(smallest):,} parameters, "
            f"more than the budget of {budget:,}. Raise the budget."
        )
    low, high = smallest, 2 * smallest  # count(low) fits; find a high that does not
    while count(high) <= budget:
        low, high = high, 2 * high
    while high - low > step:
        middle = low + (high - low) // (2 * step) * step
        if count(middle) <= budget:
            low = middle
        else:
            high = middle
    return low


def width_for_budget(budget: int = EXAMPLE_CNN_PARAMETERS, spatial: str = "involution") -> int:
    """The widest fair network of kind ``spatial`` with at most ``budget`` trainable parameters."""
    if spatial not in SPATIAL_OPS:
        raise ValueError(f"spatial must be one of {SPATIAL_OPS}, got {spatial!r}.")
    return largest_width_within(budget, lambda width: fair_parameter_count(width, spatial), WIDTH_STEP[spatial])


def fair_count_curve(spatial: str) -> tuple[Fraction, Fraction, Fraction]:
    """``(a, b, c)`` with ``fair_parameter_count(w, spatial) == a w^2 + b w + c`` for every width but 8."""
    c0, c1, c2 = _fitted_counts(spatial)
    w0, w1, w2 = _FIT_WIDTHS
    a = Fraction(c2 - 2 * c1 + c0, 2 * (w1 - w0) ** 2)
    b = Fraction(c1 - c0, w1 - w0) - a * (w0 + w1)
    return a, b, c0 - a * w0 * w0 - b * w0


def notebook_fixtures() -> dict:
    """The literal values that notebook 04's tests hold (tests/test_models.py keeps them equal)."""
    return {
        "_FAIR_COUNT_INVOLUTION_16": fair_parameter_count(16, "involution"),
        "_FAIR_COUNT_CONV_24": fair_parameter_count(24, "conv"),
        "_FAIR_CURVES": {spatial: tuple(float(v) if v.denominator != 1 else int(v) for v in fair_count_curve(spatial))
                         for spatial in SPATIAL_OPS},
        "_FAIR_WIDTHS": {spatial: width_for_budget(EXAMPLE_CNN_PARAMETERS, spatial) for spatial in SPATIAL_OPS},
    }


if __name__ == "__main__":  # python -m involution_instructor.reference.models: notebook 04's fixtures
    for fixture, value in notebook_fixtures().items():
        print(f"{fixture} = {value!r}")
