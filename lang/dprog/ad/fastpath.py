"""Reverse mode's fast paths: every special case for Python floats, kept apart from
the reference engine in `reverse.py` (forward mode's are in `fastforward.py`).

Scalar programs spend their time in the bookkeeping around each operation, so:

* `FastTape` records float calls with their partials already computed (a LINEAR
  node), and its backward pass multiplies and adds floats inline, unrolled for
  one and two parents.
* The recorders: the compiler inlines `recording_code` into its `+ - * /`
  closures, so recording a float operation costs no call at all.

Anything else (arrays, ints, nan checking, an arithmetic exception) falls back
to the reference behaviour. tests/test_ad_properties.py runs every primitive on
both engines and requires the same values and derivatives.
"""

from __future__ import annotations

import sys
from time import monotonic

from ..core.errors import DpError
from ..core.limits import time_exceeded
from ..prims import core
from ..prims import primitives as P
from ..prims.core import EMPTY
from .reverse import LINEAR, OWNED_IN_LOOP, RNode, Tape, dprog_stack

_new = object.__new__  # a value without an __init__ call: the hot paths set its slots


_getrefcount = sys.getrefcount


class FastTape(Tape):
    """Reverse mode with the float fast paths (same results as `Tape`)."""

    __slots__ = ()

    def process(self, p, args, params):
        if len(args) == 2:
            a, b = args
            if type(a) is RNode and a._trace is self:
                pa = a.primal
            else:
                pa = a
            if type(b) is RNode and b._trace is self:
                pb = b.primal
            else:
                pb = b
            tpa = type(pa)
            tpb = type(pb)
            if (tpa is float or tpa is int) and (tpb is float or tpb is int):
                try:
                    out = p.pyfn(pa, pb)
                except (ArithmeticError, ValueError, TypeError):
                    out = P.bind(p, (pa, pb), params)
                else:
                    if out != out and core.NAN_CHECK:
                        out = P.bind(p, (pa, pb), params)
            else:
                out = P.bind(p, (pa, pb), params)
        elif len(args) == 1:
            pa = args[0].primal
            tpa = type(pa)
            if (tpa is float or tpa is int) and p.pyfn is not None:
                try:
                    out = p.pyfn(pa)
                except (ArithmeticError, ValueError):
                    out = P.bind(p, (pa,), params)
                else:
                    if out != out and core.NAN_CHECK:
                        out = P.bind(p, (pa,), params)
            else:
                out = P.bind(p, (pa,), params)
        else:
            out = P.bind(p, tuple(a.primal if type(a) is RNode and a._trace is self else a
                                  for a in args), params)
        if p.lean:
            r = self.lean_node(p, args, out, params)
            if core.NAN_CHECK:
                self.where[r.idx] = dprog_stack()
            return r
        r = _new(RNode)
        r._trace = self
        r.primal = out
        r.p = p
        r.args = args
        nodes = self.nodes
        r.idx = idx = len(nodes)
        nodes.append(r)
        if params:
            self.params[idx] = params
        if core.NAN_CHECK:
            self.where[idx] = dprog_stack()
        return r

    def process1(self, p, a):
        """`process` for a unary primitive without parameters (`a` is this tape's)."""
        pa = a.primal
        tpa = type(pa)
        if (tpa is float or tpa is int) and p.pyfn is not None and not core.NAN_CHECK:
            try:
                out = p.pyfn(pa)
            except (ArithmeticError, ValueError):
                return self.process(p, (a,), EMPTY)
            r = _new(RNode)
            r._trace = self
            r.primal = out
            sd = p.sderiv  # partials stored now, as the recorders do (`unary_recorder`)
            if sd is not None:
                try:
                    d = sd(out, pa)
                except (ArithmeticError, ValueError):
                    r.p = p
                    r.args = (a,)
                else:
                    r.p = LINEAR
                    r.args = (a.idx, d)
            else:
                r.p = p
                r.args = (a,)
            nodes = self.nodes
            r.idx = len(nodes)
            nodes.append(r)
            return r
        return self.process(p, (a,), EMPTY)

    def process2(self, p, a, b):
        """`process` for a binary primitive without parameters (the hot case)."""
        if type(a) is RNode and a._trace is self:
            pa = a.primal
        else:
            pa = a
        if type(b) is RNode and b._trace is self:
            pb = b.primal
        else:
            pb = b
        tpa = type(pa)
        tpb = type(pb)
        if (tpa is float or tpa is int) and (tpb is float or tpb is int) and not core.NAN_CHECK:
            try:
                out = p.pyfn(pa, pb)
            except (ArithmeticError, ValueError, TypeError):
                return self.process(p, (a, b), EMPTY)
            r = _new(RNode)
            r._trace = self
            r.primal = out
            r.p = p
            r.args = (a, b)
            nodes = self.nodes
            r.idx = len(nodes)
            nodes.append(r)
            return r
        return self.process(p, (a, b), EMPTY)

    def backward(self, seeds: list[tuple[int, object]]) -> list:
        """The leaves' cotangents given (node, cotangent) seeds, as `Tape.backward`."""
        nodes = self.nodes
        ct: list = [None] * len(nodes)
        start = -1
        for idx, g in seeds:
            ct[idx] = g if ct[idx] is None else P.add(ct[idx], g)
            start = max(start, idx)
        add = P.add
        Prim = P.Primitive
        prev = P.LIMITS.nan_pass
        P.LIMITS.nan_pass = "backward"
        deadline = P.LIMITS.deadline
        try:
            for i in range(start, -1, -1):
                g = ct[i]
                if g is None:
                    continue
                node = nodes[i]
                p = node.p
                if p is not None:
                    ct[i] = None  # only leaves keep theirs: an update loop's stay linear
                if p is LINEAR:
                    args = node.args
                    # the two parents are unrolled on purpose: this is the hot loop of
                    # scalar reverse mode, where a helper call per parent costs ~10%
                    if type(g) is float:
                        if g == 0.0:
                            continue  # a zero cotangent contributes exactly zero
                        j = args[0]
                        d = g * args[1]
                        if d != d:  # 0 * inf: a zero factor wins, as in the array rules
                            d = P.safe_mul(g, args[1])
                        c = ct[j]
                        if c is None:
                            ct[j] = d
                        elif type(c) is float:
                            ct[j] = c + d
                        else:
                            ct[j] = add(c, d)
                        if len(args) == 4:
                            j = args[2]
                            d = g * args[3]
                            if d != d:
                                d = P.safe_mul(g, args[3])
                            c = ct[j]
                            if c is None:
                                ct[j] = d
                            elif type(c) is float:
                                ct[j] = c + d
                            else:
                                ct[j] = add(c, d)
                    else:
                        for k in range(0, len(args), 2):
                            j = args[k]
                            c = P.safe_mul(g, args[k + 1])
                            ct[j] = c if ct[j] is None else add(ct[j], c)
                    continue
                if p is None:
                    continue  # a leaf keeps its cotangent
                args = node.args
                if type(p) is not Prim:  # custom rule (custom_vjp, checkpoint, ...)
                    for par, c in zip(args, p(g)):
                        if par >= 0 and c is not None:
                            ct[par] = c if ct[par] is None else add(ct[par], c)
                    continue
                sderiv = p.sderiv
                if sderiv is not None and type(g) is float and not core.NAN_CHECK:
                    if g == 0.0:
                        continue  # a zero cotangent contributes exactly zero
                    if len(args) == 2:
                        a, b = args
                        if type(a) is RNode and a._trace is self:
                            ra = True
                            pa = a.primal
                        else:
                            ra = False
                            pa = a
                        if type(b) is RNode and b._trace is self:
                            rb = True
                            pb = b.primal
                        else:
                            rb = False
                            pb = b
                        tpa = type(pa)
                        tpb = type(pb)
                        if (tpa is float or tpa is int) and (tpb is float or tpb is int):
                            try:
                                da, db = sderiv(node.primal, pa, pb)
                            except (ArithmeticError, ValueError):
                                pass
                            else:
                                if ra:
                                    j = a.idx
                                    c = ct[j]
                                    if c is None:
                                        ct[j] = _scale(g, da)
                                    elif type(c) is float:
                                        ct[j] = c + _scale(g, da)
                                    else:
                                        ct[j] = add(c, _scale(g, da))
                                if rb:
                                    j = b.idx
                                    c = ct[j]
                                    if c is None:
                                        ct[j] = _scale(g, db)
                                    elif type(c) is float:
                                        ct[j] = c + _scale(g, db)
                                    else:
                                        ct[j] = add(c, _scale(g, db))
                                continue
                    else:
                        a = args[0]
                        pa = a.primal
                        tpa = type(pa)
                        if tpa is float or tpa is int:
                            try:
                                d = sderiv(node.primal, pa)
                            except (ArithmeticError, ValueError):
                                pass
                            else:
                                j = a.idx
                                c = ct[j]
                                if c is None:
                                    ct[j] = _scale(g, d)
                                elif type(c) is float:
                                    ct[j] = c + _scale(g, d)
                                else:
                                    ct[j] = add(c, _scale(g, d))
                                continue
                if deadline is not None and monotonic() > deadline:
                    raise time_exceeded()  # one clock read per general node, none on floats
                primals = tuple(a.primal if type(a) is RNode and a._trace is self else a
                                for a in args)
                parents = [a.idx if type(a) is RNode and a._trace is self else -1
                           for a in args]
                params = self.params.get(i, EMPTY)
                if p.lean:
                    c = cts = None  # earlier nodes' cotangents, no longer needed here
                    if _getrefcount(g) <= OWNED_IN_LOOP:  # held by `g` alone
                        params = {**params, "owned": True}
                out = node.primal
                if p.vjp_joint is not None:
                    cts = p.vjp_joint(g, out, primals, [par >= 0 for par in parents],
                                      **params)
                    for par, c in zip(parents, cts):
                        if par >= 0 and c is not None:
                            ct[par] = c if ct[par] is None else add(ct[par], c)
                    continue
                rules = p.vjps
                for k, par in enumerate(parents):
                    if par < 0:
                        continue
                    rule = rules[k]
                    if rule is None:
                        continue
                    c = rule(g, out, *primals, **params)
                    if c is None:
                        continue
                    ct[par] = c if ct[par] is None else add(ct[par], c)
        except DpError as err:
            stack = self.where.get(i)
            if err.kind == "nan" and stack and err.span is None:
                err.span = stack[0][0]
                err.stack.extend(stack)
                name = getattr(nodes[i].p, "name", None)
                if name:  # name what the user called, not an operation inside its rule
                    err.message = (f"the derivative of `{name}` produced nan from inputs "
                                   "without nan (in the backward pass)")
            raise
        finally:
            P.LIMITS.nan_pass = prev
        return ct


