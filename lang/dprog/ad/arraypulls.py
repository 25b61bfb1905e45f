"""`FastTape`'s backward pass for the array records a net makes at every step.

The generic pull (fasttape.py's `_pull_general`) calls each VJP rule, and the rule
calls the dispatching operations, which test their operands again: for a small
array that is most of the time of the step. The pulls here compute the cotangents
of `+`, `-`, `@` (a matrix and a vector), `tanh`, `logsumexp` and an index with the
very NumPy calls those rules make on float arrays, so the values are the rules'
to the bit, and add them into the parents' slots. Anything else (a primal traced
at a lower level, broadcasting, a nan, --check-nans) returns False and the rules
run. `tests/test_tape.py` compares them with the rules and the reference tape.

The cotangent accumulation (`accumulate`, in place when only the backward pass
holds the sum) lives here too, so that both modules share it.
"""

from __future__ import annotations

import sys

from ..core.backend import xp
from ..prims import core
from ..prims import primitives as P
from ..prims.core import _F64, _LARGE, LIMITS, _nan_free
from ..prims.indexing import index_add_into
from .reverse import RNode

_getrefcount = sys.getrefcount
ndarray = xp.ndarray


def _refs_of_an_item(items: list) -> int:
    x = items[0]
    return _getrefcount(x)


# getrefcount of a cotangent held only by the `ct` list, read in `accumulate`
_OWNED_IN_CT = _refs_of_an_item([object()])


def owned(acc) -> bool:
    """Whether the cotangent `acc` (read from `ct` by the caller) is a float array that
    nothing else holds or views: the backward pass may then add into it in place."""
    return (type(acc) is ndarray and acc.dtype is _F64 and acc.base is None
            and _getrefcount(acc) <= _OWNED_IN_CT + 1 and acc.flags.writeable
            and not core.NAN_CHECK)


def accumulate(ct: list, j: int, c) -> None:
    """ct[j] += c; in place when ct[j] is an array of the same shape that only `ct`
    holds (made by a rule in this pass), so a weight used at every step of a loop
    gets one gradient array, not one per step."""
    acc = ct[j]
    if acc is None:
        ct[j] = c
    elif (type(c) is ndarray and type(acc) is ndarray and c.shape == acc.shape
          and c.dtype is _F64 and acc.dtype is _F64 and acc.base is None
          and _getrefcount(acc) <= _OWNED_IN_CT and acc.flags.writeable
          and not core.NAN_CHECK):  # (`owned`, inline: this runs for every parent)
        xp.add(acc, c, out=acc)
    else:
        ct[j] = P.add(acc, c)


def _parents(args, tape, g):
    """The slots of the two arguments when each is this tape's float array of g's shape
    (its cotangent is then g's shape, nothing broadcast), -1 for a constant; None when
    the shortcut does not apply (g not a float array, broadcasting, --check-nans)."""
    if type(g) is not ndarray or g.dtype is not _F64 or core.NAN_CHECK:
        return None
    a, b = args
    s = g.shape
    if type(a) is RNode and a._trace is tape:
        x = a.primal
        if type(x) is not ndarray or x.dtype is not _F64 or x.shape != s:
            return None
        ja = a.idx
    else:
        ja = -1
    if type(b) is RNode and b._trace is tape:
        x = b.primal
        if type(x) is not ndarray or x.dtype is not _F64 or x.shape != s:
            return None
        return ja, b.idx
    return ja, -1


def _pull_add(tape, ct, g, args, out, params) -> bool:
    """a + b: g to both (`unbroadcast(g, x)` is g itself when the shapes agree)."""
    return _pull_sum(tape, ct, g, args, False)


def _pull_sub(tape, ct, g, args, out, params) -> bool:
    """a - b: g and -g."""
    return _pull_sum(tape, ct, g, args, True)


def _pull_sum(tape, ct, g, args, negate_b: bool) -> bool:
    js = _parents(args, tape, g)
    if js is None:
        return False
    ja, jb = js
    if ja >= 0:
        accumulate(ct, ja, g)
    if jb >= 0:
        accumulate(ct, jb, xp.negative(g) if negate_b else g)
    return True


