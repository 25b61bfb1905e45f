"""The C allocator's thresholds for a process running dprog (glibc only).

Differentiated programs allocate and free the same medium-sized arrays (0.1-10 MB:
tangents, cotangents, the tape's residuals) again and again. glibc's malloc starts
by giving each array above 128 KB its own mmap and by returning freed memory at the
top of the heap to the system; it raises those thresholds only after the first large
array is freed, and a Hessian or an RNN step then still returns and re-faults its
peak every call: 146 and 170 page faults per call on the bench's W4 and RNN rows
(zero for the hand-written NumPy limits), ~25-40 % of their time.

`tune_allocator()` sets, once per process, the values glibc's own dynamic rule ends
at on 64-bit systems (arrays up to 32 MB come from the heap; up to 64 MB of freed
memory at its top is kept for reuse, as PyTorch's caching allocator and JAX's keep
theirs), so the first call is as fast as the hundredth. It does nothing elsewhere
(macOS, musl, Windows) and when the environment says `DPROG_MALLOC=default` or sets
glibc's own `MALLOC_*_THRESHOLD_` variables (Dask sets MALLOC_TRIM_THRESHOLD_ for its
workers, to return memory to the system); docs/embedding.md tells embedders.
"""

from __future__ import annotations

import ctypes  # (already loaded by NumPy's import: free)
import os

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc sets with it when it raises it

_done = False


def tune_allocator() -> bool:
    """Set glibc's thresholds (once; later calls return at once); True if set now."""
    global _done
    if _done:
        return False
    _done = True
    if os.environ.get("DPROG_MALLOC") == "default" or any(
            v in os.environ for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (AttributeError, ValueError, OSError):  # not glibc
        return False
    try:
        return bool(_mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                    and _mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False


def _mallopt(param: int, value: int) -> int:
    return ctypes.CDLL(None).mallopt(param, value)
