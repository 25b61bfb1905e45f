"""The limit rows: hand-written Python / NumPy code for the five workloads.

Re-expressed from ../shared/peers/ (w1_scalar_loop.py, w2_mlp.py,
w3_lorenz_jvp.py, w4_hessian.py) with the same formulas, operation order,
constants and data, so that the ratios measured by bench/run.py compare with
the peer figures in ../shared/peers/RESULTS.md. Sizes are parameters so that
`run.py --smoke` can use tiny problems.
"""

from __future__ import annotations

import math

import numpy as np

# ======================================================================= W1
W1_X0, W1_Y0 = 0.5, 1.5
W1_N = 10_000
W1_OPS_PER_ITER = 10


def w1_plain(x, y, N):
    """Value only, plain floats and math.sin/cos."""
    sin, cos = math.sin, math.cos
    s = 0.0
    for i in range(N):
        x = x * 0.999 + 0.01 * sin(y * x)
        y = y + 0.001 * cos(x)
        s = s + x * y
    return s


def w1_handrev(x, y, N):
    """Hand-written reverse mode: the forward pass records x_i, y_i; a reverse loop."""
    sin, cos = math.sin, math.cos
    X = [x]
    Y = [y]
    s = 0.0
    for i in range(N):
        x = x * 0.999 + 0.01 * sin(y * x)
        y = y + 0.001 * cos(x)
        s = s + x * y
        X.append(x)
        Y.append(y)
    gx = gy = 0.0
    for i in range(N - 1, -1, -1):
        xn = X[i + 1]
        xi = X[i]
        yi = Y[i]
        gx += Y[i + 1]                # s += x_{i+1} * y_{i+1}
        gy += xn
        gx -= gy * 0.001 * sin(xn)    # y_{i+1} = y_i + 0.001 cos(x_{i+1})
        c = 0.01 * cos(yi * xi)       # x_{i+1} = 0.999 x_i + 0.01 sin(y_i x_i)
        gy += gx * c * xi
        gx = gx * (0.999 + c * yi)
    return s, gx, gy


# ======================================================================= W2
W2_SIZES = (512, 784, 256, 10)          # batch, inputs, hidden, classes


def w2_data(sizes=W2_SIZES):
    """X ~ N(0,1), integer labels, W1, b1, W2, b2 from default_rng(0), as the peers."""
    B, D, H, K = sizes
    rng = np.random.default_rng(0)
    X = rng.standard_normal((B, D))
    y = rng.integers(0, K, size=B)
    W1 = rng.standard_normal((D, H)) * 0.05
    b1 = rng.standard_normal(H) * 0.01
    W2 = rng.standard_normal((H, K)) * 0.1
    b2 = rng.standard_normal(K) * 0.01
    return X, y, (W1, b1, W2, b2)


def w2_numpy_step(X, y, params):
    """Hand-written NumPy backprop: (loss, (dW1, db1, dW2, db2))."""
    W1, b1, W2, b2 = params
    n = X.shape[0]
    z1 = X @ W1 + b1
    h = np.maximum(z1, 0)
    logits = h @ W2 + b2
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    se = e.sum(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(se[:, 0])
    rows = np.arange(n)
    loss = np.mean(lse - logits[rows, y])
    d = e / se
    d[rows, y] -= 1
    d /= n
    dW2 = h.T @ d
    db2 = d.sum(axis=0)
    dz1 = (d @ W2.T) * (z1 > 0)
    dW1 = X.T @ dz1
    db1 = dz1.sum(axis=0)
    return loss, (dW1, db1, dW2, db2)


# ======================================================================= W3
SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0
DT = 0.005
W3_STEPS = 2000
HDT = 0.5 * DT
DT6 = DT / 6.0
W3_S0 = (1.0, 1.0, 1.0)
W3_T0 = (1.0, 0.0, 0.0)
W3_OPS_PER_STEP = 71
W3V_OPS_PER_STEP = 33
LIT_OPS_PER_STEP = 45   # the LIT row: each f(s) reads s[1], s[2], s[0] and builds [...]


def lorenz(x, y, z):
    return SIGMA * (y - x), x * (RHO - z) - y, x * y - BETA * z


def rk4(x, y, z, steps=W3_STEPS):
    """Generic over floats and Dual (and the peers' scalar types)."""
    for _ in range(steps):
        k1x, k1y, k1z = lorenz(x, y, z)
        k2x, k2y, k2z = lorenz(x + HDT * k1x, y + HDT * k1y, z + HDT * k1z)
        k3x, k3y, k3z = lorenz(x + HDT * k2x, y + HDT * k2y, z + HDT * k2z)
        k4x, k4y, k4z = lorenz(x + DT * k3x, y + DT * k3y, z + DT * k3z)
        x = x + DT6 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        y = y + DT6 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
        z = z + DT6 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z)
    return x, y, z


