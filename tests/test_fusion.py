"""Fusion of float expressions (compiler/fusion.py) against the per-operation code.

A fused expression must give the same value, float for float, as the unfused fast
compiler (DPROG_COMPILER=unfused) and the reference compiler, and gradients that
agree with theirs to rounding: the same sums of products of the same local partials,
associated differently. The bound used is a few ulps of the sum of the absolute
values of those products, computed here by an independent forward mode in Python
(which also checks the derivatives themselves). Wherever the fused path must step
aside (zero divisors, math domain errors, nan, ints, arrays, Duals, nested tapes,
leaves on two tapes) the result must be the per-operation one exactly.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_compilers import same_behaviour

import dprog
import dprog.compiler.pysource as pysource
from dprog.ad.fasttape import FastTape
from dprog.core.errors import DpError

EPS = 2.0 ** -52

# name -> (value, derivative) on Python floats, for the independent forward mode
FUNCS = {
    "sin": (math.sin, math.cos),
    "cos": (math.cos, lambda x: -math.sin(x)),
    "exp": (math.exp, math.exp),
    "log": (math.log, lambda x: 1.0 / x),
    "sqrt": (math.sqrt, lambda x: 0.5 / math.sqrt(x)),
    "tanh": (math.tanh, lambda x: 1.0 - math.tanh(x) ** 2),
}
VARS = ("a", "b", "c", "k")  # k: a float local of the function (a constant leaf)
NUMS = ("0.5", "2.0", "-1.5", "3", "0.0", "1e-3", "-2")


def render(t) -> str:
    kind = t[0]
    if kind in ("var", "num"):
        return t[1]
    if kind == "neg":
        return f"-({render(t[1])})"
    if kind == "call":
        return f"{t[1]}({render(t[2])})"
    return f"({render(t[2])} {t[1]} {render(t[3])})"


def n_ops(t) -> int:
    kind = t[0]
    if kind in ("var", "num"):
        return 0
    if kind in ("neg", "call"):
        return 1 + n_ops(t[-1])
    return 1 + n_ops(t[2]) + n_ops(t[3])


def forward(t, env):
    """(value, {var: d}, {var: sum of |path products|}) by forward mode, or raises."""
    kind = t[0]
    if kind == "var":
        return env[t[1]], {t[1]: 1.0}, {t[1]: 1.0}
    if kind == "num":
        return float(t[1]), {}, {}
    if kind == "neg":
        v, d, ad = forward(t[1], env)
        return -v, {k: -x for k, x in d.items()}, ad
    if kind == "call":
        fn, dfn = FUNCS[t[1]]
        v, d, ad = forward(t[2], env)
        s = dfn(v)
        return fn(v), {k: s * x for k, x in d.items()}, {k: abs(s) * x for k, x in ad.items()}
    op = t[1]
    va, da, aa = forward(t[2], env)
    vb, db, ab = forward(t[3], env)
    if op in "+-":
        sb = 1.0 if op == "+" else -1.0
        pa, pb, v = 1.0, sb, va + sb * vb
    elif op == "*":
        pa, pb, v = vb, va, va * vb
    else:
        v = va / vb
        pa, pb = 1.0 / vb, -v / vb
    d, ad = {}, {}
    for k in set(da) | set(db):
        d[k] = pa * da.get(k, 0.0) + pb * db.get(k, 0.0)
        ad[k] = abs(pa) * aa.get(k, 0.0) + abs(pb) * ab.get(k, 0.0)
    return v, d, ad


def trees():
    leaves = st.sampled_from(VARS).map(lambda v: ("var", v)) | st.sampled_from(NUMS).map(
        lambda n: ("num", n))

    def extend(sub):
        return (st.tuples(st.just("neg"), sub)
                | st.tuples(st.just("call"), st.sampled_from(sorted(FUNCS)), sub)
                | st.tuples(st.just("bin"), st.sampled_from("+-*/"), sub, sub))
    return st.recursive(leaves, extend, max_leaves=8)


def interp(compiler: str) -> dprog.Interpreter:
    it = dprog.Interpreter(stdout=io.StringIO(), timeout=60.0)
    it.rt.compiler = compiler
    return it


def outcome(src: str, calls: list[str], compiler: str):
    """The values of `calls` after running `src`, or the error report."""
    it = interp(compiler)
    try:
        it.exec(src, name="prog.dp")
        return [it.eval(c) for c in calls]
    except DpError as e:
        return (e.kind, e.report())


def flat(x) -> list:
    if isinstance(x, (tuple, list)):
        return [y for v in x for y in flat(v)]
    if isinstance(x, np.ndarray):
        return [float(v) for v in x.ravel()]
    return [x]


def same_float(x, y) -> bool:
    if type(x) is not float or type(y) is not float:
        return x == y
    if x != x or y != y:
        return x != x and y != y
    return x == y and math.copysign(1.0, x) == math.copysign(1.0, y)


def identical(x, y) -> bool:
    """The same outcome: the same error, or the same floats (nan as nan, -0.0 as -0.0)."""
    if type(x) is tuple or type(y) is tuple:
        return x == y
    fx, fy = flat(x), flat(y)
    return len(fx) == len(fy) and all(same_float(a, b) for a, b in zip(fx, fy))


PROGRAM = """
fn f(a, b, c) {{
  let k = 0.75
  let r = {expr}
  return r
}}
fn g(a, b, c) {{
  let s = 0.0
  for i in range(3) {{
    s = s + {expr}
    a = a * 0.5 + b
  }}
  return s
}}
"""


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(t=trees(), xs=st.tuples(*[st.sampled_from([-1.75, -0.3, 0.0, 0.4, 1.1, 2.5])] * 3))
def test_fused_expressions_against_the_per_operation_code(t, xs):
    expr = render(t)
    src = PROGRAM.format(expr=expr)
    a, b, c = xs
    args = f"({a!r}, {b!r}, {c!r})"
    calls = [f"f{args}", f"value_and_grad(f, argnums=(0, 1, 2)){args}",
             f"value_and_grad(f, argnums=(1,)){args}", f"g{args}",
             f"value_and_grad(g, argnums=(0, 2)){args}"]
    ref = outcome(src, calls, "reference")
    unfused = outcome(src, calls, "unfused")
    fast = outcome(src, calls, "fast")
    assert identical(unfused, ref)
    if type(ref) is tuple:  # an error: the same one
        assert fast == ref
        return
    # values: the same floats
    for got, want in ((fast[0], ref[0]), (fast[1][0], ref[1][0]), (fast[2][0], ref[2][0]),
                      (fast[3], ref[3]), (fast[4][0], ref[4][0])):
        assert same_float(got, want), (expr, xs, got, want)
    # gradients of f: within rounding of the per-op ones, and of the derivative itself
    env = {"a": a, "b": b, "c": c, "k": 0.75}
    try:
        v, d, ad = forward(t, env)
        bounded = all(math.isfinite(x) for x in [v, *d.values(), *ad.values()])
    except (ArithmeticError, ValueError):
        bounded = False
    tol = 8 * (n_ops(t) + 1) * EPS
    for got, want, names in ((fast[1][1], ref[1][1], "abc"), ((fast[2][1],), (ref[2][1],), "b")):
        for name, x, y in zip(names, flat(got), flat(want)):
            if same_float(x, y):
                continue
            assert bounded, (expr, xs, name, x, y)  # (else the fused path steps aside)
            bound = tol * ad.get(name, 0.0)
            assert abs(x - y) <= bound, (expr, xs, name, x, y)
            assert abs(x - d.get(name, 0.0)) <= 2 * bound, (expr, xs, name, x, d)
    for x, y in zip(flat(fast[4][1]), flat(ref[4][1])):
        assert same_float(x, y) or abs(x - y) <= 1e-12 * max(abs(x), abs(y)), (expr, xs)


def _tape_lengths(src: str, call: str, compiler: str) -> list[int]:
    """The number of records of each tape `call` makes (counted when it is released)."""
    lengths = []
    release = FastTape.release

    def spy(self):
        lengths.append(len(self))
        release(self)
    FastTape.release = spy  # (a subclass would not be the FastTape the fast paths test for)
    try:
        it = interp(compiler)
        it.exec(src)
        it.eval(call)
        return lengths
    finally:
        FastTape.release = release


W1 = """
fn f(x, y, n) {
  let s = 0.0
  for i in range(n) {
    x = x * 0.999 + 0.01 * sin(y * x)
    y = y + 0.001 * cos(x)
    s = s + x * y
  }
  return s
}
"""


def test_a_statement_is_one_record():
    # W1: 10 operations an iteration; fused, one record per statement, two for the
    # three leaves of s + x * y (one in the first iteration, where s is the float 0.0);
    # the two leaves besides
    call = "value_and_grad(f, argnums=(0, 1))(0.5, 1.5, 10)"
    assert _tape_lengths(W1, call, "unfused") == [2 + 10 * 10]
    assert _tape_lengths(W1, call, "fast") == [2 + 10 * 4 - 1]
    it = interp("fast")
    it.exec(W1)
    v_fast, g_fast = it.eval(call)
    it = interp("reference")
    it.exec(W1)
    v_ref, g_ref = it.eval(call)
    assert v_fast == v_ref
    assert all(abs(x - y) <= 1e-13 * abs(y) for x, y in zip(g_fast, g_ref))


def test_the_fused_branch_is_emitted_only_by_the_fast_compiler():
    seen = []
    orig = pysource._compiled

    def spy(text, where, names):
        seen.append(text)
        return orig(text, where, names)
    pysource._compiled = spy
    try:
        for compiler in ("fast", "unfused"):
            it = interp(compiler)
            it.exec(W1)
            it.eval("f(0.5, 1.5, 2)")
    finally:
        pysource._compiled = orig
    fast, unfused = "".join(seen[:len(seen) // 2]), "".join(seen[len(seen) // 2:])
    assert "FastTape" in fast and "FastTape" not in unfused


def _grads(src, call, compiler):
    it = interp(compiler)
    it.exec(src)
    return flat(it.eval(call))


def test_nested_gradients_through_fused_statements():
    src = """
