"""The primitive layer's core: what a primitive is, the registry, `bind`, and the
dispatching operations' fast paths.

A primitive is one named object wrapping one vectorised NumPy call (`impl`),
optionally a Python-float function (`scalar`), and its derivative rules. `bind`
is the single seam between values and interpretations: with no traced argument
it runs the implementation (`apply_impl`, which checks operands, sizes and nans
and turns NumPy's exceptions into dprog errors); otherwise the traced argument
with the highest level decides which engine processes the call (see ad/).

The dispatching operations made by `unary_op`/`binary_op` are what the
evaluator and the rules call: plain Python numbers and float arrays take a path
that skips `bind`, with the same results.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

from ..core.backend import xp
from ..core.errors import (
    DpError,
    DpIndexError,
    DpLimitError,
    DpShapeError,
    DpTypeError,
    DpValueError,
    shown_int,
)
from ..core.limits import (  # noqa: F401 - re-exported for the rooms above
    LIMITS,
    WATCHED_BYTES,
    Limits,
    check_cost,
    check_deadline,
    check_memory,
    large_operation,
)
from ..core.values import BATCH_TYPES, TRACER_TYPES, has_nan, kind_of, strip_derivatives

F64 = xp.float64
ndarray = xp.ndarray
EMPTY: dict = {}



# True while any interpreter with check_nans is running. The Python-float and
# plain-array fast paths test this one global (cheap) and step aside so that
# every result goes through `apply_impl`, which does the actual check.
NAN_CHECK = False
_nan_users = 0


@contextmanager
def nan_pass(name: str):
    """Name the pass ("tangent", "backward") in which --check-nans reports a nan."""
    prev = LIMITS.nan_pass
    LIMITS.nan_pass = name
    try:
        yield
    finally:
        LIMITS.nan_pass = prev


def nan_check_enter() -> None:
    global NAN_CHECK, _nan_users
    _nan_users += 1
    NAN_CHECK = True


def nan_check_exit() -> None:
    global NAN_CHECK, _nan_users
    _nan_users -= 1
    NAN_CHECK = _nan_users > 0


_BOOL_KEEPERS = frozenset({"<", "<=", ">", ">=", "==", "!=", "where"})


class Primitive:
    """A named numeric operation: its NumPy implementation, its derivative rules and,
    when programs call it directly, its builtin's signature and doc. Made by `defprim`."""

    __slots__ = ("name", "impl", "scalar", "elementwise", "differentiable", "jvps", "vjps",
                 "jvp_joint", "vjp_joint", "batch", "shape_error", "pyfn", "sderiv", "op",
                 "bools_as_numbers", "sig", "doc", "category", "lean")

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


REGISTRY: dict[str, Primitive] = {}


