"""Linear algebra builtins with NumPy's and SciPy's names, arguments and defaults:
tensor products (on `einsum`), decompositions (unpacking the packed results of the
decomposition primitives into tuples), triangular and Cholesky solves, slogdet,
pinv, lstsq, matrix_power and expm. Each works on a matrix or a stack of matrices
(leading batch axes) unless its doc says otherwise."""

from __future__ import annotations

from ..core.backend import xp
from ..core.errors import DpShapeError, DpTypeError, DpValueError
from ..core.values import kind_of, strip
from ..prims import primitives as P
from .table import _bool_arg, _int_arg, _num, axis_index, builtin, builtin_of

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()


def _mat(x, name: str, what: str = "a", square: bool = False):
    """A matrix or stack of matrices argument (a dprog error otherwise)."""
    x = _num(x, name, what)
    s = P.shape(x)
    if len(s) < 2 or (square and s[-2] != s[-1]):
        kind = "a square matrix" if square else "a matrix"
        raise DpShapeError(f"`{name}` needs {kind} (or a stack of them) for `{what}`, got "
                           f"shape {s}", None, None)
    return x


def _mT(x):
    nd = P.ndim(x)
    return P.transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _rows(x, i, j):
    lead = (slice(None),) * (P.ndim(x) - 2)
    return P.getitem(x, lead + (slice(i, j), slice(None)))


def _vector_as_column(b):
    return P.reshape(b, P.shape(b) + (1,))


def _column_as_vector(x):
    return P.reshape(x, P.shape(x)[:-1])


# ====================================================================== products
@builtin_of(P.einsum_p)
def _einsum(subscripts, *operands):
    if type(subscripts) is not str:
        raise DpTypeError(f"`einsum`: subscripts must be a string like \"ij,jk->ik\", got "
                          f"{kind_of(subscripts)}", None, None)
    ops = [_num(x, "einsum", "operands") for x in operands]
    try:
        subs = P.normalize_subscripts(subscripts, [P.ndim(x) for x in ops])
    except P.EinsumSpecError as exc:
        raise DpValueError(f"`einsum`: {exc}", None,
                           "subscripts name each operand's axes, e.g. \"ij,jk->ik\"") from None
    return P.einsum(subs, ops)


def _axes_pair(axes, na: int, nb: int):
    """tensordot's axes: an int n (last n of a, first n of b) or two sequences."""
    axes = strip(axes)
    if type(axes) is int:
        if not 0 <= axes <= min(na, nb):
            raise DpValueError(f"`tensordot`: axes={axes} but the operands have {na} and {nb} "
                               "dimensions", None, None)
        return list(range(na - axes, na)), list(range(axes))
    if type(axes) is tuple and len(axes) == 2:
        pa, pb = ([x] if type(x) is int else list(x) if type(x) is tuple else None
                  for x in axes)
        if pa is not None and pb is not None and len(pa) == len(pb) and all(
                type(i) is int for i in pa + pb):
            return ([axis_index(i, na, "tensordot", "axes") for i in pa],
                    [axis_index(i, nb, "tensordot", "axes") for i in pb])
    raise DpTypeError("`tensordot`: axes must be an integer or a pair of equal-length "
                      "tuples of axes", None, "e.g. axes=1, or axes=((1, 2), (0, 1))")


@builtin("tensordot(a, b, axes=2)", "sum of products over the last `axes` axes of a and the "
         "first of b (or over the axes pair ((a axes), (b axes)))", "linear algebra")
def _tensordot(a, b, axes=2):
    a, b = _num(a, "tensordot", "a"), _num(b, "tensordot", "b")
    na, nb = P.ndim(a), P.ndim(b)
    pa, pb = _axes_pair(axes, na, nb)
    la = list(_LOWER[:na])
    lb = list(_UPPER[:nb])
    for i, j in zip(pa, pb):
        lb[j] = la[i]
    out = [c for k, c in enumerate(la) if k not in pa] + [c for k, c in enumerate(lb)
                                                           if k not in pb]
    spec = "".join(la) + "," + "".join(lb) + "->" + "".join(out)
    return _checked_einsum("tensordot", spec, a, b)


