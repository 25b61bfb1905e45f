"""The fast compiler (compiler/pysource.py) against the reference (compiler/codegen.py).

Both must produce the same output and the same errors (kind, message, location,
dprog stack) for every program: the generated programs of the fuzzer, the public
conformance cases, the stdlib tests and hand-picked corner cases (deep nesting,
every statement form, errors in every kind of node).

Exactly the same without fusion (DPROG_COMPILER=unfused). With it (the default), a
fused expression's gradient is the per-operation one associated differently
(compiler/fusion.py), so a printed number may differ from the reference's in its
last digits: numbers agree to a relative 1e-13 and all other text exactly. (Values
are computed by the same operations in the same order: tests/test_fusion.py checks
that they are the same floats.)
"""

from __future__ import annotations

import io
import re
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import LIMITS, ProgramGen

import dprog
from conftest import CONFORMANCE, ROOT, run_dp
from dprog.compiler.pysource import SourceCompiler
from dprog.core.errors import DpError


def _run(src: str, compiler: str, **limits) -> tuple:
    out = io.StringIO()
    # the fuzzer's limits, without its wall-clock one: a loaded machine must not make
    # one run stop where the other did not (max_steps bounds them both)
    it = dprog.Interpreter(stdout=out, **dict(LIMITS, timeout=60.0, **limits))
    it.rt.compiler = compiler
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # (emitted code that Python warns about)
            it.exec(src, name="prog.dp")
        err = None
    except DpError as e:
        err = (e.kind, e.report())  # message, location, carets, hint and dprog stack
    return out.getvalue(), err


_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
ROUNDING = 1e-13  # relative: a fused gradient is a few ulps from the per-operation one


def same_but_rounding(a, b) -> bool:
    """`a == b` for strings, or tuples and lists of them, except that numbers in the
    text may differ by a relative ROUNDING (the rest of the text must be equal)."""
    if type(a) is not str or type(b) is not str:
        return (type(a) is type(b) and type(a) in (tuple, list) and len(a) == len(b)
                and all(same_but_rounding(x, y) for x, y in zip(a, b))) or a == b
    if a == b:
        return True
    pa, pb = _NUMBER.split(a), _NUMBER.split(b)
    if pa != pb:  # the text between the numbers
        return False
    for x, y in zip(_NUMBER.findall(a), _NUMBER.findall(b)):
        if x != y:
            fx, fy = float(x), float(y)
            if abs(fx - fy) > ROUNDING * max(abs(fx), abs(fy)):
                return False
    return True


def same_behaviour(src: str, **limits) -> None:
    ref = _run(src, "reference", **limits)
    unfused = _run(src, "unfused", **limits)
    assert unfused == ref, f"--- program ---\n{src}"
    fast = _run(src, "fast", **limits)
    assert same_but_rounding(fast, ref), f"--- program ---\n{src}\n{fast}\n{ref}"


def test_the_fast_compiler_is_the_default():
    it = dprog.Interpreter()
    seen = []
    orig = SourceCompiler.function_body

    def spy(self, stmts, info=None):
        seen.append(len(stmts))
        return orig(self, stmts, info)

    SourceCompiler.function_body = spy
    try:
        it.exec("fn f(x) { return x + 1 }")
    finally:
        SourceCompiler.function_body = orig
    assert seen == [1]


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck), database=None)
@given(st.randoms(use_true_random=False))
def test_generated_programs_behave_the_same(rnd):
    same_behaviour(ProgramGen(rnd).program())


CORNERS = [
    # every statement form, globals, cells, closures, defaults, recursion
    """
let g = 2.0
fn outer(n, k=3) {
  let acc = 0.0
  fn add(v) { acc = acc + v * g }
  for i in range(n) {
    if i % 2 == 0 { add(i) } else if i == 3 { continue } else { add(-1.0) }
    if i > 6 { break }
  }
  let j = 0
  while j < k { j += 1; acc -= 0.5 }
  let a, b = (acc, j)
  a, b = b, a
  return (a, b, [a, 2.0 * b], {x: a}.x, a if b > 0 else -a, not (a > b) and b > 0)
}
print(outer(10))
fn fact(n) => 1 if n <= 1 else n * fact(n - 1)
print(fact(10), grad(fn(x) => x * x * sin(x))(1.5))
print(value_and_grad(fn(x, y) => x * y + x / y - cos(x), argnums=(0, 1))(0.5, 2.0))
print(jvp(fn(x) => x * x, (3.0,), (1.0,)))
""",
    # errors in each kind of node, with the dprog stack
    "fn f(x) { return x + \"a\" }\nfn g(y) { return f(y) * 2 }\nprint(g(1.0))",
    "fn f(x) { return x[7] }\nprint(f([1, 2]))",
    "fn f(x) { return x.w }\nprint(f({v: 1}))",
    "let x = 3\nx()",
    "fn f() { return undefined_thing + 1 }\nf()",
    "fn f(a) { let p, q = a; return p }\nf((1, 2, 3))",
    "fn f(a) { if a { return 1 } }\nf([1.0, 2.0])",
    "fn f(n) { return f(n + 1) }\nf(0)",
    "print(y)\nlet y = 2",
    "fn f(x) { return sin(\"a\") }\nf(1)",
    "fn f(x) { return max(1, 2) }\nf(1)",
    "fn f(x) { for v in x { print(v) } }\nf(3)",
    "let s = 0\nfor i in range(100000000) { s = s + i }",
    "fn f(x) { return -\"a\" }\nf(1)",
    "fn f(x) { x += \"a\"; return x }\nf(1.0)",
    "let a = [1.0, 2.0]\na[5] = 1.0",
    "fn f(x) => 1.0 / x\nprint(f(0.0), f(0), f(2))",
    "print(1 < 2.0, 2.0 >= 2, 3 / 4, 7 // 2, 2 ** 10, 7 % 3, -2.5, +3)",
    "print(0.0 / 0.0, 1.5 * 2.0, 1.0 - 3.0, 2.0 < 3.0, 1.0 / 0.0, -(1.0 / 0.0))",
    # a literal called: a type error, not Python source that does not compile (`1.fn`)
    # or warns (`None(...)`)
    "1(2)",
    "fn f() { return 1(2) }\nf()",
    "print(-5(1))",
    "fn f() { return none() }\nf()",
    "fn f(x) { return true(x, x, x) }\nf(1)",
    "print(1.5(2))",
    # slices and several subscripts: built inline by the fast compiler, checked in order
    "let m = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]\nlet t = (1, 2, 3, 4)\n"
    "print(m[:, 1], m[1, :2], m[-1, ::-1], m[0, 1], m[:, t[1]], t[1:3], \"abcd\"[::2], "
    "m[none, 0], m[..., 2], grad(fn(w) => sum(w[:, 1:] * 2.0))(m))",
    "fn f(m) { return m[0, 7] }\nf([[1.0, 2.0]])",
    "fn f(m) { return m[:, 1.5] }\nf([[1.0, 2.0]])",
    "fn f(m) { return m[0:\"a\"] }\nf([1.0, 2.0])",
    "fn f(m) { return m[print(1):print(2), 2.5] }\nf([[1.0, 2.0]])",
    "fn f(m) { return m[0, 0, 0] }\nf([[1.0, 2.0]])",
    "fn f(t) { return t[1, 2] }\nf((1, 2, 3))",
    "fn f(r) { return r[1:] }\nf({a: 1})",
    "fn f(t) { return t[7] }\nf((1, 2, 3))",
]


