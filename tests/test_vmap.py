"""Batching (`vmap`, issue 14): every primitive's batching rule against a loop over the
examples, in compositions with both differentiation modes, and the language-level
behaviour (in_axes/out_axes trees, nesting, the per-example fallback on control flow,
printing and random draws, errors)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_ad_properties import (
    NONDIFF_CALLS,
    NONDIFF_PRIMITIVES,
    PROPS,
    SHAPE,
    SPECS,
    Case,
    _bi,
    _leaf,
    _np,
    _problem,
    _rand_like,
    _tree,
)

import dprog
from dprog.ad.batching import vmap_call
from dprog.ad.transforms import jvp_call, value_and_grad_call
from dprog.prims import primitives as P

BATCH = 3
FACTORS = (1.0, 1.01, 0.995)  # examples: the drawn point, scaled (domains are kept)

# Known gaps (correct, not yet vectorised): these builtins and rules read plain values of
# their operands (a sort's permutation, the selected elements of median/quantile, the zeros
# of cumprod, the signs fixed in svd's vectors), which under vmap means one run per example.
# (logdet, slogdet and lstsq check their operands' values.)
# (quantile and percentile: when q itself is batched, which order statistics to take
# differs per example; a batched x alone is one sort for the whole batch)
PER_EXAMPLE_OK = {"lstsq", "quantile", "percentile"}


def _examples(xs, batched):
    return [[P.mul(x, f) if b else x for x, b in zip(xs, batched)] for f in FACTORS]


def _stack_axis(vals, axis):
    return np.stack([_np(v) for v in vals], axis=axis)


def _close(got, want, what, scale=1.0):
    got_t, want_t = _tree(got), _tree(want)
    assert len(got_t) == len(want_t), what
    for g, w in zip(got_t, want_t):
        g, w = _np(g), _np(w)
        assert g.shape == w.shape, f"{what}: shape {g.shape} != {w.shape}"
        sc = max(scale, float(np.max(np.abs(w), initial=0.0)), 1.0)
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9 * sc, err_msg=what)


def _loop(f, examples):
    outs = [f(*ex) for ex in examples]
    return [np.stack([_np(o[k]) for o in (list(map(_tree, outs)))]) for k in
            range(len(_tree(outs[0])))]


def check_batching(case: Case, rng, name: str):
    xs, f = _problem(case, rng)
    batched = [bool(rng.random() < 0.7) for _ in xs]
    if not any(batched):
        batched[int(rng.integers(len(xs)))] = True
    axes = tuple(int(rng.integers(0, P.ndim(x) + 1)) if b else None
                 for x, b in zip(xs, batched))
    examples = _examples(xs, batched)
    args = tuple(_stack_axis([ex[j] for ex in examples], axes[j]) if batched[j] else xs[j]
                 for j in range(len(xs)))
    explain: list = []

    # values
    got = vmap_call(f, args, axes, 0, explain)
    _close(got, _loop(f, examples), "vmap(f) vs a loop")
    if name not in PER_EXAMPLE_OK:
        assert explain == [], f"{name}: vmap fell back to one run per example: {explain}"

    # reverse mode outside: grad of sum(c * vmap(f)(args)) = the per-example gradients
    y = f(*examples[0])
    cs = [_rand_like(rng, y) for _ in range(BATCH)]
    c_stack = np.stack([np.asarray(c) for c in cs])
    nums = tuple(j for j in range(len(xs)) if batched[j])

    def outer_loss(*vs):
        return P.sum_(P.mul(c_stack, vmap_call(f, vs, axes, 0)))

    g_out = value_and_grad_call(outer_loss, args, {}, nums, "grad")[1]
    for j, g in zip(nums, g_out):
        per = [value_and_grad_call(lambda *vs: P.sum_(P.mul(c, f(*vs))), ex, {}, j)[1]
               for c, ex in zip(cs, examples)]
        want = _stack_axis(per, axes[j])
        _close(g, want, "grad(sum(vmap(f))) vs per-example gradients")

    # reverse mode inside: vmap(grad) with a per-example cotangent = per-example grads
    def inner(c, *vs):
        return value_and_grad_call(lambda *ws: P.sum_(P.mul(c, f(*ws))), vs, {},
                                   tuple(range(len(vs))), "grad")[1]

    got = vmap_call(inner, (c_stack,) + args, (0,) + axes, 0)
    want = _loop(inner, [(c,) + tuple(ex) for c, ex in zip(cs, examples)])
    _close(got, want, "vmap(grad(f)) vs a loop")

    # forward mode inside and outside
    ts = tuple(_rand_like(rng, x) for x in xs)
    got = vmap_call(lambda *vs: jvp_call(f, vs, ts)[1], args, axes, 0)
    want = _loop(lambda *vs: jvp_call(f, vs, ts)[1], examples)
    _close(got, want, "vmap(jvp(f)) vs a loop")
    t_args = tuple(_stack_axis([t] * BATCH, axes[j]) if batched[j] else t
                   for j, t in enumerate(ts))
    got = jvp_call(lambda *vs: vmap_call(f, vs, axes, 0), args, t_args)[1]
    _close(got, want, "jvp(vmap(f)) vs a loop")


@pytest.mark.parametrize("name", sorted(SPECS))
@PROPS
@given(data=st.data())
def test_batching_rules_agree_with_a_loop(name, data):
    case = data.draw(SPECS[name], label="case")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    with np.errstate(all="ignore"):
        check_batching(case, np.random.default_rng(seed), name)


@pytest.mark.parametrize("name", NONDIFF_PRIMITIVES)
@PROPS
@given(x=SHAPE.flatmap(lambda s: _leaf(s, -3, 3)), axis_seed=st.integers(0, 10))
def test_nondiff_primitives_batch(name, x, axis_seed):
    op = NONDIFF_CALLS[name]
    axis = axis_seed % (np.ndim(x) + 1)
    xs = [x * f for f in FACTORS]
    stacked = np.stack([np.asarray(v, dtype=float) for v in xs], axis=axis)
    explain: list = []
    got = vmap_call(op, (stacked,), (axis,), 0, explain)
    want = np.stack([np.asarray(P.strip(op(v))) for v in xs])
    np.testing.assert_array_equal(np.asarray(P.strip(got)), want)
    assert explain == []


def test_every_primitive_declares_a_batching_rule():
    missing = [name for name, p in P.REGISTRY.items() if p.batch is None]
    assert missing == [], f"primitives without a batching rule (defprim batch=): {missing}"


# ============================================================== the language
def run(src: str, **kw) -> str:
    lines: list[str] = []

    class Out:
        def write(self, s):
            lines.append(s)

        def flush(self):
            pass
    interp = dprog.Interpreter(stdout=Out(), **kw)
    interp.exec(src)
    return "".join(lines)


def ev(src: str, expr: str):
    interp = dprog.Interpreter()
    interp.exec(src)
    return interp.eval(expr)


XS = "let xs = reshape(arange(12) / 10, (4, 3))\n"


def test_in_axes_and_out_axes_forms():
    src = XS + "fn f(x, w) { return sum(x * w) }\n"
    np.testing.assert_allclose(ev(src, "vmap(f, in_axes=(0, none))(xs, ones(3))"),
                               np.arange(12).reshape(4, 3).sum(1) / 10)
    np.testing.assert_allclose(ev(src, "vmap(f, in_axes=(1, none))(xs, ones(4))"),
                               np.arange(12).reshape(4, 3).sum(0) / 10)
    np.testing.assert_allclose(ev(src, "vmap(fn(x) => x * 2, out_axes=1)(xs)"),
                               (np.arange(12).reshape(4, 3) / 10 * 2).T)
    # a record argument with a record of axes; a tuple result with a tuple of out_axes
    r = ev(src, "vmap(fn(p) => (p.a + p.b, p.b), in_axes=({a: 0, b: none},), "
                "out_axes=(0, none))({a: xs, b: 1.0})")
    np.testing.assert_allclose(r[0], np.arange(12).reshape(4, 3) / 10 + 1)
    assert r[1] == 1.0
    # negative axes
    np.testing.assert_allclose(ev(src, "vmap(sum, in_axes=-1)(xs)"),
                               np.arange(12).reshape(4, 3).sum(0) / 10)


def test_nested_vmap_and_compositions():
    src = XS + "fn f(x) { return sum(sin(x) * x) }\n"
    xs = np.arange(12).reshape(4, 3) / 10
    np.testing.assert_allclose(ev(src, "vmap(vmap(fn(a) => a * a))(xs)"), xs * xs)
    np.testing.assert_allclose(ev(src, "vmap(grad(f))(xs)"), np.sin(xs) + xs * np.cos(xs))
    np.testing.assert_allclose(ev(src, "grad(fn(x) => sum(vmap(f)(x)))(xs)"),
                               np.sin(xs) + xs * np.cos(xs))
    hess = ev(src, "vmap(hessian(f))(xs)")
    want = np.stack([np.diag(2 * np.cos(x) - x * np.sin(x)) for x in xs])
    np.testing.assert_allclose(hess, want, atol=1e-12)
    np.testing.assert_allclose(ev(src, "vmap(jacfwd(fn(x) => sin(x)))(xs)"),
                               np.stack([np.diag(np.cos(x)) for x in xs]))
    np.testing.assert_allclose(ev(src, "jacrev(vmap(fn(x) => x * x))(xs[0])"),
                               np.diag(2 * xs[0]))
    np.testing.assert_allclose(ev(src, "vmap(fn(x) => hvp(f, x, ones(3)))(xs)"),
                               2 * np.cos(xs) - xs * np.sin(xs))
    np.testing.assert_allclose(ev(src, "vmap(fn(x) => jvp(f, (x,), (ones(3),))[1])(xs)"),
                               (np.sin(xs) + xs * np.cos(xs)).sum(1))


@pytest.mark.parametrize("body, want", [
    ("sum(x * 2.0)", lambda x: np.full_like(x, 2.0)),
    ("sum(x + w)", lambda x: np.ones_like(x)),
    ("sum(w * sin(x))", lambda x: W3 * np.cos(x)),
    ("mean(x * w)", lambda x: np.broadcast_to(W3 / 3, x.shape)),
    ("3.0 * x[0]", lambda x: np.broadcast_to([3.0, 0.0, 0.0], x.shape)),
])
def test_grad_under_vmap_with_a_cotangent_the_same_for_every_example(body, want):
    """The cotangent of a function linear in x is the same for every example: a plain
    array of one example's shape, which must stay an array (it was summed to a number)."""
    xs = np.arange(12).reshape(4, 3) / 10
    src = XS + "let w = [1.0, 2.0, 3.0]\n" + f"fn f(x) {{ return {body} }}\n"
    np.testing.assert_allclose(ev(src, "vmap(grad(f))(xs)"), want(xs), atol=1e-15)