def _checked_einsum(name, spec, *ops):
    """einsum on explicit subscripts the builtin made; a size clash is the caller's."""
    sizes: dict[str, int] = {}
    terms = spec.split("->")[0].split(",")
    for term, x in zip(terms, ops):
        for c, d in zip(term, P.shape(x)):
            if sizes.setdefault(c, d) != d:
                raise DpShapeError(f"shape mismatch in `{name}`: "
                                   + " and ".join(str(P.shape(o)) for o in ops), None,
                                   "the summed axes must have equal lengths")
    return P.einsum(spec, ops)


@builtin("inner(a, b)", "sum of products over the last axes of a and b (a number: a times b)",
         "linear algebra")
def _inner(a, b):
    a, b = _num(a, "inner", "a"), _num(b, "inner", "b")
    na, nb = P.ndim(a), P.ndim(b)
    if na == 0 or nb == 0:
        return P.mul(a, b)
    la, lb = _LOWER[:na], _UPPER[:nb - 1] + _LOWER[na - 1]
    return _checked_einsum("inner", f"{la},{lb}->{la[:-1]}{lb[:-1]}", a, b)


@builtin("kron(a, b)", "the Kronecker product: blocks a[i, j] * b", "linear algebra")
def _kron(a, b):
    a, b = _num(a, "kron", "a"), _num(b, "kron", "b")
    nd = max(P.ndim(a), P.ndim(b))
    sa = (1,) * (nd - P.ndim(a)) + P.shape(a)
    sb = (1,) * (nd - P.ndim(b)) + P.shape(b)
    if nd == 0:
        return P.mul(a, b)
    la, lb = _LOWER[:nd], _UPPER[:nd]
    out = "".join(x + y for x, y in zip(la, lb))
    r = P.einsum(f"{la},{lb}->{out}", (P.reshape(a, sa), P.reshape(b, sb)))
    return P.reshape(r, tuple(x * y for x, y in zip(sa, sb)))


_LEVI_CIVITA = xp.zeros((3, 3, 3))
for _i, _j, _k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
    _LEVI_CIVITA[_i, _j, _k], _LEVI_CIVITA[_i, _k, _j] = 1.0, -1.0


def _move_last(x, axis, name, what):
    nd = P.ndim(x)
    a = axis_index(axis, nd, name, what)
    if P.shape(x)[a] != 3:
        raise DpShapeError(f"`cross` needs vectors of length 3 along {what}, got shape "
                           f"{P.shape(x)}", None,
                           "for 2-vectors, append a zero: cross((x, y, 0), (u, v, 0))")
    return P.transpose(x, tuple(i for i in range(nd) if i != a) + (a,))


@builtin("cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=none)", "the cross product of "
         "3-vectors (along the given axes, broadcasting the others)", "linear algebra")
def _cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    a, b = _num(a, "cross", "a"), _num(b, "cross", "b")
    if P.ndim(a) == 0 or P.ndim(b) == 0:
        raise DpShapeError("`cross` needs vectors of length 3", None, None)
    if axis is not None:
        axisa = axisb = axisc = axis
    a = _move_last(a, axisa, "cross", "axisa" if axis is None else "axis")
    b = _move_last(b, axisb, "cross", "axisb" if axis is None else "axis")
    try:
        xp.broadcast_shapes(P.shape(a)[:-1], P.shape(b)[:-1])
    except ValueError:
        raise DpShapeError(f"shape mismatch in `cross`: {P.shape(a)} and {P.shape(b)}", None,
                           "the other axes broadcast like NumPy") from None
    r = P.einsum_any("ijk,...j,...k->...i", (_LEVI_CIVITA, a, b))
    nd = P.ndim(r)
    c = axis_index(axisc, nd, "cross", "axisc" if axis is None else "axis")
    perm = list(range(nd - 1))
    perm.insert(c, nd - 1)
    return P.transpose(r, tuple(perm)) if c != nd - 1 else r


# ============================================================== decompositions
@builtin_of(P.cholesky_p)
def _cholesky(a, upper=False):
    low = P.cholesky(_mat(a, "cholesky", square=True))
    return _mT(low) if _bool_arg(upper, "cholesky", "upper") else low


