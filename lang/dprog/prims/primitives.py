"""The primitive layer: every numeric operation, with its derivative rules beside it.

Each primitive is one named object wrapping one vectorised NumPy call
(`impl`), optionally a Python-float fast path (`scalar`), and its rules:

* ``defderiv(p, d0, d1, ...)`` for elementwise primitives: ``d_k(ans, *args)``
  is the partial derivative with respect to argument k. Both modes use it:
  the JVP is ``t * d`` and the VJP is ``unbroadcast(g * d)``.
* ``defjvp(p, ...)`` / ``defvjp(p, ...)`` for the rest, one short function per
  argument (or one joint function for n-ary primitives such as ``stack``).

Rules are written with the dispatching operations of this module (`add`,
`mul`, `sin`, ...), so a rule applied to traced values is itself traced:
that is what makes derivatives nest to any order.

``bind`` is the single entry point: with no traced argument it runs the NumPy
implementation; otherwise the traced argument with the highest level decides
which differentiation engine (forward `Dual` or reverse tape, see ad.py)
processes the call.
"""

from __future__ import annotations

import math
import operator
import threading
from contextlib import contextmanager

import numpy as np

from ..core.errors import (
    DpDifferentiationError,
    DpError,
    DpIndexError,
    DpLimitError,
    DpShapeError,
    DpTypeError,
    DpValueError,
)
from ..core.values import TRACER_TYPES, has_nan, kind_of, strip

F64 = np.float64
ndarray = np.ndarray
_PYNUM = (int, float, bool)
_PYNUM_SET = frozenset(_PYNUM)
EMPTY: dict = {}


class Limits(threading.local):
    """Numeric limits of the interpreter running on this thread (set on entry)."""

    max_array_elements = 10**9
    check_nans = False
    nan_pass = "forward"


LIMITS = Limits()

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
    """A named numeric operation with its NumPy implementation and derivative rules."""

    __slots__ = ("name", "impl", "scalar", "elementwise", "jvps", "vjps", "jvp_joint",
                 "vjp_joint", "nondiff", "shape_error", "doc", "pyfn", "sderiv", "op",
                 "bools_as_numbers")

    def __init__(self, name, impl, scalar=None, elementwise=False, nondiff=False,
                 shape_error=None):
        self.name = name
        self.impl = impl
        self.scalar = scalar
        self.elementwise = elementwise
        self.nondiff = nondiff
        self.jvps = None
        self.vjps = None
        self.jvp_joint = None
        self.vjp_joint = None
        self.shape_error = shape_error
        # Python-float fast path: `pyfn` computes the value of plain numbers and
        # `sderiv(ans, *args)` their partial derivatives (a float, or a tuple for
        # two arguments). Both engines use them when every operand is a float;
        # any arithmetic exception falls back to the NumPy rules above.
        self.pyfn = scalar
        self.sderiv = None
        # arithmetic treats booleans as numbers (true + true == 2); comparisons,
        # `where`'s condition and `any`/`all` keep them
        self.bools_as_numbers = elementwise and name not in _BOOL_KEEPERS
        # the dispatching operation (with its fast paths) for calls without params
        self.op = None

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    @property
    def has_rules(self) -> bool:
        return self.nondiff or ((self.jvps is not None or self.jvp_joint is not None)
                                and (self.vjps is not None or self.vjp_joint is not None))


REGISTRY: dict[str, Primitive] = {}


def primitive(name, impl, scalar=None, elementwise=False, nondiff=False, shape_error=None,
              key=None):
    """Make and register a primitive; `key` names it in REGISTRY when `name` (shown in
    messages) is shared, as by unary and binary `-`."""
    p = Primitive(name, impl, scalar, elementwise, nondiff, shape_error)
    assert (key or name) not in REGISTRY, f"primitive {key or name!r} registered twice"
    REGISTRY[key or name] = p
    return p


def defjvp(p, *rules):
    """Per-argument JVP rules: rule_k(t, ans, *args, **params) -> tangent of the output."""
    p.jvps = rules


def defvjp(p, *rules):
    """Per-argument VJP rules: rule_k(g, ans, *args, **params) -> cotangent of argument k."""
    p.vjps = rules


def defderiv(p, *derivs, safe=True):
    """Elementwise rules from partial derivatives d_k(ans, *args).

    With `safe` (the default), a zero tangent/cotangent stays exactly zero even
    where the partial derivative is infinite or nan: sqrt and log at 0, but also
    x * log(x) (a partial of `*` is log(0) = -inf) and, in second derivatives, a
    partial carrying a nan tangent from an untaken `where` branch. Only rules
    whose partials are finite constants opt out (`safe=False`).
    """
    if safe:
        def make_jvp(d):
            return lambda t, ans, *args: safe_mul(t, d(ans, *args))

        def make_vjp(d, k):
            return lambda g, ans, *args: unbroadcast(safe_mul(g, d(ans, *args)), args[k])
    else:
        def make_jvp(d):
            return lambda t, ans, *args: mul(t, d(ans, *args))

        def make_vjp(d, k):
            return lambda g, ans, *args: unbroadcast(mul(g, d(ans, *args)), args[k])

    p.jvps = tuple(None if d is None else make_jvp(d) for d in derivs)
    p.vjps = tuple(None if d is None else make_vjp(d, k) for k, d in enumerate(derivs))


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
    if p.nondiff:
        return apply_impl(p, tuple(strip(a) for a in args), params)
    return top.process(p, args, params)


def apply_impl(p: Primitive, args: tuple, params: dict):
    for a in args:
        if type(a) not in _NUMERIC_TYPES:
            _bad_operand(p, args)
    if p.bools_as_numbers:
        for a in args:
            if type(a) is bool or (type(a) is ndarray and a.dtype == np.bool_):
                args = _bools_as_numbers(args)
                break
    if p.elementwise and len(args) > 1:
        _check_broadcast(args)
    try:
        r = p.impl(*args, **params)
    except DpError:
        raise
    except (ValueError, IndexError, np.linalg.LinAlgError, TypeError) as exc:
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


_FLOAT_MAX = int(np.finfo(np.float64).max)


def _nan_free(r: ndarray) -> bool:
    """No nan in the float array r. One dot product (nan iff some entry is nan; inf
    squared stays inf) is several times cheaper than isnan().any() on small arrays."""
    v = r.reshape(-1)
    d = v.dot(v)
    return d == d