fn f(x) {
  let y = x * x * sin(x) + 0.5 * x / (1.0 + x * x)
  return y * x - exp(-x * 0.25)
}
fn d1(x) { return grad(f)(x) }
fn d2(x) { return grad(fn(x) => grad(f)(x))(x) }
fn h(x, y) {
  let z = x * y + sin(x * y)       # inner leaves: x of the outer tape, y of the inner
  return z * y
}
fn cross(x) { return grad(fn(x) => grad(fn(y) => h(x, y))(0.7))(x) }
"""
    x = 1.3
    s, c = math.sin(x), math.cos(x)
    # f = x^3 sin x + 0.5 x^2 / (1 + x^2) - exp(-x / 4)
    want1 = (3 * x * x * s + x ** 3 * c + x / (1 + x * x) ** 2
             + 0.25 * math.exp(-x / 4))
    want2 = (6 * x * s + 6 * x * x * c - x ** 3 * s + (1 - 3 * x * x) / (1 + x * x) ** 3
             - 0.0625 * math.exp(-x / 4))
    y = 0.7
    # d/dy h = 2 x y + sin(x y) + x y cos(x y); d/dx of that:
    want3 = 2 * y + y * math.cos(x * y) + y * math.cos(x * y) - x * y * y * math.sin(x * y)
    for call, want in ((f"d1({x})", want1), (f"d2({x})", want2), (f"cross({x})", want3)):
        fast = _grads(src, call, "fast")
        ref = _grads(src, call, "reference")
        assert abs(fast[0] - ref[0]) <= 1e-13 * abs(ref[0]), call
        assert abs(fast[0] - want) <= 1e-12 * abs(want), call
    for call in ("d2(1.3)", "cross(1.3)"):  # the inner tapes are not fused: exact
        assert _grads(src, call, "fast") == _grads(src, call, "unfused")


def test_mixed_float_and_traced_leaves():
    src = """