def _uplo(a, name, UPLO):
    if UPLO not in ("L", "U"):
        raise DpValueError(f"`{name}`: UPLO must be \"L\" or \"U\", got {UPLO!r}", None, None)
    a = _mat(a, name, square=True)
    return a if UPLO == "L" else _mT(a)


@builtin("eigh(a, UPLO=\"L\")", "(eigenvalues ascending, eigenvectors as columns) of a "
         "symmetric matrix, reading its lower (UPLO=\"U\": upper) triangle", "linear algebra")
def _eigh(a, UPLO="L"):
    packed = P.eigh(_uplo(a, "eigh", UPLO))
    n = P.shape(packed)[-1]
    return _column_as_row(_rows(packed, 0, 1)), _rows(packed, 1, n + 1)


def _column_as_row(x):
    """A (..., 1, n) slice as the vectors (..., n)."""
    return P.reshape(x, P.shape(x)[:-2] + P.shape(x)[-1:])


@builtin("eigvalsh(a, UPLO=\"L\")", "the eigenvalues (ascending) of a symmetric matrix",
         "linear algebra")
def _eigvalsh(a, UPLO="L"):
    return _column_as_row(_rows(P.eigh(_uplo(a, "eigvalsh", UPLO)), 0, 1))


def _svd_parts(a):
    """(U, s, V^T) of the reduced SVD, m < n through the transpose."""
    m, n = P.shape(a)[-2:]
    if m < n:
        vt, s, u = _svd_parts(_mT(a))
        return _mT(u), s, _mT(vt)
    packed = P.svd(a)
    return _rows(packed, 0, m), _column_as_row(_rows(packed, m, m + 1)), \
        _rows(packed, m + 1, m + 1 + n)


@builtin("svd(a, full_matrices=false, compute_uv=true, hermitian=false)",
         "(U, s, Vh) with a = U @ diag(s) @ Vh, the reduced SVD (NumPy's default is "
         "full_matrices=true); compute_uv=false: s only; hermitian=true: of a symmetric a "
         "(its lower triangle) through eigh, as NumPy's", "linear algebra")
def _svd(a, full_matrices=False, compute_uv=True, hermitian=False):
    a = _mat(a, "svd")
    m, n = P.shape(a)[-2:]
    if _bool_arg(full_matrices, "svd", "full_matrices") and m != n:
        raise DpValueError("`svd`: full_matrices=true is not supported for a non-square "
                           "matrix (its extra singular vectors have no derivative)", None,
                           "use the reduced SVD: svd(a) or svd(a, full_matrices=false)")
    compute_uv = _bool_arg(compute_uv, "svd", "compute_uv")
    if _bool_arg(hermitian, "svd", "hermitian"):
        return _svd_hermitian(a, compute_uv)
    u, s, vt = _svd_parts(a)
    return (u, s, vt) if compute_uv else s


def _svd_hermitian(a, compute_uv: bool):
    """NumPy's svd(a, hermitian=true): from eigh (a's lower triangle), the singular values
    |w| in decreasing order (NumPy's argsort of |w|, reversed), U the eigenvectors in
    that order, Vh = (U * sign(w))^T (a zero eigenvalue gives a zero row, as NumPy's).
    Derivatives go through eigh's rules."""
    if P.shape(a)[-2] != P.shape(a)[-1]:
        raise DpShapeError(f"`svd`: hermitian=true needs a square matrix (or a stack of "
                           f"them), got shape {P.shape(a)}", None, None)
    w, v = _eigh(a)
    wv = xp.asarray(strip(w))
    order = xp.argsort(xp.abs(wv), axis=-1)[..., ::-1]
    s = P.getitem(P.abs_(w), _take_last(order))
    if not compute_uv:
        return s
    u = P.getitem(v, _take_last(order, column=True))
    sgn = xp.take_along_axis(xp.sign(wv), order, axis=-1)
    return u, s, _mT(P.mul(u, P.normalize(sgn[..., None, :])))


