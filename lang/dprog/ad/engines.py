"""The two differentiation engines and the transformations built on them.

Forward mode: a `ForwardTrace` tags `Dual` values (primal + tangent). A trace
made by `jacfwd` carries a batch size: its tangents have one extra leading
axis holding a whole basis, so one evaluation gives the full Jacobian.

Reverse mode: a `Tape` records one node per primitive call (parallel lists,
no per-node dict) and `RNode` values point at their node. `backward` walks
the tape once from the output, calling each primitive's VJP rules.

Every trace gets a fresh, increasing `level` when a transformation starts.
`primitives.bind` hands a call to the trace of the highest level among its
arguments, and each trace unwraps only its own values, so nested
transformations never confuse their perturbations. No global trace stack is
kept: the levels travel with the values.
"""

from __future__ import annotations

import gc
import itertools
import sys
from contextlib import contextmanager

import numpy as np

from ..core.errors import DpDifferentiationError, DpError, DpTypeError
from ..core.values import TRACER_TYPES, Record, Tracer, kind_of, strip
from ..prims import primitives as P
from ..prims.primitives import EMPTY

_levels = itertools.count(1)


# ==================================================================== forward mode
class ForwardTrace:
    __slots__ = ("level", "batch")

    def __init__(self, batch: int | None = None):
        self.level = next(_levels)
        self.batch = batch

    def process(self, p, args, params):
        sd = p.sderiv
        if sd is not None and self.batch is None and not P.NAN_CHECK:
            # Python-float fast path: value and tangent without NumPy (falls back
            # to the array rules on any exception or non-float operand)
            if len(args) == 2:
                a, b = args
                if type(a) is Dual and a._trace is self:
                    pa = a.primal
                    ta = a.tangent
                else:
                    pa = a
                    ta = None
                if type(b) is Dual and b._trace is self:
                    pb = b.primal
                    tb = b.tangent
                else:
                    pb = b
                    tb = None
                tpa = type(pa)
                tpb = type(pb)
                if (tpa is float or tpa is int) and (tpb is float or tpb is int):
                    try:
                        out = p.pyfn(pa, pb)
                        da, db = sd(out, pa, pb)
                        if ta is None:
                            t = tb * db
                        elif tb is None:
                            t = ta * da
                        else:
                            t = ta * da + tb * db
                    except (ArithmeticError, ValueError, TypeError):
                        pass
                    else:
                        if type(t) is float:
                            r = _new(Dual)
                            r._trace = self
                            r.primal = out
                            r.tangent = t
                            return r
            elif len(args) == 1:
                a = args[0]
                pa = a.primal
                tpa = type(pa)
                if tpa is float or tpa is int:
                    try:
                        out = p.pyfn(pa)
                        t = a.tangent * sd(out, pa)
                    except (ArithmeticError, ValueError, TypeError):
                        pass
                    else:
                        if type(t) is float:
                            r = _new(Dual)
                            r._trace = self
                            r.primal = out
                            r.tangent = t
                            return r
        if len(args) == 2 and self.batch is None and not params and not P.NAN_CHECK \
                and p.jvp_joint is None:
            # the common binary case without lists or keyword plumbing
            a, b = args
            if type(a) is Dual and a._trace is self:
                pa = a.primal
                ta = a.tangent
            else:
                pa = a
                ta = None
            if type(b) is Dual and b._trace is self:
                pb = b.primal
                tb = b.tangent
            else:
                pb = b
                tb = None
            out = p.op(pa, pb) if p.op is not None else P.bind(p, (pa, pb))
            rules = p.jvps
            t_out = None
            if ta is not None and rules[0] is not None:
                t_out = rules[0](ta, out, pa, pb)
            if tb is not None and rules[1] is not None:
                c = rules[1](tb, out, pa, pb)
                t_out = c if t_out is None else P.add(t_out, c)
            if t_out is None:
                return out
            r = _new(Dual)
            r._trace = self
            r.primal = out
            r.tangent = t_out
            return r
        primals = []
        tangents = []
        any_t = False
        for a in args:
            if type(a) is Dual and a._trace is self:
                primals.append(a.primal)
                tangents.append(a.tangent)
                any_t = True
            else:
                primals.append(a)
                tangents.append(None)
        if p.op is not None and not params:
            out = p.op(*primals)
        else:
            out = P.bind(p, tuple(primals), params)
        if not any_t:
            return out
        if P.NAN_CHECK:
            prev = P.LIMITS.nan_pass
            P.LIMITS.nan_pass = "tangent"
            try:
                t_out = self._tangent(p, primals, tangents, out, params)
            finally:
                P.LIMITS.nan_pass = prev
        else:
            t_out = self._tangent(p, primals, tangents, out, params)
        if t_out is None:
            return out
        if self.batch is not None and p.elementwise:
            # a broadcast may leave the tangent narrower than (batch,) + out.shape
            want = (self.batch,) + P.shape(out)
            if P.shape(t_out) != want:
                t_out = P.broadcast_to(P.pad_batched(t_out, len(want) - 1), want)
        r = _new(Dual)
        r._trace = self
        r.primal = out
        r.tangent = t_out
        return r

    def process1(self, p, a):
        """`process` for a unary primitive without parameters (`a` is this trace's)."""
        sd = p.sderiv
        if sd is not None and self.batch is None and not P.NAN_CHECK:
            pa = a.primal
            tpa = type(pa)
            if tpa is float or tpa is int:
                try:
                    out = p.pyfn(pa)
                    t = a.tangent * sd(out, pa)
                except (ArithmeticError, ValueError, TypeError):
                    pass
                else:
                    if type(t) is float:
                        r = _new(Dual)
                        r._trace = self
                        r.primal = out
                        r.tangent = t
                        return r
        return self.process(p, (a,), EMPTY)

    def process2(self, p, a, b):
        """`process` for a binary primitive without parameters (the hot case)."""
        sd = p.sderiv
        if sd is not None and self.batch is None and not P.NAN_CHECK:
            if type(a) is Dual and a._trace is self:
                pa = a.primal
                ta = a.tangent
            else:
                pa = a
                ta = None
            if type(b) is Dual and b._trace is self:
                pb = b.primal
                tb = b.tangent
            else:
                pb = b
                tb = None
            tpa = type(pa)
            tpb = type(pb)
            if (tpa is float or tpa is int) and (tpb is float or tpb is int):
                try:
                    out = p.pyfn(pa, pb)
                    da, db = sd(out, pa, pb)
                    if ta is None:
                        t = tb * db
                    elif tb is None:
                        t = ta * da
                    else:
                        t = ta * da + tb * db
                except (ArithmeticError, ValueError, TypeError):
                    pass
                else:
                    if type(t) is float:
                        r = _new(Dual)
                        r._trace = self
                        r.primal = out
                        r.tangent = t
                        return r
        return self.process(p, (a, b), EMPTY)

    def _tangent(self, p, primals, tangents, out, params):
        """The output tangent from the primitive's JVP rules (None when zero)."""
        if p.jvp_joint is not None:
            return p.jvp_joint(primals, tangents, out, **params)
        t_out = None
        rules = p.jvps
        batched = self.batch is not None and p.elementwise
        out_nd = P.ndim(out) if batched else 0
        for k, t in enumerate(tangents):
            if t is None:
                continue
            rule = rules[k]
            if rule is None:
                continue
            if batched:
                t = P.pad_batched(t, out_nd)
            c = rule(t, out, *primals, **params)
            t_out = c if t_out is None else P.add(t_out, c)
        return t_out