def _bools_as_numbers(args: tuple) -> tuple:
    """Arithmetic sees `true` as 1 and a boolean array as 0.0/1.0, as in Python/NumPy."""
    return tuple(int(a) if type(a) is bool else
                 a.astype(F64) if type(a) is ndarray and a.dtype == np.bool_ else a
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
    shapes = " and ".join(str(np.shape(a)) for a in args if isinstance(a, ndarray | float | int))
    text = str(exc)
    if isinstance(exc, np.linalg.LinAlgError):
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
            if dt == np.bool_:
                return bool(r)
            return float(r)
        if r.dtype != F64 and r.dtype != np.bool_:
            return r.astype(F64)
        return r
    if t is float or t is int or t is bool:
        return r
    if t is np.float64 or isinstance(r, np.floating):
        return float(r)
    if t is np.bool_:
        return bool(r)
    if isinstance(r, np.integer):
        return int(r)
    return r


def _check_broadcast(args) -> None:
    """Refuse an elementwise operation whose broadcast result exceeds max_array_elements."""
    shapes = [a.shape for a in args if type(a) is ndarray]
    if len(shapes) > 1 and any(s != shapes[0] for s in shapes):
        try:
            out = np.broadcast_shapes(*shapes)
        except ValueError:
            return  # the implementation reports the shape mismatch
        check_size(math.prod(out))


def check_size(n: int, what: str = "array"):
    if n > LIMITS.max_array_elements:
        raise DpLimitError(f"{what} of {n} elements exceeds the limit of "
                           f"{LIMITS.max_array_elements} elements", None,
                           "use a smaller size, or raise max_array_elements")


# --------------------------------------------------------------- shape helpers
def shape(x) -> tuple:
    t = type(x)
    if t is ndarray:
        return x.shape
    if t is float or t is int:
        return ()
    x = strip(x)
    if type(x) is ndarray:
        return x.shape
    return ()


def ndim(x) -> int:
    t = type(x)
    if t is ndarray:
        return x.ndim
    if t is float or t is int:
        return 0
    x = strip(x)
    if type(x) is ndarray:
        return x.ndim
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


def pad_batched(t, out_nd: int, nb: int = 1):
    """Insert unit axes after the batch axis so `t` broadcasts against a rank-`out_nd` value."""
    tn = ndim(t) - nb
    if tn >= out_nd:
        return t
    s = shape(t)
    return reshape(t, s[:nb] + (1,) * (out_nd - tn) + s[nb:])


def unbroadcast(g, x):
    """Sum cotangent `g` down to the shape of `x` (undoing NumPy broadcasting)."""
    xs = shape(x)
    gs = shape(g)
    if gs == xs:
        if type(strip(x)) is not ndarray and type(strip(g)) is ndarray:
            return sum_(g)
        return g
    extra = len(gs) - len(xs)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, d in enumerate(xs) if d == 1 and gs[i + extra] != 1)
    if axes:
        g = sum_(g, axis=axes)
    if shape(g) != xs:
        g = reshape(g, xs) if xs else sum_(g)
    return g


# -------------------------------------------------------------- scalar helpers
# Integers are Python ints, but one whose size passes this many bits is refused
# (repeated squaring would otherwise exhaust memory and time): a limits error.
_INT_BITS = 1 << 20


def _int_too_large() -> DpLimitError:
    return DpLimitError(f"integer result too large (more than {_INT_BITS} bits)", None,
                        "use floats for quantities this large, e.g. 2.0 ** n")


def _guard_int_pow(a, b):
    if type(a) is int and type(b) is int and b > 64 and abs(a) > 1:
        if b * math.log2(abs(a)) > _INT_BITS:
            raise _int_too_large()
    return None


def _safe_scalar(fn):
    """Math-module fast path; domain/overflow errors fall back to NumPy (nan/inf)."""
    def f(x):
        return fn(x)
    return f


# ================================================================ elementwise: unary
def _unary(name, npfn, mathfn=None, nondiff=False, key=None):
    return primitive(name, npfn, scalar=mathfn, elementwise=True, nondiff=nondiff, key=key)


neg_p = _unary("-", np.negative, lambda x: -x, key="neg")
abs_p = _unary("abs", np.abs, abs)
sqrt_p = _unary("sqrt", np.sqrt, math.sqrt)
exp_p = _unary("exp", np.exp, math.exp)
log_p = _unary("log", np.log, math.log)
log1p_p = _unary("log1p", np.log1p, math.log1p)
expm1_p = _unary("expm1", np.expm1, math.expm1)
sin_p = _unary("sin", np.sin, math.sin)
cos_p = _unary("cos", np.cos, math.cos)
tan_p = _unary("tan", np.tan, math.tan)
asin_p = _unary("asin", np.arcsin, math.asin)
acos_p = _unary("acos", np.arccos, math.acos)
atan_p = _unary("atan", np.arctan, math.atan)
sinh_p = _unary("sinh", np.sinh, math.sinh)
cosh_p = _unary("cosh", np.cosh, math.cosh)
tanh_p = _unary("tanh", np.tanh, math.tanh)


