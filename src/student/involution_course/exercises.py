"""Using a student's answer to an earlier exercise in a later cell of the same notebook.

A notebook that trains the models its student built calls those functions through
:func:`require`. Where the exercise is not done yet (the function is not defined, or it
still raises ``NotImplementedError``), the cell stops with one sentence that names the
exercise to finish, instead of a long traceback or a silently swapped-in reference.
"""

from __future__ import annotations

import functools
import inspect

__all__ = ["ExerciseUnfinished", "require"]


class ExerciseUnfinished(RuntimeError):
    """A later cell needs an exercise that is not done yet."""

    def _render_traceback_(self):
        # IPython shows these lines instead of a traceback: the sentence is all a student needs.
        return [f"{type(self).__name__}: {self}"]


def require(fn_or_name, exercise: str, namespace: dict | None = None):
    """The function that ``exercise`` asks for, ready to call.

    ``fn_or_name`` is the function itself or its name; a name is looked up in ``namespace``,
    by default the calling notebook's globals, so that a function never defined is reported
    too. Calling the result runs the student's function unchanged, except that a
    ``NotImplementedError`` becomes :class:`ExerciseUnfinished` naming ``exercise``.
    """
    if isinstance(fn_or_name, str):
        name = fn_or_name
        if namespace is None:
            caller = inspect.currentframe().f_back
            namespace = caller.f_globals if caller is not None else {}
        fn = namespace.get(name)
        if fn is None:
            raise ExerciseUnfinished(f"Finish {exercise} first: `{name}` is not defined yet (run its cell).")
    else:
        fn, name = fn_or_name, getattr(fn_or_name, "__name__", repr(fn_or_name))
    if not callable(fn):
        raise ExerciseUnfinished(f"Finish {exercise} first: `{name}` should be a function, not {type(fn).__name__}.")

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            raise ExerciseUnfinished(
                f"Finish {exercise} first: `{name}` still raises NotImplementedError."
            ) from None

    return checked
