"""Forward mode's fast path: `FastForwardTrace`, the reference `ForwardTrace` of
`forward.py` with special cases for the calls that small programs make most, tested
equal to it (tests/test_ad_properties.py runs every primitive on both engines).

Scalar and small-array programs spend their time in the bookkeeping around each
operation, so:

* `+ - *` on Python floats compute the value and the tangent inline; other float
  primitives use their scalar function and scalar partials (`Primitive.pyfn`,
  `sderiv`);
* `+ - * @` on float arrays with plain array tangents make exactly the NumPy calls
  of the rules (for `*`, one nan test of the tangent instead of one per product);
* `x[i, j]` with integer indices, and an array literal of floats, index or build
  the value and the tangent directly.

Anything else (a batch of tangents, nested traces, ints, nan checking, an arithmetic
exception, a product that makes nan) takes the reference behaviour.
"""

from __future__ import annotations

import math
import sys

from ..core.backend import xp
from ..prims import core
from ..prims import primitives as P
from ..prims.core import _F64, EMPTY, ndarray
from .forward import Dual, ForwardTrace

_new = object.__new__  # a value without an __init__ call: the hot paths set its slots
_array = xp.array
_matmul = xp.matmul
_F64TYPE = xp.float64
_ADD, _SUB, _MUL, _MATMUL = P.add_p, P.sub_p, P.mul_p, P.matmul_p
_GETITEM, _ARRAY = P.getitem_p, P.array_p
_ARRAY_OPS = frozenset({_ADD, _SUB, _MUL, _MATMUL})
_SAFE_MUL, _DIV = P.safe_mul_p, P.div_p
_BATCHED_OPS = frozenset({_ADD, _SUB, _MUL, _SAFE_MUL, _DIV})
_SMALL = 1 << 12  # arrays up to this size skip the operation's size and budget checks
_LARGE = 1 << 18  # (the size above which the operations check the host's budgets first)
_ufunc_add = xp.add
_getrefcount = sys.getrefcount


def _nan_free(t: ndarray) -> bool:
    """No nan in the float array t: a sum of a few entries as Python floats (nan
    propagates; inf - inf also says nan, which only sends the call to the rules), one
    dot product for more (core._nan_free)."""
    if t.ndim == 1 and t.size <= 16:
        s = sum(t.tolist())
        return s == s
    return core._nan_free(t)


def _plus(a: ndarray, b: ndarray):
    """a + b of two float64 batches of one shape: the ufunc call `P.add` makes for
    them, without its dispatch (a large one goes through it, for the budgets)."""
    if a.size > _LARGE and P.LIMITS.watch:
        return P.add(a, b)
    return _ufunc_add(a, b)


def _add_into(t0, t1, want: tuple):
    """t0 + t1 for the product rule's two terms, written into t0 when the rule has
    just made it (a float64 batch that nothing else holds or views): one batch of
    tangents less to allocate and bring into the cache. Same values as `P.add`."""
    if (type(t0) is ndarray and type(t1) is ndarray and t0.shape == want
            and t1.shape == want and t0.dtype is _F64 and t1.dtype is _F64
            and t0.base is None and _getrefcount(t0) <= _FRESH and t0.flags.writeable):
        return _ufunc_add(t0, t1, out=t0)
    return P.add(t0, t1)


_FRESH = 3  # getrefcount of a product held only by _batched2's local and this argument


def _dual(trace, out, t) -> Dual:
    """A new Dual of `trace` (the array paths'; the scalar and small-array paths make
    theirs inline, where the call would be a tenth of their time)."""
    r = _new(Dual)
    r._trace = trace
    r.primal = out
    r.tangent = t
    return r


