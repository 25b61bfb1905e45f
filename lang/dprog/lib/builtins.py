"""The builtin functions, each with its signature and one-line doc.

`BUILTIN_TABLE` is the single source for the REPL's `:help`, docs/builtins.md
and the argument checking done on every call. A builtin that calls a primitive
takes its row from the primitive's `defprim` (`builtin_of`; the plain shapes are
derived at the end of this module); composed builtins and the transformations are
declared here with `@builtin`. The arithmetic lives in prims/, the
differentiation in ad/.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time

from ..ad.checking import check_grad_call
from ..ad.custom import call_checkpoint, call_custom_jvp, call_custom_vjp
from ..ad.transforms import (
    check_argnums,
    hessian_call,
    hvp_call,
    jacfwd_call,
    jacobian_call,
    jacrev_call,
    jvp_call,
    value_and_grad_call,
    vjp_call,
)
from ..ad.trees import flatten_any, to_float, unflatten_any
from ..core.backend import xp
from ..core.errors import (
    DpArgumentError,
    DpAssertionError,
    DpError,
    DpImportError,
    DpIndexError,
    DpShapeError,
    DpTypeError,
    DpValueError,
)
from ..core.values import Function, Record, Tracer, kind_of, show, strip
from ..prims import primitives as P
from ..runtime.functions import Builtin
from ..runtime.ops import iterate, truth


class BuiltinDoc:
    """One row of the builtin table (signature like "sum(x, axis=none)"; diff is
    "yes", "no d", "-" for non-numeric, or "transform")."""

    __slots__ = ("name", "signature", "doc", "category", "diff")

    def __init__(self, name: str, signature: str, doc: str, category: str, diff: str):
        self.name = name
        self.signature = signature
        self.doc = doc
        self.category = category
        self.diff = diff

    def __repr__(self) -> str:
        return f"BuiltinDoc({self.signature!r}, {self.doc!r}, {self.category!r}, {self.diff!r})"


BUILTIN_TABLE: dict[str, BuiltinDoc] = {}
_IMPLS: dict[str, object] = {}


def builtin(sig: str, doc: str, category: str, diff: str = "yes", needs_rt: bool = False):
    name = sig[: sig.index("(")]

    def deco(fn):
        BUILTIN_TABLE[name] = BuiltinDoc(name, sig, doc, category, diff)
        _IMPLS[name] = (fn, needs_rt)
        return fn

    return deco


def builtin_of(p: P.Primitive, needs_rt: bool = False):
    """The builtin that calls primitive `p`: its signature, doc, category and
    differentiability come from the primitive's declaration (`defprim`)."""
    assert p.sig is not None, f"primitive {p.name!r} declares no builtin"
    return builtin(p.sig, p.doc, p.category, "yes" if p.differentiable else "no d", needs_rt)


CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan}
CONSTANT_DOCS = {"pi": "π = 3.14159...", "e": "Euler's number 2.71828...",
                 "inf": "positive infinity", "nan": "not a number"}


def make_builtins(rt) -> dict:
    """The builtin namespace of one interpreter (functions bound to its runtime)."""
    out: dict = {}
    for name, (fn, needs_rt) in _IMPLS.items():
        if needs_rt:
            fn = _bind_rt(fn, rt)
        out[name] = Builtin(name, fn, BUILTIN_TABLE[name].signature)
    out.update(CONSTANTS)
    return out


def _bind_rt(fn, rt):
    def bound(*args, **kwargs):
        return fn(rt, *args, **kwargs)
    return bound


# =============================================================== argument helpers
def _num(x, name, what="x"):
    if type(x) in (int, float, bool, xp.ndarray) or isinstance(x, Tracer):
        return x
    if type(x) is tuple:
        arr = _tuple_as_array(x)
        if arr is not None:
            return arr
        raise DpTypeError(f"`{name}` expects numbers or arrays for `{what}`, got a tuple "
                          "holding other values", None, None)
    raise DpTypeError(f"`{name}` expects a number or an array for `{what}`, got {kind_of(x)}",
                      None, None)


def _tuple_as_array(t: tuple):
    """A tuple of numbers (or of equal-shaped arrays, or such tuples) as an array, as
    NumPy reads `xp.sum((1, 2, 3))`; traced entries stay traced. None if it holds
    anything else."""
    items = []
    for v in t:
        if type(v) is tuple:
            v = _tuple_as_array(v)
            if v is None:
                return None
        elif not (type(v) in (int, float, bool, xp.ndarray) or isinstance(v, Tracer)):
            return None
        items.append(v)
    if not items:
        return xp.zeros(0)
    if all(type(v) in (int, float, bool) for v in items):
        return xp.array(items, dtype=xp.float64)
    return P.stack(items, axis=0)


def _axis(axis, name, x=None):
    if axis is None:
        return None
    axis = strip(axis)
    if x is not None and P.ndim(x) == 0 and (type(axis) is int or type(axis) is tuple):
        # NumPy lets axis=0 through on a number; its derivative rules cannot (as in JAX)
        raise DpIndexError(f"`{name}`: a number has no axis {axis}", None,
                           "leave out axis=, or pass an array")
    if type(axis) is int:
        return axis
    if type(axis) is tuple and all(type(a) is int for a in axis):
        return axis
    raise DpTypeError(f"`{name}`: axis must be an integer (or a tuple of integers), got "
                      f"{kind_of(axis)}", None, None)