W3 = np.array([1.0, 2.0, 3.0])


def test_orders_are_found_for_the_whole_batch_at_once():
    """sort, argsort, take_along_axis, median and quantile at a fixed q read no values
    under vmap: one sort (an argsort primitive and a gather) serves every example."""
    xs = np.array([[3.0, 1.0, 2.0, 7.0], [0.5, -1.0, 4.0, 2.0], [1.0, np.nan, 0.0, 2.0]])
    calls = {
        "sort": (lambda r: _bi("sort")(r), np.sort(xs, 1)),
        "argsort": (lambda r: _bi("argsort")(r), np.argsort(xs, 1, kind="stable")),
        "take_along_axis": (lambda r: _bi("take_along_axis")(r, _bi("argsort")(r), 0),
                            np.sort(xs, 1)),
        "median": (lambda r: _bi("median")(r), np.median(xs, 1)),
        "quantile": (lambda r: _bi("quantile")(r, np.array([0.1, 0.7])),
                     np.quantile(xs, [0.1, 0.7], 1).T)}
    for name, (f, want) in calls.items():
        explain: list = []
        got = vmap_call(f, (xs,), 0, 0, explain)
        np.testing.assert_allclose(P.strip(got), want, err_msg=name)
        assert explain == [], f"{name} fell back to one run per example"
    g = ev("", "vmap(grad(median))")(xs[:2])
    np.testing.assert_allclose(g, [[0.5, 0, 0.5, 0], [0.5, 0, 0, 0.5]])


