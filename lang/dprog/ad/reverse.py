"""Reverse mode, the reference engine: the `Tape` and its `RNode` values. Read this
with `forward.py`; `fasttape.py` holds the same engine with its special cases for
Python floats and a compact record, tested equal to this one.

A `Tape` records one node per primitive call; the node *is* the traced value. The
backward pass walks the tape once from the output, asks each node for the
cotangents of its parents (`_pullback`) and adds them up.
"""

from __future__ import annotations

import os
import sys

from ..core.errors import DpError, frame_location
from ..core.limits import check_deadline
from ..core.values import TRACER_TYPES, Tracer
from ..prims import core
from ..prims import primitives as P
from ..prims.core import EMPTY
from .levels import new_level


class RNode(Tracer):
    """A value on a tape, and the tape's record of the primitive call that made it:
    `p` (a primitive, a custom rule, or None for a leaf), `args` and its index `idx`
    on the tape. (`FastTape` keeps its records apart and sets only `idx`.)"""

    __slots__ = ("idx", "p", "args")


TRACER_TYPES.add(RNode)


class Tape:
    """One reverse-mode recording: a list with one node per primitive call.

    The node *is* the traced value (`RNode`): it carries its primitive, its
    argument tuple exactly as passed (values of this tape are RNodes, i.e. the
    parent nodes) and static parameters. One object and one list append per
    primitive call is all the recording costs.
    """

    __slots__ = ("level", "nodes", "params", "where")
    batching = False  # a differentiation, not a vmap (prims.core.bind)

    def __init__(self):
        self.level = new_level()
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
        r = RNode()
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

    def lean_node(self, p, args, out, params) -> RNode:
        """Record a call of a `lean` primitive (indexing, updates): the tape keeps a record
        whose arguments at `p.lean` are shape-only stand-ins and whose output is None,
        since the rules read neither; the program gets a separate RNode, with the same
        index, that holds the output. So the tape keeps no whole array alive for such a
        call, and `a[i] = ...` in a loop stays linear in memory."""
        lean = p.lean
        rec_args = tuple(_shape_only(a, self) if k in lean else a for k, a in enumerate(args))
        rec = self._node(p, rec_args, None, params)
        r = RNode()
        r._trace = self
        r.primal = out
        r.p = p
        r.args = rec_args
        r.idx = rec.idx
        return r

    def leaf(self, value) -> RNode:
        return self._node(None, None, value, None)

    def process(self, p, args, params):
        """Apply primitive `p` to the primals and record the call."""
        primals = tuple(a.primal if type(a) is RNode and a._trace is self else a for a in args)
        out = P.bind(p, primals, params)
        if p.lean:
            node = self.lean_node(p, args, out, params)
        else:
            node = self._node(p, args, out, params)
        if core.NAN_CHECK:
            self.where[node.idx] = dprog_stack()
        return node

    def process1(self, p, a):
        return self.process(p, (a,), EMPTY)

    def process2(self, p, a, b):
        return self.process(p, (a, b), EMPTY)

    def record_custom(self, backward, parents: list, out):
        """A node whose VJP is a Python callable g -> [cotangent per parent index]."""
        return self._node(backward, tuple(parents), out, None)

    def backward(self, seeds: list[tuple[int, object]]) -> list:
        """The cotangents of the leaves given (node, cotangent) seeds, in a list indexed
        by node (other entries are None: each is dropped once pulled back, so a long
        tape never holds all of them at once)."""
        ct: list = [None] * len(self.nodes)
        for idx, g in seeds:
            ct[idx] = add_cotangent(ct[idx], g)
        i = start = max((idx for idx, _ in seeds), default=-1)
        try:
            with P.nan_pass("backward"):
                for i in range(start, -1, -1):
                    if not i & 63:
                        check_deadline()
                    if ct[i] is not None and self.nodes[i].p is not None:
                        g, ct[i] = ct[i], None  # only leaves keep their cotangents
                        c = None  # (the last node's: `_pullback` counts g's holders)
                        for parent, c in self._pullback(i, g):
                            ct[parent] = add_cotangent(ct[parent], c)
        except DpError as err:
            self.locate_nan(err, i)
            raise
        return ct

    def _pullback(self, i: int, g) -> list[tuple[int, object]]:
        """(parent index, cotangent) for each parent of node `i`, given its cotangent `g`."""
        node = self.nodes[i]
        p, args = node.p, node.args
        if type(p) is not P.Primitive:  # custom rule (custom_vjp, checkpoint, ...)
            return [(par, c) for par, c in zip(args, p(g)) if par >= 0]
        mine = [type(a) is RNode and a._trace is self for a in args]
        primals = tuple(a.primal if m else a for a, m in zip(args, mine))
        params = self.params.get(i, EMPTY)
        if p.lean and sys.getrefcount(g) <= OWNED_IN_PULLBACK:  # backward's `g` alone
            params = {**params, "owned": True}  # the rules may write into g
        if p.vjp_joint is not None:
            cts = p.vjp_joint(g, node.primal, primals, mine, **params)
        else:
            cts = [rule(g, node.primal, *primals, **params) if m and rule is not None else None
                   for rule, m in zip(p.vjps, mine)]
        return [(a.idx, c) for a, m, c in zip(args, mine, cts) if m]

    def _p_of(self, i: int):
        return self.nodes[i].p

    def locate_nan(self, err: DpError, i: int) -> None:
        """Under --check-nans, a nan made in the backward pass is reported at the call
        that recorded node `i`, with its dprog stack."""
        stack = self.where.get(i)
        if err.kind == "nan" and stack and err.span is None:
            err.span = stack[0][0]
            err.stack.extend(stack)
            name = getattr(self._p_of(i), "name", None)
            if name:  # name what the user called, not an operation inside its rule
                err.message = (f"the derivative of `{name}` produced nan from inputs "
                               "without nan (in the backward pass)")


