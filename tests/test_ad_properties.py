"""Property tests of every derivative rule (issue 4).

For every differentiable primitive of `primitives.REGISTRY` and every composed
differentiable builtin, hypothesis draws shapes (broadcasting and 0-d
included) and values inside the primitive's domain, and checks:

* first order: forward mode (jvp), reverse mode (vjp and grad) and central
  differences agree (<c, J t> = <J^T c, t> and J t = (f(x + h t) - f(x - h t)) / 2h);
* second order: forward-over-reverse, reverse-over-reverse and
  reverse-over-forward Hessian-vector products agree with central differences
  of the gradient;
* batched forward mode (the jacfwd / hessian path, one evaluation for a whole
  basis of tangents) agrees with one jvp per direction, for first derivatives
  and for forward-over-reverse;
* closed forms where they are cheap (d/dx sin = cos, ...).

Only a random subset of the arguments is differentiated in each example, so
rules also meet untraced (constant) operands. `DPROG_PROPERTY_EXAMPLES=500`
runs longer; the default keeps the file well under a minute.
"""

from __future__ import annotations

import inspect
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special as sps

from dprog.ad.engines import reference_engines
from dprog.ad.transforms import jacfwd_call, jacrev_call, jvp_call, value_and_grad_call, vjp_call
from dprog.core.values import strip_derivatives
from dprog.lib import builtins as B
from dprog.lib.transforms import Transformed
from dprog.prims import primitives as P
from dprog.runtime.functions import Builtin
from dprog.runtime.state import Runtime

EXAMPLES = int(os.environ.get("DPROG_PROPERTY_EXAMPLES", "25"))
PROPS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.filter_too_much])

RTOL = 1e-5
BATCH = 3


# ============================================================ value strategies
def _leaf(shape, lo, hi):
    """A dprog value: a Python float for shape (), else a float64 array."""
    el = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if shape == ():
        return el
    return hnp.arrays(np.float64, shape, elements=el)


def _away(v, gap=0.125):
    """Values snapped to the grid (k + 1/2) * 2*gap: never within `gap` of 0."""
    a = np.asarray(v, dtype=float)
    r = (np.floor(a / (2 * gap)) + 0.5) * 2 * gap
    return float(r) if np.ndim(v) == 0 else r


def _distinct(v):
    """Entries made pairwise distinct (spacing >= 0.1) without changing the shape."""
    a = np.asarray(v, dtype=float)
    if a.size <= 1:
        return v
    ranks = np.argsort(np.argsort(a.reshape(-1), kind="stable"), kind="stable")
    return (a.reshape(-1) * 0.01 + 0.1 * ranks).reshape(a.shape)


def _sign_away(v, lo=0.3):
    """|v| >= lo, keeping the sign (0 goes positive)."""
    a = np.asarray(v, dtype=float)
    r = np.where(a < 0, -lo + np.minimum(a, 0.0), lo + np.maximum(a, 0.0))
    return float(r) if np.ndim(v) == 0 else r


SHAPE = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
SHAPE1 = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)


def _bshapes(n):
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=3, min_side=1,
                                             max_side=3).map(lambda s: s.input_shapes)


def _axis_for(nd, allow_none=True, allow_tuple=True):
    """An axis argument valid for rank nd: None, an int (maybe negative) or a tuple."""
    opts = []
    if allow_none:
        opts.append(st.none())
    if nd:
        opts.append(st.integers(-nd, nd - 1))
        if allow_tuple:
            opts.append(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True)
                        .map(lambda a: tuple(sorted(a))))
    return st.one_of(*opts)


def _matrix(n):
    """A well-conditioned n x n matrix: n*I + U, U entries in [-0.5, 0.5]."""
    return _leaf((n, n), -0.5, 0.5).map(lambda u: u + n * np.eye(n))


class Case:
    """One drawn example: fn(*args) with args[i] differentiable for i in `diff`."""

    def __init__(self, fn, args, diff=None, d1=None, d2=None, **info):
        self.info = info  # parameters, shown when an example fails
        self.fn = fn
        self.args = tuple(args)
        self.diff = tuple(range(len(args))) if diff is None else tuple(diff)
        self.d1 = d1  # closed-form elementwise derivative (unary cases)
        self.d2 = d2  # closed-form elementwise second derivative

    def __repr__(self) -> str:
        return f"Case(args={self.args!r}, diff={self.diff}, {self.info})"


# ============================================================== the specs
SPECS: dict[str, st.SearchStrategy] = {}


def spec(name):
    def deco(strategy_fn):
        SPECS[name] = strategy_fn()
        return strategy_fn
    return deco


# ------------------------------------------------------------- unary elementwise
UNARY = {
    # name: (op, lo, hi, prep, d1, d2)
    "neg": (P.neg, -3, 3, None, lambda x: -np.ones_like(x), lambda x: np.zeros_like(x)),
    "abs": (P.abs_, -3, 3, _away, np.sign, lambda x: np.zeros_like(x)),
    "sqrt": (P.sqrt, 0.1, 4, None, lambda x: 0.5 / np.sqrt(x), lambda x: -0.25 * x ** -1.5),
    "exp": (P.exp, -2, 2, None, np.exp, np.exp),
    "log": (P.log, 0.1, 4, None, lambda x: 1 / x, lambda x: -1 / x ** 2),
    "log1p": (P.log1p, -0.9, 3, None, lambda x: 1 / (1 + x), lambda x: -1 / (1 + x) ** 2),
    "expm1": (P.expm1, -2, 2, None, np.exp, np.exp),
    "sin": (P.sin, -4, 4, None, np.cos, lambda x: -np.sin(x)),
    "cos": (P.cos, -4, 4, None, lambda x: -np.sin(x), lambda x: -np.cos(x)),
    "tan": (P.tan, -1.2, 1.2, None, lambda x: 1 / np.cos(x) ** 2,
            lambda x: 2 * np.tan(x) / np.cos(x) ** 2),
    "asin": (P.asin, -0.9, 0.9, None, lambda x: 1 / np.sqrt(1 - x * x),
             lambda x: x / (1 - x * x) ** 1.5),
    "acos": (P.acos, -0.9, 0.9, None, lambda x: -1 / np.sqrt(1 - x * x),
             lambda x: -x / (1 - x * x) ** 1.5),
    "atan": (P.atan, -3, 3, None, lambda x: 1 / (1 + x * x), lambda x: -2 * x / (1 + x * x) ** 2),
    "sinh": (P.sinh, -2, 2, None, np.cosh, np.sinh),
    "cosh": (P.cosh, -2, 2, None, np.sinh, np.cosh),
    "tanh": (P.tanh, -2, 2, None, lambda x: 1 - np.tanh(x) ** 2,
             lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    "sigmoid": (P.sigmoid, -4, 4, None, lambda x: _sig(x) * (1 - _sig(x)),
                lambda x: _sig(x) * (1 - _sig(x)) * (1 - 2 * _sig(x))),
    "relu": (P.relu, -3, 3, _away, lambda x: (np.asarray(x) > 0) * 1.0, lambda x: np.zeros_like(x)),
    "softplus": (P.softplus, -4, 4, None, lambda x: _sig(x),
                 lambda x: _sig(x) * (1 - _sig(x))),
    "square": (P.square, -3, 3, None, lambda x: 2 * np.asarray(x, dtype=float),
               lambda x: 2 * np.ones_like(x)),
    "reciprocal": (P.reciprocal, -3, 3, _sign_away, lambda x: -1 / np.asarray(x) ** 2,
                   lambda x: 2 / np.asarray(x) ** 3),
    "log2": (P.log2, 0.1, 4, None, lambda x: 1 / (x * np.log(2)),
             lambda x: -1 / (x ** 2 * np.log(2))),
    "log10": (P.log10, 0.1, 4, None, lambda x: 1 / (x * np.log(10)),
              lambda x: -1 / (x ** 2 * np.log(10))),
    "exp2": (P.exp2, -2, 2, None, lambda x: np.log(2) * np.exp2(x),
             lambda x: np.log(2) ** 2 * np.exp2(x)),
    "asinh": (P.asinh, -3, 3, None, lambda x: 1 / np.sqrt(1 + x * x),
              lambda x: -x / (1 + x * x) ** 1.5),
    "acosh": (P.acosh, 1.2, 4, None, lambda x: 1 / np.sqrt(x * x - 1),
              lambda x: -x / (x * x - 1) ** 1.5),
    "atanh": (P.atanh, -0.8, 0.8, None, lambda x: 1 / (1 - x * x),
              lambda x: 2 * x / (1 - x * x) ** 2),
    "logit": (P.logit, 0.1, 0.9, None, lambda x: 1 / (x * (1 - x)),
              lambda x: (2 * x - 1) / (x * (1 - x)) ** 2),
    "deg2rad": (P.deg2rad, -4, 4, None, lambda x: np.pi / 180 * np.ones_like(x),
                lambda x: np.zeros_like(x)),
    "rad2deg": (P.rad2deg, -4, 4, None, lambda x: 180 / np.pi * np.ones_like(x),
                lambda x: np.zeros_like(x)),
    "erf": (P.erf, -2.5, 2.5, None, lambda x: 2 / np.sqrt(np.pi) * np.exp(-np.square(x)),
            lambda x: -4 * np.asarray(x) / np.sqrt(np.pi) * np.exp(-np.square(x))),
    "erfc": (P.erfc, -2.5, 2.5, None, lambda x: -2 / np.sqrt(np.pi) * np.exp(-np.square(x)),
             lambda x: 4 * np.asarray(x) / np.sqrt(np.pi) * np.exp(-np.square(x))),
    "erfinv": (P.erfinv, -0.9, 0.9, None,
               lambda x: np.sqrt(np.pi) / 2 * np.exp(np.square(sps.erfinv(x))),
               lambda x: np.pi / 2 * sps.erfinv(x) * np.exp(2 * np.square(sps.erfinv(x)))),
    "lgamma": (P.lgamma, 0.2, 5, None, sps.digamma, lambda x: sps.polygamma(1, x)),
    "digamma": (P.digamma, 0.2, 5, None, lambda x: sps.polygamma(1, x),
                lambda x: sps.polygamma(2, x)),
    "sinc": (P.sinc, -3, 3, None, lambda x: _sinc_d(x, 1), lambda x: _sinc_d(x, 2)),
}


def _sinc_d(x, n, h=1e-3):
    """sinc's n-th derivative from SciPy's spherical Bessel j0: sinc(x) = j0(pi x)."""
    y = np.pi * np.asarray(x, dtype=float)
    small = np.abs(y) < 1e-3  # (SciPy's j1 of a subnormal is nan) the series there
    d1 = np.where(small, -y / 3 + y ** 3 / 30, -sps.spherical_jn(1, np.where(small, 1.0, y)))
    if n == 1:
        return np.pi * d1
    # j0'' = -j1' = -(j0 - 2 j1 / y); its series -1/3 + y^2/10 near 0
    with np.errstate(all="ignore"):
        ys = np.where(small, 1.0, y)
        d2 = np.where(small, -1 / 3 + y * y / 10,
                      -(sps.spherical_jn(0, ys) - 2 * sps.spherical_jn(1, ys) / ys))
    return np.pi ** 2 * d2


def _sig(x):
    return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))