def defprim(name: str, impl, *, key: str | None = None, scalar=None, elementwise: bool = False,
            differentiable: bool = True, jvp: tuple | None = None, vjp: tuple | None = None,
            jvp_joint=None, vjp_joint=None, sderiv=None, pyfn=None, batch=None,
            shape_error=None, lean: tuple = (),
            sig: str | None = None, doc: str | None = None, category: str | None = None,
            register: bool = True) -> Primitive:
    """Declare a primitive once, with everything dprog derives from it.

    impl(*args, **params)        the vectorised NumPy implementation
    scalar(*args)                the same on Python numbers (the dispatching operation's
                                 fast path)
    pyfn(*args)                  what the engines use on traced floats, when not `scalar`
    jvp / vjp                    one rule per argument: jvp_k(t, ans, *args, **params)
                                 gives the output tangent from argument k's tangent,
                                 vjp_k(g, ans, *args, **params) argument k's cotangent
                                 (None: that argument is not differentiable)
    jvp_joint / vjp_joint        instead, one rule for all arguments (n-ary primitives)
    sderiv(ans, *args)           the partial derivatives on floats (a float, or a tuple)
    batch                        the batching rule for `vmap` (prims/batching.py): a
                                 function or a rule's name; elementwise primitives
                                 default to "elementwise"
    differentiable=False         (no d): derivatives through it are zero
    shape_error(args, exc)       a dprog error for NumPy's complaint, or None
    lean                         the arguments whose values the VJP rules never read (only
                                 their shape); non-empty also promises that no VJP rule
                                 reads `ans`. A tape then records shapes, not arrays
    sig, doc, category           the builtin that calls it ("sin(x)", its one-line doc,
                                 its section of docs/builtins.md); lib/ builds the
                                 builtin table, `:help` and the docs from these
    key                          the registry name when `name` (shown in messages) is
                                 shared, as by unary and binary `-`
    register=False               not in REGISTRY (`Interpreter.define`'s primitives
                                 belong to one interpreter)
    """
    p = Primitive()
    p.name, p.impl, p.scalar, p.elementwise = name, impl, scalar, elementwise
    p.pyfn = pyfn if pyfn is not None else scalar
    p.differentiable, p.jvps, p.vjps, p.jvp_joint, p.vjp_joint = \
        differentiable, jvp, vjp, jvp_joint, vjp_joint
    if batch is None and elementwise:
        batch = "elementwise"
    p.sderiv, p.batch, p.shape_error, p.op = sderiv, batch, shape_error, None
    p.sig, p.doc, p.category = sig, doc, category
    p.lean = lean
    # arithmetic treats booleans as numbers (true + true == 2); comparisons,
    # `where`'s condition and `any`/`all` keep them
    p.bools_as_numbers = elementwise and name not in _BOOL_KEEPERS
    assert not differentiable or jvp is not None or jvp_joint is not None, \
        f"differentiable primitive {name!r} declared without a JVP rule"
    if register:
        assert (key or name) not in REGISTRY, f"primitive {key or name!r} registered twice"
        REGISTRY[key or name] = p
    return p


# ----------------------------------------------------------------------------- bind


def bind(p: Primitive, args: tuple, params: dict = EMPTY):
    """Apply primitive `p`: plain NumPy when nothing is traced, else the top trace."""
    top = None
    for a in args:
        if type(a) in TRACER_TYPES:
            tr = a._trace
            if top is None or tr.level > top.level:
                top = tr
    if top is None:
        return apply_impl(p, args, params)
    if p.differentiable or top.batching:
        return top.process(p, args, params)
    # (no d): drop the derivative tracers; a batching tracer under them still batches
    args = tuple(strip_derivatives(a) for a in args)
    for a in args:
        if type(a) in BATCH_TYPES:
            return bind(p, args, params)
    return apply_impl(p, args, params)


# Operations on arrays above this many elements check the budgets (small ones are
# covered by the checks between steps: they cannot take long or allocate much).
_LARGE = 1 << 18


def _checked_args(p: Primitive, args: tuple) -> tuple:
    """The operands as p.impl takes them, after the type, size and time checks."""
    for a in args:
        if type(a) not in _NUMERIC_TYPES:
            _bad_operand(p, args)
    if p.bools_as_numbers:
        for a in args:
            if type(a) is bool or (type(a) is ndarray and a.dtype == xp.bool_):
                args = _bools_as_numbers(args)
                break
    if p.elementwise and len(args) > 1:
        _check_broadcast(args)
    if LIMITS.watch:  # a large operation checks the time and memory budgets first
        for a in args:
            if type(a) is ndarray and a.size > _LARGE:
                large_operation(a.size)  # (a result about as big as its operand)
                break
    return args


def apply_impl(p: Primitive, args: tuple, params: dict):
    args = _checked_args(p, args)
    try:
        r = p.impl(*args, **params)
    except DpError:
        raise
    except (ValueError, IndexError, xp.linalg.LinAlgError, TypeError) as exc:
        if "maximum supported dimension" in str(exc) or "must be within [0, 64]" in str(exc):
            raise DpShapeError("arrays have at most 64 dimensions", None,
                               "NumPy's limit; reshape to fewer axes") from None
        if any(type(a) is int and not -_FLOAT_MAX < a < _FLOAT_MAX for a in args):
            raise DpValueError(f"`{p.name}`: integer too large to convert to float", None,
                               "keep such numbers as integers, or use floats throughout"
                               ) from None
        raise _translate(p, args, exc) from None
    except MemoryError:
        raise DpLimitError(f"`{p.name}` needs more memory than is available", None,
                           "the result would be too large; use smaller arrays") from None
    except OverflowError as exc:
        if any(type(a) is int for a in args):
            raise DpValueError(f"`{p.name}`: integer too large to convert to float", None,
                               "keep such numbers as integers, or use floats throughout"
                               ) from None
        raise _translate(p, args, exc) from None
    r = normalize(r)
    if NAN_CHECK and LIMITS.check_nans:
        _check_nan(p, args, r)
    return r