def test_cumprod_with_zeros_under_vmap_is_exact_to_the_fourth_order():
    """Inside vmap cumprod cannot count the zeros: it keeps four as factors and masks
    slices with more, as it does outside vmap."""
    src = ("fn f4(r) { return grad(fn(a) => grad(fn(b) => grad(fn(c) => grad(fn(d) => "
           "cumprod([a, b, c, d, r[4], r[5]])[5])(r[3]))(r[2]))(r[1]))(r[0]) }\n"
           "let x = [[0.0, 0.0, 0.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0, 3.0, 2.0]]\n")
    np.testing.assert_array_equal(ev(src, "vmap(f4)(x)"), [0.0, 6.0])
    np.testing.assert_array_equal(ev(src, "[f4(x[0]), f4(x[1])]"), [0.0, 6.0])


def test_checks_on_values_see_every_example_without_a_loop():
    """average's weights are checked on the whole batch (a zero sum in one example is
    the loop's error); slogdet's sign is a primitive: neither runs once per example."""
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    w = np.array([[1.0, 1.0, 2.0], [0.5, 1.0, 0.0]])
    avg = _bi("average")
    explain: list = []
    got = vmap_call(lambda a, b: avg(a, weights=b), (x, w), 0, 0, explain)
    np.testing.assert_allclose(P.strip(got), np.average(x, 1, w))
    with pytest.raises(dprog.DpValueError, match="weights sum to zero"):
        zero_sum = np.array([[1.0, 1.0, 2.0], [1.0, -1.0, 0.0]])
        vmap_call(lambda a, b: avg(a, weights=b), (x, zero_sum), 0, 0)
    mats = np.array([[[2.0, 1.0], [1.0, 3.0]], [[0.0, 1.0], [1.0, 0.0]]])
    sign, logabs = vmap_call(_bi("slogdet"), (mats,), 0, 0, explain)
    np.testing.assert_allclose(P.strip(sign), [1.0, -1.0])
    np.testing.assert_allclose(P.strip(logabs), np.linalg.slogdet(mats)[1])
    np.testing.assert_allclose(P.strip(vmap_call(_bi("logdet"), (mats,), 0, 0, explain)),
                               [np.log(5.0), np.nan])
    assert explain == []


