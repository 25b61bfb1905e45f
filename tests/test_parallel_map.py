"""parallel_map: here (sequential, and under differentiation) and on an executor."""

from __future__ import annotations

import io
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import dprog

PROGRAM = """
fn work(x) {
    print("element", x)
    return x * x + rand()
}
let here = parallel_map(work, (1.0, 2.0, 3.0))
let after = rand()
"""


def _run(src, **kw):
    out = io.StringIO()
    it = dprog.Interpreter(stdout=out, **kw)
    it.exec(src)
    return it, out.getvalue()


def test_results_in_order_with_their_own_random_streams():
    it, out = _run(PROGRAM)
    assert out == "element 1.0\nelement 2.0\nelement 3.0\n"
    here = it["here"]
    assert isinstance(here, tuple) and len(here) == 3
    # each element's stream comes from the caller's seed and its position
    base = np.random.default_rng(0).integers(1 << 63)
    want = [x * x + np.random.default_rng([int(base), i]).random()
            for i, x in enumerate((1.0, 2.0, 3.0))]
    assert list(here) == want
    # the caller's stream advanced by one draw only
    rng = np.random.default_rng(0)
    rng.integers(1 << 63)
    assert it["after"] == rng.random()


def test_arrays_map_over_their_first_axis_and_stack():
    it, _ = _run("let r = parallel_map(fn(row) => sum(row) * row, [[1.0, 2.0], [3.0, 4.0]])")
    np.testing.assert_array_equal(it["r"], [[3.0, 6.0], [21.0, 28.0]])
    it, _ = _run("let r = parallel_map(fn(x) => 2.0 * x, [1.0, 2.0])\n"
                 "let e = parallel_map(sin, ())")
    np.testing.assert_array_equal(it["r"], [2.0, 4.0])
    assert it["e"] == ()


@pytest.mark.parametrize("src, kind, words", [
    ("parallel_map(fn(x) => x, 3.0)", dprog.DpTypeError, "tuple or an array"),
    ("parallel_map(3.0, (1.0,))", dprog.DpTypeError, "expects a function"),
    ('parallel_map(fn(x) => "s", [1.0, 2.0])', dprog.DpTypeError, "map over a tuple"),
    ("parallel_map(fn(x) => x[:1 + int(x[0])], [[0.0, 1.0], [1.0, 1.0]])",
     dprog.DpShapeError, "shapes differ"),
])
def test_bad_arguments_are_reported(src, kind, words):
    with pytest.raises(kind, match=words) as info:
        dprog.Interpreter().exec(src)
    assert info.value.hint


def test_an_error_names_the_element_and_stops_the_loop_here():
    out = io.StringIO()
    it = dprog.Interpreter(stdout=out)
    with pytest.raises(dprog.DpError, match=r"element 1 of 3\)") as info:
        it.exec('fn f(x) {\n print(x)\n return 1.0 / (x - "a" if x == 2.0 else x)\n}\n'
                "parallel_map(f, (1.0, 2.0, 3.0))")
    assert out.getvalue() == "1.0\n2.0\n"  # sequentially, element 2 never ran
    assert info.value.line == 3 and "^" in info.value.report()


def test_gradients_through_parallel_map_run_here_and_are_exact():
    it, _ = _run("""
fn loss(w) { return sum(parallel_map(fn(x) => sin(w * x) * x, [1.0, 2.0, 3.0])) }
let g = grad(loss)(0.7)
let h = grad(grad(loss))(0.7)
let jf = jacfwd(fn(v) => parallel_map(fn(x) => x * v, (1.0, 2.0)))([1.0, 2.0])
""")
    xs = np.array([1.0, 2.0, 3.0])
    assert it["g"] == pytest.approx(np.sum(np.cos(0.7 * xs) * xs * xs), rel=1e-14)
    assert it["h"] == pytest.approx(np.sum(-np.sin(0.7 * xs) * xs ** 3), rel=1e-14)
    np.testing.assert_array_equal(it["jf"][0], np.eye(2))


SPREAD = """
seed(3)
fn f(x) {
    print("start", x)
    let s = 0.0
    for i in range(200) { s = s + sin(x * i) }
    return {x: x, s: s, r: randn(2), g: grad(fn(v) => sum(v * v * x))([1.0, 2.0])}
}
let res = parallel_map(f, (0.5, 1.5, 2.5, 3.5))
let rows = parallel_map(fn(row) => row * rand(), randn(3, 2))
"""


def _results(it):
    return [(r["x"], r["s"], tuple(r["r"]), tuple(r["g"])) for r in it["res"]], it["rows"]