class FastForwardTrace(ForwardTrace):
    """Forward mode with the fast paths (same results as `ForwardTrace`)."""

    __slots__ = ()

    def process(self, p, args, params):
        if not params:
            if p is _ARRAY:
                r = self._array_literal(args)
                if r is not None:
                    return r
            elif len(args) == 2:
                return self.process2(p, args[0], args[1])
            elif len(args) == 1:  # (then it is this trace's Dual)
                return self.process1(p, args[0])
        elif p is _GETITEM:
            r = self._getitem(args[0], params["idx"])
            if r is not None:
                return r
        return self._general(p, args, params)

    def process1(self, p, a):
        """`process` for a unary primitive without parameters (`a` is this trace's)."""
        sd = p.sderiv
        if sd is not None and self.batch is None and not core.NAN_CHECK:
            pa = a.primal
            tpa = type(pa)
            if tpa is float or tpa is int:
                try:
                    out = p.pyfn(pa)
                    t = a.tangent * sd(out, pa)
                except (ArithmeticError, ValueError, TypeError):
                    pass
                else:
                    if type(t) is float and t == t:
                        r = _new(Dual)
                        r._trace = self
                        r.primal = out
                        r.tangent = t
                        return r
        elif self.batch is not None and p.elementwise and not core.NAN_CHECK:
            r = self._batched1(p, a.primal, a.tangent)
            if r is not None:
                return r
        return self._general(p, (a,), EMPTY)

    def _batched1(self, p, pa, ta):
        """An elementwise function of a float array under jacfwd, its tangent a float64
        batch of shape (batch,) + its shape: the rule called as `_general` calls it,
        without the lists and padding; None for anything else."""
        rule = p.jvps[0] if p.jvp_joint is None else None
        if (rule is None or type(pa) is not ndarray or type(ta) is not ndarray
                or ta.dtype is not _F64):
            return None
        out = p.op(pa)
        if type(out) is not ndarray or out.dtype is not _F64:
            return None
        want = (self.batch,) + out.shape
        if ta.shape != want:
            return None
        P.check_size(self.batch * out.size, "a batch of tangents")
        t = rule(ta, out, pa)
        if type(t) is not ndarray or t.shape != want:
            return None
        return _dual(self, out, t)

    def process2(self, p, a, b):
        """`process` for a binary primitive without parameters (the hot case)."""
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
        if self.batch is None and not core.NAN_CHECK:
            tpa = type(pa)
            tpb = type(pb)
            if (tpa is float or tpa is int) and (tpb is float or tpb is int):
                # the rules' results on floats, in their order: t = rule_a + rule_b
                try:
                    if p is _MUL:
                        out = pa * pb
                        if ta is None:
                            t = tb * pa
                        elif tb is None:
                            t = ta * pb
                        else:
                            t = ta * pb + tb * pa
                    elif p is _ADD:
                        out = pa + pb
                        t = tb if ta is None else ta if tb is None else ta + tb
                    elif p is _SUB:
                        out = pa - pb
                        t = -tb if ta is None else ta if tb is None else ta - tb
                    else:
                        sd = p.sderiv
                        if sd is None:
                            raise TypeError
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
                    # (a nan: 0 * inf, which the rules make 0, or a nan operand)
                    if type(t) is float and t == t and type(out) is float:
                        r = _new(Dual)
                        r._trace = self
                        r.primal = out
                        r.tangent = t
                        return r
            elif (tpa is ndarray or tpb is ndarray) and p in _ARRAY_OPS:
                r = self._array2(p, pa, ta, pb, tb)
                if r is not None:
                    return r
        elif p in _BATCHED_OPS and not core.NAN_CHECK:
            r = self._batched2(p, pa, ta, pb, tb)
            if r is not None:
                return r
        return self._binary(p, a, b, pa, ta, pb, tb)

    def _array2(self, p, pa, ta, pb, tb):
        """`+ - * @` with an array operand, both tangents plain (float64 arrays of their
        primal's shape, or floats of float primals): the value and the tangent with the
        rules' NumPy calls in the rules' order, or None (the rules run instead)."""
        # each tangent a float64 array of its primal's shape, or a float of a float
        if ta is not None:
            if type(ta) is ndarray:
                if type(pa) is not ndarray or ta.dtype is not _F64 or ta.shape != pa.shape:
                    return None
            elif type(ta) is not float or type(pa) is not float:
                return None
        if tb is not None:
            if type(tb) is ndarray:
                if type(pb) is not ndarray or tb.dtype is not _F64 or tb.shape != pb.shape:
                    return None
            elif type(tb) is not float or type(pb) is not float:
                return None
        if p is _MATMUL:
            if (type(pa) is not ndarray or type(pb) is not ndarray
                    or pa.size * pb.size > P.LIMITS.max_array_elements):
                return None
            try:
                out = _matmul(pa, pb)
            except ValueError:
                return None  # the reference path reports the shapes
            if ta is None:
                t = _matmul(pa, tb)
            elif tb is None:
                t = _matmul(ta, pb)
            else:
                t = _matmul(ta, pb) + _matmul(pa, tb)
            if type(out) is not ndarray:
                out = float(out)
                t = float(t)
            elif out.dtype is not _F64:
                return None
        else:
            if (type(pa) is ndarray and (type(pb) is float or (
                    type(pb) is ndarray and pa.shape == pb.shape)) and pa.size <= _SMALL) or (
                    type(pa) is float and type(pb) is ndarray and pb.size <= _SMALL):
                # what the operation does for a small array and a float or an array of its
                # shape (no broadcast to check the size of, no budget to check)
                out = pa * pb if p is _MUL else pa + pb if p is _ADD else pa - pb
            else:
                out = p.op(pa, pb)
            if type(out) is not ndarray or out.dtype is not _F64:
                return None
            if p is _MUL:
                if ta is None:
                    t = tb * pa
                elif tb is None:
                    t = ta * pb
                else:
                    t = ta * pb + tb * pa
                if type(t) is not ndarray:
                    return None
                if t.ndim == 1 and t.size <= 16:  # (_nan_free, inline: the hot case)
                    z = sum(t.tolist())
                    if z != z:
                        return None  # 0 * inf somewhere: the rules make it 0
                elif not _nan_free(t):
                    return None
            elif p is _ADD:
                t = tb if ta is None else ta if tb is None else ta + tb
            else:
                t = -tb if ta is None else ta if tb is None else ta - tb
            if type(t) is not ndarray or t.shape != out.shape:
                return None  # a tangent narrower than the value: the rules broadcast it
        r = _new(Dual)
        r._trace = self
        r.primal = out
        r.tangent = t
        return r

    def _batched2(self, p, pa, ta, pb, tb):
        """`+ - * /` (and the rules' safe `*`) under jacfwd: plain primals, each tangent
        a float64 batch of shape (batch,) + the output's shape. The rules' calls in the
        rules' order, without `_general`'s lists, padding and broadcasts; None for
        anything else (the rules run instead)."""
        tpa = type(pa)
        tpb = type(pb)
        if not ((tpa is ndarray or tpa is float or tpa is int)
                and (tpb is ndarray or tpb is float or tpb is int)):
            return None  # (a primal traced at a lower level: its trace records it once)
        out = p.op(pa, pb)
        if type(out) is ndarray:
            if out.dtype is not _F64:
                return None
            want = (self.batch,) + out.shape
        elif type(out) is float:
            want = (self.batch,)
        else:
            return None
        for t in (ta, tb):
            if t is not None and (type(t) is not ndarray or t.shape != want
                                  or t.dtype is not _F64):
                return None  # (a narrower tangent: `_general` broadcasts it)
        P.check_size(self.batch * (out.size if type(out) is ndarray else 1),
                     "a batch of tangents")
        if p is _ADD:
            t = tb if ta is None else ta if tb is None else _plus(ta, tb)
        elif p is _SUB:
            t = ta if tb is None else P.neg(tb) if ta is None else P.add(ta, P.neg(tb))
        else:
            safe_mul = P.safe_mul
            if p is _MUL:
                t0 = None if ta is None else safe_mul(ta, pb)
                t1 = None if tb is None else safe_mul(tb, pa)
            elif p is _SAFE_MUL:
                t0 = None if ta is None else safe_mul(ta, pb)
                t1 = None if tb is None else safe_mul(pa, tb)
            else:  # /
                t0 = None if ta is None else safe_mul(ta, P.div(1.0, pb))
                t1 = None if tb is None else safe_mul(tb, P.neg(P.div(out, pb)))
            t = t1 if t0 is None else t0 if t1 is None else _add_into(t0, t1, want)
        if type(t) is not ndarray or t.shape != want:
            return None  # (not reached for these shapes: the rules' results are `want`)
        return _dual(self, out, t)

    def _binary(self, p, a, b, pa, ta, pb, tb):
        """A binary primitive without parameters, off the fast paths: no lists or
        keyword plumbing (a and b unwrapped by `process2`). Under jacfwd too for a
        primitive that is not elementwise (matmul: `_general` would only add the size
        check of the batch, made here)."""
        batch = self.batch
        if (core.NAN_CHECK or p.jvp_joint is not None
                or (batch is not None and p.elementwise)):
            return self._general(p, (a, b), EMPTY)
        out = p.op(pa, pb) if p.op is not None else P.bind(p, (pa, pb))
        if batch is not None:
            P.check_size(batch * math.prod(P.shape(out)), "a batch of tangents")
        rules = p.jvps
        t_out = None
        if ta is not None and rules[0] is not None:
            t_out = rules[0](ta, out, pa, pb)
        if tb is not None and rules[1] is not None:
            c = rules[1](tb, out, pa, pb)
            t_out = c if t_out is None else P.add(t_out, c)
        if t_out is None:
            return out
        return _dual(self, out, t_out)

    def _getitem(self, a, idx):
        """x[i, j, ...] with integer indices of a float array with a plain tangent, or
        None."""
        if type(a) is not Dual or a._trace is not self or core.NAN_CHECK:
            return None
        x = a.primal
        t = a.tangent
        if (type(x) is not ndarray or type(t) is not ndarray or x.dtype is not _F64
                or t.dtype is not _F64 or t.shape != x.shape):
            return None
        for i in idx:
            if type(i) is not int:
                return None
        try:
            out = x[idx]
            t = t[idx]
        except IndexError:
            return None  # the reference path says which index is out of range
        if type(out) is _F64TYPE:
            out = float(out)
            t = float(t)
        r = _new(Dual)
        r._trace = self
        r.primal = out
        r.tangent = t
        return r

    def _array_literal(self, args):
        """[a, b, c] of floats, some of them this trace's with float tangents, or None."""
        if self.batch is not None or core.NAN_CHECK:
            return None
        xs = []
        ts = []
        for a in args:
            if type(a) is Dual and a._trace is self:
                x = a.primal
                t = a.tangent
                if type(x) is not float or type(t) is not float:
                    return None
                xs.append(x)
                ts.append(t)
            elif type(a) is float:
                xs.append(a)
                ts.append(0.0)
            else:
                return None
        r = _new(Dual)
        r._trace = self
        r.primal = _array(xs, dtype=_F64TYPE)
        r.tangent = _array(ts, dtype=_F64TYPE)
        return r

    def _general(self, p, args, params):
        """Any primitive: lists of primals and tangents, parameters, batches, nan checks."""
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
        if core.NAN_CHECK:
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
        return _dual(self, out, t_out)