def _take_last(order, column: bool = False):
    """The index taking entry order[..., k] along the last axis of (..., n) (column=true:
    column order[..., k] of (..., n, n)), for any stack axes in front."""
    lead = order.shape[:-1]
    extra = 2 if column else 1
    grids = tuple(g.reshape(g.shape + (1,) * extra) for g in xp.ix_(*map(xp.arange, lead)))
    if column:
        return grids + (xp.arange(order.shape[-1])[:, None], order[..., None, :])
    return grids + (order,)


@builtin("qr(a, mode=\"reduced\")", "(Q, R) with a = Q @ R, Q's columns orthonormal, R "
         "upper triangular; mode=\"r\": R only", "linear algebra")
def _qr(a, mode="reduced"):
    a = _mat(a, "qr")
    if mode not in ("reduced", "r", "complete"):
        raise DpValueError(f"`qr`: mode must be \"reduced\", \"complete\" or \"r\", got "
                           f"{mode!r}", None, None)
    m, n = P.shape(a)[-2:]
    if mode == "complete" and m > n:
        raise DpValueError("`qr`: mode=\"complete\" is not supported for a tall matrix (its "
                           "extra columns of Q have no derivative)", None,
                           "use mode=\"reduced\"")
    if m >= n:
        packed = P.qr(a)
        q, r = _rows(packed, 0, m), _rows(packed, m, m + n)
    else:  # wide: the QR of the leading square block, R's other columns Q^T a
        lead = (slice(None),) * (P.ndim(a) - 2)
        packed = P.qr(P.getitem(a, lead + (slice(None), slice(0, m))))
        q = _rows(packed, 0, m)
        rest = P.matmul(_mT(q), P.getitem(a, lead + (slice(None), slice(m, n))))
        r = P.concat([_rows(packed, m, 2 * m), rest], axis=-1)
    return r if mode == "r" else (q, r)


# ====================================================================== solves
def _trans(trans) -> bool:
    trans = strip(trans)
    if trans in (0, "N"):
        return False
    if trans in (1, "T", 2, "C"):
        return True
    raise DpValueError(f"`solve_triangular`: trans must be 0, 1, \"N\" or \"T\", got "
                       f"{trans!r}", None, None)


def triangular_solve(a, b, lower: bool, trans: bool = False, unit: bool = False,
                     name: str = "solve_triangular"):
    """SciPy's solve_triangular on a vector or a stack of matrices b."""
    a = _mat(a, name, square=True)
    b = _num(b, name, "b")
    n = P.shape(a)[-1]
    if unit:
        a = P.add(P.mul(a, xp.tril(xp.ones((n, n)), -1) if lower else
                        xp.triu(xp.ones((n, n)), 1)), xp.eye(n))
    if trans:
        a, lower = _mT(a), not lower
    if P.ndim(b) == 1:
        return _column_as_vector(P.solve_triangular(a, _vector_as_column(b), lower))
    return P.solve_triangular(a, b, lower)


@builtin_of(P.solve_triangular_p)
def _solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False):
    return triangular_solve(a, b, _bool_arg(lower, "solve_triangular", "lower"), _trans(trans),
                            _bool_arg(unit_diagonal, "solve_triangular", "unit_diagonal"))


@builtin("cho_solve(c_and_lower, b)", "x such that A @ x = b, given (c, lower) with c the "
         "Cholesky factor of A (SciPy's; lower=true for cholesky(A)'s L)", "linear algebra")
def _cho_solve(c_and_lower, b):
    if type(c_and_lower) is not tuple or len(c_and_lower) != 2:
        raise DpTypeError(f"`cho_solve` expects a pair (c, lower) first, got "
                          f"{kind_of(c_and_lower)}", None, "e.g. cho_solve((L, true), b)")
    c, lower = c_and_lower
    lower = _bool_arg(lower, "cho_solve", "lower")
    b = _num(b, "cho_solve", "b")
    col = P.ndim(b) == 1
    x = _vector_as_column(b) if col else b
    y = triangular_solve(c, x, lower, trans=not lower, name="cho_solve")
    x = triangular_solve(c, y, lower, trans=lower, name="cho_solve")
    return _column_as_vector(x) if col else x


# ==================================================================== slogdet
@builtin("slogdet(a)", "(sign, logabsdet): the sign and the log of the absolute value of "
         "the determinant, without overflow", "linear algebra")
