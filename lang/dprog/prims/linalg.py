"""Linear algebra: matrix products (NumPy's `matmul` semantics, batched), solve,
inverse, determinant and the cofactor matrix that is the determinant's gradient."""

from __future__ import annotations

import math

from ..core.backend import xp
from ..core.errors import DpShapeError, DpValueError
from . import core
from .core import (
    _F64,
    F64,
    LIMITS,
    _nb,
    bind,
    check_cost,
    check_size,
    defprim,
    ndarray,
    ndim,
    normalize,
    shape,
)
from .elementwise import mul, neg, sub
from .reductions import _prod_others_np
from .structure import reshape, sum_, transpose


def _matmul_error(args, exc):
    a, b = args
    sa, sb = xp.shape(a), xp.shape(b)
    if not sa or not sb:
        return DpShapeError(f"`@` needs arrays, got shapes {sa} and {sb}", None,
                            "use `*` to multiply by a number")
    return DpShapeError(f"shape mismatch in `@`: {sa} and {sb}", None,
                        f"the last dimension of the left side ({sa[-1]}) must equal the "
                        f"{'first' if len(sb) == 1 else 'second-to-last'} dimension of the "
                        "right side "
                        f"({sb[0] if len(sb) == 1 else sb[-2]})")


def _matmul_np(a, b):
    if xp.ndim(a) == 0 or xp.ndim(b) == 0:
        raise ValueError("matmul: scalar operand")
    sa, sb = xp.shape(a), xp.shape(b)
    if len(sa) > 1 and len(sb) > 1:  # refuse an oversized (batched) product up front
        try:
            batch = xp.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            batch = ()
        check_size(math.prod(batch) * sa[-2] * sb[-1])
        check_cost(2.0 * math.prod(batch) * sa[-2] * sa[-1] * sb[-1], "a matrix product")
    return xp.matmul(a, b)


def _swap_last(x):
    nd = ndim(x)
    if nd < 2:
        return x
    return transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _matmul_jvp_a(t, ans, a, b):
    if _nb(t, a) == 0:
        return matmul(t, b)
    return _matmul_batched(t, b, ndim(a), ndim(b), ans, True)


def _matmul_jvp_b(t, ans, a, b):
    if _nb(t, b) == 0:
        return matmul(a, t)
    return _matmul_batched(a, t, ndim(a), ndim(b), ans, False)


def _matmul_batched(a, b, na, nbd, ans, left):
    """a @ b where one side (a if `left`, else b) carries a leading batch axis of tangents.

    Both sides are promoted to matrices as NumPy does (a vector a is (1, k), a vector b
    is (k, 1)) and the batched side gets unit axes after its batch axis, so that the
    batch axis stays in front whatever the ranks of the two sides."""
    t = a if left else b
    nbatch = shape(t)[0]
    sa = shape(a)[1:] if left else shape(a)
    sb = shape(b) if left else shape(b)[1:]
    pa = sa if na >= 2 else (1,) + sa
    pb = sb if nbd >= 2 else sb + (1,)
    r = max(len(pa), len(pb)) - 2
    if left:
        a = reshape(a, (nbatch,) + (1,) * (r - len(pa) + 2) + pa)
        b = b if nbd >= 2 else reshape(b, pb)
    else:
        b = reshape(b, (nbatch,) + (1,) * (r - len(pb) + 2) + pb)
        a = a if na >= 2 else reshape(a, pa)
    return reshape(matmul(a, b), (nbatch,) + shape(ans))


def _matmul_promoted(ans, na, nbd):
    """The shape of a @ b with vector operands promoted to matrices (NumPy's rule)."""
    s = list(shape(ans))
    if nbd == 1:
        s.append(1)
    if na == 1:
        s.insert(len(s) - 1, 1)
    return tuple(s)