# The language's `+ - * /` on a Dual of float primal and tangent is the hot case of scalar
# forward mode (W3). ad/forward_ops.py, generated from the template below (once, not at
# import: `python -m dprog.ad.fastforward > lang/dprog/ad/forward_ops.py`; a test keeps
# it current), gives runtime/ops.py operators that compute the value and the tangent
# right there, in the rules' order (as `process2` above), and hand everything else
# (arrays, ints, other traces, the reference engine, a nan, nan checking, a zero
# divisor) to the primitive layer's operation unchanged.
_FORWARD_HEAD = '''"""Generated by ad/fastforward.py (`forward_ops_source`): do not edit.

The operators `+ - * /` with forward mode's float case inline (see fastforward.py).
"""

from __future__ import annotations

from ..prims import core
from ..prims import primitives as P
from .fastforward import FastForwardTrace as FFT
from .forward import Dual

_new = object.__new__
'''

_FORWARD_TEMPLATE = '''

def {name}(a, b):
    ta = type(a)
    tb = type(b)
    if ta is Dual:
        tr = a._trace
        pa = a.primal
        if type(tr) is FFT and type(pa) is float and tr.batch is None and not core.NAN_CHECK:
            if tb is Dual:
                if b._trace is tr:
                    pb = b.primal
                    if type(pb) is float{guard}:
                        try:
                            out = pa {sym} pb
                            t = {both}
                        except TypeError:  # a tangent that is not a number (nesting)
                            return {base}(a, b)
                        if type(t) is float and t == t:
                            r = _new(Dual)
                            r._trace = tr
                            r.primal = out
                            r.tangent = t
                            return r
            elif tb is float or tb is int:
                pb = b
                if {guard_const}:
                    try:
                        out = pa {sym} pb
                        t = {left}
                    except TypeError:
                        return {base}(a, b)
                    if type(t) is float and t == t:
                        r = _new(Dual)
                        r._trace = tr
                        r.primal = out
                        r.tangent = t
                        return r
    elif tb is Dual and (ta is float or ta is int):
        tr = b._trace
        pb = b.primal
        if type(tr) is FFT and type(pb) is float and tr.batch is None and not core.NAN_CHECK:
            pa = a
            if {guard_const}:
                try:
                    out = pa {sym} pb
                    t = {right}
                except TypeError:
                    return {base}(a, b)
                if type(t) is float and t == t:
                    r = _new(Dual)
                    r._trace = tr
                    r.primal = out
                    r.tangent = t
                    return r
    return {base}(a, b)
'''

