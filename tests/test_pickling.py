"""dprog values, functions and interpreters pickle, and behave the same unpickled
(in this process and in a fresh one started with spawn, not fork)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import cloudpickle
import numpy as np
import pytest

import dprog
from dprog.core.values import Module, Record

PROGRAM = """
let k = 3.0
let data = {w: [1.0, 2.0], pair: (1, "two", none, true)}
fn make(a) {
    let c = a
    fn counter(x, y=2.0) {
        c = c + 1.0
        return c * x * k + y
    }
    return counter
}
let counter = make(2.0)
fn f(x) { return sum(sin(x) * k) }
let g = grad(f)
let vg = value_and_grad(f)
let h = hessian(f)
let jf = jacfwd(fn(x) => x * x * k)
let d = derivative(fn(x) => x ** 3.0)
fn sq(x) { return x * x * k }
let cv = custom_vjp(sq, fn(x) => (sq(x), x), fn(x, gg) => (gg * 100.0,))
let cj = custom_jvp(sq, fn(p, t) => (sq(p[0]), 7.0 * t[0]))
let ck = checkpoint(sq)
let s = sin
import optim
"""

CALLS = ["counter(1.0)", "counter(1.0)", "f([1.0, 2.0])", "g([1.0, 2.0])", "vg([0.5, 1.5])",
         "h([0.3, 0.4])", "jf([1.0, 2.0])", "d(2.0)", "cv(2.0)", "grad(cv)(2.0)",
         "grad(cj)(2.0)", "grad(ck)(2.0)", "s(1.0)", "grad(grad(sq))(2.0)", "data", "k",
         "optim.sgd"]


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _same(a[key], b[key])
    elif callable(a):
        assert repr(a) == repr(b)
    else:
        assert a == b


def _interp(**kw):
    it = dprog.Interpreter(**kw)
    it.exec(PROGRAM)
    return it


def test_interpreter_round_trip_behaves_the_same():
    a = _interp()
    b = pickle.loads(pickle.dumps(a))
    for call in CALLS:
        _same(a.eval(call), b.eval(call))
    # the copy is independent: its counter moved on its own
    assert a.eval("counter(0.0)") == b.eval("counter(0.0)")
    a.exec("k = 10.0")
    assert b.eval("k") == 3.0


def test_closure_round_trip_keeps_its_cells_and_globals():
    a = _interp()
    counter = pickle.loads(pickle.dumps(a["counter"]))
    assert counter(1.0) == a["counter"](1.0) == 11.0
    assert counter(1.0) == 14.0
    g = pickle.loads(pickle.dumps(a["g"]))
    np.testing.assert_allclose(g(np.array([1.0, 2.0])), 3.0 * np.cos([1.0, 2.0]), rtol=1e-15)


def test_functions_pickled_together_share_their_variables():
    a = _interp()
    a.exec("let shared = make(0.0)\nlet twice = (shared, shared)")
    t = pickle.loads(pickle.dumps(a["twice"]))
    assert t[0](1.0) == 5.0  # c = 1: 1 * 1 * 3 + 2
    assert t[1](1.0) == 8.0  # the same cell: c = 2


@pytest.mark.parametrize("value", [
    1, 2.5, True, None, "text", (1, (2.0, "x")), np.arange(6.0).reshape(2, 3),
    np.array([True, False])])
def test_plain_values_round_trip(value):
    it = dprog.Interpreter()
    it["v"] = value
    got = pickle.loads(pickle.dumps(it.eval("v")))
    _same(it.eval("v"), got)


def test_records_and_modules_round_trip():
    a = _interp()
    from dprog.core.values import Record as R
    rec = a.main.globals["data"].v
    assert isinstance(rec, R)
    rec2 = pickle.loads(pickle.dumps(rec))
    assert rec2 == rec
    mod = a.main.globals["optim"].v
    mod2 = pickle.loads(pickle.dumps(mod))
    assert isinstance(mod2, Module) and mod2.name == "optim"
    assert sorted(mod2.member_names()) == sorted(mod.member_names())
    assert isinstance(Record({"a": 1.0}), R)


def test_limits_and_file_access_travel():
    a = dprog.Interpreter(max_steps=5000, max_depth=50, max_array_elements=100,
                          timeout=7.5, allow_files=True, check_nans=True)
    a.exec("fn loop(n) { let i = 0\n while i < n { i = i + 1 }\n return i }")
    b = pickle.loads(pickle.dumps(a))
    assert (b.rt.max_steps, b.rt.max_depth, b.rt.max_array_elements, b.timeout,
            b.rt.allow_files, b.rt.check_nans) == (5000, 50, 100, 7.5, True, True)
    with pytest.raises(dprog.DpLimitError, match="step limit"):
        b.eval("loop(100000)")
    with pytest.raises(dprog.DpLimitError):
        b.eval("zeros(1000)")
    c = pickle.loads(pickle.dumps(dprog.Interpreter()))
    with pytest.raises(dprog.DpError, match="no file access"):
        c.exec('save("x.npy", [1.0])')


def test_random_stream_travels():
    a = dprog.Interpreter()
    a.exec("seed(5)\nlet first = rand()")
    b = pickle.loads(pickle.dumps(a))
    assert a.eval("rand()") == b.eval("rand()")


def test_repl_inputs_and_eval_functions_travel():
    a = dprog.Interpreter()
    a.exec_interactive("fn twice(x) { return 2.0 * x }")
    a.exec_interactive("let sum = 5.0")  # shadows the builtin only for later inputs
    a.exec_interactive("fn after(x) { return sum + x }")
    lam = a.eval("fn(x) => twice(x) + 1.0")
    b = pickle.loads(pickle.dumps(a))
    assert b.eval("twice(4.0)") == 8.0
    assert b.eval("after(1.0)") == 6.0
    assert pickle.loads(pickle.dumps(lam))(2.0) == 5.0


def test_a_builtin_used_before_a_global_shadows_it_stays_the_builtin():
    a = dprog.Interpreter()
    a.exec("fn total(x) { return sum(x) }")
    a.exec("let sum = 100.0")
    b = pickle.loads(pickle.dumps(a))
    assert a.eval("total([1.0, 2.0])") == b.eval("total([1.0, 2.0])") == 3.0


def test_defined_python_primitives_travel_with_cloudpickle():
    a = dprog.Interpreter()
    a.define("cube", lambda x: x ** 3, jvp=lambda p, t: 3 * p[0] ** 2 * t[0])
    a.exec("fn use(x) { return cube(x) + 1.0 }")
    b = cloudpickle.loads(cloudpickle.dumps(a))
    assert b.eval("use(2.0)") == 9.0
    assert b.eval("grad(use)(2.0)") == 12.0
    with pytest.raises((pickle.PicklingError, AttributeError), match="lambda|local"):
        pickle.dumps(a)


def test_a_pullback_does_not_pickle_and_says_why():
    a = dprog.Interpreter()
    a.exec("let pb = vjp(fn(x) => x * x, 3.0)[1]")
    with pytest.raises(pickle.PicklingError, match="recording"):
        pickle.dumps(a.main.globals["pb"].v)


def test_errors_pickle_with_their_report():
    a = dprog.Interpreter()
    with pytest.raises(dprog.DpError) as info:
        a.exec("fn bad(x) { return x + \"s\" }\nbad(1.0)")
    err = pickle.loads(pickle.dumps(info.value))
    assert type(err) is type(info.value)
    assert err.report() == info.value.report()


FRESH = textwrap.dedent("""
    import pickle, sys
    import numpy as np
    it, f, g = pickle.load(sys.stdin.buffer)
    x = np.array([0.3, 1.1, 2.0])
    out = (it.eval("f([0.3, 1.1, 2.0])"), f(x), g(x), it.eval("hessian(f)([0.3, 1.1])"),
           it.eval("counter(1.0)"), it.eval("counter(1.0)"), "numpy" in sys.modules)
    pickle.dump(out, sys.stdout.buffer)
