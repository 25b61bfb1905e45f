"""Python functions as dprog values: `Interpreter.define`, plain callables, traced values.

Three things cross the boundary here (contract: docs/embedding.md):

* `PyFunction`: any Python callable handed to dprog. Arguments go out through
  `to_python`, the result comes back through `to_dprog`; an exception becomes a
  `DpHostError` whose `__cause__` is the original.
* `TracedValue`: what Python code sees when dprog differentiates through it
  (a Python function called from a function being differentiated, a
  derivative rule at second order, a Python function given to `dprog.grad`).
  Its operators, the NumPy ufuncs and a few NumPy functions dispatch to dprog
  primitives, so such code is itself differentiable.
* `make_primitive_function`: `define(name, fn, jvp=, vjp=)`. `fn` always runs
  on plain NumPy values; the rules run on plain values at first order and on
  `TracedValue`s when a derivative of a derivative is taken, which is what
  makes defined primitives nest. With only one rule given, the other is
  derived from it by transposition (a rule is linear in its tangent or
  cotangent, so recording it on a private tape and running that tape
  backwards applies the transpose exactly).
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from ..prims import primitives as P
from ..runtime.errors import (
    DpArgumentError,
    DpDifferentiationError,
    DpError,
    DpHostError,
    DpTypeError,
)
from ..runtime.values import Function, kind_of

_NUMERIC_KINDS = "biuf"


def host_error(what: str, exc: BaseException) -> DpError:
    """A DpHostError for an exception raised by host code (the caller chains `from exc`).

    Python running out of stack while host code and dprog call each other is the
    program's recursion, not the host's fault: a limits error, as for dprog alone.
    """
    if isinstance(exc, RecursionError):
        from ..runtime.errors import DpLimitError

        return DpLimitError("recursion too deep for the host (through "
                            f"{what.replace('the Python function ', '')})", None,
                            "is a recursive function missing its base case?")
    return DpHostError(f"{what} raised {type(exc).__name__}: {exc}", None,
                       "the error comes from the host program (see the Python cause)")


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
        from .interpreter import to_dprog, to_python

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
    from .interpreter import to_dprog

    return to_dprog(x)


def _wrap(r):
    """A dprog result seen from Python: traced values stay wrapped, plain ones are plain."""
    if isinstance(r, P.Tracer):
        return TracedValue(r)
    if type(r) is tuple:
        return tuple(_wrap(x) for x in r)
    return r


def _not_traceable(what: str) -> DpDifferentiationError:
    return DpDifferentiationError(
        f"{what} cannot take a value that is being differentiated", None,
        "in Python code that dprog differentiates use operators, NumPy ufuncs (np.sin, np.exp, "
        "...), np.sum/np.dot/np.reshape/..., or dprog functions from interp[...]; or define "
        "the computation as a primitive with its own jvp/vjp rules")


def _op(sym):
    from ..compiler.codegen import BINOPS

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
        v = P.strip(self._v)
        return v.copy() if type(v) is np.ndarray else v

    @property
    def shape(self) -> tuple:
        return P.shape(self._v)

    @property
    def ndim(self) -> int:
        return P.ndim(self._v)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def T(self) -> TracedValue:
        return _wrap(P.transpose(self._v) if self.ndim >= 2 else self._v)

    def __repr__(self) -> str:
        from ..runtime.values import show

        return f"TracedValue({show(P.strip(self._v))})"

    def __len__(self) -> int:
        s = self.shape
        if not s:
            raise TypeError("len() of a traced number")
        return s[0]

    def __bool__(self) -> bool:
        from ..compiler.codegen import truth

        return truth(P.strip(self._v))

    def __float__(self) -> float:
        raise DpDifferentiationError(
            "float() of a value that is being differentiated would lose its derivative", None,
            "compute with the value itself, or use `.value` for the plain number")

    __int__ = __float__
    __index__ = __float__

    def __array__(self, dtype=None, copy=None):
        raise _not_traceable("converting to a NumPy array (np.asarray)")

    # arithmetic ------------------------------------------------------------------
    def _bin(self, sym, other, reverse=False):
        a, b = self._v, _unwrap(other)
        if reverse:
            a, b = b, a
        return _wrap(_op(sym)(a, b))

    def __add__(self, o):
        return self._bin("+", o)

    def __radd__(self, o):
        return self._bin("+", o, True)

    def __sub__(self, o):
        return self._bin("-", o)

    def __rsub__(self, o):
        return self._bin("-", o, True)

    def __mul__(self, o):
        return self._bin("*", o)

    def __rmul__(self, o):
        return self._bin("*", o, True)

    def __truediv__(self, o):
        return self._bin("/", o)

    def __rtruediv__(self, o):
        return self._bin("/", o, True)

    def __floordiv__(self, o):
        return self._bin("//", o)

    def __rfloordiv__(self, o):
        return self._bin("//", o, True)

    def __mod__(self, o):
        return self._bin("%", o)

    def __rmod__(self, o):
        return self._bin("%", o, True)

    def __pow__(self, o, mod=None):
        return self._bin("**", o)

    def __rpow__(self, o):
        return self._bin("**", o, True)

    def __matmul__(self, o):
        return self._bin("@", o)

    def __rmatmul__(self, o):
        return self._bin("@", o, True)

    def __lt__(self, o):
        return self._bin("<", o)

    def __le__(self, o):
        return self._bin("<=", o)

    def __gt__(self, o):
        return self._bin(">", o)

    def __ge__(self, o):
        return self._bin(">=", o)

    def __eq__(self, o):  # type: ignore[override]
        return self._bin("==", o)

    def __ne__(self, o):  # type: ignore[override]
        return self._bin("!=", o)

    __hash__ = None  # type: ignore[assignment]

    def __neg__(self):
        return _wrap(P.neg(self._v))

    def __pos__(self):
        return self

    def __abs__(self):
        return _wrap(P.abs_(self._v))

    def __getitem__(self, idx):
        from ..compiler.codegen import index_value

        parts = idx if type(idx) is tuple else (idx,)
        clean = []
        for i in parts:
            if type(i) is TracedValue:
                i = P.strip(i._v)
            if isinstance(i, np.integer):
                i = int(i)
            if type(i) is not int and type(i) is not slice:
                raise DpTypeError(f"a traced array is indexed with integers and slices, got "
                                  f"{type(i).__name__}", None, None)
            clean.append(i)
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


def _square(x):
    return P.mul(x, x)


_UFUNCS: dict = {}  # NumPy ufunc name -> dprog operation (filled by _init_ufuncs)


def _init_ufuncs() -> None:
    from ..compiler.codegen import BINOPS, op_neg

    def pos(x):
        return x

    _UFUNCS.clear()
    _UFUNCS.update({
        "add": BINOPS["+"], "subtract": BINOPS["-"], "multiply": BINOPS["*"],
        "divide": BINOPS["/"], "true_divide": BINOPS["/"], "floor_divide": BINOPS["//"],
        "remainder": BINOPS["%"], "power": BINOPS["**"], "float_power": BINOPS["**"],
        "matmul": BINOPS["@"], "less": BINOPS["<"], "less_equal": BINOPS["<="],
        "greater": BINOPS[">"], "greater_equal": BINOPS[">="], "equal": BINOPS["=="],
        "not_equal": BINOPS["!="], "negative": op_neg, "positive": pos,
        "absolute": P.abs_, "fabs": P.abs_, "sqrt": P.sqrt, "square": _square,
        "reciprocal": lambda x: P.div(1.0, x), "exp": P.exp, "expm1": P.expm1, "log": P.log,
        "log1p": P.log1p, "log2": lambda x: P.div(P.log(x), math.log(2.0)),
        "log10": lambda x: P.div(P.log(x), math.log(10.0)), "sin": P.sin, "cos": P.cos,
        "tan": P.tan, "arcsin": P.asin, "arccos": P.acos, "arctan": P.atan, "sinh": P.sinh,
        "cosh": P.cosh, "tanh": P.tanh, "arctan2": P.atan2, "maximum": P.maximum,
        "minimum": P.minimum, "fmax": P.maximum, "fmin": P.minimum, "sign": P.sign,
        "floor": P.floor, "ceil": P.ceil,
    })


_ARRAY_FUNCS: dict | None = None


def _array_functions() -> dict:
    """NumPy functions that TracedValue supports, mapped to dprog builtins (built once)."""
    global _ARRAY_FUNCS
    if _ARRAY_FUNCS is not None:
        return _ARRAY_FUNCS
    from ..lib.builtins import make_builtins

    b = make_builtins(None)

    def call(name, keep=("axis",)):
        fn = b[name]

        def run(*args, **kwargs):
            kw = {k: v for k, v in kwargs.items() if v is not None or k not in keep}
            for k in kw:
                if k not in keep:
                    raise _not_traceable(f"`numpy.{name}` with `{k}=`")
            return _wrap(fn(*(_unwrap(a) for a in args), **{k: _unwrap(v) if k != "axis"
                                                             else v for k, v in kw.items()}))
        return run

    def seq(name):
        fn = b[name]

        def run(xs, axis=0):
            return _wrap(fn(tuple(_unwrap(x) for x in xs), axis=axis))
        return run

    def plain(npfn):
        def run(x, *args, **kwargs):
            v = P.strip(x._v) if type(x) is TracedValue else x
            return npfn(v, *args, **kwargs)
        return run

    def reshape(x, shape, order="C"):
        if order != "C":
            raise _not_traceable("`numpy.reshape` with order=")
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
        return _wrap(b["reshape"](_unwrap(x), shape))

    def transpose(x, axes=None):
        return _wrap(b["transpose"](_unwrap(x), tuple(axes) if axes is not None else None))

    def broadcast_to(x, shape):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
        return _wrap(P.broadcast_to(_unwrap(x), shape))

    def norm(x, ord=None, axis=None):
        if ord is not None:
            raise _not_traceable("`numpy.linalg.norm` with ord=")
        return _wrap(b["norm"](_unwrap(x), axis=axis))

    _ARRAY_FUNCS = {
        np.sum: call("sum"), np.mean: call("mean"), np.prod: call("prod"),
        np.max: call("max"), np.min: call("min"), np.amax: call("max"), np.amin: call("min"),
        np.cumsum: call("cumsum"), np.dot: call("dot", ()), np.outer: call("outer", ()),
        np.where: call("where", ()), np.clip: call("clip", ()),
        np.stack: seq("stack"), np.concatenate: seq("concat"),
        np.reshape: reshape, np.transpose: transpose, np.broadcast_to: broadcast_to,
        np.linalg.solve: call("solve", ()), np.linalg.inv: call("inv", ()),
        np.linalg.det: call("det", ()), np.linalg.norm: norm,
        np.shape: plain(np.shape), np.ndim: plain(np.ndim), np.size: plain(np.size),
        np.zeros_like: plain(np.zeros_like), np.ones_like: plain(np.ones_like),
        np.full_like: plain(np.full_like), np.empty_like: plain(np.zeros_like),
        np.isfinite: plain(np.isfinite), np.isnan: plain(np.isnan),
    }
    return _ARRAY_FUNCS


_init_ufuncs()


# ================================================================ defined primitives
class PrimitiveFunction(Function):
    """A `define`d primitive, called from dprog (positional numbers and arrays only)."""

    __slots__ = ("arity", "name", "prim")

    def __init__(self, name, prim, arity):
        self.name = name
        self.prim = prim
        self.arity = arity  # (min, max or None), or None when unknown

    def describe(self) -> str:
        return f"<primitive {self.name}>"

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise DpArgumentError(f"`{self.name}` takes positional arguments only", None,
                                  "a defined primitive is called as name(x, ...)")
        if self.arity is not None:
            lo, hi = self.arity
            n = len(args)
            if n < lo or (hi is not None and n > hi):
                want = str(lo) if lo == hi else (f"at least {lo}" if hi is None
                                                 else f"{lo} to {hi}")
                raise DpArgumentError(f"`{self.name}` takes {want} argument"
                                      f"{'' if want == '1' else 's'} but {n} "
                                      f"{'was' if n == 1 else 'were'} given", None, None)
        for a in args:
            t = type(a)
            if not (t is float or t is int or t is bool or t is np.ndarray
                    or isinstance(a, P.Tracer)):
                raise DpTypeError(f"`{self.name}` expects numbers or arrays, got {kind_of(a)}",
                                  None, None)
        return P.bind(self.prim, args)


def _arity(fn) -> tuple[int, int | None] | None:
    """How many positional arguments fn accepts, or None if its signature is unknown."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    lo, hi = 0, 0
    var = False
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            hi += 1
            if p.default is p.empty:
                lo += 1
        elif p.kind is p.VAR_POSITIONAL:
            var = True
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            return None
    return lo, None if var else hi