def _shape_only(a, tape: Tape):
    """A stand-in for argument `a` of a lean record: its shape, none of its values (a
    read-only zero-stride array of zeros; a number stays itself)."""
    if type(a) is RNode and a._trace is tape:
        t = type(a.primal)
        if t is float or t is int:
            return a  # a number costs nothing to keep
        r = RNode()
        r._trace = tape
        r.idx = a.idx
        r.p = r.args = None
        r.primal = _shape_only(a.primal, tape)
        return r
    t = type(a)
    if t is float or t is int or t is bool:
        return a
    s = P.shape(a)
    if not s:
        return 0.0
    z = _STAND_INS.get(s)
    if z is None:
        if len(_STAND_INS) > 64:
            _STAND_INS.clear()
        z = _STAND_INS[s] = P.zeros_stand_in(s)
    return z


_STAND_INS: dict = {}  # shape -> the one read-only stand-in of that shape (they take no memory)


def _count_in_callee(g) -> int:
    return sys.getrefcount(g)


def _held_by_a_local_passed_on() -> int:
    g = [0.0]
    return _count_in_callee(g)


# getrefcount of a cotangent held only by the backward loop's local `g`, read in the
# function it is passed to (`_pullback`, `FastTape._pull_general`). Measured rather
# than written down: what the count includes differs between Python versions.
OWNED_IN_PULLBACK = _held_by_a_local_passed_on()


def add_cotangent(acc, c):
    """acc + c, where None stands for zero."""
    if c is None:
        return acc
    return c if acc is None else P.add(acc, c)


# Code objects that begin a dprog call (runtime.functions registers Closure.__call__):
# the frames between two of them belong to one dprog function.
CALL_BOUNDARIES: set = set()


def dprog_stack() -> list:
    """The dprog frames (span, function name) of the primitive call being recorded,
    innermost first, up to the transformation that started the recording.

    Read off the Python stack (`frame_location`: where each compiled body is),
    and a call boundary separates dprog frames. Used only under --check-nans.
    """
    out: list = []
    need = True
    started = False
    f = sys._getframe(2)
    while f is not None:
        code = f.f_code
        if code in CALL_BOUNDARIES:
            need = True
        elif os.path.dirname(code.co_filename) == _AD_DIR:
            if started:
                break  # the transformation that made this tape
        elif need:
            where = frame_location(f)
            if where is not None:
                out.append(where)
                need = False
                started = True
        f = f.f_back
    return out



_AD_DIR = os.path.dirname(os.path.abspath(__file__))