def _unary_spec(name):
    op, lo, hi, prep, d1, d2 = UNARY[name]

    @st.composite
    def strat(draw):
        x = draw(SHAPE.flatmap(lambda s: _leaf(s, lo, hi)))
        if prep is not None:
            x = prep(x)
        return Case(op, (x,), d1=d1, d2=d2)
    SPECS[name] = strat()


for _name in UNARY:
    _unary_spec(_name)


# ------------------------------------------------------------ binary elementwise
def _binary_spec(name, op, lo_a, hi_a, lo_b, hi_b, prep=None):
    @st.composite
    def strat(draw):
        sa, sb = draw(_bshapes(2))
        a = draw(_leaf(sa, lo_a, hi_a))
        b = draw(_leaf(sb, lo_b, hi_b))
        if prep is not None:
            a, b = prep(a, b)
        return Case(op, (a, b))
    SPECS[name] = strat()


def _apart(a, b):
    """Shift a and b onto interleaved grids so they never tie (maximum/minimum kinks)."""
    return _away(a, 0.25), np.round(np.asarray(b) * 2) / 2 if np.ndim(b) else round(b * 2) / 2


def _mod_prep(a, b):
    # b in {±0.5, ±1, ±2}; a on the grid (k + 1/2) / 8: a / b is never an integer
    bb = np.asarray(b, dtype=float)
    bb = np.sign(bb + 1e-9) * np.choose(np.clip(np.abs(bb).astype(int), 0, 2), [0.5, 1.0, 2.0])
    aa = (np.floor(np.asarray(a) * 8) + 0.5) / 8
    return (float(aa) if np.ndim(a) == 0 else aa), (float(bb) if np.ndim(b) == 0 else bb)


_binary_spec("+", P.add, -3, 3, -3, 3)
_binary_spec("-", P.sub, -3, 3, -3, 3)
_binary_spec("*", P.mul, -3, 3, -3, 3)
_binary_spec("/", P.div, -3, 3, -2, 2, lambda a, b: (a, _sign_away(b)))
_binary_spec("%", P.mod, -4, 4, -2.9, 2.9, _mod_prep)
_binary_spec("**", P.pow_, 0.3, 2.5, -2, 2)
_binary_spec("atan2", P.atan2, -2, 2, -2, 2, lambda y, x: (_sign_away(y, 0.2), x))
_binary_spec("maximum", P.maximum, -3, 3, -3, 3, _apart)
_binary_spec("minimum", P.minimum, -3, 3, -3, 3, _apart)
_binary_spec("safe_mul", P.safe_mul, -3, 3, -3, 3)
_binary_spec("safe_div", P.safe_div, -3, 3, -2, 2, lambda a, b: (a, _sign_away(b)))
_binary_spec("hypot", P.hypot, -3, 3, -3, 3, lambda a, b: (_sign_away(a), b))
_binary_spec("logaddexp", P.logaddexp, -3, 3, -3, 3)
_binary_spec("xlogy", P.xlogy, -3, 3, 0.2, 3)


@spec("**int")
def _pow_int():
    """x ** k for integer k and any real x (negative bases included)."""
    @st.composite
    def strat(draw):
        x = draw(SHAPE.flatmap(lambda s: _leaf(s, -2.5, 2.5)))
        k = draw(st.integers(0, 4))
        return Case(lambda x: P.pow_(x, k), (x,), k=k,
                    d1=lambda x: k * np.asarray(x, dtype=float) ** (k - 1) if k else 0 * x,
                    d2=lambda x: (k * (k - 1) * np.asarray(x, dtype=float) ** (k - 2)
                                  if k > 1 else 0 * x))
    return strat()


@spec("where")
def _where():
    @st.composite
    def strat(draw):
        sc, sa, sb = draw(_bshapes(3))
        c = draw(_leaf(sc, -1, 1).map(lambda v: np.asarray(v) > 0))
        c = bool(c) if sc == () else c
        a = draw(_leaf(sa, -3, 3))
        b = draw(_leaf(sb, -3, 3))
        return Case(lambda c, a, b: P.where(c, a, b), (c, a, b), diff=(1, 2))
    return strat()


# ----------------------------------------------------------------- reductions
@spec("sum")
def _sum():
    @st.composite
    def strat(draw):
        s = draw(SHAPE)
        x = draw(_leaf(s, -3, 3))
        axis = draw(_axis_for(len(s)))
        keep = draw(st.booleans())
        return Case(lambda x: P.sum_(x, axis=axis, keepdims=keep), (x,), axis=axis, keep=keep)
    return strat()


def _reduce_spec(name, prim, lo, hi, prep=None, tuples=True):
    @st.composite
    def strat(draw):
        s = draw(SHAPE)
        x = draw(_leaf(s, lo, hi))
        if prep is not None:
            x = prep(x)
        axis = draw(_axis_for(len(s), allow_tuple=tuples))
        return Case(lambda x: P.bind(prim, (x,), {"axis": axis}), (x,), axis=axis)
    SPECS[name] = strat()


_reduce_spec("max", P.max_p, -3, 3, _distinct)
_reduce_spec("min", P.min_p, -3, 3, _distinct)
_reduce_spec("prod", P.prod_p, -2, 2, lambda x: _sign_away(x, 0.4))
_reduce_spec("prod_others", P.prod_others_p, -2, 2, lambda x: _sign_away(x, 0.4))
_reduce_spec("norm", P.norm_p, -3, 3, lambda x: _sign_away(x, 0.2))


@spec("prod_pairs")
def _prod_pairs():
    # M(x) t, the derivative of prod_others, with exact zeros in x (up to three per
    # slice); differentiated with respect to t, in which it is linear
    @st.composite
    def strat(draw):
        s = draw(SHAPE)
        # entries away from 0 (as for prod_others: the rule divides by them), then
        # some exactly 0
        x = np.array(_sign_away(draw(_leaf(s, -2, 2)), 0.4), dtype=float)
        if x.size:
            flat = x.reshape(-1)
            for i in draw(st.lists(st.integers(0, flat.size - 1), max_size=3)):
                flat[i] = 0.0
        t = draw(_leaf(s, -2, 2))
        axis = draw(_axis_for(len(s), allow_tuple=True))
        return Case(lambda t: P.prod_pairs(x, t, axis), (t,), axis=axis, x=x)
    return strat()
_reduce_spec("cumsum", P.cumsum_p, -3, 3, tuples=False)


# ----------------------------------------------------------------- structural
@spec("reshape")
def _reshape():
    @st.composite
    def strat(draw):
        s = draw(SHAPE)
        x = draw(_leaf(s, -3, 3))
        n = int(np.prod(s))
        # a random factorisation of n, maybe with one -1
        dims = []
        rest = n
        for _ in range(draw(st.integers(0, 3))):
            divs = [d for d in range(1, rest + 1) if rest % d == 0]
            d = draw(st.sampled_from(divs))
            dims.append(d)
            rest //= d
        dims.append(rest)
        dims = draw(st.permutations(dims))
        if draw(st.booleans()):
            dims[draw(st.integers(0, len(dims) - 1))] = -1
        return Case(lambda x: P.reshape(x, tuple(dims)), (x,), dims=dims)
    return strat()


@spec("transpose")
def _transpose():
    @st.composite
    def strat(draw):
        s = draw(SHAPE1)
        x = draw(_leaf(s, -3, 3))
        nd = len(s)
        if draw(st.booleans()):
            axes = None
        else:
            perm = draw(st.permutations(range(nd)))
            axes = tuple(a - nd if draw(st.booleans()) else a for a in perm)
        return Case(lambda x: P.transpose(x, axes), (x,), axes=axes)
    return strat()


@spec("broadcast_to")
def _broadcast_to():
    @st.composite
    def strat(draw):
        target = draw(SHAPE1)
        k = draw(st.integers(0, len(target)))
        s = tuple(1 if draw(st.booleans()) else d for d in target[len(target) - k:])
        x = draw(_leaf(s, -3, 3))
        return Case(lambda x: P.bind(P.broadcast_to_p, (x,), {"shape": target}), (x,),
                    shape=target)
    return strat()