let w = 0.25
fn f(a, b) {
  let k = 1.5
  let t = a * k + w * sin(b * a) - k / (b + 2.0) + a * b * w
  return t * t
}
"""
    for argnums in ("0", "1", "(0, 1)"):
        call = f"grad(f, argnums={argnums})(0.3, -0.8)"
        fast = _grads(src, call, "fast")
        ref = _grads(src, call, "reference")
        assert all(abs(x - y) <= 1e-13 * abs(y) for x, y in zip(fast, ref)), argnums
    call = "value_and_grad(f, argnums=(0, 1))(0.3, -0.8)"
    assert _grads(src, call, "fast")[0] == _grads(src, call, "reference")[0]


@pytest.mark.parametrize("body,x", [
    ("x / (x - x) + x * 2.0", 1.5),            # a zero divisor: inf, nan
    ("log(x - 2.0) * x + 1.0", 1.5),            # a log of a negative: nan
    ("sqrt(x - 1.5) * x + x", 1.5),             # sqrt at 0: an infinite partial
    ("exp(x * 1000.0) * 0.0 + x", 1.5),         # overflow in math.exp
    ("sin(x * inf) + x * x", 1.5),              # sin(inf): a domain error
    ("x * nan + x * x", 1.5),                   # nan
    ("(x - 1.5) * log(x - 1.5) + x", 1.5),      # 0 * -inf
    ("x * 1e300 * 1e300 - x", 1.5),             # an infinite partial
    ("1.0 / (x * 1e300 * 1e300) + x", 1.5),     # an infinite intermediate value
    ("x * x + y", 1.5),                         # an int leaf
    ("x * y / y + x", 1.5),                     # an int leaf, divided by
])
def test_where_fusion_steps_aside_the_per_op_results_are_kept(body, x):
    src = f"""
