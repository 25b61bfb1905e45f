"""`FastTape`: reverse mode with the float fast paths and a compact record, tested
equal to the reference `Tape` (reverse.py).

The reference tape keeps one `RNode` per primitive call, and that node is also the
value the program holds. Here the record and the value are apart, so that a value
the program drops is freed at once and the tape keeps only what the backward pass
reads:

* `recs`, one flat list with four entries per recorded call, `(parent, partial,
  parent, partial)`; a node's `idx` is the position of its record in `recs` (not
  divided by four: one integer operation less per call), and the backward pass's
  list of cotangents is indexed the same way. A call on Python floats is recorded
  with its partial derivatives already computed (a *linear* record: floats are
  constants for every enclosing transformation, so the backward pass only
  multiplies and adds); a missing second parent is -1. A first entry of -1 marks a
  leaf, -2 a general record. Four list slots (and the index and partial objects
  they share with the values) are all a float operation keeps: no object per call.
* `general`, idx -> `(p, args, out, params)` for every other call: a primitive on
  arrays (or under --check-nans), a `lean` primitive (shape-only arguments, see
  `Tape.lean_node`), or a custom rule (`p` a callable g -> [cotangent per parent],
  `args` the parent indices).

The recorders in fastpath.py append linear records inline, without a call.
"""

from __future__ import annotations

import sys
from time import monotonic

from ..core.backend import xp
from ..core.errors import DpError
from ..core.limits import check_deadline, time_exceeded
from ..prims import core
from ..prims import primitives as P
from ..prims.core import EMPTY
from ..prims.indexing import basic_getitem, getitem_p
from .arraypulls import ARRAY_PULLS
from .arraypulls import accumulate as _accumulate
from .reverse import OWNED_IN_PULLBACK, RNode, Tape, _shape_only, dprog_stack

_getrefcount = sys.getrefcount

LEAF = -1     # recs[k]: the node at k is a leaf (it keeps its cotangent)
GENERAL = -2  # recs[k]: the node at k has its record in general[k]
_CHUNK = 4 * 4096  # entries of `recs` per slice in the backward pass
# A weight used in a matrix-vector product at every step of a loop gets a sum of outer
# products as its gradient; from this many elements up (and when `DEFER_OUTER_SUMS`),
# the backward pass keeps their factors and adds them with one matrix product
_OUTER_SUM_MIN = 1024
DEFER_OUTER_SUMS = True


