"""Builtins of numbers and arrays: math, reductions (keepdims, var, std, mean,
logsumexp) and building or inspecting arrays."""

from __future__ import annotations

import math

from ..core.backend import xp
from ..core.errors import (
    DpShapeError,
    DpTypeError,
    DpValueError,
)
from ..core.values import Record, Tracer, kind_of, strip, strip_derivatives
from ..prims import primitives as P
from .table import (
    _axis,
    _bool_arg,
    _dims,
    _int_arg,
    _keep_dims,
    _num,
    _reduced_count,
    builtin,
    builtin_of,
)


# ====================================================================== math
@builtin("pow(x, y)", "x to the power y (same as x ** y)", "math")
def _pow(x, y):
    return P.pow_(_num(x, "pow", "x"), _num(y, "pow", "y"))


@builtin("clip(x, lo, hi)", "x limited to [lo, hi] elementwise (derivative 1 inside, 0 "
         "outside, 1/2 at a bound)", "math")
def _clip(x, lo, hi):
    return P.clip(_num(x, "clip"), _num(lo, "clip", "lo"), _num(hi, "clip", "hi"))


@builtin_of(P.round_p)
def _round(x, digits=0):
    return P.bind(P.round_p, (strip(_num(x, "round")),), {"digits": _int_arg(digits, "round",
                                                                              "digits")})


@builtin("nan_to_num(x, nan=0.0, posinf=none, neginf=none)", "x with nan replaced by `nan` "
         "and ±inf by `posinf`/`neginf` (by default the largest finite floats); derivative 1 "
         "where x is finite, 0 where it was replaced", "math")
def _nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    x = _num(x, "nan_to_num")
    big = float(xp.finfo(xp.float64).max)
    hi = big if posinf is None else _num(posinf, "nan_to_num", "posinf")
    lo = -big if neginf is None else _num(neginf, "nan_to_num", "neginf")
    nan = _num(nan, "nan_to_num", "nan")
    v = strip_derivatives(x)  # (the masks are primitives: a vmap batch stays batched)
    return P.where(P.isnan(v), nan, P.where(P.bind(P.eq_p, (v, math.inf)), hi,
                                            P.where(P.bind(P.eq_p, (v, -math.inf)), lo, x)))


@builtin_of(P.polygamma_p)
def _polygamma(n, x):
    n = _int_arg(n, "polygamma", "n")
    if n < 0:
        raise DpValueError(f"`polygamma`: n must not be negative, got {n}", None, None)
    return P.polygamma(_num(x, "polygamma"), n)


@builtin("gammaln(x)", "log |gamma(x)|: the same as lgamma(x) (SciPy's name)", "math")
def _gammaln(x):
    return P.lgamma(x)


# ================================================================= reductions


@builtin_of(P.sum_p)
def _sum(x, axis=None, keepdims=False):
    x = _num(x, "sum")
    return P.sum_(x, axis=_axis(axis, "sum", x), keepdims=_bool_arg(keepdims, "sum", "keepdims"))


@builtin("mean(x, axis=none, *, keepdims=false)", "mean of the elements (along `axis`)",
         "reductions")
def _mean(x, axis=None, keepdims=False):
    x = _num(x, "mean")
    axis = _axis(axis, "mean", x)
    s = P.sum_(x, axis=axis, keepdims=_bool_arg(keepdims, "mean", "keepdims"))
    n = _reduced_count(x, axis)
    if n == 0:  # NumPy and JAX: nan (0 / 0), without an error
        return P.mul(s, math.nan)
    return P.div(s, float(n))


@builtin("var(x, axis=none, *, ddof=0, keepdims=false)", "variance (along `axis`): the mean "
         "squared deviation, divided by n - ddof instead of n", "reductions")
def _var(x, axis=None, ddof=0, keepdims=False):
    return variance(x, axis, ddof, keepdims, "var")


@builtin("std(x, axis=none, *, ddof=0, keepdims=false)", "standard deviation (along `axis`): "
         "sqrt(var(x, axis, ddof)); its gradient is 0 where x is constant", "reductions")
def _std(x, axis=None, ddof=0, keepdims=False):
    return P.sqrt(variance(x, axis, ddof, keepdims, "std"))


def variance(x, axis, ddof, keepdims, name):
    x = _num(x, name)
    axis = _axis(axis, name, x)
    ddof = _int_arg(ddof, name, "ddof")
    keepdims = _bool_arg(keepdims, name, "keepdims")
    n = _reduced_count(x, axis)
    if n == 0:
        return P.mul(P.sum_(x, axis=axis, keepdims=keepdims), math.nan)
    d = P.sub(x, P.div(P.sum_(x, axis=axis, keepdims=True), float(n)))
    s = P.sum_(P.mul(d, d), axis=axis, keepdims=keepdims)
    return P.div(s, float(n - ddof))  # n <= ddof: inf or nan, as NumPy


@builtin_of(P.cumsum_p)
def _cumsum(x, axis=None):
    x = _num(x, "cumsum")
    return P.cumsum(x, axis=_axis(axis, "cumsum", x))


def logsumexp_(x, axis=None, keepdims=False):
    """The primitive logsumexp along `axis` (checked), the reduced axes kept if asked."""
    r = P.logsumexp(x, axis)
    return _keep_dims(r, x, axis) if keepdims else r


def _is_number(v) -> bool:
    """A number, or a traced value standing for one (vmap's batch included)."""
    if isinstance(v, Tracer):
        return P.shape(v) == ()
    return type(v) in (int, float, bool)


@builtin_of(P.logsumexp_p)
def _logsumexp(x, axis=None, keepdims=False):
    x = _num(x, "logsumexp")
    if axis is None and keepdims is False:
        return P.logsumexp(x)  # (a loss's call, at every step)
    return logsumexp_(x, _axis(axis, "logsumexp", x),
                      _bool_arg(keepdims, "logsumexp", "keepdims"))


# ================================================================== arrays
@builtin("zeros(d...)", "array of zeros with the given dimensions", "arrays", "no d")
def _zeros(*dims):
    return P.normalize(xp.zeros(_dims(dims, "zeros")))  # zeros(()) is the number 0.0


@builtin("ones(d...)", "array of ones with the given dimensions", "arrays", "no d")
def _ones(*dims):
    return P.normalize(xp.ones(_dims(dims, "ones")))


@builtin("full(shape, value)", "array of the given shape filled with `value`", "arrays")
def _full(shape, value):
    dims = _dims((shape,), "full")
    return P.broadcast_to(_num(value, "full", "value"), dims) if dims else value


@builtin("eye(n)", "n×n identity matrix", "arrays", "no d")
def _eye(n):
    n = _int_arg(n, "eye", "n")
    if n < 0:
        raise DpValueError(f"`eye`: n must not be negative, got {n}", None, None)
    P.check_size(n * n)
    return xp.eye(n)


@builtin("linspace(start, stop, n=50)", "n evenly spaced numbers from start to stop "
         "(differentiable in start and stop)", "arrays")
def _linspace(start, stop, n=50):
    n = _int_arg(n, "linspace", "n")
    if n < 0:
        raise DpValueError(f"`linspace`: n must not be negative, got {n}", None, None)
    P.check_size(n)
    for v in (start, stop):
        if not _is_number(v):
            raise DpTypeError(f"`linspace` expects numbers, got {kind_of(v)}", None, None)
    if isinstance(start, Tracer) or isinstance(stop, Tracer):
        # start + (stop - start) * u, u the unit grid: exact derivatives in both ends
        u = xp.linspace(0.0, 1.0, n)
        return P.add(P.mul(P.sub(stop, start), u), start) if n else u
    return xp.linspace(float(start), float(stop), n)


@builtin("arange(start, stop=none, step=1)", "float array start, start+step, ... below stop",
         "arrays", "no d")
def _arange(start, stop=None, step=1):
    start, stop, step = strip(start), strip(stop), strip(step)
    if stop is None:
        start, stop = 0, start
    for v in (start, stop, step):
        if type(v) not in (int, float):
            raise DpTypeError(f"`arange` expects numbers, got {kind_of(v)}", None, None)
    if step == 0:
        raise DpValueError("`arange`: step must not be zero", None, None)
    try:  # the result is float64: so are its bounds (NumPy would overflow int64 on 2**70)
        start, stop, step = float(start), float(stop), float(step)
    except OverflowError:
        raise DpValueError("`arange`: a bound is too large for a float64", None, None) from None
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise DpValueError("`arange` needs finite start, stop and step", None, None)
    count = max(0, int(math.ceil((stop - start) / step)))
    P.check_size(count)
    if count == 0:
        return xp.zeros(0)
    return xp.arange(start, stop, step, dtype=xp.float64)


@builtin("range(start, stop=none, step=1)", "integers start, start+step, ... below stop "
         "(for loops and indices)", "arrays", "no d")
