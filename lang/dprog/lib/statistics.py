"""Reductions beyond sums: norm with every `ord`, cumprod, diff, median, quantile and
average with weights. Compositions of primitives, so differentiable through them;
the choices at kinks (ties, zero vectors) are listed in docs/differentiation.md."""

from __future__ import annotations

import math

from ..ad.batching import every_example, known_values
from ..core.backend import xp
from ..core.errors import DpIndexError, DpShapeError, DpTypeError, DpValueError
from ..core.values import show, strip
from ..prims import primitives as P
from .selection import _along, axis_index, flat_or_axis, gather_along, sort_along
from .table import _axis, _bool_arg, _int_arg, _keep_dims, _num, _reduced_count, builtin


# ======================================================================= norm
def _nonzero(x):
    """x != 0 as a constant (no derivative), also for a batch inside vmap."""
    return P.bind(P.ne_p, (x, 0.0))


def _vector_norm(x, ord, axis):
    """NumPy's vector norms along `axis` (an int or none: all entries)."""
    if ord is None or ord == 2:
        return P.bind(P.norm_p, (x,), {"axis": axis})
    ax = P.abs_(x)
    if ord == math.inf:
        return P.bind(P.max_p, (ax,), {"axis": axis})
    if ord == -math.inf:
        return P.bind(P.min_p, (ax,), {"axis": axis})
    if ord == 1:
        return P.sum_(ax, axis=axis)
    if ord == 0:  # how many entries are nonzero: no derivative
        return P.sum_(P.where(_nonzero(x), 1.0, 0.0), axis=axis)
    if ord > 0:
        # (sum |x|^p)^(1/p); zero entries contribute 0 through the untaken `where`
        # branch, so the derivative there is 0 (also for p < 1, where it is infinite)
        nz = _nonzero(x)
        powered = P.where(nz, P.pow_(P.abs_(P.where(nz, x, 1.0)), float(ord)), 0.0)
    else:
        powered = P.pow_(ax, float(ord))
    return P.pow_(P.sum_(powered, axis=axis), 1.0 / ord)


def _matrix_norm(x, ord, axes):
    """NumPy's matrix norms over the two axes `axes` (rows, columns)."""
    r, c = axes
    if ord is None or ord == "fro":
        return P.bind(P.norm_p, (x,), {"axis": (r, c)})
    if ord in (1, -1, math.inf, -math.inf):
        summed, kept = (r, c) if ord in (1, -1) else (c, r)  # column sums for 1, rows: inf
        s = P.sum_(P.abs_(x), axis=summed)
        kept -= kept > summed
        return P.bind(P.max_p if ord > 0 else P.min_p, (s,), {"axis": kept})
    if ord in (2, -2, "nuc"):
        nd = P.ndim(x)
        rest = tuple(i for i in range(nd) if i not in (r, c))
        s = P.svd_s(P.transpose(x, rest + (r, c)))  # descending, along the last axis
        if ord == "nuc":
            return P.sum_(s, axis=-1)
        return P.getitem(s, (Ellipsis, 0 if ord == 2 else -1))
    raise DpValueError(f"`norm`: invalid ord {show(ord)} for a matrix", None,
                       "matrix orders: \"fro\", \"nuc\", 1, -1, 2, -2, inf, -inf")


def _norm_ord(ord):
    ord = strip(ord)
    if ord is None or ord in ("fro", "nuc"):
        return ord
    if type(ord) in (int, float) and ord == ord:
        return ord
    raise DpTypeError(f"`norm`: ord must be a number, inf, -inf, \"fro\" or \"nuc\", got "
                      f"{show(ord)}", None, None)


@builtin("norm(x, ord=none, axis=none, *, keepdims=false)", "vector or matrix norm as NumPy's "
         "(along `axis`; ord: 2, 1, inf, -inf, 0, p for vectors, \"fro\", \"nuc\", 2, -2, 1, "
         "-1, inf, -inf for matrices); its gradient at 0 is 0", "reductions")