def _index_strategy(s, repeats=True):
    """A canonical index for shape s, as runtime/indexes.py makes it: ints, slices,
    None (new axes) and integer arrays (NumPy's advanced indexing, adjacent or not).
    Without `repeats`, at most one index array, with distinct entries (an update whose
    indices repeat keeps only one of the values: its derivative is not a smooth one)."""
    @st.composite
    def strat(draw):
        k = draw(st.integers(1, len(s)))
        ashape = draw(st.sampled_from([(1,), (2,), (3,), (2, 1), (2, 2)]))
        arrays = 0
        idx = []
        for d in s[:k]:
            if draw(st.integers(0, 5)) == 0:
                idx.append(None)
            kind = draw(st.sampled_from(["int", "slice", "array"]))
            if kind == "array" and (repeats or arrays == 0):
                arrays += 1
                if repeats:
                    a = np.array(draw(st.lists(st.integers(-d, d - 1), min_size=math.prod(ashape),
                                               max_size=math.prod(ashape))))
                    idx.append(a.reshape(ashape).astype(np.intp))
                else:
                    perm = draw(st.permutations(range(d)))
                    m = draw(st.integers(1, d))
                    a = np.array([p - d if draw(st.booleans()) else p for p in perm[:m]])
                    idx.append(a.astype(np.intp))
            elif kind == "int":
                idx.append(draw(st.integers(-d, d - 1)))
            else:
                start = draw(st.one_of(st.none(), st.integers(-d, d - 1)))
                stop = draw(st.one_of(st.none(), st.integers(-d, d)))
                step = draw(st.sampled_from([None, 1, 2, -1]))
                idx.append(slice(start, stop, step))
        return tuple(idx)
    return strat()


@spec("index")
def _index():
    @st.composite
    def strat(draw):
        s = draw(SHAPE1)
        x = draw(_leaf(s, -3, 3))
        idx = draw(_index_strategy(s))
        return Case(lambda x: P.getitem(x, idx), (x,), idx=idx)
    return strat()


@spec("index_add")
def _index_add():
    @st.composite
    def strat(draw):
        s = draw(SHAPE1)
        idx = draw(_index_strategy(s))
        region = np.zeros(s)[idx].shape
        g = draw(_leaf(region, -3, 3))
        return Case(lambda g: P.index_add(g, idx, s), (g,), idx=idx, shape=s)
    return strat()


def _update_spec(update, repeats):
    @st.composite
    def strat(draw):
        s = draw(SHAPE1)
        idx = draw(_index_strategy(s, repeats))
        region = np.zeros(s)[idx].shape
        k = draw(st.integers(0, len(region)))
        vs = tuple(1 if draw(st.booleans()) else d for d in region[len(region) - k:])
        x = draw(_leaf(s, -3, 3))
        v = draw(_leaf(vs, -3, 3))
        return Case(lambda x, v: update(x, idx, v), (x, v), idx=idx)
    return strat()


@spec("index update")
def _setitem():
    return _update_spec(P.setitem, repeats=False)


@spec("index accumulate")
def _setitem_add():
    return _update_spec(P.setitem_add, repeats=True)


@spec("stack")
def _stack():
    @st.composite
    def strat(draw):
        s = draw(SHAPE)
        n = draw(st.integers(1, 3))
        xs = [draw(_leaf(s, -3, 3)) for _ in range(n)]
        axis = draw(st.integers(-len(s) - 1, len(s)))
        return Case(lambda *xs: P.stack(xs, axis=axis), xs, axis=axis)
    return strat()


@spec("array")
def _array_literal():
    """`[a, b, c]` with traced elements: numbers (the common case) or equal-shaped arrays."""
    @st.composite
    def strat(draw):
        s = draw(st.one_of(st.just(()), SHAPE1))
        n = draw(st.integers(1, 4))
        xs = [draw(_leaf(s, -3, 3)) for _ in range(n)]
        return Case(lambda *xs: P.array_literal(xs), xs)
    return strat()


@spec("concat")
def _concat():
    @st.composite
    def strat(draw):
        s = draw(SHAPE1)
        axis = draw(st.integers(-len(s), len(s) - 1))
        n = draw(st.integers(1, 3))
        xs = []
        for _ in range(n):
            si = list(s)
            si[axis] = draw(st.integers(1, 3))
            xs.append(draw(_leaf(tuple(si), -3, 3)))
        return Case(lambda *xs: P.concat(xs, axis=axis), xs, axis=axis)
    return strat()


# -------------------------------------------------------------- linear algebra
MATMUL_SHAPES = [
    ("k", "k"), ("k", "km"), ("nk", "k"), ("nk", "km"),
    ("snk", "km"), ("nk", "skm"), ("snk", "skm"), ("k", "skm"), ("snk", "k"),
    ("1nk", "skm"), ("snk", "1km"),
]


@spec("@")
def _matmul():
    @st.composite
    def strat(draw):
        la, lb = draw(st.sampled_from(MATMUL_SHAPES))
        dims = {"1": 1}
        for c in "snkm":
            dims[c] = draw(st.integers(1, 3))
        a = draw(_leaf(tuple(dims[c] for c in la), -2, 2))
        b = draw(_leaf(tuple(dims[c] for c in lb), -2, 2))
        return Case(P.matmul, (a, b))
    return strat()


def _matrix_stack(n, batch=()):
    """A well-conditioned (batch..., n, n) stack: n*I + U, U entries in [-0.5, 0.5]."""
    return _leaf(tuple(batch) + (n, n), -0.5, 0.5).map(lambda u: u + n * np.eye(n))


STACKS = st.sampled_from([(), (2,), (2, 1)])


@spec("solve")
def _solve():
    @st.composite
    def strat(draw):
        n = draw(st.integers(1, 3))
        a = draw(_matrix_stack(n, draw(STACKS)))
        bs = draw(st.sampled_from([(n,), (n, 1), (n, 2), (2, n, 1), (1, n, 2)]))
        b = draw(_leaf(bs, -2, 2))
        return Case(P.solve, (a, b))
    return strat()


@spec("inv")
def _inv():
    return st.tuples(st.integers(1, 3), STACKS).flatmap(lambda nb: _matrix_stack(*nb)).map(
        lambda a: Case(P.inv, (a,)))


@spec("det")
def _det():
    return st.tuples(st.integers(1, 3), STACKS).flatmap(lambda nb: _matrix_stack(*nb)).map(
        lambda a: Case(P.det, (a,)))


@spec("cofactor")
def _cofactor():
    return st.integers(1, 3).flatmap(_matrix).map(lambda a: Case(P.cofactor, (a,)))


# ------------------------------------------------- composed builtins (dprog level)
def _bi(name):
    return B._IMPLS[name][0]


@spec("mean")
def _mean():
    @st.composite
    def strat(draw):
        s = draw(SHAPE)
        x = draw(_leaf(s, -3, 3))
        axis = draw(_axis_for(len(s)))
        return Case(lambda x: _bi("mean")(x, axis=axis), (x,), axis=axis)
    return strat()


def _spread_spec(name):
    """var / std with ddof and keepdims; values kept apart so std is away from its kink."""
    @st.composite
    def strat(draw):
        s = draw(SHAPE.filter(lambda s: len(s) >= 1 and min(s) >= 2))
        x = draw(_leaf(s, -3, 3))
        x = np.asarray(x) + np.arange(np.size(x)).reshape(np.shape(x)) * 0.7  # no ties
        axis = draw(_axis_for(len(s)))
        ddof = draw(st.integers(0, 1))
        keep = draw(st.booleans())
        return Case(lambda x: _bi(name)(x, axis=axis, ddof=ddof, keepdims=keep), (x,),
                    axis=axis, ddof=ddof, keepdims=keep)
    SPECS[name] = strat()


_spread_spec("var")
_spread_spec("std")


@spec("keepdims")
def _keepdims():
    """Every reduction builtin with keepdims=true (the reduced axes kept as length 1)."""
    @st.composite
    def strat(draw):
        s = draw(SHAPE.filter(lambda s: len(s) >= 1 and 0 not in s))
        x = _distinct(draw(_leaf(s, 0.5, 3)))  # no tied maxima (a kink)
        name = draw(st.sampled_from(["sum", "mean", "prod", "max", "min", "norm",
                                     "logsumexp"]))
        axis = draw(_axis_for(len(s)))
        return Case(lambda x: _bi(name)(x, axis=axis, keepdims=True), (x,), name=name,
                    axis=axis)
    return strat()


def _shape_spec(name, min_nd, params, call, square=False):
    """A shape/assembly builtin on an array of rank >= min_nd: params(draw, nd) draws its
    other arguments, call(v, **params) applies it."""
    @st.composite
    def strat(draw):
        s = draw(hnp.array_shapes(min_dims=min_nd, max_dims=max(min_nd, 3), min_side=1,
                                  max_side=4))
        if square:
            s = (s[0], s[0])
        x = draw(_leaf(s, -3, 3))
        kw = params(draw, len(s))
        return Case(lambda v: call(v, **kw), (x,), **kw)
    SPECS[name] = strat()


def _no_params(draw, nd):
    return {}


def _axis_params(*names, extra=0, none=False):
    def params(draw, nd):
        n = nd + extra
        ints = st.integers(-n, n - 1)
        return {k: draw(st.one_of(st.none(), ints) if none else ints) for k in names}
    return params


def _int_params(name, lo, hi, axis=False):
    def params(draw, nd):
        kw = {name: draw(st.integers(lo, hi))}
        if axis:
            kw["axis"] = draw(st.one_of(st.none(), st.integers(0, nd - 1)))
        return kw
    return params


_shape_spec("expand_dims", 1, _axis_params("axis", extra=1),
            lambda v, axis: _bi("expand_dims")(v, axis))
_shape_spec("squeeze", 1, _no_params, lambda v: _bi("squeeze")(v))
_shape_spec("flip", 1, _axis_params("axis", none=True), lambda v, axis: _bi("flip")(v, axis))
_shape_spec("swapaxes", 1, _axis_params("a", "b"), lambda v, a, b: _bi("swapaxes")(v, a, b))
_shape_spec("moveaxis", 1, _axis_params("a", "b"), lambda v, a, b: _bi("moveaxis")(v, a, b))
_shape_spec("broadcast_to", 1, _no_params,
            lambda v: _bi("broadcast_to")(v, (2,) + P.shape(v)))
