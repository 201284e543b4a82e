"""Facts about the models of notebook 04 that are not exercises: sizes, budgets and a counter.

The models themselves (the Keras example's pair and the fair pair) are the student's to build.
"""

from __future__ import annotations

INPUT_SHAPE = (32, 32, 3)
NUM_CLASSES = 10
EXAMPLE_CNN_PARAMETERS = 319_178
EXAMPLE_INVOLUTION_PARAMETERS = 13_074
SPATIAL_OPS = ("involution", "conv")
# Channels per involution group in the fair network: involution widths step by 8.
GROUP_CHANNELS = 8
WIDTH_STEP = {"involution": GROUP_CHANNELS, "conv": 1}
# The fair pair's kernel sizes, as in the paper's RedNet against ResNet: a KxK convolution's
# weights grow with K^2 C^2, involution's only with K^2 G, so at one parameter budget involution
# affords the larger window (K=7 would pass the example CNN's budget at width 24; K=5 fits).
FAIR_KERNEL_SIZE = {"involution": 5, "conv": 3}


def design_kernel_size(model: str) -> int:
    """The kernel size of a model of notebook 04 as designed: 5 for the fair involution network,
    3 for every other (``model`` as the experiment names it, e.g. ``"fair_conv"``)."""
    return FAIR_KERNEL_SIZE["involution"] if model == "fair_involution" else 3


def trainable_parameters(model) -> int:
    """The number of trainable scalars of a built Keras model."""
    import numpy as np

    return int(sum(np.prod(weight.shape) for weight in model.trainable_weights))


def parameter_counter(build, *args):
    """``count(width)``: the trainable parameters of ``build(width, *args)``, each width built once.

    A budget search calls ``count`` for a handful of widths, some of them twice; the cache
    keeps every width to one build, e.g. ``parameter_counter(build_fair_network, "conv")``.
    """
    import functools

    @functools.lru_cache(maxsize=None)
    def count(width):
        return trainable_parameters(build(width, *args))

    return count