let y = 3
fn f(x) {{
  let r = {body}
  return r
}}
"""
    for call in (f"f({x})", f"value_and_grad(f)({x})", f"grad(f)({x})"):
        fast = _grads(src, call, "fast")
        ref = _grads(src, call, "reference")
        assert identical(fast, ref), (body, call, fast, ref)


def test_nan_inputs_and_arrays_and_duals():
    src = """
fn f(x, y) {
  return x * y + sin(x) * y - x / y
}
"""
    for call in ("f(nan, 2.0)", "grad(f, argnums=(0, 1))(nan, 2.0)",
                 "grad(f, argnums=(0, 1))(1.0, 0.0)", "f([1.0, 2.0], 3.0)",
                 "grad(fn(v) => sum(f(v, 2.0)))([1.0, 2.0])",
                 "jvp(fn(x) => f(x, 2.0), (0.5,), (1.0,))", "hessian(fn(x) => f(x, 2.0))(0.5)",
                 "vmap(fn(x) => f(x, 2.0))([0.5, 1.5])"):
        fast = _grads(src, call, "fast")
        ref = _grads(src, call, "reference")
        assert identical(fast, ref), (call, fast, ref)


@pytest.mark.parametrize("src", [
    # a leaf that is no number: the per-op code reports it where it did
    "fn f(x, z) { return x * x + z * 2.0 }\nprint(f(1.0, \"a\"))",
    "fn f(x, z) { return sin(x * z) + x }\nprint(grad(f)(1.0, [1.0, 2.0, 3.0]))",
    "fn f(x, z) { return x * 2.0 + z }\nprint(grad(f)(1.0, none))",
    # a global read before it is set, after an operation
    "fn f(x) { return x * x + later }\nprint(f(2.0))\nlet later = 1.0",
    # operands evaluated before the first operation, in order, with their effects
    "fn g(v) { print(\"g\", v); return v }\nfn f(x) { return g(x) * x + g(2.0) * x }\n"
    "print(f(1.5), grad(f)(1.5))",
    "fn g(v) { print(\"g\", v); return v }\nfn f(x) { return x * x + g(x) }\n"
    "print(f(1.5), grad(f)(1.5))",
    # a captured variable changed by a call between two reads
    "fn f(x) {\n let c = x\n fn bump() { c = c * 2.0; return 1.0 }\n"
    " return c + bump() * c + c * x\n}\nprint(f(1.5), grad(f)(1.5))",
    # globals at the top level, in a loop (as W1 written without a function)
    "let x = 0.5\nlet y = 1.5\nfor i in range(5) { x = x * 0.999 + 0.01 * sin(y * x) }\n"
    "print(x, y)",
    # ints, bools, -0.0 and constant subexpressions
    "fn f(x) { return -2 * x + x * -0.0 + (1 / 3) * x + 2 * 3 * x - (-x) * true }\n"
    "print(f(1.5), grad(f)(1.5), f(-0.0), f(2))",
    "fn f(x) { return x * pi * 2.0 + e * sin(-x) }\nprint(f(0.5), grad(f)(0.5))",
    # augmented assignments (fused as `s + ...`), of a local and of a captured variable
    "fn f(x, y) {\n let s = 0.0\n for i in range(3) { s += x * y + sin(x); s -= 0.5 * y;"
    " s *= 1.01; s /= y * y }\n let c = x\n fn bump() { c = c * 2.0; return 1.0 }\n"
    " c += bump() * c + c * x\n return s + c\n}\nprint(f(0.3, 0.7), "
    "grad(f, argnums=(0, 1))(0.3, 0.7))\nlet t = \"a\"\nt += 1.0 * 2.0 + 1.0",
    # a builtin shadowed by a global: no longer the builtin
    "fn sin(v) => v * 2.0\nfn f(x) { return sin(x) * x + x }\nprint(f(1.5), grad(f)(1.5))",
])
def test_errors_and_effects_are_those_of_the_per_op_code(src):
    same_behaviour(src)