def _dims(dims, name) -> tuple:
    if len(dims) == 1 and type(dims[0]) is tuple:
        dims = dims[0]
    out = []
    for d in dims:
        d = strip(d)
        if type(d) is float and d.is_integer():
            raise DpTypeError(f"`{name}`: sizes must be integers, got {show(d)}", None,
                              f"use int(...): int({show(d)})")
        if type(d) is not int:
            raise DpTypeError(f"`{name}`: sizes must be integers, got {kind_of(d)}", None, None)
        if d < 0:
            raise DpValueError(f"`{name}`: sizes must not be negative, got {d}", None, None)
        P.check_size(d)  # also when another dimension is 0: NumPy caps each dimension
        out.append(d)
    n = 1
    for d in out:
        n *= d
    P.check_size(n)
    return tuple(out)


def _int_arg(v, name, what):
    v = strip(v)
    if type(v) is int:
        return v
    if type(v) is float and v.is_integer():
        raise DpTypeError(f"`{name}`: {what} must be an integer, got {show(v)}", None,
                          f"use int(...): int({show(v)})")
    raise DpTypeError(f"`{name}`: {what} must be an integer, got {kind_of(v)}", None, None)


def _func(f, name, what="f"):
    if not isinstance(f, Function):
        raise DpTypeError(f"`{name}` expects a function for `{what}`, got {kind_of(f)}", None,
                          "pass a function, e.g. `fn(x) => x * x`")
    return f


# ====================================================================== math
@builtin("pow(x, y)", "x to the power y (same as x ** y)", "math")
def _pow(x, y):
    return P.pow_(_num(x, "pow", "x"), _num(y, "pow", "y"))


@builtin("clip(x, lo, hi)", "x limited to [lo, hi] elementwise (derivative 1 inside, 0 "
         "outside, 1/2 at a bound)", "math")
def _clip(x, lo, hi):
    return P.minimum(P.maximum(_num(x, "clip"), _num(lo, "clip", "lo")), _num(hi, "clip", "hi"))


@builtin_of(P.round_p)
def _round(x, digits=0):
    return P.bind(P.round_p, (strip(_num(x, "round")),), {"digits": _int_arg(digits, "round",
                                                                              "digits")})


# ================================================================= reductions
def _bool_arg(v, name: str, what: str) -> bool:
    v = strip(v)
    if type(v) is not bool:
        raise DpTypeError(f"`{name}`: {what} must be true or false, got {kind_of(v)}", None,
                          None)
    return v


def _keep_dims(r, x, axis):
    """A reduction's result with the reduced axes kept as length 1 (keepdims=true)."""
    nd = P.ndim(x)
    axes = range(nd) if axis is None else [a % nd for a in (axis if type(axis) is tuple
                                                              else (axis,))]
    return P.reshape(r, tuple(1 if i in axes else d for i, d in enumerate(P.shape(x))))


def _reduced_count(x, axis) -> int:
    """How many elements each result of a reduction along `axis` summarises."""
    shp = P.shape(x)
    if axis is None:
        return math.prod(shp)
    axes = axis if type(axis) is tuple else (axis,)
    try:
        return math.prod(shp[a] for a in axes)
    except IndexError:
        return 1  # the reduction itself reports the bad axis


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
    """log(sum(exp(x))) shifted by the (constant) maximum so it never overflows."""
    m = xp.asarray(P.bind(P.max_p, (strip(x),), {"axis": axis}), dtype=xp.float64)
    m = xp.where(xp.isfinite(m), m, 0.0)
    mk = xp.expand_dims(m, axis) if axis is not None else m
    s = P.sum_(P.exp(P.sub(x, P.normalize(mk))), axis=axis)
    r = P.add(P.log(s), P.normalize(m))
    if keepdims and axis is not None:
        r = P.reshape(r, mk.shape)
    return r


@builtin("logsumexp(x, axis=none, *, keepdims=false)", "log(sum(exp(x))) computed stably "
         "(along `axis`)", "reductions")
def _logsumexp(x, axis=None, keepdims=False):
    x = _num(x, "logsumexp")
    keepdims = _bool_arg(keepdims, "logsumexp", "keepdims")
    if axis is None and P.shape(x) and 0 in P.shape(x):
        return -math.inf  # log(sum of nothing), as NumPy and JAX
    axis = _axis(axis, "logsumexp", x)
    r = logsumexp_(x, axis)
    return _keep_dims(r, x, axis) if keepdims else r


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
        if type(strip(v)) not in (int, float, bool):
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
    x = strip(x)
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
    x = strip(x)
    t = type(x)
    if t is xp.ndarray:
        if x.ndim == 0:
            raise DpTypeError("`len` of a 0-d array", None, "use size(x)")
        return x.shape[0]
    if t in (tuple, str, range, Record):
        return len(x)
    raise DpTypeError(f"`len` expects an array, tuple, string or record, got {kind_of(x)}",
                      None, "numbers have no length; use size(x) for element counts")


@builtin("size(x)", "number of elements of x (1 for a number)", "arrays", "-")
def _size(x):
    x = strip(x)
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


# ---------------------------------------------------------- shape and assembly
# Compositions of reshape, transpose, indexing and concat: differentiable through them.
def _axis_arg(axis, nd: int, name: str, what: str = "axis") -> int:
    a = _int_arg(axis, name, what)
    if not -nd <= a < nd:
        raise DpIndexError(f"`{name}`: {what} {a} is out of range for an array with {nd} "
                           f"dimension{'s' if nd != 1 else ''}", None,
                           f"axes run from {-nd} to {nd - 1}" if nd else "a number has no axes")
    return a % nd


@builtin("expand_dims(x, axis)", "x with a new axis of length 1 at position `axis`", "arrays")
def _expand_dims(x, axis):
    x = _num(x, "expand_dims")
    s = P.shape(x)
    a = _axis_arg(axis, len(s) + 1, "expand_dims")
    return P.reshape(x, s[:a] + (1,) + s[a:])


@builtin("squeeze(x, axis=none)", "x without its axes of length 1 (or only `axis`)", "arrays")
def _squeeze(x, axis=None):
    x = _num(x, "squeeze")
    s = P.shape(x)
    if axis is None:
        return P.reshape(x, tuple(d for d in s if d != 1))
    a = _axis_arg(axis, len(s), "squeeze")
    if s[a] != 1:
        raise DpShapeError(f"`squeeze`: axis {a} has length {s[a]}, not 1", None, None)
    return P.reshape(x, s[:a] + s[a + 1:])


@builtin("flip(x, axis=none)", "x with the order of its elements reversed (along `axis`)",
         "arrays")
def _flip(x, axis=None):
    x = _num(x, "flip")
    nd = P.ndim(x)
    axes = range(nd) if axis is None else {_axis_arg(axis, nd, "flip")}
    return P.getitem(x, tuple(slice(None, None, -1) if i in axes else slice(None)
                              for i in range(nd))) if nd else x


@builtin("swapaxes(x, a, b)", "x with axes a and b exchanged", "arrays")
def _swapaxes(x, a, b):
    x = _num(x, "swapaxes")
    nd = P.ndim(x)
    a, b = _axis_arg(a, nd, "swapaxes", "a"), _axis_arg(b, nd, "swapaxes", "b")
    perm = list(range(nd))
    perm[a], perm[b] = b, a
    return P.transpose(x, tuple(perm))


@builtin("moveaxis(x, source, destination)", "x with axis `source` moved to position "
         "`destination`", "arrays")
def _moveaxis(x, source, destination):
    x = _num(x, "moveaxis")
    nd = P.ndim(x)
    src = _axis_arg(source, nd, "moveaxis", "source")
    dst = _axis_arg(destination, nd, "moveaxis", "destination")
    perm = [i for i in range(nd) if i != src]
    perm.insert(dst, src)
    return P.transpose(x, tuple(perm))


@builtin("broadcast_to(x, shape)", "x repeated along new or length-1 axes to `shape`, as "
         "NumPy broadcasts (the gradient sums back)", "arrays")
def _broadcast_to(x, shape):
    x = _num(x, "broadcast_to")
    shape = _dims((shape,) if type(strip(shape)) is tuple else (shape,), "broadcast_to")
    return P.broadcast_to(x, shape)


def _at_least(x, nd: int):
    s = P.shape(x)
    return P.reshape(x, (1,) * (nd - len(s)) + s) if len(s) < nd else x


@builtin("hstack(xs)", "join arrays column-wise: along axis 1 (axis 0 for vectors)", "arrays")
def _hstack(xs):
    xs = [_at_least(x, 1) for x in _seq(xs, "hstack")]
    return P.concat(xs, axis=0 if P.ndim(xs[0]) == 1 else 1)


@builtin("vstack(xs)", "join arrays row-wise: along axis 0, vectors as rows", "arrays")
def _vstack(xs):
    return P.concat([_at_least(x, 2) for x in _seq(xs, "vstack")], axis=0)


def _matrix(x, name: str):
    x = _num(x, name)
    if P.ndim(x) < 2:
        raise DpShapeError(f"`{name}` needs a matrix (2 or more dimensions), got shape "
                           f"{P.shape(x)}", None, None)
    return x


@builtin("tril(x, k=0)", "x with the entries above diagonal k set to 0", "linear algebra")
def _tril(x, k=0):
    x = _matrix(x, "tril")
    n, m = P.shape(x)[-2:]
    return P.mul(x, xp.tril(xp.ones((n, m)), _int_arg(k, "tril", "k")))


@builtin("triu(x, k=0)", "x with the entries below diagonal k set to 0", "linear algebra")
def _triu(x, k=0):
    x = _matrix(x, "triu")
    n, m = P.shape(x)[-2:]
    return P.mul(x, xp.triu(xp.ones((n, m)), _int_arg(k, "triu", "k")))


def _diagonal_index(n: int, m: int, k: int) -> tuple:
    rows = xp.arange(max(0, -k), min(n, m - k))
    return rows, rows + k


@builtin("diagonal(x, offset=0)", "the diagonal of a matrix (offset k: above it, -k: below), "
         "as a vector", "linear algebra")
def _diagonal(x, offset=0):
    x = _num(x, "diagonal")
    if P.ndim(x) != 2:
        raise DpShapeError(f"`diagonal` needs a matrix, got shape {P.shape(x)}", None, None)
    rows, cols = _diagonal_index(*P.shape(x), _int_arg(offset, "diagonal", "offset"))
    return P.getitem(x, (rows, cols))


@builtin("trace(x, offset=0)", "the sum of the diagonal of a matrix", "linear algebra")
def _trace(x, offset=0):
    return P.sum_(_diagonal(x, offset))


@builtin("diag(v, k=0)", "a vector as the diagonal k of a square matrix; a matrix: its "
         "diagonal k", "linear algebra")
def _diag(v, k=0):
    v = _num(v, "diag")
    k = _int_arg(k, "diag", "k")
    if P.ndim(v) == 2:
        return _diagonal(v, k)
    if P.ndim(v) != 1:
        raise DpShapeError(f"`diag` needs a vector or a matrix, got shape {P.shape(v)}", None,
                           None)
    n = P.shape(v)[0] + abs(k)
    return P.index_add(v, _diagonal_index(n, n, k), (n, n))


@builtin("roll(x, shift, axis=none)", "x with its elements shifted by `shift` places along "
         "`axis` (cyclically; the flattened array when no axis is given)", "arrays")
def _roll(x, shift, axis=None):
    x = _num(x, "roll")
    shift = _int_arg(shift, "roll", "shift")
    if axis is None:
        s = P.shape(x)
        return P.reshape(_roll(P.reshape(x, (-1,)), shift, 0), s) if s else x
    nd = P.ndim(x)
    a = _axis_arg(axis, nd, "roll")
    n = P.shape(x)[a]
    if n == 0 or shift % n == 0:
        return x
    cut = n - shift % n
    head = tuple(slice(cut, None) if i == a else slice(None) for i in range(nd))
    tail = tuple(slice(None, cut) if i == a else slice(None) for i in range(nd))
    return P.concat([P.getitem(x, head), P.getitem(x, tail)], axis=a)


@builtin("repeat(x, repeats, axis=none)", "each element repeated `repeats` times (along "
         "`axis`; flattened when no axis is given)", "arrays")
def _repeat(x, repeats, axis=None):
    x = _num(x, "repeat")
    r = _int_arg(repeats, "repeat", "repeats")
    if r < 0:
        raise DpValueError("`repeat`: repeats must not be negative", None, None)
    if axis is None:
        x, a = P.reshape(x, (-1,)), 0
    else:
        a = _axis_arg(axis, P.ndim(x), "repeat")
    n = P.shape(x)[a]
    P.check_size(math.prod(P.shape(x)) * r)
    idx = xp.repeat(xp.arange(n), r)  # a gather; its transpose adds the repeats up
    return P.getitem(x, tuple(idx if i == a else slice(None) for i in range(P.ndim(x))))


@builtin("tile(x, reps)", "x repeated `reps` times (an int, or a tuple: per axis)", "arrays")
def _tile(x, reps):
    x = _num(x, "tile")
    reps = strip(reps)
    reps = (reps,) if type(reps) is int else reps
    if type(reps) is not tuple or not all(type(r) is int and r >= 0 for r in reps):
        raise DpTypeError("`tile`: reps must be a non-negative int or a tuple of them", None,
                          None)
    nd = max(P.ndim(x), len(reps))
    x = _at_least(x, nd)
    reps = (1,) * (nd - len(reps)) + reps
    s = P.shape(x)
    P.check_size(math.prod(s) * math.prod(reps))
    # (r0, s0, r1, s1, ...) by broadcasting, then merged axis by axis
    spread = P.broadcast_to(P.reshape(x, tuple(d for si in s for d in (1, si))),
                            tuple(d for ri, si in zip(reps, s) for d in (ri, si)))
    return P.reshape(spread, tuple(ri * si for ri, si in zip(reps, s)))


@builtin_of(P.where_p)
def _where(cond, a, b):
    return P.where(_num(cond, "where", "cond"), _num(a, "where", "a"), _num(b, "where", "b"))


@builtin("dot(a, b)", "inner product of vectors; matrix product for 2-D arrays", "arrays")
def _dot(a, b):
    a, b = _num(a, "dot", "a"), _num(b, "dot", "b")
    if P.ndim(a) == 0 or P.ndim(b) == 0:
        return P.mul(a, b)
    try:
        return P.matmul(a, b)
    except DpError as err:  # the report names what the user called
        err.message = err.message.replace("`@`", "`dot`")
        raise


@builtin("outer(a, b)", "outer product of two vectors", "arrays")
def _outer(a, b):
    a, b = _num(a, "outer", "a"), _num(b, "outer", "b")
    P.check_size(max(1, int(xp.size(strip(a)))) * max(1, int(xp.size(strip(b)))))
    return P.outer_(a, b)


@builtin_of(P.matmul_p)
def _matmul(a, b):
    return P.matmul(_num(a, "matmul", "a"), _num(b, "matmul", "b"))


@builtin("softmax(x, axis=-1)", "exp(x) / sum(exp(x)) along `axis`, computed stably", "arrays")
def _softmax(x, axis=-1):
    x = _num(x, "softmax")
    if P.ndim(x) == 0:
        return 1.0
    if 0 in P.shape(x):
        return x  # nothing to normalise
    axis = _axis(axis, "softmax")
    lse = logsumexp_(x, axis, keepdims=True)
    return P.exp(P.sub(x, lse))


# ========================================================== linear algebra
@builtin_of(P.solve_p)
def _solve(A, b):
    return P.solve(_num(A, "solve", "A"), _num(b, "solve", "b"))


@builtin_of(P.inv_p)
def _inv(A):
    return P.inv(_num(A, "inv", "A"))


@builtin_of(P.det_p)
def _det(A):
    return P.det(_num(A, "det", "A"))


# ====================================================================== random
@builtin("seed(n)", "restart the random stream from seed n (reproducible)", "random", "-",
         needs_rt=True)
def _seed(rt, n):
    n = _int_arg(n, "seed", "n")
    if n < 0:
        raise DpValueError("`seed` needs a non-negative integer", None, None)
    rt.rng = xp.random.default_rng(n)


@builtin("rand(d...)", "uniform random numbers in [0, 1) with the given dimensions", "random",
         "no d", needs_rt=True)
def _rand(rt, *dims):
    d = _dims(dims, "rand")
    return rt.rng.random(d) if d else float(rt.rng.random())


@builtin("randn(d...)", "standard normal random numbers with the given dimensions", "random",
         "no d", needs_rt=True)
def _randn(rt, *dims):
    d = _dims(dims, "randn")
    return rt.rng.standard_normal(d) if d else float(rt.rng.standard_normal())


@builtin("randint(lo, hi, d...)", "random integers lo ≤ k < hi (as floats in an array)",
         "random", "no d", needs_rt=True)
