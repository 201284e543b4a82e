"""What the first code cell of every notebook calls."""

from __future__ import annotations

import os
import random

from .profiles import Profile, get_profile


def setup_notebook(seed: int = 0, *, quiet: bool = False) -> Profile:
    """Prepare a notebook: quiet logging, seeded randomness, the active profile.

    Returns the profile (``INVOLUTION_COURSE_PROFILE``) so that cells can read
    sizes and epochs from it.
    """
    silence_framework_logging()
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    profile = get_profile()
    _show_figures_inline()
    if not quiet:
        print(f"Involution Course - profile '{profile.name}': {profile.description}.")
    return profile


def _show_figures_inline() -> None:
    """Make a returned ``matplotlib.figure.Figure`` render as a picture in Jupyter.

    The course's figure functions build figures without pyplot; IPython shows them only
    once the inline backend has registered its formatters.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "run_line_magic"):
        shell.run_line_magic("matplotlib", "inline")


def silence_framework_logging() -> None:
    """Keep TensorFlow's start-up chatter off stderr.

    nbgrader scores a test cell that writes to stderr as failed, so this must run
    before TensorFlow is first imported.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass
