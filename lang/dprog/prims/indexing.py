"""Indexing and assembly: reading `x[idx]` (NumPy's basic and advanced indexing), the
functional updates `x[idx] = v` and `x[idx] += v`, the scatter-add that is indexing's
transpose, `stack`, `concat` and the array literal `[a, b, c]`.

The primitives take a *canonical* index, which runtime/indexes.py makes from what a
program wrote: a tuple of ints, slices, None (a new axis) and integer arrays, one entry
per indexed axis (`...` expanded, a boolean mask turned into its integer arrays).
NumPy's rule for where advanced indices put their axes applies: together where they
stand if they are adjacent, else first. A tangent batched on leading axes (jacfwd) is
indexed with slices prepended, so in the second case its batch axes are moved back to
the front (`_to_batch_first`, `_to_numpy_layout`).

Every rule here reads only the shape of the indexed array and never the output
(`lean=`): a tape then records shapes instead of arrays, so a loop of updates keeps
memory linear in its length.
"""

from __future__ import annotations

import math

from ..core.backend import xp
from ..core.errors import DpIndexError, DpShapeError, DpValueError
from ..core.values import TRACER_TYPES
from .batching import all_at_front
from .core import _F64, F64, _nb, _norm_axis, bind, check_size, defprim, ndarray, ndim, shape
from .structure import (
    _batch_shape,
    broadcast_to,
    move_to_front,
    pad_batched,
    transpose,
    unbroadcast,
)


def _index_error(args, exc):
    x = args[0]
    return DpIndexError(f"index out of range for an array of shape {xp.shape(x)}", None,
                        "indices run from 0 to n-1 (or -n to -1 from the end)")


def region_shape(xshape: tuple, idx: tuple) -> tuple:
    """The shape of x[idx] for x of shape `xshape` and a canonical index, by NumPy's
    rules, without indexing anything."""
    out, adv_shapes, at = [], [], None
    separated = False
    any_array = any(type(i) is ndarray for i in idx)
    k = last = 0
    for j, i in enumerate(idx):
        if i is None:
            out.append(1)
        elif type(i) is slice:
            out.append(len(range(*i.indices(xshape[k]))))
            k += 1
        else:
            k += 1
            if not any_array:
                continue  # an int without index arrays drops its axis
            adv_shapes.append(xp.shape(i))
            if at is None:
                at = len(out)
            elif last != j - 1:
                separated = True
            last = j
    out.extend(xshape[k:])
    if adv_shapes:
        pos = 0 if separated else at
        out[pos:pos] = adv_shapes[0] if len(adv_shapes) == 1 else \
            xp.broadcast_shapes(*adv_shapes)
    return tuple(out)


def _front_advanced(idx: tuple) -> int:
    """How many leading result axes NumPy gives the advanced indices when they are not
    adjacent (they then go first); 0 when they are adjacent or absent."""
    if not any(type(i) is ndarray for i in idx):
        return 0
    pos = [j for j, i in enumerate(idx) if type(i) is ndarray or type(i) is int]
    if pos[-1] - pos[0] == len(pos) - 1:
        return 0
    return len(xp.broadcast_shapes(*(xp.shape(idx[j]) for j in pos)))


def _to_batch_first(r, k: int, nb: int):
    """r indexed with nb batch slices in front, when its k advanced axes went first."""
    if not (k and nb):
        return r
    n = ndim(r)
    return transpose(r, tuple(range(k, k + nb)) + tuple(range(k)) + tuple(range(k + nb, n)))


def _to_numpy_layout(t, k: int, nb: int):
    """The inverse of `_to_batch_first`: batch axes moved behind the k advanced axes."""
    if not (k and nb):
        return t
    n = ndim(t)
    return transpose(t, tuple(range(nb, nb + k)) + tuple(range(nb)) + tuple(range(nb + k, n)))


def _batched(idx: tuple, nb: int) -> tuple:
    return (slice(None),) * nb + idx


