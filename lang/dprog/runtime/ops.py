"""The language's run-time operations: operators, truth, indexing, fields, iteration,
array literals and unpacking, as the compiled code calls them.

Numeric work goes to the primitive layer (`prims`); this module adds what the
language itself means: `+` on strings and tuples, comparisons that give one bool,
index checks with dprog's wording, and the conversion of a stray Python exception
into a located dprog error (`convert_exception`).
"""

from __future__ import annotations

import math

from ..ad import forward_ops
from ..core.backend import xp
from ..core.errors import (
    DpError,
    DpIndexError,
    DpInternalError,
    DpLimitError,
    DpShapeError,
    DpTypeError,
    DpValueError,
    did_you_mean,
    note_frame,
    shown_int,
)
from ..core.lazy import lazy_module
from ..core.values import Module, Record, Tracer, kind_of, show, strip, values_equal
from ..prims import primitives as P
from .indexes import canonical_index, index_part
from .ownership import may_write

# format specs, imported when a program formats (core/lazy.py)
formatting = lazy_module("dprog.core.formatting")

ndarray = xp.ndarray

def convert_exception(exc: BaseException, span, fname) -> DpError:
    """A non-dprog exception raised while evaluating a node, as a dprog error."""
    if isinstance(exc, RecursionError):
        err: DpError = DpLimitError("recursion too deep for the host", span,
                                    "is a recursive function missing its base case?")
    elif isinstance(exc, MemoryError):
        err = DpLimitError("out of memory", span, "the program allocates too much")
    elif isinstance(exc, OverflowError):
        err = DpValueError(f"number too large: {exc}", span,
                           "integers are exact, but this one does not fit where it is used")
    elif isinstance(exc, (ValueError, IndexError)) and ("maximum supported dimension" in str(exc)
                                                     or "must be within [0, 64]" in str(exc)):
        err = DpShapeError("arrays have at most 64 dimensions", span,
                           "NumPy's limit; reshape to fewer axes")
    else:
        err = DpInternalError(f"internal error: {type(exc).__name__}: {exc}", span,
                              "this is a bug in dprog; please report it with the program")
    note_frame(err, span, fname)
    return err


def located(exc: BaseException, span, fname) -> DpError:
    """`exc`, raised by the code at `span` in the dprog function `fname`, as the error to
    raise in its place. Every compiled node that can fail runs its work as

        try:
            ...
        except Exception as exc:     # or `except DpError`: other exceptions pass on
            raise located(exc, span, fname)

    (a `try` costs nothing until something fails). A dprog error gets this frame noted
    (the span if it has none yet, one stack entry per dprog frame) and goes on; any
    other exception becomes a located dprog error (`convert_exception`) whose
    `__cause__` is the original, as `raise ... from exc` would set it.

    `span` and `fname` stay variables of the node's closure, named so, rather than
    being bound into a handler made at compile time: under --check-nans
    `ad.reverse.dprog_stack` reads them off the Python frames.
    """
    if isinstance(exc, DpError):
        note_frame(exc, span, fname)
        return exc
    err = convert_exception(exc, span, fname)
    err.__cause__ = exc
    return err


def refill_at(rt, span, fname) -> None:
    """rt.refill() for a loop: a step-limit, timeout or interrupt error points at the loop."""
    try:
        rt.refill()
    except DpError as err:
        raise located(err, span, fname)  # noqa: B904 - the same error, located


def truth(v) -> bool:
    t = type(v)
    if t is bool:
        return v
    if t is float or t is int:
        return v != 0
    return _truth_slow(v)


def _truth_slow(v) -> bool:
    v = strip(v)
    t = type(v)
    if t is bool or t is float or t is int:
        return bool(v)
    if t is ndarray:
        if v.size == 1:
            return bool(v.reshape(()))
        raise DpTypeError(f"a condition got an array of shape {v.shape}; it must be one bool "
                          "or number", None,
                          "use `any(...)` or `all(...)` to reduce the array to one bool")
    raise DpTypeError(f"a condition must be a bool or a number, got {kind_of(v)}", None, None)


def _num_or_array(v) -> bool:
    t = type(v)
    return t is float or t is int or t is bool or t is ndarray or isinstance(v, Tracer)