_shape_spec("hstack", 1, _no_params, lambda v: _bi("hstack")((v, P.mul(v, 2.0))))
_shape_spec("vstack", 1, _no_params, lambda v: _bi("vstack")((v, P.mul(v, 2.0))))
_shape_spec("tril", 2, _int_params("k", -2, 2), lambda v, k: _bi("tril")(v, k))
_shape_spec("triu", 2, _int_params("k", -2, 2), lambda v, k: _bi("triu")(v, k))
_shape_spec("diagonal", 2, _int_params("k", -1, 1), lambda v, k: _bi("diagonal")(v, k),
            square=True)
_shape_spec("trace", 2, _no_params, lambda v: _bi("trace")(v), square=True)
_shape_spec("diag", 1, _int_params("k", -1, 1),
            lambda v, k: _bi("diag")(P.reshape(v, (-1,)), k))
_shape_spec("roll", 1, _int_params("shift", -5, 5, axis=True),
            lambda v, shift, axis: _bi("roll")(v, shift, axis))
_shape_spec("repeat", 1, _int_params("r", 0, 3, axis=True),
            lambda v, r, axis: _bi("repeat")(v, r, axis))
_shape_spec("tile", 1, _int_params("r", 1, 3), lambda v, r: _bi("tile")(v, (2, r)))
# parallel_map with no executor (a bare Runtime): the elements run here, differentiably
_shape_spec("parallel_map", 1, _no_params, lambda v: _bi("parallel_map")(
    Runtime(), Builtin("f", lambda row: P.mul(P.sin(row), row), "f(row)"), v))


@spec("clip")
def _clip():
    @st.composite
    def strat(draw):
        sx, sl, sh = draw(_bshapes(3))
        x = _away(draw(_leaf(sx, -3, 3)), 0.25)
        lo = np.round(np.asarray(draw(_leaf(sl, -3, -0.5))) * 2) / 2  # lo < hi: no kink
        hi = np.round(np.asarray(draw(_leaf(sh, 0.5, 3))) * 2) / 2
        lo = float(lo) if sl == () else lo
        hi = float(hi) if sh == () else hi
        return Case(_bi("clip"), (x, lo, hi))
    return strat()


@spec("logsumexp")
def _logsumexp():
    @st.composite
    def strat(draw):
        s = draw(SHAPE)
        x = draw(_leaf(s, -3, 3))
        axis = draw(_axis_for(len(s)))
        return Case(lambda x: _bi("logsumexp")(x, axis=axis), (x,), axis=axis)
    return strat()


@spec("softmax")
def _softmax():
    @st.composite
    def strat(draw):
        s = draw(SHAPE1)
        x = draw(_leaf(s, -3, 3))
        axis = draw(_axis_for(len(s), allow_none=False))
        return Case(lambda x: _bi("softmax")(x, axis=axis), (x,), axis=axis)
    return strat()


@spec("outer")
def _outer():
    @st.composite
    def strat(draw):
        a = draw(hnp.array_shapes(min_dims=1, max_dims=1, max_side=3).flatmap(
            lambda s: _leaf(s, -2, 2)))
        b = draw(hnp.array_shapes(min_dims=0, max_dims=1, max_side=3).flatmap(
            lambda s: _leaf(s, -2, 2)))
        return Case(_bi("outer"), (a, b))
    return strat()


@spec("dot")
def _dot():
    @st.composite
    def strat(draw):
        la, lb = draw(st.sampled_from([("", "k"), ("k", ""), ("", ""), ("k", "k"),
                                       ("nk", "k"), ("k", "km"), ("nk", "km"),
                                       ("pnk", "km"), ("k", "pkm"), ("nk", "pqkm")]))
        dims = {c: draw(st.integers(1, 3)) for c in "nkmpq"}
        a = draw(_leaf(tuple(dims[c] for c in la), -2, 2))
        b = draw(_leaf(tuple(dims[c] for c in lb), -2, 2))
        return Case(_bi("dot"), (a, b))
    return strat()


@spec("full")
def _full():
    @st.composite
    def strat(draw):
        s = draw(SHAPE)
        v = draw(_leaf((), -3, 3))
        return Case(lambda v: _bi("full")(s, v), (v,), shape=s)
    return strat()


@spec("linspace")
def _linspace():
    @st.composite
    def strat(draw):
        n = draw(st.integers(1, 6))
        a = draw(_leaf((), -3, 3))
        b = draw(_leaf((), -3, 3))
        return Case(lambda a, b: _bi("linspace")(a, b, n), (a, b))
    return strat()


@spec("float")
def _float():
    @st.composite
    def strat(draw):
        s = draw(st.sampled_from([(), (1,), (1, 1)]))
        return Case(_bi("float"), (draw(_leaf(s, -3, 3)),))
    return strat()


@spec("pow")
def _pow_builtin():
    @st.composite
    def strat(draw):
        sa, sb = draw(_bshapes(2))
        return Case(_bi("pow"), (draw(_leaf(sa, 0.3, 2.5)), draw(_leaf(sb, -2, 2))))
    return strat()


@spec("tree_map")
def _tree_map():
    @st.composite
    def strat(draw):
        sa, sb = draw(_bshapes(2))
        a = draw(_leaf(sa, -2, 2))
        b = draw(_leaf(sb, -2, 2))

        def f(a, b):
            t = _bi("tree_map")(Transformed("f", lambda u, v: P.mul(P.sin(u), v)),
                                (a, b), (b, a))
            return P.add(t[0], t[1])
        return Case(f, (a, b))
    return strat()


# ------------------------------------------- products and linear algebra (issue 13)
BATCHES = st.sampled_from([(), (2,), (2, 1)])


def _stack_of(batch, n, m, fn):
    """A (batch..., n, m) stack built from uniform [-0.5, 0.5] entries by fn(u)."""
    return _leaf(tuple(batch) + (n, m), -0.5, 0.5).map(fn)


def _wellcond(batch, n, m=None):
    m = n if m is None else m
    return _stack_of(batch, n, m, lambda u: u + 2.0 * np.eye(n, m))


def _spd(batch, n):
    return _stack_of(batch, n, n, lambda u: u @ np.swapaxes(u, -1, -2) + n * np.eye(n))


def _sym_distinct(batch, n):
    """Symmetric, eigenvalues near 0, 1, ..., n-1 (gaps > 1/2)."""
    return _stack_of(batch, n, n, lambda u: 0.1 * (u + np.swapaxes(u, -1, -2))
                     + np.diag(np.arange(n, dtype=float)))


EINSUM_CASES = [
    ("ij,jk->ik", ["nk", "km"]), ("ii->i", ["nn"]), ("ii", ["nn"]), ("ij->", ["nm"]),
    ("...ij,...jk", ["bnk", "km"]), ("i,i", ["n", "n"]), ("ij,ij->ij", ["1m", "nm"]),
    ("iij->ji", ["nnm"]), ("bij,bjk,bkl->bil", ["bnk", "bkm", "bmn"]), ("i,j->ij", ["n", "m"]),
    ("ij->j", ["nm"]), (",ij->ij", ["", "nm"]), ("...i,...i->...", ["bn", "n"]),
    ("ji", ["nm"]), ("i...->...", ["nbm"]),
]


@spec("einsum")
def _einsum_spec():
    @st.composite
    def strat(draw):
        subs, terms = draw(st.sampled_from(EINSUM_CASES))
        dims = {"1": 1}
        for c in "nkmb":
            dims[c] = draw(st.integers(1, 3))
        ops = tuple(draw(_leaf(tuple(dims[c] for c in t), -2, 2)) for t in terms)
        return Case(lambda *xs: _bi("einsum")(subs, *xs), ops, subscripts=subs)
    return strat()


@spec("tensordot")
def _tensordot_spec():
    @st.composite
    def strat(draw):
        p, q, r, s = (draw(st.integers(1, 3)) for _ in range(4))
        axes, sa, sb = draw(st.sampled_from([
            (2, (p, q, r), (q, r, s)), (1, (p, q), (q, s)), (0, (p,), (s,)),
            (((0,), (1,)), (q, p), (s, q)), (((0, 2), (1, 0)), (q, p, r), (r, q, s))]))
        return Case(lambda a, b: _bi("tensordot")(a, b, axes=axes),
                    (draw(_leaf(sa, -2, 2)), draw(_leaf(sb, -2, 2))), axes=axes)
    return strat()


@spec("inner")
def _inner_spec():
    @st.composite
    def strat(draw):
        n = draw(st.integers(1, 3))
        sa = draw(st.sampled_from([(), (n,), (2, n)]))
        sb = draw(st.sampled_from([(n,), (3, n), ()]))
        return Case(_bi("inner"), (draw(_leaf(sa, -2, 2)), draw(_leaf(sb, -2, 2))))
    return strat()


@spec("kron")
def _kron_spec():
    return st.tuples(_bshapes(2).map(lambda s: s[0]), _bshapes(2).map(lambda s: s[1])).flatmap(
        lambda ss: st.tuples(_leaf(ss[0], -2, 2), _leaf(ss[1], -2, 2))).map(
        lambda ab: Case(_bi("kron"), ab))


@spec("cross")
def _cross_spec():
    @st.composite
    def strat(draw):
        sa, sb = draw(st.sampled_from([((3,), (3,)), ((2, 3), (3,)), ((2, 3), (1, 3))]))
        return Case(_bi("cross"), (draw(_leaf(sa, -2, 2)), draw(_leaf(sb, -2, 2))))
    return strat()


@spec("cholesky")
def _cholesky_spec():
    @st.composite
    def strat(draw):
        a = draw(_spd(draw(BATCHES), draw(st.integers(1, 3))))
        upper = draw(st.booleans())
        return Case(lambda a: _bi("cholesky")(a, upper=upper), (a,), upper=upper)
    return strat()


@spec("cholesky_grad")
def _cholesky_grad_spec():
    # cholesky's VJP as a primitive: a factor with something in its upper triangle
    # (never read), a cotangent of the same shape or with stack axes in front
    @st.composite
    def strat(draw):
        n = draw(st.integers(1, 3))
        batch = draw(BATCHES)
        a = draw(_wellcond(batch, n))
        g = draw(_leaf(draw(st.sampled_from([batch, (2,) + batch])) + (n, n), -2, 2))
        return Case(P.cholesky_grad, (a, g))
    return strat()