def _pull_matmul(tape, ct, g, args, out, params) -> bool:
    """A @ v (matrix, vector) or v @ A: an outer product and a vector-matrix product,
    as `_matmul_vjp_a` / `_matmul_vjp_b` compute them on float arrays."""
    if type(g) is not ndarray or g.dtype is not _F64 or g.ndim != 1 or core.NAN_CHECK:
        return False
    a, b = args
    ra = type(a) is RNode and a._trace is tape
    rb = type(b) is RNode and b._trace is tape
    pa = a.primal if ra else a
    pb = b.primal if rb else b
    if type(pa) is not ndarray or type(pb) is not ndarray:
        return False
    if pa.ndim == 2 and pb.ndim == 1:  # A @ v: dA = outer(g, v), dv = g @ A
        if ra and not tape.defer_outer(ct, a.idx, g, pb):
            accumulate(ct, a.idx, xp.multiply.outer(g, pb))
        if rb:
            accumulate(ct, b.idx, P.matmul(g, pa))
        return True
    if pa.ndim == 1 and pb.ndim == 2:  # v @ A: dv = A @ g, dA = outer(v, g)
        if ra:
            accumulate(ct, a.idx, P.matmul(pb, g))
        if rb and not tape.defer_outer(ct, b.idx, pa, g):
            accumulate(ct, b.idx, xp.multiply.outer(pa, g))
        return True
    return False


def _pull_tanh(tape, ct, g, args, out, params) -> bool:
    """tanh: g * (1 - ans * ans), unless that holds a nan (then `safe_mul` decides)."""
    (a,) = args
    if (type(g) is not ndarray or g.dtype is not _F64 or type(out) is not ndarray
            or out.shape != g.shape or core.NAN_CHECK):
        return False
    if not (type(a) is RNode and a._trace is tape):
        return True  # (a constant's: nothing to pull back)
    d = xp.multiply(out, out)
    xp.subtract(1.0, d, out=d)
    xp.multiply(g, d, out=d)
    if not _nan_free(d):
        return False
    accumulate(ct, a.idx, d)
    return True


def _pull_logsumexp(tape, ct, g, args, out, params) -> bool:
    """logsumexp over every axis: g * exp(x - ans), for a finite nonzero float g."""
    (a,) = args
    if (params.get("axis") is not None or type(g) is not float or type(out) is not float
            or not (g - g == 0.0 and g != 0) or core.NAN_CHECK):
        return False
    if not (type(a) is RNode and a._trace is tape):
        return True
    x = a.primal
    if type(x) is not ndarray or x.dtype is not _F64 or not x.ndim:
        return False
    e = xp.subtract(x, out)
    xp.exp(e, out=e)
    xp.multiply(g, e, out=e)
    accumulate(ct, a.idx, e)
    return True


def _pull_index(tape, ct, g, args, out, params) -> bool:
    """x[idx]: g added into x's cotangent where it is an array only `ct` holds, or into
    zeros of x's shape (what the rule's `index_add` makes)."""
    x = args[0]
    if (type(x) is not RNode or x._trace is not tape
            or type(g) is not ndarray and type(g) is not float):
        return False
    j = x.idx
    acc = ct[j]
    idx = params["idx"]
    if acc is None:
        s = P.shape(x.primal)  # (a shape-only stand-in)
        if (not s or core.NAN_CHECK or type(g) is ndarray and g.dtype is not _F64
                or LIMITS.watch and x.primal.size > _LARGE):
            return False
        ct[j] = index_add_into(xp.zeros(s), g, idx)
        return True
    if not owned(acc):
        return False
    index_add_into(acc, g, idx)
    return True


# primitive -> its shortcut (the others' cotangents always come from their rules)
ARRAY_PULLS = {P.add_p: _pull_add, P.sub_p: _pull_sub, P.matmul_p: _pull_matmul,
               P.tanh_p: _pull_tanh, P.logsumexp_p: _pull_logsumexp, P.getitem_p: _pull_index}
