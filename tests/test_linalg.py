"""Products and linear algebra (issue 13) against NumPy and SciPy: values on matrices
and stacks, the decisions at the awkward points (repeated eigenvalues, zero singular
values, pinv at a rank change, cholesky of a matrix that is not positive definite),
and the errors for bad arguments. The derivative rules themselves are checked in
test_ad_properties.py."""

from __future__ import annotations

import io
import textwrap

import numpy as np
import pytest
import scipy.linalg as sl

import dprog
from dprog.ad.transforms import jvp_call, value_and_grad_call
from dprog.lib import builtins as B
from dprog.prims import primitives as P

RNG = np.random.default_rng(7)


def bi(name):
    return B._IMPLS[name][0]


def grad(f, x):
    return value_and_grad_call(f, (x,), {}, 0)[1]


def spd(*shape):
    """A symmetric positive-definite stack of shape (*batch, n, n), for shape (*batch, n)."""
    n = shape[-1]
    u = RNG.standard_normal(shape + (n,))
    return u @ np.swapaxes(u, -1, -2) + n * np.eye(n)


def error_of(src: str) -> dprog.DpError:
    interp = dprog.Interpreter(stdout=io.StringIO())
    with pytest.raises(dprog.DpError) as info:
        interp.exec(textwrap.dedent(src), name="t.dp")
    return info.value


def run(src: str) -> str:
    out = io.StringIO()
    dprog.Interpreter(stdout=out).exec(textwrap.dedent(src), name="t.dp")
    return out.getvalue()


# ==================================================================== products
@pytest.mark.parametrize("subs,shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]),
    ("...ij,...jk", [(2, 2, 3), (3, 4)]), ("i,i", [(3,), (3,)]), ("ij->", [(2, 3)]),
    ("bij,bjk,bkl->bil", [(2, 2, 3), (2, 3, 2), (2, 2, 2)]), ("i...->...", [(2, 3, 4)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]), (" i j , j k -> i k ", [(2, 3), (3, 4)]),
    ("ji", [(2, 3)]), ("iij->ji", [(2, 2, 3)]),
])
def test_einsum_matches_numpy(subs, shapes):
    ops = [RNG.standard_normal(s) for s in shapes]
    np.testing.assert_allclose(bi("einsum")(subs, *ops), np.einsum(subs, *ops), rtol=1e-12)


def test_products_match_numpy():
    a, b = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((3, 4, 5))
    np.testing.assert_allclose(bi("tensordot")(a, b), np.tensordot(a, b), rtol=1e-12)
    e = RNG.standard_normal((4, 2, 5))
    np.testing.assert_allclose(bi("tensordot")(a, e, axes=((0, 2), (1, 0))),
                               np.tensordot(a, e, axes=((0, 2), (1, 0))), rtol=1e-12)
    c, d = RNG.standard_normal((2, 4)), RNG.standard_normal((3, 4))
    np.testing.assert_allclose(bi("inner")(c, d), np.inner(c, d), rtol=1e-12)
    np.testing.assert_allclose(bi("inner")(2.0, d), np.inner(2.0, d), rtol=1e-12)
    for sa, sb in [((2, 3), (3, 2)), ((3,), (2, 2)), ((2, 1, 2), (3,))]:
        x, y = RNG.standard_normal(sa), RNG.standard_normal(sb)
        np.testing.assert_allclose(bi("kron")(x, y), np.kron(x, y), rtol=1e-12)
    u, v = RNG.standard_normal((4, 3)), RNG.standard_normal(3)
    np.testing.assert_allclose(bi("cross")(u, v), np.cross(u, v), rtol=1e-12)
    w = RNG.standard_normal((3, 4))
    np.testing.assert_allclose(bi("cross")(w, w[::-1], axis=0), np.cross(w, w[::-1], axis=0),
                               rtol=1e-12)