@spec("solve_triangular")
def _solve_triangular_spec():
    @st.composite
    def strat(draw):
        n = draw(st.integers(1, 3))
        a = draw(_wellcond(draw(BATCHES), n))
        b = draw(_leaf(draw(st.sampled_from([(n,), (n, 2), (2, n, 1)])), -2, 2))
        lower, trans, unit = draw(st.booleans()), draw(st.integers(0, 1)), draw(st.booleans())
        return Case(lambda a, b: _bi("solve_triangular")(a, b, trans=trans, lower=lower,
                                                         unit_diagonal=unit), (a, b),
                    lower=lower, trans=trans, unit=unit)
    return strat()


@spec("trimul")
def _trimul_spec():
    @st.composite
    def strat(draw):
        n = draw(st.integers(1, 3))
        a = draw(_leaf(draw(BATCHES) + (n, n), -2, 2))
        b = draw(_leaf(draw(st.sampled_from([(n, 1), (n, 2), (2, n, 2)])), -2, 2))
        lower = draw(st.booleans())
        return Case(lambda a, b: P.trimul(a, b, lower), (a, b), lower=lower)
    return strat()


@spec("tri_inv")
def _tri_inv_spec():
    @st.composite
    def strat(draw):
        a = draw(_wellcond(draw(BATCHES), draw(st.integers(1, 3))))
        lower = draw(st.booleans())
        return Case(lambda a: P.tri_inv(a, lower), (a,), lower=lower)
    return strat()


@spec("cho_solve")
def _cho_solve_spec():
    @st.composite
    def strat(draw):
        n = draw(st.integers(1, 3))
        c = draw(_wellcond(draw(BATCHES), n))
        b = draw(_leaf(draw(st.sampled_from([(n,), (n, 2)])), -2, 2))
        lower = draw(st.booleans())
        return Case(lambda c, b: _bi("cho_solve")((c, lower), b), (c, b), lower=lower)
    return strat()


def _flat(*xs):
    """Several results as one vector (the checks draw one cotangent of the result's shape)."""
    return P.concat([P.reshape(x, (-1,)) for x in xs], axis=0)


def _spread(v, c):
    """V diag(c) V^T: blind to the sign of each column of V (eigenvectors, singular
    vectors), so central differences see a smooth function."""
    return P.matmul(P.mul(v, c), P.transpose(v, tuple(range(P.ndim(v) - 2)) + (
        P.ndim(v) - 1, P.ndim(v) - 2)))


@spec("eigh")
def _eigh_spec():
    @st.composite
    def strat(draw):
        n = draw(st.integers(1, 3))
        a = draw(_sym_distinct(draw(BATCHES), n))
        c = np.arange(1.0, n + 1)

        def f(a):
            w, v = _bi("eigh")(a)
            return _flat(w, _spread(v, c))
        return Case(f, (a,))
    return strat()


@spec("eigvalsh")
def _eigvalsh_spec():
    return st.tuples(BATCHES, st.integers(1, 3)).flatmap(lambda bn: _sym_distinct(*bn)).map(
        lambda a: Case(_bi("eigvalsh"), (a,)))


@spec("svd")
def _svd_spec():
    @st.composite
    def strat(draw):
        m, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        k = min(m, n)
        base = np.zeros((m, n))
        base[range(k), range(k)] = np.arange(k, 0, -1) + 1.0  # singular values ~ k+1 ... 2
        a = draw(_stack_of(draw(BATCHES), m, n, lambda u: 0.2 * u + base))
        c = np.arange(1.0, k + 1)

        def f(a):
            u, s, vt = _bi("svd")(a)
            return _flat(s, P.matmul(P.mul(u, c), vt))
        return Case(f, (a,))
    return strat()


@spec("qr")
def _qr_spec():
    @st.composite
    def strat(draw):
        m, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        # generic: an exactly zero part below the diagonal is where LAPACK's signs jump
        a = draw(_wellcond(draw(BATCHES), m, n)) + 0.01 * np.arange(1, m * n + 1).reshape(m, n)
        return Case(lambda a: _flat(*_bi("qr")(a)), (a,))
    return strat()


@spec("logabsdet")
def _logabsdet_spec():
    return st.tuples(BATCHES, st.integers(1, 3)).flatmap(lambda bn: _wellcond(*bn)).map(
        lambda a: Case(P.logabsdet, (a,)))


@spec("slogdet")
def _slogdet_spec():
    return st.tuples(BATCHES, st.integers(1, 3)).flatmap(lambda bn: _wellcond(*bn)).map(
        lambda a: Case(lambda a: _bi("slogdet")(a)[1], (a,)))


@spec("logdet")
def _logdet_spec():
    return st.tuples(BATCHES, st.integers(1, 3)).flatmap(lambda bn: _spd(*bn)).map(
        lambda a: Case(_bi("logdet"), (a,)))


@spec("pinv")
def _pinv_spec():
    @st.composite
    def strat(draw):
        m, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        return Case(_bi("pinv"), (draw(_wellcond(draw(BATCHES), m, n)),))
    return strat()


@spec("lstsq")
def _lstsq_spec():
    @st.composite
    def strat(draw):
        n = draw(st.integers(1, 3))
        m = n + draw(st.integers(0, 2))
        base = np.zeros((m, n))
        base[range(n), range(n)] = np.arange(n, 0, -1) + 1.0  # distinct singular values
        a = draw(_stack_of((), m, n, lambda u: 0.2 * u + base))
        b = draw(_leaf(draw(st.sampled_from([(m,), (m, 2)])), -2, 2))

        def f(a, b):
            x, res, rank, s = _bi("lstsq")(a, b)
            return _flat(x, s, *((res,) if m > n else ()))
        return Case(f, (a, b))
    return strat()


@spec("matrix_power")
def _matrix_power_spec():
    @st.composite
    def strat(draw):
        a = draw(_wellcond(draw(BATCHES), draw(st.integers(1, 3))))
        k = draw(st.integers(-2, 3))
        return Case(lambda a: _bi("matrix_power")(a, k), (a,), n=k)
    return strat()


@spec("expm")
def _expm_spec():
    return st.tuples(BATCHES, st.integers(1, 3)).flatmap(
        lambda bn: _leaf(bn[0] + (bn[1], bn[1]), -1, 1)).map(lambda a: Case(_bi("expm"), (a,)))


# ------------------------------------------------- special functions, sorting, statistics
@spec("polygamma")
def _polygamma():
    @st.composite
    def strat(draw):
        x = draw(SHAPE.flatmap(lambda s: _leaf(s, 0.3, 4)))
        n = draw(st.integers(0, 2))
        return Case(lambda x: P.polygamma(x, n), (x,), n=n)
    return strat()


@spec("sinc_deriv")
def _sinc_deriv():
    @st.composite
    def strat(draw):
        x = draw(SHAPE.flatmap(lambda s: _leaf(s, -3, 3)))
        n = draw(st.integers(0, 3))
        return Case(lambda x: P.sinc_deriv(x, n), (x,), n=n)
    return strat()


@spec("cumprod")
def _cumprod():
    @st.composite
    def strat(draw):
        s = draw(SHAPE1)
        x = _sign_away(draw(_leaf(s, -2, 2)), 0.4)
        axis = draw(st.integers(-len(s), len(s) - 1))
        return Case(lambda x: P.cumprod(x, axis % len(s)), (x,), axis=axis)
    return strat()


@spec("cumprod zeros")
def _cumprod_zeros():
    """The builtin where x holds exact zeros (kept as traced factors)."""
    @st.composite
    def strat(draw):
        s = draw(SHAPE1)
        x = np.array(_sign_away(draw(_leaf(s, -2, 2)), 0.4), dtype=float)
        flat = x.reshape(-1)
        for i in draw(st.lists(st.integers(0, flat.size - 1), min_size=1, max_size=6)):
            flat[i] = 0.0
        axis = draw(st.one_of(st.none(), st.integers(-len(s), len(s) - 1)))
        return Case(lambda x: _bi("cumprod")(x, axis), (x,), axis=axis)
    return strat()


def _along_case(draw):
    """(x shape, idx, axis) for take_along: idx has x's rank, any length along `axis`,
    and elsewhere x's length or 1 (or x has 1 there): both sides may broadcast; indices
    repeat and count from the end, so the transpose adds up and wraps."""
    s = draw(SHAPE1)
    axis = draw(st.integers(0, len(s) - 1))
    xs, ids = [], []
    for d, n in enumerate(s):
        mode = "axis" if d == axis else draw(st.sampled_from(["same", "x1", "i1"]))
        xs.append(1 if mode == "x1" else n)
        ids.append(draw(st.integers(1, 4)) if mode == "axis" else 1 if mode == "i1" else n)
    n = s[axis]
    idx = draw(hnp.arrays(np.int64, tuple(ids), elements=st.integers(-n, n - 1))).astype(float)
    return tuple(xs), idx, axis


@spec("take_along")
def _take_along():
    @st.composite
    def strat(draw):
        xs, idx, axis = _along_case(draw)
        x = draw(_leaf(xs, -3, 3))
        return Case(lambda x: P.take_along(x, idx, axis), (x,), idx=idx, axis=axis)
    return strat()


@spec("put_along")
def _put_along():
    @st.composite
    def strat(draw):
        xs, idx, axis = _along_case(draw)
        g = draw(_leaf(np.take_along_axis(np.zeros(xs), idx.astype(int), axis).shape, -3, 3))
        return Case(lambda g: P.put_along(g, idx, xs, axis), (g,), idx=idx, shape=xs,
                    axis=axis)
    return strat()


def _ordered_spec(name, call, params):
    """A builtin of one array whose entries are kept apart (sorts and kinks see no ties)."""
    @st.composite
    def strat(draw):
        s = draw(SHAPE1)
        x = _distinct(draw(_leaf(s, -3, 3)))
        kw = params(draw, s)
        return Case(lambda v: call(v, **kw), (x,), **kw)
    SPECS[name] = strat()


