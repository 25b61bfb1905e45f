"""dprog values beyond Python's own, and how every value is shown.

Numbers are Python int/float, bools are bool, none is None, strings are str,
arrays are float64 (or bool) NumPy arrays, tuples are Python tuples. This
module adds records, modules, the function base class, and `show`, which
prints any value in dprog's own syntax (SPEC §5).
"""

from __future__ import annotations

import math
import pickle

from .backend import xp
from .errors import DpLimitError, DpNameError, did_you_mean, shown_int
from .limits import LIMITS

# Tuples and records nested deeper than this are refused by every walk over them: the
# walks recurse, and deeper nesting would reach Python's recursion limit or the C stack.
MAX_NESTING = 1000
# ...and so are walks meeting more tuple/record items than this (under a second).
MAX_WALK_ITEMS = 2_000_000


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
    if type(v) is tuple or type(v) is Record:
        check_structure(v, "printed", arrays=False)
    return _show(v, quote)


def _show(v, quote: bool = False) -> str:
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
            return f"({_show(v[0], True)},)"
        return "(" + ", ".join(_show(x, True) for x in v) + ")"
    if t is Record:
        return "{" + ", ".join(f"{k}: {_show(x, True)}" for k, x in v.items()) + "}"
    if t is Module:
        return f"<module {v.name}>"
    if t is range:
        step = f", {v.step}" if v.step != 1 else ""
        return f"range({v.start}, {v.stop}{step})"
    if isinstance(v, Function):
        return v.describe()
    if isinstance(v, xp.generic):
        return _show(v.item(), quote)
    return f"<{t.__name__}>"


def _quote(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


def values_equal(a, b) -> bool:
    """Structural equality giving one bool (used for `==` on tuples and records)."""
    a, b = strip(a), strip(b)
    if type(a) is type(b) and (type(a) is tuple or type(a) is Record):
        check_structure(a, "compared", arrays=False)
        check_structure(b, "compared", arrays=False)
    return _equal(a, b)


def _equal(a, b) -> bool:
    a, b = strip(a), strip(b)
    ta, tb = type(a), type(b)
    if ta is tuple and tb is tuple:
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if ta is Record and tb is Record:
        return a.keys() == b.keys() and all(_equal(a._f[k], b._f[k]) for k in a.keys())
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


# ------------------------------------------------------------------ structure walks
# Printing, comparing, converting to Python and flattening trees walk a structure
# item by item; for one that shares itself (`t = (t, t)` sixty times) that walk is far
# beyond its memory (issue 18, item 3). Each walk is checked first.
def check_structure(v, what: str, arrays: bool = True) -> None:
    """Refuse a tuple/record whose expanded walk would pass the limits.

    Counts one per item, the length of each string and, with `arrays`, the
    elements of each array, as the walk `what` ("printed", "converted to
    Python", ...) would meet them (a shared part counts each time it is met),
    and stops as soon as the count passes twice `max_array_elements` (a record of
    a few arrays each within the limit, like a loaded checkpoint, must pass), the
    items met pass MAX_WALK_ITEMS or the nesting passes MAX_NESTING. Iterative,
    so it never recurses itself.
    """
    if type(v) is not tuple and type(v) is not Record:
        return
    budget = 2 * LIMITS.max_array_elements
    stack = [(v, 0)]
    seen = met = 0
    while stack:
        x, depth = stack.pop()
        if depth >= MAX_NESTING:
            raise DpLimitError(f"a structure nested more than {MAX_NESTING} levels deep "
                               f"cannot be {what}", None,
                               "use an array, or a flatter structure of tuples and records")
        items = x if type(x) is tuple else x._f.values()
        met += len(items)
        seen += len(items)
        for y in items:
            ty = type(y)
            if ty in TRACER_TYPES:
                y = strip_derivatives(y)
                ty = type(y)
                if ty in BATCH_TYPES:  # one example's array (its plain value is the batch)
                    seen += math.prod(y.shape()) if arrays else 0
                    continue
            if ty is tuple or ty is Record:
                stack.append((y, depth + 1))
            elif ty is str:
                seen += len(y)
            elif arrays and ty is xp.ndarray:
                seen += y.size
        if seen > budget or met > MAX_WALK_ITEMS:
            budget = budget if seen > budget else MAX_WALK_ITEMS
            raise DpLimitError(f"a structure of more than {shown_int(budget)} items (counting "
                               f"string characters and array elements) cannot be {what}", None,
                               "a part shared many times counts each time; raise "
                               "max_array_elements if the structure is meant to be this big")
