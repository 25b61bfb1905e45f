"""Matrix decompositions and the triangular solve they are differentiated with:
`solve_triangular`, `cholesky`, `eigh`, `svd` and `qr`, each on a matrix or a stack
of matrices (leading batch axes, as NumPy).

A primitive has one output, so a decomposition with several factors returns them
packed into one array along the second-to-last axis (eigh: the row of eigenvalues
above the eigenvectors; svd: U, s, V^T; qr: Q, R) and lib/linalg.py unpacks them.
The rules are written with dispatching operations (matmul, the triangular solve,
masks), so they differentiate again: hessians and grad(grad) work.

Where a derivative does not exist the rules decide (docs/differentiation.md):
eigenvector derivatives drop the coupling between equal eigenvalues, and singular
vector derivatives drop terms divided by a zero singular value.
"""

from __future__ import annotations

import functools

from ..core.backend import xp
from ..core.errors import DpShapeError, DpValueError
from ..core.values import strip
from .core import F64, bind, defprim, ndim, shape
from .elementwise import add, mul, reciprocal, sub
from .indexing import concat, getitem
from .linalg import _sum_to_shape, matmul, square_matrix
from .structure import reshape, sum_
from .triangular import (
    _scipy_linalg,
    batched_like,
    mT,
    right_trimul,
    solve_triangular,
    tri_inv,
    tri_mask,
    trimul,
)


@functools.lru_cache(maxsize=64)
def _phi_mask(n: int):
    m = xp.tri(n, n, -1) + 0.5 * xp.eye(n)
    m.flags.writeable = False
    return m


def _phi(x):
    """The strictly lower triangle plus half the diagonal (the Cholesky rules' Φ)."""
    return mul(x, _phi_mask(shape(x)[-1]))


def _from_lower(t):
    """The symmetric matrix a routine that reads only the lower triangle sees:
    tril(t) + tril(t, -1)^T."""
    n = shape(t)[-1]
    return add(mul(t, tri_mask(n, True)), mT(mul(t, tri_mask(n, True, -1))))


def _to_lower(s):
    """The adjoint of `_from_lower`: tril(s) + tril(s^T, -1)."""
    n = shape(s)[-1]
    return add(mul(s, tri_mask(n, True)), mul(mT(s), tri_mask(n, True, -1)))


def _row(x, i, j=None):
    """Rows i:j (or row i, dropped) of the last two axes, for any batch axes in front."""
    lead = (slice(None),) * (ndim(x) - 2)
    return getitem(x, lead + ((i if j is None else slice(i, j)), slice(None)))


def _diag(m):
    """The diagonals of a stack of square matrices, (..., n)."""
    n = shape(m)[-1]
    return sum_(mul(m, xp.eye(n)), axis=-1)


def _diag_matrix(v):
    """Vectors (..., n) as diagonal matrices (..., n, n)."""
    n = shape(v)[-1]
    return mul(reshape(v, shape(v) + (1,)), xp.eye(n))


def _gaps(w, squared: bool = False):
    """F[i, j] = 1 / (w_j - w_i) off the diagonal (or 1 / (w_j^2 - w_i^2)), and 0
    on it and wherever the two values agree to rounding: the decision at repeated
    eigenvalues and singular values. The mask is a constant; F differentiates."""
    v = mul(w, w) if squared else w
    d = sub(reshape(v, shape(v)[:-1] + (1,) + shape(v)[-1:]), reshape(v, shape(v) + (1,)))
    dv = xp.asarray(strip(d))
    scale = xp.max(xp.abs(strip(v)), initial=1.0)
    keep = xp.abs(dv) > 1e-10 * scale
    return mul(reciprocal(add(d, (~keep).astype(F64))), keep.astype(F64))


# =================================================================== cholesky
def _cholesky_np(a):
    a = square_matrix(a)
    if a.ndim > 2 or a.shape[-1] == 0:
        return xp.linalg.cholesky(a)  # NumPy's loop over a stack runs in C
    # One matrix: LAPACK's potrf through SciPy, on the Fortran-ordered transpose (its
    # upper triangle is a's lower one): less than half the time of NumPy's cholesky at
    # n = 400 (NumPy copies to Fortran order and back). Same LAPACK routine, same result.
    lapack = _scipy_linalg().lapack
    u, info = lapack.dpotrf(a.T, lower=0, clean=1)
    if info != 0:
        raise xp.linalg.LinAlgError("Matrix is not positive definite")
    return u.T


_SQUARE_ONLY = ("cholesky", "eigh")
_JITTER = "a covariance matrix often needs a small jitter: K + 1e-6 * eye(n)"


