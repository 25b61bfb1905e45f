"""Errors at the boundary between a host program and dprog: what an exception that
escaped the evaluator or host code becomes. Apart from convert.py (the conversions of
values, which the embedding alone needs), so that every run can use it cheaply."""

from __future__ import annotations

from contextlib import contextmanager

from ..core.backend import xp
from ..core.errors import DpError, DpHostError, DpInternalError, DpLimitError


def host_error(what: str, exc: BaseException) -> DpError:
    """A DpHostError for an exception raised by host code (the caller chains `from exc`).

    Python running out of stack while host code and dprog call each other is the
    program's recursion, not the host's fault: a limits error, as for dprog alone.
    """
    if isinstance(exc, RecursionError):
        return DpLimitError("recursion too deep for the host (through "
                            f"{what.replace('the Python function ', '')})", None,
                            "is a recursive function missing its base case?")
    return DpHostError(f"{what} raised {type(exc).__name__}: {exc}", None,
                       "the error comes from the host program (see the Python cause)")


def as_dp_error(exc: BaseException) -> DpError:
    """Any exception that escaped the evaluator, as the DpError the host receives."""
    if isinstance(exc, RecursionError):
        return DpLimitError("recursion too deep for the host", None,
                            "lower max_depth or simplify the recursion")
    if isinstance(exc, MemoryError):
        return DpLimitError("out of memory", None, "the program allocates too much; "
                            "lower max_array_elements to stop it earlier")
    return DpInternalError(f"internal error: {type(exc).__name__}: {exc}", None,
                           "this is a bug in dprog; please report it with the program")


@contextmanager
def host_guard():
    """For transformations of plain Python functions (no interpreter): no escapes either."""
    try:
        with xp.errstate(all="ignore"):
            yield
    except DpError:
        raise
    except Exception as exc:
        raise as_dp_error(exc) from exc
