"""The GP workload (issue 13): data and the hand-written NumPy/SciPy limit.

Negative log marginal likelihood of a Gaussian process with a squared-exponential
kernel plus noise, K = sf2 exp(-D2 / (2 ell^2)) + sn2 I, at theta = (log ell,
log sf2, log sn2), and its gradient written by hand:
dNLL/dtheta_i = -1/2 sum((alpha alpha^T - K^-1) * dK/dtheta_i), alpha = K^-1 y.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg as sl

GP_N = 400
THETA = np.array([math.log(0.2), 0.0, math.log(0.01)])


def gp_data(n: int = GP_N):
    """Inputs on [0, 1), noisy sin(6x) targets, the squared distances; default_rng(0)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, n)
    y = np.sin(6 * x) + 0.1 * rng.standard_normal(n)
    d2 = (x[:, None] - x[None, :]) ** 2
    return d2, y


def gp_numpy_value_and_grad(theta, d2, y):
    """(nll, gradient) with a Cholesky factorisation and the hand-written gradient."""
    n = len(y)
    ell2, sf2, sn2 = math.exp(2 * theta[0]), math.exp(theta[1]), math.exp(theta[2])
    kse = sf2 * np.exp(-0.5 * d2 / ell2)
    k = kse + sn2 * np.eye(n)
    c = sl.cholesky(k, lower=True)
    alpha = sl.cho_solve((c, True), y)
    nll = 0.5 * y @ alpha + np.sum(np.log(np.diag(c))) + 0.5 * n * math.log(2 * math.pi)
    w = np.outer(alpha, alpha) - sl.cho_solve((c, True), np.eye(n))
    g_ell = -0.5 * np.sum(w * (kse * d2 / ell2))
    g_sf2 = -0.5 * np.sum(w * kse)
    g_sn2 = -0.5 * sn2 * np.trace(w)
    return nll, np.array([g_ell, g_sf2, g_sn2])
