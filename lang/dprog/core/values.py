"""dprog values beyond Python's own, and how every value is shown.

Numbers are Python int/float, bools are bool, none is None, strings are str,
arrays are float64 (or bool) NumPy arrays, tuples are Python tuples. This
module adds records, modules, the function base class, and `show`, which
prints any value in dprog's own syntax (SPEC §5).
"""

from __future__ import annotations

import pickle

from .backend import xp
from .errors import DpNameError, did_you_mean


class Cell:
    """A variable captured by a closure (closures capture variables, not copies)."""

    __slots__ = ("v",)

    def __init__(self, v=None):
        self.v = v


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"

    def __reduce__(self):
        return "UNSET"  # unpickles as the one UNSET


UNSET = _Unset()


class Record:
    """An immutable map of named fields; `r.f = e` makes an updated copy."""

    __slots__ = ("_f",)

    def __init__(self, fields: dict):
        self._f = fields

    def get(self, name: str):
        try:
            return self._f[name]
        except KeyError:
            raise DpNameError(f"record has no field `{name}`", None,
                              did_you_mean(name, self._f) or
                              f"its fields are {', '.join(self._f) or '(none)'}") from None

    def with_field(self, name: str, value) -> Record:
        f = dict(self._f)
        f[name] = value
        return Record(f)

    def keys(self):
        return self._f.keys()

    def values(self):
        return self._f.values()

    def items(self):
        return self._f.items()

    def __len__(self) -> int:
        return len(self._f)

    def __eq__(self, other) -> bool:
        return type(other) is Record and values_equal(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return show(self, quote=True)


class Function:
    """Base of every callable dprog value (closures, builtins, transformed functions)."""

    __slots__ = ()
    name = "<function>"

    def describe(self) -> str:
        return f"<fn {self.name}>"


class Module:
    """An imported module: its top-level names, read like record fields."""

    __slots__ = ("name", "globals", "path")

    def __init__(self, name: str, path: str | None = None):
        self.name = name
        self.globals: dict[str, Cell] = {}
        self.path = path

    def get(self, name: str):
        cell = self.globals.get(name)
        if cell is None or cell.v is UNSET:
            raise DpNameError(f"module `{self.name}` has no member `{name}`", None,
                              did_you_mean(name, self.member_names()))
        return cell.v

    def member_names(self) -> list[str]:
        return [k for k, c in self.globals.items() if c.v is not UNSET and not k.startswith("_")]


def kind_of(v) -> str:
    """A short phrase naming the kind of a value, for error messages."""
    if isinstance(v, Tracer):
        v = strip(v)
    t = type(v)
    if t is bool:
        return "a bool"
    if t is int or t is float:
        return "a number"
    if v is None:
        return "none"
    if t is str:
        return "a string"
    if t is xp.ndarray:
        if v.dtype == xp.bool_:
            return f"a bool array of shape {v.shape}"
        return f"an array of shape {v.shape}"
    if t is tuple:
        return "a tuple"
    if t is Record:
        return "a record"
    if t is Module:
        return "a module"
    if t is range:
        return "a range"
    if isinstance(v, Function):
        return "a function"
    if v is UNSET:
        return "an undefined value"
    return f"a {t.__name__}"


def has_nan(v) -> bool:
    t = type(v)
    if t is float:
        return v != v
    if t is xp.ndarray:
        return v.dtype == xp.float64 and bool(xp.isnan(v).any())
    return False


def _fmt_float(x: float) -> str:
    if x != x:
        return "nan"
    if x == float("inf"):
        return "inf"
    if x == float("-inf"):
        return "-inf"
    return repr(x)


def _fmt_array(a: xp.ndarray) -> str:
    if a.dtype == xp.bool_:
        return xp.array2string(a, separator=" ",
                               formatter={"bool": lambda b: "true" if b else "false"})
    return str(a)


def int_text(n: int) -> str:
    """Decimal text of any int, also past Python's 4300-digit `str()` guard
    (dprog ints are capped in size elsewhere, so this stays fast)."""
    try:
        return str(n)
    except ValueError:
        sign, n = ("-", -n) if n < 0 else ("", n)
        chunk = 10 ** 4000
        parts = []
        while n:
            n, r = divmod(n, chunk)
            parts.append(r)
        out = [str(parts[-1])] + [str(p).zfill(4000) for p in reversed(parts[:-1])]
        return sign + "".join(out)


def show(v, quote: bool = False) -> str:
    """Render a value in dprog syntax; strings are quoted when `quote` (inside containers)."""
    if isinstance(v, Tracer):
        v = strip(v)
    t = type(v)
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return int_text(v)
    if t is float:
        return _fmt_float(v)
    if v is None:
        return "none"
    if t is str:
        return _quote(v) if quote else v
    if t is xp.ndarray:
        return _fmt_array(v)
    return _show_other(v, t, quote)


def _show_other(v, t, quote: bool) -> str:
    """`show` for containers, modules, ranges and functions."""
    if t is tuple:
        if len(v) == 1:
            return f"({show(v[0], True)},)"
        return "(" + ", ".join(show(x, True) for x in v) + ")"
    if t is Record:
        return "{" + ", ".join(f"{k}: {show(x, True)}" for k, x in v.items()) + "}"
    if t is Module:
        return f"<module {v.name}>"
    if t is range:
        step = f", {v.step}" if v.step != 1 else ""
        return f"range({v.start}, {v.stop}{step})"
    if isinstance(v, Function):
        return v.describe()
    if isinstance(v, xp.generic):
        return show(v.item(), quote)
    return f"<{t.__name__}>"


def _quote(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


def values_equal(a, b) -> bool:
    """Structural equality giving one bool (used for `==` on tuples and records)."""
    a, b = strip(a), strip(b)
    ta, tb = type(a), type(b)
    if ta is tuple and tb is tuple:
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    if ta is Record and tb is Record:
        return a.keys() == b.keys() and all(values_equal(a._f[k], b._f[k]) for k in a.keys())
    if ta is xp.ndarray or tb is xp.ndarray:
        try:
            return bool(xp.array_equal(a, b))
        except (TypeError, ValueError):
            return False
    if (ta in (int, float, bool)) and (tb in (int, float, bool)):
        return a == b
    if ta is not tb:
        return False
    if ta is str or a is None:
        return a == b
    return a is b


# ------------------------------------------------------------------ traced values
class Tracer:
    """A value carrying derivative information for one differentiation level."""

    __slots__ = ("_trace", "primal")

    def __repr__(self) -> str:  # debugging aid only; dprog never shows tracers
        return f"<{type(self).__name__} level={self._trace.level}>"

    def shape(self) -> tuple:
        """The shape of the value this tracer stands for (one example's, under vmap)."""
        x = self.primal
        if type(x) in TRACER_TYPES:
            return x.shape()
        return x.shape if type(x) is xp.ndarray else ()

    def __reduce__(self):
        raise TracedPickleError("a value that is being differentiated cannot be pickled "
                                "(its derivative record stays in this process)")


class TracedPickleError(pickle.PicklingError):
    """Pickling reached a traced value (parallel_map then runs in the caller's process)."""


def strip(x):
    """The plain value under every level of tracing.

    A batching tracer (vmap) has no plain value of one example: reading it asks
    its `vmap` to run the function once per example (see ad/batching.py).
    """
    while type(x) in TRACER_TYPES:
        x = x.primal
    return x


def strip_derivatives(x):
    """x without its differentiation tracers, down to a batching tracer if there is one
    (non-differentiable operations still batch)."""
    while type(x) in TRACER_TYPES and type(x) not in BATCH_TYPES:
        x = x.primal
    return x


# The concrete tracer classes (ad/forward.py and ad/reverse.py add theirs): a set lookup
# on type() is cheaper than isinstance() on the hot path.
TRACER_TYPES: set = set()
# The batching tracers among them (ad/batching.py adds its class).
BATCH_TYPES: set = set()