def _norm(x, ord=None, axis=None, keepdims=False):
    x = _num(x, "norm")
    ord = _norm_ord(ord)
    axis = _axis(axis, "norm", x)
    keepdims = _bool_arg(keepdims, "norm", "keepdims")
    nd = P.ndim(x)
    if type(axis) is tuple and len(axis) == 1:
        axis = axis[0]
    if ord is None:  # Euclidean over all of `axis` (any number of axes, unlike NumPy)
        r = P.bind(P.norm_p, (x,), {"axis": axis})
    elif axis is None and nd > 2:
        raise DpShapeError(f"`norm`: ord={show(ord)} needs a vector or a matrix, got shape "
                           f"{P.shape(x)}", None, "choose the axes with axis=")
    elif (axis is None and nd == 2) or type(axis) is tuple:
        axes = (0, 1) if axis is None else tuple(axis_index(a, nd, "norm") for a in axis)
        if len(axes) != 2 or axes[0] == axes[1]:
            raise DpIndexError(f"`norm`: axis must be one axis or two different axes, got "
                               f"{show(axis)}", None, None)
        r = _matrix_norm(x, ord, axes)
    else:
        if type(ord) is str:
            raise DpValueError(f"`norm`: ord={show(ord)} is a matrix norm", None,
                               "give two axes, e.g. axis=(0, 1), or a 2-D array")
        r = _vector_norm(x, ord, axis)
    return _keep_dims(r, x, axis) if keepdims else r


# =================================================================== cumulative
_ZERO_FACTORS = 4  # zeros of a prefix kept as traced factors: exact to this order


@builtin("cumprod(x, axis=none)", "cumulative product (flattened when no axis is given); "
         "exact derivatives also where x has zeros", "reductions")
def _cumprod(x, axis=None):
    x = _num(x, "cumprod")
    x, a = flat_or_axis(x, axis, "cumprod")
    v = known_values(x)
    if v is not None and not (xp.asarray(v) == 0).any():
        return P.cumprod(x, a)
    # y_i = (product of the nonzero entries up to i) * (the zero entries up to i, kept as
    # traced factors): the first product has no zero to divide by, and the zero factors
    # carry the derivatives that survive (a prefix with three zeros has zero first and
    # second derivatives, but its third derivative is the product of the others). Written
    # with primitives only, so that inside vmap (values unknown: up to _ZERO_FACTORS
    # zeros assumed) the whole batch runs at once.
    zero = P.bind(P.eq_p, (x, 0.0))
    base = P.cumprod(P.where(zero, 1.0, x), a)
    count = P.cumsum(P.where(zero, 1.0, 0.0), axis=a)  # zeros among the entries up to i
    most = _ZERO_FACTORS if v is None else int(xp.asarray(strip(count)).max())
    for r in range(1, min(most, _ZERO_FACTORS) + 1):
        hit = P.bind(P.eq_p, (count, float(r)))
        at = P.bind(P.argmax_p, (hit,), {"axis": a})  # where the r-th zero is
        value = P.take_along(x, P.reshape(at, _with_axis(P.shape(x), a)), a)
        base = P.mul(base, P.where(P.bind(P.ge_p, (count, float(r))), value, 1.0))
    if v is None or most > _ZERO_FACTORS:  # more zeros than kept factors: exact to that order
        base = P.mul(base, P.where(P.bind(P.le_p, (count, float(_ZERO_FACTORS))), 1.0, 0.0))
    return base


def _with_axis(s: tuple, a: int) -> tuple:
    """Shape s with its axis a of length 1."""
    return s[:a] + (1,) + s[a + 1:]


@builtin("diff(x, n=1, axis=-1, prepend=none, append=none)", "differences of neighbours "
         "x[i+1] - x[i] along `axis`, taken n times (prepend/append values first)",
         "reductions")
