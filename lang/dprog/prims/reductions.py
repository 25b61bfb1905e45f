"""Reductions other than `sum` (which lives in structure.py): max/min, products,
norms, log-sum-exp, cumulative sums, and the non-differentiable argmax/argmin/any/all."""

from __future__ import annotations

import math

from ..core.backend import xp
from ..core.errors import DpDifferentiationError, DpValueError
from ..core.values import TRACER_TYPES, strip
from . import core
from .core import (
    _F64,
    F64,
    _nb,
    _norm_axis,
    _shift_axis,
    bind,
    defprim,
    ndarray,
    ndim,
    normalize,
    shape,
)
from .elementwise import div, exp, mul, safe_div, safe_mul, sub
from .indexing import getitem
from .structure import _axis_error, _expand_reduced, broadcast_to, pad_batched, reshape, sum_


def _reduce_mask(x, ans, axis):
    """Indicator of the arg-max/min positions, ties sharing equally (a constant)."""
    xs = strip(x)
    a = xp.asarray(strip(ans))
    if axis is not None:
        a = xp.expand_dims(a, _norm_axis(axis, xs.ndim))
    m = (xs == a).astype(F64)
    cnt = m.sum(axis=axis, keepdims=True)
    return normalize(m / cnt)  # a 0-d x gives xp.float64 here, which `mul` rejects


def _max_np(x, axis=None):
    return xp.max(x, axis=axis)


def _min_np(x, axis=None):
    return xp.min(x, axis=axis)


def _empty_reduce(name):
    base = _axis_error(name)

    def err(args, exc):
        if "zero-size" in str(exc) or "empty" in str(exc):
            return DpValueError(f"`{name}` of an empty array", None, None)
        return base(args, exc)
    return err


def _extremum_jvp(t, ans, x, axis=None):
    return sum_(mul(pad_batched(t, ndim(x), _nb(t, x)), _reduce_mask(x, ans, axis)),
                axis=_shift_axis(axis, _nb(t, x), ndim(x)))


def _extremum_vjp(g, ans, x, axis=None):
    return mul(broadcast_to(_expand_reduced(g, x, axis, False), shape(x)),
               _reduce_mask(x, ans, axis))


max_p = defprim("max", _max_np, shape_error=_empty_reduce("max"), jvp=(_extremum_jvp,),
                batch="along axis",
                vjp=(_extremum_vjp,), sig="max(x, *, axis=none, keepdims=false)",
                category="reductions",
                doc="largest element (along `axis`); tied maxima share the derivative "
                    "equally; use maximum(a, b) for two values")
min_p = defprim("min", _min_np, shape_error=_empty_reduce("min"), jvp=(_extremum_jvp,),
                batch="along axis",
                vjp=(_extremum_vjp,), sig="min(x, *, axis=none, keepdims=false)",
                category="reductions",
                doc="smallest element (along `axis`); tied minima share the derivative "
                    "equally; use minimum(a, b) for two values")


def _prod_np(x, axis=None):
    return xp.prod(x, axis=axis)


def _prod_others_np(x, axis=None):
    """Product of all other entries along `axis` (exact with zeros: prefix * suffix)."""
    x = xp.asarray(x, dtype=F64)
    if axis is None:
        flat = x.reshape(-1)
        return _prod_others_np(flat, 0).reshape(x.shape)
    axis = _norm_axis(axis, x.ndim)
    if isinstance(axis, tuple):  # prod(x, axis=(0, 2)): move those axes last, as one
        rest = [i for i in range(x.ndim) if i not in axis]
        perm = rest + sorted(axis)
        xt = xp.transpose(x, perm)
        r = _prod_others_np(xt.reshape(xt.shape[:len(rest)] + (-1,)), -1)
        return xp.transpose(r.reshape(xt.shape), xp.argsort(perm))
    n = x.shape[axis]
    ones_shape = list(x.shape)
    ones_shape[axis] = 1
    ones = xp.ones(ones_shape)
    pre = xp.cumprod(xp.concatenate([ones, xp.take(x, range(n - 1), axis=axis)], axis=axis),
                     axis=axis)
    rev = xp.flip(x, axis=axis)
    suf = xp.cumprod(xp.concatenate([ones, xp.take(rev, range(n - 1), axis=axis)], axis=axis),
                     axis=axis)
    return pre * xp.flip(suf, axis=axis)


