"""Elementwise primitives: arithmetic, comparisons, `where`, and the functions of
one number (sin, exp, sigmoid, ...), which broadcast like NumPy.

Their rules come from partial derivatives (`partials`): the JVP is `t * d`, the
VJP `unbroadcast(g * d)`, with a zero tangent staying zero even where `d` is
infinite. Scalar partials (`sderiv`) feed the engines' float fast paths.
"""

from __future__ import annotations

import math
import operator

from ..core.backend import xp
from ..core.errors import DpLimitError, DpValueError, shown_int
from ..core.values import strip, strip_derivatives
from . import core
from .core import (
    _F64,
    _INT_BITS,
    EMPTY,
    F64,
    LIMITS,
    _broadcast_error,
    _check_int_mul,
    _check_int_pow,
    _int_too_large,
    _nan_free,
    apply_impl,
    bind,
    defprim,
    ndarray,
    shape,
)
from .fastpath import binary_op, unary_op
from .structure import broadcast_to, unbroadcast


def partials(*derivs, safe: bool = True) -> dict:
    """Elementwise rules from partial derivatives d_k(ans, *args): the `jvp` and
    `vjp` arguments of `defprim` (None for an argument without a derivative).

    With `safe` (the default), a zero tangent/cotangent stays exactly zero even
    where the partial derivative is infinite or nan: sqrt and log at 0, but also
    x * log(x) (a partial of `*` is log(0) = -inf) and, in second derivatives, a
    partial carrying a nan tangent from an untaken `where` branch. Only rules
    whose partials are finite constants opt out (`safe=False`).
    """
    if safe:  # (the operations are looked up when a rule runs: they are defined below)
        def jvp(d):
            return lambda t, ans, *args: safe_mul(t, d(ans, *args))

        def vjp(d, k):
            return lambda g, ans, *args: unbroadcast(safe_mul(g, d(ans, *args)), args[k])
    else:
        def jvp(d):
            return lambda t, ans, *args: mul(t, d(ans, *args))

        def vjp(d, k):
            return lambda g, ans, *args: unbroadcast(mul(g, d(ans, *args)), args[k])

    return {"jvp": tuple(None if d is None else jvp(d) for d in derivs),
            "vjp": tuple(None if d is None else vjp(d, k) for k, d in enumerate(derivs))}


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


# ================================================================ functions of one number
def _math1(name, impl, scalar, d, sd, doc, safe=True, key=None, sig=None):
    """A differentiable function of one number: elementwise, with partial `d` (and
    `sd` on floats), called by the builtin `name(x)`."""
    return defprim(name, impl, key=key, scalar=scalar, elementwise=True, sderiv=sd,
                   sig=sig or f"{name}(x)", doc=doc, category="math", **partials(d, safe=safe))


def _sigmoid_np(x):
    # exp of -|x| only: 1 / (1 + e) for x >= 0, e / (1 + e) below, so that the
    # tiny values of very negative x keep their precision (log(sigmoid(-40)) = -40)
    x = xp.asarray(x, dtype=F64)
    if x.ndim == 0:
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    e = xp.abs(x)  # (in place from here: the same values, fewer temporaries)
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    r = xp.where(x >= 0, 1.0, e)
    xp.divide(r, xp.add(e, 1.0), out=r)
    return r


