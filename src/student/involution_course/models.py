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


def trainable_parameters(model) -> int:
    """The number of trainable scalars of a built Keras model."""
    import numpy as np

    return int(sum(np.prod(weight.shape) for weight in model.trainable_weights))
