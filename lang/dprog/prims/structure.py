"""Structural primitives: sums, reshapes, broadcasts and transposes.

These are the linear maps that every other family's rules are written with
(`unbroadcast` sums a cotangent back to an operand's shape), so they sit just
above the core and their own rules use nothing else.
"""

from __future__ import annotations

import math
import weakref

from ..core.backend import xp
from ..core.errors import DpIndexError, DpShapeError
from ..core.values import BATCH_TYPES, TRACER_TYPES, strip_derivatives
from .core import (
    _broadcast_error,
    _nb,
    _norm_axis,
    _shift_axis,
    bind,
    check_size,
    defprim,
    ndarray,
    ndim,
    shape,
)

_shape = shape  # (for functions with a parameter called `shape`)


def move_to_front(x, d: int):
    """x with its axis d moved to the front (vmap's batch axis)."""
    if d == 0:
        return x
    n = ndim(x)
    return transpose(x, (d,) + tuple(i for i in range(n) if i != d))


def move_from_front(x, d: int):
    """x with its front axis moved to position d."""
    if d == 0:
        return x
    rest = list(range(1, ndim(x)))
    return transpose(x, tuple(rest[:d]) + (0,) + tuple(rest[d:]))


def _reshape_batch(p, args, dims, params):
    x = move_to_front(args[0], dims[0])
    return reshape(x, shape(x)[:1] + params["shape"]), 0


def _transpose_batch(p, args, dims, params):
    x = move_to_front(args[0], dims[0])
    nd = ndim(x) - 1
    axes = params.get("axes")
    axes = tuple(reversed(range(nd))) if axes is None else _norm_axis(tuple(axes), nd)
    return transpose(x, (0,) + tuple(a + 1 for a in axes)), 0


def _broadcast_batch(p, args, dims, params):
    x = move_to_front(args[0], dims[0])
    s, target = shape(x), params["shape"]
    if len(s) - 1 < len(target):
        x = reshape(x, s[:1] + (1,) * (len(target) - len(s) + 1) + s[1:])
    return broadcast_to(x, s[:1] + target), 0


def pad_batched(t, out_nd: int, nb: int = 1):
    """Insert unit axes after the batch axis so `t` broadcasts against a rank-`out_nd` value."""
    tn = ndim(t) - nb
    if tn >= out_nd:
        return t
    s = shape(t)
    return reshape(t, s[:nb] + (1,) * (out_nd - tn) + s[nb:])


# jacfwd's (and hessian's) bases of tangents, by id: the rules that can use the
# identity (`A @ x` of a seeded x is A^T, no product) recognise them with
# `is_identity_basis`. Small bases are kept and reused (a Hessian in a loop makes the
# same one each time); larger ones are made per call and known while they live.
_BASE_CACHE: dict[tuple, ndarray] = {}  # (n, xs) -> basis, at most _BASE_KEEP of them
_CACHED_IDS: dict[int, ndarray] = {}  # id -> basis, for the cached ones
_LIVE_IDS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # the others
_BASE_KEEP = 8
_BASE_CACHED_SIZE = 1 << 18  # elements (2 MiB): 8 cached bases hold at most 16 MiB


def identity_basis(n: int, xs: tuple) -> ndarray:
    """eye(n) shaped (n,) + xs, read-only and registered as an identity basis.

    Forward mode pushes it through f as a batch of tangents; a rule that knows its
    tangent is the identity can skip a product with it (`is_identity_basis`).
    """
    key = (n, xs)
    b = _BASE_CACHE.get(key)
    if b is not None:
        return b
    b = xp.eye(n).reshape((n,) + xs)
    b.flags.writeable = False
    if n * n > _BASE_CACHED_SIZE:
        _LIVE_IDS[id(b)] = b
        return b
    if len(_BASE_CACHE) >= _BASE_KEEP:
        old = _BASE_CACHE.pop(next(iter(_BASE_CACHE)))
        del _CACHED_IDS[id(old)]
    _BASE_CACHE[key] = b
    _CACHED_IDS[id(b)] = b
    return b


def is_identity_basis(t) -> bool:
    """Whether `t` is a basis made by `identity_basis` (the very array, not a copy)."""
    if type(t) is not ndarray:
        return False
    b = _CACHED_IDS.get(id(t))
    if b is None:
        b = _LIVE_IDS.get(id(t))
    return b is t