prod_p = defprim(
    "prod", _prod_np, shape_error=_axis_error("prod"), batch="along axis",
    jvp=(lambda t, ans, x, axis=None:
         sum_(mul(pad_batched(t, ndim(x), _nb(t, x)), prod_others(x, axis)),
              axis=_shift_axis(axis, _nb(t, x), ndim(x))),),
    vjp=(lambda g, ans, x, axis=None:
         mul(broadcast_to(_expand_reduced(g, x, axis, False), shape(x)), prod_others(x, axis)),),
    sig="prod(x, axis=none, *, keepdims=false)", doc="product of the elements (along `axis`)",
    category="reductions")


# Second derivatives of prod. d(others_i) = sum_{j != i} t_j prod_{k not in {i, j}} x_k,
# a symmetric linear map M(x) t, so the VJP is M(x) g. Without zeros in x it is
# others_i * (sum_j t_j/x_j - t_i/x_i), written with primitives (any order); where x
# has exact zeros, `prod_pairs` computes M(x) t exactly by counting the zeros.
def _has_zero(x) -> bool:
    v = strip(x)
    return bool(xp.any(xp.asarray(v) == 0))


def _prod_others_jvp(t, ans, x, axis=None):
    if _has_zero(x):
        return prod_pairs(x, t, axis)
    return mul(ans, sub(sum_(div(t, x), axis=_shift_axis(axis, _nb(t, x), ndim(x)),
                             keepdims=True) if axis is not None
                        else _sum_all_keep(div(t, x), _nb(t, x)),
                        div(t, x)))


def _prod_others_vjp(g, ans, x, axis=None):
    if _has_zero(x):
        return prod_pairs(x, g, axis)
    return sub(mul(div(1.0, x), _bsum(mul(g, ans), x, axis)), div(mul(g, ans), x))


# d prod / d x_i: the product of the other entries
prod_others_p = defprim("prod_others", _prod_others_np, jvp=(_prod_others_jvp,),
                        batch="along axis",
                        vjp=(_prod_others_vjp,))


def _prod_pairs_last(x, t):
    """M(x) t along the last axis (x broadcasts against t), exact with zeros."""
    zero = x == 0
    xs = xp.where(zero, 1.0, x)
    nz = zero.sum(-1, keepdims=True)
    p = xp.prod(xs, -1, keepdims=True)          # product of the nonzero entries
    others = _prod_others_np(xs, -1)            # ... but entry i (no division)
    r = xp.where(zero, 0.0, t / xs)
    s = r.sum(-1, keepdims=True)
    tz = xp.where(zero, t, 0.0).sum(-1, keepdims=True)
    # sum over j != i of t_j / x_j without cancellation: prefix + suffix sums
    at_nonzero = (xp.where(nz == 0, others * _sum_others_last(r), 0.0)
                  + xp.where(nz == 1, tz * others, 0.0))
    at_zero = xp.where(nz == 1, p * s, 0.0) + xp.where(nz == 2, (tz - t) * p, 0.0)
    return xp.where(zero, at_zero, at_nonzero)


def _sum_others_last(r):
    """For each i along the last axis, the sum of the other entries (no subtraction)."""
    zeros = xp.zeros(r.shape[:-1] + (1,))
    pre = xp.cumsum(xp.concatenate([zeros, r[..., :-1]], axis=-1), axis=-1)
    suf = xp.flip(xp.cumsum(xp.concatenate([zeros, xp.flip(r, -1)[..., :-1]], axis=-1),
                            axis=-1), -1)
    return pre + suf


def _prod_pairs_np(x, t, axis=None):
    x = xp.asarray(x, dtype=F64)
    t = xp.asarray(t, dtype=F64)
    nb = t.ndim - x.ndim  # batch dims of a batched tangent, in front
    axes = tuple(range(x.ndim)) if axis is None else _norm_axis(axis, x.ndim)
    axes = axes if isinstance(axes, tuple) else (axes,)
    rest = [i for i in range(x.ndim) if i not in axes]
    perm = rest + list(axes)
    xt = xp.transpose(x, perm)
    tt = xp.transpose(t, list(range(nb)) + [nb + i for i in perm])
    n = int(xp.prod([x.shape[i] for i in axes])) if axes else 1
    out = _prod_pairs_last(xt.reshape(xt.shape[:len(rest)] + (n,)),
                           tt.reshape(tt.shape[:nb + len(rest)] + (n,)))
    out = out.reshape(tt.shape)
    inverse = list(range(nb)) + [nb + i for i in xp.argsort(perm)]
    return xp.transpose(out, inverse)