def _check_steps(idx):
    for i in idx:
        if type(i) is slice and i.step == 0:
            raise DpValueError("slice step cannot be zero", None, "use a step like 1 or -1")


def _has_array(idx) -> bool:
    return ndarray in map(type, idx)  # (no generator: every index asks)


def _getitem_np(x, idx):
    _check_steps(idx)
    if _has_array(idx):
        check_size(math.prod(region_shape(xp.shape(x), idx)))
    return x[idx]


def basic_getitem(x: ndarray, idx: tuple):
    """x[idx] for a float array and an index of ints and slices (a view, or a float):
    what `getitem_p` gives, without its checks; None for any other index (the
    primitive then checks it and reports what is wrong). The tape's fast path."""
    if x.dtype is not _F64:
        return None
    for i in idx:
        t = type(i)
        if t is not int and (t is not slice or i.step == 0):
            return None
    try:
        r = x[idx]
    except IndexError:
        return None
    return r if type(r) is ndarray else float(r)


# ---------------------------------------------------------------- batching rules (vmap)
# The batch goes in front of the indexed array and one slice in front of the index; NumPy
# may then put separated advanced axes first, so the result's batch axis follows them.
def _getitem_batch(p, args, dims, params):
    idx = params["idx"]
    x = move_to_front(args[0], dims[0])
    return getitem(x, _batched(idx, 1)), _front_advanced(idx)


def _index_add_batch(p, args, dims, params):
    idx, s = params["idx"], params["shape"]
    g = move_to_front(args[0], dims[0])
    gs = shape(g)
    g = _to_numpy_layout(pad_batched(g, len(region_shape(s, idx)), 1), _front_advanced(idx), 1)
    return index_add(g, _batched(idx, 1), gs[:1] + s), 0


def _update_batch(p, args, dims, params):
    """x[idx] = v (or +=) on a batch: x with the batch in front (copied out of a
    broadcast when only v is batched), v padded to the region and laid out as NumPy
    wants; never in place (the batch may share memory)."""
    (x, v), (dx, dv) = args, dims
    idx = params["idx"]
    size = shape(x)[dx] if dx is not None else shape(v)[dv]
    x = move_to_front(x, dx) if dx is not None else broadcast_to(x, (size,) + shape(x))
    if dv is None and _front_advanced(idx):
        # separated index arrays put their axes before the batch: an unbatched v, which
        # broadcasts against one example's region, must be laid out like a batched one
        v, dv = broadcast_to(v, (size,) + shape(v)), 0
    if dv is not None:
        v = move_to_front(v, dv)
        v = _to_numpy_layout(pad_batched(v, len(region_shape(shape(x)[1:], idx)), 1),
                             _front_advanced(idx), 1)
    return bind(p, (x, v), {"idx": _batched(idx, 1)}), 0


def _stack_batch(p, args, dims, params):
    xs = all_at_front(args, dims)
    return stack(xs, axis=_norm_axis(params.get("axis", 0), ndim(xs[0])) + 1), 0


def _concat_batch(p, args, dims, params):
    xs = all_at_front(args, dims)
    return concat(xs, axis=_norm_axis(params.get("axis", 0), ndim(xs[0]) - 1) + 1), 0


getitem_p = defprim(
    "index", _getitem_np, shape_error=_index_error, lean=(0,), batch=_getitem_batch,
    jvp=(lambda t, ans, x, idx: _to_batch_first(getitem(t, _batched(idx, _nb(t, x))),
                                                _front_advanced(idx), _nb(t, x)),),
    vjp=(lambda g, ans, x, idx, owned=False: index_add(g, idx, shape(x)),))


def _index_add_np(g, idx, shape):
    return index_add_into(xp.zeros(shape), g, idx)


def index_add_into(z, g, idx):
    """z[idx] += g in place (the float arrays z and g), and z: what `index_add` adds to
    zeros. The tape accumulates an index's cotangent with it (ad/fasttape.py)."""
    if _has_array(idx):
        # an index array may repeat an index: its cotangents add up (g broadcast to the
        # region by hand, as in _setitem_add_np)
        xp.add.at(z, idx, xp.broadcast_to(g, region_shape(xp.shape(z), idx)))
    else:
        z[idx] += g
    return z