def _diff(x, n=1, axis=-1, prepend=None, append=None):
    x = _num(x, "diff")
    if P.ndim(x) == 0:
        raise DpShapeError("`diff` needs an array, got a number", None, None)
    n = _int_arg(n, "diff", "n")
    if n < 0:
        raise DpValueError(f"`diff`: n must not be negative, got {n}", None, None)
    nd = P.ndim(x)
    a = axis_index(axis, nd, "diff")
    parts = [_edge(prepend, x, a, "prepend"), x, _edge(append, x, a, "append")]
    parts = [p for p in parts if p is not None]
    if len(parts) > 1:
        x = P.concat(parts, axis=a)
    for _ in range(n):
        if P.shape(x)[a] == 0:
            break
        x = P.sub(P.getitem(x, _along(a, nd, slice(1, None))),
                  P.getitem(x, _along(a, nd, slice(None, -1))))
    return x


def _edge(v, x, a, what):
    """diff's prepend/append: a number broadcast to one slice of x, or an array."""
    if v is None:
        return None
    v = _num(v, "diff", what)
    if P.ndim(v) == 0:
        s = list(P.shape(x))
        s[a] = 1
        return P.broadcast_to(v, tuple(s))
    return v


# =================================================================== order statistics
def _check_q(q, name):
    qs = xp.asarray(strip(q), dtype=xp.float64)
    if not xp.all((qs >= 0) & (qs <= 1)):
        raise DpValueError(f"`{name}`: quantiles must lie in [0, 1], got {show(strip(q))}",
                           None, "for percentiles p, use q = p / 100")
    return qs


_PARTITION_MAX = 8  # order statistics found by partitioning (O(n) each); more: one sort


def _order_statistics(x, lo, hi):
    """(table, lo_at, hi_at, nan_rows): the order statistics lo and hi of x (..., n) along
    its last axis are table[..., lo_at] and table[..., hi_at], the table a gather from x
    (so differentiable); nan_rows marks the slices holding a nan (None: none can). A few
    positions are found by partitioning, in linear time; many, a nan, or values not
    known yet (x batched inside vmap: one sort serves the whole batch) sort the axis.
    Either way the element picked among equal values is the one a stable sort puts at
    that position."""
    v = known_values(x)
    needed = xp.unique(xp.concatenate([lo.reshape(-1), hi.reshape(-1)]))
    if v is None or len(needed) > _PARTITION_MAX or xp.isnan(v).any():
        table = sort_along(x, P.ndim(x) - 1)
        n = P.shape(x)[-1]
        nan_rows = P.isnan(P.getitem(table, (Ellipsis, n - 1)))  # a nan sorts last
        return table, lo, hi, nan_rows
    part = xp.argpartition(v, needed, axis=-1)
    cols = []
    for k in needed:
        at = part[..., k:k + 1]
        val = xp.take_along_axis(v, at, axis=-1)
        eq = v == val
        if eq.sum(axis=-1).max() == 1:  # no ties: the partition's index is the one
            cols.append(at[..., 0])
            continue
        rank = xp.cumsum(eq, axis=-1) - 1  # among the equal values, in their order
        want = k - (v < val).sum(axis=-1, keepdims=True)
        cols.append(xp.argmax(eq & (rank == want), axis=-1))
    table = gather_along(x, xp.stack(cols, axis=-1), P.ndim(x) - 1)
    return table, xp.searchsorted(needed, lo), xp.searchsorted(needed, hi), None


# NumPy's quantile methods. The continuous ones (Hyndman and Fan's) interpolate at the
# virtual index n q + alpha + q (1 - alpha - beta) - 1 ("linear": (n - 1) q).
_CONTINUOUS = {"linear": (1.0, 1.0), "interpolated_inverted_cdf": (0.0, 1.0),
               "hazen": (0.5, 0.5), "weibull": (0.0, 0.0),
               "median_unbiased": (1 / 3, 1 / 3), "normal_unbiased": (3 / 8, 3 / 8)}
_DISCRETE = ("lower", "higher", "nearest", "inverted_cdf", "closest_observation")
QUANTILE_METHODS = tuple(_CONTINUOUS) + ("midpoint", "averaged_inverted_cdf") + _DISCRETE


def _quantile_method(method, name):
    if type(method) is not str or method not in QUANTILE_METHODS:
        what = f'"{method}"' if type(method) is str else show(method)
        raise DpValueError(f"`{name}`: unknown method {what}", None,
                           "one of " + ", ".join(f'"{m}"' for m in QUANTILE_METHODS))
    return method


def _discrete_index(qs, n: int, method: str):
    """The one order statistic a discrete method picks (NumPy's rules, ties included)."""
    if method == "lower":
        return xp.floor((n - 1) * qs)
    if method == "higher":
        return xp.ceil((n - 1) * qs)
    if method == "nearest":
        return xp.around((n - 1) * qs)  # half to even, as NumPy
    v = n * qs - 1 if method == "inverted_cdf" else n * qs - 1.5
    prev = xp.floor(v)
    at_prev = (v == prev) if method == "inverted_cdf" else ((v == prev) & (prev % 2 == 1))
    return xp.where(at_prev, prev, prev + 1)


def _quantile_positions(q, qs, n: int, method: str):
    """(lo, hi, frac): the result is x_(lo) + frac (x_(hi) - x_(lo)) with the order
    statistics x_(k); frac a dprog value (it carries q's derivative for the continuous
    methods) or None (lo = hi)."""
    if method in _DISCRETE:
        k = xp.clip(_discrete_index(qs, n, method), 0, n - 1).astype(xp.int64)
        return k, k, None
    if method in _CONTINUOUS:
        alpha, beta = _CONTINUOUS[method]
        slope, offset = (n - 1, 0.0) if method == "linear" else (n + 1 - alpha - beta,
                                                                  alpha - 1)
        virt = slope * qs + offset
    elif method == "midpoint":
        virt = 0.5 * (xp.floor((n - 1) * qs) + xp.ceil((n - 1) * qs))
    else:  # averaged_inverted_cdf
        virt = n * qs - 1
    prev = xp.floor(virt)
    lo = prev.astype(xp.int64)
    hi = lo + 1
    above, below = virt >= n - 1, virt < 0  # both ends: that end's element alone
    lo, hi = xp.where(above, n - 1, xp.where(below, 0, lo)), xp.where(
        above, n - 1, xp.where(below, 0, hi))
    if method in _CONTINUOUS:
        frac = P.sub(P.add(P.mul(q, float(slope)), offset), P.normalize(prev))
    elif method == "midpoint":
        frac = P.normalize(xp.where(virt % 1 == 0, 0.0, 0.5))
    else:
        frac = P.normalize(xp.where(virt == prev, 0.5, 1.0))
    return lo, hi, frac


def quantile_of(x, q, axis, keepdims: bool, name: str, method: str = "linear"):
    """NumPy's quantile with one of its methods: one or two order statistics along the
    axes (merged into one), interpolated."""
    qs = _check_q(q, name)
    nd = P.ndim(x)
    axes = tuple(range(nd)) if axis is None else tuple(
        axis_index(a, nd, name) for a in (axis if type(axis) is tuple else (axis,)))
    rest = tuple(i for i in range(nd) if i not in axes)
    xt = P.transpose(x, rest + axes) if nd else x
    rest_shape = tuple(P.shape(x)[i] for i in rest)
    n = _reduced_count(x, axis)
    if n == 0:
        raise DpValueError(f"`{name}` of an empty array", None, None)
    lo, hi, frac = _quantile_positions(q, qs, n, method)
    table, lo_at, hi_at, nan_rows = _order_statistics(P.reshape(xt, rest_shape + (n,)),
                                                      lo, hi)
    pick = (slice(None),) * len(rest)
    r = P.getitem(table, pick + (int(lo_at) if xp.ndim(lo_at) == 0 else lo_at,))
    if frac is not None:
        b = P.getitem(table, pick + (int(hi_at) if xp.ndim(hi_at) == 0 else hi_at,))
        r = P.add(r, P.mul(frac, P.sub(b, r)))
    nq = qs.ndim
    if nan_rows is not None:  # a slice with a nan has a nan quantile, as NumPy's
        r = P.where(P.reshape(nan_rows, rest_shape + (1,) * nq), math.nan, r)
    if nq and rest:  # NumPy puts the axes of q first
        k = len(rest)
        r = P.transpose(r, tuple(range(k, k + nq)) + tuple(range(k)))
    if keepdims:
        kept = tuple(1 if i in axes else d for i, d in enumerate(P.shape(x)))
        r = P.reshape(r, qs.shape + kept)
    return r


