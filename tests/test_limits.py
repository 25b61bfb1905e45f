"""Limits for untrusted code (SPEC §7 "limits", §10): steps, depth, memory, time, nesting."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc

import pytest

import dprog


def make(**kw):
    return dprog.Interpreter(stdout=io.StringIO(), **kw)


def test_defaults_are_documented_values():
    it = dprog.Interpreter()
    rt = it.rt
    assert (rt.max_steps, rt.max_depth, rt.max_array_elements) == (None, 1000, 50_000_000)
    assert it.timeout is None and rt.allow_files is False and rt.check_nans is False


@pytest.mark.parametrize("kw", [{"max_steps": 0}, {"max_depth": -1}, {"max_array_elements": 1.5},
                                {"timeout": 0}, {"max_steps": True}, {"timeout": "1"}])
def test_bad_limit_arguments(kw):
    with pytest.raises(ValueError):
        dprog.Interpreter(**kw)


# ============================================================== steps
def test_infinite_loop_hits_step_limit_with_location():
    it = make(max_steps=10_000)
    with pytest.raises(dprog.DpLimitError) as ei:
        it.exec("let x = 0\nwhile true {}", name="loop.dp")
    e = ei.value
    assert e.kind == "limits" and "step limit" in e.message
    assert (e.file, e.line, e.column) == ("loop.dp", 2, 1)
    assert "max_steps" in e.hint


@pytest.mark.parametrize("src", [
    "for i in range(10**12) {}",
    "fn f(n) { return n }\nlet i = 0\nwhile true { i = f(i) + 1 }",
    "fn f(n) { for i in range(3) { f(n) } }\nf(0)",
    "let g = fn(x) => grad(fn(y) => y * y)(x)\nwhile true { g(1.0) }",
    "check_grad(fn(x) => sum(x), zeros(5000))",
])
def test_step_limit_stops_every_kind_of_loop(src):
    it = make(max_steps=5_000, max_depth=50)
    t0 = time.monotonic()
    with pytest.raises(dprog.DpLimitError):
        it.exec(src)
    assert time.monotonic() - t0 < 5


def test_step_budget_is_per_call_and_interpreter_survives():
    it = make(max_steps=2_000)
    it.exec("fn count(n) { let i = 0; while i < n { i += 1 }; return i }")
    for _ in range(5):  # each call gets a fresh budget
        assert it.eval("count(1500)") == 1500
    with pytest.raises(dprog.DpLimitError):
        it.eval("count(10**6)")
    assert it.eval("count(10)") == 10
    assert it.rt.depth == 0


def test_step_budget_covers_host_callbacks():
    it = make(max_steps=3_000)
    it.exec("fn spin() { while true {} }")
    spin = it["spin"]
    it["host"] = lambda: spin()
    with pytest.raises(dprog.DpLimitError):
        it.exec("host()")


# ============================================================== depth
def test_depth_limit():
    it = make(max_depth=100)
    with pytest.raises(dprog.DpLimitError) as ei:
        it.exec("fn f(n) { return f(n + 1) }\nf(0)", name="rec.dp")
    assert "recursion depth limit" in ei.value.message and "100" in ei.value.message
    assert len(ei.value.stack) > 50 and "more frames" in str(ei.value)
    it.exec("fn g(n) { if n == 0 { return 0 }; return 1 + g(n - 1) }")
    assert it.eval("g(90)") == 90  # depth reset after the error
    with pytest.raises(dprog.DpLimitError):
        it.eval("g(150)")


def test_recursion_limit_is_restored():
    before = sys.getrecursionlimit()
    it = make()
    it.exec("fn g(n) { if n == 0 { return 0 }; return 1 + g(n - 1) }")
    assert it.eval("g(900)") == 900
    with pytest.raises(dprog.DpLimitError):
        it.eval("g(5000)")
    assert sys.getrecursionlimit() == before


def test_huge_max_depth_does_not_crash_the_process():
    """Python 3.11 crashes (no exception) when the C stack overflows: the interpreter
    caps Python's recursion limit by the stack size, so this is an error, not a crash."""
    code = textwrap.dedent("""
        import dprog, threading
        def run():
            it = dprog.Interpreter(max_depth=10**6)
            for src in ("fn f(n) { return f(n + 1) }; f(0)",
                        "fn f(n) { return tree_map(fn(x) => f(x), n) }; f(0)",
                        "fn f(n) { return jacfwd(fn(x) => f(x) * x)(1.0) }; f(0)"):
                try:
                    it.exec(src)
                except dprog.DpLimitError as e:
                    print("limit:", e.message)
        run()
        t = threading.Thread(target=run)
        t.start()
        t.join()
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("limit:") == 6


def test_deeply_nested_source_is_a_limit_error():
    it = make()
    for src in ("-" * 20000 + "1", "[" * 5000 + "]" * 5000, "not " * 20000 + "true",
                "f(" * 8000 + ")" * 8000):
        try:
            it.exec(src)
        except dprog.DpError as e:
            assert e.kind in ("limits", "name", "shape", "type"), e


# ============================================================== memory
@pytest.mark.parametrize("src", [
    "zeros(10**6, 10**6)", "ones(10**5, 10**5)", "rand(10**4, 10**4)", "randn(10**9)",
    "randint(0, 3, 10**5, 10**5)", "eye(10**5)", "linspace(0, 1, 10**9)", "arange(10**9)",
    "full((10**5, 10**5), 1.0)", "zeros(10**20, 0)",
    "ones(10**4) * ones(10**4, 1)", "ones(10**4) + ones(10**4, 1)",
    "where(ones(10**4) > 0, ones(10**4, 1), 0.0)", "outer(ones(10**5), ones(10**5))",
    "ones(10**5, 1) @ ones(1, 10**5)", "matmul(ones(10**5, 1), ones(1, 10**5))",
    "ones(10**4, 1, 1, 10) @ ones(1, 10**4, 10, 1)",
    "let x = ones(10**6); stack((x, x, x, x, x, x, x, x, x, x, x, x, x))",
    "let x = ones(10**6); concat((x, x, x, x, x, x, x, x, x, x, x, x, x))",
    "jacfwd(fn(x) => x)(zeros(10**4))", "jacrev(fn(x) => x)(zeros(10**4))",
    "hessian(fn(x) => sum(x))(zeros(10**4))",
    'let s = "ab"; while true { s = s + s }', "let t = (1,); while true { t = t + t }",
])
def test_allocations_refused_before_numpy_tries(src):
    it = make(max_array_elements=10**7, max_steps=10**6)
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(dprog.DpLimitError) as ei:
            it.exec(src)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "limit" in ei.value.message
    assert peak < 400 * 10**6, peak  # never more than a few arrays of the limit's size
    assert time.monotonic() - t0 < 20


def test_array_limit_allows_what_fits():
    it = make(max_array_elements=1000)
    assert it.eval("size(zeros(10, 100))") == 1000
    assert it.eval("size(ones(10) * ones(100, 1))") == 1000
    with pytest.raises(dprog.DpLimitError):
        it.eval("zeros(10, 101)")


def test_integers_cannot_grow_without_bound():
    it = make()
    assert it.eval("10 ** 5000") == 10 ** 5000  # exact below the bound
    with pytest.raises(dprog.DpLimitError):
        it.exec("let x = 3; for i in range(60) { x = x * x }")
    with pytest.raises(dprog.DpLimitError):
        it.eval("10 ** (10 ** 9)")


# ============================================================== time
def test_timeout_stops_a_loop():
    it = make(timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(dprog.DpLimitError, match="time limit"):
        it.exec("while true {}")
    assert time.monotonic() - t0 < 3


def test_timeout_per_call_and_array_heavy_loops():
    it = make()
    t0 = time.monotonic()
    with pytest.raises(dprog.DpLimitError, match="time limit"):
        it.exec("let a = rand(300, 300)\nwhile true { a = a @ a / 300.0 }", timeout=0.5)
    assert time.monotonic() - t0 < 3
    with pytest.raises(dprog.DpLimitError, match="time limit"):
        it.eval("(fn() { while true {} })()", timeout=0.3)
    it.exec("let ok = 1")  # no timeout on this call
    assert it["ok"] == 1


def test_timeout_covers_python_calls_into_dprog():
    it = make(timeout=0.3)
    it.exec("fn spin() { while true {} }")
    with pytest.raises(dprog.DpLimitError, match="time limit"):
        it["spin"]()


# ============================================================== threads and limits
def test_limits_are_per_thread():
    """A thread with a small array limit does not lower another thread's limit."""
    errors = []
    go = threading.Event()

    def small():
        it = make(max_array_elements=10)
        go.wait()
        for _ in range(200):
            with pytest.raises(dprog.DpLimitError):
                it.exec("zeros(100)")

    def big():
        it = make(max_array_elements=10**6)
        go.wait()
        try:
            for _ in range(200):
                it.exec("let z = ones(100) * ones(100, 1)")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=small), threading.Thread(target=big)]
    for t in ts:
        t.start()
    go.set()
    for t in ts:
        t.join()
    assert not errors, errors


def test_recursion_in_parallel_threads():
    """The process-wide recursion limit is raised while any interpreter runs."""
    errors = []

    def deep():
        it = make()
        it.exec("fn g(n) { if n == 0 { return 0 }; return 1 + g(n - 1) }")
        try:
            for _ in range(20):
                assert it.eval("g(800)") == 800
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def short():
        it = make()
        for _ in range(300):
            it.eval("1 + 1")

    ts = [threading.Thread(target=deep), threading.Thread(target=short),
          threading.Thread(target=short)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


def test_recursion_through_a_host_callback_is_a_limits_error():
    it = dprog.Interpreter()
    it.exec("fn h(n) { if n == 0 { return 0 }; return 1 + cb(n - 1) }",
            globals={"cb": lambda n: it["h"](n)})
    assert it.eval("h(50)") == 50
    with pytest.raises(dprog.DpLimitError, match="recursion"):
        it.eval("h(5000)")
