"""Batching rules: how a primitive runs on a whole batch at once (for `vmap`).

A batching rule is the third interpretation of a primitive, beside its NumPy
implementation and its derivative rules, and is declared with it (`defprim`'s
`batch=`). It is called as `rule(p, args, dims, params)`: `args` are the
arguments with their batch axis still in place, `dims[k]` is the axis of
argument k that holds the batch (None: the argument is the same for every
example), and it returns `(result, result_dim)`, or None when it has no vectorised way for these
arguments (index arrays, say): then the batch runs once per example. Rules are written with the
dispatching operations, so an enclosing transformation (a `grad` around the
`vmap`) records them like any other operation.

Most primitives use one of the named rules below (`batch="elementwise"`, ...);
`"per example"` declares that a primitive has no vectorised rule: the batch
runs it once per example and stacks the results (ad/batching.py), which is
always correct and slower. ad/batching.py looks the names up in `NAMED`.
"""

from __future__ import annotations

from .core import _norm_axis, bind, ndarray, ndim, shape
from .structure import broadcast_to, move_from_front, move_to_front, reshape

__all__ = ["ELEMENTWISE", "NAMED", "PER_EXAMPLE", "move_from_front", "move_to_front"]

PER_EXAMPLE = "per example"
ELEMENTWISE = "elementwise"


def batch_size(args, dims) -> int:
    for a, d in zip(args, dims):
        if d is not None:
            return shape(a)[d]
    raise AssertionError("a batching rule called without a batched argument")


def all_at_front(args, dims) -> list:
    """Every argument with a leading batch axis (the unbatched ones broadcast to it)."""
    size = batch_size(args, dims)
    out = []
    for a, d in zip(args, dims):
        if d is None:
            out.append(broadcast_to(a, (size,) + shape(a)))
        else:
            out.append(move_to_front(a, d))
    return out


def elementwise(p, args, dims, params):
    """NumPy broadcasting aligns trailing axes: a batched argument gets its batch axis
    in front and unit axes after it up to the result's rank."""
    ranks = [ndim(a) - (d is not None) for a, d in zip(args, dims)]
    out_nd = max(ranks)
    if all(d is None or (d == 0 and r == out_nd) for d, r in zip(dims, ranks)):
        return _apply(p, tuple(args), params), 0  # already aligned (the common case)
    new = []
    for a, d in zip(args, dims):
        if d is not None:
            a = move_to_front(a, d)
            s = shape(a)
            if len(s) - 1 < out_nd:
                s = s[:1] + (1,) * (out_nd - len(s) + 1) + s[1:]
                # (a plain array: its reshape method, what the primitive would call)
                a = a.reshape(s) if type(a) is ndarray else reshape(a, s)
        new.append(a)
    return _apply(p, tuple(new), params), 0


def _apply(p, args, params):
    """bind(p, args, params), through p's dispatching operation (its fast paths) when
    there is one and no parameters."""
    op = p.op
    if op is not None and not params:
        if len(args) == 2:
            return op(args[0], args[1])
        if len(args) == 1:
            return op(args[0])
    return bind(p, args, params)


def same_axes(p, args, dims, params):
    """A primitive that works on each element (or each row) alone and keeps every axis
    (round(x, digits)): the batch axis stays where it is."""
    (x,), (d,) = args, dims
    return bind(p, (x,), params), d


def _shift(axis, nd: int):
    """An axis argument of one example's array, for the array with the batch in front."""
    if axis is None:
        return tuple(range(1, nd + 1))
    axis = _norm_axis(axis, nd)
    if isinstance(axis, tuple):
        return tuple(a + 1 for a in axis)
    return axis + 1


def along_axis(p, args, dims, params):
    """A primitive with an `axis=` parameter (None: every axis) that reduces or scans
    along it: the batch goes in front and the axes move up by one."""
    new = all_at_front(args, dims)
    nd = ndim(new[0]) - 1
    params = dict(params)
    params["axis"] = _shift(params.get("axis"), nd)
    return bind(p, tuple(new), params), 0


def flat_axis(p, args, dims, params):
    """As `along_axis`, for primitives whose `axis=None` means the flattened array
    (cumsum, argmax): each example is flattened first."""
    params = dict(params)
    new = all_at_front(args, dims)
    if params.get("axis") is None:
        x = new[0]
        new[0] = reshape(x, (shape(x)[0], -1))
        params["axis"] = 1
        return bind(p, tuple(new), params), 0
    return along_axis(p, tuple(new), (0,) * len(new), params)


def leading_stack(p, args, dims, params):
    """Linear algebra that NumPy already runs over stacks of matrices (inv, det): the
    batch is one more leading axis."""
    return bind(p, tuple(all_at_front(args, dims)), params), 0


def broadcast_stack(p, args, dims, params):
    """Linear algebra whose implementation broadcasts the stack axes of its operands (the
    triangular solve and product, (..., n, n) with (..., n, k)): aligned as elementwise
    operands are, an unbatched operand is not copied along the batch (a single
    triangular matrix then solves the whole batch of right-hand sides in one call)."""
    return elementwise(p, args, dims, params)


NAMED = {PER_EXAMPLE: None, ELEMENTWISE: elementwise, "same axes": same_axes,
         "along axis": along_axis, "flat axis": flat_axis, "leading stack": leading_stack,
         "broadcast stack": broadcast_stack}