def _randint(rt, lo, hi, *dims):
    lo = _int_arg(lo, "randint", "lo")
    hi = _int_arg(hi, "randint", "hi")
    if hi <= lo:
        raise DpValueError(f"`randint`: hi ({hi}) must be greater than lo ({lo})", None,
                           "the range is lo ≤ k < hi")
    if lo < -2**63 or hi > 2**63:
        raise DpValueError("`randint`: lo and hi must lie within ±2**63", None, None)
    d = _dims(dims, "randint")
    if not d:
        return int(rt.rng.integers(lo, hi))
    return rt.rng.integers(lo, hi, d).astype(xp.float64)


# ======================================================================= trees
@builtin("tree_map(f, t, ...)", "apply f leaf-wise over one or more trees of the same structure; "
         "gives a tree of that structure",
         "trees", "yes")
def _tree_map(f, t, *more):
    _func(f, "tree_map")

    def go(path, a, *bs):
        ta = type(a)
        if ta is tuple:
            for b in bs:
                if type(b) is not tuple or len(b) != len(a):
                    other = (f"a tuple of length {len(b)}" if type(b) is tuple
                             else kind_of(b))
                    raise DpTypeError(f"tree_map: trees differ at {path or 'the root'}: "
                                      f"a tuple of length {len(a)} vs {other}", None,
                                      "all trees must have the same structure")
            return tuple(go(f"{path}[{i}]", x, *(b[i] for b in bs)) for i, x in enumerate(a))
        if ta is Record:
            for b in bs:
                if type(b) is not Record or list(b.keys()) != list(a.keys()):
                    if type(b) is Record and set(b.keys()) == set(a.keys()):
                        continue
                    other = (f"fields {', '.join(b.keys())}" if type(b) is Record
                             else kind_of(b))
                    raise DpTypeError(f"tree_map: trees differ at {path or 'the root'}: a record "
                                      f"with fields {', '.join(a.keys())} vs {other}", None,
                                      "all trees must have the same structure")
            return Record({k: go(f"{path}.{k}", v, *(b._f[k] for b in bs))
                           for k, v in a.items()})
        return f(a, *bs)

    return go("", t, *more)


# ======================================================================= other
@builtin("print(...)", "print the values separated by one space, then a new line; strings "
         "bare, everything else in dprog syntax",
         "other", "-", needs_rt=True)
def _print(rt, *args):
    rt.write(" ".join(show(a) for a in args) + "\n")


@builtin("str(x)", "x as text, in dprog syntax", "other", "-")
def _str(x):
    return show(x)


@builtin("float(x)", "x as a float (numbers, one-element arrays, numeric strings)", "other")
def _float(x):
    t = type(x)
    if t is float:
        return x
    if t is int or t is bool:
        return float(x)
    if t is str:
        try:
            return float(x)
        except ValueError:
            raise DpValueError(f"cannot convert the string {show(x, True)} to a float", None,
                               None) from None
    if isinstance(x, Tracer):
        s = strip(x)
        if type(s) is xp.ndarray and s.size != 1:
            raise DpTypeError(f"`float` of an array of shape {s.shape}", None,
                              "index one element first")
        return P.reshape(x, ()) if type(s) is xp.ndarray else x
    if t is xp.ndarray:
        if x.size != 1:
            raise DpTypeError(f"`float` of an array of shape {x.shape}", None,
                              "index one element first, e.g. float(v[0])")
        return float(x.reshape(()))
    raise DpTypeError(f"cannot convert {kind_of(x)} to a float", None, None)


@builtin("int(x)", "x truncated toward zero as an integer (numbers, numeric strings)", "other",
         "no d")
def _int(x):
    x = strip(x)
    t = type(x)
    if t is int:
        return x
    if t is bool:
        return int(x)
    if t is float:
        if x != x or x in (math.inf, -math.inf):
            raise DpValueError(f"cannot convert {show(x)} to an integer", None, None)
        return int(x)
    if t is str:
        try:
            return int(x)
        except ValueError:
            try:
                return int(float(x))
            except ValueError:
                raise DpValueError(f"cannot convert the string {show(x, True)} to an integer",
                                   None, None) from None
    if t is xp.ndarray and x.size == 1:
        return _int(float(x.reshape(())))
    raise DpTypeError(f"cannot convert {kind_of(x)} to an integer", None, None)


@builtin("assert(cond, message=\"assertion failed\")", "stop with an error if cond is false",
         "other", "-")
def _assert(cond, message="assertion failed"):
    if not truth(cond):
        raise DpAssertionError(message if type(message) is str else show(message), None, None)


class _Progress:
    def __init__(self, rt, xs, label):
        self.items = xs
        self.iterable = iterate(xs)
        self.label = label
        self.rt = rt

    def dp_iter(self):
        err = self.rt.stderr if self.rt.stderr is not None else sys.stderr
        try:
            tty = err.isatty()
        except (AttributeError, ValueError):
            tty = False
        if not tty:
            yield from self.iterable
            return
        try:
            total = len(self.items)
        except TypeError:
            total = None
        t0 = time.monotonic()
        last = 0.0
        i = 0
        for i, x in enumerate(self.iterable, 1):
            now = time.monotonic()
            if now - last > 0.1 or i == total:
                last = now
                rate = i / max(now - t0, 1e-9)
                if total:
                    left = (total - i) / rate if rate > 0 else 0
                    width = 24
                    fill = int(width * i / total)
                    bar = "#" * fill + "-" * (width - fill)
                    err.write(f"\r{self.label} [{bar}] {i}/{total} {rate:.1f}/s {left:.0f}s left")
                else:
                    err.write(f"\r{self.label} {i} {rate:.1f}/s")
                err.flush()
            yield x
        err.write("\n")
        err.flush()


@builtin("progress(xs, label=\"\")", "iterate like xs, drawing a progress bar on a terminal's "
         "standard error", "other", "-", needs_rt=True)