def _decomp_error(name, failure):
    def err(args, exc):
        s = xp.shape(args[0])
        square = name in _SQUARE_ONLY
        if len(s) < 2 or (square and s[-2] != s[-1]):
            what = "a square matrix" if square else "a matrix"
            return DpShapeError(f"`{name}` needs {what} (or a stack of them), got shape {s}",
                                None, None)
        if isinstance(exc, xp.linalg.LinAlgError):
            return DpValueError(f"`{name}`: {failure}", None,
                                _JITTER if name == "cholesky" else "check that it is finite")
        return None
    return err


def _cholesky_jvp(t, ans, a):
    # dL = L Φ(L^-1 dA L^-T), dA the symmetric matrix of t's lower triangle
    y = solve_triangular(ans, _from_lower(t), True)
    x = mT(solve_triangular(ans, mT(y), True))
    return matmul(ans, _phi(x))


cholesky_p = defprim(
    "cholesky", _cholesky_np, batch="leading stack",
    shape_error=_decomp_error("cholesky", "the matrix is not positive definite"),
    jvp=(_cholesky_jvp,), vjp=(lambda g, ans, a: cholesky_grad(ans, g),),
    sig="cholesky(a, *, upper=false)", category="linear algebra",
    doc="the lower-triangular L with a = L @ L^T (upper=true: U = L^T), for a symmetric "
        "positive-definite a (only its lower triangle is read)")


def cholesky(a):
    return bind(cholesky_p, (a,))


# ======================================================== the cholesky gradient
# cholesky's VJP is its own primitive, cholesky_grad(L, Ḡ) = to_lower(S) with
#     S = L^-T Φ(L^T Ḡ) L^-1
# (the transpose of the JVP, then onto the lower triangle that cholesky reads). Its
# implementation runs the blocked algorithm of Murray (2016, "Differentiation of the
# Cholesky decomposition", arXiv:1602.07527) backwards over column blocks: about
# (2/3) n^3 flops in matrix products, where the formula takes three triangular products
# and a triangular inverse (10/3 n^3). Its own rules are written with the triangular
# primitives (from the formula), so grad(grad) and hessians go through it.
_GRAD_BLOCK = 64


def _swap(x):
    return xp.swapaxes(x, -1, -2)


def _lower_inverse(d):
    """The inverses of lower-triangular blocks d (..., m, m), lower-triangular."""
    if d.ndim == 2:
        inv, info = _scipy_linalg().lapack.dtrtri(d.T, lower=0)
        if info > 0:
            raise xp.linalg.LinAlgError("singular")
        return xp.tril(inv.T)
    return xp.tril(xp.linalg.inv(d))


def _cholesky_grad_np(fac, g):
    fac = square_matrix(fac)
    g = xp.asarray(g, dtype=F64)
    if g.ndim < 2 or g.shape[-2:] != fac.shape[-2:]:
        raise ValueError("cholesky_grad shape")
    batch = xp.broadcast_shapes(fac.shape[:-2], g.shape[:-2])
    fac = xp.broadcast_to(fac, batch + fac.shape[-2:])
    a = xp.tril(xp.broadcast_to(g, batch + g.shape[-2:]))  # becomes Ā block by block
    n = fac.shape[-1]
    for k in range(n, 0, -_GRAD_BLOCK):
        # columns j:k: D the diagonal block of L, R left of it, C below it, B below R
        j = max(0, k - _GRAD_BLOCK)
        r, b, c = fac[..., j:k, :j], fac[..., k:, :j], fac[..., k:, j:k]
        d = xp.tril(fac[..., j:k, j:k])
        di = _lower_inverse(d)
        xb = a[..., k:, j:k] @ di                      # C̄ D^-1
        a[..., k:, j:k] = xb
        xbt = _swap(xb)
        if j:
            a[..., k:, :j] -= xb @ r
        db = xp.tril(a[..., j:k, j:k] - xbt @ c)
        sd = _swap(di) @ (((_swap(d) @ db) * _phi_mask(k - j)) @ di)
        yb = xp.tril(sd) + xp.tril(_swap(sd), -1)      # the diagonal block's gradient
        a[..., j:k, j:k] = yb
        if j:
            a[..., j:k, :j] -= xbt @ b + (yb + _swap(yb)) @ r
    return a


def _sigma(ans):
    """S + S^T, from the gradient to_lower(S) (S_ii on the diagonal, S_ij + S_ji below)."""
    return add(_from_lower(ans), _diag_matrix(_diag(ans)))


