"""Sorting, selecting and assembling: sort, argsort, searchsorted, unique, take,
take_along_axis, pad and split.

The differentiable ones are gathers (`P.getitem` with index arrays), so their
derivatives are those of indexing at every order: a sorted or padded position
passes its cotangent back to the element it came from, and elements picked
twice add up. The order of a sort is decided on the values (a constant): tied
elements keep their order (a stable sort, as NumPy's kind="stable" and JAX),
so each tied position passes its derivative to the one element placed there.
"""

from __future__ import annotations

import math

from ..core.backend import xp
from ..core.errors import DpIndexError, DpShapeError, DpTypeError, DpValueError
from ..core.values import kind_of, show, strip
from ..prims import primitives as P
from .table import _bool_arg, _int_arg, _num, axis_index, builtin


# ============================================================== argument helpers
def flat_or_axis(x, axis, name: str):
    """(x, axis): x flattened with axis 0 when axis is none, else the axis checked.
    A number counts as a vector of one element."""
    if axis is None:
        return P.reshape(x, (-1,)), 0
    if P.ndim(x) == 0:
        raise DpIndexError(f"`{name}`: a number has no axis {strip(axis)}", None,
                           "leave out axis=, or pass an array")
    return x, axis_index(axis, P.ndim(x), name)


def int_indices(v, n: int, name: str, what: str = "indices"):
    """Integer positions (a number or an array of whole numbers) checked against a
    length n and made non-negative, as an int array (or int)."""
    v = strip(v)
    if type(v) is tuple:
        v = strip(_num(v, name, what))
    if type(v) is bool or type(v) not in (int, float, xp.ndarray):
        raise DpTypeError(f"`{name}`: {what} must be integers, got {kind_of(v)}", None, None)
    a = xp.asarray(v, dtype=xp.float64)
    if a.size and not (xp.all(xp.isfinite(a)) and xp.all(a == xp.round(a))):
        bad = a[~(xp.isfinite(a) & (a == xp.round(a)))].flat[0]
        raise DpTypeError(f"`{name}`: {what} must be whole numbers, got {show(float(bad))}",
                          None, "round them first, e.g. floor(x)")
    if a.size and (a.min() < -n or a.max() >= n):
        bad = a[(a < -n) | (a >= n)].flat[0]
        raise DpIndexError(f"`{name}`: index {int(bad)} is out of range for length {n}", None,
                           f"indices run from 0 to {n - 1} (or {-n} to -1 from the end)"
                           if n else "the axis is empty")
    i = a.astype(xp.int64) % max(n, 1)
    return int(i) if i.ndim == 0 else i


def _along(axis: int, nd: int, idx) -> tuple:
    """An index tuple that applies `idx` to axis `axis` of a rank-nd array."""
    return (slice(None),) * axis + (idx,) + (slice(None),) * (nd - axis - 1)


def gather_along(x, idx, axis: int):
    """x's entries at idx (whole numbers shaped like x but along `axis`, possibly traced,
    e.g. an order found inside vmap), as take_along_axis: differentiable in x."""
    return P.take_along(x, idx, axis)


# ================================================================ sorting
def sort_along(x, axis: int):
    """x sorted along `axis` (stable: tied entries keep their order)."""
    return P.take_along(x, P.argsort(x, axis), axis)


@builtin("sort(x, axis=-1)", "x sorted in ascending order along `axis` (the flattened array "
         "for axis=none); nan last, ties keep their order", "arrays")
def _sort(x, axis=-1):
    x = _num(x, "sort")
    if axis is not None and P.ndim(x) == 0:
        return x
    x, a = flat_or_axis(x, axis, "sort")
    return sort_along(x, a)


@builtin("argsort(x, axis=-1)", "the indices that sort x along `axis` (stable: ties keep "
         "their order)", "arrays", "no d")
def _argsort(x, axis=-1):
    x = _num(x, "argsort")
    if axis is not None and P.ndim(x) == 0:
        return 0
    x, a = flat_or_axis(x, axis, "argsort")
    return P.argsort(x, a)