def _progress(rt, xs, label=""):
    return _Progress(rt, xs, label if type(label) is str else show(label))


def _file_access(rt, name):
    if not rt.allow_files:
        raise DpImportError(f"`{name}` is not allowed here: this interpreter has no file access",
                            None, "create the interpreter with allow_files=True")


def _path(p, name):
    if type(p) is not str:
        raise DpTypeError(f"`{name}` expects a path string, got {kind_of(p)}", None, None)
    if "\x00" in p:
        raise DpValueError(f"`{name}`: the path contains a NUL character", None, None)
    return p


def _csv_field(text: str) -> float:
    """One CSV field as a number; an empty field is a missing value (nan), as in NumPy."""
    text = text.strip()
    return math.nan if text == "" else float(text)


def _is_numeric_row(line: str) -> bool:
    try:
        [_csv_field(c) for c in line.split(",")]
    except ValueError:
        return False
    return True


@builtin("read_csv(path, header=none)", "a numeric CSV file as a 2-D array; `header`: true "
         "skips the first row, false keeps it, none (default) skips it only when it is not "
         "numeric; empty fields are nan", "files", "-", needs_rt=True)
def _read_csv(rt, path, header=None):
    _file_access(rt, "read_csv")
    path = _path(path, "read_csv")
    if header is not None and type(header) is not bool:
        raise DpTypeError(f"`read_csv`: header must be true, false or none, got "
                          f"{kind_of(header)}", None, None)
    try:
        with open(path, encoding="utf-8") as fh:
            numbered = [(k + 1, ln) for k, ln in enumerate(fh.read().splitlines()) if ln.strip()]
    except OSError as exc:
        raise DpImportError(f"cannot read {path!r}: {exc.strerror}", None, None) from None
    except UnicodeDecodeError:
        raise DpImportError(f"cannot read {path!r}: it is not UTF-8 text", None,
                            "read_csv reads comma-separated numbers in a text file") from None
    if header is None:  # automatic: a first row that is all numbers is data, never dropped
        header = bool(numbered) and not _is_numeric_row(numbered[0][1])
    head, data = (numbered[:1], numbered[1:]) if header else ([], numbered)
    rows = []
    for lineno, ln in data:
        try:
            rows.append([_csv_field(c) for c in ln.split(",")])
        except ValueError:
            raise DpValueError(f"{path}: line {lineno} is not numeric: {ln[:60]!r}",
                               None, "read_csv reads numbers only") from None
        if len(rows[-1]) != len(rows[0]):
            raise DpValueError(f"{path}: line {lineno} has {len(rows[-1])} fields, the first "
                               f"data row has {len(rows[0])}", None, None)
    if not rows:  # only a header: no rows, as many columns as it names
        return xp.zeros((0, len(head[0][1].split(",")) if head else 0))
    return xp.array(rows, dtype=xp.float64)


@builtin("load(path)", "read a .npy file (an array) or .npz file (a record of arrays)", "files",
         "-", needs_rt=True)
def _load(rt, path):
    _file_access(rt, "load")
    path = _path(path, "load")
    try:
        data = xp.load(path, allow_pickle=False)
        if isinstance(data, xp.ndarray):
            return _numeric_array(data, path)
        with data:  # members are read (and checked) here, inside the same guard
            return Record({k: _numeric_array(data[k], f"{path} ({k})") for k in data.files})
    except DpError:
        raise
    except OSError as exc:
        raise DpImportError(f"cannot load {path!r}: {exc.strerror or exc}", None, None) from None
    except Exception:  # noqa: BLE001 - any failure to decode a file is the file's fault
        raise _not_loadable(path) from None


def _not_loadable(path: str) -> DpImportError:
    return DpImportError(f"cannot load {path!r}: not a .npy or .npz file of numbers (empty, "
                         "truncated, damaged or holding Python objects)", None,
                         "save it with numpy.save / numpy.savez (no Python objects)")


def _numeric_array(a, where):
    """An array read from a file as a dprog value: real numbers (or bools) only."""
    return P.accept_array(a, lambda dtype: DpImportError(
        f"cannot load {where!r}: it holds {dtype} values, not real numbers", None,
        "dprog arrays are float64"))


def _saved_array(v, where: str) -> xp.ndarray:
    """A number or array as the float64 array `save` writes (checked before any file is
    touched, so a value that cannot be saved leaves the old file as it was)."""
    v = strip(v)
    if type(v) not in (xp.ndarray, float, int, bool):
        raise DpTypeError(f"`save`: {where} is {kind_of(v)}; only numbers and arrays can be "
                          "saved", None, None)
    try:
        return xp.asarray(v, dtype=xp.float64)
    except OverflowError:
        raise DpValueError(f"`save`: {where} is an integer too large for a float64", None,
                           None) from None


def _write_npz(fh, arrays: dict) -> None:
    """An .npz archive with exactly these member names (xp.savez would take some names,
    such as `file` or `allow_pickle`, as its own keyword arguments)."""
    import zipfile  # only when saving: `dp` start-up does not pay for it

    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                xp.lib.format.write_array(member, arr, allow_pickle=False)


