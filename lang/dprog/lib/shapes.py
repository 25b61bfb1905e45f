"""Shape and assembly builtins (expand_dims ... tile, concat, stack, where, dot, outer,
matmul, softmax) and linear algebra; compositions of reshape, transpose, indexing and
concat, so differentiable through them."""

from __future__ import annotations

import math

from ..core.backend import xp
from ..core.errors import (
    DpError,
    DpShapeError,
    DpTypeError,
    DpValueError,
)
from ..core.values import strip
from ..prims import primitives as P
from .numeric import _seq, logsumexp_
from .table import _axis, _dims, _int_arg, _num, axis_index, builtin, builtin_of

# ---------------------------------------------------------- shape and assembly
# Compositions of reshape, transpose, indexing and concat: differentiable through them.


@builtin("expand_dims(x, axis)", "x with a new axis of length 1 at position `axis`", "arrays")
def _expand_dims(x, axis):
    x = _num(x, "expand_dims")
    s = P.shape(x)
    a = axis_index(axis, len(s) + 1, "expand_dims")
    return P.reshape(x, s[:a] + (1,) + s[a:])


@builtin("squeeze(x, axis=none)", "x without its axes of length 1 (or only `axis`)", "arrays")
def _squeeze(x, axis=None):
    x = _num(x, "squeeze")
    s = P.shape(x)
    if axis is None:
        return P.reshape(x, tuple(d for d in s if d != 1))
    a = axis_index(axis, len(s), "squeeze")
    if s[a] != 1:
        raise DpShapeError(f"`squeeze`: axis {a} has length {s[a]}, not 1", None, None)
    return P.reshape(x, s[:a] + s[a + 1:])


@builtin("flip(x, axis=none)", "x with the order of its elements reversed (along `axis`)",
         "arrays")
def _flip(x, axis=None):
    x = _num(x, "flip")
    nd = P.ndim(x)
    axes = range(nd) if axis is None else {axis_index(axis, nd, "flip")}
    return P.getitem(x, tuple(slice(None, None, -1) if i in axes else slice(None)
                              for i in range(nd))) if nd else x


@builtin("swapaxes(x, a, b)", "x with axes a and b exchanged", "arrays")
def _swapaxes(x, a, b):
    x = _num(x, "swapaxes")
    nd = P.ndim(x)
    a, b = axis_index(a, nd, "swapaxes", "a"), axis_index(b, nd, "swapaxes", "b")
    perm = list(range(nd))
    perm[a], perm[b] = b, a
    return P.transpose(x, tuple(perm))


@builtin("moveaxis(x, source, destination)", "x with axis `source` moved to position "
         "`destination`", "arrays")
def _moveaxis(x, source, destination):
    x = _num(x, "moveaxis")
    nd = P.ndim(x)
    src = axis_index(source, nd, "moveaxis", "source")
    dst = axis_index(destination, nd, "moveaxis", "destination")
    perm = [i for i in range(nd) if i != src]
    perm.insert(dst, src)
    return P.transpose(x, tuple(perm))


@builtin("broadcast_to(x, shape)", "x repeated along new or length-1 axes to `shape`, as "
         "NumPy broadcasts (the gradient sums back)", "arrays")
def _broadcast_to(x, shape):
    x = _num(x, "broadcast_to")
    shape = _dims((shape,) if type(strip(shape)) is tuple else (shape,), "broadcast_to")
    return P.broadcast_to(x, shape)


def _at_least(x, nd: int):
    s = P.shape(x)
    return P.reshape(x, (1,) * (nd - len(s)) + s) if len(s) < nd else x


@builtin("hstack(xs)", "join arrays column-wise: along axis 1 (axis 0 for vectors)", "arrays")
def _hstack(xs):
    xs = [_at_least(x, 1) for x in _seq(xs, "hstack")]
    return P.concat(xs, axis=0 if P.ndim(xs[0]) == 1 else 1)


@builtin("vstack(xs)", "join arrays row-wise: along axis 0, vectors as rows", "arrays")
def _vstack(xs):
    return P.concat([_at_least(x, 2) for x in _seq(xs, "vstack")], axis=0)


