"""The dispatching operations: what the evaluator and the rules call for a primitive.

`binary_op(p)` and `unary_op(p)` make a primitive's operation with the fast paths
that skip `bind`: two Python numbers go to the primitive's scalar function, float
arrays straight to the ufunc, a traced operand to its trace's `process1`/`process2`.
Everything else, and every error, goes through `core.apply_impl`, so the results
are those of `bind`; the property tests compare both.
"""

from __future__ import annotations

from ..core.values import TRACER_TYPES
from . import core
from .core import _F64, EMPTY, LIMITS, Primitive, apply_impl, bind, large_operation, ndarray

# Operations on arrays larger than this check the time and memory budgets first when
# the host set them (a few hundred per second at most: each costs a millisecond).
_BIG = 1 << 18


def _no_scalar(a, b):
    raise OverflowError  # no Python-number version: apply_impl computes it with NumPy


def binary_op(p: Primitive, npfn=None, other=None):
    """The dispatching operation for binary primitive p.

    Two Python numbers: `p.scalar`, no NumPy. Two float arrays (or an array and a
    number) with `npfn`: the ufunc directly. Traced values: their trace. All
    else, and every error, goes through `apply_impl`.
    """
    pyop = p.scalar if p.scalar is not None else _no_scalar
    tracers = TRACER_TYPES if p.differentiable else ()

    def op(a, b):
        ta, tb = type(a), type(b)
        if ta is float or ta is int:
            if tb is float or tb is int:
                try:
                    r = pyop(a, b)
                except (ZeroDivisionError, OverflowError):
                    pass
                else:
                    if r == r or not core.NAN_CHECK:
                        return r
                return apply_impl(p, (a, b), EMPTY)
            if tb in tracers:  # a number and a traced value (2.0 * x)
                return b._trace.process2(p, a, b)
        elif ta in tracers:
            tr = a._trace
            if tb in tracers and b._trace.level > tr.level:
                tr = b._trace
            return tr.process2(p, a, b)
        if npfn is not None and not core.NAN_CHECK and (
                (ta is ndarray and (tb is float or tb is int or (tb is ndarray and (
                    a.shape == b.shape or a.size * b.size <= LIMITS.max_array_elements)))) or
                ((ta is float or ta is int) and tb is ndarray)):
            n = a.size if ta is ndarray else b.size
            if n > _BIG and LIMITS.watch:
                large_operation(n)  # the time and memory budgets, before it
            try:
                r = npfn(a, b)
            except Exception:  # noqa: BLE001 - apply_impl below reports it properly
                pass
            else:
                if type(r) is ndarray and r.ndim and r.dtype is _F64:
                    return r
        if tb in tracers:  # (a is not traced here)
            return b._trace.process2(p, a, b)
        if nondiff:  # (no d): bind strips traced operands
            return bind(p, (a, b))
        if other is not None and (ta is str or ta is tuple or tb is str or tb is tuple):
            return other(a, b)
        return apply_impl(p, (a, b), EMPTY)
    nondiff = not p.differentiable
    op.__name__ = p.name
    p.op = op
    return op


def unary_op(p: Primitive):
    """The dispatching operation for unary primitive p (fast paths as `binary_op`)."""
    fn = p.scalar
    tracers = TRACER_TYPES
    npfn = p.impl if p.elementwise else None

    if fn is None:
        def op(x):
            return bind(p, (x,))
    else:
        def op(x):
            tx = type(x)
            if tx is float or tx is int:
                try:
                    r = fn(x)
                except (ArithmeticError, ValueError):  # 1 / 0, log(-1): NumPy decides
                    pass
                else:
                    if r == r or not core.NAN_CHECK:
                        return r
            elif tx is ndarray and npfn is not None and not core.NAN_CHECK and x.dtype is _F64:
                if x.size > _BIG and LIMITS.watch:
                    large_operation(x.size)  # the time and memory budgets, before it
                r = npfn(x)
                if type(r) is ndarray and r.dtype is _F64 and r.ndim:
                    return r
            elif tx in tracers and p.differentiable:
                return x._trace.process1(p, x)
            return bind(p, (x,))
    op.__name__ = p.name
    op.prim = p  # lets the tape build a direct recorder for this builtin (ad.unary_recorder)
    p.op = op
    return op