def test_custom_rules_and_checkpoint_under_vmap():
    src = XS + """
fn f(x) { return x * x }
fn fwd(x) { return (x * x, x) }
fn bwd(x, g) { return (3 * g,) }
let cf = custom_vjp(f, fwd, bwd)
let cp = checkpoint(fn(x) => sin(x) * x)
"""
    xs = np.arange(12).reshape(4, 3) / 10
    np.testing.assert_allclose(ev(src, "vmap(grad(fn(x) => sum(cf(x))))(xs)"), 3 * np.ones((4, 3)))
    np.testing.assert_allclose(ev(src, "grad(fn(x) => sum(vmap(cf)(x)))(xs)"), 3 * np.ones((4, 3)))
    np.testing.assert_allclose(ev(src, "vmap(cf)(xs)"), xs * xs)
    np.testing.assert_allclose(ev(src, "grad(fn(x) => sum(vmap(cp)(x)))(xs)"),
                               np.sin(xs) + xs * np.cos(xs))


def test_control_flow_runs_once_per_example():
    src = XS + """
fn g(x) { if x[0] > 0.4 { return x[1] * 2 } else { return x[2] } }
fn steps(x) { let n = 0; let v = x; while v < 10 { v = v * 2; n = n + 1 }; return n }
fn fact(n) { if n <= 1 { return 1.0 } else { return n * fact(n - 1) } }
"""
    xs = np.arange(12).reshape(4, 3) / 10
    want = [x[1] * 2 if x[0] > 0.4 else x[2] for x in xs]
    np.testing.assert_allclose(ev(src, "vmap(g)(xs)"), want)
    np.testing.assert_allclose(ev(src, "vmap(steps)([0.5, 3.0, 20.0])"), [5, 2, 0])
    np.testing.assert_allclose(ev(src, "vmap(fact)([1.0, 3.0, 5.0])"), [1, 6, 120])
    # derivatives through the fallback: d/dx of the taken branch
    np.testing.assert_allclose(ev(src, "vmap(grad(g))(xs)"),
                               [[0, 2, 0] if x[0] > 0.4 else [0, 0, 1] for x in xs])
    np.testing.assert_allclose(ev(src, "grad(fn(x) => sum(vmap(g)(x)))(xs)"),
                               [[0, 2, 0] if x[0] > 0.4 else [0, 0, 1] for x in xs])


def test_printing_and_random_draws_are_those_of_a_loop():
    loop = run("seed(3)\nfor x in [1.0, 2.0] { print(x); print(x + randn()) }")
    vm = run("seed(3)\nlet r = vmap(fn(x) { print(x); return x + randn() })([1.0, 2.0])\n"
             "print(r[0])\nprint(r[1])")
    printed = loop.split()
    assert vm.split() == [printed[0], printed[2], printed[1], printed[3]]