def _prod_pairs_x_rule(*_args, **_kw):
    raise DpDifferentiationError("third derivatives of `prod` at an exact zero entry are not "
                                 "supported", None, "write the product as a loop")


prod_pairs_p = defprim(
    "prod_pairs", _prod_pairs_np, batch="along axis",
    jvp=(_prod_pairs_x_rule, lambda dt, ans, x, t, axis=None: prod_pairs(x, dt, axis)),
    vjp=(_prod_pairs_x_rule, lambda g, ans, x, t, axis=None: prod_pairs(x, g, axis)))


def _sum_all_keep(v, nb):
    nd = ndim(v)
    return sum_(v, axis=tuple(range(nb, nd)), keepdims=True)


def _bsum(v, x, axis):
    if axis is None:
        return sum_(v)
    return sum_(v, axis=axis, keepdims=True)


# the Euclidean norm (along `axis`), gradient 0 at the zero vector; the builtin `norm`
# (lib/statistics.py) adds the other orders
def _norm_np(x, axis=None):
    return xp.sqrt(xp.sum(xp.square(x), axis=axis))


norm_p = defprim(
    "norm", _norm_np, shape_error=_axis_error("norm"), batch="along axis",
    jvp=(lambda t, ans, x, axis=None:
         safe_div(sum_(mul(pad_batched(t, ndim(x), _nb(t, x)), x),
                       axis=_shift_axis(axis, _nb(t, x), ndim(x))), ans),),
    vjp=(lambda g, ans, x, axis=None:
         mul(broadcast_to(_expand_reduced(g, x, axis, False), shape(x)),
             safe_div(x, _expand_reduced(ans, x, axis, False))),))


# log(sum(exp(x))) (along `axis`): one primitive rather than the five operations that
# compute it, since a softmax cross-entropy loss calls it at every step; the
# derivative is the softmax exp(x - ans)
def _logsumexp_np(x, axis=None):
    """Shifted by the maximum (the constant 0 where that is not finite), so that it
    never overflows; -inf for an empty array, as NumPy's sum of nothing."""
    x = xp.asarray(x, dtype=F64)
    if axis is None:
        return _lse_vector(x.reshape(-1)) if x.size else -math.inf
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    s = xp.sum(xp.exp(x - m), axis=axis, keepdims=True)
    return xp.squeeze(xp.log(s) + m, axis=axis)


def _lse_vector(x: ndarray) -> float:
    """logsumexp of a non-empty float array over every axis, with fewer temporaries
    (a loss calls it once per step)."""
    m = float(_max_all(x, axis=None))  # (the ufuncs' reductions: x.max() and x.sum()
    if m - m != 0.0:  # not finite        #  are these behind a Python-level wrapper)
        m = 0.0
    e = x - m
    xp.exp(e, out=e)
    return math.log(_sum_all(e, axis=None)) + m


_max_all, _sum_all = xp.maximum.reduce, xp.add.reduce


def _softmax_of(x, ans, axis):
    """exp(x - logsumexp(x)): the derivative of logsumexp, from its output."""
    return exp(sub(x, _expand_reduced(ans, x, axis, False)))


logsumexp_p = defprim(
    "logsumexp", _logsumexp_np, shape_error=_empty_reduce("logsumexp"), batch="along axis",
    jvp=(lambda t, ans, x, axis=None:
         sum_(safe_mul(pad_batched(t, ndim(x), _nb(t, x)), _softmax_of(x, ans, axis)),
              axis=_shift_axis(axis, _nb(t, x), ndim(x))),),
    vjp=(lambda g, ans, x, axis=None:
         safe_mul(_expand_reduced(g, x, axis, False), _softmax_of(x, ans, axis)),),
    sig="logsumexp(x, axis=none, *, keepdims=false)", category="reductions",
    doc="log(sum(exp(x))) computed stably (along `axis`)")


def _cumsum_np(x, axis=None):
    return xp.cumsum(x, axis=axis)