def _sigmoid_np(x):
    # exp of -|x| only: 1 / (1 + e) for x >= 0, e / (1 + e) below, so that the
    # tiny values of very negative x keep their precision (log(sigmoid(-40)) = -40)
    x = np.asarray(x, dtype=F64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_py(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


sigmoid_p = _unary("sigmoid", _sigmoid_np, _sigmoid_py)
relu_p = _unary("relu", lambda x: np.maximum(x, 0.0),
                lambda x: x if x > 0 or x != x else 0.0)  # nan stays nan, as in NumPy
softplus_p = _unary("softplus", lambda x: np.logaddexp(0.0, x),
                    lambda x: math.log1p(math.exp(-abs(x))) + max(x, 0.0))
sign_p = _unary("sign", np.sign, None, nondiff=True)
floor_p = _unary("floor", np.floor, None, nondiff=True)
ceil_p = _unary("ceil", np.ceil, None, nondiff=True)
round_p = primitive("round", lambda x, digits=0: np.round(x, digits), nondiff=True)

defderiv(neg_p, lambda ans, x: -1.0, safe=False)
neg_p.jvps = (lambda t, ans, x: neg(t),)
neg_p.vjps = (lambda g, ans, x: neg(g),)
defderiv(abs_p, lambda ans, x: sign(x), safe=False)
defderiv(sqrt_p, lambda ans, x: div(0.5, ans), safe=True)
defderiv(exp_p, lambda ans, x: ans)
defderiv(log_p, lambda ans, x: div(1.0, x), safe=True)
defderiv(log1p_p, lambda ans, x: div(1.0, add(1.0, x)), safe=True)
defderiv(expm1_p, lambda ans, x: add(ans, 1.0))
defderiv(sin_p, lambda ans, x: cos(x))
defderiv(cos_p, lambda ans, x: neg(sin(x)))
defderiv(tan_p, lambda ans, x: add(1.0, mul(ans, ans)))
defderiv(asin_p, lambda ans, x: div(1.0, sqrt(sub(1.0, mul(x, x)))), safe=True)
defderiv(acos_p, lambda ans, x: div(-1.0, sqrt(sub(1.0, mul(x, x)))), safe=True)
defderiv(atan_p, lambda ans, x: div(1.0, add(1.0, mul(x, x))))
defderiv(sinh_p, lambda ans, x: cosh(x))
defderiv(cosh_p, lambda ans, x: sinh(x))
defderiv(tanh_p, lambda ans, x: sub(1.0, mul(ans, ans)))
defderiv(sigmoid_p, lambda ans, x: mul(ans, sub(1.0, ans)))
defderiv(relu_p, lambda ans, x: _step(x), safe=False)
defderiv(softplus_p, lambda ans, x: sigmoid(x))


def _step(x):
    """1 where x > 0, else 0 (a constant: relu's derivative, 0 at 0 as SPEC §6 says)."""
    x = strip(x)
    if type(x) is ndarray:
        return (x > 0).astype(F64)
    return 1.0 if x > 0 else 0.0


# =============================================================== elementwise: binary
def _broadcast_error(p):
    def err(args, exc):
        shapes = " and ".join(str(np.shape(a)) for a in args)
        return DpShapeError(f"shape mismatch in `{p}`: {shapes}", None,
                            "shapes broadcast like NumPy; reshape or transpose one side")
    return err


def _binary(name, npfn, nondiff=False, key=None):
    return primitive(name, npfn, elementwise=True, nondiff=nondiff,
                     shape_error=_broadcast_error(name), key=key)


def _floordiv_np(a, b):
    if type(a) is int and type(b) is int and b == 0:
        raise DpValueError("integer division by zero", None, "divide by a float to get inf")
    return np.floor_divide(a, b)


def _mod_np(a, b):
    if type(a) is int and type(b) is int and b == 0:
        raise DpValueError("integer modulo by zero", None, None)
    return np.mod(a, b)


def _pow_np(a, b):
    if type(a) is int and type(b) is int:
        if b < 0:
            return float(a) ** b if a != 0 else math.inf
        big = _guard_int_pow(a, b)
        if big is not None:
            return big
        return a ** b
    if type(a) is ndarray or type(b) is ndarray:
        return np.power(np.asarray(a, dtype=F64), b)
    return np.power(F64(a), b)


add_p = _binary("+", np.add)
sub_p = _binary("-", np.subtract)
mul_p = _binary("*", np.multiply)
div_p = _binary("/", lambda a, b: np.true_divide(a, b))
floordiv_p = _binary("//", _floordiv_np, nondiff=True)
mod_p = _binary("%", _mod_np)
pow_p = _binary("**", _pow_np)
atan2_p = _binary("atan2", np.arctan2)
maximum_p = _binary("maximum", np.maximum)
minimum_p = _binary("minimum", np.minimum)

def _bt(t, ans):
    """An elementwise rule's tangent broadcast to the output's shape, so that
    x + zeros((2, 3)) has a (2, 3) tangent even when x is (3,). Batched tangents (one
    more axis than the output) are left to the forward trace, which pads them."""
    if type(t) is ndarray and type(ans) is ndarray and t.shape == ans.shape:
        return t
    ts, s = shape(t), shape(ans)
    if ts == s or len(ts) > len(s):
        return t
    return broadcast_to(t, s)


add_p.jvps = (lambda t, ans, a, b: _bt(t, ans), lambda t, ans, a, b: _bt(t, ans))
add_p.vjps = (lambda g, ans, a, b: unbroadcast(g, a), lambda g, ans, a, b: unbroadcast(g, b))
sub_p.jvps = (lambda t, ans, a, b: _bt(t, ans), lambda t, ans, a, b: _bt(neg(t), ans))
sub_p.vjps = (lambda g, ans, a, b: unbroadcast(g, a),
              lambda g, ans, a, b: unbroadcast(neg(g), b))
defderiv(mul_p, lambda ans, a, b: b, lambda ans, a, b: a)
defderiv(div_p, lambda ans, a, b: div(1.0, b), lambda ans, a, b: neg(div(ans, b)), safe=True)
defderiv(mod_p, lambda ans, a, b: 1.0, lambda ans, a, b: neg(floor(div(a, b))), safe=False)
mod_p.jvps = (lambda t, ans, a, b: _bt(t, ans), mod_p.jvps[1])
defderiv(atan2_p,
         lambda ans, y, x: div(x, add(mul(x, x), mul(y, y))),
         lambda ans, y, x: neg(div(y, add(mul(x, x), mul(y, y)))), safe=True)


def _pow_dx(ans, x, y):
    ty = type(y)
    if ty is float or ty is int:  # a constant exponent (a traced one keeps its derivative)
        if y == 2:
            return mul(2.0, x)
        if y == 0:
            return 0.0  # x ** 0 is constant, also at x = 0
    # safe: 0 where y == 0 even if x ** (y - 1) is infinite (x = 0)
    return safe_mul(y, pow_(x, sub(y, 1.0)))


def _pow_dy(ans, x, y):
    xs = strip(x)
    positive = xs > 0
    return mul(ans, log(where(positive, x, 1.0)))


defderiv(pow_p, _pow_dx, _pow_dy, safe=True)


def _tie_weights(a, b):
    """d maximum(a, b)/da: 1 where a wins, 1/2 on ties (as JAX), else 0; a constant."""
    a, b = strip(a), strip(b)
    w = np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0))
    return float(w) if w.ndim == 0 else w


defderiv(maximum_p, lambda ans, a, b: _tie_weights(a, b), lambda ans, a, b: _tie_weights(b, a),
         safe=False)
defderiv(minimum_p, lambda ans, a, b: _tie_weights(b, a), lambda ans, a, b: _tie_weights(a, b),
         safe=False)

# comparisons: never differentiable; evaluated on plain values
lt_p = _binary("<", np.less, nondiff=True)
le_p = _binary("<=", np.less_equal, nondiff=True)
gt_p = _binary(">", np.greater, nondiff=True)
ge_p = _binary(">=", np.greater_equal, nondiff=True)
eq_p = _binary("==", np.equal, nondiff=True)
ne_p = _binary("!=", np.not_equal, nondiff=True)


# safe multiply: 0 * anything = 0, on either side (keeps untaken branches from turning
# into nan). Either side: in reverse-over-reverse, the cotangent of a zero partial
# derivative can be infinite (the zero is then the second operand).
def _safe_mul_np(g, d):
    r = np.multiply(g, d)
    if type(r) is ndarray:
        if not _nan_free(r):  # only 0 * inf (or a nan operand) makes nan
            r = np.where((np.asarray(g) == 0) | (np.asarray(d) == 0), 0.0, r)
        return r
    return 0.0 if g == 0 or d == 0 else r


safe_mul_p = _binary("*", _safe_mul_np, key="safe_mul")
safe_mul_p.jvps = (lambda t, ans, g, d: safe_mul(t, d), lambda t, ans, g, d: safe_mul(g, t))
safe_mul_p.vjps = (lambda c, ans, g, d: unbroadcast(safe_mul(c, d), g),
                   lambda c, ans, g, d: unbroadcast(safe_mul(c, g), d))


def _where_np(c, a, b):
    return np.where(c, a, b)


where_p = primitive("where", _where_np, elementwise=True, shape_error=_broadcast_error("where"))
where_p.jvps = (None,
                lambda t, ans, c, a, b: _bt(where(c, t, 0.0), ans),
                lambda t, ans, c, a, b: _bt(where(c, 0.0, t), ans))
where_p.vjps = (None,
                lambda g, ans, c, a, b: unbroadcast(where(c, g, 0.0), a),
                lambda g, ans, c, a, b: unbroadcast(where(c, 0.0, g), b))


# ======================================================================= reductions
def _sum_np(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims)


def _axis_error(name):
    def err(args, exc):
        if isinstance(exc, (ValueError, IndexError)) and "axis" in str(exc):
            nd = np.ndim(args[0])
            return DpIndexError(f"`{name}`: axis out of range for an array with {nd} "
                                f"dimension{'s' if nd != 1 else ''}", None,
                                f"axes run from {-nd} to {nd - 1}" if nd
                                else "a number has no axes")
        return None
    return err


sum_p = primitive("sum", _sum_np, shape_error=_axis_error("sum"))
sum_p.jvps = (lambda t, ans, x, axis=None, keepdims=False:
              sum_(t, axis=_shift_axis(axis, _nb(t, x), ndim(x)), keepdims=keepdims),)
sum_p.vjps = (lambda g, ans, x, axis=None, keepdims=False:
              broadcast_to(_expand_reduced(g, x, axis, keepdims), shape(x)),)