def _slogdet(a):
    a = _mat(a, "slogdet", square=True)
    return P.det_sign(a), P.logabsdet(a)


@builtin("logdet(a)", "log(det(a)) without overflow: log|det a| where det a > 0, nan where "
         "it is negative", "linear algebra")
def _logdet(a):
    a = _mat(a, "logdet", square=True)
    # nan where det a < 0 (a constant added: the derivative stays log|det a|'s)
    negative = P.bind(P.lt_p, (P.det_sign(a), 0.0))
    return P.add(P.logabsdet(a), P.where(negative, xp.nan, 0.0))


# ==================================================================== the rest
def _rtol(a, rcond, rtol, name):
    for v, what in ((rcond, "rcond"), (rtol, "rtol")):
        if v is not None and type(strip(v)) not in (int, float):
            raise DpTypeError(f"`{name}`: {what} must be a number, got {kind_of(v)}", None,
                              None)
    if rtol is not None:
        return float(strip(rtol))
    if rcond is not None:
        return float(strip(rcond))
    return max(P.shape(a)[-2:]) * float(xp.finfo(xp.float64).eps)


@builtin_of(P.pinv_p)
def _pinv(a, rcond=None, hermitian=False, rtol=None):
    a = _mat(a, "pinv")
    if _bool_arg(hermitian, "pinv", "hermitian"):
        # a is taken as symmetric, read from its lower triangle (NumPy's eigh route);
        # its singular values are |eigenvalues|, so the cutoff is the same
        if P.shape(a)[-2] != P.shape(a)[-1]:
            raise DpShapeError(f"`pinv`: hermitian=true needs a square matrix (or a stack "
                               f"of them), got shape {P.shape(a)}", None, None)
        n = P.shape(a)[-1]
        a = P.add(P.mul(a, xp.tri(n)), _mT(P.mul(a, xp.tri(n, n, -1))))
    return P.pinv(a, _rtol(a, rcond, rtol, "pinv"))


@builtin("lstsq(a, b, rcond=none)", "(x, residuals, rank, s): the least-squares solution "
         "x = pinv(a) @ b (the minimum-norm one), NumPy's four results", "linear algebra")
def _lstsq(a, b, rcond=None):
    a = _num(a, "lstsq", "a")
    b = _num(b, "lstsq", "b")
    if P.ndim(a) != 2:
        raise DpShapeError(f"`lstsq` needs a matrix a, got shape {P.shape(a)}", None, None)
    m, n = P.shape(a)
    if P.ndim(b) not in (1, 2) or P.shape(b)[0] != m:
        raise DpShapeError(f"shape mismatch in `lstsq`: {P.shape(a)} and {P.shape(b)}", None,
                           "b needs as many rows as a")
    tol = _rtol(a, rcond, None, "lstsq")
    x = P.matmul(P.pinv(a, tol), b)
    s = _svd_parts(a)[1] if min(m, n) else xp.zeros(0)
    sv = xp.asarray(strip(s))
    rank = int(xp.sum(sv > tol * sv.max(initial=0.0)))
    if rank == n and m > n:
        res = P.sum_(P.square(P.sub(P.matmul(a, x), b)), axis=0)
        if P.ndim(b) == 1:
            res = P.reshape(res, (1,))
    else:
        res = xp.zeros(0)
    return x, res, rank, s


@builtin("matrix_power(a, n)", "a @ a @ ... @ a (n times; n = 0: the identity, n < 0: powers "
         "of inv(a))", "linear algebra")
def _matrix_power(a, n):
    a = _mat(a, "matrix_power", square=True)
    n = _int_arg(n, "matrix_power", "n")
    if n < 0:
        a, n = P.inv(a), -n
    if n == 0:
        return xp.broadcast_to(xp.eye(P.shape(a)[-1]), P.shape(a)).copy()
    result = None
    while n:  # binary powering: about 2 log2(n) products
        if n & 1:
            result = a if result is None else P.matmul(result, a)
        n >>= 1
        if n:
            a = P.matmul(a, a)
    return result


@builtin_of(P.expm_p)
def _expm(A):
    return P.expm(_mat(A, "expm", "A", square=True))