@pytest.mark.parametrize("src", CORNERS, ids=range(len(CORNERS)))
def test_corner_cases_behave_the_same(src):
    same_behaviour(src, max_steps=200_000)


def test_deep_nesting_falls_back_to_the_reference():
    # more nested loops and else-ifs than CPython allows in one function
    loops = "".join(f"for i{k} in range(1) {{ " for k in range(25)) + "print(1)" + " }" * 25
    chain = "let x = 70\n" + "if x == 0 { print(0) }" + "".join(
        f" else if x == {k} {{ print({k}) }}" for k in range(1, 90))
    for src in (loops, "fn f() { " + loops + " }\nf()", chain, "fn f(x) {\n" + chain + "\n}"):
        same_behaviour(src)


def test_deeply_nested_expressions_fall_back_to_the_reference():
    # each `if`-expression or right-nested `and`/`or` is one more level of indentation
    # in the emitted code (CPython allows 100)
    n = 110
    ifs = " else ".join(f"{k} if c" for k in range(n)) + " else -1"
    ands = "(c and " * n + "c" + ")" * n
    ors = "(c or " * n + "c" + ")" * n
    deep = "".join("if true { " for _ in range(40)) + f"print({ands})" + " }" * 40
    for e in (ifs, ands, ors):
        same_behaviour(f"let c = false\nprint({e})")
        same_behaviour(f"fn f(c) {{ return {e} }}\nprint(f(true), f(false))")
    same_behaviour("let c = true\nfn f() {\n" + deep + "\n}\nf()")


class _Echo:
    def __init__(self, exc):
        self.exc = exc
        self.seen = []

    def __call__(self, value):
        self.seen.append(value)
        if self.exc is not None:
            raise self.exc


def _run_interactive(src: str, compiler: str, exc) -> tuple:
    it = dprog.Interpreter(stdout=io.StringIO(), **dict(LIMITS, timeout=60.0))
    it.rt.compiler = compiler
    it.echo_hook = echo = _Echo(exc)
    try:
        it.exec_interactive(src, "<repl>")
        err = None
    except DpError as e:
        err = (e.kind, e.report(), type(e.__cause__))
    return echo.seen, err


@pytest.mark.parametrize("src", ["1 + 2", "let x = 3\nx", "fn f() { return 2 }\nf()",
                                 "none\n(1, 2)\nprint(0)\nif true { 5 }"])
def test_the_repl_echo_behaves_the_same(src):
    # an error of the echo itself (a host's hook, a closed pipe) is not the program's:
    # the reference does not locate it at the statement
    for exc in (None, DpError("no room to echo"), ValueError("boom")):
        assert _run_interactive(src, "fast", exc) == _run_interactive(src, "reference", exc)


CASES = sorted(CONFORMANCE.glob("*.dp")) if CONFORMANCE.is_dir() else []
STDLIB_TESTS = sorted((ROOT / "tests" / "dp").glob("*.dp"))


@pytest.mark.parametrize("path", CASES + STDLIB_TESTS, ids=lambda p: p.stem)
def test_program_files_behave_the_same(path, monkeypatch):
    args = []
    if path.with_suffix(".args").exists():
        args = path.with_suffix(".args").read_text().split()
    fast = run_dp(path.name, *args, cwd=path.parent)
    monkeypatch.setenv("DPROG_COMPILER", "reference")
    ref = run_dp(path.name, *args, cwd=path.parent)
    monkeypatch.setenv("DPROG_COMPILER", "unfused")
    unfused = run_dp(path.name, *args, cwd=path.parent)
    want = (ref.returncode, ref.stdout, ref.stderr)
    assert (unfused.returncode, unfused.stdout, unfused.stderr) == want
    assert same_but_rounding((fast.returncode, fast.stdout, fast.stderr), want)