def _scale(g: float, d: float) -> float:
    """g * d for float cotangents, where a zero factor wins over inf (as `safe_mul`)."""
    r = g * d
    return r if r == r else P.safe_mul(g, d)


# Recording `+ - * /` on Python floats is the hot path of scalar reverse mode (W1).
# The compiler's operator closures call these recorders directly, one call per
# operation instead of operator -> primitive -> tape -> scalar function; anything
# but two floats of one tape (arrays, ints, nesting, a zero divisor, nan checking)
# goes back to the general operator unchanged.
# The body of a recorder: a function of (a, b) with `RNode`, `P`, `new`, `op` and
# `LINEAR` in scope (RECORDING_NAMES, plus the operation as `op`). The compiler
# inlines it into its generated `+ - * /` closures; `RECORDERS` wraps it as functions.
_RECORDING_BODY = """\
ta = type(a)
tb = type(b)
if ta is RNode:
    tr = a._trace
    pa = a.primal
    if tb is RNode:
        pb = b.primal
        both = True
        if b._trace is not tr:
            tr = None
    elif tb is float:
        pb = b
        both = False
    else:
        tr = None
elif tb is RNode and ta is float:
    tr = b._trace
    pa = a
    pb = b.primal
    both = None
else:
    tr = None
if tr is not None and type(pa) is float and type(pb) is float and {guard}not core.NAN_CHECK:
    r = new(RNode)
    r._trace = tr
    r.primal = out = pa {sym} pb
    r.p = LINEAR
    if both:
        r.args = (a.idx, {da}, b.idx, {db})
    elif both is None:
        r.args = (b.idx, {db})
    else:
        r.args = (a.idx, {da})
    nodes = tr.nodes
    r.idx = len(nodes)
    nodes.append(r)
    {result} r
else:
    {result} op(a, b)
"""


