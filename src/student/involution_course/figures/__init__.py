"""Figures of the course, drawn by code with matplotlib.

Every function takes arrays and returns a ``matplotlib.figure.Figure``, so tests
can check figures without a screen (Agg backend) and notebooks stay short.
One module per topic: ``convolution``, ``involution``, ``layer``, ``training``, ``kernels``.
"""

from __future__ import annotations

from . import convolution, involution, kernels, layer, training  # noqa: F401
from .convolution import *  # noqa: F401,F403
from .involution import *  # noqa: F401,F403
from .kernels import *  # noqa: F401,F403
from .layer import *  # noqa: F401,F403
from .training import *  # noqa: F401,F403