def test_vmap_errors():
    with pytest.raises(dprog.DpError, match="different sizes"):
        ev(XS, "vmap(fn(a, b) => a + b)(xs, ones(5))")
    with pytest.raises(dprog.DpError, match="in_axes has 1 entries"):
        ev(XS, "vmap(fn(a, b) => a + b, in_axes=(0,))(xs, xs)")
    with pytest.raises(dprog.DpError, match="at least one mapped argument"):
        ev(XS, "vmap(fn(a) => a, in_axes=none)(xs)")
    with pytest.raises(dprog.DpError, match="in_axes 2"):
        ev(XS, "vmap(fn(a) => a, in_axes=2)(xs)")
    with pytest.raises(dprog.DpError, match="different shapes"):
        ev(XS + "fn h(a) { if a[0] > 0.2 { return [1.0, 2.0] }\n return [1.0] }", "vmap(h)(xs)")
    with pytest.raises(dprog.DpError, match="cannot map over a string"):
        ev(XS, 'vmap(fn(a) => a)("abc")')


def test_explain_vmap_reports_the_fallback(tmp_path):
    p = tmp_path / "prog.dp"
    p.write_text("fn g(x) {\n  if x > 1 { return x }\n  return -x\n}\n"
                 "print(vmap(g)([0.0, 2.0]))\n")
    r = subprocess.run([sys.executable, "-m", "dprog", "--explain-vmap", str(p)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "[-0.  2.]" in r.stdout or "[0. 2.]" in r.stdout or "[-0. 2.]" in r.stdout
    assert "vmap(g): ran once per example at" in r.stderr
    assert "prog.dp:2:" in r.stderr


def test_python_api_vmap():
    f = dprog.Interpreter()
    f.exec("fn f(x) { return sum(x * x) }")
    got = dprog.vmap(f["f"])(np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(got, [5.0, 50.0])


def test_has_aux_everywhere_it_is_offered():
    src = 'fn f(x) { return (sum(x * x), {n: x * 2, s: "hi"}) }\n' \
          'fn v(x) { return (x * x, sum(x)) }\nlet x = [1.0, 2.0]\n'
    g, aux = ev(src, "grad(f, has_aux=true)(x)")
    np.testing.assert_allclose(g, [2, 4])
    np.testing.assert_allclose(aux["n"], [2, 4])
    assert aux["s"] == "hi"
    (val, aux), g = ev(src, "value_and_grad(f, has_aux=true)(x)")
    assert val == 5.0 and aux["s"] == "hi"
    np.testing.assert_allclose(g, [2, 4])
    y, ct, aux = ev(src, "(fn(r) => (r[0], r[1]([1.0, 1.0]), r[2]))(vjp(v, x, has_aux=true))")
    np.testing.assert_allclose(y, [1, 4])
    np.testing.assert_allclose(ct[0], [2, 4])
    assert aux == 3.0
    for jac in ("jacfwd", "jacrev"):
        j, aux = ev(src, f"{jac}(v, has_aux=true)(x)")
        np.testing.assert_allclose(j, np.diag([2.0, 4.0]))
        assert aux == 3.0
    # aux comes back undifferentiated by its own transformation but stays differentiable
    # by an enclosing one
    np.testing.assert_allclose(ev(src, "grad(fn(z) => grad(f, has_aux=true)(z)[1].n[0])(x)"),
                               [2, 0])
    # with vmap: per-example gradients and aux
    g, aux = ev(src, "vmap(grad(f, has_aux=true))(reshape(arange(4.0), (2, 2)))")
    np.testing.assert_allclose(g, [[0, 2], [4, 6]])
    np.testing.assert_allclose(aux["n"], [[0, 2], [4, 6]])
    with pytest.raises(dprog.DpError, match="needs a function returning a tuple"):
        ev(src, "grad(fn(z) => sum(z), has_aux=true)(x)")


def test_defined_python_primitives_batch_with_a_rule_or_once_per_example():
    calls = []

    def cube(x):
        calls.append(np.shape(x))
        return x ** 3

    def cube_batch(args, axes):
        (x,), (axis,) = args, axes
        return cube(x), axis

    interp = dprog.Interpreter()
    interp.define("cube_fast", cube, vjp=lambda p, out, g: (3 * p[0] ** 2 * g,),
                  batch=cube_batch)
    interp.define("cube_slow", cube, vjp=lambda p, out, g: (3 * p[0] ** 2 * g,))
    xs = np.arange(6.0).reshape(3, 2)
    interp["xs"] = xs
    np.testing.assert_allclose(interp.eval("vmap(cube_fast)(xs)"), xs ** 3)
    assert calls == [(3, 2)]  # one call for the whole batch
    calls.clear()
    np.testing.assert_allclose(interp.eval("vmap(cube_slow)(xs)"), xs ** 3)
    assert calls == [(2,)] * 3  # once per example
    np.testing.assert_allclose(interp.eval("vmap(grad(fn(v) => sum(cube_fast(v))))(xs)"),
                               3 * xs ** 2)
