"""Progress bars that suit both a notebook (widgets) and a terminal."""

from __future__ import annotations

import os


def progress_bar(iterable=None, **kwargs):
    """A ``tqdm`` bar: a widget in Jupyter, text in a terminal.

    ``INVOLUTION_COURSE_NO_PROGRESS=1`` turns every bar off (logs, CI).
    """
    from tqdm.auto import tqdm

    if os.environ.get("INVOLUTION_COURSE_NO_PROGRESS"):
        kwargs["disable"] = True
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