# d(a sym b)/da and /db as expressions in pa, pb and out
_PARTIALS = {"+": ("1.0", "1.0"), "-": ("1.0", "-1.0"), "*": ("pb", "pa"),
             "/": ("1.0 / pb", "-out / pb")}


def recording_code(sym: str, indent: int, result: str | None = None) -> str:
    """Source of the recorder body for `sym`, indented by `indent` spaces: it returns
    the result, or assigns it to the variable `result` and falls through (for code
    that inlines it into a longer function body)."""
    guard = "pb != 0.0 and " if sym == "/" else ""
    da, db = _PARTIALS[sym]
    body = _RECORDING_BODY.format(sym=sym, guard=guard, da=da, db=db,
                                  result="return" if result is None else result + " =")
    return "".join(" " * indent + line if line.strip() else line
                   for line in body.splitlines(keepends=True))


RECORDING_NAMES = {"RNode": RNode, "P": P, "core": core, "new": _new, "LINEAR": LINEAR}


def _make_recorder(sym: str, op):
    ns = dict(RECORDING_NAMES, op=op)
    exec(compile("def record(a, b):\n" + recording_code(sym, 4), f"<dprog record {sym}>",
                 "exec"), ns)
    return ns["record"]


def unary_recorder(op):
    """For a unary builtin's operation: record it on a float `RNode` in one call.

    The caller has checked that the argument is an `RNode`; anything else than a
    float primal (or an arithmetic exception) goes back to the operation.
    """
    p = getattr(op, "prim", None)
    if p is None or p.pyfn is None or p.sderiv is None or not p.differentiable:
        return None
    fn, sd = p.pyfn, p.sderiv

    def record1(x):
        pa = x.primal
        if type(pa) is float and not core.NAN_CHECK:
            try:
                out = fn(pa)
                d = sd(out, pa)
            except (ArithmeticError, ValueError):
                return op(x)
            r = _new(RNode)
            r._trace = tr = x._trace
            r.primal = out
            r.p = LINEAR
            r.args = (x.idx, d)
            nodes = tr.nodes
            r.idx = len(nodes)
            nodes.append(r)
            return r
        return op(x)
    return record1


RECORDERS = {"+": _make_recorder("+", P.add),
             "-": _make_recorder("-", P.sub),
             "*": _make_recorder("*", P.mul),
             "/": _make_recorder("/", P.div)}