_FLOAT_MAX = int(xp.finfo(xp.float64).max)


def _nan_free(r: ndarray) -> bool:
    """No nan in the float array r. One dot product (nan iff some entry is nan; inf
    squared stays inf) is several times cheaper than isnan().any() on small arrays.
    (ravel("K") is a view of a transposed array too, where reshape would copy.)"""
    v = r.ravel("K")
    d = v.dot(v)
    return d == d


def _bools_as_numbers(args: tuple) -> tuple:
    """Arithmetic sees `true` as 1 and a boolean array as 0.0/1.0, as in Python/NumPy."""
    return tuple(int(a) if type(a) is bool else
                 a.astype(F64) if type(a) is ndarray and a.dtype == xp.bool_ else a
                 for a in args)


def _bad_operand(p, args):
    kinds = [kind_of(a) for a in args]
    if len(args) == 2 and not p.name.isalpha():
        hint = None
        if p.name == "+" and "a string" in kinds:
            hint = "convert with str(...) to join text and numbers"
        raise DpTypeError(f"unsupported operand types for `{p.name}`: {kinds[0]} and {kinds[1]}",
                          None, hint)
    bad = next(k for a, k in zip(args, kinds) if type(a) not in _NUMERIC_TYPES)
    raise DpTypeError(f"`{p.name}` expects numbers or arrays, got {bad}", None, None)


def _translate(p, args, exc) -> DpError:
    if p.shape_error is not None:
        err = p.shape_error(args, exc)
        if err is not None:
            return err
    shapes = " and ".join(str(xp.shape(a)) for a in args if isinstance(a, ndarray | float | int))
    text = str(exc)
    if isinstance(exc, xp.linalg.LinAlgError):
        return DpValueError(f"`{p.name}`: {text.lower()}", None,
                            "the matrix is singular or not square")
    if "broadcast" in text or "shape" in text or "dimension" in text or "size" in text:
        return DpShapeError(f"shape mismatch in `{p.name}`: {shapes}", None,
                            "shapes broadcast like NumPy; reshape or transpose one side")
    if isinstance(exc, IndexError):
        return DpIndexError(f"`{p.name}`: {text}", None, None)
    return DpValueError(f"`{p.name}`: {text}", None, None)


def _check_nan(p, args, r):
    if has_nan(r) and not any(has_nan(a) for a in args):
        err = DpValueError(f"`{p.name}` produced nan from inputs without nan "
                           f"(in the {LIMITS.nan_pass} pass)", None,
                           "check the domain of the operation (log of a negative, 0/0, inf-inf)")
        err.kind = "nan"
        raise err


_NUMERIC_TYPES = frozenset({int, float, bool, ndarray})


def normalize(r):
    """NumPy results as dprog values: 0-d -> Python number, arrays -> float64 (or bool)."""
    t = type(r)
    if t is ndarray:
        if r.ndim == 0:
            dt = r.dtype
            if dt == xp.bool_:
                return bool(r)
            return float(r)
        if r.dtype != F64 and r.dtype != xp.bool_:
            return r.astype(F64)
        return r
    if t is float or t is int or t is bool:
        return r
    if t is xp.float64 or isinstance(r, xp.floating):
        return float(r)
    if t is xp.bool_:
        return bool(r)
    if isinstance(r, xp.integer):
        return int(r)
    return r


