"""Special functions of one number: erf, erfc, erfinv, lgamma, digamma, polygamma
and sinc, with rules to any order.

NumPy has no erf or gamma functions, so these call `scipy.special`, imported on
first use: SciPy costs tens of milliseconds to import, which a program that
never calls them must not pay at start-up (`dp -c "print(1)"`). The Python-float
fast paths use `math` for erf and erfc (and so do their implementations on
Python numbers, so both paths agree to the bit).

Each rule is written with dispatching operations, so every order follows: erf's
derivative is a Gaussian, lgamma's is digamma, digamma's is polygamma(1, x), and
polygamma(n, x)'s is polygamma(n + 1, x). sinc's n-th derivative is its own
primitive (`sinc_deriv`), computed from the Taylor series near 0 (where the
closed form cancels) and from Leibniz's rule away from it.
"""

from __future__ import annotations

import math

from ..core.backend import xp
from ..core.errors import DpValueError
from .core import F64, bind, defprim
from .elementwise import exp, mul, neg, partials
from .fastpath import unary_op
from .structure import unbroadcast

_special = None


def _sp():
    """scipy.special, imported lazily (a heavy library only these functions need)."""
    global _special
    if _special is None:
        import scipy.special  # lazy on purpose: start-up must not pay for SciPy

        _special = scipy.special
    return _special


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_TWO = math.sqrt(math.pi) / 2.0


def _special1(name, impl, scalar, d, sd, doc, sig=None):
    return defprim(name, impl, scalar=scalar, elementwise=True, sderiv=sd,
                   sig=sig or f"{name}(x)", doc=doc, category="math", **partials(d))


def _gauss(x):
    """2/sqrt(pi) * exp(-x*x): erf's derivative (a composition, so any order)."""
    return mul(_TWO_OVER_SQRT_PI, exp(neg(mul(x, x))))


def _erf_np(x):
    # Python numbers through `math`, as the dispatching operation's fast path does, so
    # both give the same last bit
    return math.erf(x) if type(x) is float or type(x) is int else _sp().erf(x)


def _erfc_np(x):
    return math.erfc(x) if type(x) is float or type(x) is int else _sp().erfc(x)


erf_p = _special1("erf", _erf_np, math.erf, lambda ans, x: _gauss(x),
                  lambda ans, x: _TWO_OVER_SQRT_PI * math.exp(-x * x),
                  "error function 2/sqrt(pi) * integral of exp(-t*t) from 0 to x "
                  "(scipy.special.erf)")
erfc_p = _special1("erfc", _erfc_np, math.erfc, lambda ans, x: neg(_gauss(x)),
                   lambda ans, x: -_TWO_OVER_SQRT_PI * math.exp(-x * x),
                   "complementary error function 1 - erf(x), accurate where erf(x) is near 1")
erfinv_p = _special1("erfinv", lambda x: _sp().erfinv(x), None,
                     lambda ans, x: mul(_SQRT_PI_OVER_TWO, exp(mul(ans, ans))),
                     lambda ans, x: _SQRT_PI_OVER_TWO * math.exp(ans * ans),
                     "inverse of erf on (-1, 1) (±inf at ±1, nan outside)")


def _polygamma_np(x, n):
    return _sp().polygamma(n, x)


def _polygamma_jvp(t, ans, x, n):
    return mul(t, polygamma(x, n + 1))


def _polygamma_vjp(g, ans, x, n):
    return unbroadcast(mul(g, polygamma(x, n + 1)), x)


# polygamma(x, n) = the n-th derivative of digamma; its own derivative is the next one
polygamma_p = defprim("polygamma", _polygamma_np, elementwise=True,
                      jvp=(_polygamma_jvp,), vjp=(_polygamma_vjp,),
                      sig="polygamma(n, x)", category="math",
                      doc="the n-th derivative of digamma(x) (n = 0: digamma itself)")
digamma_p = _special1("digamma", lambda x: _sp().psi(x), None,
                      lambda ans, x: polygamma(x, 1), None,
                      "derivative of lgamma(x): the digamma function psi(x)")
lgamma_p = _special1("lgamma", lambda x: _sp().gammaln(x), None,
                     lambda ans, x: digamma(x), None,
                     "log |gamma(x)| (inf at 0, -1, -2, ...); also called gammaln")


# ========================================================================= sinc
def _sinc_series(y, n, terms=30):
    """The n-th derivative of sin(y)/y from its Taylor series (|y| < 2: no cancellation).
    sin(y)/y = sum_k (-1)^k y^(2k) / (2k+1)!, so the n-th derivative is
    sum over 2k >= n of (-1)^k y^(2k-n) / ((2k+1) (2k-n)!)."""
    out = xp.zeros_like(y)
    for k in range((n + 1) // 2, (n + 1) // 2 + terms):
        out += (-1.0) ** k * y ** (2 * k - n) / ((2 * k + 1) * math.factorial(2 * k - n))
    return out


def _sinc_leibniz(y, n):
    """The n-th derivative of sin(y) * (1/y) by Leibniz's rule (|y| >= 2)."""
    out = xp.zeros_like(y)
    for k in range(n + 1):
        m = n - k
        out += (math.comb(n, k) * xp.sin(y + k * math.pi / 2)
                * (-1.0) ** m * math.factorial(m) / y ** (m + 1))
    return out


def _sinc_deriv_np(x, n):
    """d^n/dx^n of sinc(x) = sin(pi x) / (pi x), NumPy's normalised sinc."""
    if n > 40:
        raise DpValueError("derivatives of `sinc` beyond order 40 are not supported", None,
                           None)
    x = xp.asarray(x, dtype=F64)
    y = math.pi * x
    small = xp.abs(y) < 2.0
    ys = xp.where(small, y, 0.0)
    yl = xp.where(small, 3.0, y)
    with xp.errstate(all="ignore"):
        r = xp.where(small, _sinc_series(ys, n), _sinc_leibniz(yl, n))
    return r * math.pi ** n


def _sinc_deriv_jvp(t, ans, x, n):
    return mul(t, sinc_deriv(x, n + 1))


def _sinc_deriv_vjp(g, ans, x, n):
    return unbroadcast(mul(g, sinc_deriv(x, n + 1)), x)


# the n-th derivative of sinc (not a builtin: sinc's rules use it, at every order)
sinc_deriv_p = defprim("sinc_deriv", _sinc_deriv_np, elementwise=True,
                       jvp=(_sinc_deriv_jvp,), vjp=(_sinc_deriv_vjp,))


def _sinc_py(x):
    if x == 0:
        return 1.0
    y = math.pi * x
    return math.sin(y) / y


sinc_p = _special1("sinc", xp.sinc, _sinc_py, lambda ans, x: sinc_deriv(x, 1), None,
                   "sin(pi x) / (pi x), 1 at 0 (NumPy's normalised sinc)")


# ============================================================ dispatching operations
erf = unary_op(erf_p)
erfc = unary_op(erfc_p)
erfinv = unary_op(erfinv_p)
digamma = unary_op(digamma_p)
lgamma = unary_op(lgamma_p)
sinc = unary_op(sinc_p)


def polygamma(x, n: int):
    return bind(polygamma_p, (x,), {"n": n})


def sinc_deriv(x, n: int):
    return bind(sinc_deriv_p, (x,), {"n": n})
