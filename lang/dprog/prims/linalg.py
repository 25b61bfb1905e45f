"""Linear algebra: matrix products (NumPy's `matmul` semantics, batched), solve,
inverse, determinant and the cofactor matrix that is the determinant's gradient."""

from __future__ import annotations

import math

from ..core.backend import xp
from ..core.errors import DpShapeError, DpValueError
from ..core.values import TRACER_TYPES
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
from .structure import (
    is_identity_basis,
    move_to_front,
    pad_batched,
    reshape,
    sum_,
    transpose,
)


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
    if is_identity_basis(t) and ndim(t) == 2:
        r = _times_identity(a, b, na, nbd, left)
        if r is not None:
            return r
    nbatch = shape(t)[0]
    st = shape(t)
    # one matrix product for the whole batch where the batch can join the rows (NumPy
    # would otherwise loop over the batch, one small product each)
    if left and nbd <= 2 and na >= 1:  # (batch, ..., k) @ (k, n) or (k,): the batch joins
        return _reshaped(matmul(_reshaped(t, (math.prod(st[:-1]), st[-1])), b),  # a's rows
                         (nbatch,) + shape(ans))
    if not left and na == 1 and nbd == 1:  # a . t: t @ a
        return _reshaped(matmul(t, a), (nbatch,) + shape(ans))
    if not left and na == 2:  # A @ t: (t^T A^T)^T, the batch joining t's columns
        if nbd == 1 or (nbd == 2 and st[-1] == 1):  # (batch, k) or (batch, k, 1)
            return _reshaped(matmul(_reshaped(t, (nbatch, st[1])), _swap_last(a)),
                             (nbatch,) + shape(ans))
        if nbd == 2:  # (batch, k, n): rows (batch * n, k)
            tt = reshape(transpose(t, (0, 2, 1)), (nbatch * st[2], st[1]))
            r = reshape(matmul(tt, _swap_last(a)), (nbatch, st[2], shape(a)[0]))
            return transpose(r, (0, 2, 1))
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


def _times_identity(a, b, na, nbd, left):
    """a @ b where the batched side is jacfwd's identity basis of a vector (n, n): row i
    of the batch is e_i @ b = b's row i, or a @ e_i = a's column i. So the batch is b
    itself, or a^T: no product with the identity, exact even where the other side
    holds inf. (a^T is copied in row order, as the product would have made it: the
    rules' elementwise products with a transposed batch run several times slower.)
    None for the shapes this does not cover."""
    if left:  # (n, k) basis @ b, b of shape (k,) or (k, m)
        return b if na == 1 and nbd <= 2 else None
    if na == 1:  # a . e_i
        return a if nbd == 1 else None
    if na != 2 or nbd != 1:
        return None
    if type(a) is ndarray:
        return xp.ascontiguousarray(a.T)
    return _swap_last(a)


def _reshaped(x, s: tuple):
    """reshape(x, s), or x itself when it has that shape already."""
    return x if shape(x) == s else reshape(x, s)


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
    if na == 2 and nbd == 1:  # matrix @ vector (a recurrent net's step)
        return _outer(g, b)
    if na == 1 and nbd == 2:
        return matmul(b, g)
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
    if na == 2 and nbd == 1:
        return matmul(g, a)
    if na == 1 and nbd == 2:
        return _outer(a, g)
    gp = reshape(g, _matmul_promoted(ans, na, nbd))
    ap = a if na >= 2 else reshape(a, (1,) + shape(a))
    bp_shape = shape(b) if nbd >= 2 else shape(b) + (1,)
    return reshape(_sum_to_shape(matmul(_swap_last(ap), gp), bp_shape), shape(b))


def _outer(u, v):
    """The outer product of vectors u and v: NumPy's directly for two float arrays."""
    if type(u) is ndarray and type(v) is ndarray and not core.NAN_CHECK:
        return xp.multiply.outer(u, v)
    return mul(reshape(u, (-1, 1)), v)


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