def _index_add_jvp(t, ans, g, idx, shape):
    nb, bshape = _nb(t, g), _batch_shape(t, g)
    t = _to_numpy_layout(t, _front_advanced(idx), nb)
    return index_add(t, _batched(idx, nb), bshape + shape)


# the transpose of indexing: a cotangent scattered (added) into zeros of x's shape
index_add_p = defprim("index_add", _index_add_np, lean=(0,), jvp=(_index_add_jvp,),
                      batch=_index_add_batch,
                      vjp=(lambda c, ans, g, idx, shape, owned=False: getitem(c, idx),))


def _region_error(x, v, idx):
    region = region_shape(xp.shape(x), idx)
    return DpShapeError(f"cannot put a value of shape {xp.shape(v)} into an indexed region "
                        f"of shape {region}", None,
                        "the value must broadcast to the indexed region")


def _setitem_np(x, v, idx, inplace=False):
    _check_steps(idx)
    y = x if inplace else xp.array(x, dtype=F64)
    try:
        y[idx] = v
    except ValueError:
        raise _region_error(x, v, idx) from None
    return y


def _setitem_add_np(x, v, idx, inplace=False):
    _check_steps(idx)
    y = x if inplace else xp.array(x, dtype=F64)
    try:
        if _has_array(idx):
            # repeated indices accumulate, like np.add.at; v is first broadcast to the
            # region by hand: NumPy 2.4's add.at adds a value broadcast along the index's
            # leading axes only once (np.add.at(y, [[0, 0], [0, 0]], [a, b]) adds a + b)
            xp.add.at(y, idx, xp.broadcast_to(v, region_shape(y.shape, idx)))
        else:
            y[idx] += v
    except ValueError:
        raise _region_error(x, v, idx) from None
    return y


def _setitem_error(args, exc):
    if isinstance(exc, IndexError):
        return _index_error(args, exc)
    return DpShapeError(f"cannot put a value of shape {xp.shape(args[1])} into the "
                        f"indexed region of an array of shape {xp.shape(args[0])}", None,
                        "the value must broadcast to the indexed region")


def _value_tangent(t, x, v, idx):
    """v's tangent placed into zeros of x's (batched) shape at idx: the tangent of an
    update from its value. `t`'s batch axes lead; NumPy's layout may want them later."""
    nb = _nb(t, v)
    region_nd = len(region_shape(shape(x), idx))
    bshape = _batch_shape(t, v)  # before padding, which adds axes after the batch axis
    if nb:
        t = _to_numpy_layout(pad_batched(t, region_nd, nb), _front_advanced(idx), nb)
    return bshape, t


def _update_jvp(primals, tangents, ans, idx, inplace=False, accumulate=False):
    """The tangent of x[idx] = v (or += v): x's tangent updated by v's at idx. With
    `inplace` the runtime found x's tangent held by x alone (runtime/ownership.py), so
    it is written like x itself."""
    x, v = primals
    tx, tv = tangents
    if tv is None:  # x's tangent with the region zeroed (or kept, for +=)
        return tx if accumulate else setitem(tx, _batched(idx, _nb(tx, x)), 0.0, inplace)
    bshape, tv = _value_tangent(tv, x, v, idx)
    if tx is None:
        tx = zeros_tangent(bshape + shape(x))
    elif _nb(tx, x) < len(bshape):
        tx = broadcast_to(tx, bshape + shape(x))
        inplace = False
    update = setitem_add if accumulate else setitem
    return update(tx, _batched(idx, len(bshape)), tv, inplace and type(tx) is ndarray)


