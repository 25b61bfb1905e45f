"""The boundary between Python and dprog values (contract: docs/embedding.md).

`to_dprog` and `to_python` convert values in each direction; callables cross as
wrappers that convert again at every call, so the two directions live together:

* `PyFunction`: a Python callable handed to dprog. Arguments go out through
  `to_python`, the result comes back through `to_dprog`; an exception becomes a
  `DpHostError` whose `__cause__` is the original.
* `PyCallable`: a dprog function handed to Python, run under its interpreter's
  limits (or `host_guard` when there is none).
* `TracedValue`: what Python code sees when dprog differentiates through it
  (a Python function called from a function being differentiated, a
  derivative rule at second order, a Python function given to `dprog.grad`).
  Its operators, the NumPy ufuncs and a few NumPy functions dispatch to dprog
  primitives, so such code is itself differentiable.
"""

from __future__ import annotations

import math
import sys

from ..core.backend import xp
from ..core.errors import (
    DpDifferentiationError,
    DpError,
    DpTypeError,
)
from ..core.values import Function, Module, Record, Tracer, check_structure, show, strip
from ..lib.builtins import make_builtins
from ..prims import primitives as P
from ..runtime.indexes import index_part
from ..runtime.ops import BINOPS, index_value, make_array, op_neg, truth
from .guard import as_dp_error, host_error, host_guard  # noqa: F401 - re-exported


# ================================================================ plain callables
class PyFunction(Function):
    """A Python callable made callable from dprog (arguments converted both ways)."""

    __slots__ = ("fn", "interp", "name")

    def __init__(self, name, fn, interp):
        self.name = name
        self.fn = fn
        self.interp = interp

    def describe(self) -> str:
        return f"<python fn {self.name}>"

    def __call__(self, *args, **kwargs):
        interp = self.interp
        a = [to_python(x, interp) for x in args]
        kw = {k: to_python(v, interp) for k, v in kwargs.items()}
        try:
            r = self.fn(*a, **kw)
        except DpError:
            raise
        except Exception as exc:
            raise host_error(f"the Python function `{self.name}`", exc) from exc
        try:
            return to_dprog(r, interp)
        except DpError as err:
            err.message = f"the Python function `{self.name}` returned a bad value: {err.message}"
            err.args = (err.message,)
            raise


def wrap_python_callable(fn, interp) -> PyFunction:
    """A host callable as a dprog function value."""
    return PyFunction(getattr(fn, "__name__", "python_function"), fn, interp)


# ================================================================ traced values
def _unwrap(x):
    """A Python operand of a TracedValue operation as a dprog value."""
    t = type(x)
    if t is TracedValue:
        return x._v
    if t is float or t is int or t is bool:
        return x
    return to_dprog(x)


def _wrap(r):
    """A dprog result seen from Python: traced values stay wrapped, plain ones are plain."""
    if isinstance(r, Tracer):
        return TracedValue(r)
    if type(r) is tuple:
        return tuple(_wrap(x) for x in r)
    return r


def _not_traceable(what: str) -> DpDifferentiationError:
    return DpDifferentiationError(
        f"{what} cannot take a value that is being differentiated", None,
        "in Python code that dprog differentiates use operators, NumPy ufuncs (xp.sin, xp.exp, "
        "...), xp.sum/xp.dot/xp.reshape/..., or dprog functions from interp[...]; or define "
        "the computation as a primitive with its own jvp/vjp rules")


def _op(sym):

    return BINOPS[sym]