@builtin("searchsorted(a, v, side=\"left\")", "where the values v would go in the sorted "
         "vector a to keep it sorted (side \"left\": before equal entries, \"right\": after)",
         "arrays", "no d")
def _searchsorted(a, v, side="left"):
    a = strip(_num(a, "searchsorted", "a"))
    v = strip(_num(v, "searchsorted", "v"))
    if P.ndim(a) != 1:
        raise DpShapeError(f"`searchsorted` needs a vector `a`, got shape {P.shape(a)}", None,
                           "flatten it with reshape(a, -1) (it must be sorted)")
    if side not in ("left", "right"):
        raise DpValueError(f"`searchsorted`: side must be \"left\" or \"right\", got "
                           f"{show(side)}", None, None)
    r = xp.searchsorted(a, v, side=side)
    return int(r) if xp.ndim(r) == 0 else r.astype(xp.float64)


@builtin("unique(x, return_index=false, return_inverse=false, return_counts=false, "
         "axis=none)", "the sorted distinct values of x (flattened; with an axis: the distinct "
         "slices along it); with the flags also, in this order, where each first occurs, the "
         "index of each entry's value among them, and how often each occurs (a tuple), as "
         "NumPy's", "arrays", "no d")
def _unique(x, return_index=False, return_inverse=False, return_counts=False, axis=None):
    x = xp.asarray(strip(_num(x, "unique")), dtype=xp.float64)
    flags = tuple(_bool_arg(v, "unique", what) for v, what in (
        (return_index, "return_index"), (return_inverse, "return_inverse"),
        (return_counts, "return_counts")))
    if axis is not None:
        if x.ndim == 0:
            raise DpShapeError("`unique` of a number has no axis", None, "leave axis out")
        axis = axis_index(_int_arg(axis, "unique", "axis"), x.ndim, "unique")
    r = xp.unique(x, *flags, axis=axis)
    if not any(flags):
        return r
    return (r[0],) + tuple(a.astype(xp.float64) for a in r[1:])


# ============================================================== picking
@builtin("take(x, indices, axis=none)", "the entries of x at `indices` along `axis` (of the "
         "flattened x for axis=none); an array of indices gives an array", "arrays")
def _take(x, indices, axis=None):
    x = _num(x, "take")
    x, a = flat_or_axis(x, axis, "take")
    idx = int_indices(indices, P.shape(x)[a], "take")
    return P.getitem(x, _along(a, P.ndim(x), idx))


@builtin("take_along_axis(x, indices, axis)", "the entries of x at `indices` along `axis` "
         "(indices shaped like x but along that axis, as argsort gives)", "arrays")
def _take_along_axis(x, indices, axis):
    x = _num(x, "take_along_axis")
    x, a = flat_or_axis(x, axis, "take_along_axis")
    if type(indices) is bool:
        raise DpTypeError("`take_along_axis`: indices must be integers, got bool", None, None)
    # (whole numbers within range: checked by the gather, where the values are known)
    idx = _num(indices, "take_along_axis", "indices")
    if P.ndim(idx) != P.ndim(x):
        raise DpShapeError(f"`take_along_axis`: indices have {P.ndim(idx)} dimensions but x "
                           f"has {P.ndim(x)}", None, "they must have the same number")
    s = P.shape(x)
    want = tuple(d for i, d in enumerate(s) if i != a)
    got = tuple(d for i, d in enumerate(P.shape(idx)) if i != a)
    try:
        xp.broadcast_shapes(want, got)
    except ValueError:
        raise DpShapeError(f"`take_along_axis`: indices of shape {P.shape(idx)} do not fit x "
                           f"of shape {s} outside axis {a}", None, None) from None
    return gather_along(x, idx, a)