def _axis_none_or_int(draw, s):
    return {"axis": draw(st.one_of(st.none(), st.integers(-len(s), len(s) - 1)))}


_ordered_spec("sort", lambda v, axis: _bi("sort")(v, axis), _axis_none_or_int)
_ordered_spec("median", lambda v, axis, keep: _bi("median")(v, axis, keepdims=keep),
              lambda draw, s: {"axis": draw(_axis_for(len(s))), "keep": draw(st.booleans())})
_ordered_spec("diff", lambda v, n, axis: _bi("diff")(v, n, axis, prepend=1.5),
              lambda draw, s: {"n": draw(st.integers(0, 3)),
                               "axis": draw(st.integers(-len(s), len(s) - 1))})
_ordered_spec("split", lambda v, axis: P.concat(_bi("split")(v, (1, -1), axis), axis=axis),
              lambda draw, s: {"axis": draw(st.integers(0, len(s) - 1))})
_ordered_spec("take", lambda v, idx, axis: _bi("take")(v, idx, axis),
              lambda draw, s: {"axis": (a := draw(st.one_of(st.none(),
                                                             st.integers(0, len(s) - 1)))),
                               "idx": np.array(draw(st.lists(
                                   st.integers(-1, (int(np.prod(s)) if a is None else s[a]) - 1),
                                   min_size=1, max_size=4)), dtype=float)})
_ordered_spec("take_along_axis",
              lambda v, axis: _bi("take_along_axis")(v, _bi("argsort")(v, axis), axis),
              _axis_none_or_int)
_ordered_spec("pad", lambda v, width, mode: _bi("pad")(v, width, mode, 0.5),
              lambda draw, s: {"width": draw(st.integers(0, 2)),
                               "mode": draw(st.sampled_from(["constant", "edge", "reflect",
                                                             "symmetric", "wrap"]))})
_ordered_spec("nan_to_num", lambda v, k: _bi("nan_to_num")(
    P.where(np.arange(int(np.prod(P.shape(v)))).reshape(P.shape(v)) % 3 == k,
            np.inf, v), nan=0.0, posinf=2.0), lambda draw, s: {"k": draw(st.integers(0, 2))})


def _reduced_count(s: tuple, axis) -> int:
    """How many entries a reduction over `axis` (None, an int or a tuple) of shape s sees."""
    axes = range(len(s)) if axis is None else axis if type(axis) is tuple else (axis,)
    return int(np.prod([s[a] for a in axes]))


@spec("quantile")
def _quantile():
    """Quantiles differentiated in x and in q (q kept off the points where the
    neighbouring order statistics change)."""
    @st.composite
    def strat(draw):
        s = draw(SHAPE1)
        x = _distinct(draw(_leaf(s, -3, 3)))
        axis = draw(_axis_for(len(s)))
        n = _reduced_count(s, axis)
        k = draw(st.integers(0, max(n - 2, 0)))
        f = draw(st.floats(0.1, 0.9))
        q = (k + f) / (n - 1) if n > 1 else f
        qs = q if draw(st.booleans()) else np.array([q, 0.5 * q])
        return Case(lambda x, q: _bi("quantile")(x, q, axis), (x, qs), axis=axis)
    return strat()


# NumPy's methods: (alpha, beta) of the continuous ones; None: one order statistic, or
# a fixed mix of two, picked from (n - 1) q
PERCENTILE_METHODS = {"linear": (1.0, 1.0), "hazen": (0.5, 0.5), "weibull": (0.0, 0.0),
                      "median_unbiased": (1 / 3, 1 / 3), "lower": None, "higher": None,
                      "nearest": None, "midpoint": None}


@spec("percentile")
def _percentile():
    """Percentiles with the methods, p kept off the points where the method's choice of
    order statistics changes (its virtual index k + f, f away from 0, 1/2 and 1)."""
    @st.composite
    def strat(draw):
        s = draw(SHAPE1)
        x = _distinct(draw(_leaf(s, -3, 3)))
        axis = draw(_axis_for(len(s)))
        n = _reduced_count(s, axis)
        method = draw(st.sampled_from(sorted(PERCENTILE_METHODS)))
        ab = PERCENTILE_METHODS[method]

        def one_p():
            k = draw(st.integers(0, max(n - 2, 0)))
            f = draw(st.floats(0.1, 0.4) | st.floats(0.6, 0.9))
            if n == 1:
                return 100 * f
            if ab is None:
                return 100 * (k + f) / (n - 1)
            return 100 * (k + f + 1 - ab[0]) / (n + 1 - ab[0] - ab[1])
        ps = one_p() if draw(st.booleans()) else np.array([one_p(), one_p()])
        return Case(lambda x, p: _bi("percentile")(x, p, axis, method=method), (x, ps),
                    axis=axis, method=method)
    return strat()


@spec("average")
def _average():
    @st.composite
    def strat(draw):
        s = draw(SHAPE1)
        x = draw(_leaf(s, -3, 3))
        axis = draw(st.one_of(st.none(), st.integers(0, len(s) - 1)))
        ws = (s[axis],) if axis is not None and draw(st.booleans()) else s
        w = draw(_leaf(ws, 0.5, 2))
        keep = draw(st.booleans())
        return Case(lambda x, w: _bi("average")(x, axis, w, keepdims=keep), (x, w), axis=axis,
                    keep=keep)
    return strat()


def _sums_apart(x, axis, gap=0.02):
    """x with its row sums and its column sums of |x| (over `axis`) apart, so that the
    max/min of matrix norms 1 and inf has no tie (a kink): entries rescaled by a fixed
    jitter until they are (distinct entries can still sum alike, 0.1 + 0.6 = 0.3 + 0.4)."""
    r, c = axis
    for k in range(50):
        a = np.abs(x)
        col, row = a.sum(axis=r, keepdims=True), a.sum(axis=c, keepdims=True)
        if all(np.min(np.diff(np.sort(v, axis=ax), axis=ax), initial=np.inf) >= gap
               for v, ax in ((col, c), (row, r))):
            return x
        x = x * (1 + 0.1 * np.sin(np.arange(x.size).reshape(x.shape) * 1.37 + k))
    return x


@spec("norm ord")
def _norm_ord():
    """norm with every vector and matrix order (entries apart and away from 0: the
    kinks of abs and max)."""
    @st.composite
    def strat(draw):
        s = draw(st.sampled_from([(3,), (2, 3), (3, 3), (2, 2, 3)]))
        x = _sign_away(_distinct(draw(_leaf(s, -3, 3))), 0.2)
        if len(s) == 1 or draw(st.booleans()):
            ord = draw(st.sampled_from([None, 1, 2, np.inf, -np.inf, 3, 0.5, -1.5]))
            axis = -1 if len(s) > 1 else draw(st.sampled_from([None, 0]))
        else:
            ord = draw(st.sampled_from([None, "fro", 1, -1, np.inf, -np.inf]))
            axis = (0, 1) if len(s) == 2 and draw(st.booleans()) else (len(s) - 1, len(s) - 2)
            x = _sums_apart(x, axis)
        keep = draw(st.booleans())
        return Case(lambda x: _bi("norm")(x, ord, axis, keepdims=keep), (x,), ord=ord,
                    axis=axis, keep=keep)
    return strat()


@st.composite
def _svd_matrix(draw):
    """Q1 diag(s) Q2^T with singular values apart (>= 0.4) and away from 0, and maybe a
    batch axis in front: where the SVD's derivatives are defined and well conditioned."""
    m, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch = draw(st.sampled_from([(), (2,)]))
    k = min(m, n)
    q1, _ = np.linalg.qr(draw(_leaf(batch + (m, m), -1, 1)) + 2 * np.eye(m))
    q2, _ = np.linalg.qr(draw(_leaf(batch + (n, n), -1, 1)) + 2 * np.eye(n))
    gaps = np.asarray(draw(_leaf((k,), 0.4, 1.2)), dtype=float)
    sv = np.cumsum(gaps)[::-1]
    return q1[..., :, :k] @ (sv[:, None] * np.swapaxes(q2[..., :, :k], -1, -2))


def _canonical_signs(u):
    """A constant sign per column of u (that of a generic combination of its entries):
    LAPACK's signs are arbitrary, so the spec compares vectors with a fixed sign.
    Primitives on u without its derivatives, so that under vmap it is batched too."""
    v = strip_derivatives(u)
    w = np.array([1.0, 0.37, 0.113])[: P.shape(v)[-2], None]
    return P.sign(P.sum_(P.mul(v, w), axis=-2, keepdims=True))


SPECS["svd_s"] = _svd_matrix().map(lambda a: Case(P.svd_s, (a,)))
SPECS["svd_u"] = _svd_matrix().map(
    lambda a: Case(lambda a: P.mul(P.svd_u(a), _canonical_signs(P.svd_u(a))), (a,)))
SPECS["svd_v"] = _svd_matrix().map(
    lambda a: Case(lambda a: P.mul(P.svd_v(a), _canonical_signs(P.svd_v(a))), (a,)))


@spec("norm spectral")
def _norm_spectral():
    """norm with ord 2, -2 and "nuc" (singular values), over two of the axes."""
    @st.composite
    def strat(draw):
        a = draw(_svd_matrix())
        ord = draw(st.sampled_from([2, -2, "nuc"]))
        axis = (-1, -2) if draw(st.booleans()) else (-2, -1)
        return Case(lambda x: _bi("norm")(x, ord, axis), (a,), ord=ord, axis=axis)
    return strat()