def _matmul_batch(p, args, dims, params):
    """Vectors are made matrices first, so that NumPy's stack broadcasting sees the
    batch axis in front of both operands (unit axes pad the lower-ranked one)."""
    (a, b), (da, db) = args, dims
    na, nbd = ndim(a) - (da is not None), ndim(b) - (db is not None)
    if na >= 1 and nbd >= 1 and (
            (da == 0 and db is None and nbd <= max(na, 2))
            or (da == 0 and db == 0 and na == nbd >= 2)
            or (da is None and db == 0 and na <= nbd >= 2)):
        # NumPy's own stack broadcasting already puts the batch in front: a batched
        # stack times a matrix or vector, a vector times a batched stack
        return matmul(a, b), 0
    if da is not None:
        a = move_to_front(a, da)
    if db is not None:
        b = move_to_front(b, db)
    if na == 1:
        a = reshape(a, shape(a)[:-1] + (1,) + shape(a)[-1:])
    if nbd == 1:
        b = reshape(b, shape(b) + (1,))
    rank = max(na, nbd, 2)
    if da is not None and max(na, 2) < rank:
        a = reshape(a, shape(a)[:1] + (1,) * (rank - max(na, 2)) + shape(a)[1:])
    if db is not None and max(nbd, 2) < rank:
        b = reshape(b, shape(b)[:1] + (1,) * (rank - max(nbd, 2)) + shape(b)[1:])
    r = matmul(a, b)
    s = shape(r)
    if na == 1 and nbd == 1:
        s = s[:-2]
    elif na == 1:
        s = s[:-2] + s[-1:]
    elif nbd == 1:
        s = s[:-1]
    return reshape(r, s), 0


matmul_p = defprim("@", _matmul_np, shape_error=_matmul_error, batch=_matmul_batch,
                   jvp=(_matmul_jvp_a, _matmul_jvp_b), vjp=(_matmul_vjp_a, _matmul_vjp_b),
                   sig="matmul(a, b)", doc="matrix product (same as a @ b)", category="arrays")


def _square_error(name, singular: bool = True):
    """NumPy's complaint about a square-matrix operation as a dprog error. A LinAlgError
    means a singular matrix (`singular`), or is quoted (expm, slogdet: other causes)."""
    def err(args, exc):
        s = xp.shape(args[0])
        if len(s) < 2 or s[-2] != s[-1]:
            return DpShapeError(f"`{name}` needs a square matrix (or a stack of them), got "
                                f"shape {s}", None, None)
        if isinstance(exc, xp.linalg.LinAlgError):
            if not singular:
                return DpValueError(f"`{name}`: {str(exc).lower()}", None, None)
            return DpValueError(f"`{name}`: the matrix is singular", None,
                                "a singular matrix has no inverse")
        if name == "solve" and len(args) > 1:
            sb = xp.shape(args[1])
            if len(sb) == 0 or (sb[0] if len(sb) == 1 else sb[-2]) != s[-1]:
                return DpShapeError(f"shape mismatch in `solve`: {s} and {sb}", None,
                                    "b needs as many rows as A (a vector b, or a stack of "
                                    "matrices (..., n, k))")
            return DpShapeError(f"shape mismatch in `solve`: the stacks {s[:-2]} and "
                                f"{sb[:-2]} do not broadcast", None, None)
        return None
    return err