def _sigmoid_py(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _step(x):
    """1 where x > 0, else 0 (a constant: relu's derivative, 0 at 0 as SPEC §6 says)."""
    x = strip(x)
    if type(x) is ndarray:
        return (x > 0).astype(F64)
    return 1.0 if x > 0 else 0.0


neg_p = defprim("-", xp.negative, key="neg", scalar=lambda x: -x, elementwise=True,
                jvp=(lambda t, ans, x: neg(t),), vjp=(lambda g, ans, x: neg(g),),
                sderiv=lambda ans, x: -1.0)
abs_p = _math1("abs", xp.abs, abs, lambda ans, x: sign(x),
               lambda ans, x: 1.0 if x > 0 else (-1.0 if x < 0 else 0.0),
               "absolute value (derivative 0 at 0)", safe=False)
sqrt_p = _math1("sqrt", xp.sqrt, math.sqrt, lambda ans, x: div(0.5, ans),
                lambda ans, x: 0.5 / ans, "square root (its derivative at 0 is inf)")
exp_p = _math1("exp", xp.exp, math.exp, lambda ans, x: ans, lambda ans, x: ans,
               "e to the power x")
log_p = _math1("log", xp.log, math.log, lambda ans, x: div(1.0, x), lambda ans, x: 1.0 / x,
               "natural logarithm (-inf at 0, nan below 0)")
log1p_p = _math1("log1p", xp.log1p, math.log1p, lambda ans, x: div(1.0, add(1.0, x)),
                 lambda ans, x: 1.0 / (1.0 + x), "log(1 + x), accurate for small x")
expm1_p = _math1("expm1", xp.expm1, math.expm1, lambda ans, x: add(ans, 1.0),
                 lambda ans, x: ans + 1.0, "exp(x) - 1, accurate for small x")
sin_p = _math1("sin", xp.sin, math.sin, lambda ans, x: cos(x), lambda ans, x: math.cos(x),
               "sine (radians)")
cos_p = _math1("cos", xp.cos, math.cos, lambda ans, x: neg(sin(x)),
               lambda ans, x: -math.sin(x), "cosine (radians)")
tan_p = _math1("tan", xp.tan, math.tan, lambda ans, x: add(1.0, mul(ans, ans)),
               lambda ans, x: 1.0 + ans * ans, "tangent (radians)")
asin_p = _math1("asin", xp.arcsin, math.asin,
                lambda ans, x: div(1.0, sqrt(sub(1.0, mul(x, x)))), None, "inverse sine")
acos_p = _math1("acos", xp.arccos, math.acos,
                lambda ans, x: div(-1.0, sqrt(sub(1.0, mul(x, x)))), None, "inverse cosine")
atan_p = _math1("atan", xp.arctan, math.atan, lambda ans, x: div(1.0, add(1.0, mul(x, x))),
                lambda ans, x: 1.0 / (1.0 + x * x), "inverse tangent")
sinh_p = _math1("sinh", xp.sinh, math.sinh, lambda ans, x: cosh(x),
                lambda ans, x: math.cosh(x), "hyperbolic sine")
cosh_p = _math1("cosh", xp.cosh, math.cosh, lambda ans, x: sinh(x),
                lambda ans, x: math.sinh(x), "hyperbolic cosine")
tanh_p = _math1("tanh", xp.tanh, math.tanh, lambda ans, x: sub(1.0, mul(ans, ans)),
                lambda ans, x: 1.0 - ans * ans, "hyperbolic tangent")
sigmoid_p = _math1("sigmoid", _sigmoid_np, _sigmoid_py, lambda ans, x: mul(ans, sub(1.0, ans)),
                   lambda ans, x: ans * (1.0 - ans), "logistic function 1 / (1 + exp(-x))")
relu_p = _math1("relu", lambda x: xp.maximum(x, 0.0),
                lambda x: x if x > 0 or x != x else 0.0,  # nan stays nan, as in NumPy
                lambda ans, x: _step(x), lambda ans, x: 1.0 if x > 0 else 0.0,
                "max(x, 0) elementwise (derivative 0 at 0)", safe=False)
softplus_p = _math1("softplus", lambda x: xp.logaddexp(0.0, x),
                    lambda x: math.log1p(math.exp(-abs(x))) + max(x, 0.0),
                    lambda ans, x: sigmoid(x), None, "log(1 + exp(x)), computed stably")
_LN2, _LN10 = math.log(2.0), math.log(10.0)
_DEG = math.pi / 180.0


def _logit_py(x):
    return math.log(x / (1.0 - x))


square_p = _math1("square", xp.square, lambda x: x * x, lambda ans, x: mul(2.0, x),
                  lambda ans, x: 2.0 * x, "x * x, elementwise", safe=False)
reciprocal_p = _math1("reciprocal", lambda x: xp.true_divide(1.0, x), lambda x: 1.0 / x,
                      lambda ans, x: neg(mul(ans, ans)), lambda ans, x: -ans * ans,
                      "1 / x, elementwise (inf at 0)")
log2_p = _math1("log2", xp.log2, math.log2, lambda ans, x: div(1.0 / _LN2, x),
                lambda ans, x: 1.0 / (_LN2 * x), "base-2 logarithm")
log10_p = _math1("log10", xp.log10, math.log10, lambda ans, x: div(1.0 / _LN10, x),
                 lambda ans, x: 1.0 / (_LN10 * x), "base-10 logarithm")
exp2_p = _math1("exp2", xp.exp2, lambda x: 2.0 ** x, lambda ans, x: mul(_LN2, ans),
                lambda ans, x: _LN2 * ans, "2 to the power x")
asinh_p = _math1("asinh", xp.arcsinh, math.asinh,
                 lambda ans, x: div(1.0, sqrt(add(1.0, mul(x, x)))),
                 lambda ans, x: 1.0 / math.sqrt(1.0 + x * x), "inverse hyperbolic sine")
acosh_p = _math1("acosh", xp.arccosh, math.acosh,
                 lambda ans, x: div(1.0, sqrt(sub(mul(x, x), 1.0))), None,
                 "inverse hyperbolic cosine (x ≥ 1; its derivative at 1 is inf)")
atanh_p = _math1("atanh", xp.arctanh, math.atanh, lambda ans, x: div(1.0, sub(1.0, mul(x, x))),
                 lambda ans, x: 1.0 / (1.0 - x * x), "inverse hyperbolic tangent (|x| < 1)")
logit_p = _math1("logit", lambda x: xp.log(xp.true_divide(x, xp.subtract(1.0, x))), _logit_py,
                 lambda ans, x: div(1.0, mul(x, sub(1.0, x))),
                 lambda ans, x: 1.0 / (x * (1.0 - x)),
                 "log(x / (1 - x)), the inverse of sigmoid (0 < x < 1)")
deg2rad_p = _math1("deg2rad", xp.deg2rad, math.radians, lambda ans, x: _DEG,
                   lambda ans, x: _DEG, "degrees to radians", safe=False)
rad2deg_p = _math1("rad2deg", xp.rad2deg, math.degrees, lambda ans, x: 1.0 / _DEG,
                   lambda ans, x: 1.0 / _DEG, "radians to degrees", safe=False)
isnan_p = defprim("isnan", xp.isnan, elementwise=True, differentiable=False, sig="isnan(x)",
                  doc="true where x is nan", category="math")
isinf_p = defprim("isinf", xp.isinf, elementwise=True, differentiable=False, sig="isinf(x)",
                  doc="true where x is inf or -inf", category="math")
isfinite_p = defprim("isfinite", xp.isfinite, elementwise=True, differentiable=False,
                     sig="isfinite(x)", doc="true where x is neither nan nor infinite",
                     category="math")
sign_p = defprim("sign", xp.sign, elementwise=True, differentiable=False, sig="sign(x)",
                 doc="-1, 0 or 1 by the sign of x", category="math")
floor_p = defprim("floor", xp.floor, elementwise=True, differentiable=False, sig="floor(x)",
                  doc="largest integer ≤ x (as a float)", category="math")
ceil_p = defprim("ceil", xp.ceil, elementwise=True, differentiable=False, sig="ceil(x)",
                 doc="smallest integer ≥ x (as a float)", category="math")
round_p = defprim("round", lambda x, digits=0: xp.round(x, digits), differentiable=False,
                   batch="same axes",
                  sig="round(x, digits=0)", category="math",
                  doc="x rounded to `digits` decimals (halves to even, as NumPy)")


# ==================================================================== arithmetic
def _floordiv_np(a, b):
    if type(a) is int and type(b) is int and b == 0:
        raise DpValueError("integer division by zero", None, "divide by a float to get inf")
    return xp.floor_divide(a, b)


def _mod_np(a, b):
    if type(a) is int and type(b) is int and b == 0:
        raise DpValueError("integer modulo by zero", None, None)
    return xp.mod(a, b)


def _pow_np(a, b):
    if type(a) is int and type(b) is int:
        if b < 0:
            return float(a) ** b if a != 0 else math.inf
        _check_int_pow(a, b)
        return a ** b
    if type(a) is ndarray or type(b) is ndarray:
        return xp.power(xp.asarray(a, dtype=F64), b)
    return xp.power(F64(a), b)


def _py_pow(a, b):
    if type(a) is int and type(b) is int:
        if b < 0:
            raise OverflowError
        _check_int_pow(a, b)
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


_BIG_INT = 1 << _INT_BITS


def _py_mul(a, b):
    """`*` on Python numbers: an int product past `_INT_BITS` bits is a limits error
    (as `**`), instead of growing without bound (repeated squaring)."""
    if type(a) is int and type(b) is int:
        _check_int_mul(a, b)
    r = a * b
    if type(r) is int and not -_BIG_INT < r < _BIG_INT:
        raise _int_too_large()
    return r


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


def _pow_sderiv(ans, x, y):
    if type(ans) is not float and type(ans) is not int:
        raise ValueError
    dx = 2.0 * x if y == 2 else y * x ** (y - 1)
    dy = ans * math.log(x) if x > 0 else 0.0
    if type(dx) is complex:
        raise ValueError
    return (dx, dy)


def _tie_weights(a, b):
    """d maximum(a, b)/da: 1 where a wins, 1/2 on ties (as JAX), else 0; a constant."""
    a, b = strip(a), strip(b)
    w = xp.where(a > b, 1.0, xp.where(a == b, 0.5, 0.0))
    return float(w) if w.ndim == 0 else w


def _binary(name, impl, scalar=None, key=None, **kw):
    """An elementwise primitive of two arguments (NumPy broadcasting)."""
    return defprim(name, impl, key=key, scalar=scalar, elementwise=True,
                   shape_error=_broadcast_error(name), **kw)


add_p = _binary("+", xp.add, operator.add, sderiv=lambda ans, a, b: (1.0, 1.0),
                jvp=(lambda t, ans, a, b: _bt(t, ans), lambda t, ans, a, b: _bt(t, ans)),
                vjp=(lambda g, ans, a, b: unbroadcast(g, a),
                     lambda g, ans, a, b: unbroadcast(g, b)))
sub_p = _binary("-", xp.subtract, operator.sub, sderiv=lambda ans, a, b: (1.0, -1.0),
                jvp=(lambda t, ans, a, b: _bt(t, ans), lambda t, ans, a, b: _bt(neg(t), ans)),
                vjp=(lambda g, ans, a, b: unbroadcast(g, a),
                     lambda g, ans, a, b: unbroadcast(neg(g), b)))
mul_p = _binary("*", xp.multiply, _py_mul, pyfn=operator.mul,  # traced: floats, the C multiply
                sderiv=lambda ans, a, b: (b, a),
                **partials(lambda ans, a, b: b, lambda ans, a, b: a))
div_p = _binary("/", lambda a, b: xp.true_divide(a, b), operator.truediv,
                sderiv=lambda ans, a, b: (1.0 / b, -ans / b),
                **partials(lambda ans, a, b: div(1.0, b), lambda ans, a, b: neg(div(ans, b))))
floordiv_p = _binary("//", _floordiv_np, _py_floordiv, differentiable=False)
_mod_rules = partials(lambda ans, a, b: 1.0, lambda ans, a, b: neg(floor(div(a, b))),
                      safe=False)
mod_p = _binary("%", _mod_np, _py_mod, vjp=_mod_rules["vjp"],
                jvp=(lambda t, ans, a, b: _bt(t, ans), _mod_rules["jvp"][1]))
pow_p = _binary("**", _pow_np, _py_pow, sderiv=_pow_sderiv, **partials(_pow_dx, _pow_dy))
atan2_p = _binary("atan2", xp.arctan2, math.atan2, sig="atan2(y, x)", category="math",
                  doc="angle of the point (x, y), in (-π, π]",
                  **partials(lambda ans, y, x: div(x, add(mul(x, x), mul(y, y))),
                             lambda ans, y, x: neg(div(y, add(mul(x, x), mul(y, y))))))
maximum_p = _binary("maximum", xp.maximum,
                    lambda a, b: a if a >= b or a != a else b,  # nan wins, as xp.maximum
                    sderiv=lambda ans, a, b: (1.0, 0.0) if a > b else (
                        (0.0, 1.0) if a < b else (0.5, 0.5)),
                    sig="maximum(a, b)", category="math",
                    doc="elementwise maximum (ties split the derivative equally)",
                    **partials(lambda ans, a, b: _tie_weights(a, b),
                               lambda ans, a, b: _tie_weights(b, a), safe=False))
minimum_p = _binary("minimum", xp.minimum,
                    lambda a, b: a if a <= b or a != a else b,  # nan wins, as xp.minimum
                    sderiv=lambda ans, a, b: (1.0, 0.0) if a < b else (
                        (0.0, 1.0) if a > b else (0.5, 0.5)),
                    sig="minimum(a, b)", category="math",
                    doc="elementwise minimum (ties split the derivative equally)",
                    **partials(lambda ans, a, b: _tie_weights(b, a),
                               lambda ans, a, b: _tie_weights(a, b), safe=False))

hypot_p = _binary("hypot", xp.hypot, math.hypot, sig="hypot(x, y)", category="math",
                  doc="sqrt(x ** 2 + y ** 2) without overflow (gradient 0 at the origin)",
                  **partials(lambda ans, x, y: safe_div(x, ans), lambda ans, x, y: safe_div(y, ans),
                             safe=False))
logaddexp_p = _binary("logaddexp", xp.logaddexp, None, sig="logaddexp(a, b)", category="math",
                      doc="log(exp(a) + exp(b)), computed stably",
                      **partials(lambda ans, a, b: exp(sub(a, ans)),
                                 lambda ans, a, b: exp(sub(b, ans))))


def _xlogy_np(x, y):
    x, y = xp.asarray(x, dtype=F64), xp.asarray(y, dtype=F64)
    with xp.errstate(divide="ignore", invalid="ignore"):
        return xp.where(x == 0, 0.0, x * xp.log(xp.where(x == 0, 1.0, y)))


# x * log(y), 0 where x == 0 (also at y == 0), as scipy.special.xlogy
xlogy_p = _binary("xlogy", _xlogy_np, None, sig="xlogy(x, y)", category="math",
                  doc="x * log(y), and 0 where x is 0 (also at y = 0), as SciPy's xlogy",
                  **partials(lambda ans, x, y: log(y), lambda ans, x, y: div(x, y)))
heaviside_p = _binary("heaviside", xp.heaviside, None, differentiable=False,
                      sig="heaviside(x, h0)", category="math",
                      doc="0 where x < 0, 1 where x > 0, h0 where x is 0")

# comparisons: never differentiable; evaluated on plain values
lt_p = _binary("<", xp.less, differentiable=False)
le_p = _binary("<=", xp.less_equal, differentiable=False)
gt_p = _binary(">", xp.greater, differentiable=False)
ge_p = _binary(">=", xp.greater_equal, differentiable=False)
eq_p = _binary("==", xp.equal, differentiable=False)
ne_p = _binary("!=", xp.not_equal, differentiable=False)


# safe multiply: 0 * anything = 0, on either side (keeps untaken branches from turning
# into nan). Either side: in reverse-over-reverse, the cotangent of a zero partial
# derivative can be infinite (the zero is then the second operand).
def _safe_mul_np(g, d):
    r = xp.multiply(g, d)
    if type(r) is ndarray:
        if not _nan_free(r):  # only 0 * inf (or a nan operand) makes nan
            # (only the nan entries change: a product with a factor that is finite and
            # nonzero everywhere is then the plain one, which `safe_mul` relies on)
            zero = (xp.asarray(g) == 0) | (xp.asarray(d) == 0)
            r = xp.where(zero & (r != r), 0.0, r)
        return r
    return 0.0 if g == 0 or d == 0 else r


safe_mul_p = _binary("*", _safe_mul_np, lambda a, b: 0.0 if a == 0 or b == 0 else a * b,
                     key="safe_mul",
                     jvp=(lambda t, ans, g, d: safe_mul(t, d), lambda t, ans, g, d: safe_mul(g, t)),
                     vjp=(lambda c, ans, g, d: unbroadcast(safe_mul(c, d), g),
                          lambda c, ans, g, d: unbroadcast(safe_mul(c, g), d)))


def _safe_div_np(a, b):
    b_arr = xp.asarray(b)
    zero = b_arr == 0
    if zero.any():
        return xp.where(zero, 0.0, xp.true_divide(a, xp.where(zero, 1.0, b_arr)))
    return xp.true_divide(a, b)


# a / b, 0 where b == 0 (norm's rules at the zero vector)
safe_div_p = _binary("/", _safe_div_np, lambda a, b: 0.0 if b == 0 else a / b, key="safe_div",
                     jvp=(lambda t, ans, a, b: safe_div(t, b),
                          lambda t, ans, a, b: neg(safe_div(mul(t, ans), b))),
                     vjp=(lambda g, ans, a, b: unbroadcast(safe_div(g, b), a),
                          lambda g, ans, a, b: unbroadcast(neg(safe_div(mul(g, ans), b)), b)))

where_p = defprim("where", lambda c, a, b: xp.where(c, a, b), elementwise=True,
                  shape_error=_broadcast_error("where"),
                  jvp=(None,
                       lambda t, ans, c, a, b: _bt(where(c, t, 0.0), ans),
                       lambda t, ans, c, a, b: _bt(where(c, 0.0, t), ans)),
                  vjp=(None,
                       lambda g, ans, c, a, b: unbroadcast(where(c, g, 0.0), a),
                       lambda g, ans, c, a, b: unbroadcast(where(c, 0.0, g), b)),
                  sig="where(cond, a, b)", category="arrays",
                  doc="elementwise a where cond is true, else b (the untaken side "
                      "contributes no derivative)")


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
                               f"{shown_int(len(seq) * n)} items exceeds the limit of "
                               f"{LIMITS.max_array_elements}", None,
                               "strings and tuples share the max_array_elements limit")
        return seq * n
    return apply_impl(mul_p, (a, b), EMPTY)  # a readable type error


# ============================================================ dispatching operations
add = binary_op(add_p, xp.add, _concat_values)
sub = binary_op(sub_p, xp.subtract)
mul = binary_op(mul_p, xp.multiply, _repeat_values)
div = binary_op(div_p, xp.true_divide)
floordiv = binary_op(floordiv_p)
mod = binary_op(mod_p)
pow_ = binary_op(pow_p)
atan2 = binary_op(atan2_p)
maximum = binary_op(maximum_p, xp.maximum)
minimum = binary_op(minimum_p, xp.minimum)
_safe_mul_op = binary_op(safe_mul_p)


def _plain_bound(v) -> bool:
    """A bound NumPy's clip compares as maximum and minimum would: a float (or an int
    a float holds exactly) that is neither 0 (whose sign a tie could keep) nor nan."""
    t = type(v)
    return (t is float and v == v or t is int and -_EXACT_INT < v < _EXACT_INT) and v != 0


_EXACT_INT = 1 << 53


def clip(x, lo, hi):
    """minimum(maximum(x, lo), hi): one pass (`xp.clip`) for a float array and plain
    bounds, where NumPy's loop computes the same floats (nan wins, a tie keeps the equal
    value); anything else (traced, 0 or nan bounds, --check-nans) takes the two
    operations, whose rules are the derivative."""
    if (type(x) is ndarray and x.dtype is _F64 and x.ndim and not core.NAN_CHECK
            and _plain_bound(lo) and _plain_bound(hi)
            and not (LIMITS.watch and x.size > _LARGE_CLIP)):
        return xp.clip(x, lo, hi)
    return minimum(maximum(x, lo), hi)