class _SeededRuntime:
    """A stand-in for the interpreter's Runtime whose random stream restarts at every
    call, so a random builtin is one fixed function of its differentiable arguments."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)


def _random_spec(name, call, nargs):
    @st.composite
    def strat(draw):
        seed = draw(st.integers(0, 1000))
        shape = draw(SHAPE1)
        args = [draw(_leaf(shape if k == 0 else (), 0.5 + k, 1.5 + k)) for k in range(nargs)]
        fn = _bi(name)
        return Case(lambda *a: call(fn, _SeededRuntime(seed), shape, *a), args, seed=seed)
    SPECS[name] = strat()


_random_spec("normal", lambda fn, rt, s, m, sd: fn(rt, s, m, sd), 2)
_random_spec("uniform", lambda fn, rt, s, lo, hi: fn(rt, s, lo, hi), 2)
_random_spec("shuffle", lambda fn, rt, s, x: fn(rt, x), 1)
_random_spec("choice", lambda fn, rt, s, x: fn(rt, x, 4, s[0] < 4), 1)


# ============================================================== coverage lists
# Registry names with derivative rules: each must have a spec above.
COVERED_PRIMITIVES = [
    "neg", "abs", "sqrt", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "asin", "acos",
    "atan", "sinh", "cosh", "tanh", "sigmoid", "relu", "softplus", "square", "reciprocal",
    "log2", "log10", "exp2", "asinh", "acosh", "atanh", "logit", "deg2rad", "rad2deg",
    "+", "-", "*", "/", "%", "**", "atan2", "maximum", "minimum", "safe_mul", "safe_div",
    "hypot", "logaddexp", "xlogy", "erf", "erfc", "erfinv", "lgamma", "digamma", "polygamma",
    "sinc", "sinc_deriv", "cumprod", "svd_s", "svd_u", "svd_v",
    "where", "sum", "max", "min", "prod", "prod_others", "prod_pairs", "norm", "logsumexp",
    "cumsum",
    "reshape", "transpose", "broadcast_to", "index", "index_add", "index update",
    "take_along", "put_along",
    "index accumulate", "stack", "array",
    "concat", "@", "solve", "inv", "det", "cofactor",
    "einsum", "solve_triangular", "trimul", "tri_inv", "cholesky", "cholesky_grad", "eigh",
    "svd", "qr", "logabsdet", "pinv", "expm",
]
# Registry names marked (no d).
NONDIFF_PRIMITIVES = [
    "sign", "floor", "ceil", "round", "//", "<", "<=", ">", ">=", "==", "!=",
    "argmax", "argmin", "argsort", "det_sign", "any", "all", "isnan", "isinf", "isfinite",
    "heaviside",
]
# Differentiable builtins (BUILTIN_TABLE diff "yes") that are not a single primitive of
# the same name; the rest are the primitive of that name (or the one named here).
BUILTIN_PRIMITIVE = {"matmul": "@", "pow": "**", "gammaln": "lgamma"}
COMPOSED_BUILTINS = ["mean", "clip", "softmax", "outer", "dot", "full", "float",
                     "pow", "tree_map", "linspace", "var", "std", "expand_dims", "squeeze",
                     "flip", "swapaxes", "moveaxis", "broadcast_to", "hstack", "vstack",
                     "tril", "triu", "diagonal", "trace", "diag", "roll", "repeat", "tile",
                     "parallel_map",
                     "tensordot", "inner", "kron", "cross", "eigvalsh", "cho_solve", "slogdet",
                     "logdet", "lstsq", "matrix_power",
                     "sort", "median", "quantile", "percentile", "diff", "split", "take",
                     "take_along_axis", "pad", "nan_to_num", "average", "normal", "uniform",
                     "shuffle", "choice"]
EXTRA_SPECS = ["**int", "keepdims", "norm ord", "cumprod zeros", "norm spectral"]


def test_every_differentiable_primitive_has_rules():
    missing = [name for name, p in P.REGISTRY.items()
               if p.differentiable and not ((p.jvps is not None or p.jvp_joint is not None)
                                         and (p.vjps is not None or p.vjp_joint is not None))]
    assert missing == [], f"differentiable primitives without JVP/VJP rules: {missing}"
    for name, p in P.REGISTRY.items():
        if not p.differentiable or p.jvps is None:
            continue
        # one rule slot per argument, and a rule for every differentiable argument
        assert p.vjps is not None and len(p.jvps) == len(p.vjps), name


def test_registry_holds_every_primitive_once():
    """Two primitives registered under one name would hide one from these tests."""
    from dprog.prims import (
        core,
        decompositions,
        elementwise,
        indexing,
        linalg,
        matfuncs,
        products,
        reductions,
        sorting,
        special,
        spectral,
        structure,
        triangular,
    )

    defined = {id(v): k for m in (core, structure, elementwise, special, indexing, reductions,
                                  linalg, spectral, products, decompositions, matfuncs,
                                  triangular, sorting)
               for k, v in vars(m).items() if isinstance(v, P.Primitive)}
    registered = {id(p) for p in P.REGISTRY.values()}
    assert not set(defined) - registered, \
        f"primitives missing from REGISTRY: {[defined[i] for i in set(defined) - registered]}"


def test_property_tests_cover_the_registry():
    diff = sorted(n for n, p in P.REGISTRY.items() if p.differentiable)
    nondiff = sorted(n for n, p in P.REGISTRY.items() if not p.differentiable)
    assert sorted(COVERED_PRIMITIVES) == diff, (
        f"not covered: {sorted(set(diff) - set(COVERED_PRIMITIVES))}; "
        f"stale: {sorted(set(COVERED_PRIMITIVES) - set(diff))}")
    assert sorted(NONDIFF_PRIMITIVES) == nondiff
    assert set(COVERED_PRIMITIVES) | set(COMPOSED_BUILTINS) | set(EXTRA_SPECS) == set(SPECS)


def test_property_tests_cover_the_differentiable_builtins():
    for name, doc in B.BUILTIN_TABLE.items():
        if doc.diff != "yes":
            continue
        prim = BUILTIN_PRIMITIVE.get(name, name)
        assert name in COMPOSED_BUILTINS or prim in COVERED_PRIMITIVES, \
            f"differentiable builtin `{name}` is not covered by the property tests"


# ================================================================ the checks
def _np(v):
    return np.asarray(P.strip(v), dtype=float)


def _close(got, want, what, scale=1.0, rtol=RTOL):
    got_t, want_t = _tree(got), _tree(want)
    assert len(got_t) == len(want_t), what
    for g, w in zip(got_t, want_t):
        assert np.shape(P.strip(g)) == np.shape(P.strip(w)), \
            f"{what}: shape {np.shape(P.strip(g))} != {np.shape(P.strip(w))}"
        g, w = _np(g), _np(w)
        assert np.all(np.isfinite(g)), f"{what}: not finite: {g}"
        sc = max(scale, float(np.max(np.abs(w), initial=0.0)), 1.0)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * sc, err_msg=what)


def _tree(v):
    if type(v) in (tuple, list):
        out = []
        for x in v:
            out.extend(_tree(x))
        return out
    return [v]


def _rand_like(rng, x, batch=None):
    s = np.shape(P.strip(x))
    if batch is not None:
        return rng.uniform(-1, 1, (batch,) + s)
    return rng.uniform(-1, 1, s) if s else float(rng.uniform(-1, 1))


def _axpy(x, h, t):
    r = _np(x) + h * _np(t)
    return float(r) if np.ndim(P.strip(x)) == 0 else r


def _central(f, xs, ts, h):
    plus = f(*[_axpy(x, h, t) for x, t in zip(xs, ts)])
    minus = f(*[_axpy(x, -h, t) for x, t in zip(xs, ts)])
    return [(_np(p) - _np(m)) / (2 * h) for p, m in zip(_tree(plus), _tree(minus))]


def _vdot(a, b):
    return float(np.sum(_np(a) * _np(b)))


def _tdot(xs, ys):
    """Traced inner product sum_i <xs_i, ys_i> (ys constant)."""
    total = 0.0
    for x, y in zip(xs, ys):
        total = P.add(total, P.sum_(P.mul(x, y)))
    return total


def _problem(case: Case, rng):
    """The differentiated arguments (a random non-empty subset, so rules also meet
    constant operands) and the function of them alone."""
    args = case.args
    sel = [i for i in case.diff if rng.random() < 0.7] or [case.diff[rng.integers(len(case.diff))]]

    def f(*vs):
        full = list(args)
        for i, v in zip(sel, vs):
            full[i] = v
        return case.fn(*full)
    return tuple(args[i] for i in sel), f


def check_case(case: Case, rng):
    xs, f = _problem(case, rng)
    n = len(xs)
    allnums = tuple(range(n))

    y = f(*xs)
    y_s = _np(y)
    scale = float(np.max(np.abs(y_s), initial=0.0))
    h = 1e-6 * max(1.0, max(float(np.max(np.abs(_np(x)), initial=0.0)) for x in xs))
    ts = tuple(_rand_like(rng, x) for x in xs)
    c = _rand_like(rng, y)

    # ---- first order: forward, reverse, central differences
    y1, jt = jvp_call(f, xs, ts)
    _close(y1, y, "value under jvp")
    fd = _central(f, xs, ts, h)
    _close(jt, fd[0], "jvp vs central differences", scale)
    y2, pull = vjp_call(f, xs)
    _close(y2, y, "value under vjp")
    cts = pull(c)
    for x, ct in zip(xs, cts):
        assert np.shape(P.strip(ct)) == np.shape(P.strip(x)), "cotangent shape != primal shape"
    lhs = _vdot(c, jt)
    rhs = sum(_vdot(ct, t) for ct, t in zip(cts, ts))
    assert math.isclose(lhs, rhs, rel_tol=RTOL, abs_tol=RTOL * max(1.0, scale)), \
        f"<c, J t> = {lhs} but <J^T c, t> = {rhs}"

    def loss(*vs):
        return P.sum_(P.mul(c, f(*vs)))

    def gradL(*vs):
        return value_and_grad_call(loss, vs, {}, allnums, "grad")[1]

    val, grads = value_and_grad_call(loss, xs, {}, allnums, "grad")
    _close(grads, cts, "grad vs vjp")

    # ---- second order: Hessian-vector products four ways vs differences of the gradient
    gscale = max(float(np.max(np.abs(_np(g)), initial=0.0)) for g in grads)
    hv_fd = _central(gradL, xs, ts, h)
    _, hv_fr = jvp_call(gradL, xs, ts)
    _close(hv_fr, hv_fd, "forward-over-reverse vs differences of grad", gscale)
    hv_rr = value_and_grad_call(lambda *vs: _tdot(gradL(*vs), ts), xs, {}, allnums)[1]
    _close(hv_rr, hv_fd, "reverse-over-reverse vs differences of grad", gscale)
    hv_rf = value_and_grad_call(lambda *vs: jvp_call(loss, vs, ts)[1], xs, {},
                                   allnums)[1]
    _close(hv_rf, hv_fd, "reverse-over-forward vs differences of grad", gscale)
    _, tht = jvp_call(lambda *vs: jvp_call(loss, vs, ts)[1], xs, ts)
    assert math.isclose(_np(tht), sum(_vdot(a, t) for a, t in zip(hv_fd, ts)),
                        rel_tol=1e-4, abs_tol=1e-4 * max(1.0, gscale)), "forward-over-forward"

    # ---- batched forward mode (jacfwd / hessian) vs one jvp per direction
    tb = tuple(_rand_like(rng, x, BATCH) for x in xs)
    _, jtb = jvp_call(f, xs, tb, batch=BATCH)
    _, htb = jvp_call(gradL, xs, tb, batch=BATCH)
    for k in range(BATCH):
        tk = tuple(t[k] if np.ndim(P.strip(x)) else float(t[k]) for t, x in zip(tb, xs))
        _, jk = jvp_call(f, xs, tk)
        _close(_np(jtb)[k], jk, f"batched jvp, direction {k}", scale)
        _, hk = jvp_call(gradL, xs, tk)
        _close([_np(v)[k] for v in _tree(htb)], hk,
               f"batched forward-over-reverse, direction {k}", gscale)

    # ---- the Jacobian transformations themselves (one differentiated argument)
    if n == 1:
        jf = jacfwd_call(f, xs[0])
        assert np.shape(jf) == np.shape(y_s) + np.shape(_np(xs[0]))
        _close(jf, jacrev_call(f, xs[0]), "jacfwd vs jacrev", scale)
        _close(np.tensordot(_np(jf), _np(ts[0]), axes=np.ndim(_np(ts[0]))), jt,
               "jacfwd . t vs jvp", scale)

    # ---- closed forms (unary elementwise primitives)
    if case.d1 is not None:
        x = xs[0]
        ones = np.ones(np.shape(x)) if np.ndim(x) else 1.0
        _, d = jvp_call(f, (x,), (ones,))
        _close(d, case.d1(_np(x)), "derivative vs closed form")
        g = value_and_grad_call(lambda v: P.sum_(f(v)), (x,), {}, 0)[1]
        _close(g, case.d1(_np(x)), "gradient vs closed form")
        _, d2 = jvp_call(lambda v: value_and_grad_call(lambda u: P.sum_(f(u)), (v,), {},
                                                             0)[1], (x,), (ones,))
        _close(d2, case.d2(_np(x)), "second derivative vs closed form", 1.0)


@pytest.mark.parametrize("name", sorted(SPECS))
@PROPS
@given(data=st.data())
def test_rules_agree(name, data):
    case = data.draw(SPECS[name], label="case")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    with np.errstate(all="ignore"):
        check_case(case, np.random.default_rng(seed))


# ============================================== fast paths against the reference engines
def _derivatives(case: Case, rng) -> list:
    """A case's value and derivatives to second order (as check_case takes them)."""
    xs, f = _problem(case, rng)
    allnums = tuple(range(len(xs)))

    y = f(*xs)
    ts = tuple(_rand_like(rng, x) for x in xs)
    c = _rand_like(rng, y)

    def loss(*vs):
        return P.sum_(P.mul(c, f(*vs)))

    def gradL(*vs):
        return value_and_grad_call(loss, vs, {}, allnums, "grad")[1]

    got = [y, *jvp_call(f, xs, ts)]
    y2, pull = vjp_call(f, xs)
    got += [y2, *pull(c)]
    got += [*value_and_grad_call(loss, xs, {}, allnums, "grad")]
    got += [jvp_call(gradL, xs, ts)[1]]
    got += [value_and_grad_call(lambda *vs: _tdot(gradL(*vs), ts), xs, {}, allnums)[1]]
    got += [value_and_grad_call(lambda *vs: jvp_call(loss, vs, ts)[1], xs, {}, allnums)[1]]
    tb = tuple(_rand_like(rng, x, BATCH) for x in xs)
    got += [jvp_call(f, xs, tb, batch=BATCH)[1], jvp_call(gradL, xs, tb, batch=BATCH)[1]]
    return [_np(leaf) for v in got for leaf in _tree(v)]


