"""Indexing and assembly: reading `x[idx]`, the functional update `x[idx] = v`, the
scatter-add that is indexing's transpose, `stack` and `concat`."""

from __future__ import annotations

from ..core.backend import xp
from ..core.errors import DpIndexError, DpShapeError, DpValueError
from .batching import all_at_front
from .core import F64, _nb, _norm_axis, bind, check_size, defprim, ndarray, ndim, shape
from .structure import (
    _batch_shape,
    broadcast_to,
    move_from_front,
    move_to_front,
    pad_batched,
    reshape,
    unbroadcast,
)


def _index_error(args, exc):
    x = args[0]
    return DpIndexError(f"index out of range for an array of shape {xp.shape(x)}", None,
                        "indices run from 0 to n-1 (or -n to -1 from the end)")


def _getitem_np(x, idx):
    _check_steps(idx)
    return x[idx]


def _check_steps(idx):
    for i in idx if type(idx) is tuple else (idx,):
        if type(i) is slice and i.step == 0:
            raise DpValueError("slice step cannot be zero", None, "use a step like 1 or -1")


def _basic(idx) -> bool:
    """Only ints, slices, none and `...`: indexing that keeps a leading batch axis in front."""
    return all(i is None or i is Ellipsis or type(i) in (int, slice) for i in idx)


def _batched_index(idx):
    """(index with a leading batch slice, axis of the batch in the result), or None.

    Index arrays (integer, not traced) keep NumPy's rule: when they are separated by
    a slice, their dimensions go first, and the batch axis follows them."""
    if _basic(idx):
        return (slice(None),) + idx, 0
    arrays = [k for k, i in enumerate(idx) if type(i) is ndarray]
    if any(not (i is None or i is Ellipsis or type(i) in (int, slice) or
                (type(i) is ndarray and i.dtype.kind in "iu")) for i in idx):
        return None  # boolean masks, traced indices: once per example
    advanced = [k for k, i in enumerate(idx) if type(i) is ndarray or type(i) is int]
    together = advanced == list(range(advanced[0], advanced[-1] + 1))
    if together:
        return (slice(None),) + idx, 0
    return (slice(None),) + idx, xp.broadcast_shapes(*(idx[k].shape for k in arrays)).__len__()


def _region_ndim(s, idx) -> int:
    """The rank of x[idx] for an x of shape s (a zero-stride view: nothing is copied)."""
    return xp.broadcast_to(0.0, s)[idx].ndim


def _getitem_batch(p, args, dims, params):
    plan = _batched_index(params["idx"])
    if plan is None:
        return None
    x = move_to_front(args[0], dims[0])
    return getitem(x, plan[0]), plan[1]


def _index_add_batch(p, args, dims, params):
    idx, s = params["idx"], params["shape"]
    plan = _batched_index(idx)
    if plan is None:
        return None
    g = move_to_front(args[0], dims[0])
    gs = shape(g)
    nd = _region_ndim(s, idx)
    if len(gs) - 1 < nd:
        g = reshape(g, gs[:1] + (1,) * (nd - len(gs) + 1) + gs[1:])
    return index_add(move_from_front(g, plan[1]), plan[0], gs[:1] + s), 0


def _setitem_batch(p, args, dims, params):
    idx = params["idx"]
    if not _basic(idx):
        return None
    (x, v), (dx, dv) = args, dims
    size = shape(x)[dx] if dx is not None else shape(v)[dv]
    x = move_to_front(x, dx) if dx is not None else broadcast_to(x, (size,) + shape(x))
    if dv is not None:
        v = move_to_front(v, dv)
        vs = shape(v)
        nd = _region_ndim(shape(x)[1:], idx)
        if len(vs) - 1 < nd:
            v = reshape(v, vs[:1] + (1,) * (nd - len(vs) + 1) + vs[1:])
    return setitem(x, (slice(None),) + idx, v), 0


def _stack_batch(p, args, dims, params):
    xs = all_at_front(args, dims)
    nd = ndim(xs[0]) - 1
    return stack(xs, axis=_norm_axis(params.get("axis", 0), nd + 1) + 1), 0


def _concat_batch(p, args, dims, params):
    xs = all_at_front(args, dims)
    nd = ndim(xs[0]) - 1
    return concat(xs, axis=_norm_axis(params.get("axis", 0), nd) + 1), 0


getitem_p = defprim("index", _getitem_np, shape_error=_index_error, batch=_getitem_batch,
                    jvp=(lambda t, ans, x, idx: getitem(t, (slice(None),) * _nb(t, x) + idx),),
                    vjp=(lambda g, ans, x, idx: index_add(g, idx, shape(x)),))


def _index_add_np(g, idx, shape):
    z = xp.zeros(shape)
    if any(type(i) is ndarray for i in (idx if type(idx) is tuple else (idx,))):
        xp.add.at(z, idx, g)  # an index array may repeat an index: its cotangents add up
    else:
        z[idx] = g
    return z


# the transpose of indexing: a cotangent scattered (added) into zeros of x's shape
index_add_p = defprim(
    "index_add", _index_add_np, batch=_index_add_batch,
    jvp=(lambda t, ans, g, idx, shape:
         index_add(t, (slice(None),) * _nb(t, g) + idx, _batch_shape(t, g) + shape),),
    vjp=(lambda c, ans, g, idx, shape: getitem(c, idx),))