_LARGE_CLIP = 1 << 18  # (larger arrays check the time and memory budgets: the operations do)
safe_div = binary_op(safe_div_p)
hypot = binary_op(hypot_p, xp.hypot)
logaddexp = binary_op(logaddexp_p, xp.logaddexp)
xlogy = binary_op(xlogy_p)
heaviside = binary_op(heaviside_p)


_INF = float("inf")
_all = xp.logical_and.reduce
_BIG = 1 << 12  # a product this large pays more for its nan test than for the factor's


def _broadcast_mul(g: ndarray, d: ndarray):
    """g * d of a small float array and a larger one (a batch of tangents times a
    primal, a cotangent times a partial), or None. When the smaller factor is finite
    and nonzero, the product makes nan only where the other does, and `safe_mul`
    keeps those: so the test reads the small factor, not the product. A factor of
    ones (sum's cotangent) gives the other factor itself."""
    s, b = (g, d) if g.size < d.size else (d, g)
    if s.dtype is not _F64 or b.dtype is not _F64 or not s.size:
        return None
    v = s.ravel("K")
    if not _all(v):  # (the ufunc's reduction: ndarray.all's Python wrapper costs as much)
        return None
    q = v.dot(v)
    if not q < _INF:  # (an inf or a nan, or squares too large to tell)
        return None
    if (q == s.size and s.ndim <= b.ndim and b.shape[b.ndim - s.ndim:] == s.shape
            and _all(v == 1.0)):
        return b
    return xp.multiply(g, d)


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
                    return xp.multiply(g, d)
            elif td is ndarray:
                if g.size != d.size and (g.size > _BIG or d.size > _BIG):
                    r = _broadcast_mul(g, d)
                    if r is not None:
                        return r
                r = xp.multiply(g, d)
                if r.dtype is _F64 and r.ndim and _nan_free(r):
                    return r
        elif td is ndarray and (tg is float or tg is int):
            if g - g == 0.0 and g != 0:
                return xp.multiply(g, d)
    return _safe_mul_op(g, d)