def _new_temporary(folder: str) -> tuple[int, str]:
    """A new file in `folder` that nothing else uses (created exclusively)."""
    for _ in range(100):
        tmp = os.path.join(folder, f".dp-save-{os.getpid()}-{os.urandom(4).hex()}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


def _replace_atomically(path: str, write) -> None:
    """Write through `write(fh)` to a temporary file beside `path`, then rename it over
    `path`: an error or a kill part-way leaves the previous file intact."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = _new_temporary(folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@builtin("save(path, value)", "write an array to .npy or a record of arrays to .npz", "files",
         "-", needs_rt=True)
def _save(rt, path, value):
    _file_access(rt, "save")
    path = _path(path, "save")
    if "\x00" in path:
        raise DpValueError("`save`: the path contains a NUL character", None, None)
    value = strip(value)
    if type(value) is Record:
        arrays = {k: _saved_array(v, f"field `{k}`") for k, v in value.items()}
        write = lambda fh: _write_npz(fh, arrays)  # noqa: E731
    elif type(value) in (xp.ndarray, float, int, bool):
        arr = _saved_array(value, "the value")
        write = lambda fh: xp.save(fh, arr, allow_pickle=False)  # noqa: E731
    else:
        raise DpTypeError(f"`save` writes an array or a record of arrays, got "
                          f"{kind_of(value)}", None, None)
    try:
        _replace_atomically(path, write)
    except OSError as exc:
        raise DpImportError(f"cannot write {path!r}: {exc.strerror or exc}", None, None) from None


# ============================================================ differentiation
class Transformed(Function):
    """A function made by a transformation (grad(f), jacfwd(f), ...)."""

    __slots__ = ("name", "fn")

    def __init__(self, name, fn):
        self.name = name
        self.fn = fn

    def describe(self) -> str:
        return f"<fn {self.name}>"

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


def _fname(f):
    return getattr(f, "name", "f")


def _first_arg(what, f, call, argnums=0):
    """A Jacobian-style function of f's arguments: differentiate with respect to
    argument `argnums` (an int, or a tuple of ints for a tuple of Jacobians, as in
    JAX); the other arguments and keyword arguments are passed through."""
    argnums = strip(argnums)

    def jac(*args, **kwargs):
        if not args:
            raise DpArgumentError(f"`{what}({_fname(f)})` needs the point to differentiate at",
                                  None, f"e.g. {what}(f)(x)")
        nums, single = check_argnums(argnums, len(args), what)
        if single and nums[0] == 0 and not kwargs:
            return call(f, args[0], args[1:])

        def g(x):
            full = list(args)
            for k, v in zip(nums, (x,) if single else x):
                full[k] = v
            return f(*full, **kwargs)
        x = args[nums[0]] if single else tuple(args[k] for k in nums)
        return call(g, x, ())
    return jac


@builtin("grad(f, argnums=0)", "function giving the gradient of scalar-valued f with respect "
         "to argument argnums (an int, or a tuple of ints for a tuple of gradients); trees give "
         "trees", "differentiation", "transform")
def _grad(f, argnums=0):
    _func(f, "grad")
    argnums = strip(argnums)

    def g(*args, **kwargs):
        return value_and_grad_call(f, args, kwargs, argnums, "grad")[1]
    return Transformed(f"grad({_fname(f)})", g)


@builtin("value_and_grad(f, argnums=0)", "function giving (f(x...), grad f(x...))",
         "differentiation", "transform")
def _value_and_grad(f, argnums=0):
    _func(f, "value_and_grad")
    argnums = strip(argnums)

    def g(*args, **kwargs):
        return value_and_grad_call(f, args, kwargs, argnums, "value_and_grad")
    return Transformed(f"value_and_grad({_fname(f)})", g)


@builtin("derivative(f)", "f' by forward mode, for f from numbers to numbers (elementwise on "
         "arrays)", "differentiation", "transform")
def _derivative(f):
    _func(f, "derivative")

    def d(*args, **kwargs):
        if not args:
            raise DpArgumentError(f"`derivative({_fname(f)})` needs the point to "
                                  "differentiate at", None, "e.g. derivative(f)(x)")
        x = to_float(_num(args[0], "derivative"))
        rest = args[1:]
        s = P.shape(x)
        one = xp.ones(s) if s else 1.0
        return jvp_call(lambda v: f(v, *rest, **kwargs), (x,), (one,))[1]
    return Transformed(f"derivative({_fname(f)})", d)


@builtin("jvp(f, primals, tangents)", "(f(primals...), J·tangents) by forward mode",
         "differentiation", "transform")
def _jvp(f, primals, tangents):
    _func(f, "jvp")
    if type(primals) is not tuple or type(tangents) is not tuple:
        raise DpTypeError("`jvp` takes the primals and the tangents as tuples", None,
                          "e.g. jvp(f, (x,), (t,))")
    if len(primals) != len(tangents):
        raise DpArgumentError(f"`jvp` got {len(primals)} primals but {len(tangents)} tangents",
                              None, None)
    return jvp_call(f, primals, tangents)


@builtin("vjp(f, x...)", "(f(x...), pullback); pullback(ct) gives a tuple of cotangents",
         "differentiation", "transform")
def _vjp(f, *xs):
    _func(f, "vjp")
    y, pull = vjp_call(f, xs)

    def pullback(*cts, **kwargs):
        if len(cts) != 1 or kwargs:
            raise DpArgumentError(
                f"a pullback takes 1 argument (the cotangent of the output) but "
                f"{len(cts) + len(kwargs)} were given", None,
                "pass one cotangent shaped like f's output; it returns a tuple")
        return pull(cts[0])
    return (y, Transformed(f"pullback({_fname(f)})", pullback))


@builtin("jacfwd(f, argnums=0)", "function giving the Jacobian of f by forward mode (one "
         "batched pass)",
         "differentiation", "transform")
def _jacfwd(f, argnums=0):
    _func(f, "jacfwd")
    return Transformed(f"jacfwd({_fname(f)})", _first_arg("jacfwd", f, jacfwd_call, argnums))


@builtin("jacrev(f, argnums=0)", "function giving the Jacobian of f by reverse mode (one pass "
         "per output)",
         "differentiation", "transform")
def _jacrev(f, argnums=0):
    _func(f, "jacrev")
    return Transformed(f"jacrev({_fname(f)})", _first_arg("jacrev", f, jacrev_call, argnums))


@builtin("jacobian(f, argnums=0)", "function giving the Jacobian of f, by the cheaper mode",
         "differentiation", "transform")
def _jacobian(f, argnums=0):
    _func(f, "jacobian")
    return Transformed(f"jacobian({_fname(f)})",
                       _first_arg("jacobian", f, jacobian_call, argnums))


@builtin("hessian(f, argnums=0)", "function giving the Hessian of scalar f (jacfwd of jacrev)",
         "differentiation", "transform")
def _hessian(f, argnums=0):
    _func(f, "hessian")
    return Transformed(f"hessian({_fname(f)})", _first_arg("hessian", f, hessian_call, argnums))


@builtin("hvp(f, x, v)", "Hessian-vector product of scalar f at x, without forming the Hessian",
         "differentiation", "transform")
def _hvp(f, x, v):
    _func(f, "hvp")
    return hvp_call(f, x, v)


@builtin("stop_gradient(x)", "x itself, with zero derivative (for trees too)", "differentiation",
         "no d")
def _stop_gradient(x):
    leaves, shp = flatten_any(x)
    return unflatten_any(shp, [strip(v) for v in leaves])


class _Custom(Function):
    __slots__ = ("name", "call")

    def __init__(self, name, call):
        self.name = name
        self.call = call

    def describe(self) -> str:
        return f"<fn {self.name}>"

    def __call__(self, *args, **kwargs):
        return self.call(args, kwargs)


def _positional_only(name, call):
    def c(args, kwargs):
        if kwargs:
            raise DpArgumentError(f"`{name}` takes positional arguments only", None, None)
        return call(args)
    return c


@builtin("custom_vjp(f, fwd, bwd)", "f with a reverse rule: fwd(x...) -> (y, res), "
         "bwd(res, g) -> tuple of cotangents", "differentiation", "transform")
def _custom_vjp(f, fwd, bwd):
    _func(f, "custom_vjp")
    _func(fwd, "custom_vjp", "fwd")
    _func(bwd, "custom_vjp", "bwd")
    name = f"custom_vjp({_fname(f)})"
    return _Custom(name, _positional_only(
        name, lambda args: call_custom_vjp(f, fwd, bwd, args)))


@builtin("custom_jvp(f, rule)", "f with a forward rule: rule((x...), (t...)) -> (y, t_out); "
         "reverse mode uses it too", "differentiation", "transform")
def _custom_jvp(f, rule):
    _func(f, "custom_jvp")
    _func(rule, "custom_jvp", "rule")
    name = f"custom_jvp({_fname(f)})"
    return _Custom(name, _positional_only(name, lambda args: call_custom_jvp(f, rule, args)))


@builtin("checkpoint(f)", "f whose intermediates are recomputed in the backward pass instead "
         "of stored", "differentiation", "transform")
def _checkpoint(f):
    _func(f, "checkpoint")
    return _Custom(f"checkpoint({_fname(f)})", lambda args, kwargs: call_checkpoint(
        (lambda *a: f(*a, **kwargs)) if kwargs else f, args))


@builtin("check_grad(f, x...)", "compare forward, reverse and central-difference derivatives; "
         "true, or an error naming the worst entry", "differentiation", "transform")
def _check_grad(f, *xs):
    _func(f, "check_grad")
    if not xs:
        raise DpArgumentError("`check_grad` needs at least one point to check at", None,
                              "e.g. check_grad(f, 1.0)")
    return check_grad_call(f, xs)


__all__ = ["BUILTIN_TABLE", "Builtin", "make_builtins", "CONSTANTS", "DpError"]


# ================================================= builtins derived from primitives
def _reduction_builtin(p: P.Primitive, name: str):
    def reduce(x, axis=None, keepdims=False):
        x = _num(x, name)
        axis = _axis(axis, name, x)
        r = P.bind(p, (x,), {"axis": axis})
        return _keep_dims(r, x, axis) if _bool_arg(keepdims, name, "keepdims") else r
    return reduce


def _binary_builtin(p: P.Primitive, name: str, first: str, second: str):
    op = p.op

    def call(a, b):
        return op(_num(a, name, first), _num(b, name, second))
    return call


def _plain_params(sig: str) -> list[str]:
    """The parameter names of `sig` when all are plain (no defaults, `*` or `...`)."""
    params = [q.strip() for q in sig[sig.index("(") + 1: -1].split(",")]
    return params if all(q.isidentifier() for q in params) else []


def _derive_primitive_builtins() -> None:
    """Every primitive that declares a builtin and has no hand-written wrapper above
    gets one from the shape of its signature: `f(x)` of an elementwise primitive is
    its operation (which checks its operand), `f(a, b)` the operation on two numbers
    or arrays (tuples of numbers read as arrays), `f(x, axis=none)` a reduction."""
    for p in P.REGISTRY.values():
        if p.sig is None:
            continue
        name = p.sig[: p.sig.index("(")]
        if name in _IMPLS:
            continue
        if p.elementwise and p.sig == f"{name}(x)":
            builtin_of(p)(p.op)
        elif p.elementwise and len(params := _plain_params(p.sig)) == 2:
            builtin_of(p)(_binary_builtin(p, name, *params))
        elif p.sig in (f"{name}(x, axis=none, *, keepdims=false)",
                       f"{name}(x, *, axis=none, keepdims=false)"):
            builtin_of(p)(_reduction_builtin(p, name))
        else:
            raise AssertionError(f"primitive {p.name!r} needs a hand-written builtin for "
                                 f"its signature {p.sig}")


_derive_primitive_builtins()