class TracedValue:
    """A dprog value carrying derivatives, as Python code being differentiated sees it.

    Supports + - * / // % ** @, unary - and +, abs(), comparisons (on the plain
    values, as dprog conditions do), indexing with ints and slices, len(),
    iteration over the first axis, `.shape`, `.ndim`, `.size`, `.T`, NumPy
    ufuncs and the NumPy functions listed in docs/embedding.md. `.value` is the
    plain value (no derivative flows through it).
    """

    __slots__ = ("_v",)
    __array_priority__ = 1000  # ndarray (op) TracedValue defers to us

    def __init__(self, v):
        self._v = v

    # plain information ------------------------------------------------------
    @property
    def value(self):
        """The plain value underneath (a float or a NumPy array; no derivative)."""
        v = strip(self._v)
        return v.copy() if type(v) is xp.ndarray else v

    @property
    def shape(self) -> tuple:
        return P.shape(self._v)

    @property
    def ndim(self) -> int:
        return P.ndim(self._v)

    @property
    def size(self) -> int:
        return int(xp.prod(self.shape)) if self.shape else 1

    @property
    def T(self) -> TracedValue:
        return _wrap(P.transpose(self._v) if self.ndim >= 2 else self._v)

    def __repr__(self) -> str:
        return f"TracedValue({show(strip(self._v))})"

    def __len__(self) -> int:
        s = self.shape
        if not s:
            raise TypeError("len() of a traced number")
        return s[0]

    def __bool__(self) -> bool:

        return truth(strip(self._v))

    def __float__(self) -> float:
        raise DpDifferentiationError(
            "float() of a value that is being differentiated would lose its derivative", None,
            "compute with the value itself, or use `.value` for the plain number")

    __int__ = __float__
    __index__ = __float__

    def __array__(self, dtype=None, copy=None):
        raise _not_traceable("converting to a NumPy array (xp.asarray)")

    # arithmetic ------------------------------------------------------------------
    def _bin(self, sym, other, reverse=False):
        a, b = self._v, _unwrap(other)
        if reverse:
            a, b = b, a
        return _wrap(_op(sym)(a, b))

    __hash__ = None  # type: ignore[assignment]

    def __neg__(self):
        return _wrap(P.neg(self._v))

    def __pos__(self):
        return self

    def __abs__(self):
        return _wrap(P.abs_(self._v))

    def __getitem__(self, idx):

        parts = idx if type(idx) is tuple else (idx,)
        clean = []
        for i in parts:
            if type(i) is TracedValue:
                i = strip(i._v)
            if isinstance(i, xp.integer):
                i = int(i)
            elif isinstance(i, list):
                i = xp.asarray(i)
            if type(i) is xp.ndarray and i.dtype.kind in "iu":
                i = i.astype(xp.float64)  # as dprog holds it; index_part checks it
            if not (type(i) in (int, slice, xp.ndarray) or i is None or i is Ellipsis):
                raise DpTypeError(f"a traced array is indexed with integers, slices, index "
                                  f"arrays, masks, None or ..., got {type(i).__name__}",
                                  None, None)
            clean.append(i if type(i) is slice else index_part(i))
        return _wrap(index_value(self._v, clean))

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # NumPy protocols ------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = _UFUNCS.get(ufunc.__name__)
        if method != "__call__" or kwargs or fn is None:
            name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
            raise _not_traceable(f"`numpy.{name}`" + (" with keyword arguments" if kwargs
                                                       and fn is not None else ""))
        return _wrap(fn(*(_unwrap(x) for x in inputs)))

    def __array_function__(self, func, types, args, kwargs):
        impl = _array_functions().get(func)
        if impl is None:
            raise _not_traceable(f"`numpy.{getattr(func, '__name__', func)}`")
        return impl(*args, **kwargs)


def _operator(sym: str, reverse: bool = False):
    def method(self, other, *_modulo):
        return self._bin(sym, other, reverse)
    return method


# TracedValue's operators: each the dprog operator of the same symbol (the reflected
# forms for arithmetic; comparisons see the plain values, as dprog conditions do)
for _name, _sym in (("add", "+"), ("sub", "-"), ("mul", "*"), ("truediv", "/"),
                    ("floordiv", "//"), ("mod", "%"), ("pow", "**"), ("matmul", "@")):
    setattr(TracedValue, f"__{_name}__", _operator(_sym))
    setattr(TracedValue, f"__r{_name}__", _operator(_sym, reverse=True))