def _expand_reduced(g, x, axis, keepdims):
    """Reshape a reduction's cotangent so it broadcasts back over the reduced axes."""
    if keepdims or axis is None:
        return g
    nd = ndim(x)
    axes = _norm_axis(axis, nd)
    axes = axes if isinstance(axes, tuple) else (axes,)
    s = list(shape(x))
    for a in axes:
        s[a] = 1
    return reshape(g, tuple(s))


def _reduce_mask(x, ans, axis):
    """Indicator of the arg-max/min positions, ties sharing equally (a constant)."""
    xs = strip(x)
    a = np.asarray(strip(ans))
    if axis is not None:
        a = np.expand_dims(a, _norm_axis(axis, xs.ndim))
    m = (xs == a).astype(F64)
    cnt = m.sum(axis=axis, keepdims=True)
    return normalize(m / cnt)  # a 0-d x gives np.float64 here, which `mul` rejects


def _max_np(x, axis=None):
    return np.max(x, axis=axis)


def _min_np(x, axis=None):
    return np.min(x, axis=axis)


def _empty_reduce(name):
    base = _axis_error(name)

    def err(args, exc):
        if "zero-size" in str(exc) or "empty" in str(exc):
            return DpValueError(f"`{name}` of an empty array", None, None)
        return base(args, exc)
    return err


max_p = primitive("max", _max_np, shape_error=_empty_reduce("max"))
min_p = primitive("min", _min_np, shape_error=_empty_reduce("min"))
for _p in (max_p, min_p):
    _p.jvps = (lambda t, ans, x, axis=None:
               sum_(mul(pad_batched(t, ndim(x), _nb(t, x)), _reduce_mask(x, ans, axis)),
                    axis=_shift_axis(axis, _nb(t, x), ndim(x))),)
    _p.vjps = (lambda g, ans, x, axis=None:
               mul(broadcast_to(_expand_reduced(g, x, axis, False), shape(x)),
                   _reduce_mask(x, ans, axis)),)


def _prod_np(x, axis=None):
    return np.prod(x, axis=axis)


def _prod_others_np(x, axis=None):
    """Product of all other entries along `axis` (exact with zeros: prefix * suffix)."""
    x = np.asarray(x, dtype=F64)
    if axis is None:
        flat = x.reshape(-1)
        return _prod_others_np(flat, 0).reshape(x.shape)
    axis = _norm_axis(axis, x.ndim)
    if isinstance(axis, tuple):  # prod(x, axis=(0, 2)): move those axes last, as one
        rest = [i for i in range(x.ndim) if i not in axis]
        perm = rest + sorted(axis)
        xt = np.transpose(x, perm)
        r = _prod_others_np(xt.reshape(xt.shape[:len(rest)] + (-1,)), -1)
        return np.transpose(r.reshape(xt.shape), np.argsort(perm))
    n = x.shape[axis]
    ones_shape = list(x.shape)
    ones_shape[axis] = 1
    ones = np.ones(ones_shape)
    pre = np.cumprod(np.concatenate([ones, np.take(x, range(n - 1), axis=axis)], axis=axis),
                     axis=axis)
    rev = np.flip(x, axis=axis)
    suf = np.cumprod(np.concatenate([ones, np.take(rev, range(n - 1), axis=axis)], axis=axis),
                     axis=axis)
    return pre * np.flip(suf, axis=axis)


prod_p = primitive("prod", _prod_np, shape_error=_axis_error("prod"))
prod_others_p = primitive("prod_others", _prod_others_np)
prod_p.jvps = (lambda t, ans, x, axis=None:
               sum_(mul(pad_batched(t, ndim(x), _nb(t, x)), prod_others(x, axis)),
                    axis=_shift_axis(axis, _nb(t, x), ndim(x))),)
prod_p.vjps = (lambda g, ans, x, axis=None:
               mul(broadcast_to(_expand_reduced(g, x, axis, False), shape(x)),
                   prod_others(x, axis)),)
# Second derivatives of prod. d(others_i) = sum_{j != i} t_j prod_{k not in {i, j}} x_k,
# a symmetric linear map M(x) t, so the VJP is M(x) g. Without zeros in x it is
# others_i * (sum_j t_j/x_j - t_i/x_i), written with primitives (any order); where x
# has exact zeros, `prod_pairs` computes M(x) t exactly by counting the zeros.
def _has_zero(x) -> bool:
    v = strip(x)
    return bool(np.any(np.asarray(v) == 0))


def _prod_others_jvp(t, ans, x, axis=None):
    if _has_zero(x):
        return prod_pairs(x, t, axis)
    return mul(ans, sub(sum_(div(t, x), axis=_shift_axis(axis, _nb(t, x), ndim(x)),
                             keepdims=True) if axis is not None
                        else _sum_all_keep(div(t, x), _nb(t, x)),
                        div(t, x)))


def _prod_others_vjp(g, ans, x, axis=None):
    if _has_zero(x):
        return prod_pairs(x, g, axis)
    return sub(mul(div(1.0, x), _bsum(mul(g, ans), x, axis)), div(mul(g, ans), x))


prod_others_p.jvps = (_prod_others_jvp,)
prod_others_p.vjps = (_prod_others_vjp,)


def _prod_pairs_last(x, t):
    """M(x) t along the last axis (x broadcasts against t), exact with zeros."""
    zero = x == 0
    xs = np.where(zero, 1.0, x)
    nz = zero.sum(-1, keepdims=True)
    p = np.prod(xs, -1, keepdims=True)          # product of the nonzero entries
    others = _prod_others_np(xs, -1)            # ... but entry i (no division)
    r = np.where(zero, 0.0, t / xs)
    s = r.sum(-1, keepdims=True)
    tz = np.where(zero, t, 0.0).sum(-1, keepdims=True)
    # sum over j != i of t_j / x_j without cancellation: prefix + suffix sums
    at_nonzero = (np.where(nz == 0, others * _sum_others_last(r), 0.0)
                  + np.where(nz == 1, tz * others, 0.0))
    at_zero = np.where(nz == 1, p * s, 0.0) + np.where(nz == 2, (tz - t) * p, 0.0)
    return np.where(zero, at_zero, at_nonzero)


def _sum_others_last(r):
    """For each i along the last axis, the sum of the other entries (no subtraction)."""
    zeros = np.zeros(r.shape[:-1] + (1,))
    pre = np.cumsum(np.concatenate([zeros, r[..., :-1]], axis=-1), axis=-1)
    suf = np.flip(np.cumsum(np.concatenate([zeros, np.flip(r, -1)[..., :-1]], axis=-1),
                            axis=-1), -1)
    return pre + suf


def _prod_pairs_np(x, t, axis=None):
    x = np.asarray(x, dtype=F64)
    t = np.asarray(t, dtype=F64)
    nb = t.ndim - x.ndim  # batch dims of a batched tangent, in front
    axes = tuple(range(x.ndim)) if axis is None else _norm_axis(axis, x.ndim)
    axes = axes if isinstance(axes, tuple) else (axes,)
    rest = [i for i in range(x.ndim) if i not in axes]
    perm = rest + list(axes)
    xt = np.transpose(x, perm)
    tt = np.transpose(t, list(range(nb)) + [nb + i for i in perm])
    n = int(np.prod([x.shape[i] for i in axes])) if axes else 1
    out = _prod_pairs_last(xt.reshape(xt.shape[:len(rest)] + (n,)),
                           tt.reshape(tt.shape[:nb + len(rest)] + (n,)))
    out = out.reshape(tt.shape)
    inverse = list(range(nb)) + [nb + i for i in np.argsort(perm)]
    return np.transpose(out, inverse)


