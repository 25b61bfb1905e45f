"""Orders and gathers along one axis: `argsort`, and `take_along` with its transpose
`put_along` (NumPy's take_along_axis and an accumulating put_along_axis).

`sort`, `take_along_axis`, the order statistics (median, quantile) and cumprod's zero
handling are built from these in lib/. The indices are an *operand* here, not a static
parameter as for `x[idx]` (prims/indexing.py): an order computed inside `vmap` differs
from example to example, so under vmap it is a batched value, and the gather is still
one NumPy call for the whole batch instead of one run per example.

Indices are float64 arrays of whole numbers (dprog's numbers), checked where they are
used: in the implementation, where every value is concrete.
"""

from __future__ import annotations

from ..core.backend import xp
from ..core.errors import DpIndexError, DpTypeError
from ..core.values import show
from .batching import all_at_front
from .core import F64, _nb, bind, defprim, ndim, shape
from .structure import pad_batched, reshape


def _positions(idx, n: int, name: str):
    """idx as intp positions along an axis of length n (negative ones from the end),
    or a dprog error for entries that are not whole numbers or out of range."""
    a = xp.asarray(idx)
    if a.dtype.kind == "b":
        raise DpTypeError(f"`{name}`: indices must be integers, got a boolean array", None,
                          "use where(mask) for the positions of the true entries")
    if a.dtype.kind in "iu":
        i = a
    else:
        ok = xp.isfinite(a) & (a == xp.round(a))
        if not ok.all():
            bad = a[~ok].flat[0]
            raise DpTypeError(f"`{name}`: indices must be whole numbers, got "
                              f"{show(float(bad))}", None, "round them first, e.g. floor(x)")
        i = a.astype(xp.intp)
    if i.size and (i.min() < -n or i.max() >= n):
        bad = i[(i < -n) | (i >= n)].flat[0]
        raise DpIndexError(f"`{name}`: index {int(bad)} is out of range for length {n}", None,
                           f"indices run from 0 to {n - 1} (or {-n} to -1 from the end)"
                           if n else "the axis is empty")
    return i % max(n, 1)


def _argsort_np(x, axis):
    return xp.argsort(x, axis=axis, kind="stable").astype(F64)


def _take_along_np(x, idx, axis):
    return xp.take_along_axis(x, _positions(idx, xp.shape(x)[axis], "take_along_axis"), axis=axis)


def _put_along_np(g, idx, shape, axis):
    """Zeros of `shape` with g (broadcast to the gathered region) added at idx along
    `axis` (entries picked twice add up;
    an axis of length 1 that the gather broadcast gets the sum along it)."""
    z = xp.zeros(shape)
    i = _positions(idx, shape[axis], "put_along")
    full = xp.broadcast_shapes(xp.shape(i), xp.shape(g))
    nd = len(full)
    grids = []
    for d, n in enumerate(full):
        if d == axis:
            grids.append(i)
            continue
        at = xp.arange(n) if shape[d] == n else xp.zeros(1, dtype=xp.intp)
        grids.append(at.reshape((1,) * d + (-1,) + (1,) * (nd - d - 1)))
    xp.add.at(z, tuple(xp.broadcast_arrays(*grids)), xp.broadcast_to(g, full))
    return z


def _lead(idx, nb: int):
    """idx with nb unit axes in front, to broadcast against a tangent's batch axes."""
    return reshape(idx, (1,) * nb + shape(idx)) if nb else idx


def _take_along_jvp(t, ans, x, idx, axis):
    nb = _nb(t, x)
    return take_along(t, _lead(idx, nb), axis + nb)


def _put_along_jvp(t, ans, g, idx, shape, axis):
    nb = _nb(t, g)  # (g, and so t, may be of lower rank than idx: it broadcasts)
    return put_along(pad_batched(t, ndim(idx), nb), _lead(idx, nb),
                     _batch_dims(t, nb) + tuple(shape), axis + nb)


def _batch_dims(t, nb: int) -> tuple:
    return tuple(shape(t)[:nb])


def _gather_batch(p, args, dims, params):
    """Both operands with the batch in front (an unbatched one broadcast along it)."""
    x, idx = all_at_front(args, dims)
    return take_along(x, idx, params["axis"] + 1), 0


def _scatter_batch(p, args, dims, params):
    g, idx = all_at_front(args, dims)
    g = pad_batched(g, ndim(idx) - 1)  # a cotangent may be of lower rank: it broadcasts
    size = shape(g)[0]
    return put_along(g, idx, (size,) + tuple(params["shape"]), params["axis"] + 1), 0


argsort_p = defprim("argsort", _argsort_np, differentiable=False, batch="along axis")

take_along_p = defprim(
    "take_along_axis", _take_along_np, key="take_along", lean=(0,), batch=_gather_batch,
    jvp=(_take_along_jvp, None),
    vjp=(lambda g, ans, x, idx, axis, owned=False: put_along(g, idx, shape(x), axis), None))

# the transpose of take_along: a cotangent added into zeros at the gathered positions
put_along_p = defprim(
    "put_along", _put_along_np, lean=(0,), batch=_scatter_batch,
    jvp=(_put_along_jvp, None),
    vjp=(lambda c, ans, g, idx, shape, axis, owned=False: take_along(c, idx, axis), None))


def argsort(x, axis: int):
    """The stable order of x along `axis` (a non-negative int), as float64 indices."""
    return bind(argsort_p, (x,), {"axis": axis})


def take_along(x, idx, axis: int):
    return bind(take_along_p, (x, idx), {"axis": axis})


def put_along(g, idx, shape, axis: int):
    return bind(put_along_p, (g, idx), {"shape": tuple(shape), "axis": axis})


__all__ = ["argsort", "argsort_p", "put_along", "put_along_p", "take_along", "take_along_p"]