def _readonly(x):
    """A plain value for host code: arrays as read-only views (dprog values are immutable)."""
    if type(x) is np.ndarray:
        v = x.view()
        v.flags.writeable = False
        return v
    return x


def _to_host(x):
    if isinstance(x, P.Tracer):
        return TracedValue(x)
    return _readonly(x)


def _who(name: str, what: str) -> str:
    return f"the Python primitive `{name}`" if what == "fn" else f"the {what} rule of `{name}`"


def _host_result(name: str, what: str, r):
    """A value returned by host code where a number or an array is expected."""
    who = _who(name, what)
    t = type(r)
    if t is float or t is int or t is bool:
        return r
    if t is TracedValue:
        return r._v
    if isinstance(r, np.ndarray):
        if r.dtype.kind not in _NUMERIC_KINDS:
            raise DpTypeError(f"{who} returned an array of dtype {r.dtype}", None,
                              "return numbers or numeric arrays")
        a = np.array(r, dtype=np.bool_ if r.dtype.kind == "b" else np.float64)
        return P.normalize(a)
    if isinstance(r, (np.integer, np.floating, np.bool_)):
        return r.item() if not isinstance(r, np.floating) else float(r)
    if isinstance(r, P.Tracer):
        return r
    if t is list:
        from .interpreter import to_dprog

        v = to_dprog(r)
        if type(v) is np.ndarray or isinstance(v, P.Tracer):
            return v
    raise DpTypeError(f"{who} must return a number or an array, got {type(r).__name__}",
                      None, None)