safe_mul_p.op = safe_mul  # the engines and batching rules call it (same results, faster)


neg = unary_op(neg_p)
abs_ = unary_op(abs_p)
sqrt = unary_op(sqrt_p)
exp = unary_op(exp_p)
log = unary_op(log_p)
log1p = unary_op(log1p_p)
expm1 = unary_op(expm1_p)
sin = unary_op(sin_p)
cos = unary_op(cos_p)
tan = unary_op(tan_p)
asin = unary_op(asin_p)
acos = unary_op(acos_p)
atan = unary_op(atan_p)
sinh = unary_op(sinh_p)
cosh = unary_op(cosh_p)
tanh = unary_op(tanh_p)
sigmoid = unary_op(sigmoid_p)
relu = unary_op(relu_p)
softplus = unary_op(softplus_p)
sign = unary_op(sign_p)
floor = unary_op(floor_p)
ceil = unary_op(ceil_p)
square = unary_op(square_p)
reciprocal = unary_op(reciprocal_p)
log2 = unary_op(log2_p)
log10 = unary_op(log10_p)
exp2 = unary_op(exp2_p)
asinh = unary_op(asinh_p)
acosh = unary_op(acosh_p)
atanh = unary_op(atanh_p)
logit = unary_op(logit_p)
deg2rad = unary_op(deg2rad_p)
rad2deg = unary_op(rad2deg_p)
isnan = unary_op(isnan_p)
isinf = unary_op(isinf_p)
isfinite = unary_op(isfinite_p)


def where(c, a, b):
    return bind(where_p, (strip_derivatives(c), a, b))