def accept_array(a, refuse):
    """An array from outside dprog (a host value, a result of host code, a loaded file)
    as a dprog value: bools stay bools, other real numbers become float64 (a 0-d array
    a number). `refuse(dtype)` makes the error for anything else."""
    kind = a.dtype.kind
    try:
        if kind == "b":
            return normalize(xp.array(a, dtype=xp.bool_))
        if kind in "iuf" or (kind == "O" and all(
                isinstance(x, (int, float, xp.integer, xp.floating)) for x in a.flat)):
            return normalize(xp.array(a, dtype=F64))
    except (TypeError, ValueError, OverflowError):
        pass
    raise refuse(a.dtype)


def _check_broadcast(args) -> None:
    """Refuse an elementwise operation whose broadcast result exceeds max_array_elements."""
    shapes = [a.shape for a in args if type(a) is ndarray]
    if len(shapes) > 1 and any(s != shapes[0] for s in shapes):
        try:
            out = xp.broadcast_shapes(*shapes)
        except ValueError:
            return  # the implementation reports the shape mismatch
        check_size(math.prod(out))


def check_size(n: int, what: str = "array"):
    if n > LIMITS.max_array_elements:
        raise DpLimitError(f"{what} of {shown_int(n)} elements exceeds the limit of "
                           f"{LIMITS.max_array_elements} elements", None,
                           "use a smaller size, or raise max_array_elements")
    if LIMITS.max_memory is not None and not 0 < n < _WATCHED_ELEMENTS:
        check_memory(n * 8)  # (it returns at once for the smaller allocations skipped here)


_WATCHED_ELEMENTS = WATCHED_BYTES // 8


# --------------------------------------------------------------- shape helpers
def shape(x) -> tuple:
    t = type(x)
    if t is ndarray:
        return x.shape
    if t in TRACER_TYPES:
        return x.shape()
    return ()


def ndim(x) -> int:
    t = type(x)
    if t is ndarray:
        return x.ndim
    if t in TRACER_TYPES:
        return len(x.shape())
    return 0


def _nb(t, x) -> int:
    """Number of leading batch dimensions of tangent `t` relative to primal `x` (0 or 1)."""
    return ndim(t) - ndim(x)


def _norm_axis(axis, nd):
    if axis is None:
        return None
    if isinstance(axis, tuple):
        return tuple(a + nd if a < 0 else a for a in axis)
    return axis + nd if axis < 0 else axis


def _shift_axis(axis, nb, nd):
    """An axis argument for a tangent with `nb` batch dims in front."""
    if nb == 0:
        return axis
    if axis is None:
        return tuple(range(nb, nb + nd))
    axis = _norm_axis(axis, nd)
    if isinstance(axis, tuple):
        return tuple(a + nb for a in axis)
    return axis + nb


# -------------------------------------------------------------- scalar helpers
# Integers are Python ints, but one whose size passes this many bits is refused
# (repeated squaring would otherwise exhaust memory and time): a limits error.
_INT_BITS = 1 << 20


def _int_too_large() -> DpLimitError:
    return DpLimitError(f"integer result too large (more than {_INT_BITS} bits)", None,
                        "use floats for quantities this large, e.g. 2.0 ** n")


def _check_int_pow(a: int, b: int) -> None:
    """Refuse an int power whose result would pass `_INT_BITS` bits (a limits error).

    Estimated from the operands before computing, for every exponent: the result
    has at least b * (bits(a) - 1) bits, so `(3**600000)**64` is refused at once.
    """
    if abs(a) > 1 and b * (abs(a).bit_length() - 1) >= _INT_BITS:
        raise _int_too_large()


def _check_int_mul(a: int, b: int) -> None:
    """Refuse an int product whose result would pass `_INT_BITS` bits, before computing."""
    if a.bit_length() + b.bit_length() > _INT_BITS + 1:
        raise _int_too_large()



_F64 = xp.dtype(xp.float64)  # `dtype is _F64`: the cheapest float64 test


def _broadcast_error(p):
    def err(args, exc):
        shapes = " and ".join(str(xp.shape(a)) for a in args)
        return DpShapeError(f"shape mismatch in `{p}`: {shapes}", None,
                            "shapes broadcast like NumPy; reshape or transpose one side")
    return err
