"""How many threads BLAS (NumPy's linear algebra) may use while dprog runs.

NumPy's BLAS starts one thread per core and spins them between calls. On a
machine whose cores are shared (other programs, or parallel_map's own worker
processes) that oversubscribes the cores, and linear-algebra-heavy programs
become many times slower (docs/scaling.md has the numbers measured). An
interpreter with `threads=N` runs its calls under a limit of N BLAS threads,
set and restored with threadpoolctl; `dp` sets its default before NumPy loads,
through the environment, which costs nothing at start-up.
"""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext

# `dp`'s default: measured on the 2-core machine of docs/scaling.md, one thread loses
# at most ~1.8x on a lone 1000x1000 product and wins many times over as soon as
# another process shares the cores (see the table there).
DEFAULT_THREADS = 1

_ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
_controller = None


def check_threads(threads) -> None:
    if threads is not None and (type(threads) is not int or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")


def set_before_numpy(threads: int) -> bool:
    """Limit BLAS through the environment if NumPy is not loaded yet (free); True if
    that worked."""
    if "numpy" in sys.modules:
        return False
    for var in _ENV_VARS:
        os.environ[var] = str(threads)
    return True


def env_limit_set() -> bool:
    """True if the user's environment already limits BLAS threads."""
    return any(var in os.environ for var in _ENV_VARS)


def blas_limit(threads: int | None):
    """A context manager running its body with at most `threads` BLAS threads
    (None: leave BLAS alone). threadpoolctl is imported on first use."""
    if threads is None:
        return nullcontext()
    global _controller
    if _controller is None:
        import threadpoolctl  # lazily: only interpreters given `threads` pay for it

        _controller = threadpoolctl.ThreadpoolController()
    return _controller.limit(limits=threads, user_api="blas")