def square_matrix(a, what: str = "square"):
    """`a` as a float64 square matrix or stack of them (ValueError otherwise: the
    primitive's shape_error words it)."""
    a = xp.asarray(a, dtype=F64)
    if a.ndim < 2 or a.shape[-2] != a.shape[-1]:
        raise ValueError(what)
    check_cost(float(a.shape[-1]) ** 3 * (a.size // max(1, a.shape[-1] ** 2)),
               "a matrix factorisation")
    return a


def expand2(d):
    """One number per matrix (shape (...)) as (..., 1, 1), to scale a stack of matrices."""
    return reshape(d, shape(d) + (1, 1))


def _solve_np(a, b):
    a = square_matrix(a)
    b = xp.asarray(b, dtype=F64)
    if b.ndim == 0 or (b.shape[0] if b.ndim == 1 else b.shape[-2]) != a.shape[-1]:
        raise ValueError("solve shape")
    return xp.linalg.solve(a, b)


def _solve_col(a, rhs, vector: bool):
    """solve(a, rhs) where a vector right-hand side (NumPy: b of rank 1) may have gained
    leading axes (a batched tangent, a stack of matrices a): each is solved as a column."""
    if vector and ndim(rhs) > 1:
        r = solve(a, reshape(rhs, shape(rhs) + (1,)))
        return reshape(r, shape(r)[:-1])
    return solve(a, rhs)


def _outer_last(u, v, vector: bool):
    """u v^T over the last axes (vectors) or u @ v^T (matrices), batched."""
    if vector:
        return mul(reshape(u, shape(u) + (1,)), reshape(v, shape(v)[:-1] + (1,) + shape(v)[-1:]))
    return matmul(u, _swap_last(v))


def _solve_jvp_a(t, ans, a, b):
    vec = ndim(b) == 1
    if ndim(t) > ndim(a):  # jacfwd's batch axis in front of the stack axes of ans
        t = pad_batched(t, ndim(ans))
    x = reshape(ans, shape(ans) + (1,)) if vec else ans
    r = matmul(t, x)
    if vec:
        r = reshape(r, shape(r)[:-1])
    return neg(_solve_col(a, r, vec))


def _solve_vjp_b(g, ans, a, b):
    return _sum_to_shape(_solve_col(_swap_last(a), g, ndim(b) == 1), shape(b))


def _solve_vjp_a(g, ans, a, b):
    vec = ndim(b) == 1
    gb = _solve_col(_swap_last(a), g, vec)
    return neg(_sum_to_shape(_outer_last(gb, ans, vec), shape(a)))


def _solve_batch(p, args, dims, params):
    """b a vector: solved as a one-column matrix (NumPy 2 reads a 2-D b as matrices).
    The batched operands get the batch in front and unit axes up to the higher rank."""
    (a, b), (da, db) = args, dims
    vec = ndim(b) - (db is not None) == 1
    a = move_to_front(a, da) if da is not None else a
    b = move_to_front(b, db) if db is not None else b
    if vec:
        b = reshape(b, shape(b) + (1,))
    ra, rb = ndim(a) - (da is not None), ndim(b) - (db is not None)
    rank = max(ra, rb)
    if da is not None and ra < rank:
        a = reshape(a, shape(a)[:1] + (1,) * (rank - ra) + shape(a)[1:])
    if db is not None and rb < rank:
        b = reshape(b, shape(b)[:1] + (1,) * (rank - rb) + shape(b)[1:])
    r = solve(a, b)
    return (reshape(r, shape(r)[:-1]) if vec else r), 0


solve_p = defprim(
    "solve", _solve_np, shape_error=_square_error("solve"), batch=_solve_batch,
    jvp=(_solve_jvp_a, lambda t, ans, a, b: _solve_col(
        a, pad_batched(t, ndim(ans)) if ndim(t) > ndim(b) else t, ndim(b) == 1)),
    vjp=(_solve_vjp_a, _solve_vjp_b),
    sig="solve(A, b)", category="linear algebra",
    doc="x such that A @ x = b; b is a vector or a stack of matrices (..., n, k), A a "
        "matrix or a stack of them (NumPy 2's rule)")


def _inv_np(a):
    return xp.linalg.inv(square_matrix(a))


inv_p = defprim(
    "inv", _inv_np, shape_error=_square_error("inv"),
    batch="leading stack",
    jvp=(lambda t, ans, a: neg(matmul(matmul(ans, t), ans)),),
    vjp=(lambda g, ans, a: neg(matmul(matmul(_swap_last(ans), g), _swap_last(ans))),),
    sig="inv(A)", doc="inverse of a square matrix (or of each in a stack)",
    category="linear algebra")


def _det_np(a):
    return xp.linalg.det(square_matrix(a))


# d det(A) = <cof(A), dA> with the cofactor matrix cof(A) = det(A) inv(A)^T, which
# also exists (and is computed by SVD) where A is singular: grad(det) is defined
# everywhere, as in JAX.
det_p = defprim("det", _det_np, shape_error=_square_error("det"), batch="leading stack",
                jvp=(lambda t, ans, a: sum_(mul(cofactor(a), t), axis=(-2, -1)),),
                vjp=(lambda g, ans, a: mul(expand2(g), cofactor(a)),),
                sig="det(A)", doc="determinant of a square matrix (or of each in a stack)",
                category="linear algebra")

# Above this 1-norm condition number the cofactor matrix comes from an SVD instead of
# det(A) inv(A)^T, whose rounding errors grow with the condition number.
_COND_LIMIT = 1e10


def _cofactor_np(a):
    """det(A) inv(A)^T for the well-conditioned matrices of the stack (an LU each, no
    SVD); an SVD only for the singular or nearly singular ones."""
    a = square_matrix(a)
    d = xp.linalg.det(a)
    with xp.errstate(all="ignore"):
        try:
            ia = xp.linalg.inv(a)
        except xp.linalg.LinAlgError:
            ia = xp.full(a.shape, xp.nan)
        norm1 = xp.abs(a).sum(axis=-2).max(axis=-1)
        cond1 = norm1 * xp.abs(ia).sum(axis=-2).max(axis=-1)
        good = (d != 0) & xp.isfinite(d) & (cond1 < _COND_LIMIT)
        out = d[..., None, None] * xp.swapaxes(ia, -1, -2)
    if not good.all():
        bad = ~good
        # A = U diag(s) V^T  =>  cof(A) = det(U) det(V) U diag(prod of the other s) V^T
        u, sv, vt = xp.linalg.svd(a[bad])
        sgn = xp.linalg.det(u) * xp.linalg.det(vt)
        out[bad] = sgn[:, None, None] * (u * _prod_others_np(sv, -1)[:, None, :]) @ vt
    return out


def _cofactor_jvp(t, ans, a):
    # d cof = <cof, dA> inv(A)^T - det(A) (inv(A) dA inv(A))^T   (A invertible)
    ia = inv(a)
    tr = expand2(sum_(mul(ans, t), axis=(-2, -1)))
    return sub(mul(tr, _swap_last(ia)),
               mul(expand2(det(a)), _swap_last(matmul(matmul(ia, t), ia))))


def _cofactor_vjp(g, ans, a):
    ia = inv(a)
    return sub(mul(ans, expand2(sum_(mul(g, _swap_last(ia)), axis=(-2, -1)))),
               mul(expand2(det(a)), _swap_last(matmul(matmul(ia, g), ia))))


cofactor_p = defprim("cofactor", _cofactor_np, shape_error=_square_error("det"),
                     batch="leading stack",
                     jvp=(_cofactor_jvp,), vjp=(_cofactor_vjp,))


# ============================================================ dispatching operations
def matmul(a, b):
    ta, tb = type(a), type(b)
    if (ta is ndarray and tb is ndarray and not core.NAN_CHECK
            and a.size * b.size <= LIMITS.max_array_elements):  # else apply_impl checks size
        try:
            r = xp.matmul(a, b)
        except ValueError:
            pass  # apply_impl reports the shape mismatch
        else:
            if type(r) is ndarray and r.dtype is _F64:
                return r if r.ndim else float(r)
            return normalize(r)
    elif ta in TRACER_TYPES:  # what `bind` does, without its loop
        tr = a._trace
        if tb in TRACER_TYPES and b._trace.level > tr.level:
            tr = b._trace
        return tr.process2(matmul_p, a, b)
    elif tb in TRACER_TYPES:
        return b._trace.process2(matmul_p, a, b)
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