def _call_host(name: str, what: str, fn, args: tuple):
    try:
        return fn(*args)
    except DpError:
        raise
    except Exception as exc:
        raise host_error(_who(name, what), exc) from exc


def _fit(name: str, what: str, c, want: tuple):
    """Make a rule's result have shape `want`: broadcast up or sum broadcast axes down."""
    s = P.shape(c)
    if s == want:
        return c
    try:
        b = np.broadcast_shapes(s, want)
    except ValueError:
        b = None
    if b == want:
        return P.broadcast_to(c, want)
    if b == s:
        return P.unbroadcast(c, np.zeros(want) if want else 0.0)
    raise DpDifferentiationError(f"{_who(name, what)} returned shape {s}, expected {want}",
                                 None, "a tangent has the output's shape; a cotangent has "
                                 "its argument's shape")


def _zeros_like(x):
    s = P.shape(x)
    return np.zeros(s) if s else 0.0


def make_primitive_function(interp, name: str, py_fn, jvp=None, vjp=None) -> PrimitiveFunction:
    """Wrap py_fn(*arrays) -> array as a dprog primitive with host derivative rules.

    jvp(primals, tangents) -> tangent of the output, and
    vjp(primals, out, g) -> tuple of cotangents (one per argument; None = zero).
    """
    def impl(*args):
        r = _call_host(name, "fn", py_fn, tuple(_readonly(a) for a in args))
        return _host_result(name, "fn", r)

    prim = P.Primitive(name, impl)
    prim.jvp_joint = _jvp_joint(name, jvp, vjp)
    prim.vjp_joint = _vjp_joint(name, jvp, vjp)
    return PrimitiveFunction(name, prim, _arity(py_fn))