def _update_vjp(g, ans, primals, needs, idx, inplace=False, owned=False, accumulate=False):
    """Cotangents of x[idx] = v (or += v): v's is g at idx, read first; x's is g with
    the region zeroed (for =), written into g itself when the engine holds g alone
    (`owned`), so that a loop of updates stays linear in time."""
    x, v = primals
    inplace = owned and not accumulate and needs[0] and _writable(g)
    gv = unbroadcast(getitem(g, idx), v) if needs[1] else None
    if inplace and type(gv) is ndarray and gv.base is not None:
        gv = xp.array(gv)  # a view of g, which is about to be written
    gx = None
    if needs[0]:
        gx = g if accumulate else setitem(g, idx, 0.0, inplace)
    return [gx, gv]


def _writable(g) -> bool:
    return type(g) is ndarray and g.base is None and g.flags.writeable


def zeros_stand_in(s: tuple):
    """A read-only array of zeros of shape s that takes no memory (zero strides): what a
    tape keeps of an argument whose values its rules never read."""
    return xp.broadcast_to(F64(0.0), s)


def zeros_tangent(s):
    return xp.zeros(s) if s else 0.0


# `inplace=True` (given only by runtime/ops.py for an array nothing else can see) writes
# into x instead of a copy; the rules never read x's values, so it changes nothing else
setitem_p = defprim("index update", _setitem_np, shape_error=_setitem_error, lean=(0, 1),
                    jvp_joint=_update_jvp, vjp_joint=_update_vjp, batch=_update_batch)

# x[idx] += v: every (possibly repeated) index of idx receives its part of v
setitem_add_p = defprim(
    "index accumulate", _setitem_add_np, shape_error=_setitem_error, lean=(0, 1),
    batch=_update_batch,
    jvp_joint=lambda primals, tangents, ans, idx, inplace=False:
        _update_jvp(primals, tangents, ans, idx, inplace, accumulate=True),
    vjp_joint=lambda g, ans, primals, needs, idx, inplace=False, owned=False:
        _update_vjp(g, ans, primals, needs, idx, accumulate=True))


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


def _array_np(*xs):
    for x in xs:
        if type(x) is ndarray:
            return _stack_np(*xs)
    return xp.array(xs, dtype=F64)


def _array_jvp(primals, tangents, ans):
    ts, nb = _all_tangents(primals, tangents)
    return array_literal(ts) if nb == 0 else stack(ts, axis=nb)


def _array_vjp(g, ans, primals, needs):
    if type(g) is ndarray and g.ndim == 1:  # numbers: the cotangent's entries, as floats
        gs = g.tolist()
        return [gs[k] if need else None for k, need in enumerate(needs)]
    return [getitem(g, (k,)) if need else None for k, need in enumerate(needs)]


def _array_batch(p, args, dims, params):
    return stack(all_at_front(args, dims), axis=1), 0


# `[a, b, c]` with a traced element: one operation for the whole literal (numbers, or
# arrays of one shape, stacked along a new first axis), one tangent, one tape record
array_p = defprim("array literal", _array_np, key="array", shape_error=_stack_error,
                  jvp_joint=_array_jvp, vjp_joint=_array_vjp, batch=_array_batch)


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
    if type(x) in TRACER_TYPES:  # what `bind` does for one traced argument
        return x._trace.process(getitem_p, (x,), {"idx": idx})
    return bind(getitem_p, (x,), {"idx": idx})


def index_add(g, idx, shape):
    return bind(index_add_p, (g,), {"idx": idx, "shape": tuple(shape)})


def setitem(x, idx, v, inplace=False):
    return bind(setitem_p, (x, v), {"idx": idx, "inplace": True} if inplace else {"idx": idx})


def setitem_add(x, idx, v, inplace=False):
    return bind(setitem_add_p, (x, v), {"idx": idx, "inplace": True} if inplace else {"idx": idx})


def stack(xs, axis=0):
    return bind(stack_p, tuple(xs), {"axis": axis})


def concat(xs, axis=0):
    return bind(concat_p, tuple(xs), {"axis": axis})


def array_literal(xs):
    return bind(array_p, tuple(xs))


