"""Elementwise primitives: arithmetic, comparisons, `where`, and the functions of
one number (sin, exp, sigmoid, ...), which broadcast like NumPy.

Their rules come from partial derivatives (`defderiv`): the JVP is `t * d`, the
VJP `unbroadcast(g * d)`, with a zero tangent staying zero even where `d` is
infinite. Scalar partials (`sderiv`) feed the engines' float fast paths.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from ..core.errors import DpLimitError, DpValueError
from ..core.values import strip
from . import core
from .core import (
    _F64,
    _INT_BITS,
    EMPTY,
    F64,
    LIMITS,
    _broadcast_error,
    _fast1,
    _fast2,
    _guard_int_pow,
    _int_too_large,
    _nan_free,
    apply_impl,
    bind,
    ndarray,
    primitive,
    shape,
)
from .structure import broadcast_to, unbroadcast


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
    if not core.NAN_CHECK:
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


_sderivs()