def _matmul_vjp_a(g, ans, a, b):
    na, nbd = ndim(a), ndim(b)
    if na == 1 and nbd == 1:
        return mul(g, b)
    if na == 2 and nbd == 2:
        return matmul(g, _swap_last(b))
    gp = reshape(g, _matmul_promoted(ans, na, nbd))
    bp = b if nbd >= 2 else reshape(b, shape(b) + (1,))
    ap_shape = shape(a) if na >= 2 else (1,) + shape(a)
    return reshape(_sum_to_shape(matmul(gp, _swap_last(bp)), ap_shape), shape(a))


def _matmul_vjp_b(g, ans, a, b):
    na, nbd = ndim(a), ndim(b)
    if na == 1 and nbd == 1:
        return mul(g, a)
    if na == 2 and nbd == 2:
        return matmul(_swap_last(a), g)
    gp = reshape(g, _matmul_promoted(ans, na, nbd))
    ap = a if na >= 2 else reshape(a, (1,) + shape(a))
    bp_shape = shape(b) if nbd >= 2 else shape(b) + (1,)
    return reshape(_sum_to_shape(matmul(_swap_last(ap), gp), bp_shape), shape(b))


def _sum_to_shape(g, xs):
    """Sum g over the axes NumPy broadcasting added to reach g's shape from shape xs."""
    gs = shape(g)
    extra = len(gs) - len(xs)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, d in enumerate(xs) if d == 1 and gs[i + extra] != 1)
    if axes:
        g = sum_(g, axis=axes)
    return g if shape(g) == xs else reshape(g, xs)


def outer_(a, b):
    a1 = reshape(a, (-1, 1))
    b1 = reshape(b, (1, -1))
    return mul(a1, b1)


matmul_p = defprim("@", _matmul_np, shape_error=_matmul_error,
                   jvp=(_matmul_jvp_a, _matmul_jvp_b), vjp=(_matmul_vjp_a, _matmul_vjp_b),
                   sig="matmul(a, b)", doc="matrix product (same as a @ b)", category="arrays")


def _square_error(name):
    def err(args, exc):
        s = xp.shape(args[0])
        if len(s) != 2 or s[0] != s[1]:
            return DpShapeError(f"`{name}` needs a square matrix, got shape {s}", None, None)
        if name == "solve" and len(args) > 1 and xp.shape(args[1])[:1] != s[:1]:
            return DpShapeError(f"shape mismatch in `solve`: {s} and {xp.shape(args[1])}", None,
                                "b needs as many rows as A")
        if isinstance(exc, xp.linalg.LinAlgError):
            return DpValueError(f"`{name}`: the matrix is singular", None,
                                "a singular matrix has no inverse")
        return None
    return err