def _cumsum_vjp(g, x, axis):
    if axis is None:
        flat = reshape(g, (-1,))
        rev = getitem(cumsum(getitem(flat, (slice(None, None, -1),)), axis=0),
                      (slice(None, None, -1),))
        return reshape(rev, shape(x))
    nd = ndim(x)
    a = _norm_axis(axis, nd)
    idx = tuple(slice(None, None, -1) if i == a else slice(None) for i in range(nd))
    return getitem(cumsum(getitem(g, idx), axis=a), idx)


cumsum_p = defprim(
    "cumsum", _cumsum_np, shape_error=_axis_error("cumsum"), batch="flat axis",
    jvp=(lambda t, ans, x, axis=None:
         cumsum(t, axis=_shift_axis(axis, _nb(t, x), ndim(x)) if axis is not None else None)
         if axis is not None or _nb(t, x) == 0
         else reshape(cumsum(reshape(t, (shape(t)[0], -1)), axis=1),
                      (shape(t)[0],) + shape(ans)),),
    vjp=(lambda g, ans, x, axis=None: _cumsum_vjp(g, x, axis),),
    sig="cumsum(x, axis=none)", doc="cumulative sum (flattened when no axis is given)",
    category="reductions")


def _cumprod_np(x, axis):
    return xp.cumprod(x, axis=axis)


def _cumprod_jvp(t, ans, x, axis):
    nb = _nb(t, x)
    return mul(ans, cumsum(div(t, x), axis=axis + nb))


# cumprod along one axis of an array without zeros (the builtin flattens for axis=none
# and takes another route when x holds a zero): d y_i = y_i * sum_{j<=i} t_j / x_j
cumprod_p = defprim(
    "cumprod", _cumprod_np, shape_error=_axis_error("cumprod"), jvp=(_cumprod_jvp,),
    batch="flat axis",
    vjp=(lambda g, ans, x, axis: div(_cumsum_vjp(mul(g, ans), x, axis), x),))


# ====================================================== non-differentiable helpers
argmax_p = defprim("argmax", lambda x, axis=None: xp.argmax(x, axis=axis), batch="flat axis",
                   differentiable=False, shape_error=_empty_reduce("argmax"),
                   sig="argmax(x, axis=none, *, keepdims=false)", category="reductions",
                   doc="index of the largest element (of the flattened array, or along `axis`)")
argmin_p = defprim("argmin", lambda x, axis=None: xp.argmin(x, axis=axis), batch="flat axis",
                   differentiable=False, shape_error=_empty_reduce("argmin"),
                   sig="argmin(x, axis=none, *, keepdims=false)", category="reductions",
                   doc="index of the smallest element (of the flattened array, or along `axis`)")
any_p = defprim("any", lambda x, axis=None: xp.any(x, axis=axis), differentiable=False,
                batch="along axis",
                shape_error=_axis_error("any"), sig="any(x, axis=none, *, keepdims=false)",
                category="reductions",
                doc="true if any element is nonzero (along `axis`)")
all_p = defprim("all", lambda x, axis=None: xp.all(x, axis=axis), differentiable=False,
                batch="along axis",
                shape_error=_axis_error("all"), sig="all(x, axis=none, *, keepdims=false)",
                category="reductions",
                doc="true if every element is nonzero (along `axis`)")


# ============================================================ dispatching operations
def logsumexp(x, axis=None):
    """logsumexp over `axis`; over every axis of a float array without a call through
    `bind`, and a traced one straight to its trace (no parameters to pass)."""
    if axis is None:
        tx = type(x)
        if tx is ndarray and x.size and x.dtype is _F64 and not core.NAN_CHECK:
            return _lse_vector(x)
        if tx in TRACER_TYPES:
            return x._trace.process1(logsumexp_p, x)
        return bind(logsumexp_p, (x,))
    return bind(logsumexp_p, (x,), {"axis": axis})


logsumexp_p.op = logsumexp  # the engines call it for a call without parameters


def prod_others(x, axis=None):
    return bind(prod_others_p, (x,), {"axis": axis})


def prod_pairs(x, t, axis=None):
    return bind(prod_pairs_p, (x, t), {"axis": axis})


def cumsum(x, axis=None):
    return bind(cumsum_p, (x,), {"axis": axis})


def cumprod(x, axis: int):
    return bind(cumprod_p, (x,), {"axis": axis})


