"""Peer rows (autograd, torch, jax): extra rows of bench/run.py when importable.

The code follows ../shared/peers/ (same formulas and data). Each maker returns a
zero-argument callable whose result has the shape of the matching limit's
result, so run.py checks it the same way. The peers are not dependencies of
dprog and are not installed in the project's venv; `available()` says which
ones the running Python can import.
"""

from __future__ import annotations

import importlib.util

import limits as L
import numpy as np


def available() -> list[str]:
    return [m for m in ("autograd", "torch", "jax") if importlib.util.find_spec(m) is not None]


def _jax():
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    return jax, jnp


# ======================================================================= W1 (size = N)
def w1_autograd(N):
    import autograd.numpy as anp
    from autograd import value_and_grad

    def f(x, y):
        s = 0.0
        for i in range(N):
            x = x * 0.999 + 0.01 * anp.sin(y * x)
            y = y + 0.001 * anp.cos(x)
            s = s + x * y
        return s
    vg = value_and_grad(f, argnum=(0, 1))

    def run():
        v, (gx, gy) = vg(L.W1_X0, L.W1_Y0)
        return float(v), float(gx), float(gy)
    return run


def w1_torch(N):
    import torch

    def run():
        x0 = torch.tensor(L.W1_X0, dtype=torch.float64, requires_grad=True)
        y0 = torch.tensor(L.W1_Y0, dtype=torch.float64, requires_grad=True)
        x, y = x0, y0
        s = 0.0
        for i in range(N):
            x = x * 0.999 + 0.01 * torch.sin(y * x)
            y = y + 0.001 * torch.cos(x)
            s = s + x * y
        s.backward()
        return s.item(), x0.grad.item(), y0.grad.item()
    return run


W1_PEERS = {"autograd": ("autograd", w1_autograd, "value_and_grad(argnum=(0,1))"),
            "torch": ("torch", w1_torch, "eager, 0-d float64 tensors, backward()")}


# ======================================================================= W2 (data)
def w2_autograd(X, y, params):
    import autograd.numpy as anp
    from autograd import value_and_grad
    rows = np.arange(X.shape[0])

    def loss(params):
        W1, b1, W2, b2 = params
        h = anp.maximum(anp.dot(X, W1) + b1, 0.0)
        logits = anp.dot(h, W2) + b2
        m = anp.max(logits, axis=1, keepdims=True)
        lse = m[:, 0] + anp.log(anp.sum(anp.exp(logits - m), axis=1))
        return anp.mean(lse - logits[rows, y])
    vg = value_and_grad(loss)

    def run():
        v, g = vg(params)
        return float(v), tuple(g)
    return run


def w2_torch(X, y, params):
    import torch
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y)
    rows = torch.arange(X.shape[0])

    def run():
        ps = [torch.from_numpy(p).requires_grad_(True) for p in params]
        W1, b1, W2, b2 = ps
        h = torch.relu(Xt @ W1 + b1)
        logits = h @ W2 + b2
        m = logits.max(dim=1, keepdim=True).values
        lse = m[:, 0] + torch.log(torch.exp(logits - m).sum(dim=1))
        loss = (lse - logits[rows, yt]).mean()
        grads = torch.autograd.grad(loss, ps)
        return loss.item(), tuple(g.numpy() for g in grads)
    return run


def w2_jax(X, y, params):
    jax, jnp = _jax()
    Xj = jnp.asarray(X)
    yj = jnp.asarray(y)
    rows = jnp.arange(X.shape[0])
    ps = tuple(jnp.asarray(p) for p in params)   # converted once, as a training loop keeps them

    def loss(params, X, y):
        W1, b1, W2, b2 = params
        h = jnp.maximum(X @ W1 + b1, 0.0)
        logits = h @ W2 + b2
        m = jnp.max(logits, axis=1, keepdims=True)
        lse = m[:, 0] + jnp.log(jnp.sum(jnp.exp(logits - m), axis=1))
        return jnp.mean(lse - logits[rows, y])
    vg = jax.value_and_grad(loss)

    def run():
        v, gs = vg(ps, Xj, yj)
        jax.block_until_ready(gs)
        return float(v), tuple(np.asarray(g) for g in gs)
    return run


W2_PEERS = {"autograd": ("autograd", w2_autograd, "value_and_grad"),
            "torch": ("torch", w2_torch, "eager, autograd.grad"),
            "jax": ("jax eager", w2_jax, "value_and_grad, no jit")}


# ======================================================================= W3 (size = steps)
def w3_autograd(steps):
    from autograd.builtins import tuple as ag_tuple
    from autograd.differential_operators import make_jvp

    def f(x, y, z):
        return ag_tuple(L.rk4(x, y, z, steps))
    jvp = make_jvp(f, argnum=(0, 1, 2))

    def run():
        out, tan = jvp(*L.W3_S0)(L.W3_T0)
        return tuple(float(v) for v in out), tuple(float(v) for v in tan)
    return run