def _square_matrix(a):
    """`a` as a float64 square matrix (ValueError otherwise: `_square_error` words it)."""
    a = xp.asarray(a, dtype=F64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError("square")
    check_cost(float(a.shape[0]) ** 3, "a matrix factorisation")
    return a


def _solve_np(a, b):
    a = _square_matrix(a)
    b = xp.asarray(b, dtype=F64)
    if b.ndim == 1 or (b.ndim == 2 and b.shape[0] == a.shape[0]):
        return xp.linalg.solve(a, b)
    raise ValueError("solve shape")


def _solve_batched(a, rhs, nb):
    """Solve with `rhs` carrying `nb` leading batch dims (vectors -> solve all at once)."""
    if nb == 0:
        return solve(a, rhs)
    s = shape(rhs)
    if len(s) == 2:  # (B, n): columns
        return transpose(solve(a, transpose(rhs, (1, 0))), (1, 0))
    # (B, n, k): fold batch into columns
    B, n, k = s
    cols = reshape(transpose(rhs, (1, 0, 2)), (n, B * k))
    sol = solve(a, cols)
    return transpose(reshape(sol, (n, B, k)), (1, 0, 2))


def _solve_t(a, g):
    return solve(transpose(a, (1, 0)), g)


solve_p = defprim(
    "solve", _solve_np, shape_error=_square_error("solve"),
    jvp=(lambda t, ans, a, b: neg(_solve_batched(a, matmul(t, ans), _nb(t, a))),
         lambda t, ans, a, b: _solve_batched(a, t, _nb(t, b))),
    vjp=(lambda g, ans, a, b: neg(outer_(_solve_t(a, g), ans)) if ndim(ans) == 1
         else neg(matmul(_solve_t(a, g), _swap_last(ans))),
         lambda g, ans, a, b: _solve_t(a, g)),
    sig="solve(A, b)", doc="x such that A @ x = b", category="linear algebra")


def _inv_np(a):
    return xp.linalg.inv(_square_matrix(a))


inv_p = defprim(
    "inv", _inv_np, shape_error=_square_error("inv"),
    jvp=(lambda t, ans, a: neg(matmul(matmul(ans, t), ans)),),
    vjp=(lambda g, ans, a: neg(matmul(matmul(_swap_last(ans), g), _swap_last(ans))),),
    sig="inv(A)", doc="inverse of a square matrix", category="linear algebra")


def _det_np(a):
    return xp.linalg.det(_square_matrix(a))


# d det(A) = <cof(A), dA> with the cofactor matrix cof(A) = det(A) inv(A)^T, which
# also exists (and is computed by SVD) where A is singular: grad(det) is defined
# everywhere, as in JAX.
det_p = defprim("det", _det_np, shape_error=_square_error("det"),
                jvp=(lambda t, ans, a: sum_(mul(cofactor(a), t), axis=(-2, -1)),),
                vjp=(lambda g, ans, a: mul(g, cofactor(a)),),
                sig="det(A)", doc="determinant of a square matrix", category="linear algebra")


def _cofactor_np(a):
    a = xp.asarray(a, dtype=F64)
    d = xp.linalg.det(a)
    if d != 0 and xp.isfinite(d) and xp.linalg.cond(a) < 1e10:
        return d * xp.linalg.inv(a).T
    # A = U diag(s) V^T  =>  cof(A) = det(U) det(V) U diag(prod of the other s) V^T
    u, sv, vt = xp.linalg.svd(a)
    return xp.linalg.det(u) * xp.linalg.det(vt) * (u * _prod_others_np(sv, 0)) @ vt


def _cofactor_jvp(t, ans, a):
    # d cof = <cof, dA> inv(A)^T - det(A) (inv(A) dA inv(A))^T   (A invertible)
    ia = inv(a)
    tr = sum_(mul(ans, t), axis=(-2, -1))
    tr = reshape(tr, shape(tr) + (1, 1))
    return sub(mul(tr, _swap_last(ia)), mul(det(a), _swap_last(matmul(matmul(ia, t), ia))))


def _cofactor_vjp(g, ans, a):
    ia = inv(a)
    return sub(mul(ans, sum_(mul(g, _swap_last(ia)))),
               mul(det(a), _swap_last(matmul(matmul(ia, g), ia))))


cofactor_p = defprim("cofactor", _cofactor_np, shape_error=_square_error("det"),
                     jvp=(_cofactor_jvp,), vjp=(_cofactor_vjp,))


# ============================================================ dispatching operations
def matmul(a, b):
    if (type(a) is ndarray and type(b) is ndarray and not core.NAN_CHECK
            and a.size * b.size <= LIMITS.max_array_elements):  # else apply_impl checks size
        try:
            r = xp.matmul(a, b)
        except ValueError:
            pass  # apply_impl reports the shape mismatch
        else:
            if type(r) is ndarray and r.dtype is _F64:
                return r if r.ndim else float(r)
            return normalize(r)
    return bind(matmul_p, (a, b))


matmul_p.op = matmul  # the engines call it for a call without parameters


def solve(a, b):
    return bind(solve_p, (a, b))


def inv(a):
    return bind(inv_p, (a,))


def cofactor(a):
    return bind(cofactor_p, (a,))


def det(a):
    return bind(det_p, (a,))