class FastTape(Tape):
    """Reverse mode with the float fast paths (same results as `Tape`)."""

    __slots__ = ("recs", "general", "stand_ins", "outer_sums")

    def __init__(self):
        super().__init__()
        self.recs: list = []      # 4 entries per node: parent, partial, parent, partial
        self.general: dict = {}   # node idx -> (p, args, out, params)
        self.stand_ins: dict = {}  # node idx -> its shape-only stand-in (lean records)
        self.outer_sums: dict | None = None  # during `backward`: see `defer_outer`

    def __len__(self) -> int:
        return len(self.recs) >> 2

    def release(self) -> None:
        self.recs = []
        self.general = {}
        self.where = {}
        self.stand_ins = {}

    def _general(self, p, args, out, params) -> RNode:
        """Record a call that is not linear on floats; the value returned holds `out`."""
        r = RNode()
        r._trace = self
        r.primal = out
        recs = self.recs
        r.idx = idx = len(recs)
        recs += (GENERAL, 0.0, -1, 0.0)
        self.general[idx] = (p, args, out, params)
        return r

    def leaf(self, value) -> RNode:
        r = RNode()
        r._trace = self
        r.primal = value
        recs = self.recs
        r.idx = len(recs)
        recs += (LEAF, 0.0, -1, 0.0)
        return r

    def fused_record(self, pairs: tuple) -> int:
        """Append the record of a fused expression (compiler/fusion.py) whose leaves
        are `pairs` = (parent idx, partial, ...), a parent -1 for a float leaf (at
        least one is on this tape): a chain of linear records, two parents each,
        linked by partials 1.0 (exact: each leaf's cotangent is still g * partial);
        returns the last record's idx."""
        recs = self.recs
        live = [(j, d) for j, d in zip(pairs[::2], pairs[1::2]) if j >= 0]
        j, d = live[0]
        if len(live) == 1:
            recs += (j, d, -1, 0.0)
            return len(recs) - 4
        j2, d2 = live[1]
        recs += (j, d, j2, d2)
        for j, d in live[2:]:
            recs += (len(recs) - 4, 1.0, j, d)
        return len(recs) - 4

    def record_custom(self, backward, parents: list, out):
        return self._general(backward, tuple(parents), out, EMPTY)

    def lean_node(self, p, args, out, params) -> RNode:
        """A `lean` primitive: its record keeps shape-only stand-ins for the arguments at
        `p.lean`, and no output (see `Tape.lean_node`)."""
        lean = p.lean
        if len(args) == 1 and lean == (0,):  # an index, at every step of a loop
            a = args[0]  # (`_stand_in`, inline for this tape's node)
            s = (self.stand_ins.get(a.idx) if type(a) is RNode and a._trace is self
                 else None)
            rec_args = (s if s is not None else self._stand_in(a),)
        else:
            rec_args = tuple(_shape_only(a, self) if k in lean else a
                             for k, a in enumerate(args))
        r = self._general(p, rec_args, None, params)  # (the record keeps no output)
        r.primal = out
        return r

    def _stand_in(self, a):
        """`_shape_only(a, self)`, made once per node of this tape (a weight indexed at
        every step shares one)."""
        if type(a) is not RNode or a._trace is not self:
            return _shape_only(a, self)
        s = self.stand_ins.get(a.idx)
        if s is None:
            s = self.stand_ins[a.idx] = _shape_only(a, self)
        return s

    def _linear(self, out, a, b, da, db) -> RNode:
        """A linear record of out = f(a, b) with partials da, db (b None: unary)."""
        r = RNode()
        r._trace = self
        r.primal = out
        recs = self.recs
        r.idx = len(recs)
        if b is None or not (type(b) is RNode and b._trace is self):
            recs += (a.idx, da, -1, 0.0)
        elif type(a) is RNode and a._trace is self:
            recs += (a.idx, da, b.idx, db)
        else:
            recs += (b.idx, db, -1, 0.0)
        return r

    def process(self, p, args, params):
        n = len(args)
        if n == 2:
            a, b = args
            pa = a.primal if type(a) is RNode and a._trace is self else a
            pb = b.primal if type(b) is RNode and b._trace is self else b
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
                sd = p.sderiv
                if sd is not None and not core.NAN_CHECK and not p.lean:
                    try:
                        da, db = sd(out, pa, pb)
                    except (ArithmeticError, ValueError):
                        pass
                    else:
                        return self._linear(out, a, b, da, db)
            elif p.op is not None and not params:
                out = p.op(pa, pb)  # the operation's own fast path for arrays
            else:
                out = P.bind(p, (pa, pb), params)
        elif n == 1:
            a = args[0]
            pa = a.primal
            tpa = type(pa)
            if (tpa is float or tpa is int) and p.pyfn is not None:
                try:
                    out = p.pyfn(pa)
                except (ArithmeticError, ValueError):
                    out = P.bind(p, (pa,), params)
                else:
                    if out != out and core.NAN_CHECK:
                        out = P.bind(p, (pa,), params)
                sd = p.sderiv
                if sd is not None and not core.NAN_CHECK and not p.lean:
                    try:
                        d = sd(out, pa)
                    except (ArithmeticError, ValueError):
                        pass
                    else:
                        return self._linear(out, a, None, d, None)
            elif p.op is not None and not params:
                out = p.op(pa)
            elif tpa is ndarray:  # (not traced: what `bind` would do)
                out = basic_getitem(pa, params["idx"]) if p is getitem_p else None
                if out is None:
                    out = core.apply_impl(p, (pa,), params)
            else:
                out = P.bind(p, (pa,), params)
        else:
            out = P.bind(p, tuple(a.primal if type(a) is RNode and a._trace is self else a
                                  for a in args), params)
        if p.lean:
            r = self.lean_node(p, args, out, params)
        else:
            r = self._general(p, args, out, params)
        if core.NAN_CHECK:
            self.where[r.idx] = dprog_stack()
        return r

    def process1(self, p, a):
        """`process` for a unary primitive without parameters (`a` is this tape's)."""
        pa = a.primal
        tpa = type(pa)
        if (tpa is float or tpa is int) and p.pyfn is not None and not core.NAN_CHECK:
            sd = p.sderiv  # partials stored now, as the recorders do (`unary_recorder`)
            if sd is not None:
                try:
                    out = p.pyfn(pa)
                    d = sd(out, pa)
                except (ArithmeticError, ValueError):
                    return self.process(p, (a,), EMPTY)
                r = RNode()
                r._trace = self
                r.primal = out
                recs = self.recs
                r.idx = len(recs)
                recs += (a.idx, d, -1, 0.0)
                return r
        elif (tpa is not float and tpa is not int and p.op is not None and not p.lean
              and not core.NAN_CHECK):  # an array (or a batch): its own fast path
            return self._general(p, (a,), p.op(pa), EMPTY)
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
        sd = p.sderiv
        if ((tpa is float or tpa is int) and (tpb is float or tpb is int) and sd is not None
                and not core.NAN_CHECK):
            try:
                out = p.pyfn(pa, pb)
                da, db = sd(out, pa, pb)
            except (ArithmeticError, ValueError, TypeError):
                return self.process(p, (a, b), EMPTY)
            return self._linear(out, a, b, da, db)
        if (not ((tpa is float or tpa is int) and (tpb is float or tpb is int))
                and p.op is not None and not p.lean
                and not core.NAN_CHECK):  # arrays (or batches): the operation's fast path
            out = p.op(pa, pb)
            r = RNode()  # (`_general`, inline: a net's every array operation comes here)
            r._trace = self
            r.primal = out
            recs = self.recs
            r.idx = idx = len(recs)
            recs += (GENERAL, 0.0, -1, 0.0)
            self.general[idx] = (p, (a, b), out, EMPTY)
            return r
        return self.process(p, (a, b), EMPTY)

    def _p_of(self, i: int):
        rec = self.general.get(i)
        return rec[0] if rec is not None else None

    def backward(self, seeds: list[tuple[int, object]]) -> list:
        """The leaves' cotangents given (node, cotangent) seeds, as `Tape.backward`."""
        ct: list = [None] * len(self.recs)
        start = -4
        for idx, g in seeds:
            ct[idx] = g if ct[idx] is None else P.add(ct[idx], g)
            start = max(start, idx)
        prev = P.LIMITS.nan_pass
        P.LIMITS.nan_pass = "backward"
        # floats only (no general record, float seeds): every cotangent is a float
        chunk = (self._float_chunk if not self.general and all(type(g) is float for _, g in seeds)
                 else self._backward_chunk)
        hi = start + 4
        outer = self.outer_sums
        self.outer_sums = {} if DEFER_OUTER_SUMS else None
        try:
            while hi > 0:  # in chunks of records, from the last
                check_deadline()
                lo = max(0, hi - _CHUNK)
                chunk(ct, lo, hi)
                hi = lo
            for j, factors in self.outer_sums.items() if self.outer_sums else ():
                self._add_outer_sum(ct, j, factors)
        finally:
            P.LIMITS.nan_pass = prev
            self.outer_sums = outer
        return ct

    def defer_outer(self, ct: list, j: int, u, v) -> bool:
        """ct[j] += outer(u, v) for a leaf j, later: the factors are kept and summed by
        one matrix product, U.T @ V, when the pass ends (or when they hold as many
        numbers as the sum). For a weight used at every step of a loop that is one
        BLAS call instead of an outer product and an addition per step (an RNN's
        25 steps: 36 us instead of 535). The sum is the same up to rounding (the
        order of the additions differs). False (nothing done): add it now."""
        sums = self.outer_sums
        n = u.size * v.size
        if sums is None or n < _OUTER_SUM_MIN or self.recs[j] != LEAF:
            return False
        factors = sums.get(j)
        if factors is None:
            factors = sums[j] = ([], [])
        us, vs = factors
        us.append(u)
        vs.append(v)
        if len(us) * (u.size + v.size) >= n:  # as many numbers as the sum: add them now
            del sums[j]
            self._add_outer_sum(ct, j, factors)
        return True

    @staticmethod
    def _add_outer_sum(ct: list, j: int, factors: tuple) -> None:
        us, vs = factors
        c = (xp.multiply.outer(us[0], vs[0]) if len(us) == 1
             else xp.matmul(xp.array(us).T, xp.array(vs)))
        _accumulate(ct, j, c)

    def _float_chunk(self, ct: list, lo: int, hi: int) -> None:
        """`_backward_chunk` for a tape of linear records only, whose cotangents are
        then all floats (a scalar program): no type tests, leaves skipped by `j < 0`."""
        seg = self.recs[lo:hi]
        safe_mul = P.safe_mul
        for i, j, da, j2, db in zip(range(hi - 4, lo - 4, -4), seg[-4::-4], seg[-3::-4],
                                    seg[-2::-4], seg[-1::-4]):
            g = ct[i]
            if g is None or j < 0:
                continue  # (a leaf keeps its cotangent)
            ct[i] = None
            d = g * da
            if d != d:  # 0 * inf: a zero factor wins, as in the array rules
                d = safe_mul(g, da)
            c = ct[j]
            ct[j] = d if c is None else c + d
            if j2 >= 0:
                d = g * db
                if d != d:
                    d = safe_mul(g, db)
                c = ct[j2]
                ct[j2] = d if c is None else c + d

    def _backward_chunk(self, ct: list, lo: int, hi: int) -> None:
        """Pull back the nodes at hi - 4 down to lo. The chunk's records are sliced into their
        four columns (a chunk at a time, so the slices stay small) and zipped: cheaper
        than four subscripts per node."""
        seg = self.recs[lo:hi]
        add = P.add
        safe_mul = P.safe_mul
        general = self.general
        # an array record's shortcut straight from here when there is no deadline to
        # watch (`_pull_general` reads the clock, then tries it)
        pulls = ARRAY_PULLS if P.LIMITS.deadline is None else {}
        i = hi
        try:
            for i, j, da, j2, db in zip(range(hi - 4, lo - 4, -4), seg[-4::-4], seg[-3::-4],
                                        seg[-2::-4], seg[-1::-4]):
                g = ct[i]
                if g is None:
                    continue
                if j >= 0:  # linear: parent, partial, parent (or -1), partial
                    ct[i] = None  # only leaves keep theirs: an update loop's stay linear
                    # the two parents are unrolled on purpose: this is the hot loop of
                    # scalar reverse mode, where a helper call per parent costs ~10%
                    if type(g) is float:
                        if g == 0.0:
                            continue  # a zero cotangent contributes exactly zero
                        d = g * da
                        if d != d:  # 0 * inf: a zero factor wins, as in the array rules
                            d = safe_mul(g, da)
                        c = ct[j]
                        if c is None:
                            ct[j] = d
                        elif type(c) is float:
                            ct[j] = c + d
                        else:
                            ct[j] = add(c, d)
                        if j2 >= 0:
                            d = g * db
                            if d != d:
                                d = safe_mul(g, db)
                            c = ct[j2]
                            if c is None:
                                ct[j2] = d
                            elif type(c) is float:
                                ct[j2] = c + d
                            else:
                                ct[j2] = add(c, d)
                    else:
                        _accumulate(ct, j, safe_mul(g, da))
                        if j2 >= 0:
                            _accumulate(ct, j2, safe_mul(g, db))
                    continue
                if j == LEAF:
                    continue  # a leaf keeps its cotangent
                ct[i] = None
                c = d = None  # earlier nodes' cotangents: `g` may be one (see `owned`)
                rec = general[i]
                pull = pulls.get(rec[0])
                if pull is None or not pull(self, ct, g, rec[1], rec[2], rec[3]):
                    self._pull_general(ct, g, i)
        except DpError as err:
            self.locate_nan(err, i)
            raise

    def _pull_general(self, ct, g, i) -> None:
        """Add the cotangents of the parents of general record `i`, given its cotangent."""
        p, args, out, params = self.general[i]
        if type(p) is not P.Primitive:  # custom rule (custom_vjp, checkpoint, ...)
            for par, c in zip(args, p(g)):
                if par >= 0 and c is not None:
                    _accumulate(ct, par, c)
            return
        deadline = P.LIMITS.deadline
        if deadline is not None and monotonic() > deadline:
            raise time_exceeded()  # one clock read per general node, none on floats
        pull = ARRAY_PULLS.get(p)  # an array record's shortcut (arraypulls.py)
        if pull is not None and pull(self, ct, g, args, out, params):
            return
        if p.vjp_joint is None and not p.lean and len(args) <= 2:
            self._pull_small(ct, g, p.vjps, args, out, params)
            return
        primals = []
        parents = []
        for a in args:
            if type(a) is RNode and a._trace is self:
                primals.append(a.primal)
                parents.append(a.idx)
            else:
                primals.append(a)
                parents.append(-1)
        if p.lean and _getrefcount(g) <= OWNED_IN_PULLBACK:  # `backward`'s `g` alone
            params = {**params, "owned": True}
        if p.vjp_joint is not None:
            cts = p.vjp_joint(g, out, tuple(primals), [par >= 0 for par in parents], **params)
            for par, c in zip(parents, cts):
                if par >= 0 and c is not None:
                    _accumulate(ct, par, c)
            return
        rules = p.vjps
        for k, par in enumerate(parents):
            if par >= 0:
                rule = rules[k]
                if rule is not None:
                    c = rule(g, out, *primals, **params)
                    if c is not None:
                        _accumulate(ct, par, c)


    def _pull_small(self, ct, g, rules, args, out, params) -> None:
        """`_pull_general` for a primitive of one or two arguments with a rule per
        argument (most calls): no lists."""
        a = args[0]
        ra = type(a) is RNode and a._trace is self
        pa = a.primal if ra else a
        if len(args) == 1:
            if ra and rules[0] is not None:
                c = rules[0](g, out, pa, **params)
                if c is not None:
                    _accumulate(ct, a.idx, c)
            return
        b = args[1]
        rb = type(b) is RNode and b._trace is self
        pb = b.primal if rb else b
        if ra and rules[0] is not None:
            c = rules[0](g, out, pa, pb, **params)
            if c is not None:
                _accumulate(ct, a.idx, c)
        if rb and rules[1] is not None:
            c = rules[1](g, out, pa, pb, **params)
            if c is not None:
                _accumulate(ct, b.idx, c)


ndarray = xp.ndarray