def _bad_operands(op, a, b):
    raise DpTypeError(f"unsupported operand types for `{op}`: {kind_of(a)} and {kind_of(b)}",
                      None, _operand_hint(op, a, b))


def _operand_hint(op, a, b):
    if op == "+" and (type(a) is str or type(b) is str):
        return "convert with str(...) to join text and numbers"
    return None


# Arithmetic goes to the primitive layer, which checks operand types (`+` also joins
# strings and tuples there, and int products past 4096 bits become ±inf, as `**`);
# `+ - * /` compute forward mode's float case first (ad/forward_ops.py).
op_add = forward_ops.op_add
op_sub = forward_ops.op_sub
op_mul = forward_ops.op_mul
op_div = forward_ops.op_div


op_floordiv = P.floordiv


op_mod = P.mod


op_pow = P.pow_


op_matmul = P.matmul


def _compare(op, prim, pyop):
    def f(a, b):
        ta, tb = type(a), type(b)
        if (ta is float or ta is int) and (tb is float or tb is int):
            return pyop(a, b)
        a, b = strip(a), strip(b)
        ta, tb = type(a), type(b)
        if ta is str and tb is str:
            return pyop(a, b)
        if _num_or_array(a) and _num_or_array(b):
            return P.bind(prim, (a, b))
        _bad_operands(op, a, b)
    return f


op_lt = _compare("<", P.lt_p, lambda a, b: a < b)


op_le = _compare("<=", P.le_p, lambda a, b: a <= b)


op_gt = _compare(">", P.gt_p, lambda a, b: a > b)


op_ge = _compare(">=", P.ge_p, lambda a, b: a >= b)


def op_eq(a, b):
    ta, tb = type(a), type(b)
    if (ta is float or ta is int) and (tb is float or tb is int):
        return a == b
    a, b = strip(a), strip(b)
    if (type(a) is ndarray or type(b) is ndarray) and _num_or_array(a) and _num_or_array(b):
        return P.bind(P.eq_p, (a, b))
    return values_equal(a, b)


def op_ne(a, b):
    r = op_eq(a, b)
    if type(r) is ndarray:
        return ~r
    return not r


def op_in(a, b):
    """`a in b`: an equal item of a tuple, a substring of a string, a field name of a
    record, or a number equal to an element of an array (NumPy's `(b == a).any()`)."""
    a, b = strip(a), strip(b)
    tb = type(b)
    if tb is tuple:
        return any(values_equal(a, x) for x in b)
    if tb is str or tb is Record:
        if type(a) is not str:
            what = "a substring" if tb is str else "a field name"
            raise DpTypeError(f"`in` {kind_of(b)} looks for {what}, got {kind_of(a)} on the "
                              "left", None, "convert with str(...)" if tb is str else
                              'write the field name as a string: "w" in params')
        return a in b if tb is str else a in b.keys()
    if tb is ndarray:
        if type(a) in (int, float, bool):
            return bool((b == a).any())
        raise DpTypeError(f"`in` an array looks for one number, got {kind_of(a)}", None,
                          "compare elementwise instead: any(a == b)")
    raise DpTypeError(f"`in` needs a tuple, string, record or array on the right, got "
                      f"{kind_of(b)}", None, None)


def op_not_in(a, b):
    return not op_in(a, b)


def format_field(value, spec: str | None) -> str:
    """One f-string field (or `format(value, spec)`) as text, within the element limit."""
    return formatting.format_value(value, spec, P.LIMITS.max_array_elements)


BINOPS = {"+": op_add, "-": op_sub, "*": op_mul, "/": op_div, "//": op_floordiv, "%": op_mod,
          "**": op_pow, "@": op_matmul, "<": op_lt, "<=": op_le, ">": op_gt, ">=": op_ge,
          "==": op_eq, "!=": op_ne, "in": op_in, "not in": op_not_in}


def op_neg(a):
    t = type(a)
    if t is float or t is int:
        return -a
    if _num_or_array(a):
        return P.neg(a)
    raise DpTypeError(f"cannot negate {kind_of(a)}", None, None)


def op_pos(a):
    if _num_or_array(a):
        return a
    raise DpTypeError(f"unary `+` needs a number or an array, got {kind_of(a)}", None, None)