# name, symbol, the primitive layer's operation, and the tangent of a `sym` b from both
# tangents, from a's alone and from b's alone (the sums the rules make)
_FORWARD_OPS = (
    ("op_add", "+", "P.add", "a.tangent + b.tangent", "a.tangent", "b.tangent"),
    ("op_sub", "-", "P.sub", "a.tangent - b.tangent", "a.tangent", "-b.tangent"),
    ("op_mul", "*", "P.mul", "a.tangent * pb + b.tangent * pa", "a.tangent * pb",
     "b.tangent * pa"),
    ("op_div", "/", "P.div", "a.tangent * (1.0 / pb) + b.tangent * -(out / pb)",
     "a.tangent * (1.0 / pb)", "b.tangent * -(out / pb)"),
)


def forward_ops_source() -> str:
    """The text of ad/forward_ops.py."""
    parts = [_FORWARD_HEAD]
    for name, sym, base, both, left, right in _FORWARD_OPS:
        div = sym == "/"
        parts.append(_FORWARD_TEMPLATE.format(
            name=name, sym=sym, base=base, both=both, left=left, right=right,
            guard=" and pb != 0.0" if div else "", guard_const="pb != 0" if div else "True"))
    return "".join(parts)


if __name__ == "__main__":
    print(forward_ops_source(), end="")
