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

import os
import sys
import time
from _thread import _local

from .backend import xp
from .errors import DpLimitError

# Floating-point operations per second assumed when estimating whether a product can
# finish in the time left: measured once on a small product (the first time a timed
# run meets a large one), times a headroom factor, since large products run faster
# per operation; only what certainly cannot finish should be refused.
_HEADROOM = 2.0
_flops: float | None = None


class Limits(_local):  # threading.local itself, without importing threading (W5)
    """Numeric limits of the interpreter running on this thread (set on entry)."""

    max_array_elements = 10**9
    check_nans = False
    nan_pass = "forward"
    deadline: float | None = None  # time.monotonic() at which the running call's time is up
    max_memory: int | None = None  # bytes the process may grow by during the running call
    memory_base = 0  # the process's resident bytes when the call started
    watch = False  # deadline or max_memory set: large operations check them first


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
        raise DpLimitError(f"time limit exceeded: {what} of about {flops:.1e} operations "
                           f"would not finish in the {left:.2g} s left", None,
                           "use smaller arrays, or raise the host's timeout")


# ------------------------------------------------------------------ memory
# The memory budget (`max_memory`) bounds how much the process's resident memory
# grows during one call: live arrays, the tape, strings, everything the run keeps.
# It is read from /proc/self/statm (Linux; elsewhere the peak from getrusage, which
# only overestimates), before each allocation of more than _WATCHED bytes and between
# steps, and an allocation that would pass it is refused before it is made.
_WATCHED = 1 << 21
WATCHED_BYTES = _WATCHED  # (check_size skips the call for smaller allocations)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """The process's resident memory now (its peak where that is all there is)."""
    try:
        return int(os.pread(_statm(), 256, 0).split()[1]) * _PAGE
    except (OSError, ValueError, IndexError, AttributeError):
        import resource  # a small built-in module (not on Windows)

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


_statm_fd = [-1, -1]  # (pid, descriptor): /proc/self/statm kept open, reread with pread


def _statm() -> int:
    """A descriptor of this process's /proc/<pid>/statm (opening it costs 5x the read);
    opened again in a forked child, whose /proc/self is another file."""
    pid = os.getpid()
    if _statm_fd[0] != pid:
        _statm_fd[1] = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
        _statm_fd[0] = pid
    return _statm_fd[1]


def check_memory(new_bytes: int = 0) -> None:
    """Refuse an allocation of `new_bytes` that would take the run past `max_memory`."""
    cap = LIMITS.max_memory
    if cap is None or (0 < new_bytes < _WATCHED):
        return
    used = resident_bytes() - LIMITS.memory_base
    if used + new_bytes > cap:
        raise DpLimitError(f"memory limit of {cap} bytes exceeded (the run holds about "
                           f"{max(used, 0) >> 20} MB{_and(new_bytes)})", None,
                           "keep fewer large arrays alive (a `grad` tape keeps every "
                           "intermediate), or raise max_memory")


def _and(new_bytes: int) -> str:
    return f" and asks for {new_bytes >> 20} MB more" if new_bytes else ""


def large_operation(elements: int) -> None:
    """Before an array operation making `elements` new elements: the time and memory
    checks (called only when LIMITS.watch is set and the operation is large)."""
    check_deadline()
    check_memory(elements * 8)