def _no_rule(name):
    return DpDifferentiationError(f"`{name}` has no derivative rule", None,
                                  "pass jvp= and/or vjp= to define() to differentiate it")


def _jvp_joint(name, jvp, vjp):
    def once(primals, tangents, out):
        ts = tuple(t if t is not None else _zeros_like(x) for t, x in zip(tangents, primals))
        if jvp is not None:
            r = _call_host(name, "jvp", jvp,
                           (tuple(_to_host(x) for x in primals), tuple(_to_host(t) for t in ts)))
            r = _host_result(name, "jvp", r)
        elif vjp is not None:
            r = _jvp_from_vjp(name, vjp, primals, ts, out)
        else:
            raise _no_rule(name)
        return _fit(name, "jvp", r, P.shape(out))

    def jvp_joint(primals, tangents, out):
        batch = None
        for t, x in zip(tangents, primals):
            if t is not None and P.ndim(t) == P.ndim(x) + 1:
                batch = P.shape(t)[0]
                break
        if batch is None:
            return once(primals, tangents, out)
        # a batch of tangents (jacfwd): apply the rule to each one
        rows = [once(primals, [None if t is None else P.getitem(t, (i,)) for t in tangents],
                     out) for i in range(batch)]
        return P.stack([float(r) if type(r) is int else r for r in rows], axis=0)
    return jvp_joint