def _prod_pairs_x_rule(*_args, **_kw):
    raise DpDifferentiationError("third derivatives of `prod` at an exact zero entry are not "
                                 "supported", None, "write the product as a loop")


prod_pairs_p = primitive("prod_pairs", _prod_pairs_np)
prod_pairs_p.jvps = (_prod_pairs_x_rule, lambda dt, ans, x, t, axis=None: prod_pairs(x, dt, axis))
prod_pairs_p.vjps = (_prod_pairs_x_rule, lambda g, ans, x, t, axis=None: prod_pairs(x, g, axis))


def _sum_all_keep(v, nb):
    nd = ndim(v)
    return sum_(v, axis=tuple(range(nb, nd)), keepdims=True)


def _bsum(v, x, axis):
    if axis is None:
        return sum_(v)
    return sum_(v, axis=axis, keepdims=True)


def _norm_np(x, axis=None):
    return np.sqrt(np.sum(np.square(x), axis=axis))


norm_p = primitive("norm", _norm_np, shape_error=_axis_error("norm"))
norm_p.jvps = (lambda t, ans, x, axis=None:
               safe_div(sum_(mul(pad_batched(t, ndim(x), _nb(t, x)), x),
                             axis=_shift_axis(axis, _nb(t, x), ndim(x))), ans),)
norm_p.vjps = (lambda g, ans, x, axis=None:
               mul(broadcast_to(_expand_reduced(g, x, axis, False), shape(x)),
                   safe_div(x, _expand_reduced(ans, x, axis, False))),)


def _safe_div_np(a, b):
    b_arr = np.asarray(b)
    zero = b_arr == 0
    if zero.any():
        return np.where(zero, 0.0, np.true_divide(a, np.where(zero, 1.0, b_arr)))
    return np.true_divide(a, b)


safe_div_p = _binary("/", _safe_div_np, key="safe_div")
safe_div_p.jvps = (lambda t, ans, a, b: safe_div(t, b),
                   lambda t, ans, a, b: neg(safe_div(mul(t, ans), b)))
safe_div_p.vjps = (lambda g, ans, a, b: unbroadcast(safe_div(g, b), a),
                   lambda g, ans, a, b: unbroadcast(neg(safe_div(mul(g, ans), b)), b))


def _cumsum_np(x, axis=None):
    return np.cumsum(x, axis=axis)


cumsum_p = primitive("cumsum", _cumsum_np, shape_error=_axis_error("cumsum"))
cumsum_p.jvps = (lambda t, ans, x, axis=None:
                 cumsum(t, axis=_shift_axis(axis, _nb(t, x), ndim(x)) if axis is not None
                        else None) if axis is not None or _nb(t, x) == 0
                 else reshape(cumsum(reshape(t, (shape(t)[0], -1)), axis=1),
                              (shape(t)[0],) + shape(ans)),)
cumsum_p.vjps = (lambda g, ans, x, axis=None: _cumsum_vjp(g, x, axis),)


def _cumsum_vjp(g, x, axis):
    if axis is None:
        flat = reshape(g, (-1,))
        rev = getitem(cumsum(getitem(flat, (slice(None, None, -1),)), axis=0),
                      (slice(None, None, -1),))
        return reshape(rev, shape(x))
    nd = ndim(x)
    a = _norm_axis(axis, nd)
    idx = tuple(slice(None, None, -1) if i == a else slice(None) for i in range(nd))
    return getitem(cumsum(getitem(g, idx), axis=a), idx)


# ============================================================ structural / linear
def _reshape_np(x, shape):
    return np.reshape(x, shape)


def _reshape_error(args, exc):
    return DpShapeError(f"cannot reshape an array of shape {np.shape(args[0])} "
                        f"({np.size(args[0])} elements) into the requested shape", None,
                        "the number of elements must stay the same")


reshape_p = primitive("reshape", _reshape_np, shape_error=_reshape_error)
reshape_p.jvps = (lambda t, ans, x, shape: reshape(t, _batch_shape(t, x) + ans_shape(ans)),)
reshape_p.vjps = (lambda g, ans, x, shape: reshape(g, _shape_of(x)),)


def ans_shape(ans):
    return tuple(np.shape(strip(ans)))


def _shape_of(x):
    return shape(x)


def _batch_shape(t, x):
    nb = _nb(t, x)
    return tuple(shape(t)[:nb])


def _transpose_np(x, axes=None):
    return np.transpose(x, axes)


transpose_p = primitive("transpose", _transpose_np, shape_error=_axis_error("transpose"))


def _transpose_jvp(t, ans, x, axes=None):
    nb = _nb(t, x)
    if nb == 0:
        return transpose(t, axes)
    nd = ndim(x)
    ax = tuple(reversed(range(nd))) if axes is None else tuple(_norm_axis(a, nd) for a in axes)
    return transpose(t, tuple(range(nb)) + tuple(a + nb for a in ax))


def _transpose_vjp(g, ans, x, axes=None):
    nd = ndim(x)
    if axes is None:
        return transpose(g, None)
    ax = tuple(_norm_axis(a, nd) for a in axes)
    inv = tuple(int(i) for i in np.argsort(ax))
    return transpose(g, inv)


transpose_p.jvps = (_transpose_jvp,)
transpose_p.vjps = (_transpose_vjp,)


def _broadcast_to_np(x, shape):
    check_size(math.prod(shape))
    return np.array(np.broadcast_to(x, shape))


broadcast_to_p = primitive("broadcast_to", _broadcast_to_np,
                           shape_error=_broadcast_error("broadcast"))
broadcast_to_p.jvps = (lambda t, ans, x, shape:
                       broadcast_to(pad_batched(t, len(shape), _nb(t, x)),
                                    _batch_shape(t, x) + tuple(shape)),)
broadcast_to_p.vjps = (lambda g, ans, x, shape: unbroadcast(g, x),)


def _index_error(args, exc):
    x = args[0]
    return DpIndexError(f"index out of range for an array of shape {np.shape(x)}", None,
                        "indices run from 0 to n-1 (or -n to -1 from the end)")


def _getitem_np(x, idx):
    _check_steps(idx)
    return x[idx]


def _check_steps(idx):
    for i in idx if type(idx) is tuple else (idx,):
        if type(i) is slice and i.step == 0:
            raise DpValueError("slice step cannot be zero", None, "use a step like 1 or -1")


getitem_p = primitive("index", _getitem_np, shape_error=_index_error)
getitem_p.jvps = (lambda t, ans, x, idx: getitem(t, (slice(None),) * _nb(t, x) + idx),)
getitem_p.vjps = (lambda g, ans, x, idx: index_add(g, idx, shape(x)),)


def _index_add_np(g, idx, shape):
    z = np.zeros(shape)
    z[idx] = g
    return z


index_add_p = primitive("index_add", _index_add_np)
index_add_p.jvps = (lambda t, ans, g, idx, shape:
                    index_add(t, (slice(None),) * _nb(t, g) + idx, _batch_shape(t, g) + shape),)
index_add_p.vjps = (lambda c, ans, g, idx, shape: getitem(c, idx),)


def _setitem_np(x, v, idx):
    _check_steps(idx)
    y = np.array(x, dtype=F64)
    try:
        y[idx] = v
    except ValueError:
        region = np.shape(y[idx])
        raise DpShapeError(f"cannot put a value of shape {np.shape(v)} into an indexed region "
                           f"of shape {region}", None,
                           "the value must broadcast to the indexed region") from None
    return y