def _matrix(x, name: str):
    x = _num(x, name)
    if P.ndim(x) < 2:
        raise DpShapeError(f"`{name}` needs a matrix (2 or more dimensions), got shape "
                           f"{P.shape(x)}", None, None)
    return x


@builtin("tril(x, k=0)", "x with the entries above diagonal k set to 0", "linear algebra")
def _tril(x, k=0):
    x = _matrix(x, "tril")
    n, m = P.shape(x)[-2:]
    return P.mul(x, xp.tril(xp.ones((n, m)), _int_arg(k, "tril", "k")))


@builtin("triu(x, k=0)", "x with the entries below diagonal k set to 0", "linear algebra")
def _triu(x, k=0):
    x = _matrix(x, "triu")
    n, m = P.shape(x)[-2:]
    return P.mul(x, xp.triu(xp.ones((n, m)), _int_arg(k, "triu", "k")))


def _diagonal_index(n: int, m: int, k: int) -> tuple:
    rows = xp.arange(max(0, -k), min(n, m - k))
    return rows, rows + k


@builtin("diagonal(x, offset=0)", "the diagonal of a matrix (offset k: above it, -k: below), "
         "as a vector", "linear algebra")
def _diagonal(x, offset=0):
    x = _num(x, "diagonal")
    if P.ndim(x) != 2:
        raise DpShapeError(f"`diagonal` needs a matrix, got shape {P.shape(x)}", None, None)
    rows, cols = _diagonal_index(*P.shape(x), _int_arg(offset, "diagonal", "offset"))
    return P.getitem(x, (rows, cols))


@builtin("trace(x, offset=0)", "the sum of the diagonal of a matrix", "linear algebra")
def _trace(x, offset=0):
    return P.sum_(_diagonal(x, offset))


@builtin("diag(v, k=0)", "a vector as the diagonal k of a square matrix; a matrix: its "
         "diagonal k", "linear algebra")
def _diag(v, k=0):
    v = _num(v, "diag")
    k = _int_arg(k, "diag", "k")
    if P.ndim(v) == 2:
        return _diagonal(v, k)
    if P.ndim(v) != 1:
        raise DpShapeError(f"`diag` needs a vector or a matrix, got shape {P.shape(v)}", None,
                           None)
    n = P.shape(v)[0] + abs(k)
    return P.index_add(v, _diagonal_index(n, n, k), (n, n))


@builtin("roll(x, shift, axis=none)", "x with its elements shifted by `shift` places along "
         "`axis` (cyclically; the flattened array when no axis is given)", "arrays")
def _roll(x, shift, axis=None):
    x = _num(x, "roll")
    shift = _int_arg(shift, "roll", "shift")
    if axis is None:
        s = P.shape(x)
        return P.reshape(_roll(P.reshape(x, (-1,)), shift, 0), s) if s else x
    nd = P.ndim(x)
    a = axis_index(axis, nd, "roll")
    n = P.shape(x)[a]
    if n == 0 or shift % n == 0:
        return x
    cut = n - shift % n
    head = tuple(slice(cut, None) if i == a else slice(None) for i in range(nd))
    tail = tuple(slice(None, cut) if i == a else slice(None) for i in range(nd))
    return P.concat([P.getitem(x, head), P.getitem(x, tail)], axis=a)


@builtin("repeat(x, repeats, axis=none)", "each element repeated `repeats` times (along "
         "`axis`; flattened when no axis is given)", "arrays")
def _repeat(x, repeats, axis=None):
    x = _num(x, "repeat")
    r = _int_arg(repeats, "repeat", "repeats")
    if r < 0:
        raise DpValueError("`repeat`: repeats must not be negative", None, None)
    if axis is None:
        x, a = P.reshape(x, (-1,)), 0
    else:
        a = axis_index(axis, P.ndim(x), "repeat")
    n = P.shape(x)[a]
    P.check_size(math.prod(P.shape(x)) * r)
    idx = xp.repeat(xp.arange(n), r)  # a gather; its transpose adds the repeats up
    return P.getitem(x, tuple(idx if i == a else slice(None) for i in range(P.ndim(x))))