def _cholesky_grad_jvp(primals, tangents, ans):
    # dS = L^-T Φ(dL^T Ḡ + L^T dḠ) L^-1 - L^-T dL^T S - S dL L^-1, and on the lower
    # triangle the last two terms are those of (S + S^T) dL L^-1
    fac, g = primals
    tl, tg = tangents
    li = tri_inv(fac, True)
    m = second = None
    if tl is not None:
        tl = mul(batched_like(tl, fac, ans), tri_mask(shape(fac)[-1], True))
        m = matmul(mT(tl), g)
        second = matmul(_sigma(ans), right_trimul(tl, li, True))
    if tg is not None:
        mg = trimul(mT(fac), batched_like(tg, g, ans), False)
        m = mg if m is None else add(m, mg)
    first = right_trimul(trimul(mT(li), _phi(m), False), li, True)
    return _to_lower(first if second is None else sub(first, second))


def _cholesky_grad_vjp(h, ans, primals, needs):
    # S̄ = from_lower(H), M̄ = Φ(L^-1 S̄ L^-T): L̄ = tril(Ḡ M̄^T - (S + S^T) S̄ L^-T),
    # the cotangent of Ḡ is L M̄
    fac, g = primals
    n = shape(fac)[-1]
    li = tri_inv(fac, True)
    sbli = right_trimul(_from_lower(h), mT(li), False)
    mb = _phi(trimul(li, sbli, True))
    gl = gg = None
    if needs[0]:
        gl = _sum_to_shape(mul(sub(matmul(g, mT(mb)), matmul(_sigma(ans), sbli)),
                               tri_mask(n, True)), shape(fac))
    if needs[1]:
        gg = _sum_to_shape(trimul(fac, mb, True), shape(g))
    return [gl, gg]


def _cholesky_grad_error(args, exc):
    sa, sg = xp.shape(args[0]), xp.shape(args[1])
    if isinstance(exc, xp.linalg.LinAlgError):
        return DpValueError("`cholesky_grad`: the factor is singular (a zero on its "
                            "diagonal)", None, None)
    return DpShapeError(f"`cholesky_grad` needs a square factor and a cotangent of its "
                        f"shape, got {sa} and {sg}", None, None)


cholesky_grad_p = defprim("cholesky_grad", _cholesky_grad_np, batch="broadcast stack",
                          shape_error=_cholesky_grad_error,
                          jvp_joint=_cholesky_grad_jvp, vjp_joint=_cholesky_grad_vjp)


def cholesky_grad(fac, g):
    """cholesky's VJP: the cotangent of a (its lower triangle) from L = cholesky(a) and
    the cotangent g of L."""
    return bind(cholesky_grad_p, (fac, g))


# ======================================================================= eigh
def _eigh_np(a):
    w, v = xp.linalg.eigh(square_matrix(a))
    return xp.concatenate([w[..., None, :], v], axis=-2)


def _eigh_parts(ans):
    n = shape(ans)[-1]
    return _row(ans, 0), _row(ans, 1, n + 1)


def _eigh_jvp(t, ans, a):
    w, v = _eigh_parts(ans)
    m = matmul(mT(v), matmul(_from_lower(t), v))
    dw = _diag(m)
    dv = matmul(v, mul(_gaps(w), m))
    return concat([reshape(dw, shape(dw)[:-1] + (1,) + shape(dw)[-1:]), dv], axis=-2)


def _eigh_vjp(g, ans, a):
    w, v = _eigh_parts(ans)
    gw, gv = _eigh_parts(g)
    inner = add(_diag_matrix(gw), mul(_gaps(w), matmul(mT(v), gv)))
    return _to_lower(matmul(v, matmul(inner, mT(v))))


eigh_p = defprim("eigh", _eigh_np, batch="leading stack",
                 shape_error=_decomp_error("eigh", "the eigenvalue computation did not "
                                           "converge"),
                 jvp=(_eigh_jvp,), vjp=(_eigh_vjp,))


def eigh(a):
    """Eigenvalues (row 0) above eigenvectors (rows 1..n), packed: (..., n + 1, n)."""
    return bind(eigh_p, (a,))


# ======================================================================== svd
def _svd_np(a):
    a = xp.asarray(a, dtype=F64)
    if a.ndim < 2 or a.shape[-2] < a.shape[-1]:
        raise ValueError("svd shape")
    u, s, vt = xp.linalg.svd(a, full_matrices=False)
    return xp.concatenate([u, s[..., None, :], vt], axis=-2)


def _svd_parts(ans, m):
    n = shape(ans)[-1]
    return _row(ans, 0, m), _row(ans, m), _row(ans, m + 1, m + 1 + n)


def _inv_nonzero(s):
    """1 / s, with 0 where s is 0 (the decision at zero singular values)."""
    z = (xp.asarray(strip(s)) == 0).astype(F64)
    return mul(reciprocal(add(s, z)), 1.0 - z)