def unbroadcast(g, x):
    """Sum cotangent `g` down to the shape of `x` (undoing NumPy broadcasting)."""
    tg = type(g)
    if tg is ndarray and type(x) is ndarray and g.shape == x.shape:
        return g  # the common case, nothing was broadcast
    if tg is type(x) and tg in BATCH_TYPES and g.shape() == x.shape():
        return g  # the same under vmap: two batches of one example's shape (see below)
    if tg is type(x) and tg in TRACER_TYPES:  # (a cotangent on Duals, under jacfwd)
        gs = g.shape()
        if gs and gs == x.shape():
            return g  # (an array of x's shape: what the lines below find, in fewer calls)
    xs = shape(x)
    gs = shape(g)
    if gs == xs:
        # a number's cotangent as a number, not a 0-d array (under vmap `x` may be a
        # batched array whose example shape is that of a plain array `g`: that `g` stays)
        if not xs and type(strip_derivatives(x)) is not ndarray and \
                type(strip_derivatives(g)) is ndarray:
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


def _axis_error(name):
    def err(args, exc):
        if isinstance(exc, (ValueError, IndexError)) and "axis" in str(exc):
            nd = xp.ndim(args[0])
            return DpIndexError(f"`{name}`: axis out of range for an array with {nd} "
                                f"dimension{'s' if nd != 1 else ''}", None,
                                f"axes run from {-nd} to {nd - 1}" if nd
                                else "a number has no axes")
        return None
    return err


def ans_shape(ans):
    return tuple(shape(ans))


def _batch_shape(t, x):
    """The leading batch axes of tangent `t` of primal `x` (() when not batched)."""
    return tuple(shape(t)[:_nb(t, x)])


# ==================================================================== sum
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


sum_p = defprim(
    "sum", lambda x, axis=None, keepdims=False: xp.sum(x, axis=axis, keepdims=keepdims),
    shape_error=_axis_error("sum"), batch="along axis",
    jvp=(lambda t, ans, x, axis=None, keepdims=False:
         sum_(t, axis=_shift_axis(axis, _nb(t, x), ndim(x)), keepdims=keepdims),),
    vjp=(lambda g, ans, x, axis=None, keepdims=False:
         broadcast_to(_expand_reduced(g, x, axis, keepdims), shape(x)),),
    sig="sum(x, axis=none, *, keepdims=false)", doc="sum of the elements (along `axis`)",
    category="reductions")


# ==================================================================== reshape
def _reshape_error(args, exc):
    return DpShapeError(f"cannot reshape an array of shape {xp.shape(args[0])} "
                        f"({xp.size(args[0])} elements) into the requested shape", None,
                        "the number of elements must stay the same")


reshape_p = defprim(
    "reshape", lambda x, shape: xp.reshape(x, shape), shape_error=_reshape_error,
    batch=_reshape_batch,
    jvp=(lambda t, ans, x, shape: reshape(t, _batch_shape(t, x) + ans_shape(ans)),),
    vjp=(lambda g, ans, x, **_: reshape(g, shape(x)),),  # back to x's own shape
    sig="reshape(x, shape)", category="arrays",
    doc="x with a new shape of the same size (-1 infers one dimension)")


# ==================================================================== transpose
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
    inv = tuple(int(i) for i in xp.argsort(ax))
    return transpose(g, inv)


transpose_p = defprim("transpose", lambda x, axes=None: xp.transpose(x, axes),
                      shape_error=_axis_error("transpose"),
                      jvp=(_transpose_jvp,), vjp=(_transpose_vjp,), batch=_transpose_batch,
                      sig="transpose(x, axes=none)", category="arrays",
                      doc="x with its axes reversed (or permuted by `axes`)")


# ==================================================================== broadcast_to
def _broadcast_to_np(x, shape):
    check_size(math.prod(shape))
    if type(x) is float:  # (sum's cotangent) the same array, without NumPy's broadcast_to
        return xp.full(shape, x)
    return xp.array(xp.broadcast_to(x, shape))


broadcast_to_p = defprim(
    "broadcast_to", _broadcast_to_np, shape_error=_broadcast_error("broadcast"),
    batch=_broadcast_batch,
    jvp=(lambda t, ans, x, shape: broadcast_to(pad_batched(t, len(shape), _nb(t, x)),
                                               _batch_shape(t, x) + tuple(shape)),),
    vjp=(lambda g, ans, x, shape: unbroadcast(g, x),))


# ============================================================ dispatching operations
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


def broadcast_to(x, to):
    if _shape(x) == tuple(to):
        return x
    return bind(broadcast_to_p, (x,), {"shape": tuple(to)})


