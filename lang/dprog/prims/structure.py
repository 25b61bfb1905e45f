"""Structural primitives: sums, reshapes, broadcasts and transposes.

These are the linear maps that every other family's rules are written with
(`unbroadcast` sums a cotangent back to an operand's shape), so they sit just
above the core and their own rules use nothing else.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.errors import DpIndexError, DpShapeError
from ..core.values import strip
from .core import (
    _broadcast_error,
    _nb,
    _norm_axis,
    _shift_axis,
    bind,
    check_size,
    ndarray,
    ndim,
    primitive,
    shape,
)


def pad_batched(t, out_nd: int, nb: int = 1):
    """Insert unit axes after the batch axis so `t` broadcasts against a rank-`out_nd` value."""
    tn = ndim(t) - nb
    if tn >= out_nd:
        return t
    s = shape(t)
    return reshape(t, s[:nb] + (1,) * (out_nd - tn) + s[nb:])


def unbroadcast(g, x):
    """Sum cotangent `g` down to the shape of `x` (undoing NumPy broadcasting)."""
    xs = shape(x)
    gs = shape(g)
    if gs == xs:
        if type(strip(x)) is not ndarray and type(strip(g)) is ndarray:
            return sum_(g)
        return g
    extra = len(gs) - len(xs)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, d in enumerate(xs) if d == 1 and gs[i + extra] != 1)
    if axes:
        g = sum_(g, axis=axes)
    if shape(g) != xs:
        g = reshape(g, xs) if xs else sum_(g)
    return g


def _sum_np(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims)


def _axis_error(name):
    def err(args, exc):
        if isinstance(exc, (ValueError, IndexError)) and "axis" in str(exc):
            nd = np.ndim(args[0])
            return DpIndexError(f"`{name}`: axis out of range for an array with {nd} "
                                f"dimension{'s' if nd != 1 else ''}", None,
                                f"axes run from {-nd} to {nd - 1}" if nd
                                else "a number has no axes")
        return None
    return err


sum_p = primitive("sum", _sum_np, shape_error=_axis_error("sum"))
sum_p.jvps = (lambda t, ans, x, axis=None, keepdims=False:
              sum_(t, axis=_shift_axis(axis, _nb(t, x), ndim(x)), keepdims=keepdims),)
sum_p.vjps = (lambda g, ans, x, axis=None, keepdims=False:
              broadcast_to(_expand_reduced(g, x, axis, keepdims), shape(x)),)


def _expand_reduced(g, x, axis, keepdims):
    """Reshape a reduction's cotangent so it broadcasts back over the reduced axes."""
    if keepdims or axis is None:
        return g
    nd = ndim(x)
    axes = _norm_axis(axis, nd)
    axes = axes if isinstance(axes, tuple) else (axes,)
    s = list(shape(x))
    for a in axes:
        s[a] = 1
    return reshape(g, tuple(s))


# ============================================================ structural / linear
def _reshape_np(x, shape):
    return np.reshape(x, shape)


def _reshape_error(args, exc):
    return DpShapeError(f"cannot reshape an array of shape {np.shape(args[0])} "
                        f"({np.size(args[0])} elements) into the requested shape", None,
                        "the number of elements must stay the same")


reshape_p = primitive("reshape", _reshape_np, shape_error=_reshape_error)
reshape_p.jvps = (lambda t, ans, x, shape: reshape(t, _batch_shape(t, x) + ans_shape(ans)),)
reshape_p.vjps = (lambda g, ans, x, shape: reshape(g, _shape_of(x)),)


def ans_shape(ans):
    return tuple(np.shape(strip(ans)))


def _shape_of(x):
    return shape(x)


def _batch_shape(t, x):
    nb = _nb(t, x)
    return tuple(shape(t)[:nb])


def _transpose_np(x, axes=None):
    return np.transpose(x, axes)


transpose_p = primitive("transpose", _transpose_np, shape_error=_axis_error("transpose"))


def _transpose_jvp(t, ans, x, axes=None):
    nb = _nb(t, x)
    if nb == 0:
        return transpose(t, axes)
    nd = ndim(x)
    ax = tuple(reversed(range(nd))) if axes is None else tuple(_norm_axis(a, nd) for a in axes)
    return transpose(t, tuple(range(nb)) + tuple(a + nb for a in ax))


def _transpose_vjp(g, ans, x, axes=None):
    nd = ndim(x)
    if axes is None:
        return transpose(g, None)
    ax = tuple(_norm_axis(a, nd) for a in axes)
    inv = tuple(int(i) for i in np.argsort(ax))
    return transpose(g, inv)


transpose_p.jvps = (_transpose_jvp,)
transpose_p.vjps = (_transpose_vjp,)


def _broadcast_to_np(x, shape):
    check_size(math.prod(shape))
    return np.array(np.broadcast_to(x, shape))


broadcast_to_p = primitive("broadcast_to", _broadcast_to_np,
                           shape_error=_broadcast_error("broadcast"))
broadcast_to_p.jvps = (lambda t, ans, x, shape:
                       broadcast_to(pad_batched(t, len(shape), _nb(t, x)),
                                    _batch_shape(t, x) + tuple(shape)),)
broadcast_to_p.vjps = (lambda g, ans, x, shape: unbroadcast(g, x),)


def sum_(x, axis=None, keepdims=False):
    if axis is None and not keepdims:
        if type(x) is float or type(x) is int:
            return x
        return bind(sum_p, (x,))
    return bind(sum_p, (x,), {"axis": axis, "keepdims": keepdims})


def reshape(x, shape):
    return bind(reshape_p, (x,), {"shape": tuple(shape)})


def transpose(x, axes=None):
    return bind(transpose_p, (x,), {"axes": axes})


def broadcast_to(x, shape):
    if tuple(np.shape(strip(x))) == tuple(shape):
        return x
    return bind(broadcast_to_p, (x,), {"shape": tuple(shape)})