@pytest.mark.parametrize("name", sorted(SPECS))
@PROPS
@given(data=st.data())
def test_fast_paths_equal_the_reference_engines(name, data):
    """ad/fastforward.py and ad/fastpath.py give the values and derivatives of
    ad/forward.py and ad/reverse.py."""
    case = data.draw(SPECS[name], label="case")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    with np.errstate(all="ignore"):
        fast = _derivatives(case, np.random.default_rng(seed))
        with reference_engines():
            ref = _derivatives(case, np.random.default_rng(seed))
    assert len(fast) == len(ref)
    for k, (a, b) in enumerate(zip(fast, ref)):
        assert np.shape(a) == np.shape(b), f"result {k}: shape {np.shape(a)} != {np.shape(b)}"
        scale = max(1.0, float(np.max(np.abs(np.nan_to_num(b)), initial=0.0)))
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * scale, equal_nan=True,
                                   err_msg=f"{name}: result {k}, fast path vs reference")


_DISPATCHED = sorted(n for n, p in P.REGISTRY.items() if p.elementwise and p.op is not None)


@pytest.mark.parametrize("name", _DISPATCHED)
@PROPS
@given(data=st.data())
def test_dispatching_operations_equal_bind(name, data):
    """prims/fastpath.py: an operation's shortcuts (Python numbers, float arrays) give
    what `bind` gives (apply_impl with its checks)."""
    from dprog.prims.core import EMPTY, apply_impl

    p = P.REGISTRY[name]
    nargs = p.impl.nin if isinstance(p.impl, np.ufunc) else len(
        [q for q in inspect.signature(p.impl).parameters.values() if q.default is q.empty])
    shapes = data.draw(_bshapes(nargs), label="shapes")
    args = tuple(data.draw(_leaf(s, -3, 3)) for s in shapes)
    with np.errstate(all="ignore"):
        try:
            want = apply_impl(p, args, EMPTY)
        except Exception as exc:  # noqa: BLE001 - the operation must fail the same way
            with pytest.raises(type(exc)):
                p.op(*args)
            return
        got = p.op(*args)
    assert type(got) is type(want) and np.shape(got) == np.shape(want), name
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0, equal_nan=True, err_msg=name)


def test_reference_engines_are_really_used():
    """The switch reaches the transformations (so the test above compares two engines)."""
    from dprog.ad import engines, fastforward, fastpath, forward, reverse

    assert type(engines.new_tape()) is fastpath.FastTape
    with reference_engines():
        assert type(engines.new_tape()) is reverse.Tape
        assert type(engines.new_forward_trace()) is forward.ForwardTrace
    assert type(engines.new_forward_trace()) is fastforward.FastForwardTrace


# ======================================================== non-differentiable primitives
NONDIFF_CALLS = {
    "sign": lambda x: P.sign(x),
    "floor": lambda x: P.floor(x),
    "ceil": lambda x: P.ceil(x),
    "round": lambda x: P.bind(P.round_p, (x,), {"digits": 1}),
    "//": lambda x: P.floordiv(x, 0.7),
    "<": lambda x: P.bind(P.lt_p, (x, 0.1)),
    "<=": lambda x: P.bind(P.le_p, (x, 0.1)),
    ">": lambda x: P.bind(P.gt_p, (x, 0.1)),
    ">=": lambda x: P.bind(P.ge_p, (x, 0.1)),
    "==": lambda x: P.bind(P.eq_p, (x, 0.1)),
    "!=": lambda x: P.bind(P.ne_p, (x, 0.1)),
    "argmax": lambda x: P.bind(P.argmax_p, (x,), {"axis": None}),
    "argmin": lambda x: P.bind(P.argmin_p, (x,), {"axis": None}),
    "det_sign": lambda x: P.det_sign(P.add(P.reshape(P.sum_(x), (1, 1)), np.eye(2))),
    "argsort": lambda x: P.argsort(x, P.ndim(x) - 1) if P.ndim(x) else
    P.argsort(P.reshape(x, (1,)), 0),
    "any": lambda x: P.bind(P.any_p, (x,), {"axis": None}),
    "all": lambda x: P.bind(P.all_p, (x,), {"axis": None}),
    "isnan": lambda x: P.isnan(x),
    "isinf": lambda x: P.isinf(x),
    "isfinite": lambda x: P.isfinite(x),
    "heaviside": lambda x: P.heaviside(x, 0.5),
}


@pytest.mark.parametrize("name", NONDIFF_PRIMITIVES)
@PROPS
@given(x=SHAPE.flatmap(lambda s: _leaf(s, -3, 3)))
def test_nondiff_primitives_give_zero_derivative(name, x):
    op = NONDIFF_CALLS[name]

    def f(v):  # the (no d) result, used as a factor so a derivative would show
        r = op(v)
        r = P.where(r, 1.0, 0.0) if np.asarray(P.strip(r)).dtype == bool else r
        return P.sum_(P.mul(P.add(r, 0.0), 2.0))

    g = value_and_grad_call(f, (x,), {}, 0)[1]
    assert np.all(_np(g) == 0.0)
    t = np.ones(np.shape(x)) if np.ndim(x) else 1.0
    _, d = jvp_call(f, (x,), (t,))
    assert np.all(_np(d) == 0.0)
    _, db = jvp_call(f, (x,), (np.ones((BATCH,) + np.shape(x)),), batch=BATCH)
    assert np.all(_np(db) == 0.0)
