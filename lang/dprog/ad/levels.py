"""Trace levels: how nested transformations keep their perturbations apart.

Every trace (a forward-mode `ForwardTrace`, a reverse-mode `Tape`) takes a fresh,
increasing level when its transformation starts. `bind` hands a primitive call to
the trace of the highest level among its arguments, and each trace unwraps only
its own values, so `grad(grad(f))` or `jvp` inside `grad` never confuse whose
tangent is whose. No global trace stack is kept: the levels travel with the values.
"""

from __future__ import annotations

import itertools

_counter = itertools.count(1)


def new_level() -> int:
    """A level above every trace made so far."""
    return next(_counter)