def w3_torch(steps):
    import torch
    from torch.func import jvp
    s0 = tuple(torch.tensor(v, dtype=torch.float64) for v in L.W3_S0)
    t0 = tuple(torch.tensor(v, dtype=torch.float64) for v in L.W3_T0)

    def run():
        out, tan = jvp(lambda x, y, z: L.rk4(x, y, z, steps), s0, t0)
        return tuple(float(v) for v in out), tuple(float(v) for v in tan)
    return run


def w3_jax(steps):
    jax, jnp = _jax()
    s0 = tuple(jnp.asarray(v) for v in L.W3_S0)
    t0 = tuple(jnp.asarray(v) for v in L.W3_T0)

    def run():
        out, tan = jax.jvp(lambda x, y, z: L.rk4(x, y, z, steps), s0, t0)
        jax.block_until_ready(tan)
        return tuple(float(v) for v in out), tuple(float(v) for v in tan)
    return run


W3_PEERS = {"autograd": ("autograd", w3_autograd, "make_jvp, argnum=(0,1,2)"),
            "torch": ("torch.func.jvp", w3_torch, "0-d float64 tensors"),
            "jax": ("jax.jvp eager", w3_jax, "0-d float64, no jit")}


def w3v_autograd(steps):
    from autograd.differential_operators import make_jvp
    jvp = make_jvp(lambda s: L.rk4v(s, L.A_NP, L.B_NP, L.PERM, steps))
    s0 = np.array(L.W3_S0)
    t0 = np.array(L.W3_T0)

    def run():
        out, tan = jvp(s0)(t0)
        return tuple(out), tuple(tan)
    return run


def w3v_torch(steps):
    import torch
    from torch.func import jvp
    A = torch.from_numpy(L.A_NP)
    Bm = torch.from_numpy(L.B_NP)
    perm = torch.tensor(L.PERM)
    s0 = torch.tensor(L.W3_S0, dtype=torch.float64)
    t0 = torch.tensor(L.W3_T0, dtype=torch.float64)

    def run():
        out, tan = jvp(lambda s: L.rk4v(s, A, Bm, perm, steps), (s0,), (t0,))
        return tuple(out.tolist()), tuple(tan.tolist())
    return run


def w3v_jax(steps):
    jax, jnp = _jax()
    A = jnp.asarray(L.A_NP)
    Bm = jnp.asarray(L.B_NP)
    perm = jnp.asarray(L.PERM)
    s0 = jnp.asarray(L.W3_S0)
    t0 = jnp.asarray(L.W3_T0)

    def run():
        out, tan = jax.jvp(lambda s: L.rk4v(s, A, Bm, perm, steps), (s0,), (t0,))
        jax.block_until_ready(tan)
        return tuple(np.asarray(out)), tuple(np.asarray(tan))
    return run


W3V_PEERS = {"autograd": ("autograd", w3v_autograd, "make_jvp"),
             "torch": ("torch.func.jvp", w3v_torch, "float64 tensors (3,)"),
             "jax": ("jax.jvp eager", w3v_jax, "no jit")}


# ======================================================================= W4 (data)
def w4_autograd(A, x):
    import autograd.numpy as anp
    from autograd import hessian

    def f(x):
        return anp.sum(anp.log(1.0 + anp.exp(anp.dot(A, x)))) + 0.5 * anp.dot(x, x)
    h = hessian(f)
    return lambda: h(x)


def w4_torch(A, x):
    import torch
    At = torch.from_numpy(A)
    xt = torch.from_numpy(x.copy())

    def f(x):
        return torch.sum(torch.log(1.0 + torch.exp(At @ x))) + 0.5 * torch.dot(x, x)
    h = torch.func.hessian(f)
    return lambda: h(xt).numpy()


def w4_jax(A, x):
    jax, jnp = _jax()
    Aj = jnp.asarray(A)
    xj = jnp.asarray(x)

    def f(x):
        return jnp.sum(jnp.log(1.0 + jnp.exp(Aj @ x))) + 0.5 * jnp.dot(x, x)
    h = jax.hessian(f)
    return lambda: np.asarray(jax.block_until_ready(h(xj)))


W4_PEERS = {"autograd": ("autograd.hessian", w4_autograd, "jacobian(jacobian)"),
            "torch": ("torch.func.hessian", w4_torch, "jacfwd(jacrev) with vmap"),
            "jax": ("jax.hessian eager", w4_jax, "jacfwd(jacrev), no jit")}
