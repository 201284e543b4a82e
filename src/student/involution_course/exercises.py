"""Using a student's answer to an earlier exercise in a later cell of the same notebook.

A notebook that trains the models its student built calls those functions through
:func:`require`. Where the exercise is not done yet (the function is not defined, or it
still raises ``NotImplementedError``), the cell stops with one sentence that names the
exercise to finish, instead of a long traceback or a silently swapped-in reference.
"""

from __future__ import annotations

import functools
import inspect

__all__ = ["ExerciseUnfinished", "name_unfinished_exercises", "require"]


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


def name_unfinished_exercises(answers: dict[str, str], results: dict | None = None) -> None:
    """Let the cells after the exercises call the student's functions directly.

    ``answers`` maps each function an exercise asks for to its exercise (``{"kernel_maps":
    "Exercise 2"}``), ``results`` each variable that a later cell computes from one to its exercise,
    or to a tuple of its exercise and the results it is computed from (``{"layer_maps": ("Exercise
    2", "layer_kernels")}``: a missing ``layer_maps`` names Exercise 1 when ``layer_kernels`` is
    missing too). Registered once, in an IPython kernel: a cell that fails because one of these is
    not defined yet, or because a function still raises ``NotImplementedError`` when another cell
    calls it, stops with the one sentence of :class:`ExerciseUnfinished` that names the exercise, as
    :func:`require` and ``checks.needs`` do. An answer cell's own "Try it" lines keep nbgrader's
    error. Other errors show as usual; outside IPython nothing changes.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: errors show as usual
        return
    shell = get_ipython()
    if shell is None:
        return
    results = dict(results or {})
    exercise_of = {name: spec if isinstance(spec, str) else spec[0] for name, spec in results.items()}
    needed = {name: () if isinstance(spec, str) else tuple(spec[1:]) for name, spec in results.items()}

    def sentence(etype, value, tb) -> str | None:
        if issubclass(etype, NameError):
            name = getattr(value, "name", None)
            if name in answers:
                return f"Finish {answers[name]} first: `{name}` is not defined yet (run its cell)."
            if name in results:
                # A result computed from an earlier one is missing because that one is.
                earlier = next((e for e in needed[name] if e not in shell.user_ns), None)
                if earlier is not None:
                    return (f"Finish {exercise_of[earlier]} first: this cell uses `{name}`, which cells above compute "
                            f"from it through `{earlier}` (run them again once the exercise is done).")
                return (f"Finish {exercise_of[name]} first: this cell uses `{name}`, which a cell above computes "
                        "from it (run that cell again once the exercise is done).")
            return None
        frames = []
        while tb is not None:
            frames.append(tb.tb_frame)
            tb = tb.tb_next
        for caller, frame in zip(frames, frames[1:]):
            name = frame.f_code.co_name
            if name in answers and frame.f_globals is shell.user_ns:
                if caller.f_code.co_filename == frame.f_code.co_filename:
                    return None  # called in its own cell: the answer cell's "Try it" lines
                return f"Finish {answers[name]} first: `{name}` still raises NotImplementedError."
        return None

    def handler(shell, etype, value, tb, tb_offset=None):
        said = sentence(etype, value, tb)
        if said is None:
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        else:
            unfinished = ExerciseUnfinished(said)
            shell._showtraceback(ExerciseUnfinished, unfinished, unfinished._render_traceback_())
            _report_as(unfinished)

    shell.set_custom_exc((NameError, NotImplementedError), handler)


def _report_as(error: BaseException) -> None:
    """Make the cell's execution result carry ``error``, so that the kernel's reply names the same
    error as the cell's output (nbgrader adds the reply's error to the cell when they differ)."""
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_name == "run_code" and hasattr(frame.f_locals.get("result"), "error_in_exec"):
            frame.f_locals["result"].error_in_exec = error
            return
        frame = frame.f_back
