"""The limits of the interpreter running on this thread, and the time checks.

`Interpreter._running()` installs its limits here on entry (thread-local, so
two interpreters on two threads keep their own); every room reads them as
`LIMITS` (`prims.core` re-exports it). The evaluator checks its timeout
between steps (runtime/state.py); the long work between two steps — a
backward pass, a Jacobian's rows, a large matrix product, parsing and
compiling — checks `LIMITS.deadline` itself with `check_deadline`, and
refuses up front, with `check_cost`, a product that cannot finish in the time
left (issue 18, item 6).
"""

from __future__ import annotations

import threading
import time

from .backend import xp
from .errors import DpLimitError

# Floating-point operations per second assumed when estimating whether a product can
# finish in the time left: measured once on a small product (the first time a timed
# run meets a large one), times a headroom factor, since large products run faster
# per operation; only what certainly cannot finish should be refused.
_HEADROOM = 2.0
_flops: float | None = None


class Limits(threading.local):
    """Numeric limits of the interpreter running on this thread (set on entry)."""

    max_array_elements = 10**9
    check_nans = False
    nan_pass = "forward"
    deadline: float | None = None  # time.monotonic() at which the running call's time is up


LIMITS = Limits()


def time_exceeded() -> DpLimitError:
    return DpLimitError("time limit exceeded", None,
                        "the program ran longer than the host's timeout")


def check_deadline() -> None:
    """Raise the timeout's error if the running call is past its deadline."""
    d = LIMITS.deadline
    if d is not None and time.monotonic() > d:
        raise time_exceeded()


def _rate() -> float:
    """The machine's matrix-product speed (operations per second), measured once."""
    global _flops
    if _flops is None:
        a = xp.ones((256, 256))
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            xp.matmul(a, a)
            best = min(best, time.perf_counter() - t0)
        _flops = min(max(2 * 256**3 / max(best, 1e-9) * _HEADROOM, 1e9), 1e12)
    return _flops


def check_cost(flops: float, what: str) -> None:
    """Refuse work of about `flops` operations that cannot finish before the deadline."""
    d = LIMITS.deadline
    if d is None:
        return
    left = d - time.monotonic()
    if left <= 0:
        raise time_exceeded()
    if flops > left * _rate():
        raise DpLimitError(f"{what} of about {flops:.1e} operations cannot finish in the "
                           f"{left:.2g} s left before the timeout", None,
                           "use smaller arrays, or raise the host's timeout")
