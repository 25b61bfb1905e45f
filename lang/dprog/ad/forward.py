"""Forward mode, the reference engine: `Dual` values and the `ForwardTrace` that
makes them. Read this with `reverse.py`; `fastforward.py` holds the same engine with
its special cases for Python floats and small arrays, tested equal to this one.

A `Dual` carries a primal value and its tangent, tagged with its trace. When a
primitive meets a Dual of this trace, `process` applies the primitive to the
primals and pushes the tangents through the primitive's JVP rules. A trace made
by `jacfwd` carries a batch size: its tangents have one extra leading axis holding
a whole basis, so one evaluation gives the full Jacobian.
"""

from __future__ import annotations

import math

from ..core.values import TRACER_TYPES, Tracer
from ..prims import primitives as P
from ..prims.core import EMPTY
from .levels import new_level


class Dual(Tracer):
    """A value with its tangent, for one forward-mode trace."""

    __slots__ = ("tangent",)

    def __init__(self, trace, primal, tangent):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent


TRACER_TYPES.add(Dual)


class ForwardTrace:
    """One forward-mode differentiation (`jvp`, `jacfwd`, `derivative`, ...)."""

    __slots__ = ("level", "batch")
    batching = False  # a differentiation, not a vmap (prims.core.bind)

    def __init__(self, batch: int | None = None):
        self.level = new_level()
        self.batch = batch

    def process(self, p, args, params):
        """Apply primitive `p` to the primals; the tangent from its JVP rules."""
        primals, tangents = [], []
        for a in args:
            mine = type(a) is Dual and a._trace is self
            primals.append(a.primal if mine else a)
            tangents.append(a.tangent if mine else None)
        out = P.bind(p, tuple(primals), params)
        if all(t is None for t in tangents):
            return out
        with P.nan_pass("tangent"):
            t_out = self._tangent(p, primals, tangents, out, params)
        if t_out is None:
            return out
        return Dual(self, out, self._batch_shaped(p, out, t_out))

    def process1(self, p, a):
        return self.process(p, (a,), EMPTY)

    def process2(self, p, a, b):
        return self.process(p, (a, b), EMPTY)

    def _batch_shaped(self, p, out, t_out):
        """A batched elementwise tangent at its full shape (batch,) + out.shape (a
        broadcast may have left it narrower)."""
        if self.batch is not None and p.elementwise:
            want = (self.batch,) + P.shape(out)
            if P.shape(t_out) != want:
                return P.broadcast_to(P.pad_batched(t_out, len(want) - 1), want)
        return t_out

    def _tangent(self, p, primals, tangents, out, params):
        """The output tangent from the primitive's JVP rules (None when zero).

        A batch of tangents (jacfwd, hessian) is `batch` times the output: its size
        is checked before any rule allocates it (issue 18, item 4).
        """
        if self.batch is not None:
            P.check_size(self.batch * math.prod(P.shape(out)), "a batch of tangents")
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
