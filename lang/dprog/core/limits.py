"""The limits of the interpreter running on this thread.

`Interpreter._running()` installs its limits here on entry (thread-local, so
two interpreters on two threads keep their own); every room reads them as
`LIMITS` (`prims.core` re-exports it).
"""

from __future__ import annotations

import threading


class Limits(threading.local):
    """Numeric limits of the interpreter running on this thread (set on entry)."""

    max_array_elements = 10**9
    check_nans = False
    nan_pass = "forward"


LIMITS = Limits()
