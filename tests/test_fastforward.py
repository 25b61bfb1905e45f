"""Forward mode's fast paths (ad/fastforward.py, ad/forward_ops.py) against the reference
engine (ad/forward.py) on the cases the property tests rarely draw: zeros against
infinities, nan, ints, zero divisors, nested traces, broadcasting, out-of-range indices.
tests/test_ad_properties.py compares both engines on every primitive."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import dprog
from dprog.ad import fastforward, forward_ops
from dprog.ad.engines import reference_engines
from dprog.ad.fastforward import FastForwardTrace
from dprog.ad.forward import Dual, ForwardTrace
from dprog.ad.transforms import jvp_call
from dprog.core.errors import DpError
from dprog.prims import primitives as P
from dprog.runtime import ops

INF, NAN = float("inf"), float("nan")
SCALARS = [1.5, -2.0, 0.0, -0.0, INF, -INF, NAN, 3, 0]
TANGENTS = [1.0, 0.0, -0.5, INF, NAN]


def _same(a, b) -> bool:
    """Equal values of equal types (nan equal to nan, arrays entry by entry)."""
    if type(a) is not type(b):
        return False
    if type(a) is np.ndarray:
        return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
    return a == b or (a != a and b != b)


def _run(trace, fn, args):
    """fn on args, where an (x, t) pair is a Dual of `trace`: (value, tangent) or the error."""
    vals = [Dual(trace, x[0], x[1]) if type(x) is tuple else x for x in args]
    try:
        with np.errstate(all="ignore"):
            r = fn(*vals)
    except DpError as err:
        return ("error", type(err).__name__, err.message)
    if type(r) is Dual and r._trace is trace:
        return r.primal, r.tangent
    return r, None


def _check(fn_fast, fn_ref, args):
    got = _run(FastForwardTrace(), fn_fast, args)
    want = _run(ForwardTrace(), fn_ref, args)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert _same(g, w), (args, got, want)


def test_forward_ops_module_is_current():
    """ad/forward_ops.py is the template's output (regenerate it with
    `python -m dprog.ad.fastforward > lang/dprog/ad/forward_ops.py`)."""
    assert Path(forward_ops.__file__).read_text() == fastforward.forward_ops_source()


def test_the_language_uses_the_forward_ops():
    assert ops.BINOPS["*"] is forward_ops.op_mul and ops.BINOPS["/"] is forward_ops.op_div


@pytest.mark.parametrize("sym", ["+", "-", "*", "/"])
def test_forward_ops_equal_the_reference(sym):
    fast = {"+": forward_ops.op_add, "-": forward_ops.op_sub, "*": forward_ops.op_mul,
            "/": forward_ops.op_div}[sym]
    ref = {"+": P.add, "-": P.sub, "*": P.mul, "/": P.div}[sym]
    for x, y in itertools.product(SCALARS, SCALARS):
        for tx, ty in itertools.product(TANGENTS, TANGENTS):
            for args in [((x, tx), (y, ty)), ((x, tx), y), (x, (y, ty))]:
                if type(args[0]) is tuple and type(args[0][0]) is int:
                    continue  # traced values hold floats
                if type(args[1]) is tuple and type(args[1][0]) is int:
                    continue
                _check(fast, ref, args)
                _check(ref, ref, args)  # the primitive layer's own fast paths


@pytest.mark.parametrize("sym", ["+", "-", "*", "@"])
def test_small_array_fast_path_equals_the_reference(sym):
    op = {"+": P.add, "-": P.sub, "*": P.mul, "@": P.matmul}[sym]
    rng = np.random.default_rng(0)
    v = rng.standard_normal(3)
    m = rng.standard_normal((3, 3))
    cases = [v, m, np.array([0.0, INF, 1.0]), np.array([NAN, 1.0, 2.0]), 2.5, 0.0]
    for x, y in itertools.product(cases, cases):
        if sym == "@" and (np.ndim(x) == 0 or np.ndim(y) == 0):
            continue
        for tx, ty in [(np.ones_like(x) if np.ndim(x) else 1.0,
                        np.zeros_like(y) if np.ndim(y) else 0.0),
                       (np.full_like(x, INF) if np.ndim(x) else INF,
                        np.full_like(y, 2.0) if np.ndim(y) else 2.0)]:
            for args in [((x, tx), (y, ty)), ((x, tx), y), (x, (y, ty))]:
                _check(op, op, args)
    # a broadcast tangent, a shape mismatch, a (3, 1) against a (1, 3)
    _check(op, op, [(v[:, None], np.ones((3, 1))), v[None, :]])
    _check(op, op, [(v, np.ones(3)), np.ones(4)])


def test_getitem_and_literal_fast_paths_equal_the_reference():
    v, m = np.array([1.0, -2.0, 3.0]), np.arange(6.0).reshape(2, 3)
    for x in (v, m):
        for idx in [(0,), (-1,), (1,), (5,), (-4,), (0, 1), (slice(None),)]:
            if len(idx) > x.ndim:
                continue
            _check(lambda a, idx=idx: P.getitem(a, idx), lambda a, idx=idx: P.getitem(a, idx),
                   [(x, x * 0.5)])
    lit = P.array_literal
    for args in [[(1.0, 2.0), 3.0, (4.0, 0.5)], [2.0, (1.0, INF)], [(1.0, 1.0), 2]]:
        _check(lambda *xs: lit(xs), lambda *xs: lit(xs), args)
    _check(lambda *xs: lit(xs), lambda *xs: lit(xs), [(v, v), v])
    _check(lambda *xs: lit(xs), lambda *xs: lit(xs), [(v, v), np.ones(2)])  # shape error


PROGRAM = """
fn f(s) { return A @ s + B @ (s * [s[1], s[2], s[0]]) }
fn g(x, y) { return [x * y, x / y, x - 2 * y, 3 + x] }
fn h(s) { return sum(f(s) * [s[0], 1.0, s[2] / 2]) }
"""


@pytest.mark.parametrize("engines", ["fast", "reference"])
def test_array_literals_of_traced_elements(engines):
    """jvp, grad, jacfwd, vmap and hessian through array literals of traced elements."""
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    s = np.array([0.3, -1.2, 2.0])
    it = dprog.Interpreter()
    it.exec(PROGRAM, globals={"A": A, "B": B})

    def f(s):
        return A @ s + B @ (s * s[[1, 2, 0]])

    def jac(s):  # by hand
        perm = np.eye(3)[[1, 2, 0]]
        return A + B @ (np.diag(s[[1, 2, 0]]) + np.diag(s) @ perm)

    t = np.array([1.0, 0.5, -2.0])
    ctx = reference_engines() if engines == "reference" else _nothing()
    with ctx:
        it.exec("let jv = jvp(f, (s0,), (t0,))\nlet J = jacfwd(f)(s0)\nlet Jr = jacrev(f)(s0)\n"
                "let V = vmap(f)(S)\nlet H = hessian(h)(s0)\nlet gg = grad(h)(s0)\n"
                "let jg = jvp(fn(x, y) => g(x, y), (1.5, 0.5), (1.0, -1.0))",
                globals={"s0": s, "t0": t, "S": np.stack([s, 2 * s])})
    np.testing.assert_allclose(it["jv"][0], f(s), rtol=1e-14)
    np.testing.assert_allclose(it["jv"][1], jac(s) @ t, rtol=1e-13)
    np.testing.assert_allclose(it["J"], jac(s), rtol=1e-13)
    np.testing.assert_allclose(it["Jr"], jac(s), rtol=1e-13)
    np.testing.assert_allclose(it["V"], np.stack([f(s), f(2 * s)]), rtol=1e-14)
    assert np.shape(it["H"]) == (3, 3)
    np.testing.assert_allclose(it["H"], np.asarray(it["H"]).T, atol=1e-12)
    x, y = 1.5, 0.5
    np.testing.assert_allclose(it["jg"][0], [x * y, x / y, x - 2 * y, 3 + x])
    np.testing.assert_allclose(it["jg"][1], [y - x, 1 / y + x / y**2, 3.0, 1.0])


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_nested_jvp_of_floats_uses_the_outer_tangents():
    """jvp of jvp: the inner tangents are the outer trace's values (the fast paths step
    aside), and the mixed second derivative comes out."""
    def f(x, y):
        return P.mul(P.mul(x, y), P.sub(x, y))  # x^2 y - x y^2

    def inner(x):
        return jvp_call(lambda y: forward_ops.op_mul(forward_ops.op_mul(x, y),
                                                      forward_ops.op_sub(x, y)),
                        (0.75,), (1.0,))[1]
    for ctx in (_nothing(), reference_engines()):
        with ctx:
            d = jvp_call(inner, (2.0,), (1.0,))[1]  # d/dx d/dy = 2x - 2y
            assert d == pytest.approx(2 * 2.0 - 2 * 0.75)
            assert jvp_call(f, (2.0, 0.75), (1.0, 0.0))[1] == pytest.approx(
                2 * 2.0 * 0.75 - 0.75**2)


def _run_batched(trace, fn, args):
    """fn on args, where an (x, t) pair is a Dual of the batched `trace`."""
    vals = [Dual(trace, x[0], x[1]) if type(x) is tuple else x for x in args]
    with np.errstate(all="ignore"):
        r = fn(*vals)
    return (r.primal, r.tangent) if type(r) is Dual and r._trace is trace else (r, None)


@pytest.mark.parametrize("op", [P.add, P.sub, P.mul, P.safe_mul, P.div, P.matmul])
def test_batched_binary_fast_paths_equal_the_reference(op):
    """jacfwd's batched `+ - * /` and matmul of two Duals (the product rule adding its
    second term into the first, `_binary` for matmul) give the reference engine's values
    and leave the operands' tangents as they were, a factor of ones (whose product is
    the other factor itself) included."""
    rng = np.random.default_rng(1)
    n = 5
    shapes = [(n, 70), (n, 70)] if op is not P.matmul else [(n, 6, 70), (n, 70)]
    x = rng.standard_normal(shapes[0][1:])
    y = rng.standard_normal(70) + 3.0
    for tx, ty, py in [(rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1]), y),
                       (rng.standard_normal(shapes[0]), np.ones(shapes[1]), np.ones(70)),
                       (np.ones(shapes[0]), rng.standard_normal(shapes[1]), y)]:
        before = (tx.copy(), ty.copy())
        for args in [((x, tx), (py, ty)), ((x, tx), py), (x, (py, ty))]:
            got = _run_batched(FastForwardTrace(n), op, args)
            want = _run_batched(ForwardTrace(n), op, args)
            for g, w in zip(got, want):
                assert _same(g, w), (op, args)
        assert _same(tx, before[0]) and _same(ty, before[1])