def as_index(v, what="index"):
    t = type(v)
    if t is int:
        return v
    v = strip(v)
    t = type(v)
    if t is int:
        return v
    if t is float and v.is_integer():
        raise DpTypeError(f"{what} must be an integer, got the float {show(v)}", None,
                          f"use int(...): `int({show(v)})`")
    if t is ndarray and v.ndim == 0:
        return as_index(float(v), what)
    raise DpTypeError(f"{what} must be an integer, got {kind_of(v)}", None,
                      "indices are integers (use int(...)) or slices a:b:c")


def slice_part(v):
    if v is None:
        return None
    return as_index(v, "a slice bound")


def index_value(obj, idx: list):
    """obj[idx...] for arrays, tuples, strings and ranges, with readable errors. `idx`
    holds index parts (`indexes.index_part`)."""
    t = type(obj)
    if t is ndarray or isinstance(obj, Tracer):
        if len(idx) == 1 and type(idx[0]) is int:  # x[i]: the one check it needs, here
            i = idx[0]
            s = P.shape(obj)
            if s and -s[0] <= i < s[0]:
                return P.getitem(obj, (i,))
        return P.getitem(obj, canonical_index(P.shape(obj), idx))
    if t is tuple or t is str or t is range:
        if len(idx) != 1 or (type(idx[0]) is not int and type(idx[0]) is not slice):
            raise DpIndexError(f"{kind_of(obj)} takes one integer index or slice, got "
                               f"{_shown_index(idx)}", None,
                               "index arrays and masks select from arrays: turn it into "
                               "one first if it holds numbers")
        i = idx[0]
        if type(i) is int and not -len(obj) <= i < len(obj):
            raise DpIndexError(f"index {shown_int(i)} is out of range for {kind_of(obj)} of length "
                               f"{len(obj)}", None,
                               f"valid indices are 0 to {len(obj) - 1}" if len(obj) else
                               "it is empty")
        return obj[i]
    if t is Record:
        raise DpTypeError("records are read with `.field`, not `[...]`", None,
                          "e.g. `r.w`")
    raise DpTypeError(f"cannot index {kind_of(obj)}", None, None)


def _shown_index(idx: list) -> str:
    if len(idx) != 1:
        return f"{len(idx)} indices"
    i = idx[0]
    return "a slice" if type(i) is slice else kind_of(i)


def set_index_value(obj, idx: list, value, accumulate=None, sole: bool = False):
    """obj with obj[idx...] replaced by `value`, or combined with it by `accumulate`
    (op_add or op_sub: `+=` and `-=`, where repeated indices of an array add up, as
    np.add.at). `sole` says the caller's variable is the only holder of obj, so that
    the update may write into it (`ownership.may_write`)."""
    t = type(obj)
    if t is ndarray or isinstance(obj, Tracer):
        if not _num_or_array(value):
            raise DpTypeError(f"cannot store {kind_of(value)} in an array", None,
                              "arrays hold numbers")
        cidx = canonical_index(P.shape(obj), idx)
        inplace = sole and may_write(obj)
        if accumulate is None:
            return P.setitem(obj, cidx, value, inplace)
        if accumulate is op_sub:
            value = op_neg(value)  # exact: a - v == a + (-v) in floating point
        return P.setitem_add(obj, cidx, value, inplace)
    if t is tuple:
        if len(idx) != 1 or type(idx[0]) is not int:
            raise DpIndexError("a tuple update takes one integer index", None,
                               "build a new tuple for more, e.g. `t = (a, t[1])`")
        i = idx[0]
        if not -len(obj) <= i < len(obj):
            raise DpIndexError(f"index {shown_int(i)} is out of range for a tuple of length "
                               f"{len(obj)}", None, None)
        lst = list(obj)
        lst[i] = value if accumulate is None else accumulate(lst[i], value)
        return tuple(lst)
    raise DpTypeError(f"cannot update an element of {kind_of(obj)}", None, None)


# Read-only attributes of arrays (and numbers), as NumPy's: x.shape, x.T, x.ndim, x.size
ARRAY_ATTRIBUTES = {
    "shape": P.shape,
    "ndim": P.ndim,
    "size": lambda x: math.prod(P.shape(x)),
    "T": lambda x: P.transpose(x) if P.ndim(x) >= 2 else x,
}