def _setitem_error(args, exc):
    if isinstance(exc, IndexError):
        return _index_error(args, exc)
    return DpShapeError(f"cannot put a value of shape {np.shape(args[1])} into the "
                        f"indexed region of an array of shape {np.shape(args[0])}", None,
                        "the value must broadcast to the indexed region")


setitem_p = primitive("index update", _setitem_np, shape_error=_setitem_error)


def _setitem_jvp_x(t, ans, x, v, idx):
    nb = _nb(t, x)
    return setitem(t, (slice(None),) * nb + idx, 0.0)


def _setitem_jvp_v(t, ans, x, v, idx):
    nb = _nb(t, v)
    region_nd = len(np.shape(strip(ans)[idx]))
    bshape = _batch_shape(t, v)  # before padding, which adds axes after the batch axis
    t = pad_batched(t, region_nd, nb) if nb else t
    return setitem(zeros_tangent(bshape + shape(x)), (slice(None),) * nb + idx, t)


def zeros_tangent(s):
    return np.zeros(s) if s else 0.0


setitem_p.jvps = (_setitem_jvp_x, _setitem_jvp_v)
setitem_p.vjps = (lambda g, ans, x, v, idx: setitem(g, idx, 0.0),
                  lambda g, ans, x, v, idx: unbroadcast(getitem(g, idx), v))


def _stack_np(*xs, axis=0):
    check_size(sum(np.size(x) for x in xs))
    return np.stack(xs, axis=axis)


def _stack_error(args, exc):
    shapes = ", ".join(str(np.shape(a)) for a in args)
    return DpShapeError(f"array elements must all have the same shape, got {shapes}", None,
                        "arrays are rectangular: every row needs the same length")


stack_p = primitive("stack", _stack_np, shape_error=_stack_error)


def _stack_jvp(primals, tangents, ans, axis=0):
    nb = 0
    for t, x in zip(tangents, primals):
        if t is not None:
            nb = _nb(t, x)
            bshape = _batch_shape(t, x)
            break
    ts = [t if t is not None else zeros_tangent(bshape + shape(x))
          for t, x in zip(tangents, primals)]
    ax = _norm_axis(axis, ndim(primals[0]) + 1) + nb
    return stack(ts, axis=ax)


def _stack_vjp(g, ans, primals, needs, axis=0):
    nd = ndim(ans)
    ax = _norm_axis(axis, nd)
    out = []
    for k, need in enumerate(needs):
        if not need:
            out.append(None)
            continue
        idx = tuple(k if i == ax else slice(None) for i in range(nd))
        out.append(getitem(g, idx))
    return out


stack_p.jvp_joint = _stack_jvp
stack_p.vjp_joint = _stack_vjp


def _concat_np(*xs, axis=0):
    check_size(sum(np.size(x) for x in xs))
    return np.concatenate(xs, axis=axis)


def _concat_error(args, exc):
    shapes = ", ".join(str(np.shape(a)) for a in args)
    return DpShapeError(f"cannot concatenate arrays of shapes {shapes}", None,
                        "all dimensions except the concatenation axis must agree")


concat_p = primitive("concat", _concat_np, shape_error=_concat_error)


def _concat_jvp(primals, tangents, ans, axis=0):
    for t, x in zip(tangents, primals):
        if t is not None:
            nb = _nb(t, x)
            bshape = _batch_shape(t, x)
            break
    ts = [t if t is not None else zeros_tangent(bshape + shape(x))
          for t, x in zip(tangents, primals)]
    return concat(ts, axis=_norm_axis(axis, ndim(primals[0])) + nb)


def _concat_vjp(g, ans, primals, needs, axis=0):
    nd = ndim(ans)
    ax = _norm_axis(axis, nd)
    out = []
    start = 0
    for x, need in zip(primals, needs):
        n = shape(x)[ax]
        if need:
            idx = tuple(slice(start, start + n) if i == ax else slice(None) for i in range(nd))
            out.append(getitem(g, idx))
        else:
            out.append(None)
        start += n
    return out


concat_p.jvp_joint = _concat_jvp
concat_p.vjp_joint = _concat_vjp


# ==================================================================== linear algebra
def _matmul_error(args, exc):
    a, b = args
    sa, sb = np.shape(a), np.shape(b)
    if not sa or not sb:
        return DpShapeError(f"`@` needs arrays, got shapes {sa} and {sb}", None,
                            "use `*` to multiply by a number")
    return DpShapeError(f"shape mismatch in `@`: {sa} and {sb}", None,
                        f"the last dimension of the left side ({sa[-1]}) must equal the "
                        f"{'first' if len(sb) == 1 else 'second-to-last'} dimension of the "
                        "right side "
                        f"({sb[0] if len(sb) == 1 else sb[-2]})")


def _matmul_np(a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        raise ValueError("matmul: scalar operand")
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) > 1 and len(sb) > 1:  # refuse an oversized (batched) product up front
        try:
            batch = np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            batch = ()
        check_size(math.prod(batch) * sa[-2] * sb[-1])
    return np.matmul(a, b)


matmul_p = primitive("@", _matmul_np, shape_error=_matmul_error)


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


def expand_last(g):
    return reshape(g, shape(g) + (1,))


def outer_(a, b):
    a1 = reshape(a, (-1, 1))
    b1 = reshape(b, (1, -1))
    return mul(a1, b1)


matmul_p.jvps = (_matmul_jvp_a, _matmul_jvp_b)
matmul_p.vjps = (_matmul_vjp_a, _matmul_vjp_b)


def _square_error(name):
    def err(args, exc):
        s = np.shape(args[0])
        if len(s) != 2 or s[0] != s[1]:
            return DpShapeError(f"`{name}` needs a square matrix, got shape {s}", None, None)
        if name == "solve" and len(args) > 1 and np.shape(args[1])[:1] != s[:1]:
            return DpShapeError(f"shape mismatch in `solve`: {s} and {np.shape(args[1])}", None,
                                "b needs as many rows as A")
        if isinstance(exc, np.linalg.LinAlgError):
            return DpValueError(f"`{name}`: the matrix is singular", None,
                                "a singular matrix has no inverse")
        return None
    return err


