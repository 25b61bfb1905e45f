"""The compact reverse-mode tape (ad/fasttape.py, issue 17): what it keeps, and that
adding cotangents in place never writes into an array anyone else holds."""

from __future__ import annotations

import io

import numpy as np
import pytest

import dprog
from dprog.ad import fasttape
from dprog.ad.engines import reference_engines
from dprog.ad.fastpath import RECORDERS
from dprog.ad.fasttape import FastTape
from dprog.ad.reverse import Tape
from dprog.prims import primitives as P

RNN = """
fn loss(p, xs, h) {
  let total = 0.0
  for t in range(len(xs)) {
    h = tanh(p.W[:, xs[t]] + p.U @ h + p.b)
    let y = p.V @ h
    total = total + logsumexp(y) - y[xs[(t + 1) % len(xs)]]
  }
  return total + sum(h * h) * 0.5
}
"""


def _rnn_args():
    rng = np.random.default_rng(3)
    p = {"W": rng.standard_normal((6, 5)), "U": rng.standard_normal((6, 6)) * 0.3,
         "V": rng.standard_normal((5, 6)), "b": rng.standard_normal(6)}
    return p, (0, 3, 1, 3, 4, 0), rng.standard_normal(6)


def test_float_records_keep_no_values():
    """A float operation keeps four list entries (numbers), not the value it made."""
    tape = FastTape()
    x = tape.leaf(0.5)
    y = x
    for _ in range(50):
        y = RECORDERS["+"](RECORDERS["*"](y, 0.9), x)
    assert len(tape) == 101 and len(tape.recs) == 4 * len(tape)
    assert all(type(e) in (int, float) for e in tape.recs)
    assert not tape.general
    g = tape.backward([(y.idx, 1.0)])[x.idx]
    assert g == pytest.approx(0.9 ** 50 + sum(0.9 ** k for k in range(50)), rel=1e-12)


def test_recorders_step_aside_on_the_reference_tape():
    tape = Tape()
    x = tape.leaf(1.5)
    y = RECORDERS["*"](x, x)
    assert tape.nodes[y.idx].p is P.mul_p  # the reference records the primitive itself
    assert tape.backward([(y.idx, 1.0)])[x.idx] == 3.0


def test_rnn_gradient_equals_the_reference_engine():
    it = dprog.Interpreter(stdout=io.StringIO())
    it.exec(RNN)
    p, xs, h = _rnn_args()
    fast = it.eval("value_and_grad(loss)(p, xs, h)", {"p": p, "xs": xs, "h": h})
    with reference_engines():
        ref = it.eval("value_and_grad(loss)(p, xs, h)", {"p": p, "xs": xs, "h": h})
    assert fast[0] == pytest.approx(ref[0], rel=1e-13)
    for k in p:
        np.testing.assert_allclose(fast[1][k], ref[1][k], rtol=1e-12, atol=1e-13)


def test_in_place_accumulation_leaves_arguments_and_cotangents_alone():
    """The gradients of a weight used at every step are summed in place, into arrays
    the backward pass made; never into an argument, a primal or a given cotangent."""
    it = dprog.Interpreter(stdout=io.StringIO())
    it.exec(RNN + "fn f(p, xs, h) { return loss(p, xs, h) * 1.0 }\n"
            "fn run(p, xs, h) {\n"
            "  let r = vjp(fn(q) => loss(q, xs, h), p)\n"
            "  return (r[1](1.0), r[1](1.0), r[1](2.0))\n}")
    p, xs, h = _rnn_args()
    before = {k: v.copy() for k, v in p.items()}
    g1, g2, g3 = it.eval("run(p, xs, h)", {"p": p, "xs": xs, "h": h})
    for k in p:
        np.testing.assert_array_equal(p[k], before[k])
        np.testing.assert_array_equal(g1[0][k], g2[0][k])  # the tape is unchanged
        np.testing.assert_allclose(g3[0][k], 2.0 * g1[0][k], rtol=1e-14)


