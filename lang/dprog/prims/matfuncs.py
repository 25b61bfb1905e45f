"""Functions of a matrix: `logabsdet` (slogdet's differentiable half) and `det_sign`,
`pinv` and `expm`,
each on a matrix or a stack of them. Their rules are closed forms in dispatching
operations (so they differentiate again)."""

from __future__ import annotations

from ..core.backend import xp
from ..core.errors import DpShapeError
from .core import F64, bind, defprim, ndim, shape
from .elementwise import add, mul, neg, sub
from .indexing import concat, getitem
from .linalg import _square_error, _sum_to_shape, expand2, inv, matmul, square_matrix
from .structure import broadcast_to, sum_
from .triangular import _scipy_linalg, mT


# ================================================================ logabsdet
def _logabsdet_np(a):
    return xp.linalg.slogdet(square_matrix(a))[1]


# d log|det A| = <inv(A)^T, dA>: one LU for the inverse, never an SVD
logabsdet_p = defprim(
    "logabsdet", _logabsdet_np, shape_error=_square_error("slogdet", singular=False),
    batch="leading stack",
    jvp=(lambda t, ans, a: sum_(mul(mT(inv(a)), t), axis=(-2, -1)),),
    vjp=(lambda g, ans, a: mul(expand2(g), mT(inv(a))),))


def logabsdet(a):
    return bind(logabsdet_p, (a,))


# slogdet's other half: the sign of the determinant (-1, 0 or 1), a constant. A
# primitive rather than a read of the values, so that inside vmap one LU serves the batch
det_sign_p = defprim(
    "det_sign", lambda a: xp.linalg.slogdet(square_matrix(a))[0], differentiable=False,
    shape_error=_square_error("slogdet", singular=False), batch="leading stack")


def det_sign(a):
    return bind(det_sign_p, (a,))


# ===================================================================== pinv
def _pinv_np(a, rtol):
    a = xp.asarray(a, dtype=F64)
    if a.ndim < 2:
        raise ValueError("pinv shape")
    return xp.linalg.pinv(a, rtol=rtol)


def _pinv_jvp(t, ans, a, rtol):
    # dX = -X dA X + X X^T dA^T (I - A X) + (I - X A) dA^T X^T X   (constant rank)
    x = ans
    first = neg(matmul(x, matmul(t, x)))
    left = sub(mT(t), matmul(mT(t), matmul(a, x)))
    right = sub(mT(t), matmul(matmul(x, a), mT(t)))
    return add(first, add(matmul(matmul(x, mT(x)), left), matmul(right, matmul(mT(x), x))))


def _pinv_vjp(g, ans, a, rtol):
    # the transpose: -X^T G X^T + (I - A X) G^T X X^T + X^T X G^T (I - X A)
    x = ans
    first = neg(matmul(mT(x), matmul(g, mT(x))))
    gt = mT(g)
    second = matmul(sub(gt, matmul(a, matmul(x, gt))), matmul(x, mT(x)))
    third = matmul(mT(x), matmul(x, sub(gt, matmul(matmul(gt, x), a))))
    return _sum_to_shape(add(first, add(second, third)), shape(a))


def _pinv_error(args, exc):
    s = xp.shape(args[0])
    if len(s) < 2:
        return DpShapeError(f"`pinv` needs a matrix (or a stack of them), got shape {s}",
                            None, None)
    return None


pinv_p = defprim("pinv", _pinv_np, shape_error=_pinv_error, jvp=(_pinv_jvp,),
                 batch="leading stack",
                 vjp=(_pinv_vjp,),
                 sig="pinv(a, rcond=none, hermitian=false, *, rtol=none)",
                 category="linear algebra",
                 doc="the Moore-Penrose pseudo-inverse (singular values below rtol times the "
                     "largest count as 0); hermitian=true: a is symmetric, only its lower "
                     "triangle is read; its derivative keeps the rank fixed")


def pinv(a, rtol: float):
    return bind(pinv_p, (a,), {"rtol": float(rtol)})


# ===================================================================== expm
def _expm_np(a):
    return _scipy_linalg().expm(square_matrix(a))


def _block_frechet(a, e):
    """The Fréchet derivative L(A, E) of expm: the top-right block of
    expm([[A, E], [0, A]]) (Higham), for stacks and a batched E."""
    a = broadcast_to(a, shape(e)) if ndim(e) > ndim(a) else a
    zero = xp.zeros(shape(e))
    top = concat([a, e], axis=-1)
    bottom = concat([zero, a], axis=-1)
    big = expm(concat([top, bottom], axis=-2))
    n = shape(e)[-1]
    lead = (slice(None),) * (ndim(big) - 2)
    return getitem(big, lead + (slice(0, n), slice(n, 2 * n)))


expm_p = defprim("expm", _expm_np, shape_error=_square_error("expm", singular=False),
                 batch="leading stack",
                 jvp=(lambda t, ans, a: _block_frechet(a, t),),
                 vjp=(lambda g, ans, a: _sum_to_shape(_block_frechet(mT(a), g), shape(a)),),
                 sig="expm(A)", category="linear algebra",
                 doc="the matrix exponential (SciPy's), also of a stack of matrices")


def expm(a):
    return bind(expm_p, (a,))