def _range(start, stop=None, step=1):
    if stop is None:
        start, stop = 0, start
    a = _int_arg(start, "range", "start")
    b = _int_arg(stop, "range", "stop")
    c = _int_arg(step, "range", "step")
    if c == 0:
        raise DpValueError("`range`: step must not be zero", None, None)
    return range(a, b, c)


@builtin("shape(x)", "the dimensions of x as a tuple (() for a number)", "arrays", "-")
def _shape(x):
    if isinstance(x, Tracer):
        return P.shape(x)
    if type(x) is xp.ndarray:
        return tuple(x.shape)
    if type(x) in (int, float, bool):
        return ()
    if type(x) is tuple:
        return tuple(xp.shape(strip(_num(x, "shape"))))
    raise DpTypeError(f"`shape` expects a number or an array, got {kind_of(x)}", None, None)


@builtin("len(x)", "length of an array's first axis, a tuple, a string, a range or a record",
         "arrays", "-")
def _len(x):
    t = type(x)
    if t is xp.ndarray or isinstance(x, Tracer):
        s = P.shape(x)
        if not s:
            raise DpTypeError("`len` of a number" if isinstance(x, Tracer) else
                              "`len` of a 0-d array", None, "use size(x)")
        return s[0]
    if t in (tuple, str, range, Record):
        return len(x)
    raise DpTypeError(f"`len` expects an array, tuple, string or record, got {kind_of(x)}",
                      None, "numbers have no length; use size(x) for element counts")


@builtin("size(x)", "number of elements of x (1 for a number)", "arrays", "-")
def _size(x):
    if isinstance(x, Tracer):
        return math.prod(P.shape(x))
    if type(x) is xp.ndarray:
        return int(x.size)
    if type(x) in (int, float, bool):
        return 1
    if type(x) is tuple:
        return int(xp.size(strip(_num(x, "size"))))
    raise DpTypeError(f"`size` expects a number or an array, got {kind_of(x)}", None, None)


@builtin_of(P.reshape_p)
def _reshape(x, shape):
    x = _num(x, "reshape")
    shape = strip(shape)
    if type(shape) is int:
        shape = (shape,)
    if type(shape) is not tuple or not all(type(d) is int for d in shape):
        raise DpTypeError("`reshape`: shape must be a tuple of integers", None,
                          "e.g. reshape(x, (2, 3))")
    return P.reshape(x, shape)


@builtin_of(P.transpose_p)
def _transpose(x, axes=None):
    x = _num(x, "transpose")
    if axes is not None:
        axes = strip(axes)
        if type(axes) is not tuple or not all(type(a) is int for a in axes):
            raise DpTypeError("`transpose`: axes must be a tuple of integers", None, None)
        if len(axes) != P.ndim(x) or sorted(a % max(P.ndim(x), 1) for a in axes) != list(
                range(P.ndim(x))):
            raise DpValueError(f"`transpose`: axes {axes} are not a permutation of the "
                               f"{P.ndim(x)} axes", None, None)
    if P.ndim(x) < 2 and axes is None:
        return x
    return P.transpose(x, axes)


def _seq(xs, name):
    if _is_array(xs):  # an array: its rows, as NumPy iterates it
        return [P.getitem(xs, (i,)) for i in range(P.shape(xs)[0])]
    if type(xs) is not tuple:
        raise DpTypeError(f"`{name}` expects a tuple of arrays, got {kind_of(xs)}", None,
                          f"e.g. {name}((a, b))")
    if not xs:
        raise DpValueError(f"`{name}` needs at least one array", None, None)
    return [_num(x, name) for x in xs]


def _is_array(x) -> bool:
    """An array of at least one dimension, traced or not."""
    return (type(x) is xp.ndarray or isinstance(x, Tracer)) and P.ndim(x) > 0


@builtin_of(P.concat_p)
def _concat(xs, axis=0):
    xs = _seq(xs, "concat")
    for x in xs:
        if P.ndim(x) == 0:
            raise DpShapeError("`concat` needs arrays, not numbers", None,
                               "use stack((a, b)) to build an array from numbers")
    return P.concat(xs, axis=_int_arg(axis, "concat", "axis"))


@builtin_of(P.stack_p)
def _stack(xs, axis=0):
    xs = _seq(xs, "stack")
    return P.stack([float(x) if type(x) in (int, bool) else x for x in xs],
                   axis=_int_arg(axis, "stack", "axis"))