""")


def test_unpickled_in_a_fresh_process_gives_the_same_values_and_gradients():
    a = _interp()
    blob = pickle.dumps((a, a["f"], a["g"]))
    proc = subprocess.run([sys.executable, "-c", FRESH], input=blob, capture_output=True,
                          timeout=120, check=True)
    got = pickle.loads(proc.stdout)
    x = np.array([0.3, 1.1, 2.0])
    want = (a.eval("f([0.3, 1.1, 2.0])"), a["f"](x), a["g"](x), a.eval("hessian(f)([0.3, 1.1])"),
            a.eval("counter(1.0)"), a.eval("counter(1.0)"), True)
    _same(got, want)
    np.testing.assert_allclose(got[2], 3.0 * np.cos(x), rtol=1e-15)


def test_functions_from_files_and_their_modules_travel_without_the_files(tmp_path):
    (tmp_path / "helpers.dp").write_text("let scale = 4.0\nfn scaled(x) { return scale * x }\n")
    main = tmp_path / "main.dp"
    main.write_text("import helpers\nfn use(x) { return helpers.scaled(x) + 1.0 }\n")
    a = dprog.Interpreter(allow_files=True)
    a.run_file(main)
    blob = pickle.dumps(a["use"])
    main.unlink()
    (tmp_path / "helpers.dp").unlink()
    use = pickle.loads(blob)
    assert use(2.0) == 9.0
    assert repr(use) == repr(a["use"])