def _setitem_np(x, v, idx):
    _check_steps(idx)
    y = xp.array(x, dtype=F64)
    try:
        y[idx] = v
    except ValueError:
        region = xp.shape(y[idx])
        raise DpShapeError(f"cannot put a value of shape {xp.shape(v)} into an indexed region "
                           f"of shape {region}", None,
                           "the value must broadcast to the indexed region") from None
    return y


def _setitem_error(args, exc):
    if isinstance(exc, IndexError):
        return _index_error(args, exc)
    return DpShapeError(f"cannot put a value of shape {xp.shape(args[1])} into the "
                        f"indexed region of an array of shape {xp.shape(args[0])}", None,
                        "the value must broadcast to the indexed region")


def _setitem_jvp_x(t, ans, x, v, idx):
    nb = _nb(t, x)
    return setitem(t, (slice(None),) * nb + idx, 0.0)


def _setitem_jvp_v(t, ans, x, v, idx):
    nb = _nb(t, v)
    region_nd = _region_ndim(shape(ans), idx)
    bshape = _batch_shape(t, v)  # before padding, which adds axes after the batch axis
    t = pad_batched(t, region_nd, nb) if nb else t
    return setitem(zeros_tangent(bshape + shape(x)), (slice(None),) * nb + idx, t)


def zeros_tangent(s):
    return xp.zeros(s) if s else 0.0


setitem_p = defprim("index update", _setitem_np, shape_error=_setitem_error,
                    batch=_setitem_batch,
                    jvp=(_setitem_jvp_x, _setitem_jvp_v),
                    vjp=(lambda g, ans, x, v, idx: setitem(g, idx, 0.0),
                         lambda g, ans, x, v, idx: unbroadcast(getitem(g, idx), v)))


def _stack_np(*xs, axis=0):
    check_size(sum(xp.size(x) for x in xs))
    return xp.stack(xs, axis=axis)


def _stack_error(args, exc):
    shapes = ", ".join(str(xp.shape(a)) for a in args)
    return DpShapeError(f"array elements must all have the same shape, got {shapes}", None,
                        "arrays are rectangular: every row needs the same length")


def _all_tangents(primals, tangents) -> tuple[list, int]:
    """Every operand's tangent (zeros for constants, batched like the others) and the
    number of batch axes, for the joint rules of stack and concat."""
    t, x = next((t, x) for t, x in zip(tangents, primals) if t is not None)
    nb, bshape = _nb(t, x), _batch_shape(t, x)
    return [t if t is not None else zeros_tangent(bshape + shape(x))
            for t, x in zip(tangents, primals)], nb


def _stack_jvp(primals, tangents, ans, axis=0):
    ts, nb = _all_tangents(primals, tangents)
    return stack(ts, axis=_norm_axis(axis, ndim(primals[0]) + 1) + nb)


def _stack_vjp(g, ans, primals, needs, axis=0):
    nd = ndim(ans)
    ax = _norm_axis(axis, nd)
    out = []
    for k, need in enumerate(needs):
        if not need:
            out.append(None)
            continue
        idx = tuple(k if i == ax else slice(None) for i in range(nd))
        out.append(getitem(g, idx))
    return out


stack_p = defprim("stack", _stack_np, shape_error=_stack_error, jvp_joint=_stack_jvp,
                  batch=_stack_batch,
                  vjp_joint=_stack_vjp, sig="stack(xs, axis=0)", category="arrays",
                  doc="join a tuple of equal-shaped arrays along a new axis")


def _concat_np(*xs, axis=0):
    check_size(sum(xp.size(x) for x in xs))
    return xp.concatenate(xs, axis=axis)


def _concat_error(args, exc):
    shapes = ", ".join(str(xp.shape(a)) for a in args)
    return DpShapeError(f"cannot concatenate arrays of shapes {shapes}", None,
                        "all dimensions except the concatenation axis must agree")


def _concat_jvp(primals, tangents, ans, axis=0):
    ts, nb = _all_tangents(primals, tangents)
    return concat(ts, axis=_norm_axis(axis, ndim(primals[0])) + nb)


def _concat_vjp(g, ans, primals, needs, axis=0):
    nd = ndim(ans)
    ax = _norm_axis(axis, nd)
    out = []
    start = 0
    for x, need in zip(primals, needs):
        n = shape(x)[ax]
        if need:
            idx = tuple(slice(start, start + n) if i == ax else slice(None) for i in range(nd))
            out.append(getitem(g, idx))
        else:
            out.append(None)
        start += n
    return out


concat_p = defprim("concat", _concat_np, shape_error=_concat_error, jvp_joint=_concat_jvp,
                   batch=_concat_batch,
                   vjp_joint=_concat_vjp, sig="concat(xs, axis=0)", category="arrays",
                   doc="join a tuple of arrays along an existing axis")


# ============================================================ dispatching operations
def getitem(x, idx):
    return bind(getitem_p, (x,), {"idx": idx})


def index_add(g, idx, shape):
    return bind(index_add_p, (g,), {"idx": idx, "shape": tuple(shape)})


def setitem(x, idx, v):
    return bind(setitem_p, (x, v), {"idx": idx})


def stack(xs, axis=0):
    return bind(stack_p, tuple(xs), {"axis": axis})


def concat(xs, axis=0):
    return bind(concat_p, tuple(xs), {"axis": axis})