def _cotangents(name, r, primals):
    if type(r) is not tuple and type(r) is not list:
        r = (r,)
    if len(r) != len(primals):
        raise DpDifferentiationError(f"the vjp rule of `{name}` returned {len(r)} cotangent(s) "
                                     f"for {len(primals)} argument(s)", None,
                                     "return a tuple with one cotangent per argument")
    out = []
    for c, x in zip(r, primals):
        if c is None:
            out.append(None)
            continue
        c = _host_result(name, "vjp", c)
        out.append(_fit(name, "vjp", c, P.shape(x)))
    return out


def _vjp_joint(name, jvp, vjp):
    def vjp_joint(g, out, primals, needs):
        if vjp is not None:
            r = _call_host(name, "vjp", vjp,
                           (tuple(_to_host(x) for x in primals), _to_host(out), _to_host(g)))
            cts = _cotangents(name, r, primals)
            return [c if need else None for c, need in zip(cts, needs)]
        if jvp is not None:
            return _vjp_from_jvp(name, jvp, g, out, primals, needs)
        raise _no_rule(name)
    return vjp_joint


def _vjp_from_jvp(name, jvp, g, out, primals, needs):
    """Transpose the (linear in t) jvp rule: record it on a private tape, run it backwards."""
    from ..ad.engines import RNode, Tape

    inner = Tape()
    leaves = [inner.leaf(_zeros_like(x)) if need else None for x, need in zip(primals, needs)]
    ts = tuple(TracedValue(leaf) if leaf is not None else _readonly(_zeros_like(x))
               for leaf, x in zip(leaves, primals))
    r = _call_host(name, "jvp", jvp, (tuple(_to_host(x) for x in primals), ts))
    r = _fit(name, "jvp", _host_result(name, "jvp", r), P.shape(out))
    if not (type(r) is RNode and r._trace is inner):
        return [None] * len(primals)
    cts = inner.backward([(r.idx, g)])
    inner.release()
    return [cts[leaf.idx] if leaf is not None else None for leaf in leaves]


def _jvp_from_vjp(name, vjp, primals, ts, out):
    """J·t from the vjp rule V(g) = Jᵀg: J·t is the gradient of <V(g), t> in g."""
    from ..ad.engines import RNode, Tape

    inner = Tape()
    g = inner.leaf(_zeros_like(out))
    r = _call_host(name, "vjp", vjp,
                   (tuple(_to_host(x) for x in primals), _to_host(out), TracedValue(g)))
    cts = _cotangents(name, r, primals)
    seeds = [(c.idx, t) for c, t in zip(cts, ts)
             if type(c) is RNode and c._trace is inner]
    if not seeds:
        return _zeros_like(out)
    got = inner.backward(seeds)[g.idx]
    inner.release()
    return got if got is not None else _zeros_like(out)


__all__ = [
    "PrimitiveFunction",
    "PyFunction",
    "TracedValue",
    "host_error",
    "make_primitive_function",
    "wrap_python_callable",
]