# ============================================================ decompositions
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_decompositions_match_numpy(batch):
    a = spd(*batch, 4)
    np.testing.assert_allclose(bi("cholesky")(a), np.linalg.cholesky(a), rtol=1e-12)
    np.testing.assert_allclose(bi("cholesky")(a, upper=True),
                               np.swapaxes(np.linalg.cholesky(a), -1, -2), rtol=1e-12)
    w, v = bi("eigh")(a)
    nw, nv = np.linalg.eigh(a)
    np.testing.assert_allclose(w, nw, rtol=1e-12)
    np.testing.assert_allclose(np.abs(v), np.abs(nv), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(bi("eigvalsh")(a), nw, rtol=1e-12)
    for m, n in [(5, 3), (3, 5), (4, 4)]:
        x = RNG.standard_normal(batch + (m, n))
        u, s, vt = bi("svd")(x)
        np.testing.assert_allclose(s, np.linalg.svd(x, compute_uv=False), rtol=1e-12)
        np.testing.assert_allclose(u @ (s[..., None] * vt), x, atol=1e-12)
        np.testing.assert_allclose(np.swapaxes(u, -1, -2) @ u, np.broadcast_to(
            np.eye(min(m, n)), batch + (min(m, n),) * 2), atol=1e-12)
        q, r = bi("qr")(x)
        nq, nr = np.linalg.qr(x)
        np.testing.assert_allclose(q, nq, atol=1e-12)
        np.testing.assert_allclose(r, nr, atol=1e-12)
        np.testing.assert_allclose(bi("qr")(x, mode="r"), nr, atol=1e-12)
        np.testing.assert_allclose(bi("pinv")(x), np.linalg.pinv(x), atol=1e-12)


@pytest.mark.parametrize("batch", [(), (3,)])
def test_solves_and_determinants_match_numpy_and_scipy(batch):
    a = spd(*batch, 4)
    b = RNG.standard_normal(batch + (4, 2))
    np.testing.assert_allclose(bi("solve")(a, b), np.linalg.solve(a, b), rtol=1e-10)
    np.testing.assert_allclose(bi("inv")(a), np.linalg.inv(a), rtol=1e-10)
    np.testing.assert_allclose(bi("det")(a), np.linalg.det(a), rtol=1e-10)
    sign, lad = bi("slogdet")(a - 3 * np.eye(4))
    ns, nl = np.linalg.slogdet(a - 3 * np.eye(4))
    np.testing.assert_allclose(sign, ns)
    np.testing.assert_allclose(lad, nl, rtol=1e-12)
    np.testing.assert_allclose(bi("logdet")(a), np.linalg.slogdet(a)[1], rtol=1e-12)
    np.testing.assert_allclose(bi("matrix_power")(a, 3), np.linalg.matrix_power(a, 3),
                               rtol=1e-10)
    np.testing.assert_allclose(bi("matrix_power")(a, -2), np.linalg.matrix_power(a, -2),
                               rtol=1e-10)
    np.testing.assert_allclose(bi("matrix_power")(a, 0), np.linalg.matrix_power(a, 0))
    np.testing.assert_allclose(bi("expm")(0.1 * a), sl.expm(0.1 * a), rtol=1e-12)
    c = np.linalg.cholesky(a)
    if not batch:
        for lower in (True, False):
            t = c if lower else c.T
            for trans in (0, 1):
                np.testing.assert_allclose(
                    bi("solve_triangular")(t, b, trans=trans, lower=lower),
                    sl.solve_triangular(t, b, trans=trans, lower=lower), rtol=1e-12)
            np.testing.assert_allclose(bi("cho_solve")((t, lower), b[:, 0]),
                                       sl.cho_solve((t, lower), b[:, 0]), rtol=1e-12)
        np.testing.assert_allclose(bi("solve_triangular")(c, b, lower=True, unit_diagonal=True),
                                   sl.solve_triangular(c, b, lower=True, unit_diagonal=True),
                                   rtol=1e-12)
    else:  # a stack against one SciPy call per matrix
        for k in range(batch[0]):
            np.testing.assert_allclose(bi("cho_solve")((c, True), b)[k],
                                       sl.cho_solve((c[k], True), b[k]), rtol=1e-12)


def test_lstsq_matches_numpy():
    for m, n, bs in [(6, 3, (6,)), (6, 3, (6, 2)), (3, 5, (3,)), (4, 4, (4, 2))]:
        a, b = RNG.standard_normal((m, n)), RNG.standard_normal(bs)
        x, res, rank, s = bi("lstsq")(a, b)
        nx, nres, nrank, ns = np.linalg.lstsq(a, b)
        np.testing.assert_allclose(x, nx, atol=1e-12)
        np.testing.assert_allclose(res, nres, rtol=1e-10)
        assert rank == nrank and np.shape(res) == np.shape(nres)
        np.testing.assert_allclose(s, ns, rtol=1e-12)


# ============================================================== derivatives
def test_det_gradient_is_the_cofactor_matrix_without_an_svd(monkeypatch):
    a = spd(3, 4)
    calls = []
    real_svd = np.linalg.svd
    monkeypatch.setattr(np.linalg, "svd", lambda *x, **k: calls.append(1) or real_svd(*x, **k))
    g = grad(lambda x: P.sum_(P.det(x)), a)
    np.testing.assert_allclose(g, np.linalg.det(a)[:, None, None]
                               * np.swapaxes(np.linalg.inv(a), -1, -2), rtol=1e-10)
    assert calls == []
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])  # the SVD path: still the cofactor matrix
    np.testing.assert_allclose(grad(P.det, singular), [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)


def test_logdet_and_cholesky_gradients_against_closed_forms():
    a = spd(4)
    np.testing.assert_allclose(grad(bi("logdet"), a), np.linalg.inv(a), rtol=1e-10)
    # cholesky reads the lower triangle: for symmetric perturbations the chain rule gives
    # d logdet = <inv(a), da>, via 2 sum(log(diag L))
    f = lambda x: P.mul(2.0, P.sum_(P.log(bi("diagonal")(bi("cholesky")(x)))))  # noqa: E731
    da = RNG.standard_normal((4, 4))
    da = da + da.T
    _, d = jvp_call(f, (a,), (da,))
    np.testing.assert_allclose(d, np.sum(np.linalg.inv(a) * da), rtol=1e-10)


def test_eigh_repeated_eigenvalues_give_finite_derivatives():
    """Decision: eigenvector derivatives drop the coupling between equal eigenvalues, so
    functions that do not depend on the basis chosen inside an eigenspace (eigenvalue
    sums, projectors) get their exact derivatives, and nothing is inf or nan."""
    a = np.diag([1.0, 1.0, 3.0])
    g = grad(lambda x: P.sum_(bi("eigvalsh")(x)), a)
    np.testing.assert_allclose(g, np.eye(3), atol=1e-12)  # d trace = I (lower triangle read)
    # projector onto the top eigenvector: smooth in a, derivative finite and exact
    da = np.zeros((3, 3))
    da[2, 0] = da[0, 2] = 1.0

    def proj(x):
        v = bi("eigh")(x)[1]
        top = P.getitem(v, (slice(None), slice(2, 3)))
        return P.matmul(top, P.transpose(top, (1, 0)))
    _, d = jvp_call(proj, (a,), (da,))
    h = 1e-6
    fd = (np.asarray(proj(a + h * da)) - np.asarray(proj(a - h * da))) / (2 * h)
    assert np.all(np.isfinite(d))
    np.testing.assert_allclose(d, fd, atol=1e-6)
    g2 = grad(lambda x: P.sum_(P.mul(bi("eigh")(x)[1], 1.0)), a)
    assert np.all(np.isfinite(g2))


def test_svd_zero_singular_values_give_finite_derivatives():
    """Decision: terms divided by a zero singular value are dropped. The singular values
    themselves keep the one-sided derivative diag(U^T dA V)."""
    a = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    u, s, vt = bi("svd")(a)
    g = grad(lambda x: P.sum_(bi("svd")(x, compute_uv=False)), a)
    np.testing.assert_allclose(g, u @ vt, atol=1e-12)
    g2 = grad(lambda x: P.sum_(bi("svd")(x)[0]), a)
    assert np.all(np.isfinite(g2))


def test_pinv_at_a_rank_change_differentiates_at_fixed_rank():
    """Decision: the derivative of pinv is that of the pseudo-inverse at the rank NumPy
    finds (singular values below rtol * max count as zero): exact along directions that
    keep the rank, finite (not the jump) across a rank change."""
    a = np.array([[1.0, 0.0], [0.0, 0.0]])
    keep = np.array([[1.0, 0.0], [0.0, 0.0]])        # stays rank one
    _, d = jvp_call(bi("pinv"), (a,), (keep,))
    np.testing.assert_allclose(d, [[-1.0, 0.0], [0.0, 0.0]], atol=1e-12)
    _, d2 = jvp_call(bi("pinv"), (a,), (np.array([[0.0, 0.0], [0.0, 1.0]]),))
    assert np.all(np.isfinite(d2))
    np.testing.assert_allclose(d2, 0.0, atol=1e-12)


def test_gp_likelihood_gradient_matches_hand_written():
    x = np.linspace(0, 1, 30)
    y = np.sin(6 * x)
    d2 = (x[:, None] - x[None, :]) ** 2

    def nll(theta):
        k = P.add(P.mul(P.exp(P.getitem(theta, (1,))), P.exp(P.div(P.mul(-0.5, d2), P.exp(
            P.mul(2.0, P.getitem(theta, (0,))))))), P.mul(P.exp(P.getitem(theta, (2,))),
                                                          np.eye(30)))
        c = bi("cholesky")(k)
        alpha = bi("cho_solve")((c, True), y)
        return P.add(P.mul(0.5, P.sum_(P.mul(y, alpha))),
                     P.sum_(P.log(bi("diagonal")(c))))
    th = np.array([np.log(0.3), 0.0, np.log(0.01)])
    g = grad(nll, th)
    ell2, sf2, sn2 = np.exp(2 * th[0]), np.exp(th[1]), np.exp(th[2])
    kse = sf2 * np.exp(-0.5 * d2 / ell2)
    k = kse + sn2 * np.eye(30)
    ki = np.linalg.inv(k)
    al = ki @ y
    w = np.outer(al, al) - ki
    want = [-0.5 * np.sum(w * kse * d2 / ell2), -0.5 * np.sum(w * kse), -0.5 * sn2 * np.trace(w)]
    np.testing.assert_allclose(g, want, rtol=1e-6)


def test_gp_likelihood_hessian_through_the_blocked_cholesky_gradient():
    """The bench program's gp_nll at n = 80 (two column blocks of cholesky_grad): its
    gradient as the hand-written one, its Hessian (through cholesky_grad's own rules) as
    finite differences of the hand-written gradient."""
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parent.parent / "bench"
    sys.path.insert(0, str(bench))
    try:
        import gp_limits as gpl
    finally:
        sys.path.remove(str(bench))
    d2, y = gpl.gp_data(80)
    interp = dprog.Interpreter(stdout=io.StringIO())
    interp.exec((bench / "programs" / "gp_nll.dp").read_text(encoding="utf-8"),
                globals={"argv": ("--lib",)})
    env = {"t": gpl.THETA, "D2": d2, "y": y}
    val, g = interp.eval("gp_grad(t, D2, y)", globals=env)
    want_val, want_g = gpl.gp_numpy_value_and_grad(gpl.THETA, d2, y)
    np.testing.assert_allclose(val, want_val, rtol=1e-10)
    np.testing.assert_allclose(g, want_g, rtol=1e-9)
    hess = interp.eval("hessian(gp_nll)(t, D2, y)", globals=env)
    h = 1e-5
    fd = np.stack([(gpl.gp_numpy_value_and_grad(gpl.THETA + h * e, d2, y)[1]
                    - gpl.gp_numpy_value_and_grad(gpl.THETA - h * e, d2, y)[1]) / (2 * h)
                   for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(hess, fd, rtol=1e-6, atol=1e-6)


# =================================================================== errors
@pytest.mark.parametrize("src,kind,words", [
    ("cholesky([[1.0, 2.0], [2.0, 1.0]])", "value", "`cholesky`: the matrix is not positive"),
    ("cholesky([1.0, 2.0])", "shape", "`cholesky` needs a square matrix"),
    ("cholesky(ones(2, 3))", "shape", "`cholesky` needs a square matrix"),
    ("eigh(ones(2, 3))", "shape", "`eigh` needs a square matrix"),
    ("svd([1.0, 2.0])", "shape", "`svd` needs a matrix"),
    ("svd(ones(2, 3), full_matrices=true)", "value", "full_matrices=true"),
    ("qr(ones(3, 2), mode=\"full\")", "value", "mode must be"),
    ("solve(ones(2, 3), [1.0, 2.0])", "shape", "`solve` needs a square matrix"),
    ("solve(eye(2), [1.0, 2.0, 3.0])", "shape", "shape mismatch in `solve`"),
    ("solve(zeros(2, 2), [1.0, 2.0])", "value", "singular"),
    ("inv(ones(2, 2, 3))", "shape", "`inv` needs a square matrix"),
    ("solve_triangular(eye(2), [1.0, 2.0, 3.0])", "shape", "shape mismatch in `solve_triangular`"),
    ("cho_solve(eye(2), [1.0, 2.0])", "type", "pair (c, lower)"),
    ("einsum(\"ij,jk\", eye(2))", "value", "2 operand subscripts for 1 operands"),
    ("einsum(\"ij->ik\", eye(2))", "value", "output label 'k'"),
    ("einsum(\"i\", eye(2))", "value", "1 labels for an operand with 2 dimensions"),
    ("einsum(\"ij,jk\", ones(2, 3), ones(2, 3))", "shape", "shape mismatch in `einsum`"),
    ("einsum(3, eye(2))", "type", "subscripts must be a string"),
    ("tensordot(ones(2, 3), ones(2, 3), axes=1)", "shape", "shape mismatch in `tensordot`"),
    ("cross([1.0, 2.0], [3.0, 4.0])", "shape", "vectors of length 3"),
    ("matrix_power(eye(2), 1.5)", "type", "n must be an integer"),
    ("logdet(ones(3))", "shape", "`logdet` needs a square matrix"),
    ("lstsq(ones(3, 2), ones(2))", "shape", "shape mismatch in `lstsq`"),
    ("expm(ones(2, 3))", "shape", "`expm` needs a square matrix"),
])
def test_errors_are_dprog_reports(src, kind, words):
    err = error_of(f"let r = {src}")
    assert err.kind == kind, (err.kind, err.message)
    assert words in err.message, err.message
    assert err.line == 1 and err.column is not None


def test_cholesky_of_non_positive_definite_is_an_error_not_nan():
    err = error_of("let K = [[1.0, 2.0], [2.0, 1.0]]\nlet L = cholesky(K)")
    assert err.kind == "value" and err.line == 2 and "jitter" in (err.hint or "")


def test_programs_use_the_tuple_results():
    out = run("""\
        let A = [[4.0, 1.0], [1.0, 3.0]]
        let w, V = eigh(A)
        let U, s, Vh = svd(A)
        let sign, lad = slogdet(A)
        let Q, R = qr(A)
        print(round(sum(w) - trace(A), 12), round(sum(s * s) - sum(A * A), 10), sign)
        print(round(lad - log(det(A)), 12), round(sum(abs(Q @ R - A)), 12))
    """)
    assert out.split() == ["0.0", "0.0", "1.0", "0.0", "0.0"]


# ============================================================ issue 13's remaining gaps
def _cholesky_vjp_formula(c, g):
    """to_lower(L^-T Φ(L^T Ḡ) L^-1) in plain NumPy: the rule cholesky_grad implements."""
    n = c.shape[-1]
    low = np.tril(c)
    li = np.linalg.inv(low)
    phi = np.tri(n, n, -1) + 0.5 * np.eye(n)
    s = np.swapaxes(li, -1, -2) @ ((np.swapaxes(low, -1, -2) @ g) * phi) @ li
    return np.tril(s) + np.tril(np.swapaxes(s, -1, -2), -1)


@pytest.mark.parametrize("n", [1, 5, 63, 64, 65, 150])
def test_cholesky_grad_blocked_matches_the_formula(n):
    """The blocked algorithm (64 columns at a time) against the formula it implements,
    across block edges; what lies above the diagonal of L and of Ḡ is never read."""
    c = np.linalg.cholesky(spd(n)) + np.triu(RNG.standard_normal((n, n)), 1)
    g = RNG.standard_normal((n, n))
    np.testing.assert_allclose(P.cholesky_grad(c, g), _cholesky_vjp_formula(c, g),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(P.cholesky_grad(c, g), P.cholesky_grad(np.tril(c),
                                                                           np.tril(g)))


def test_cholesky_grad_on_stacks_and_broadcast():
    c = np.linalg.cholesky(spd(2, 3, 70))
    g = RNG.standard_normal((2, 3, 70, 70))
    want = _cholesky_vjp_formula(c, g)
    np.testing.assert_allclose(P.cholesky_grad(c, g), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(P.cholesky_grad(c[0, 1], g), _cholesky_vjp_formula(c[0, 1], g),
                               rtol=1e-10, atol=1e-12)


def test_cholesky_second_derivative_against_finite_differences():
    """grad(grad) through cholesky goes through cholesky_grad's own rules."""
    a0 = spd(6)
    w = RNG.standard_normal(6)

    def f(a):
        return P.sum_(P.mul(P.log(bi("diagonal")(bi("cholesky")(a))), w))

    def df_dir(a, da):
        return jvp_call(lambda x: value_and_grad_call(f, (x,), {}, 0)[1], (a,), (da,))[1]
    da = RNG.standard_normal((6, 6))
    da = da + da.T
    h = 1e-5
    fd = (grad(f, a0 + h * da) - grad(f, a0 - h * da)) / (2 * h)
    np.testing.assert_allclose(df_dir(a0, da), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("batch, n", [((40,), 3), ((5, 4), 6), ((3,), 8), ((2,), 5)])
def test_triangular_stacks_match_scipy(batch, n):
    """Stacks of at least n matrices are solved by one vectorised substitution (and
    multiplied and inverted likewise), fewer by one LAPACK call each: both as SciPy."""
    a = RNG.standard_normal(batch + (n, n)) + 3 * np.eye(n)
    b = RNG.standard_normal(batch + (n, 2))
    for lower in (True, False):
        tri = np.tril(a) if lower else np.triu(a)
        want = np.stack([sl.solve_triangular(a[i], b[i], lower=lower)
                         for i in np.ndindex(*batch)]).reshape(b.shape)
        np.testing.assert_allclose(P.solve_triangular(a, b, lower), want, rtol=1e-10)
        np.testing.assert_allclose(P.trimul(a, b, lower), tri @ b, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(P.tri_inv(a, lower), np.linalg.inv(tri), rtol=1e-10,
                                   atol=1e-12)
        for trans in (0, 1):
            got = bi("solve_triangular")(a, b, trans=trans, lower=lower)
            want = np.stack([sl.solve_triangular(a[i], b[i], trans=trans, lower=lower)
                             for i in np.ndindex(*batch)]).reshape(b.shape)
            np.testing.assert_allclose(got, want, rtol=1e-10)


def test_triangular_stack_is_not_a_python_loop(monkeypatch):
    """A stack of many small triangular systems makes no SciPy call per matrix."""
    import scipy.linalg

    calls = []
    real = scipy.linalg.solve_triangular
    monkeypatch.setattr(scipy.linalg, "solve_triangular",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    a = RNG.standard_normal((500, 4, 4)) + 3 * np.eye(4)
    b = RNG.standard_normal((500, 4, 1))
    x = P.solve_triangular(a, b, True)
    assert calls == []
    np.testing.assert_allclose(np.tril(a) @ x, b, atol=1e-12)
    with pytest.raises(dprog.DpValueError, match="singular"):
        a[7, 2, 2] = 0.0
        P.solve_triangular(a, b, True)


@pytest.mark.parametrize("batch", [(), (2, 3)])
def test_svd_and_pinv_hermitian_match_numpy(batch):
    a = RNG.standard_normal(batch + (5, 5))
    a = a + np.swapaxes(a, -1, -2)
    for got, want in zip(bi("svd")(a, hermitian=True), np.linalg.svd(a, hermitian=True)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bi("svd")(a, compute_uv=False, hermitian=True),
                               np.linalg.svd(a, compute_uv=False, hermitian=True), rtol=1e-12)
    np.testing.assert_allclose(bi("pinv")(a, hermitian=True), np.linalg.pinv(a, hermitian=True),
                               rtol=1e-10, atol=1e-12)
    # rank deficient: a zero eigenvalue gives a zero row of Vh, as NumPy
    v = RNG.standard_normal((5, 2))
    r = v @ v.T
    for got, want in zip(bi("svd")(r, hermitian=True), np.linalg.svd(r, hermitian=True)):
        np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(bi("pinv")(r, hermitian=True), np.linalg.pinv(r, hermitian=True),
                               atol=1e-12)


def test_hermitian_reads_the_lower_triangle_and_differentiates():
    b = np.tril(RNG.standard_normal((4, 4))) + 4 * np.eye(4)
    sym = b + np.tril(b, -1).T
    np.testing.assert_allclose(bi("pinv")(b, hermitian=True), np.linalg.pinv(b, hermitian=True),
                               atol=1e-12)
    np.testing.assert_allclose(bi("pinv")(b, hermitian=True), np.linalg.inv(sym), atol=1e-12)
    w = RNG.standard_normal((4, 4))

    def f(x):
        return P.sum_(P.mul(bi("pinv")(x, hermitian=True), w))

    def f_np(x):
        return np.sum(np.linalg.pinv(np.tril(x) + np.tril(x, -1).T) * w)
    fd = np.zeros((4, 4))
    for i, j in np.ndindex(4, 4):
        e = np.zeros((4, 4))
        e[i, j] = 1e-6
        fd[i, j] = (f_np(sym + e) - f_np(sym - e)) / 2e-6
    np.testing.assert_allclose(grad(f, sym), fd, rtol=1e-6, atol=1e-7)
    s_of = lambda x: P.sum_(P.mul(bi("svd")(x, compute_uv=False, hermitian=True), w[0]))  # noqa: E731
    fd_s = np.zeros((4, 4))
    for i, j in np.ndindex(4, 4):
        e = np.zeros((4, 4))
        e[i, j] = 1e-6
        fd_s[i, j] = (np.sum(np.linalg.svd(np.tril(sym + e) + np.tril(sym + e, -1).T,
                                            compute_uv=False) * w[0])
                      - np.sum(np.linalg.svd(np.tril(sym - e) + np.tril(sym - e, -1).T,
                                             compute_uv=False) * w[0])) / 2e-6
    np.testing.assert_allclose(grad(s_of, sym), fd_s, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("src, words", [
    ("svd(ones((2, 3)), hermitian=true)", "hermitian=true needs a square matrix"),
    ("pinv(ones((2, 3)), hermitian=true)", "hermitian=true needs a square matrix"),
    ("svd(eye(2), hermitian=1)", "hermitian must be true or false"),
])
def test_hermitian_errors(src, words):
    assert words in str(error_of(src))
