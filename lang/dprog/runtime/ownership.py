"""When an update `a[i] = v` may write into `a`'s array instead of copying it.

dprog's arrays are values: an update gives the variable a new array and leaves every
other holder of the old one unchanged. Copying the whole array for each `a[i] = ...`
makes a loop of n updates cost n² though. When nothing but the variable itself can
see the old array, writing into it is indistinguishable from copying, and that is
decided here from CPython's reference counts: the variable, the updating closure's
local and the call's argument are the only references (measured once below, on the
same code shape), the array owns its memory (no view, so no other array shares it)
and is writable (constant literals are read-only). A traced value qualifies when each
level of tracing down to the array is likewise held once, and so is a forward-mode
value's tangent (which the update's JVP rule then writes too): a tape keeps no
reference to an update's value (prims/indexing.py's primitives are `lean`), while any
other use of the old value (a recorded operation, a second variable, a record field, a
caller's argument) holds one more reference, and the update copies.
"""

from __future__ import annotations

import sys

from ..ad.forward import Dual
from ..core.backend import xp
from ..core.values import TRACER_TYPES

_getrefcount = sys.getrefcount


def _count(obj) -> int:
    return _getrefcount(obj)


def _held_by_one_slot() -> int:
    """getrefcount, in a callee, of a value read from a frame slot into a local, as the
    updater reads it and calls `sole_holder`."""
    frame = [xp.zeros(1)]
    obj = (lambda f: f[0])(frame)
    return _count(obj)


def _held_by_one_attribute() -> int:
    """getrefcount of a tracer's primal read into a local, as `may_write` does."""
    class Holder:
        __slots__ = ("primal",)
    h = Holder()
    h.primal = xp.zeros(1)
    v = h.primal
    return _getrefcount(v)


SOLE_VARIABLE = _held_by_one_slot()
SOLE_PRIMAL = _held_by_one_attribute()


def sole_holder(obj) -> bool:
    """True when the variable `obj` was just read from is its only holder; called by the
    compiled updater right after reading it (the counts include that reading)."""
    return _getrefcount(obj) <= SOLE_VARIABLE


def may_write(obj) -> bool:
    """Whether an update of `obj`, already known to be held by its variable alone, may
    write into its array: every primal below it held once, and the array writable and
    owning its memory."""
    v = obj
    while type(v) in TRACER_TYPES:
        if type(v) is Dual and not _tangent_writable(v):
            return False
        nxt = v.primal
        if _getrefcount(nxt) > SOLE_PRIMAL:
            return False
        v = nxt
    return _writable(v)


def _writable(a) -> bool:
    return (type(a) is xp.ndarray and a.dtype == xp.float64 and a.base is None
            and a.flags.writeable)


def _tangent_writable(d: Dual) -> bool:
    """A forward-mode value's tangent, written by the update's JVP rule: a number, or
    an array held by this value alone (an addition's tangent may be its operand's)."""
    t = d.tangent
    if type(t) is float:
        return True
    return _getrefcount(t) <= SOLE_PRIMAL and _writable(t)
