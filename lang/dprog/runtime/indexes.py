"""What a program writes inside `x[...]`, checked and turned into the canonical index
the indexing primitives take (prims/indexing.py).

Each subscript is read by `index_part` (an int, a slice, `none`, `...`, or an array);
`canonical_index` then checks the whole index against the array's shape and returns a
tuple of ints, slices, None and integer arrays, one entry per indexed axis:

* dprog arrays hold float64, so an array of whole numbers is an index array (`x[[0, 2]]`,
  `x[argsort(v)]`); a non-whole or out-of-range entry is an index error naming it;
* a boolean array (what comparisons give) is a mask: it must match the shape of the
  axes it covers, and becomes the integer arrays of its true positions (`nonzero`);
* `...` becomes as many full slices as the index leaves axes uncovered.
"""

from __future__ import annotations

from ..core.backend import xp
from ..core.errors import DpIndexError, DpTypeError, shown_int
from ..core.values import kind_of, show, strip

ndarray = xp.ndarray
INTP = xp.intp
# the ufuncs' own reductions: a third of the cost of the array methods on small arrays
_all, _min, _max = xp.logical_and.reduce, xp.minimum.reduce, xp.maximum.reduce


def index_part(v, what: str = "index"):
    """One subscript's value as an index part: int, None, Ellipsis, or an array (a
    whole-number float array becomes intp; a bool array stays a mask)."""
    t = type(v)
    if t is int or v is None or v is Ellipsis:
        return v
    v = strip(v)
    t = type(v)
    if t is int:
        return v
    if t is ndarray:
        if v.ndim == 0:
            return index_part(v.item(), what)
        if v.dtype == xp.bool_:
            return v
        return _index_array(v)
    if t is float and v.is_integer():
        raise DpTypeError(f"{what} must be an integer, got the float {show(v)}", None,
                          f"use int(...): `int({show(v)})`")
    raise DpTypeError(f"{what} must be an integer, got {kind_of(v)}", None,
                      "indices are integers (use int(...)), slices a:b:c, arrays of whole "
                      "numbers, boolean masks, `none` or `...`")


def _index_array(v: ndarray) -> ndarray:
    with xp.errstate(invalid="ignore"):  # nan, inf and huge entries are reported below
        ints = v.astype(INTP)
        if _all(xp.equal(ints, v), axis=None):
            return ints
        bad = ~(v == xp.floor(v))  # nan and ±inf included
    if bad.any():
        pos = tuple(int(k) for k in xp.argwhere(bad)[0])
        raise DpIndexError(f"an index array must hold whole numbers, but its entry at "
                           f"{_where(pos)} is {show(float(v[pos]))}", None,
                           "round the indices first, e.g. `x[floor(i)]`, or use a boolean "
                           "mask `x[m]` made by a comparison")
    pos = tuple(int(k) for k in xp.argwhere(ints != v)[0])  # too large for an index
    raise DpIndexError(f"index {show(float(v[pos]))} (entry {_where(pos)} of the index "
                       "array) is out of range", None, "indices run from 0 to n-1")


def _where(pos: tuple) -> str:
    return str(pos[0]) if len(pos) == 1 else str(list(pos))


def canonical_index(shape: tuple, parts: list) -> tuple:
    """The canonical index for an array of `shape` (see the module doc), or a dprog
    index error saying which part does not fit."""
    if len(parts) <= len(shape):  # ints in range and slices (most indexes): as they are
        for k, i in enumerate(parts):
            t = type(i)
            if t is not slice and (t is not int or not -shape[k] <= i < shape[k]):
                break
        else:
            return tuple(parts)
    if any(p is Ellipsis for p in parts):  # (not `in`: that compares arrays elementwise)
        parts = _expand_ellipsis(shape, parts)
    used = sum(_axes_used(i) for i in parts)
    if used > len(shape):
        raise DpIndexError(f"too many indices: {used} for an array of shape {shape}", None,
                           f"this array has {len(shape)} dimension"
                           f"{'s' if len(shape) != 1 else ''}")
    out: list = []
    k = 0
    for i in parts:
        if i is None:
            out.append(None)
            continue
        if type(i) is ndarray and i.dtype == xp.bool_:
            out.extend(_mask(i, shape, k))
            k += i.ndim
            continue
        if type(i) is int:
            _check_int(i, shape[k], k)
        elif type(i) is ndarray:
            _check_array(i, shape[k], k)
        out.append(i)
        k += 1
    _check_broadcast(out)
    return tuple(out)


def _axes_used(i) -> int:
    if i is None:
        return 0
    if type(i) is ndarray and i.dtype == xp.bool_:
        return i.ndim
    return 1


def _expand_ellipsis(shape: tuple, parts: list) -> list:
    at = [j for j, p in enumerate(parts) if p is Ellipsis]
    if len(at) > 1:
        raise DpIndexError("an index can hold only one `...`", None,
                           "`...` stands for all the axes not indexed otherwise")
    j = at[0]
    rest = parts[:j] + parts[j + 1:]
    fill = max(0, len(shape) - sum(_axes_used(i) for i in rest))
    return parts[:j] + [slice(None)] * fill + parts[j + 1:]


def _check_int(i: int, n: int, k: int) -> None:
    if not -n <= i < n:
        raise DpIndexError(f"index {shown_int(i)} is out of range for axis {k} with size {n}",
                           None, f"valid indices are 0 to {n - 1} (or -{n} to -1 from the end)"
                           if n else "this axis is empty")


def _check_array(a: ndarray, n: int, k: int) -> None:
    if not a.size or (_min(a, axis=None) >= -n and _max(a, axis=None) < n):
        return
    bad = (a < -n) | (a >= n)
    if bad.any():
        pos = tuple(int(j) for j in xp.argwhere(bad)[0])
        raise DpIndexError(f"index {int(a[pos])} (entry {_where(pos)} of the index array) is "
                           f"out of range for axis {k} with size {n}", None,
                           f"valid indices are 0 to {n - 1} (or -{n} to -1 from the end)"
                           if n else "this axis is empty")


def _mask(m: ndarray, shape: tuple, k: int) -> tuple:
    covered = tuple(shape[k:k + m.ndim])
    if m.shape != covered:
        axes = f"axis {k}" if m.ndim == 1 else f"axes {k} to {k + m.ndim - 1}"
        raise DpIndexError(f"a boolean mask of shape {m.shape} does not match {axes} of an "
                           f"array of shape {shape}", None,
                           f"a mask must have the shape of the axes it selects: {covered}")
    return tuple(a.astype(INTP, copy=False) for a in m.nonzero())


def _check_broadcast(idx: list) -> None:
    shapes = [xp.shape(i) for i in idx if type(i) is ndarray]
    if len(shapes) < 2:
        return
    try:
        xp.broadcast_shapes(*shapes)
    except ValueError:
        raise DpIndexError("index arrays of shapes " + ", ".join(map(str, shapes)) +
                           " do not broadcast together", None,
                           "index arrays used together pair up entry by entry (NumPy's "
                           "rules): give them the same shape") from None