@pytest.mark.parametrize("make", [
    lambda: ThreadPoolExecutor(2),
    lambda: ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")),
], ids=["threads", "spawned processes"])
def test_an_executor_gives_the_sequential_results_and_output(make):
    seq, seq_out = _run(SPREAD)
    with make() as ex:
        par, par_out = _run(SPREAD, executor=ex)
        assert par_out == seq_out
        a, b = _results(seq), _results(par)
        assert a[0] == b[0]
        np.testing.assert_array_equal(a[1], b[1])
        # errors: every element ran, the output is all there, the first failure is reported
        out = io.StringIO()
        it = dprog.Interpreter(stdout=out, executor=ex)
        with pytest.raises(dprog.DpTypeError, match=r"element 1 of 4; 1 other element "
                                                    r"failed too\)") as info:
            it.exec('fn f(x) {\n print(x)\n return x + ("a" if x == 2.0 or x == 4.0 else 0.0)\n}'
                    "\nparallel_map(f, (1.0, 2.0, 3.0, 4.0))")
        assert out.getvalue() == "1.0\n2.0\n3.0\n4.0\n"
        assert info.value.line == 3
        assert "in f" in info.value.report()


def test_limits_hold_on_the_workers():
    with ThreadPoolExecutor(1) as ex:
        it = dprog.Interpreter(executor=ex, max_steps=2000)
        with pytest.raises(dprog.DpLimitError, match=r"step limit.*element 1 of 2"):
            it.exec("fn spin(n) { let i = 0\n while i < n { i = i + 1 }\n return i }\n"
                    "parallel_map(spin, (10, 100000))")


def test_a_python_function_that_cannot_travel_is_a_clear_error(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_cloudpickle(name, *a, **k):
        if name == "cloudpickle":
            raise ImportError("hidden for this test")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_cloudpickle)
    with ThreadPoolExecutor(1) as ex:
        it = dprog.Interpreter(executor=ex)
        it.define("cube", lambda x: x ** 3)
        with pytest.raises(dprog.DpTypeError, match="cannot send") as info:
            it.exec("parallel_map(fn(x) => cube(x), (1.0, 2.0))")
        assert "picklable" in info.value.hint


def test_with_an_executor_differentiation_still_runs_here_and_is_exact():
    src = """
let xs = [0.5, 1.0, 1.5]
fn total(w) { return sum(parallel_map(fn(x) => sin(w * x), xs)) }
let g = grad(total)(2.0)
let h = hessian(fn(v) => sum(parallel_map(fn(x) => x * v[0] ** 3, (1.0, 2.0))))([1.5])
"""
    with ThreadPoolExecutor(1) as ex:
        it, _ = _run(src, executor=ex)
    xs = np.array([0.5, 1.0, 1.5])
    assert it["g"] == pytest.approx(np.sum(xs * np.cos(2.0 * xs)), rel=1e-15)
    assert it["h"][0, 0] == pytest.approx(3.0 * 6.0 * 1.5, rel=1e-15)


def test_a_worker_runs_nested_parallel_maps_itself():
    with ThreadPoolExecutor(2) as ex:
        it, out = _run("let r = parallel_map(fn(n) => parallel_map(fn(k) => k * n, (1, 2)), "
                       "(10, 20))", executor=ex)
    assert it["r"] == ((10, 20), (20, 40))


def test_without_dask_workers_are_a_clear_error(monkeypatch):
    import builtins

    from dprog.host.parallel import connect_client, local_client
    real_import = builtins.__import__

    def no_dask(name, *a, **k):
        if name.startswith("dask"):
            raise ImportError("not installed (test)")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    for start in (lambda: local_client(2), lambda: connect_client("tcp://127.0.0.1:1")):
        with pytest.raises(dprog.DpHostError, match="needs Dask") as info:
            start()
        assert info.value.hint == "pip install 'dprog[dask]'"


def test_a_result_that_cannot_travel_back_is_the_elements_error():
    with ThreadPoolExecutor(1) as ex:
        it = dprog.Interpreter(executor=ex)
        with pytest.raises(dprog.DpTypeError, match=r"cannot be sent back.*element 0 of 1") as e:
            it.exec("parallel_map(fn(x) => vjp(fn(v) => v * v, x)[1], (2.0,))")
        assert "pullback" in e.value.hint


def test_the_callers_time_limit_bounds_the_wait_for_workers():
    import time

    with ThreadPoolExecutor(1) as ex:
        it = dprog.Interpreter(executor=ex, timeout=0.5)
        it.define("nap", lambda x: time.sleep(3.0) or x)
        t0 = time.monotonic()
        with pytest.raises(dprog.DpLimitError, match="time limit exceeded while waiting"):
            it.exec("parallel_map(fn(x) => nap(x), (1.0,))")
        assert time.monotonic() - t0 < 2.5
