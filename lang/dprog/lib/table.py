"""The builtin table: `BuiltinDoc` rows, the `@builtin` / `builtin_of` declarations that
fill it, and the argument checks the builtins share. The builtins themselves live in
the modules beside this one, by category; lib/builtins.py loads them on first use and
makes one interpreter's namespace."""

from __future__ import annotations

import math

from ..core.backend import xp
from ..core.errors import (
    DpIndexError,
    DpTypeError,
    DpValueError,
)
from ..core.values import Function, Tracer, kind_of, show, strip
from ..prims import primitives as P


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


def axis_index(axis, nd: int, name: str, what: str = "axis") -> int:
    """An int axis in range for rank nd, as a non-negative int."""
    a = _int_arg(axis, name, what)
    if not -nd <= a < nd:
        raise DpIndexError(f"`{name}`: {what} {a} is out of range for an array with {nd} "
                           f"dimension{'s' if nd != 1 else ''}", None,
                           f"axes run from {-nd} to {nd - 1}" if nd else "a number has no axes")
    return a % nd


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