def index_one(o, i):
    """`o[i]` with one subscript, as both compilers read it: a Python float (or bool)
    straight from a 1-d array for an int, a tuple's item for an int in range, else
    the general `index_value`."""
    if type(o) is tuple and type(i) is int and -len(o) <= i < len(o):
        return o[i]
    if type(o) is ndarray and type(i) is int and o.ndim == 1:
        try:
            v = o[i]
        except IndexError:
            return index_value(o, [i])  # raises dprog's index error
        return float(v) if o.dtype == xp.float64 else bool(v)
    return index_value(o, [index_part(i)])


_ABSENT = object()


def field(obj, name):
    """`obj.name`: a record's field without a call, else `get_field`."""
    if type(obj) is Record:
        v = obj._f.get(name, _ABSENT)
        if v is not _ABSENT:
            return v
    return get_field(obj, name)


def get_field(obj, name):
    t = type(obj)
    if t is Record or t is Module:
        return obj.get(name)
    if t is ndarray or t is float or t is int or isinstance(obj, Tracer):
        attribute = ARRAY_ATTRIBUTES.get(name)
        if attribute is not None:
            return attribute(obj)
        raise DpTypeError(f"{kind_of(obj)} has no attribute `.{name}`", None,
                          did_you_mean(name, list(ARRAY_ATTRIBUTES))
                          or "arrays have .shape, .T, .ndim and .size")
    raise DpTypeError(f"`.{name}` needs a record or a module, got {kind_of(obj)}", None, None)


def iterate(v):
    t = type(v)
    if t is range:
        return v
    if t is ndarray:
        if v.ndim == 0:
            raise DpTypeError("cannot iterate over a 0-d array", None, None)
        if v.ndim == 1:
            return v.tolist()  # Python floats (or bools): the fast scalar paths
        return list(v)
    if t is tuple or t is str:
        return v
    if isinstance(v, Tracer):
        s = P.shape(v)
        if not s:
            raise DpTypeError("cannot iterate over a number", None,
                              "use `range(n)` to count")
        return (P.getitem(v, (i,)) for i in range(s[0]))
    if hasattr(v, "dp_iter"):
        return v.dp_iter()
    raise DpTypeError(f"cannot iterate over {kind_of(v)}", None,
                      "iterate over a range, an array (its rows) or a tuple")


def make_array(vals: list):
    for v in vals:
        tv = type(v)
        if tv is float or tv is int or tv is bool:
            continue
        if tv is ndarray or isinstance(v, Tracer):
            if tv is not ndarray or any(isinstance(x, Tracer) for x in vals):
                return P.array_literal([x if type(x) is not int and type(x) is not bool
                                        else float(x) for x in vals])
            try:
                return xp.array(vals, dtype=xp.float64)
            except ValueError:
                return P.stack(vals, axis=0)  # raises a readable shape error
        raise DpTypeError(f"an array literal holds numbers or arrays, got {kind_of(v)}", None,
                          "use a tuple `(a, b)` to group other values")
    return xp.array(vals, dtype=xp.float64)


def unpack(v, n: int, what: str, names: str) -> tuple:
    """The n parts of `v` for `let a, b = v` / `a, b = v` / `for a, b in ...`:
    a tuple of n values, or an array (or traced array) of n rows."""
    if type(v) is tuple:
        if len(v) == n:
            return v
        raise DpTypeError(f"{what} with {n} {names} got a tuple of {len(v)} values", None,
                          f"the number of {names} must match the tuple's length")
    shp = P.shape(v) if _num_or_array(v) else None
    if shp:
        if shp[0] == n:
            return tuple(P.getitem(v, (i,)) for i in range(n))
        raise DpTypeError(f"{what} with {n} {names} got an array of {shp[0]} rows", None,
                          f"the number of {names} must match the array's first axis")
    raise DpTypeError(f"{what} with {n} {names} needs a tuple of {n} values, got "
                      f"{kind_of(v)}", None, "e.g. `let a, b = (1, 2)`")


def unpack_at(v, n: int, what: str, names: str, span, fname) -> tuple:
    """`unpack` for a statement at `span` (a tuple of n values passes straight through)."""
    if type(v) is tuple and len(v) == n:
        return v
    try:
        return unpack(v, n, what, names)
    except DpError as err:
        raise located(err, span, fname)  # noqa: B904 - the same error, located