def test_matrix_vector_rules_equal_the_general_ones():
    a = np.arange(12.0).reshape(3, 4) / 7.0
    v = np.linspace(-1.0, 1.0, 4)
    g = np.array([0.3, -1.2, 2.0])
    ans = a @ v
    np.testing.assert_allclose(P.matmul_p.vjps[0](g, ans, a, v), np.outer(g, v))
    np.testing.assert_allclose(P.matmul_p.vjps[1](g, ans, a, v), a.T @ g)
    w = np.linspace(0.5, 2.0, 3)
    np.testing.assert_allclose(P.matmul_p.vjps[0](v, w @ a, w, a), a @ v)
    np.testing.assert_allclose(P.matmul_p.vjps[1](v, w @ a, w, a), np.outer(w, v))


ARRAY_OPS = RNN + """
fn more(p, xs, h) {
  let total = loss(p, xs, h)
  for t in range(len(xs)) {
    let v = tanh(h @ p.U - p.b) - h          # v @ A, -, tanh
    let z = p.W[:, xs[t]] * v + 2.0 - v[xs[t]]  # broadcasting: the rules' path
    total = total + logsumexp(z) + logsumexp(p.V, axis=0)[1] + sum(v[1:3] * z[0:2])
    h = v
  }
  return total
}
"""