for _name, _sym in (("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">="), ("eq", "=="),
                    ("ne", "!=")):
    setattr(TracedValue, f"__{_name}__", _operator(_sym))


def _square(x):
    return P.mul(x, x)


_UFUNCS: dict = {}  # NumPy ufunc name -> dprog operation (filled by _init_ufuncs)


def _init_ufuncs() -> None:

    def pos(x):
        return x

    _UFUNCS.clear()
    # a primitive implemented by a NumPy ufunc stands for that ufunc (xp.sin -> sin, ...);
    # all are elementwise, none in a family loaded on first use (a test checks it)
    for p in P.loaded().values():
        if isinstance(p.impl, xp.ufunc) and p.op is not None:
            _UFUNCS[p.impl.__name__] = p.op
    # the rest: the language's operators, aliases and short compositions
    _UFUNCS.update({
        "divide": BINOPS["/"], "true_divide": BINOPS["/"], "floor_divide": BINOPS["//"],
        "remainder": BINOPS["%"], "power": BINOPS["**"], "float_power": BINOPS["**"],
        "matmul": BINOPS["@"], "less": BINOPS["<"], "less_equal": BINOPS["<="],
        "greater": BINOPS[">"], "greater_equal": BINOPS[">="], "equal": BINOPS["=="],
        "not_equal": BINOPS["!="], "negative": op_neg, "positive": pos, "fabs": P.abs_,
        "square": _square, "reciprocal": lambda x: P.div(1.0, x),
        "log2": lambda x: P.div(P.log(x), math.log(2.0)),
        "log10": lambda x: P.div(P.log(x), math.log(10.0)), "fmax": P.maximum,
        "fmin": P.minimum,
    })


_ARRAY_FUNCS: dict | None = None


def _numpy_call(b: dict, name: str, keep=("axis",)):
    """numpy.<name>(...) on traced values: the builtin `name`, keywords in `keep` only."""
    fn = b[name]

    def run(*args, **kwargs):
        kw = {k: v for k, v in kwargs.items() if v is not None or k not in keep}
        for k in kw:
            if k not in keep:
                raise _not_traceable(f"`numpy.{name}` with `{k}=`")
        return _wrap(fn(*(_unwrap(a) for a in args), **{k: _unwrap(v) if k != "axis"
                                                         else v for k, v in kw.items()}))
    return run


def _numpy_seq(b: dict, name: str):
    """numpy.stack / numpy.concatenate of a sequence of traced values."""
    fn = b[name]

    def run(xs, axis=0):
        return _wrap(fn(tuple(_unwrap(x) for x in xs), axis=axis))
    return run


def _numpy_plain(npfn):
    """A NumPy function without a derivative (shape, ndim, ...) on the plain value."""
    def run(x, *args, **kwargs):
        v = strip(x._v) if type(x) is TracedValue else x
        return npfn(v, *args, **kwargs)
    return run


def _as_shape(shape) -> tuple:
    return (shape,) if isinstance(shape, (int, xp.integer)) else tuple(int(d) for d in shape)


def _array_functions() -> dict:
    """NumPy functions that TracedValue supports, mapped to dprog builtins (built once)."""
    global _ARRAY_FUNCS
    if _ARRAY_FUNCS is not None:
        return _ARRAY_FUNCS
    b = make_builtins(None)

    def call(name, keep=("axis",)):
        return _numpy_call(b, name, keep)

    def seq(name):
        return _numpy_seq(b, name)

    plain = _numpy_plain

    def reshape(x, shape, order="C"):
        if order != "C":
            raise _not_traceable("`numpy.reshape` with order=")
        return _wrap(b["reshape"](_unwrap(x), _as_shape(shape)))

    def transpose(x, axes=None):
        return _wrap(b["transpose"](_unwrap(x), tuple(axes) if axes is not None else None))

    def broadcast_to(x, shape):
        return _wrap(P.broadcast_to(_unwrap(x), _as_shape(shape)))

    def norm(x, ord=None, axis=None):
        if ord is not None:
            raise _not_traceable("`numpy.linalg.norm` with ord=")
        return _wrap(b["norm"](_unwrap(x), axis=axis))

    _ARRAY_FUNCS = {
        xp.sum: call("sum"), xp.mean: call("mean"), xp.prod: call("prod"),
        xp.max: call("max"), xp.min: call("min"), xp.amax: call("max"), xp.amin: call("min"),
        xp.cumsum: call("cumsum"), xp.dot: call("dot", ()), xp.outer: call("outer", ()),
        xp.where: call("where", ()), xp.clip: call("clip", ()),
        xp.stack: seq("stack"), xp.concatenate: seq("concat"),
        xp.reshape: reshape, xp.transpose: transpose, xp.broadcast_to: broadcast_to,
        xp.linalg.solve: call("solve", ()), xp.linalg.inv: call("inv", ()),
        xp.linalg.det: call("det", ()), xp.linalg.norm: norm,
        xp.shape: plain(xp.shape), xp.ndim: plain(xp.ndim), xp.size: plain(xp.size),
        xp.zeros_like: plain(xp.zeros_like), xp.ones_like: plain(xp.ones_like),
        xp.full_like: plain(xp.full_like), xp.empty_like: plain(xp.zeros_like),
        xp.isfinite: plain(xp.isfinite), xp.isnan: plain(xp.isnan),
    }
    return _ARRAY_FUNCS


_init_ufuncs()


# ================================================================ defined primitives




def _array_in(v: xp.ndarray) -> object:
    """A host array as a dprog value: a private, read-only copy."""
    a = P.accept_array(v, lambda dtype: DpTypeError(
        f"cannot pass an array of dtype {dtype} to dprog", None,
        "arrays must hold bools, integers or floats"))
    if type(a) is xp.ndarray:
        a.flags.writeable = False
    return a


def to_dprog(v, interp=None):
    """A Python value as a dprog value (SPEC §10); DpTypeError for anything else.
    `interp` is the owning `Interpreter` (callables are wrapped to run under it)."""
    t = type(v)
    if t is float or t is int or t is bool or t is str or v is None:
        return v
    if isinstance(v, xp.ndarray):
        return _array_in(v)
    if isinstance(v, (xp.integer, xp.bool_)):
        return v.item()
    if isinstance(v, xp.floating):
        return float(v)
    if t is TracedValue:
        return v._v
    if isinstance(v, tuple):
        return tuple(to_dprog(x, interp) for x in v)
    if t is list:
        return _list_in(v, interp)
    if isinstance(v, dict):
        return _dict_in(v, interp)
    if isinstance(v, (Record, Function, Module, Tracer)) or t is range:
        return v
    if isinstance(v, PyCallable):
        return v._dp
    if callable(v):
        return wrap_python_callable(v, interp)
    raise DpTypeError(f"cannot pass a Python {t.__name__} to dprog", None,
                      "pass numbers, bools, strings, None, arrays, tuples, dicts or callables")


def _list_in(v: list, interp):
    """A (nested) list of numbers as an array; traced entries make a traced array."""
    if any(type(x) is TracedValue for x in v):
        return make_array([to_dprog(x, interp) for x in v])
    try:
        arr = xp.asarray(v)
    except (TypeError, ValueError, OverflowError):
        raise DpTypeError("a list must be a rectangular list of numbers", None,
                          "use a tuple for a group of other values") from None
    return _array_in(arr)


def _dict_in(v: dict, interp) -> Record:
    for k in v:
        if type(k) is not str or not k.isidentifier():
            raise DpTypeError(f"record field names must be identifiers, got {k!r}", None, None)
    return Record({k: to_dprog(x, interp) for k, x in v.items()})


_getrefcount = sys.getrefcount


def _unshared_count() -> int:
    """What sys.getrefcount reports for a local that nothing else holds (measured, not
    assumed: it depends on how the interpreter passes arguments)."""
    r = xp.empty(1)
    return _getrefcount(r)


_UNSHARED = _unshared_count()


def to_python(v, interp=None):
    """A dprog value as a Python value (records -> dicts, functions -> callables).

    Arrays are copies: the host may change them without changing dprog's values;
    their elements count against max_array_elements with the structure's items.
    """
    if type(v) is tuple or type(v) is Record:
        check_structure(v, "converted to Python")
    return _to_python(v, interp)


def _to_python(v, interp):
    t = type(v)
    if t is float or t is int or t is bool or t is str or v is None:
        return v
    if t is xp.ndarray:
        return v.copy()
    if t is tuple:
        return tuple(_to_python(x, interp) for x in v)
    if t is Record:
        return {k: _to_python(x, interp) for k, x in v.items()}
    if isinstance(v, Function):
        return PyCallable(v, interp)
    if isinstance(v, Tracer):
        return TracedValue(v)
    return v


class PyCallable:
    """A dprog function handed to Python: a plain callable converting at the boundary."""

    def __init__(self, fn: Function, interp):
        self._dp = fn
        self._interp = interp
        self.__name__ = getattr(fn, "name", "dprog_function")
        self.__doc__ = f"dprog function {fn.describe()}"

    def __repr__(self) -> str:
        return f"<dprog function {self._dp.describe()}>"

    def __call__(self, *args, **kwargs):
        interp = self._interp
        with interp._running() if interp is not None else host_guard():
            a = [to_dprog(x, interp) for x in args]
            kw = {k: to_dprog(x, interp) for k, x in kwargs.items()}
            r = self._dp(*a, **kw)
            if type(r) is xp.ndarray and _getrefcount(r) <= _UNSHARED and r.base is None \
                    and r.flags.writeable:
                # a fresh array that nothing else holds (not a view, not an argument, not
                # kept by the program: each of those is another reference) is the host's
                # without a copy; the copy of a large result costs as much as computing it
                return r
            return to_python(r, interp)
