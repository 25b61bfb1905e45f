"""NumPy's indexing in dprog (issue 12): every reading form and every update form
against NumPy's values, the errors, value semantics of in-place updates, derivatives
of gathers, masks and updates (both modes, second order, both engines), and the tape
memory of an update loop."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ad_properties import SHAPE1, _index_strategy

import dprog
from dprog.ad.engines import reference_engines
from dprog.core.errors import DpError
from dprog.prims import primitives as P
from dprog.prims.indexing import _front_advanced

X = np.arange(24.0).reshape(2, 3, 4)
V = np.array([3.0, -1.0, 4.0, 1.5, -5.0, 9.0])


def _eval(expr: str, **env):
    it = dprog.Interpreter(stdout=io.StringIO())
    return it.eval(expr, {"X": X, "v": V, **env})


def _run(src: str, result: str, **env):
    it = dprog.Interpreter(stdout=io.StringIO())
    it.exec(src, {"X": X.copy(), "v": V.copy(), **env})
    return it.eval(result)


READS = [
    ("v[[0, 2]]", lambda: V[[0, 2]]),
    ("v[[-1, 0, 0]]", lambda: V[[-1, 0, 0]]),
    ("v[floor(abs(v)) % 6]", lambda: V[(np.floor(np.abs(V)) % 6).astype(int)]),
    ("v[randint(0, 6, 100)]", None),
    ("v[v > 1]", lambda: V[V > 1]),
    ("v[[[0, 1], [5, 5]]]", lambda: V[np.array([[0, 1], [5, 5]])]),
    ("X[[1, 0]]", lambda: X[[1, 0]]),
    ("X[:, [2, 0]]", lambda: X[:, [2, 0]]),
    ("X[:, [0, 2], [1, 3]]", lambda: X[:, [0, 2], [1, 3]]),
    ("X[[1, 0], :, [3, 1]]", lambda: X[[1, 0], :, [3, 1]]),   # separated: first
    ("X[0, :, [1, 2]]", lambda: X[0, :, [1, 2]]),             # an int counts as advanced
    ("X[[0, 1], 1:3, 2]", lambda: X[[0, 1], 1:3, 2]),
    ("X[X > 10]", lambda: X[X > 10]),
    ("X[X[:, 0, 0] > 5]", lambda: X[X[:, 0, 0] > 5]),
    ("X[:, X[0, :, 0] > 3]", lambda: X[:, X[0, :, 0] > 3]),
    ("X[1, X[0] > 6]", lambda: X[1, X[0] > 6]),
    ("X[none]", lambda: X[None]),
    ("X[:, none, 1]", lambda: X[:, None, 1]),
    ("X[[0, 1], none, [1, 2]]", lambda: X[[0, 1], None, [1, 2]]),
    ("X[..., 1]", lambda: X[..., 1]),
    ("X[0, ...]", lambda: X[0, ...]),
    ("X[..., none]", lambda: X[..., None]),
    ("X[1, ..., [0, 3]]", lambda: X[1, ..., [0, 3]]),
    ("X[::-1, ::-2, 1]", lambda: X[::-1, ::-2, 1]),
    ("X[[0, 1], [2, 0], [3, 3]]", lambda: X[[0, 1], [2, 0], [3, 3]]),
    ("X[[[0], [1]], 0, [1, 2]]", lambda: X[[[0], [1]], 0, [1, 2]]),  # broadcast index arrays
]


@pytest.mark.parametrize("expr,want", READS, ids=[r[0] for r in READS])
def test_reading_matches_numpy(expr, want):
    got = _eval(expr)
    if want is None:  # a random gather: its values are entries of v, its shape (100,)
        assert np.shape(got) == (100,) and np.isin(got, V).all()
        return
    w = want()
    assert np.shape(got) == w.shape
    np.testing.assert_array_equal(got, w)


@settings(max_examples=200, deadline=None, database=None)
@given(st.data())
def test_region_shape_is_numpys(data):
    """The shape rules the batched derivative rules rely on, for random canonical
    indices (the property tests' strategy: ints, slices, None, index arrays)."""
    s = data.draw(SHAPE1)
    idx = data.draw(_index_strategy(s))
    assert P.region_shape(s, idx) == np.zeros(s)[idx].shape
    for nb in (1, 2):
        want = np.zeros((2, 3)[:nb] + s)[(slice(None),) * nb + idx].shape
        k = _front_advanced(idx)
        got = P.region_shape((2, 3)[:nb] + s, (slice(None),) * nb + idx)
        assert got == want
        if k:  # the batch axes land behind the k gathered ones: what the rules undo
            assert want[k:k + nb] == (2, 3)[:nb]


def _add_at(a, idx, v):
    a = a.copy()
    np.add.at(a, idx, v)
    return a


def _set(a, idx, v):
    a = a.copy()
    a[idx] = v
    return a


M = V > 1
UPDATES = [
    ("a[[1, 3]] = [5, 6]", V, lambda: _set(V, [1, 3], [5, 6])),
    ("a[a > 1] = 0", V, lambda: _set(V, V > 1, 0)),
    ("a[a > 1] = a[a > 1] * 2", V, lambda: _set(V, M, V[M] * 2)),
    ("a[[1, 1, 2]] += 1", V, lambda: _add_at(V, [1, 1, 2], 1)),
    ("a[[1, 1, 4]] -= [1, 2, 3]", V, lambda: _add_at(V, [1, 1, 4], -np.array([1., 2., 3.]))),
    ("a[floor(abs(v)) % 3] += v", V,
     lambda: _add_at(V, (np.floor(np.abs(V)) % 3).astype(int), V)),
    ("a[2] += 1", V, lambda: _add_at(V, 2, 1)),
    ("a[::-2] = 0", V, lambda: _set(V, slice(None, None, -2), 0)),
    ("a[:, [0, 2]] = 1", X, lambda: _set(X, (slice(None), [0, 2]), 1)),
    ("a[a > 12] += 100", X, lambda: _add_at(X, X > 12, 100)),
    ("a[..., 0] = 7", X, lambda: _set(X, (Ellipsis, 0), 7)),
    ("a[[0, 1], [1, 2]] += [[1], [2]]", X,
     lambda: _add_at(X, ([0, 1], [1, 2]), np.array([[1.], [2.]]))),
    ("a[[0, 0], :, [1, 1]] += [1, 2, 3]", X,
     lambda: _add_at(X, ([0, 0], slice(None), [1, 1]), np.array([1., 2., 3.]))),
    ("a[none, 1] = 5", X, lambda: _set(X, (None, 1), 5)),
]


@pytest.mark.parametrize("stmt,start,want", UPDATES, ids=[u[0] for u in UPDATES])
def test_updates_match_numpy(stmt, start, want):
    got = _run(f"let a = A\n{stmt}", "a", A=start.copy())
    np.testing.assert_array_equal(got, want())


@pytest.mark.parametrize("stmt,start,want", UPDATES[:6], ids=[u[0] for u in UPDATES[:6]])
def test_updates_inside_a_function_match_numpy(stmt, start, want):
    """A function's own array (updated in place) gives the same values."""
    got = _run(f"fn f(b) {{ let a = zeros(len(b)) + b\n{stmt}\nreturn a }}\nlet r = f(A)",
               "r", A=start.copy())
    np.testing.assert_array_equal(got, want())


def test_plain_assignment_with_repeated_indices_keeps_one_value():
    got = _run("let a = zeros(3)\na[[1, 1]] = [5, 6]", "a")
    assert got[0] == 0 and got[2] == 0 and got[1] in (5.0, 6.0)


ERRORS = [
    ("v[[0, 1.5]]", "must hold whole numbers, but its entry at 1 is 1.5"),
    ("v[[0, 9]]", "index 9 (entry 1 of the index array) is out of range for axis 0 with size 6"),
    ("v[[0, -7]]", "index -7"),
    ("X[:, X[0, 0] > 1]", "boolean mask of shape (4,) does not match axis 1"),
    ("X[..., 0, ...]", "only one `...`"),
    ("X[[0, 1], [0, 1, 2]]", "do not broadcast together"),
    ("v[0, 0]", "too many indices"),
    ("X[X > 1, 0]", "too many indices"),
    ("v[[0, nan]]", "whole numbers"),
    ("v[1e300 * [1]]", "out of range"),
    ("(1, 2)[[0]]", "one integer index or slice"),
]


@pytest.mark.parametrize("expr,msg", ERRORS, ids=[e[0] for e in ERRORS])
def test_index_errors_name_the_offending_entry(expr, msg):
    with pytest.raises(DpError) as info:
        _eval(expr)
    err = info.value
    assert msg in err.message
    assert err.span is not None and err.hint


def test_update_errors():
    with pytest.raises(DpError, match="cannot put a value of shape"):
        _run("let a = zeros(4)\na[[0, 1]] = [1, 2, 3]", "a")
    with pytest.raises(DpError, match="whole numbers"):
        _run("let a = zeros(4)\na[[0.5]] += 1", "a")


def test_updates_never_change_another_holder():
    """In-place writing is invisible: every other holder keeps the old array."""
    src = """
    let a = zeros(3)
    let b = a
    a[0] = 1
    let r = {w: zeros(2)}
    let r2 = r
    r.w[1] = 5
    fn g(x) { x[0] = 9; return x }
    let c = [1, 2, 3]
    let d = g(c)
    let e = zeros(2, 2)
    let row = e[0]
    e[0, 0] = 4
    let t = (a, 1)
    a[1] = 2
    """
    it = dprog.Interpreter(stdout=io.StringIO())
    host = np.zeros(3)
    it.exec(src + "\nlet h = H\nh[0] = 1", {"H": host})
    np.testing.assert_array_equal(it.eval("b"), [0, 0, 0])
    np.testing.assert_array_equal(it.eval("r2.w"), [0, 0])
    np.testing.assert_array_equal(it.eval("r.w"), [0, 5])
    np.testing.assert_array_equal(it.eval("c"), [1, 2, 3])
    np.testing.assert_array_equal(it.eval("d"), [9, 2, 3])
    np.testing.assert_array_equal(it.eval("row"), [0, 0])
    np.testing.assert_array_equal(it.eval("t[0]"), [1, 0, 0])
    np.testing.assert_array_equal(host, [0, 0, 0])
    np.testing.assert_array_equal(it.eval("h"), [1, 0, 0])


def test_augmented_update_evaluates_its_index_once():
    src = "let n = 0\nfn i() { n += 1; return [1, 1] }\nlet a = zeros(3)\na[i()] += 1"
    assert _run(src, "n") == 1
    np.testing.assert_array_equal(_run(src, "a"), [0, 2, 0])


# ============================================================ derivatives
# f(x) for x of shape (6,), each using one indexing form; both modes, second order
DIFF = [
    "sum(sin(x[[0, 2, 2, 5]]) * [1, 2, 3, 4])",
    "sum(x[floor(abs(c)) % 6][0:5] ** 2)",
    "sum(x[x > 0.5] ** 3)",
    "sum(reshape(x, (2, 3))[[1, 0, 1], [2, 2, 0]] ** 2)",
    "sum(reshape(x, (2, 3))[:, none, [0, 2]] * reshape(x, (2, 3))[[1], none, 1:3])",
    "sum(reshape(x, (2, 3))[..., [1]] ** 2)",
    "upd(x)",
    "acc(x)",
    "masked(x)",
]
PRELUDE = """
let c = [0.3, -1, 2, 0.1, 5, -3]
fn upd(x) { let a = zeros(6); a[[1, 3]] = x[[0, 1]] ** 2; a[[5]] = x[2] * x[3]
            return sum(sin(a) * x) }
fn acc(x) { let a = x * 1; a[[1, 1, 4]] += x[[2, 3, 0]] ** 2; a[0] -= x[5] * x[1]
            return sum(a * a) }
fn masked(x) { let a = x * x; a[c > 0] = sin(x[c > 0]); a[c < 0] += x[0:2]; return sum(a * x) }
"""


def _fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        g[j] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("body", DIFF)
@pytest.mark.parametrize("engines", ["fast", "reference"])
def test_derivatives_of_indexing(body, engines):
    it = dprog.Interpreter(stdout=io.StringIO())
    it.exec(PRELUDE + f"fn f(x) {{ return {body} }}")
    x0 = np.array([0.7, -0.4, 1.1, 0.9, -1.3, 0.2])
    with reference_engines() if engines == "reference" else _nothing():
        f = lambda x: it.eval("f(x)", {"x": x})  # noqa: E731
        g_rev = it.eval("grad(f)(x)", {"x": x0})
        g_fwd = it.eval("jacfwd(f)(x)", {"x": x0})
        hess = it.eval("hessian(f)(x)", {"x": x0})
        h_rr = it.eval("jacrev(grad(f))(x)", {"x": x0})
        np.testing.assert_allclose(g_rev, _fd_grad(f, x0), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(g_fwd, g_rev, rtol=1e-12, atol=1e-12)
        gf = lambda x: it.eval("grad(f)(x)", {"x": x})  # noqa: E731
        fd_h = np.stack([_fd_grad(lambda x, k=k: gf(x)[k], x0) for k in range(6)])
        np.testing.assert_allclose(hess, fd_h, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(h_rr, hess, rtol=1e-12, atol=1e-12)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_gradient_does_not_change_the_argument():
    it = dprog.Interpreter(stdout=io.StringIO())
    it.exec("fn f(x) { x[0] = 0; x[[1, 1]] += 2 * x[2]; return sum(x * x) }")
    x = np.array([1.0, 2.0, 3.0])
    g = it.eval("grad(f)(x)", {"x": x})
    np.testing.assert_array_equal(x, [1, 2, 3])
    # f = (2 + 12)^2... : a1 = x1 + 4 x2, f = a1^2 + x2^2
    np.testing.assert_allclose(g, [0, 2 * (2 + 12), 2 * 3 + 8 * (2 + 12)])


# ============================================================ tape memory
_LOOP = """
import sys, time
import dprog
it = dprog.Interpreter()
it.exec("fn f(x) {{ let a = zeros({n}); for i in range({n}) {{ a[i] = x * i }}; return sum(a) }}")
t = time.perf_counter()
g = it.eval("grad(f)(1.5)") if {n} else 0.0
# VmHWM: this process's peak resident memory (ru_maxrss would also count the test
# runner's, which Linux carries over into the child across exec)
peak = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM"))
print(peak, time.perf_counter() - t, g)
"""


def _peak_kb(n: int) -> tuple[int, float, float]:
    r = subprocess.run([sys.executable, "-c", _LOOP.format(n=n)], capture_output=True,
                       text=True, timeout=300, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    kb, secs, g = r.stdout.split()
    return int(kb), float(secs), float(g)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_update_loop_under_grad_is_linear_in_memory():
    base, _, _ = _peak_kb(0)
    small, _, g1 = _peak_kb(10_000)
    big, _, g4 = _peak_kb(40_000)
    assert g1 == sum(range(10_000)) and g4 == sum(range(40_000))
    assert big < 200 * 1024, f"peak {big} KB at n=40000"
    # linear: 4x the steps, at most ~4x the memory above start-up (quadratic: ~16x)
    assert big - base < 6 * max(small - base, 2048), (base, small, big)


def test_in_place_updates_never_change_a_shared_tangent_or_primal():
    """An addition's tangent may be its operand's very array; writing the update's
    tangent in place must then not reach the other value (forward and reverse)."""
    it = dprog.Interpreter(stdout=io.StringIO())
    it.exec("""
    fn f(x) { let a = x * ones(3); let b = a + 0; a[0] = 5; a[[1, 1]] += x
              return sum(a) + sum(b * x) }
    fn g(x) { let a = x * ones(3); let b = a; a[1] = 0; return sum(a * b) }
    """)
    x = 1.5  # a = [5, 3x, x]: f = 5 + 4x + 3x^2; g = 2x^2
    for expr in ("derivative(f)(x)", "grad(f)(x)", "jacfwd(f)(x)"):
        assert it.eval(expr, {"x": x}) == pytest.approx(4 + 6 * x, rel=1e-14)
    assert it.eval("hessian(f)(x)", {"x": x}) == pytest.approx(6.0, rel=1e-14)
    for expr in ("derivative(g)(x)", "grad(g)(x)"):
        assert it.eval(expr, {"x": x}) == pytest.approx(4 * x, rel=1e-14)


def test_python_code_indexes_traced_arrays_the_same_way():
    """Host code differentiated by dprog.grad indexes its traced arrays like NumPy."""
    def f(x):
        return sum(x[np.array([0, 0, 2])] * x[x > 1.5][0]) + x[None, ...][0, [1, 1, 1]][0]
    x = np.array([1.0, 2.0, 3.0])  # f = (2 x0 + x2) x1 + x1
    np.testing.assert_allclose(dprog.grad(f)(x), [2 * x[1], 2 * x[0] + x[2] + 1, x[1]])
    with pytest.raises(DpError, match="whole numbers"):
        dprog.grad(lambda x: x[np.array([0.5])][0])(x)


def test_in_place_updates_keep_defaults_and_iteration_intact():
    src = """
    fn f(a = zeros(3)) { a[0] = a[0] + 1; return a }
    let r1 = f()
    let r2 = f()
    let A = [[1, 2], [3, 4]]
    for row in A { A[0, 0] = A[0, 0] + row[0]; A[1] = 0 }
    let v = [1, 2, 3]
    for x in v { v[0] = v[0] + x; v[2] = 0 }
    """
    it = dprog.Interpreter(stdout=io.StringIO())
    it.exec(src)
    np.testing.assert_array_equal(it.eval("r2"), [1, 0, 0])
    np.testing.assert_array_equal(it.eval("A"), [[5, 2], [0, 0]])  # rows of the old A
    np.testing.assert_array_equal(it.eval("v"), [7, 2, 0])


def test_accumulate_broadcasts_the_value_over_every_repeated_index():
    """np.add.at in NumPy 2.4 adds a value broadcast along the index's leading axes once;
    dprog broadcasts it first, so every index of the region receives its part."""
    it = dprog.Interpreter()
    got = it.eval("(fn() { let y = [0.3]; y[[[0, 0], [0, 0]]] += [0.5, -0.7]; return y })()")
    np.testing.assert_allclose(got, [0.3 + 2 * (0.5 - 0.7)])
    got = it.eval("(fn() { let y = zeros(3); y[[[0, 1], [0, 1]]] += [1.0, 10.0]; return y })()")
    np.testing.assert_allclose(got, [2.0, 20.0, 0.0])