@pytest.mark.parametrize("fn", ["loss", "more"])
def test_array_pulls_equal_the_rules_to_the_bit(monkeypatch, fn):
    """ad/arraypulls.py's shortcuts compute the cotangents with the NumPy calls of the
    rules they stand for: the same gradients exactly, and the reference engine's to
    rounding."""
    it = dprog.Interpreter(stdout=io.StringIO())
    it.exec(ARRAY_OPS)
    p, xs, h = _rnn_args()
    call = f"value_and_grad({fn}, argnums=(0, 2))(p, xs, h)"
    fast = it.eval(call, {"p": p, "xs": xs, "h": h})
    monkeypatch.setattr(fasttape, "ARRAY_PULLS", {})
    rules = it.eval(call, {"p": p, "xs": xs, "h": h})
    monkeypatch.undo()
    with reference_engines():
        ref = it.eval(call, {"p": p, "xs": xs, "h": h})
    assert fast[0] == rules[0]
    for k in p:
        np.testing.assert_array_equal(fast[1][0][k], rules[1][0][k])
        np.testing.assert_allclose(fast[1][0][k], ref[1][0][k], rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(fast[1][1], rules[1][1])
    np.testing.assert_allclose(fast[1][1], ref[1][1], rtol=1e-12, atol=1e-13)


def test_recorders_module_is_current():
    """ad/recorders.py is fastpath.recorders_source()'s output, generated once instead of at
    every start-up (regenerate with `python -m dprog.ad.fastpath > lang/dprog/ad/recorders.py`)."""
    from pathlib import Path

    from dprog.ad import fastpath, recorders

    assert Path(recorders.__file__).read_text() == fastpath.recorders_source()
    assert fastpath.RECORDERS["*"] is recorders.record_mul


LOOP = """
fn loop_loss(W, U, xs, h) {
  let total = 0.0
  for t in range(len(xs)) {
    h = tanh(W @ h + xs[t])             # A @ v: dW = sum of outer(g, h)
    let z = h @ U                       # v @ A: dU = sum of outer(h, g)
    total = total + logsumexp(z) + sum(W * 0.5) * 1e-3
  }
  return total + sum(h * h)
}
fn twice(W, U, xs, h) {
  let r = vjp(fn(w) => loop_loss(w, U, xs, h), W)
  return (r[1](1.0), r[1](1.0))
}
fn computed(W, U, xs, h) { return loop_loss(W * 1.0, U, xs, h) }
"""


def _loop_args(n=40, m=30, steps=45):
    rng = np.random.default_rng(5)
    return (rng.standard_normal((n, n)) * 0.2, rng.standard_normal((n, m)),
            rng.standard_normal((steps, n)), rng.standard_normal(n))


@pytest.mark.parametrize("steps", [1, 3, 45])
def test_outer_sums_equal_the_per_step_outer_products(monkeypatch, steps):
    """A weight's gradient from a matrix-vector product at every step is summed by one
    matrix product at the end of the pass (`FastTape.defer_outer`, from 1024 elements;
    45 steps of a 40x40 weight also pass the memory bound, which adds the kept factors
    early): the per-step outer products' sum to rounding, and the reference engine's."""
    it = dprog.Interpreter(stdout=io.StringIO())
    it.exec(LOOP)
    W, U, xs, h = _loop_args(steps=steps)
    env = {"W": W, "U": U, "xs": xs, "h": h}
    deferred = []
    orig = FastTape.defer_outer

    def counting(self, ct, j, u, v):
        taken = orig(self, ct, j, u, v)
        deferred.append(taken)
        return taken

    monkeypatch.setattr(FastTape, "defer_outer", counting)
    call = "value_and_grad(loop_loss, argnums=(0, 1, 3))(W, U, xs, h)"
    fast = it.eval(call, env)
    assert deferred.count(True) == 2 * steps
    monkeypatch.setattr(fasttape, "DEFER_OUTER_SUMS", False)
    eager = it.eval(call, env)
    monkeypatch.undo()
    with reference_engines():
        ref = it.eval(call, env)
    assert fast[0] == eager[0] == ref[0]
    for k in range(3):  # (summed in another order: rounding relative to the largest)
        _assert_close_to(fast[1][k], eager[1][k], 1e-14)
        _assert_close_to(fast[1][k], ref[1][k], 1e-14)
    g = it.eval("grad(computed)(W, U, xs, h)", env)  # W * 1.0 is no leaf: at once
    _assert_close_to(g, fast[1][0], 1e-14)
    first, second = it.eval("twice(W, U, xs, h)", env)  # a pullback run twice
    np.testing.assert_array_equal(first[0], second[0])
    _assert_close_to(first[0], fast[1][0], 1e-14)


def _assert_close_to(a, b, rel):
    assert np.max(np.abs(a - b)) <= rel * np.max(np.abs(b)), np.max(np.abs(a - b))


def test_array_pulls_equal_the_rules_to_the_bit_without_outer_sums(monkeypatch):
    """With the outer sums off, the shortcuts on weights above the deferral's size are
    the rules' to the bit too."""
    it = dprog.Interpreter(stdout=io.StringIO())
    it.exec(LOOP)
    W, U, xs, h = _loop_args(steps=6)
    env = {"W": W, "U": U, "xs": xs, "h": h}
    call = "value_and_grad(loop_loss, argnums=(0, 1, 3))(W, U, xs, h)"
    monkeypatch.setattr(fasttape, "DEFER_OUTER_SUMS", False)
    fast = it.eval(call, env)
    monkeypatch.setattr(fasttape, "ARRAY_PULLS", {})
    rules = it.eval(call, env)
    assert fast[0] == rules[0]
    for k in range(3):
        np.testing.assert_array_equal(fast[1][k], rules[1][k])


def test_outer_sum_factors_are_not_added_into(monkeypatch):
    """A deferred factor (the cotangent g of `W @ h`) can also sit in another node's slot
    (`+` hands the same g to both operands, here to X, whose index is pulled back
    later): in-place accumulation must see the extra holder and copy."""
    src = """
    fn f(W, X, h) {
      let total = 0.0
      for t in range(3) {
        total = total + X[t] * 2.0           # pulled back after the `+` below
        let z = W @ h + X
        total = total + sum(z * z)
        h = tanh(z)
      }
      return total
    }
    """
    it = dprog.Interpreter(stdout=io.StringIO())
    it.exec(src)
    rng = np.random.default_rng(9)
    env = {"W": rng.standard_normal((40, 40)) * 0.2, "X": rng.standard_normal(40),
           "h": rng.standard_normal(40)}
    call = "grad(f, argnums=(0, 1, 2))(W, X, h)"
    fast = it.eval(call, env)
    monkeypatch.setattr(fasttape, "DEFER_OUTER_SUMS", False)
    eager = it.eval(call, env)
    for k in range(3):
        _assert_close_to(fast[k], eager[k], 1e-14)
