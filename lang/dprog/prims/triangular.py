"""Triangular matrices: the triangular solve (SciPy's `solve_triangular`), the product
with a triangular matrix and its inverse (BLAS trmm, LAPACK trtri). Each reads only
the lower (or upper) triangle of its triangular operand and works on stacks.

The decompositions' rules are written with these: a Cholesky gradient then costs
three triangular products and one triangular inverse (about 3.3 n^3 flops) instead
of a general product and two solves (4 n^3), and every rule here is again written
with these primitives, so derivatives of any order follow.
"""

from __future__ import annotations

import functools
import itertools
import math

from ..core.backend import xp
from ..core.errors import DpShapeError, DpValueError
from .core import F64, bind, defprim, ndim, shape
from .elementwise import add, mul, neg
from .linalg import _sum_to_shape, _swap_last, matmul, square_matrix
from .structure import pad_batched

mT = _swap_last


def _scipy_linalg():
    """scipy.linalg, imported on first use: start-up does not pay for it (a lazy import
    of a heavy optional library, not a cycle)."""
    import scipy.linalg

    return scipy.linalg


def _over_stacks(fn, a, b):
    """fn(a2, b2) on 2-D operands over stacks: one call when `a` is a single matrix (the
    stack of b folded into columns), else one per matrix of the broadcast stack."""
    n = a.shape[-1]
    if a.ndim == 2:
        lead = b.shape[:-2]
        cols = xp.moveaxis(b, -2, 0).reshape(n, -1)
        x = fn(a, cols)
        return xp.moveaxis(x.reshape((n,) + lead + b.shape[-1:]), 0, -2)
    batch = xp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = xp.broadcast_to(a, batch + a.shape[-2:])
    b = xp.broadcast_to(b, batch + b.shape[-2:])
    out = xp.empty(b.shape)
    for idx in itertools.product(*map(range, batch)):
        out[idx] = fn(a[idx], b[idx])
    return out


def _stack_first(a, b) -> bool:
    """True when a stack of triangular matrices is better done as one vectorised pass over
    the stack than one BLAS/LAPACK call per matrix: when it holds at least n matrices
    (measured: a substitution's n steps over 1000 4 x 4 matrices take 0.2 ms, 1000 SciPy
    calls 35 ms; at 10 matrices of 100 x 100 the calls win)."""
    if a.ndim <= 2:
        return False
    batch = xp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return math.prod(batch) >= a.shape[-1]


def _substitution(a, b, lower: bool):
    """tri(a)^-1 b on stacks by forward (backward) substitution, one row at a time for the
    whole stack at once."""
    n = a.shape[-1]
    d = xp.diagonal(a, axis1=-2, axis2=-1)
    if xp.any(d == 0):
        raise xp.linalg.LinAlgError("singular")
    d = d[..., None]
    x = xp.empty(xp.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + b.shape[-2:])
    for i in (range(n) if lower else range(n - 1, -1, -1)):
        done = slice(0, i) if lower else slice(i + 1, n)
        x[..., i:i + 1, :] = (b[..., i:i + 1, :] - a[..., i:i + 1, done] @ x[..., done, :]) \
            / d[..., i:i + 1, :]
    return x


@functools.lru_cache(maxsize=64)
def tri_mask(n: int, lower: bool, k: int = 0, scale: float = 1.0):
    """The constant mask (entries `scale`, else 0) of the lower triangle from diagonal k
    (upper: from diagonal -k). Cached and read-only: the rules of a 400 x 400 Cholesky
    would otherwise spend more time building masks than solving."""
    m = xp.tri(n, n, k) if lower else xp.tri(n, n, -k - 1) == 0
    m = xp.multiply(m, scale, dtype=F64)
    m.flags.writeable = False
    return m


# =========================================================== triangular solve
def _batched_solve_triangular(a, b, lower):
    sl = _scipy_linalg()
    a, b = _tri_operands(a, b, "solve_triangular")
    if _stack_first(a, b):
        return _substitution(a, b, lower)
    return _over_stacks(lambda a2, b2: sl.solve_triangular(a2, b2, lower=lower,
                                                           check_finite=False), a, b)


def _tri_operands(a, b, what):
    a = square_matrix(a)
    b = xp.asarray(b, dtype=F64)
    if b.ndim < 2 or b.shape[-2] != a.shape[-1]:
        raise ValueError(f"{what} shape")
    return a, b


def _triangular_error(args, exc):
    sa = xp.shape(args[0])
    sb = xp.shape(args[1]) if len(args) > 1 else None
    if len(sa) < 2 or sa[-2] != sa[-1]:
        return DpShapeError(f"`solve_triangular` needs a square matrix a, got shape {sa}",
                            None, None)
    if isinstance(exc, xp.linalg.LinAlgError) or "singular" in str(exc):
        return DpValueError("`solve_triangular`: the matrix is singular (a zero on its "
                            "diagonal)", None, None)
    return DpShapeError(f"shape mismatch in `solve_triangular`: {sa} and {sb}", None,
                        "b needs as many rows as a")


def joint_jvp(*rules):
    """One JVP for all arguments from per-argument rules (for a primitive whose VJP is
    joint: the registry wants both rules in the same form)."""
    def jvp(primals, tangents, ans, **params):
        total = None
        for rule, t in zip(rules, tangents):
            if t is not None:
                c = rule(t, ans, *primals, **params)
                total = c if total is None else add(total, c)
        return total
    return jvp