def _svd_jvp(t, ans, a):
    m = shape(a)[-2]
    u, s, vt = _svd_parts(ans, m)
    v = mT(vt)
    dp = matmul(mT(u), matmul(t, v))
    ds = _diag(dp)
    f = _gaps(s, squared=True)
    s_row = reshape(s, shape(s)[:-1] + (1,) + shape(s)[-1:])  # scales columns
    s_col = reshape(s, shape(s) + (1,))                       # scales rows
    dps = mul(dp, s_row)
    du = matmul(u, mul(f, add(dps, mT(dps))))
    tv = matmul(t, v)
    inv_s = reshape(_inv_nonzero(s), shape(s_row))
    du = add(du, mul(sub(tv, matmul(u, matmul(mT(u), tv))), inv_s))
    sdp = mul(s_col, dp)
    dv = matmul(v, mul(f, add(sdp, mT(sdp))))
    dsr = reshape(ds, shape(ds)[:-1] + (1,) + shape(ds)[-1:])
    return concat([du, dsr, mT(dv)], axis=-2)


def _svd_vjp(g, ans, a):
    m = shape(a)[-2]
    u, s, vt = _svd_parts(ans, m)
    gu, gs, gvt = _svd_parts(g, m)
    v, gv = mT(vt), mT(gvt)
    f = _gaps(s, squared=True)
    s_row = reshape(s, shape(s)[:-1] + (1,) + shape(s)[-1:])
    s_col = reshape(s, shape(s) + (1,))
    j = mul(f, matmul(mT(u), gu))
    k = mul(f, matmul(mT(v), gv))
    gp = add(add(_diag_matrix(gs), mul(add(j, mT(j)), s_row)), mul(s_col, add(k, mT(k))))
    out = matmul(u, matmul(gp, vt))
    proj = sub(gu, matmul(u, matmul(mT(u), gu)))
    inv_s = reshape(_inv_nonzero(s), shape(s_row))
    return add(out, matmul(mul(proj, inv_s), vt))


svd_p = defprim("svd", _svd_np, batch="leading stack",
                shape_error=_decomp_error("svd", "the singular value decomposition did not "
                                          "converge"),
                jvp=(_svd_jvp,), vjp=(_svd_vjp,))


def svd(a):
    """The reduced SVD of a (..., m, n) stack with m >= n, packed: U (m rows), s (one
    row), V^T (n rows) stacked along axis -2."""
    return bind(svd_p, (a,))


# ========================================================================= qr
def _qr_np(a):
    a = xp.asarray(a, dtype=F64)
    if a.ndim < 2 or a.shape[-2] < a.shape[-1]:
        raise ValueError("qr shape")
    q, r = xp.linalg.qr(a, mode="reduced")
    return xp.concatenate([q, r], axis=-2)


def _qr_parts(ans, m):
    n = shape(ans)[-1]
    return _row(ans, 0, m), _row(ans, m, m + n)


def _right_solve_r(x, r):
    """x R^-1 for upper-triangular R."""
    return mT(solve_triangular(mT(r), mT(x), True))


def _qr_jvp(t, ans, a):
    # C = Q^T dA R^-1, Ω = low(C) - low(C)^T; dQ = QΩ + (I - QQ^T) dA R^-1, dR = (C - Ω) R
    m = shape(a)[-2]
    q, r = _qr_parts(ans, m)
    n = shape(r)[-1]
    low = tri_mask(n, True, -1)
    tr = _right_solve_r(t, r)
    c = matmul(mT(q), tr)
    lc = mul(c, low)
    om = sub(lc, mT(lc))
    dq = add(matmul(q, om), sub(tr, matmul(q, c)))
    dr = matmul(sub(c, om), r)
    return concat([dq, dr], axis=-2)


def _qr_vjp(g, ans, a):
    # Ā = (Q N + Q̄ - Q Q^T Q̄) R^-T + Q R̄,  N = low(M - M^T),  M = Q^T Q̄ - R̄ R^T
    m = shape(a)[-2]
    q, r = _qr_parts(ans, m)
    gq, gr = _qr_parts(g, m)
    n = shape(r)[-1]
    qtg = matmul(mT(q), gq)
    mm = sub(qtg, matmul(gr, mT(r)))
    nn = mul(sub(mm, mT(mm)), tri_mask(n, True, -1))
    left = add(matmul(q, sub(nn, qtg)), gq)
    return add(mT(solve_triangular(r, mT(left), False)), matmul(q, gr))


qr_p = defprim("qr", _qr_np, batch="leading stack",
               shape_error=_decomp_error("qr", "the QR decomposition failed"),
               jvp=(_qr_jvp,), vjp=(_qr_vjp,))


def qr(a):
    """The reduced QR of a (..., m, n) stack with m >= n, packed: Q (m rows) above R."""
    return bind(qr_p, (a,))
