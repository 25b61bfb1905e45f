"""Reverse mode's fast paths: every special case for Python floats, kept apart from
the reference engine in `reverse.py` (forward mode's are in `fastforward.py`).

Scalar programs spend their time in the bookkeeping around each operation, so:

* `FastTape` (fasttape.py) records float calls with their partials already
  computed, four entries of a flat list per call and no object, and its backward
  pass multiplies and adds floats inline, unrolled for one and two parents.
* The recorders: the reference compiler inlines `recording_code` into its
  `+ - * /` closures; the fast compiler (compiler/pysource.py) calls `RECORDERS`.

Anything else (arrays, ints, nan checking, an arithmetic exception) falls back
to the reference behaviour. tests/test_ad_properties.py runs every primitive on
both engines and requires the same values and derivatives.
"""

from __future__ import annotations

from ..prims import core
from ..prims import primitives as P
from .fasttape import FastTape
from .reverse import RNode

__all__ = ["FastTape", "RECORDERS", "RECORDING_NAMES", "recording_code",
           "unary_recorder"]

_new = object.__new__  # a value without an __init__ call: the hot paths set its slots


# Recording `+ - * /` on Python floats is the hot path of scalar reverse mode (W1).
# The compiler's operator closures call these recorders directly, one call per
# operation instead of operator -> primitive -> tape -> scalar function; anything
# but two floats of one `FastTape` (arrays, ints, nesting, a zero divisor, nan
# checking, the reference engine) goes back to the general operator unchanged.
# The body of a recorder: a function of (a, b) with `RNode`, `FastTape`, `core` and
# `new` in scope (RECORDING_NAMES, plus the operation as `op`). It appends a linear
# record (parent, partial, parent, partial) to the tape's `recs` (see fasttape.py).
# The compiler inlines it into its generated `+ - * /` closures; `RECORDERS` wraps
# it as functions.
_RECORDING_BODY = """\
if type(a) is RNode:
    tr = a._trace
    pa = a.primal
    if type(b) is RNode:
        pb = b.primal
        if (b._trace is tr and type(pa) is float and type(pb) is float
                and {guard}not core.NAN_CHECK and type(tr) is FastTape):
{record_both}
        else:
            {result} op(a, b)
    elif (type(b) is float and type(pa) is float and {guard_b}not core.NAN_CHECK
            and type(tr) is FastTape):
        pb = b
{record_a}
    else:
        {result} op(a, b)
elif type(b) is RNode and type(a) is float:
    tr = b._trace
    pa = a
    pb = b.primal
    if type(pb) is float and {guard}not core.NAN_CHECK and type(tr) is FastTape:
{record_b}
    else:
        {result} op(a, b)
else:
    {result} op(a, b)
"""

# appends the linear record (parent, partial, parent, partial) of `out = pa sym pb`
_RECORD = """\
r = RNode()
r._trace = tr
r.primal = out = pa {sym} pb
recs = tr.recs
r.idx = len(recs)
recs += {entries}
{result} r
"""


# d(a sym b)/da and /db as expressions in pa, pb and out
_PARTIALS = {"+": ("1.0", "1.0"), "-": ("1.0", "-1.0"), "*": ("pb", "pa"),
             "/": ("1.0 / pb", "-out / pb")}


def _indented(text: str, indent: int) -> str:
    return "".join(" " * indent + line if line.strip() else line
                   for line in text.splitlines(keepends=True))


def recording_code(sym: str, indent: int, result: str | None = None) -> str:
    """Source of the recorder body for `sym`, indented by `indent` spaces: it returns
    the result, or assigns it to the variable `result` and falls through (for code
    that inlines it into a longer function body)."""
    guard = "pb != 0.0 and " if sym == "/" else ""
    da, db = _PARTIALS[sym]
    res = "return" if result is None else result + " ="

    def record(entries: str, indent: int) -> str:
        return _indented(_RECORD.format(sym=sym, entries=entries, result=res), indent).rstrip("\n")
    body = _RECORDING_BODY.format(
        guard=guard, guard_b=guard.replace("pb", "b"), result=res,
        record_both=record(f"(a.idx, {da}, b.idx, {db})", 12),
        record_a=record(f"(a.idx, {da}, -1, 0.0)", 8),
        record_b=record(f"(b.idx, {db}, -1, 0.0)", 8))
    return _indented(body, indent)


RECORDING_NAMES = {"RNode": RNode, "FastTape": FastTape, "P": P, "core": core, "new": _new}


def _make_recorder(sym: str, op):
    ns = dict(RECORDING_NAMES, op=op)
    exec(compile("def record(a, b):\n" + recording_code(sym, 4), f"<dprog record {sym}>",
                 "exec"), ns)
    return ns["record"]


def unary_recorder(op):
    """For a unary builtin's operation: record it on a float `RNode` in one call.

    The caller has checked that the argument is an `RNode`; anything else than a
    float primal of a `FastTape` (or an arithmetic exception) goes back to the
    operation.
    """
    p = getattr(op, "prim", None)
    if p is None or p.pyfn is None or p.sderiv is None or not p.differentiable:
        return None
    fn, sd = p.pyfn, p.sderiv

    def record1(x):
        pa = x.primal
        tr = x._trace
        if type(pa) is float and not core.NAN_CHECK and type(tr) is FastTape:
            try:
                out = fn(pa)
                d = sd(out, pa)
            except (ArithmeticError, ValueError):
                return op(x)
            r = RNode()
            r._trace = tr
            r.primal = out
            recs = tr.recs
            r.idx = len(recs)
            recs += (x.idx, d, -1, 0.0)
            return r
        return op(x)
    return record1


RECORDERS = {"+": _make_recorder("+", P.add),
             "-": _make_recorder("-", P.sub),
             "*": _make_recorder("*", P.mul),
             "/": _make_recorder("/", P.div)}