_SCALAR = frozenset({float, int})


class Dual(Tracer):
    __slots__ = ("tangent",)

    def __init__(self, trace, primal, tangent):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent


# ==================================================================== reverse mode
class _Linear:
    """The `p` of a node recorded on Python floats with its partial derivatives.

    Such a node's `args` are `(parent_index, partial, ...)`: the partials are
    plain floats, computed when the node was recorded (they are constants for
    every enclosing transformation, since the primals were plain floats), so
    the backward pass only multiplies and adds.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "LINEAR"


LINEAR = _Linear()


class Tape:
    """One reverse-mode recording: a list with one node per primitive call.

    The node *is* the traced value (`RNode`): it carries its primitive, its
    argument tuple exactly as passed (values of this tape are RNodes, i.e. the
    parent nodes) and static parameters. One object and one list append per
    primitive call is all the recording costs.
    """

    __slots__ = ("level", "nodes", "params", "where")

    def __init__(self):
        self.level = next(_levels)
        self.nodes: list = []
        self.params: dict = {}  # node index -> static parameters, for the few that have any
        # node index -> dprog stack of the call that recorded it; only under --check-nans,
        # so that a nan in the backward pass is reported where the primitive was called
        self.where: dict = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def release(self) -> None:
        """Drop the recording now (values point back at the tape: a cycle)."""
        self.nodes = []
        self.params = {}
        self.where = {}

    def _node(self, p, args, out, params) -> RNode:
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
        return r

    def leaf(self, value) -> RNode:
        return self._node(None, None, value, None)

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
                    if out != out and P.NAN_CHECK:
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
                    if out != out and P.NAN_CHECK:
                        out = P.bind(p, (pa,), params)
            else:
                out = P.bind(p, (pa,), params)
        else:
            out = P.bind(p, tuple(a.primal if type(a) is RNode and a._trace is self else a
                                  for a in args), params)
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
        if P.NAN_CHECK:
            self.where[idx] = _dprog_stack()
        return r

    def process1(self, p, a):
        """`process` for a unary primitive without parameters (`a` is this tape's)."""
        pa = a.primal
        tpa = type(pa)
        if (tpa is float or tpa is int) and p.pyfn is not None and not P.NAN_CHECK:
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
        if (tpa is float or tpa is int) and (tpb is float or tpb is int) and not P.NAN_CHECK:
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

    def record_custom(self, backward, parents: list, out):
        """A node whose VJP is a Python callable g -> [cotangent per parent index]."""
        return self._node(backward, tuple(parents), out, None)

    def backward(self, seeds: list[tuple[int, object]]) -> list:
        """Cotangents of every node given (node, cotangent) seeds; None means zero."""
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
        try:
            for i in range(start, -1, -1):
                g = ct[i]
                if g is None:
                    continue
                node = nodes[i]
                p = node.p
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
                if sderiv is not None and type(g) is float and not P.NAN_CHECK:
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
                primals = tuple(a.primal if type(a) is RNode and a._trace is self else a
                                for a in args)
                parents = [a.idx if type(a) is RNode and a._trace is self else -1
                           for a in args]
                params = self.params.get(i, EMPTY)
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


# Code objects that begin a dprog call (runtime.functions registers Closure.__call__):
# the frames between two of them belong to one dprog function.
CALL_BOUNDARIES: set = set()


def _dprog_stack() -> list:
    """The dprog frames (span, function name) of the primitive call being recorded,
    innermost first, up to the transformation that started the recording.

    Read off the Python stack: the compiler's closures hold `span` and `fname`,
    and a call boundary separates dprog frames. Used only under --check-nans.
    """
    here = __file__
    out: list = []
    need = True
    started = False
    f = sys._getframe(2)
    while f is not None:
        code = f.f_code
        if code in CALL_BOUNDARIES:
            need = True
        elif code.co_filename == here:
            if started:
                break  # the transformation that made this tape
        elif need:
            loc = f.f_locals
            if "span" in loc and "fname" in loc and loc["span"] is not None:
                out.append((loc["span"], loc["fname"]))
                need = False
                started = True
        f = f.f_back
    return out


def _scale(g: float, d: float) -> float:
    """g * d for float cotangents, where a zero factor wins over inf (as `safe_mul`)."""
    r = g * d
    return r if r == r else P.safe_mul(g, d)


class RNode(Tracer):
    """A value on a tape, and the tape's record of the primitive call that made it."""

    __slots__ = ("idx", "p", "args")


TRACER_TYPES.update({Dual, RNode})
_new = object.__new__


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
        if b._trace is not tr:
            return op(a, b)
        pb = b.primal
        both = True
    elif tb is float:
        pb = b
        both = False
    else:
        return op(a, b)
elif tb is RNode and ta is float:
    tr = b._trace
    pa = a
    pb = b.primal
    both = None
else:
    return op(a, b)
if type(pa) is float and type(pb) is float and {guard}not P.NAN_CHECK:
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
    return r
return op(a, b)
"""

# d(a sym b)/da and /db as expressions in pa, pb and out
_PARTIALS = {"+": ("1.0", "1.0"), "-": ("1.0", "-1.0"), "*": ("pb", "pa"),
             "/": ("1.0 / pb", "-out / pb")}


def recording_code(sym: str, indent: int) -> str:
    """Source of the recorder body for `sym`, indented by `indent` spaces."""
    guard = "pb != 0.0 and " if sym == "/" else ""
    da, db = _PARTIALS[sym]
    body = _RECORDING_BODY.format(sym=sym, guard=guard, da=da, db=db)
    return "".join(" " * indent + line if line.strip() else line
                   for line in body.splitlines(keepends=True))


RECORDING_NAMES = {"RNode": RNode, "P": P, "new": _new, "LINEAR": LINEAR}


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
    if p is None or p.pyfn is None or p.sderiv is None or p.nondiff:
        return None
    fn, sd = p.pyfn, p.sderiv

    def record1(x):
        pa = x.primal
        if type(pa) is float and not P.NAN_CHECK:
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


# ====================================================================== tree helpers
def flatten(tree, where: str = "argument") -> tuple[list, object]:
    """Leaves (numbers, arrays, traced values) of a tree of tuples/records, and its shape."""
    leaves: list = []

    def go(t):
        tt = type(t)
        if tt is tuple:
            return ("t", tuple(go(x) for x in t))
        if tt is Record:
            return ("r", tuple(t.keys()), tuple(go(x) for x in t.values()))
        if tt is bool or t is None or tt is str or not _is_leaf(t):
            raise DpTypeError(f"cannot differentiate with respect to {kind_of(t)} ({where})",
                              None, "differentiate with respect to numbers, arrays, "
                              "or tuples/records of them")
        leaves.append(t)
        return None

    shape = go(tree)
    return leaves, shape


def _is_leaf(t) -> bool:
    tt = type(t)
    return tt is float or tt is int or tt is np.ndarray or isinstance(t, Tracer)


def unflatten(shape, leaves):
    it = iter(leaves)

    def go(s):
        if s is None:
            return next(it)
        if s[0] == "t":
            return tuple(go(x) for x in s[1])
        return Record(dict(zip(s[1], (go(x) for x in s[2]))))

    return go(shape)


def conform(tree, shape):
    """`tree` with its records' fields in the order of `shape` (a flatten() shape)
    where they hold the same names: `{d: .., s: ..}` matches `{s: .., d: ..}`."""
    if shape is None:
        return tree
    if shape[0] == "t" and type(tree) is tuple and len(tree) == len(shape[1]):
        return tuple(conform(x, s) for x, s in zip(tree, shape[1]))
    if shape[0] == "r" and type(tree) is Record and set(tree.keys()) == set(shape[1]):
        return Record({k: conform(tree.get(k), s) for k, s in zip(shape[1], shape[2])})
    return tree


def tree_leaves_any(tree) -> list:
    """All leaves of a tree, whatever their kind (used to look for tracers)."""
    out = []

    def go(t):
        if type(t) is tuple:
            for x in t:
                go(x)
        elif type(t) is Record:
            for x in t.values():
                go(x)
        else:
            out.append(t)

    go(tree)
    return out


def to_float(x):
    """Promote an int (or int-valued array) to float for differentiation."""
    if type(x) is int:
        return float(x)
    if type(x) is np.ndarray and x.dtype != np.float64:
        return x.astype(np.float64)
    return x


def zeros_like(x):
    s = strip(x)
    if type(s) is np.ndarray:
        return np.zeros(s.shape)
    return 0.0


def _check_argnums(argnums, nargs: int, what: str) -> tuple[tuple[int, ...], bool]:
    single = not isinstance(argnums, tuple)
    nums = (argnums,) if single else argnums
    for a in nums:
        if type(a) is not int:
            raise DpTypeError(f"`{what}`: argnums must be an int or a tuple of ints", None)
        if not -nargs <= a < nargs:
            raise DpDifferentiationError(
                f"`{what}`: argnums={a} but the function was called with {nargs} "
                f"argument{'s' if nargs != 1 else ''}", None, None)
    return tuple(a % nargs for a in nums), single


# ===================================================================== transformations
@contextmanager
def recording():
    """Pause the cyclic garbage collector while a tape grows.

    A tape holds one or two small objects per primitive call; the collector
    would rescan them over and over (it doubled W1's time). Reference counting
    still frees everything that is not cyclic; the previous state is restored.
    """
    was = gc.isenabled()
    if was:
        gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def value_and_grad_call(f, args: tuple, kwargs: dict, argnums=0, what="grad"):
    """Evaluate f(*args) on a fresh tape; return (value, gradient w.r.t. argnums)."""
    with recording():
        return _value_and_grad(f, args, kwargs, argnums, what)


def _value_and_grad(f, args, kwargs, argnums, what):
    nums, single = _check_argnums(argnums, len(args), what)
    tape = Tape()
    args = list(args)
    leaf_nodes = {}
    shapes = {}
    for a in nums:
        leaves, shp = flatten(args[a], f"argument {a + 1} of the function given to `{what}`")
        nodes = [tape.leaf(to_float(x)) for x in leaves]
        leaf_nodes[a] = nodes
        shapes[a] = shp
        args[a] = unflatten(shp, nodes)
    out = f(*args, **kwargs)
    value = _scalar_output(out, tape, what)
    if type(out) is RNode and out._trace is tape:
        s = P.shape(out)  # a one-element array output is seeded with ones of its shape
        ct = tape.backward([(out.idx, np.ones(s) if s else 1.0)])
    else:
        ct = None
    grads = []
    for a in nums:
        gl = []
        for node in leaf_nodes[a]:
            g = ct[node.idx] if ct is not None else None
            gl.append(g if g is not None else zeros_like(node.primal))
        grads.append(unflatten(shapes[a], gl))
    tape.release()
    return value, grads[0] if single else tuple(grads)


def _scalar_output(out, tape, what):
    value = out.primal if type(out) is RNode and out._trace is tape else out
    v = strip(value)
    if type(v) is np.ndarray:
        if v.size != 1 or v.ndim > 0:
            if v.size == 1:
                return P.reshape(value, ())
            raise DpDifferentiationError(
                f"`{what}` needs a function that returns a scalar, but it returned an array "
                f"of shape {v.shape}", None,
                "use `jacobian(f)` for the full Jacobian, or `vjp(f, x)` for a "
                "vector-Jacobian product")
    elif type(v) not in (float, int):
        raise DpDifferentiationError(
            f"`{what}` needs a function that returns a scalar, but it returned {kind_of(v)}",
            None, "return a number, e.g. a loss summed with `sum(...)`")
    return value


def jvp_call(f, primals: tuple, tangents: tuple, batch: int | None = None):
    """(f(primals), J·tangents) by forward mode; tangents match primals' structure."""
    trace = ForwardTrace(batch)
    args = []
    for k, (p, t) in enumerate(zip(primals, tangents)):
        pl, ps = flatten(p, f"primal {k + 1} of `jvp`")
        tl, ts = flatten(conform(t, ps), f"tangent {k + 1} of `jvp`")
        if ps != ts or len(pl) != len(tl):
            raise DpDifferentiationError(
                f"`jvp`: tangent {k + 1} does not have the structure of primal {k + 1}", None,
                "give one tangent per primal, of the same shape")
        duals = []
        for x, t1 in zip(pl, tl):
            x = to_float(x)
            t1 = to_float(t1)
            want = (batch,) + P.shape(x) if batch is not None else P.shape(x)
            if P.shape(t1) != want:
                if batch is None:
                    raise DpDifferentiationError(
                        f"`jvp`: a tangent has shape {P.shape(t1)} but its primal has shape "
                        f"{P.shape(x)}", None, "tangents must have the shape of their primals")
            duals.append(Dual(trace, x, t1))
        args.append(unflatten(ps, duals))
    out = f(*args)
    return _split_dual_tree(out, trace, batch)


def _split_dual_tree(out, trace, batch):
    leaves, shp = flatten(out, "result of the function")
    ps, ts = [], []
    for x in leaves:
        if type(x) is Dual and x._trace is trace:
            ps.append(x.primal)
            ts.append(x.tangent)
        else:
            ps.append(x)
            z = zeros_like(x)
            if batch is not None:
                P.check_size(batch * int(np.prod(P.shape(x))))
                z = np.zeros((batch,) + P.shape(x))
            ts.append(z)
    return unflatten(shp, ps), unflatten(shp, ts)


def vjp_call(f, args: tuple):
    """(f(args), pullback) with pullback(ct) -> tuple of cotangents, one per argument."""
    with recording():
        return _vjp(f, args)


def _vjp(f, args):
    tape = Tape()
    new_args = []
    structures = []
    for k, a in enumerate(args):
        leaves, shp = flatten(a, f"argument {k + 1} of `vjp`")
        nodes = [tape.leaf(to_float(x)) for x in leaves]
        structures.append((shp, nodes))
        new_args.append(unflatten(shp, nodes))
    out = f(*new_args)
    out_leaves, out_shape = flatten(out, "result of the function given to `vjp`")
    value = unflatten(out_shape, [x.primal if type(x) is RNode and x._trace is tape else x
                                  for x in out_leaves])

    def pullback(ct):
        ct_leaves, ct_shape = flatten(conform(ct, out_shape), "cotangent given to the pullback")
        if ct_shape != out_shape or len(ct_leaves) != len(out_leaves):
            raise DpDifferentiationError("the cotangent does not have the structure of the "
                                         "function's result", None,
                                         "pass one value shaped like the result")
        seeds = []
        for o, c in zip(out_leaves, ct_leaves):
            if P.shape(o) != P.shape(c):
                raise DpDifferentiationError(
                    f"the cotangent has shape {P.shape(c)} but the result has shape "
                    f"{P.shape(o)}", None, "pass one value shaped like the result")
            if type(o) is RNode and o._trace is tape:
                seeds.append((o.idx, to_float(c)))
        cts = tape.backward(seeds) if seeds else None
        res = []
        for shp, nodes in structures:
            gl = []
            for node in nodes:
                g = cts[node.idx] if cts is not None else None
                gl.append(g if g is not None else zeros_like(node.primal))
            res.append(unflatten(shp, gl))
        return tuple(res)

    return value, pullback


class _TreeResult(Exception):
    """Raised by the array Jacobians when f returns a tree: the tree path takes over."""


def _single_array_arg(x, what):
    leaves, shp = flatten(x, f"argument of `{what}`")
    if shp is not None:
        raise _TreeResult
    return to_float(leaves[0])


def hessian_call(f, x, extra: tuple = ()):
    """jacfwd(jacrev(f)); a tree argument gives a tree of trees (rows, then columns)."""
    flatten(x, "argument of `hessian`")  # reports a bad argument under hessian's name
    return jacfwd_call(lambda z: jacrev_call(f, z, extra), x)


def _flat_problem(f, x, extra):
    """f as a function of one flat vector (all leaves of x, raveled and joined).

    Returns (flat_f, v0, in_structure, out_info): `flat_f` returns the output's
    leaves raveled and joined too, and records the output's structure in
    `out_info` when it runs.
    """
    leaves, in_shape = flatten(x, "argument of a Jacobian")
    leaves = [to_float(v) for v in leaves]
    shapes = [P.shape(v) for v in leaves]
    sizes = [int(np.prod(s)) if s else 1 for s in shapes]
    out_info: list = []

    def flat_f(v):
        parts, off = [], 0
        for shp, n in zip(shapes, sizes):
            parts.append(P.reshape(P.getitem(v, (slice(off, off + n),)), shp))
            off += n
        out = f(unflatten(in_shape, parts), *extra)
        ol, oshape = flatten(out, "result")
        out_info[:] = [(oshape, [P.shape(o) for o in ol])]
        return P.concat([P.reshape(o, (int(np.prod(P.shape(o))) if P.shape(o) else 1,))
                         for o in ol])

    v0 = P.concat([P.reshape(v, (n,)) for v, n in zip(leaves, sizes)])
    return flat_f, v0, (in_shape, shapes), out_info


def _tree_jacobian(method, f, x, extra):
    flat_f, v0, cols, out_info = _flat_problem(f, x, extra)
    jac = method(flat_f, v0, ())
    return _split_jacobian(jac, out_info[0], cols)


def _split_jacobian(jac, rows, cols):
    """Cut a (M, N) Jacobian into the blocks of a tree of trees: for each leaf of
    the rows' structure, a tree shaped like the columns' structure whose leaves
    have shape row_leaf.shape + col_leaf.shape (JAX's convention)."""
    (rshape, rshapes), (cshape, cshapes) = rows, cols
    out, r = [], 0
    for rs in rshapes:
        m = int(np.prod(rs)) if rs else 1
        blocks, c = [], 0
        for cs in cshapes:
            n = int(np.prod(cs)) if cs else 1
            block = P.getitem(jac, (slice(r, r + m), slice(c, c + n)))
            blocks.append(P.reshape(block, tuple(rs) + tuple(cs)))
            c += n
        out.append(unflatten(cshape, blocks))
        r += m
    return unflatten(rshape, out)


def _jacfwd(f, x, extra: tuple = ()):
    x = _single_array_arg(x, "jacfwd")
    xs = P.shape(x)
    if not xs:
        out, t = jvp_call(lambda v: f(v, *extra), (x,), (1.0,))
        return _as_jac(t)
    n = int(np.prod(xs))
    P.check_size(n * n, "a Jacobian basis")
    basis = np.eye(n).reshape((n,) + xs)
    out, t = jvp_call(lambda v: f(v, *extra), (x,), (basis,), batch=n)
    return _batched_to_jac(out, t, xs)


def _as_jac(t):
    leaves, shp = flatten(t, "result")
    if shp is not None:
        raise _TreeResult
    return t


def _batched_to_jac(out, t, xs):
    leaves, shp = flatten(out, "result")
    if shp is not None:
        raise _TreeResult
    ys = P.shape(out)
    # t: (n,) + ys  ->  ys + xs
    nd = len(ys)
    tt = P.transpose(t, tuple(range(1, nd + 1)) + (0,)) if nd else t
    return P.reshape(tt, ys + xs)


def _jacrev(f, x, extra: tuple = ()):
    x = _single_array_arg(x, "jacrev")
    xs = P.shape(x)
    out, pull = vjp_call(lambda v: f(v, *extra), (x,))
    leaves, shp = flatten(out, "result")
    if shp is not None:
        raise _TreeResult
    ys = P.shape(out)
    if not ys:
        return pull(1.0)[0]
    m = int(np.prod(ys))
    if m == 0:  # an empty result: an empty Jacobian (stack needs one row)
        return np.zeros(ys + xs)
    P.check_size(m * max(1, int(np.prod(xs))), "a Jacobian")
    rows = []
    for i in range(m):
        e = np.zeros(m)
        e[i] = 1.0
        rows.append(pull(e.reshape(ys))[0])
    jac = P.stack(rows, axis=0)
    return P.reshape(jac, ys + xs)


def _jacobian(f, x, extra: tuple = ()):
    """Reverse mode when outputs are fewer than inputs, else forward (one extra evaluation)."""
    xv = _single_array_arg(x, "jacobian")
    n = int(np.prod(P.shape(xv))) if P.shape(xv) else 1
    out = f(xv, *extra)
    leaves, shp = flatten(out, "result")
    if shp is not None:
        raise _TreeResult
    m = int(np.prod(P.shape(out))) if P.shape(out) else 1
    if m < n:
        return _jacrev(f, xv, extra)
    return _jacfwd(f, xv, extra)


def _trees_too(method, doc):
    """A Jacobian operation that also takes and returns trees (see `_tree_jacobian`):
    the array version runs first and hands over when it meets a tree."""
    def call(f, x, extra: tuple = ()):
        try:
            return method(f, x, extra)
        except _TreeResult:
            return _tree_jacobian(method, f, x, extra)
    call.__doc__ = doc
    return call


jacfwd_call = _trees_too(_jacfwd, "The Jacobian by forward mode.")
jacrev_call = _trees_too(_jacrev, "The Jacobian by reverse mode.")
jacobian_call = _trees_too(_jacobian, "The Jacobian by the cheaper mode.")


def hvp_call(f, x, v):
    grad_f = lambda y: value_and_grad_call(f, (y,), {}, 0, "hvp")[1]  # noqa: E731
    return jvp_call(grad_f, (x,), (v,))[1]


# ======================================================================= custom rules
def top_trace(values):
    top = None
    for a in values:
        if isinstance(a, Tracer):
            if top is None or a._trace.level > top.level:
                top = a._trace
    return top


def unwrap_level(x, trace):
    """x with this trace's wrapper removed (lower-level tracing kept)."""
    if isinstance(x, Tracer) and x._trace is trace:
        return x.primal
    return x


def _tree_unwrap(tree, trace):
    leaves, shp = _flatten_any(tree)
    return unflatten_any(shp, [unwrap_level(x, trace) for x in leaves])


def _flatten_any(tree):
    leaves = []

    def go(t):
        if type(t) is tuple:
            return ("t", tuple(go(x) for x in t))
        if type(t) is Record:
            return ("r", tuple(t.keys()), tuple(go(x) for x in t.values()))
        leaves.append(t)
        return None

    return leaves, go(tree)


def unflatten_any(shape, leaves):
    return unflatten(shape, leaves)


def call_custom_vjp(f, fwd, bwd, args: tuple):
    leaves, shp = _flatten_any(args)
    trace = top_trace(leaves)
    if not isinstance(trace, Tape):
        # no reverse tracing at the top: run f itself (forward mode traces through f)
        return f(*args)
    primals = unflatten_any(shp, [unwrap_level(x, trace) for x in leaves])
    res_pair = fwd(*primals)
    if type(res_pair) is not tuple or len(res_pair) != 2:
        raise DpTypeError("custom_vjp: `fwd` must return a tuple (output, residuals)", None,
                          "e.g. `fn fwd(x) { let y = f(x); return (y, x) }`")
    y, res = res_pair
    y_leaves, y_shape = flatten(y, "output of `fwd` in custom_vjp")
    parents = [x.idx if type(x) is RNode and x._trace is trace else -1 for x in leaves]
    def backward(g):
        if y_shape is not None:
            g = unflatten(y_shape, g)
        cts = bwd(res, g)
        if type(cts) is not tuple:
            cts = (cts,)
        if len(cts) != len(args):
            raise DpDifferentiationError(
                f"custom_vjp: `bwd` returned {len(cts)} cotangent(s) for {len(args)} "
                f"argument(s)", None, "return a tuple with one cotangent per argument")
        ct_leaves, _ = _flatten_any(cts)
        if len(ct_leaves) != len(leaves):
            raise DpDifferentiationError("custom_vjp: `bwd`'s cotangents do not match the "
                                         "structure of the arguments", None, None)
        for c, x in zip(ct_leaves, leaves):
            if c is not None and _is_leaf(x) and P.shape(c) != P.shape(x):
                raise DpDifferentiationError(
                    f"custom_vjp: `bwd` returned a cotangent of shape {P.shape(c)} for an "
                    f"argument of shape {P.shape(x)}", None,
                    "each cotangent must have the shape of its argument")
        return ct_leaves

    if y_shape is not None:
        return unflatten(y_shape, _record_tree_rule(trace, parents, y_leaves, backward))
    return trace.record_custom(backward, parents, y)


def _record_tree_rule(trace, parents, y_leaves, pull):
    """Record a custom rule whose output has several leaves: one joint node takes
    the arguments; each output leaf is a node on it that hands its cotangent over.

    The backward pass visits the leaf nodes first (they come later on the tape),
    so when it reaches the joint node every output cotangent is collected and
    `pull(cotangents)` (one per output leaf, zeros filled in) runs once.
    """
    collected: list = [None] * len(y_leaves)

    def joint_backward(_g):
        gs = [c if c is not None else zeros_like(y) for c, y in zip(collected, y_leaves)]
        collected[:] = [None] * len(y_leaves)
        return pull(gs)

    joint = trace.record_custom(joint_backward, parents, 0.0)

    def leaf_backward(i):
        def backward(g):
            collected[i] = g if collected[i] is None else P.add(collected[i], g)
            return [1.0]  # wakes the joint node
        return backward

    return [trace.record_custom(leaf_backward(i), [joint.idx], y)
            for i, y in enumerate(y_leaves)]


def unwrap_level_tree(tree, trace):
    leaves, shp = _flatten_any(tree)
    return unflatten_any(shp, [unwrap_level(x, trace) for x in leaves])


def _check_single_output(y, what):
    if type(y) is tuple or type(y) is Record:
        raise DpTypeError(f"{what}: the function must return a number or an array", None,
                          "return a single array (stack several outputs into one)")


def call_custom_jvp(f, rule, args: tuple):
    leaves, shp = _flatten_any(args)
    trace = top_trace(leaves)
    if trace is None:
        return f(*args)
    if isinstance(trace, ForwardTrace):
        primals = tuple(_tree_unwrap(a, trace) for a in args)
        tangents = tuple(_tangent_tree(a, trace) for a in args)
        out = rule(primals, tangents)
        if type(out) is not tuple or len(out) != 2:
            raise DpTypeError("custom_jvp: the rule must return a tuple (output, tangent)", None,
                              "e.g. `fn rule(p, t) { return (f(p[0]), df(p[0]) * t[0]) }`")
        y, ty = out
        return Dual(trace, y, ty)
    # Reverse mode: linearise the rule. Tangent inputs become leaves of an inner
    # tape; the rule's tangent output is linear in them, so back-propagating the
    # inner tape applies exactly the transpose of the custom JVP.
    primals = tuple(_tree_unwrap(a, trace) for a in args)
    inner = Tape()
    t_leaves = []
    parents = []
    for x in leaves:
        node = inner.leaf(zeros_like(unwrap_level(x, trace)))
        t_leaves.append(node)
        parents.append(x.idx if type(x) is RNode and x._trace is trace else -1)
    tangents = unflatten_any(shp, t_leaves)
    out = rule(primals, tangents)
    if type(out) is not tuple or len(out) != 2:
        raise DpTypeError("custom_jvp: the rule must return a tuple (output, tangent)", None, None)
    y, ty = out
    y_leaves, y_shape = flatten(unwrap_level_tree(y, inner), "output of the custom_jvp rule")
    ty_leaves, ty_shape = flatten(conform(ty, y_shape), "tangent of the custom_jvp rule")
    if ty_shape != y_shape:
        raise DpDifferentiationError("custom_jvp: the rule's tangent does not have the "
                                     "structure of its output", None, None)

    def backward(gs):
        if y_shape is None:
            gs = [gs]
        seeds = [(t.idx, g) for t, g in zip(ty_leaves, gs)
                 if type(t) is RNode and t._trace is inner]
        if not seeds:
            return [None] * len(t_leaves)
        cts = inner.backward(seeds)
        return [cts[n.idx] for n in t_leaves]

    if y_shape is not None:
        return unflatten(y_shape, _record_tree_rule(trace, parents, y_leaves, backward))
    return trace.record_custom(backward, parents, y_leaves[0])


def _tangent_tree(a, trace):
    leaves, shp = _flatten_any(a)
    out = []
    for x in leaves:
        if type(x) is Dual and x._trace is trace:
            out.append(x.tangent)
        elif _is_leaf(x):
            z = zeros_like(x)
            if trace.batch is not None:
                P.check_size(trace.batch * int(np.prod(P.shape(x))))
                z = np.zeros((trace.batch,) + P.shape(x))
            out.append(z)
        else:
            out.append(x)
    return unflatten_any(shp, out)


def call_checkpoint(f, args: tuple):
    leaves, shp = _flatten_any(args)
    trace = top_trace(leaves)
    if not isinstance(trace, Tape):
        return f(*args)
    primals = unflatten_any(shp, [unwrap_level(x, trace) for x in leaves])
    y = f(*primals)  # not recorded on this tape: only the output node is
    _check_single_output(y, "checkpoint")
    parents = [x.idx if type(x) is RNode and x._trace is trace else -1 for x in leaves]
    diff_positions = [i for i, x in enumerate(leaves) if _is_leaf(x)]

    def backward(g):
        # recompute f's intermediates on a fresh tape, then pull g back through them
        inner = Tape()
        nodes = {}
        new_leaves = list(_flatten_any(primals)[0])
        for i in diff_positions:
            if parents[i] >= 0:
                nodes[i] = inner.leaf(to_float(new_leaves[i]))
                new_leaves[i] = nodes[i]
        out = f(*unflatten_any(shp, new_leaves))
        if not (type(out) is RNode and out._trace is inner):
            return [None] * len(leaves)
        cts = inner.backward([(out.idx, g)])
        return [cts[nodes[i].idx] if i in nodes else None for i in range(len(leaves))]

    return trace.record_custom(backward, parents, y)


# ========================================================================= check_grad
def check_grad_call(f, args: tuple, rtol=1e-5, atol=1e-6, eps=1e-6):
    """Compare reverse, forward and central-difference derivatives of scalar f."""
    nums = tuple(range(len(args)))
    _, grads = value_and_grad_call(f, args, {}, nums, "check_grad")
    worst = None
    for k, a in enumerate(args):
        leaves, shp = flatten(a, f"argument {k + 1} of `check_grad`")
        g_leaves, _ = flatten(grads[k])
        for li, (x, g) in enumerate(zip(leaves, g_leaves)):
            x = to_float(strip(x))
            g = np.asarray(strip(g), dtype=float)
            flat = np.atleast_1d(np.asarray(x, dtype=float)).reshape(-1)
            for j in range(flat.size):
                def with_value(delta, j=j, li=li, k=k):
                    new_leaves = list(leaves)
                    if np.ndim(x) == 0:
                        new_leaves[li] = x + delta
                    else:
                        arr = np.array(x, dtype=float, order="C")  # reshape(-1) must be a view
                        arr.reshape(-1)[j] += delta
                        new_leaves[li] = arr
                    new_args = list(args)
                    new_args[k] = unflatten(shp, new_leaves)
                    return new_args

                def central(h):
                    fp = _plain_scalar(f(*with_value(h)))
                    fm = _plain_scalar(f(*with_value(-h)))
                    return (fp - fm) / (2 * h)

                h = float(eps * max(1.0, abs(float(flat[j]))))
                fd = central(h)
                tangent_leaves = [zeros_like(v) for v in leaves]
                if np.ndim(x) == 0:
                    tangent_leaves[li] = 1.0
                else:
                    e = np.zeros(np.shape(x))
                    e.reshape(-1)[j] = 1.0
                    tangent_leaves[li] = e
                tangents = tuple(unflatten(shp, tangent_leaves) if kk == k
                                 else _zeros_tree(args[kk]) for kk in range(len(args)))
                _, tf = jvp_call(f, tuple(args), tangents)
                fwd = _plain_scalar(tf)
                rev = float(np.reshape(g, -1)[j]) if np.ndim(g) else float(g)
                scale = max(abs(fd), abs(rev), abs(fwd), 1.0)
                err = max(abs(rev - fwd), abs(rev - fd), abs(fwd - fd))
                tol = atol + rtol * scale * 10
                # a step too large for a function that curves fast near this point
                # (sqrt near 0): retry with smaller steps before calling it a mismatch
                for k_small in (1e-2, 1e-4):
                    if err <= tol:
                        break
                    fd2 = central(h * k_small)
                    err2 = max(abs(rev - fwd), abs(rev - fd2), abs(fwd - fd2))
                    if err2 < err:
                        fd, err = fd2, err2
                bad = err - tol
                if worst is None or bad > worst[0]:
                    where = f"argument {k + 1}"
                    if len(leaves) > 1 or shp is not None:
                        where += f", leaf {li + 1}"
                    if np.ndim(x):
                        pos = tuple(int(i) for i in np.unravel_index(j, np.shape(x)))
                        where += f", entry {pos}"
                    worst = (bad, where, rev, fwd, fd)
    if worst is not None and worst[0] > 0:
        _, where, rev, fwd, fd = worst
        raise DpDifferentiationError(
            f"check_grad: derivatives disagree at {where}: reverse {rev!r}, "
            f"forward {fwd!r}, central difference {fd!r}", None,
            "a custom rule may be wrong, or the function is not differentiable here")
    return True


def _zeros_tree(a):
    leaves, shp = flatten(a)
    return unflatten(shp, [zeros_like(x) for x in leaves])


def _plain_scalar(v) -> float:
    v = strip(v)
    if type(v) is np.ndarray:
        if v.size != 1:
            raise DpDifferentiationError(
                f"check_grad needs a function that returns a scalar, got shape {v.shape}", None,
                None)
        return float(v.reshape(()))
    if type(v) not in (float, int, bool):
        raise DpDifferentiationError(
            f"check_grad needs a function that returns a scalar, got {kind_of(v)}", None, None)
    return float(v)


__all__ = ["ForwardTrace", "Dual", "Tape", "RNode", "DpError"]