@builtin("quantile(x, q, axis=none, *, method=\"linear\", keepdims=false)",
         "the q-th quantile (q in [0, 1], a number or an array) along `axis`; `method` as "
         "NumPy's: \"linear\" (the default), \"lower\", \"higher\", \"nearest\", "
         "\"midpoint\", and Hyndman and Fan's (\"hazen\", \"weibull\", \"median_unbiased\", "
         "\"inverted_cdf\", ...); the derivative goes to the order statistics used "
         "(and, interpolating continuously, to q); nan where a slice holds a nan", "reductions")
def _quantile(x, q, axis=None, method="linear", keepdims=False):
    x = _num(x, "quantile")
    q = _num(q, "quantile", "q")
    return quantile_of(x, q, _axis(axis, "quantile", x),
                       _bool_arg(keepdims, "quantile", "keepdims"), "quantile",
                       _quantile_method(method, "quantile"))


@builtin("percentile(x, p, axis=none, *, method=\"linear\", keepdims=false)",
         "the p-th percentile (p in [0, 100], a number or an array) along `axis`: "
         "quantile(x, p / 100, ...), with the same methods", "reductions")
def _percentile(x, p, axis=None, method="linear", keepdims=False):
    x = _num(x, "percentile")
    p = _num(p, "percentile", "p")
    ps = xp.asarray(strip(p), dtype=xp.float64)
    if not xp.all((ps >= 0) & (ps <= 100)):
        raise DpValueError(f"`percentile`: percentiles must lie in [0, 100], got "
                           f"{show(strip(p))}", None, "for quantiles q in [0, 1], use quantile")
    return quantile_of(x, P.div(p, 100.0), _axis(axis, "percentile", x),
                       _bool_arg(keepdims, "percentile", "keepdims"), "percentile",
                       _quantile_method(method, "percentile"))


@builtin("median(x, axis=none, *, keepdims=false)", "the middle value (the mean of the two "
         "middle values for an even count) along `axis`", "reductions")
def _median(x, axis=None, keepdims=False):
    x = _num(x, "median")
    return quantile_of(x, 0.5, _axis(axis, "median", x),
                       _bool_arg(keepdims, "median", "keepdims"), "median")


# =================================================================== average
def _weights_for(a, w, axis):
    """The weights broadcast against a (NumPy: same shape, or 1-D along an int axis)."""
    sa, sw = P.shape(a), P.shape(w)
    if sa == sw:
        return w
    if type(axis) is int and len(sw) == 1 and sw[0] == sa[axis]:
        s = [1] * len(sa)
        s[axis] = sw[0]
        return P.reshape(w, tuple(s))
    raise DpShapeError(f"`average`: weights of shape {sw} do not fit x of shape {sa}", None,
                       "weights have the shape of x, or are 1-D along an int axis")


@builtin("average(x, axis=none, weights=none, returned=false, *, keepdims=false)",
         "weighted mean sum(x * weights) / sum(weights) along `axis` (the mean without "
         "weights); returned=true also gives the sum of the weights", "reductions")
def _average(x, axis=None, weights=None, returned=False, keepdims=False):
    x = _num(x, "average")
    axis = _axis(axis, "average", x)
    returned = _bool_arg(returned, "average", "returned")
    keepdims = _bool_arg(keepdims, "average", "keepdims")
    if type(axis) is int:
        axis = axis_index(axis, P.ndim(x), "average")
    if weights is None:
        w = P.normalize(xp.ones(P.shape(x)))
    else:
        w = P.broadcast_to(_weights_for(x, _num(weights, "average", "weights"), axis),
                           P.shape(x))
    sw = P.sum_(w, axis=axis, keepdims=keepdims)
    if xp.any(xp.asarray(every_example(sw)) == 0):
        raise DpValueError("`average`: the weights sum to zero", None,
                           "give weights with a nonzero sum along the axis")
    avg = P.div(P.sum_(P.mul(x, w), axis=axis, keepdims=keepdims), sw)
    return (avg, sw) if returned else avg
