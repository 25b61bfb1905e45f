"""The RNN row's limit and data: Karpathy's min-char-rnn with hand-written NumPy backprop.

Hidden size 100, 25 steps per sequence, a vocabulary of 64 characters, weights from
`default_rng(0)`, random inputs and targets. The model is that of
bench/programs/rnn.dp: h = tanh(Wxh[:, x] + Whh @ h + bh), y = Why @ h + by, loss
log-sum-exp(y) - y[target] summed over the steps (= -log softmax(y)[target]),
gradients clipped to [-5, 5], one Adagrad update. `train_step` takes and returns
parameters like the dprog program (new arrays, no update in place).
"""

from __future__ import annotations

import numpy as np

RNN_H = 100
RNN_T = 25
RNN_V = 64
RNN_LR = 0.1
NAMES = ("Wxh", "Whh", "Why", "bh", "by")


def rnn_data(V: int = RNN_V, H: int = RNN_H, T: int = RNN_T):
    """(params, mem, inputs, targets, hprev): inputs and targets tuples of ints."""
    rng = np.random.default_rng(0)
    p = {"Wxh": rng.standard_normal((H, V)) * 0.01, "Whh": rng.standard_normal((H, H)) * 0.01,
         "Why": rng.standard_normal((V, H)) * 0.01, "bh": np.zeros(H), "by": np.zeros(V)}
    mem = {k: np.abs(rng.standard_normal(v.shape)) * 0.1 for k, v in p.items()}
    seq = rng.integers(0, V, T + 1)
    inputs = tuple(int(c) for c in seq[:-1])
    targets = tuple(int(c) for c in seq[1:])
    hprev = np.tanh(rng.standard_normal(H) * 0.5)
    return p, mem, inputs, targets, hprev


def loss_and_grad(p, inputs, targets, hprev):
    """(loss, last hidden state, gradients): forward, then backprop through time."""
    Wxh, Whh, Why, bh, by = (p[k] for k in NAMES)
    hs = [hprev]
    ps = []
    loss = 0.0
    h = hprev
    for x, tg in zip(inputs, targets):
        h = np.tanh(Wxh[:, x] + Whh @ h + bh)
        y = Why @ h + by
        m = y.max()
        e = np.exp(y - m)
        s = e.sum()
        loss += np.log(s) + m - y[tg]
        hs.append(h)
        ps.append(e / s)
    dWxh = np.zeros_like(Wxh)
    dWhh = np.zeros_like(Whh)
    dWhy = np.zeros_like(Why)
    dbh = np.zeros_like(bh)
    dby = np.zeros_like(by)
    dhnext = np.zeros_like(hprev)
    for t in reversed(range(len(inputs))):
        dy = ps[t].copy()
        dy[targets[t]] -= 1.0
        h = hs[t + 1]
        dWhy += np.outer(dy, h)
        dby += dy
        dh = Why.T @ dy + dhnext
        dhraw = (1.0 - h * h) * dh
        dbh += dhraw
        dWxh[:, inputs[t]] += dhraw
        dWhh += np.outer(dhraw, hs[t])
        dhnext = Whh.T @ dhraw
    grads = {"Wxh": dWxh, "Whh": dWhh, "Why": dWhy, "bh": dbh, "by": dby}
    return float(loss), hs[-1], grads


def train_step(p, mem, inputs, targets, hprev, lr=RNN_LR):
    """(new params, new Adagrad memory, last hidden state, loss), as rnn.dp's train_step."""
    loss, h, grads = loss_and_grad(p, inputs, targets, hprev)
    q, m = {}, {}
    for k in NAMES:
        d = np.clip(grads[k], -5.0, 5.0)
        m[k] = mem[k] + d * d
        q[k] = p[k] - lr * d / np.sqrt(m[k] + 1e-8)
    return q, m, h, loss


def relerr(a, b) -> float:
    """max|a - b| / max|b| (arrays), |a - b| / |b| (numbers)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) or 1.0))


def step_error(r, ref) -> float:
    """The worst relative difference between two train_step results."""
    (q, m, h, loss), (q0, m0, h0, loss0) = r, ref
    errs = [relerr(q[k], q0[k]) for k in NAMES] + [relerr(m[k], m0[k]) for k in NAMES]
    return max(errs + [relerr(h, h0), relerr(loss, loss0)])


def run_rnn(cfg, R) -> None:
    """The RNN row of bench/run.py (R: the runner module, for its Row/Case/measure)."""
    p, mem, inputs, targets, hprev = rnn_data()
    print(f"\n== RNN min-char-rnn training step: hidden {RNN_H}, {RNN_T} steps, vocabulary "
          f"{RNN_V}, loss + gradient + clip + Adagrad")
    ref = train_step(p, mem, inputs, targets, hprev)
    print(f"reference loss {ref[3]!r}")
    checks = {"limit:numpy": 0.0}
    cases = [R.Case("limit:numpy", lambda: train_step(p, mem, inputs, targets, hprev), "limit",
                    "hand-written NumPy backprop through time")]
    row = R.Row("RNN loss+grad step", "dprog", limit="hand-written NumPy backprop",
                target=2.0, tol=1e-9, extra={"ref_case": "limit:numpy"})
    R.ROWS.append(row)
    it = R.try_case([row], lambda: R.load_program(
        "rnn.dp", {"P": p, "M": mem, "I": inputs, "TG": targets, "H0": hprev, "LR": RNN_LR},
        "fn bench_step() { return train_step(P, M, I, TG, H0, LR) }"))
    if it is not None:
        step = it["bench_step"]
        r = R.try_case([row], step)
        if r is not None:
            row.check = checks["dprog"] = step_error(r, ref)
            cases.append(R.Case("dprog", step, "dprog",
                                "train_step: value_and_grad(loss, has_aux=true), tree_map"))
            row.extra["case"] = "dprog"
    print("max rel. diff vs NumPy (parameters, Adagrad memory, hidden state, loss): "
          + ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    res = R.measure(cases, cfg)
    R.detail_table("RNN per training step", cases, res, ["limit:numpy"], checks)
    R.fill_rows(res, (row.workload,))