def _solve_np(a, b):
    a = np.asarray(a, dtype=F64)
    b = np.asarray(b, dtype=F64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError("square")
    if b.ndim == 2 and a.ndim == 2 and b.shape[0] == a.shape[0]:
        return np.linalg.solve(a, b)
    if b.ndim == 1:
        return np.linalg.solve(a, b)
    raise ValueError("solve shape")


solve_p = primitive("solve", _solve_np, shape_error=_square_error("solve"))


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


solve_p.jvps = (lambda t, ans, a, b: neg(_solve_batched(a, matmul(t, ans), _nb(t, a))),
                lambda t, ans, a, b: _solve_batched(a, t, _nb(t, b)))
solve_p.vjps = (lambda g, ans, a, b: neg(outer_(_solve_t(a, g), ans)) if ndim(ans) == 1
                else neg(matmul(_solve_t(a, g), _swap_last(ans))),
                lambda g, ans, a, b: _solve_t(a, g))


def _solve_t(a, g):
    return solve(transpose(a, (1, 0)), g)


def _inv_np(a):
    a = np.asarray(a, dtype=F64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError("square")
    return np.linalg.inv(a)


inv_p = primitive("inv", _inv_np, shape_error=_square_error("inv"))
inv_p.jvps = (lambda t, ans, a: neg(matmul(matmul(ans, t), ans)),)
inv_p.vjps = (lambda g, ans, a: neg(matmul(matmul(_swap_last(ans), g), _swap_last(ans))),)


def _det_np(a):
    a = np.asarray(a, dtype=F64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError("square")
    return np.linalg.det(a)


det_p = primitive("det", _det_np, shape_error=_square_error("det"))
# d det(A) = <cof(A), dA> with the cofactor matrix cof(A) = det(A) inv(A)^T, which
# also exists (and is computed by SVD) where A is singular: grad(det) is defined
# everywhere, as in JAX.
det_p.jvps = (lambda t, ans, a: sum_(mul(cofactor(a), t), axis=(-2, -1)),)
det_p.vjps = (lambda g, ans, a: mul(g, cofactor(a)),)


def _cofactor_np(a):
    a = np.asarray(a, dtype=F64)
    d = np.linalg.det(a)
    if d != 0 and np.isfinite(d) and np.linalg.cond(a) < 1e10:
        return d * np.linalg.inv(a).T
    # A = U diag(s) V^T  =>  cof(A) = det(U) det(V) U diag(prod of the other s) V^T
    u, sv, vt = np.linalg.svd(a)
    return np.linalg.det(u) * np.linalg.det(vt) * (u * _prod_others_np(sv, 0)) @ vt


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


cofactor_p = primitive("cofactor", _cofactor_np, shape_error=_square_error("det"))
cofactor_p.jvps = (_cofactor_jvp,)
cofactor_p.vjps = (_cofactor_vjp,)


# ====================================================== non-differentiable helpers
argmax_p = primitive("argmax", lambda x, axis=None: np.argmax(x, axis=axis), nondiff=True,
                     shape_error=_empty_reduce("argmax"))
argmin_p = primitive("argmin", lambda x, axis=None: np.argmin(x, axis=axis), nondiff=True,
                     shape_error=_empty_reduce("argmin"))
any_p = primitive("any", lambda x, axis=None: np.any(x, axis=axis), nondiff=True,
                  shape_error=_axis_error("any"))
all_p = primitive("all", lambda x, axis=None: np.all(x, axis=axis), nondiff=True,
                  shape_error=_axis_error("all"))


# ============================================================ dispatching operations
# These are what the evaluator, the builtins and the rules above call. Plain
# Python numbers take a fast path that never touches NumPy.
_F64 = np.dtype(np.float64)


def _fast2(p, pyop, npfn=None, other=None):
    """The dispatching operation for binary primitive p.

    Two Python numbers: `pyop`, no NumPy. Two float arrays (or an array and a
    float) with `npfn`: the ufunc directly. Traced values: their trace. All
    else, and every error, goes through `apply_impl`.
    """
    p.pyfn = pyop
    tracers = TRACER_TYPES if not p.nondiff else ()

    def op(a, b):
        ta, tb = type(a), type(b)
        if (ta is float or ta is int) and (tb is float or tb is int):
            try:
                r = pyop(a, b)
            except (ZeroDivisionError, OverflowError):
                pass
            else:
                if r == r or not NAN_CHECK:
                    return r
        elif ta in tracers:
            tr = a._trace
            if tb in tracers and b._trace.level > tr.level:
                tr = b._trace
            return tr.process2(p, a, b)
        elif npfn is not None and not NAN_CHECK and (
                (ta is ndarray and (tb is float or (tb is ndarray and (
                    a.shape == b.shape or a.size * b.size <= LIMITS.max_array_elements)))) or
                (ta is float and tb is ndarray)):
            try:
                r = npfn(a, b)
            except Exception:  # noqa: BLE001 - apply_impl below reports it properly
                pass
            else:
                if type(r) is ndarray and r.ndim and r.dtype is _F64:
                    return r
        if ta in tracers:
            tr = a._trace
            if tb in tracers and b._trace.level > tr.level:
                tr = b._trace
            return tr.process2(p, a, b)
        if tb in tracers:
            return b._trace.process2(p, a, b)
        if nondiff:  # (no d): bind strips traced operands
            return bind(p, (a, b))
        if other is not None and (ta is str or ta is tuple or tb is str or tb is tuple):
            return other(a, b)
        return apply_impl(p, (a, b), EMPTY)
    nondiff = p.nondiff
    op.__name__ = p.name
    p.op = op
    return op


def _concat_values(a, b):
    """`+` on two strings or two tuples (the language's `+`, not the primitive)."""
    if type(b) is type(a):
        if len(a) + len(b) > LIMITS.max_array_elements:
            raise DpLimitError(f"a {'string' if type(a) is str else 'tuple'} of "
                               f"{len(a) + len(b)} items exceeds the limit of "
                               f"{LIMITS.max_array_elements}", None,
                               "strings and tuples share the max_array_elements limit")
        return a + b
    return apply_impl(add_p, (a, b), EMPTY)  # a readable type error


def _repeat_values(a, b):
    """`*` of a string or tuple and an int: repetition, as in Python (`"-" * 40`)."""
    seq, n = (a, b) if type(a) in (str, tuple) else (b, a)
    if type(seq) in (str, tuple) and type(n) is int:
        if len(seq) * max(n, 0) > LIMITS.max_array_elements:
            raise DpLimitError(f"a {'string' if type(seq) is str else 'tuple'} of "
                               f"{len(seq) * n} items exceeds the limit of "
                               f"{LIMITS.max_array_elements}", None,
                               "strings and tuples share the max_array_elements limit")
        return seq * n
    return apply_impl(mul_p, (a, b), EMPTY)  # a readable type error


def _py_pow(a, b):
    if type(a) is int and type(b) is int:
        if b < 0 or _guard_int_pow(a, b) is not None:
            raise OverflowError
        return a ** b
    r = a ** b
    if type(r) is complex:
        raise OverflowError  # negative base, fractional power: NumPy gives nan
    return r


def _py_floordiv(a, b):
    if type(a) is int and type(b) is int:
        if b == 0:
            raise DpValueError("integer division by zero", None, "divide by a float to get inf")
    return a // b


def _py_mod(a, b):
    if type(a) is int and type(b) is int and b == 0:
        raise DpValueError("integer modulo by zero", None, None)
    return a % b


add = _fast2(add_p, operator.add, np.add, _concat_values)
sub = _fast2(sub_p, operator.sub, np.subtract)
_BIG_INT = 1 << _INT_BITS


def _py_mul(a, b):
    """`*` on Python numbers: an int product past `_INT_BITS` bits is a limits error
    (as `**`), instead of growing without bound (repeated squaring)."""
    r = a * b
    if type(r) is int and not -_BIG_INT < r < _BIG_INT:
        raise _int_too_large()
    return r


mul = _fast2(mul_p, _py_mul, np.multiply, _repeat_values)
mul_p.pyfn = operator.mul  # traced values are floats: the C multiply
div = _fast2(div_p, operator.truediv, np.true_divide)
floordiv = _fast2(floordiv_p, _py_floordiv)
mod = _fast2(mod_p, _py_mod)
pow_ = _fast2(pow_p, _py_pow)
atan2 = _fast2(atan2_p, math.atan2)
# a nan on either side wins, as in np.maximum / np.minimum
maximum = _fast2(maximum_p, lambda a, b: a if a >= b or a != a else b, np.maximum)
minimum = _fast2(minimum_p, lambda a, b: a if a <= b or a != a else b, np.minimum)
_safe_mul_op = _fast2(safe_mul_p, lambda a, b: 0.0 if a == 0 or b == 0 else a * b)


def safe_mul(g, d):
    """g * d where a zero on either side wins over inf/nan (the rules' product).

    Plain arrays take one ufunc call when the product has no nan (the common
    case); only a nan, i.e. 0 * inf somewhere, pays for the careful version.
    """
    tg, td = type(g), type(d)
    if not NAN_CHECK:
        if tg is ndarray:
            if td is float or td is int:
                if d - d == 0.0 and d != 0:  # finite, nonzero
                    return np.multiply(g, d)
            elif td is ndarray:
                r = np.multiply(g, d)
                if r.dtype is _F64 and r.ndim and _nan_free(r):
                    return r
        elif td is ndarray and (tg is float or tg is int):
            if g - g == 0.0 and g != 0:
                return np.multiply(g, d)
    return _safe_mul_op(g, d)
safe_div = _fast2(safe_div_p, lambda a, b: 0.0 if b == 0 else a / b)


def _fast1(p):
    fn = p.scalar
    tracers = TRACER_TYPES
    npfn = p.impl if p.elementwise else None

    if fn is None:
        def op(x):
            return bind(p, (x,))
    else:
        def op(x):
            tx = type(x)
            if tx is float or tx is int:
                try:
                    r = fn(x)
                except (ValueError, OverflowError):
                    pass
                else:
                    if r == r or not NAN_CHECK:
                        return r
            elif tx is ndarray and npfn is not None and not NAN_CHECK and x.dtype is _F64:
                r = npfn(x)
                if type(r) is ndarray and r.dtype is _F64 and r.ndim:
                    return r
            elif tx in tracers and not p.nondiff:
                return x._trace.process1(p, x)
            return bind(p, (x,))
    op.__name__ = p.name
    op.prim = p  # lets the tape build a direct recorder for this builtin (ad.unary_recorder)
    p.op = op
    return op


# Scalar partial derivatives (see Primitive.sderiv). Only for rules whose partials
# are finite wherever these formulas do not raise; the rest use the array rules.
def _sderivs():
    m = math
    add_p.sderiv = lambda ans, a, b: (1.0, 1.0)
    sub_p.sderiv = lambda ans, a, b: (1.0, -1.0)
    mul_p.sderiv = lambda ans, a, b: (b, a)
    div_p.sderiv = lambda ans, a, b: (1.0 / b, -ans / b)
    neg_p.sderiv = lambda ans, x: -1.0
    sin_p.sderiv = lambda ans, x: m.cos(x)
    cos_p.sderiv = lambda ans, x: -m.sin(x)
    tan_p.sderiv = lambda ans, x: 1.0 + ans * ans
    exp_p.sderiv = lambda ans, x: ans
    expm1_p.sderiv = lambda ans, x: ans + 1.0
    log_p.sderiv = lambda ans, x: 1.0 / x
    log1p_p.sderiv = lambda ans, x: 1.0 / (1.0 + x)
    sqrt_p.sderiv = lambda ans, x: 0.5 / ans
    tanh_p.sderiv = lambda ans, x: 1.0 - ans * ans
    sinh_p.sderiv = lambda ans, x: m.cosh(x)
    cosh_p.sderiv = lambda ans, x: m.sinh(x)
    atan_p.sderiv = lambda ans, x: 1.0 / (1.0 + x * x)
    sigmoid_p.sderiv = lambda ans, x: ans * (1.0 - ans)
    relu_p.sderiv = lambda ans, x: 1.0 if x > 0 else 0.0
    abs_p.sderiv = lambda ans, x: 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)
    maximum_p.sderiv = lambda ans, a, b: (1.0, 0.0) if a > b else ((0.0, 1.0) if a < b
                                                                    else (0.5, 0.5))
    minimum_p.sderiv = lambda ans, a, b: (1.0, 0.0) if a < b else ((0.0, 1.0) if a > b
                                                                    else (0.5, 0.5))

    def pow_d(ans, x, y):
        if type(ans) is not float and type(ans) is not int:
            raise ValueError
        dx = 2.0 * x if y == 2 else y * x ** (y - 1)
        dy = ans * m.log(x) if x > 0 else 0.0
        if type(dx) is complex:
            raise ValueError
        return (dx, dy)
    pow_p.sderiv = pow_d


neg = _fast1(neg_p)
abs_ = _fast1(abs_p)
sqrt = _fast1(sqrt_p)
exp = _fast1(exp_p)
log = _fast1(log_p)
log1p = _fast1(log1p_p)
expm1 = _fast1(expm1_p)
sin = _fast1(sin_p)
cos = _fast1(cos_p)
tan = _fast1(tan_p)
asin = _fast1(asin_p)
acos = _fast1(acos_p)
atan = _fast1(atan_p)
sinh = _fast1(sinh_p)
cosh = _fast1(cosh_p)
tanh = _fast1(tanh_p)
sigmoid = _fast1(sigmoid_p)
relu = _fast1(relu_p)
softplus = _fast1(softplus_p)
sign = _fast1(sign_p)
floor = _fast1(floor_p)
ceil = _fast1(ceil_p)


def where(c, a, b):
    return bind(where_p, (strip(c), a, b))


def sum_(x, axis=None, keepdims=False):
    if axis is None and not keepdims:
        if type(x) is float or type(x) is int:
            return x
        return bind(sum_p, (x,))
    return bind(sum_p, (x,), {"axis": axis, "keepdims": keepdims})


def prod_others(x, axis=None):
    return bind(prod_others_p, (x,), {"axis": axis})


def prod_pairs(x, t, axis=None):
    return bind(prod_pairs_p, (x, t), {"axis": axis})


def reshape(x, shape):
    return bind(reshape_p, (x,), {"shape": tuple(shape)})


def transpose(x, axes=None):
    return bind(transpose_p, (x,), {"axes": axes})


def broadcast_to(x, shape):
    if tuple(np.shape(strip(x))) == tuple(shape):
        return x
    return bind(broadcast_to_p, (x,), {"shape": tuple(shape)})


def getitem(x, idx):
    return bind(getitem_p, (x,), {"idx": idx})


def index_add(g, idx, shape):
    return bind(index_add_p, (g,), {"idx": idx, "shape": tuple(shape)})


def setitem(x, idx, v):
    return bind(setitem_p, (x, v), {"idx": idx})


def stack(xs, axis=0):
    return bind(stack_p, tuple(xs), {"axis": axis})


def concat(xs, axis=0):
    return bind(concat_p, tuple(xs), {"axis": axis})


def matmul(a, b):
    if (type(a) is ndarray and type(b) is ndarray and not NAN_CHECK
            and a.size * b.size <= LIMITS.max_array_elements):  # else apply_impl checks size
        try:
            r = np.matmul(a, b)
        except ValueError:
            pass  # apply_impl reports the shape mismatch
        else:
            if type(r) is ndarray and r.dtype is _F64:
                return r if r.ndim else float(r)
            return normalize(r)
    return bind(matmul_p, (a, b))


matmul_p.op = matmul


def solve(a, b):
    return bind(solve_p, (a, b))


def inv(a):
    return bind(inv_p, (a,))


def cofactor(a):
    return bind(cofactor_p, (a,))


def det(a):
    return bind(det_p, (a,))


def cumsum(x, axis=None):
    return bind(cumsum_p, (x,), {"axis": axis})


_sderivs()