class Dual:
    """Minimal forward-mode dual number (val, tan). Works for floats or NumPy arrays."""
    __slots__ = ("v", "t")
    __array_ufunc__ = None          # make NumPy defer to our reflected operators

    def __init__(self, v, t):
        self.v = v
        self.t = t

    def __add__(self, o):
        if type(o) is Dual:
            return Dual(self.v + o.v, self.t + o.t)
        return Dual(self.v + o, self.t)

    __radd__ = __add__

    def __sub__(self, o):
        if type(o) is Dual:
            return Dual(self.v - o.v, self.t - o.t)
        return Dual(self.v - o, self.t)

    def __rsub__(self, o):
        return Dual(o - self.v, -self.t)

    def __mul__(self, o):
        if type(o) is Dual:
            return Dual(self.v * o.v, self.t * o.v + self.v * o.t)
        return Dual(self.v * o, self.t * o)

    __rmul__ = __mul__

    def __neg__(self):
        return Dual(-self.v, -self.t)

    def __rmatmul__(self, M):        # M @ dual, M a constant matrix
        return Dual(M @ self.v, M @ self.t)

    def __getitem__(self, idx):
        return Dual(self.v[idx], self.t[idx])


def w3_plain(steps=W3_STEPS):
    """Value only, plain floats."""
    return rk4(*W3_S0, steps=steps)


def w3_dual(steps=W3_STEPS):
    """((x, y, z), (tx, ty, tz)) with the hand-written Dual class over floats."""
    x, y, z = rk4(Dual(W3_S0[0], W3_T0[0]), Dual(W3_S0[1], W3_T0[1]),
                  Dual(W3_S0[2], W3_T0[2]), steps=steps)
    return (x.v, y.v, z.v), (x.t, y.t, z.t)


# (3,)-array state: f(s) = A @ s + Bm @ (s * s[[1, 2, 0]])
A_NP = np.array([[-SIGMA, SIGMA, 0.0], [RHO, -1.0, 0.0], [0.0, 0.0, -BETA]])
B_NP = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
PERM = [1, 2, 0]
P_NP = np.eye(3)[PERM]              # the same permutation as a matrix: P_NP @ s == s[PERM]


def rk4v(s, A, Bm, perm, steps=W3_STEPS):
    def f(s):
        return A @ s + Bm @ (s * s[perm])
    for _ in range(steps):
        k1 = f(s)
        k2 = f(s + HDT * k1)
        k3 = f(s + HDT * k2)
        k4 = f(s + DT * k3)
        s = s + DT6 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return s


def w3v_plain(steps=W3_STEPS):
    """Value only, NumPy (3,) arrays."""
    return tuple(rk4v(np.array(W3_S0), A_NP, B_NP, PERM, steps))


def w3v_dual(steps=W3_STEPS):
    """(state, tangent) with the Dual class holding (3,) arrays."""
    s = rk4v(Dual(np.array(W3_S0), np.array(W3_T0)), A_NP, B_NP, PERM, steps)
    return tuple(s.v), tuple(s.t)


# ======================================================================= W4
W4_SIZES = (200, 100)


def w4_data(sizes=W4_SIZES):
    """A ~ N(0,1) (M x N), then x ~ N(0,1) from the same default_rng(0)."""
    M, N = sizes
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M, N))
    x = rng.standard_normal(N)
    return A, x


def w4_analytic(A, x):
    """H = (A.T * w) @ A + I with w = s (1 - s), s = sigmoid(A @ x)."""
    s = 1.0 / (1.0 + np.exp(-(A @ x)))
    w = s * (1.0 - s)
    return (A.T * w) @ A + np.eye(A.shape[1])


# ======================================================================= checks
def relerr(a, b):
    """max |a - b| / max |b| (b is the reference); nan/inf or a shape mismatch give inf."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    den = float(np.max(np.abs(b))) if b.size else 1.0
    err = float(np.max(np.abs(a - b))) / (den or 1.0) if a.size else 0.0
    return err if math.isfinite(err) else float("inf")