@builtin("tile(x, reps)", "x repeated `reps` times (an int, or a tuple: per axis)", "arrays")
def _tile(x, reps):
    x = _num(x, "tile")
    reps = strip(reps)
    reps = (reps,) if type(reps) is int else reps
    if type(reps) is not tuple or not all(type(r) is int and r >= 0 for r in reps):
        raise DpTypeError("`tile`: reps must be a non-negative int or a tuple of them", None,
                          None)
    nd = max(P.ndim(x), len(reps))
    x = _at_least(x, nd)
    reps = (1,) * (nd - len(reps)) + reps
    s = P.shape(x)
    P.check_size(math.prod(s) * math.prod(reps))
    # (r0, s0, r1, s1, ...) by broadcasting, then merged axis by axis
    spread = P.broadcast_to(P.reshape(x, tuple(d for si in s for d in (1, si))),
                            tuple(d for ri, si in zip(reps, s) for d in (ri, si)))
    return P.reshape(spread, tuple(ri * si for ri, si in zip(reps, s)))


@builtin_of(P.where_p)
def _where(cond, a, b):
    return P.where(_num(cond, "where", "cond"), _num(a, "where", "a"), _num(b, "where", "b"))


@builtin("dot(a, b)", "NumPy's dot: inner product of vectors, matrix product for 2-D "
         "arrays, and for N-D a sum over a's last axis and b's second-to-last", "arrays")
def _dot(a, b):
    a, b = _num(a, "dot", "a"), _num(b, "dot", "b")
    if P.ndim(a) == 0 or P.ndim(b) == 0:
        return P.mul(a, b)
    if P.ndim(b) >= 3:  # where matmul would broadcast stacks instead
        return _dot_nd(a, b)
    try:  # for b of at most 2 dimensions, matmul's product is NumPy's dot
        return P.matmul(a, b)
    except DpError as err:  # the report names what the user called
        err.message = err.message.replace("`@`", "`dot`")
        raise


def _dot_nd(a, b):
    """dot(a, b)[i..., j..., m] = sum over k of a[i..., k] * b[j..., k, m], as one matmul
    of a's rows by b with its second-to-last axis moved to the front."""
    sa, sb = P.shape(a), P.shape(b)
    if sa[-1] != sb[-2]:
        raise DpShapeError(f"`dot`: shapes {sa} and {sb} do not align: a's last axis "
                           f"({sa[-1]}) must equal b's second-to-last ({sb[-2]})", None,
                           "NumPy's dot sums over a's last and b's second-to-last axis")
    nb = len(sb)
    k = sa[-1]
    bt = P.transpose(b, (nb - 2,) + tuple(range(nb - 2)) + (nb - 1,))
    r = P.matmul(P.reshape(a, (-1, k)), P.reshape(bt, (k, -1)))
    return P.reshape(r, sa[:-1] + sb[:-2] + sb[-1:])


@builtin("outer(a, b)", "outer product of two vectors", "arrays")
def _outer(a, b):
    a, b = _num(a, "outer", "a"), _num(b, "outer", "b")
    P.check_size(max(1, math.prod(P.shape(a))) * max(1, math.prod(P.shape(b))))
    return P.outer_(a, b)


@builtin_of(P.matmul_p)
def _matmul(a, b):
    return P.matmul(_num(a, "matmul", "a"), _num(b, "matmul", "b"))


@builtin("softmax(x, axis=-1)", "exp(x) / sum(exp(x)) along `axis`, computed stably", "arrays")
def _softmax(x, axis=-1):
    x = _num(x, "softmax")
    if P.ndim(x) == 0:
        return 1.0
    if 0 in P.shape(x):
        return x  # nothing to normalise
    axis = _axis(axis, "softmax")
    lse = logsumexp_(x, axis, keepdims=True)
    return P.exp(P.sub(x, lse))


# ========================================================== linear algebra
@builtin_of(P.solve_p)
def _solve(A, b):
    return P.solve(_num(A, "solve", "A"), _num(b, "solve", "b"))


@builtin_of(P.inv_p)
def _inv(A):
    return P.inv(_num(A, "inv", "A"))


@builtin_of(P.det_p)
def _det(A):
    return P.det(_num(A, "det", "A"))