def batched_like(t, x, ans):
    """A tangent of x with a leading batch axis (jacfwd) given unit axes after it, so
    that it broadcasts against the other operand's stack axes in a result like `ans`."""
    return pad_batched(t, ndim(ans)) if ndim(t) > ndim(x) else t


def _st_jvp_a(t, ans, a, b, lower):
    n = shape(a)[-1]
    t = batched_like(t, a, ans)
    return neg(solve_triangular(a, matmul(mul(t, tri_mask(n, lower)), ans), lower))


def _st_vjp(g, ans, primals, needs, lower):
    """Both cotangents from one solve with a^T: gb = a^-T g, ga = -tri(gb x^T)."""
    a, b = primals
    gb = solve_triangular(mT(a), g, not lower)
    ga = None
    if needs[0]:
        ga = _sum_to_shape(mul(matmul(gb, mT(ans)), tri_mask(shape(a)[-1], lower, 0, -1.0)),
                           shape(a))
    return [ga, _sum_to_shape(gb, shape(b)) if needs[1] else None]


solve_triangular_p = defprim(
    "solve_triangular", _batched_solve_triangular, shape_error=_triangular_error,
    batch="broadcast stack",
    jvp_joint=joint_jvp(
        _st_jvp_a, lambda t, ans, a, b, lower: solve_triangular(a, batched_like(t, b, ans), lower)),
    vjp_joint=_st_vjp,
    sig="solve_triangular(a, b, trans=0, lower=false, unit_diagonal=false)",
    category="linear algebra",
    doc="x such that a @ x = b for a triangular a (only its lower or upper triangle is "
        "read; trans=1: a^T @ x = b); SciPy's, also on stacks")


def solve_triangular(a, b, lower: bool):
    """a^-1 b for triangular a, b a matrix (..., n, k)."""
    return bind(solve_triangular_p, (a, b), {"lower": bool(lower)})


# ============================================================ triangular product
def _trimul_np(a, b, lower):
    blas = _scipy_linalg().blas
    a, b = _tri_operands(a, b, "trimul")
    if _stack_first(a, b):
        return xp.matmul(a * tri_mask(a.shape[-1], lower), b)

    def one(a2, b2):
        # BLAS is column-major: a C-ordered matrix is its transpose in Fortran order,
        # so tri(a) b = (b^T tri(a)^T)^T is trmm from the right on the transposed
        # views. Choosing the form in which a needs no conversion copy halves the
        # time at n = 400.
        if a2.flags.f_contiguous and not a2.flags.c_contiguous:
            return blas.dtrmm(1.0, a2, b2, lower=int(lower))
        return blas.dtrmm(1.0, a2.T, b2.T, lower=int(not lower), side=1).T
    return _over_stacks(one, a, b)


def _trimul_vjp(g, ans, primals, needs, lower):
    a, b = primals
    ga = gb = None
    if needs[0]:
        ga = _sum_to_shape(mul(matmul(g, mT(b)), tri_mask(shape(a)[-1], lower)), shape(a))
    if needs[1]:
        gb = _sum_to_shape(trimul(mT(a), g, not lower), shape(b))
    return [ga, gb]


trimul_p = defprim(
    "trimul", _trimul_np, shape_error=_triangular_error, batch="broadcast stack",
    jvp_joint=joint_jvp(lambda t, ans, a, b, lower: trimul(batched_like(t, a, ans), b, lower),
                        lambda t, ans, a, b, lower: trimul(a, batched_like(t, b, ans), lower)),
    vjp_joint=_trimul_vjp)


def trimul(a, b, lower: bool):
    """tri(a) @ b, tri(a) the lower (or upper) triangle of a; b a matrix (..., n, k)."""
    return bind(trimul_p, (a, b), {"lower": bool(lower)})


def right_trimul(x, a, lower: bool):
    """x @ tri(a), through the transpose: (tri(a)^T x^T)^T."""
    return mT(trimul(mT(a), mT(x), not lower))


# ============================================================ triangular inverse
def _tri_inv_np(a, lower):
    lapack = _scipy_linalg().lapack
    a = square_matrix(a)
    mask = tri_mask(a.shape[-1], lower)  # trtri leaves the other triangle as it was
    if _stack_first(a, a):
        return _substitution(a, xp.eye(a.shape[-1]), lower) * mask
    out = xp.empty(a.shape)
    for idx in itertools.product(*map(range, a.shape[:-2])):
        # on the Fortran-ordered transpose (no conversion copy): inv(a^T)^T = inv(a)
        inv, info = lapack.dtrtri(a[idx].T, lower=int(not lower))
        if info > 0:
            raise xp.linalg.LinAlgError("singular")
        xp.multiply(inv.T, mask, out=out[idx] if a.ndim > 2 else out)
    return out


# d(T^-1) = -T^-1 tri(dT) T^-1, itself a triangular matrix
tri_inv_p = defprim(
    "tri_inv", _tri_inv_np, shape_error=_triangular_error, batch="leading stack",
    jvp=(lambda t, ans, a, lower: neg(trimul(ans, trimul(t, ans, lower), lower)),),
    vjp=(lambda g, ans, a, lower: neg(mul(matmul(mT(ans), matmul(g, mT(ans))),
                                          tri_mask(shape(a)[-1], lower))),))


def tri_inv(a, lower: bool):
    """The inverse of the lower (or upper) triangle of a, on stacks."""
    return bind(tri_inv_p, (a,), {"lower": bool(lower)})