# ============================================================== assembling
_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _pad_widths(pad_width, nd: int) -> list[tuple[int, int]]:
    w = strip(pad_width)
    try:
        arr = xp.broadcast_to(xp.asarray(_nested(w) if type(w) is tuple else w,
                                         dtype=xp.float64), (nd, 2))
    except (ValueError, TypeError):
        raise DpValueError(f"`pad`: pad_width must be an int, a pair (before, after) or one "
                           f"pair per axis ({nd}), got {show(w)}", None,
                           "e.g. pad(x, 1) or pad(x, ((1, 1), (0, 2)))") from None
    if not (xp.all(arr == xp.round(arr)) and xp.all(arr >= 0)):
        raise DpValueError(f"`pad`: widths must be non-negative integers, got {show(w)}",
                           None, None)
    return [(int(b), int(e)) for b, e in arr]


def _nested(t):
    return [(_nested(v) if type(v) is tuple else strip(v)) for v in t]


@builtin("pad(x, pad_width, mode=\"constant\", constant_values=0)", "x with borders added: "
         "pad_width is n, (before, after) or one pair per axis; mode \"constant\", \"edge\", "
         "\"reflect\", \"symmetric\" or \"wrap\"", "arrays")
def _pad(x, pad_width, mode="constant", constant_values=0):
    x = _num(x, "pad")
    if P.ndim(x) == 0:
        raise DpShapeError("`pad` needs an array, got a number", None,
                           "make it one first, e.g. pad([x], 1)")
    if mode not in _PAD_MODES:
        raise DpValueError(f"`pad`: unknown mode {show(mode)}", None,
                           "modes: " + ", ".join(f'"{m}"' for m in _PAD_MODES))
    widths = _pad_widths(pad_width, P.ndim(x))
    out_shape = tuple(d + b + e for d, (b, e) in zip(P.shape(x), widths))
    P.check_size(math.prod(out_shape))
    if mode == "constant":
        c = _num(constant_values, "pad", "constant_values")
        if P.ndim(c) != 0:
            raise DpValueError("`pad`: constant_values must be one number", None, None)
        inner = tuple(slice(b, b + d) for d, (b, e) in zip(P.shape(x), widths))
        body = P.index_add(x, inner, out_shape)
        if type(c) in (int, float) and c == 0:
            return body
        border = xp.ones(out_shape)
        border[inner] = 0.0
        return P.add(body, P.mul(c, border))
    for a, (b, e) in enumerate(widths):
        n = P.shape(x)[a]
        if n == 0 and b + e:
            raise DpValueError(f"`pad`: mode {show(mode)} cannot pad an empty axis", None,
                               "use mode \"constant\"")
        if b or e:
            idx = xp.pad(xp.arange(n), (b, e), mode=mode)
            x = P.getitem(x, _along(a, P.ndim(x), idx))
    return x


@builtin("split(x, indices_or_sections, axis=0)", "a tuple of pieces of x along `axis`: n "
         "equal pieces, or cut before each index of a tuple", "arrays")
def _split(x, indices_or_sections, axis=0):
    x = _num(x, "split")
    if P.ndim(x) == 0:
        raise DpShapeError("`split` needs an array, got a number", None, None)
    a = axis_index(axis, P.ndim(x), "split")
    n = P.shape(x)[a]
    s = strip(indices_or_sections)
    if type(s) is tuple or type(s) is xp.ndarray:
        cuts = [_int_arg(c, "split", "an index") for c in (s if type(s) is tuple
                                                         else [int(v) for v in s])]
        bounds = [0] + [min(max(c + n if c < 0 else c, 0), n) for c in cuts] + [n]
    else:
        k = _int_arg(s, "split", "indices_or_sections")
        if k <= 0:
            raise DpValueError(f"`split`: the number of sections must be positive, got {k}",
                               None, None)
        if n % k:
            raise DpValueError(f"`split`: an axis of length {n} does not divide into {k} "
                               "equal sections", None, "pass the cut indices as a tuple")
        bounds = list(range(0, n + 1, n // k)) if n else [0] * (k + 1)
    nd = P.ndim(x)
    return tuple(P.getitem(x, _along(a, nd, slice(lo, max(lo, hi))))
                 for lo, hi in zip(bounds[:-1], bounds[1:]))
