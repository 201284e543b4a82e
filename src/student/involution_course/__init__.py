"""Involution Course: the shared code that every notebook of the course imports.

Modules, one job each:

* ``profiles``  - how much data and training every notebook uses;
* ``data``      - CIFAR-10 from a local copy or the Keras download;
* ``notebook``  - the set-up that the first cell of each notebook runs;
* ``headlines`` - the figures each notebook reports to ``make course``;
* ``progress``  - progress bars for notebooks and terminals;
* ``check``     - ``involution-course check NOTEBOOK``: the visible tests, run as grading will.
"""

from .notebook import silence_framework_logging as _silence

# Runs at import, before any notebook cell can import TensorFlow, because
# nbgrader fails a test cell that writes TensorFlow's start-up logs to stderr.
_silence()

from .data import CLASS_NAMES, DataError, load_cifar10, load_profile_data  # noqa: E402
from .headlines import record  # noqa: E402
from .notebook import setup_notebook  # noqa: E402
from .profiles import PROFILES, Profile, get_profile  # noqa: E402

__version__ = "0.2.0"

__all__ = [
    "CLASS_NAMES",
    "DataError",
    "PROFILES",
    "Profile",
    "get_profile",
    "load_cifar10",
    "load_profile_data",
    "record",
    "setup_notebook",
]
