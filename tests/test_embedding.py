"""Embedding dprog from Python (SPEC §10): the Interpreter API, values crossing the
boundary, errors as exceptions, `define`d primitives, and transformations from Python."""

from __future__ import annotations

import io
import os
import re
import threading
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

import dprog
from dprog.core.errors import DpError
from dprog.host import api


def make(**kw):
    out = io.StringIO()
    it = dprog.Interpreter(stdout=out, **kw)
    it.out = out
    return it


# ============================================================== the SPEC §10 example
def test_spec_example():
    interp = dprog.Interpreter()
    interp.exec("fn loss(w) { return sum((X @ w - y) ** 2) }",
                globals={"X": np.ones((4, 2)), "y": np.zeros(4)})
    loss = interp["loss"]
    assert loss(np.ones(2)) == 16.0
    np.testing.assert_allclose(interp.eval("grad(loss)([1.0, 2.0])"), [24.0, 24.0])
    np.testing.assert_allclose(dprog.grad(loss)(np.ones(2)), [16.0, 16.0])


def test_exec_eval_names_persist():
    it = make()
    it.exec("let a = 2\nfn twice(x) { return 2 * x }")
    it.exec("a = twice(a)")
    assert it.eval("a + 1") == 5
    assert "a" in it and "nope" not in it
    assert {"a", "twice", "argv"} <= set(it.names())
    assert it["a"] == 4


def test_eval_takes_one_expression():
    it = make()
    assert it.eval("\n(1 +\n 2)\n") == 3
    for bad in ("let x = 1", "1; 2", "", "x = 1"):
        with pytest.raises(dprog.DpSyntaxError):
            it.eval(bad)
    # the expression is parsed on its own: its spans are its own
    with pytest.raises(dprog.DpNameError) as ei:
        it.eval("1 + nope")
    assert (ei.value.file, ei.value.line, ei.value.column) == ("<eval>", 1, 5)
    assert "__eval_result__" not in it.names()


def test_eval_globals_and_print():
    it = make()
    assert it.eval("x * k", globals={"x": 2.0, "k": 3}) == 6.0
    it.exec('print("hi", x)')
    assert it.out.getvalue() == "hi 2.0\n"


def test_run_file_argv_and_relative_import(tmp_path):
    (tmp_path / "helper.dp").write_text("fn h(x) { return x + 1 }\n")
    (tmp_path / "main.dp").write_text("import helper\nlet r = helper.h(41)\nlet n = len(argv)\n")
    it = make()
    it.run_file(tmp_path / "main.dp", argv=["a", "b"])
    assert it["r"] == 42 and it["n"] == 2 and it["argv"] == ("a", "b")
    with pytest.raises(dprog.DpImportError):
        it.run_file(tmp_path / "missing.dp")


def test_getitem_setitem():
    it = make()
    it["w"] = np.arange(3)
    assert it.eval("sum(w)") == 3.0
    assert callable(it["sum"])  # builtins are readable too
    assert it["sum"](np.ones(4)) == 4.0
    with pytest.raises(KeyError):
        it["missing"]
    for bad in ("__x", "let", "1a", "a-b", 3):
        with pytest.raises(ValueError):
            it[bad] = 1


def test_instances_are_independent():
    a, b = make(), make()
    a.exec("let x = 1; seed(3)")
    b.exec("let x = 2")
    assert a["x"] == 1 and b["x"] == 2
    a.exec("fn f() { return x }")
    assert "f" not in b
    # the random streams are separate too: seeding one does not move the other
    c, d = make(), make()
    c.exec("seed(3)")
    x = c.eval("rand()")
    assert d.eval("rand()") == make().eval("rand()") != x
    e = make()
    e.exec("seed(3)")
    assert e.eval("rand()") == x


# ============================================================== values across the boundary
@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int64, np.float16, np.float32,
                                   np.float64, np.longdouble])
def test_numeric_dtypes_become_float64(dtype):
    it = make()
    it["a"] = np.array([1, 2, 3], dtype=dtype)
    out = it.eval("a * 1.5")
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [1.5, 3.0, 4.5])


def test_bool_and_object_arrays():
    it = make()
    it["m"] = np.array([True, False])
    assert it.eval("where(m, 1.0, 2.0)").tolist() == [1.0, 2.0]
    it["o"] = np.array([1, 2.5], dtype=object)
    assert it.eval("sum(o)") == 3.5


@pytest.mark.parametrize("value", [np.array([1 + 2j]), np.array(["1.5"]), np.array([None]),
                                   np.array(["2020-01-01"], dtype="datetime64[D]"), [[1, 2], [3]],
                                   [1, "a"], object(), b"bytes", 1 + 2j, {1: 2}, {"not ok": 1}])
def test_unsupported_values_are_type_errors(value):
    it = make()
    with pytest.raises(dprog.DpTypeError):
        it["v"] = value


def test_scalars_tuples_dicts_round_trip():
    it = make()
    Point = namedtuple("Point", "x y")
    it["t"] = (1, 2.5, True, None, "s", (np.float32(1.5), np.int64(7)))
    assert it["t"] == (1, 2.5, True, None, "s", (1.5, 7))
    assert type(it["t"][5][1]) is int
    it["p"] = Point(1.0, 2.0)
    assert it.eval("p[0] + p[1]") == 3.0
    it["r"] = {"w": np.ones(2), "b": 0.5, "inner": {"k": 1}}
    assert it.eval("r.b + sum(r.w) + r.inner.k") == 3.5
    r = it.eval("{w: r.w * 2, b: r.b}")
    assert isinstance(r, dict) and set(r) == {"w", "b"}
    np.testing.assert_allclose(r["w"], [2.0, 2.0])
    assert it.eval("np0", globals={"np0": np.float64(2.0)}) == 2.0
    assert type(it.eval("a", globals={"a": np.array(3.0)})) is float  # 0-d -> number


def test_arrays_do_not_alias():
    it = make()
    a = np.array([1.0, 2.0])
    it["a"] = a
    a[0] = 100.0  # the host changing its array later does not change dprog's value
    assert it.eval("a[0]") == 1.0
    out = it["a"]
    out[1] = -5.0  # nor does changing what came out
    assert it.eval("a[1]") == 2.0


def test_python_callables_into_dprog():
    it = make()
    it["pyadd"] = lambda a, b=10: a + b
    assert it.eval("pyadd(1)") == 11
    assert it.eval("pyadd(1, b=2)") == 3
    it["mk"] = lambda: (lambda x: x * 3)  # callables returned are callable too
    assert it.eval("mk()(2)") == 6
    # a Python function inside a function being differentiated sees traced values
    it["sq"] = lambda x: x * x
    assert it.eval("grad(fn(x) => sq(x) + x)(3.0)") == 7.0


def test_dprog_functions_into_python():
    it = make()
    it.exec("fn scale(x, k=2.0) { return k * x }\nfn adder(n) { return fn(x) => x + n }")
    scale = it["scale"]
    assert scale(3.0) == 6.0 and scale(3.0, k=4.0) == 12.0
    add5 = it["adder"](5)
    assert add5(1) == 6
    it["back"] = add5  # a dprog function goes back in as itself
    assert it.eval("back(2)") == 7
    with pytest.raises(dprog.DpArgumentError):
        scale(1, 2, 3)
    assert "scale" in repr(scale)


def test_no_attribute_access_on_host_objects():
    it = make()
    it["f"] = print
    for src in ("f.__class__", "f.__globals__", "f.x", "argv.__len__"):
        with pytest.raises(dprog.DpTypeError):
            it.eval(src)
    it["r"] = {"__class__": 1}  # a record field with that name is just a field
    assert it.eval("r.__class__") == 1


# ============================================================== errors
ERROR_CASES = [
    (dprog.DpSyntaxError, "syntax", "let x = (1, 2"),
    (dprog.DpNameError, "name", "undefined_thing + 1"),
    (dprog.DpTypeError, "type", '1 + "a"'),
    (dprog.DpShapeError, "shape", "zeros(3) + zeros(4)"),
    (dprog.DpIndexError, "index", "zeros(3)[5]"),
    (dprog.DpArgumentError, "argument", "sum(1, 2, 3)"),
    (dprog.DpDifferentiationError, "differentiation", "grad(fn(x) => x * [1.0, 2.0])(1.0)"),
    (dprog.DpImportError, "import", "import no_such_module"),
    (dprog.DpLimitError, "limits", "fn f(n) { return f(n + 1) }\nf(0)"),
    (dprog.DpAssertionError, "assert", 'assert(1 > 2, "one is not more than two")'),
    (dprog.DpValueError, "value", "1 // 0"),
]


@pytest.mark.parametrize("cls,kind,src", ERROR_CASES, ids=[c[1] for c in ERROR_CASES])
def test_each_error_class(cls, kind, src):
    it = make(max_depth=50)
    with pytest.raises(cls) as ei:
        it.exec(src, name="prog.dp")
    e = ei.value
    assert isinstance(e, DpError) and e.kind == kind
    assert e.message and isinstance(e.message, str)
    assert e.file == "prog.dp" and e.line >= 1 and e.column >= 1
    assert str(e) == e.report()
    assert str(e).startswith(f"error: {e.headline()}") and e.message in e.headline()
    assert "--> prog.dp:" in str(e)
    assert e.hint is None or isinstance(e.hint, str)
    assert isinstance(e.dprog_stack, list)


def test_stack_and_report_of_nested_call():
    it = make()
    src = "fn inner(a) { return a + zeros(4) }\nfn outer(b) { return inner(b) }\nouter(zeros(3))"
    with pytest.raises(dprog.DpShapeError) as ei:
        it.exec(src, name="model.dp")
    e = ei.value
    assert (e.line, e.column) == (1, 22)
    assert e.dprog_stack == ["model.dp:3:1 in <main>", "model.dp:2:22 in outer",
                             "model.dp:1:22 in inner"]
    assert "stack (most recent call last):" in str(e)
    assert "= hint:" in str(e)


def test_host_exception_is_wrapped_with_cause():
    it = make()

    def boom(x):
        raise KeyError("the host's own error")

    it["boom"] = boom
    with pytest.raises(dprog.DpHostError) as ei:
        it.exec("let y = 1\nboom(y)", name="h.dp")
    e = ei.value
    assert e.kind == "host" and isinstance(e.__cause__, KeyError)
    assert (e.file, e.line) == ("h.dp", 2) and "boom" in e.message
    it.define("bad", lambda x: 1 / 0)
    with pytest.raises(dprog.DpHostError) as ei:
        it.eval("bad(1.0)")
    assert isinstance(ei.value.__cause__, ZeroDivisionError)


def test_host_error_from_a_dprog_callback_keeps_its_class():
    it = make()
    it.exec("fn f(x) { return x + zeros(2) }")
    f = it["f"]
    it["viahost"] = lambda x: f(x)
    with pytest.raises(dprog.DpShapeError):
        it.eval("viahost(zeros(3))")
    assert it.eval("viahost(1.0)").tolist() == [1.0, 1.0]


# ============================================================== define
def _cube(it):
    it.define("cube", lambda x: x ** 3, jvp=lambda p, t: 3 * p[0] ** 2 * t[0],
              vjp=lambda p, out, g: (3 * p[0] ** 2 * g,))


def test_define_both_modes_and_second_order():
    it = make()
    _cube(it)
    assert it.eval("cube(2.0)") == 8.0
    assert it.eval("grad(cube)(2.0)") == 12.0  # reverse
    assert it.eval("derivative(cube)(2.0)") == 12.0  # forward
    assert it.eval("grad(grad(cube))(2.0)") == 12.0
    assert it.eval("derivative(derivative(cube))(2.0)") == 12.0
    assert it.eval("grad(grad(grad(cube)))(2.0)") == 6.0
    np.testing.assert_allclose(it.eval("hessian(fn(x) => sum(cube(x)))([1.0, 2.0])"),
                               [[6.0, 0.0], [0.0, 12.0]])
    np.testing.assert_allclose(it.eval("jacfwd(cube)([1.0, 2.0])"), np.diag([3.0, 12.0]))
    np.testing.assert_allclose(it.eval("jacrev(cube)([1.0, 2.0])"), np.diag([3.0, 12.0]))
    assert it.eval("check_grad(fn(x) => sum(cube(x)), [0.5, -1.5])") is True


def test_define_jvp_only_gives_reverse_mode_too():
    it = make()
    it.define("sn", np.sin, jvp=lambda p, t: np.cos(p[0]) * t[0])
    assert it.eval("grad(sn)(1.0)") == pytest.approx(np.cos(1.0))
    assert it.eval("grad(grad(sn))(1.0)") == pytest.approx(-np.sin(1.0))
    np.testing.assert_allclose(it.eval("hessian(fn(x) => sum(sn(x)))([1.0, 2.0])"),
                               np.diag(-np.sin([1.0, 2.0])), atol=1e-12)


def test_define_vjp_only_gives_forward_mode_too():
    it = make()
    it.define("ex", np.exp, vjp=lambda p, out, g: (g * out,))
    assert it.eval("derivative(ex)(1.0)") == pytest.approx(np.e)
    assert it.eval("derivative(derivative(ex))(1.0)") == pytest.approx(np.e)
    np.testing.assert_allclose(it.eval("jacfwd(ex)([1.0, 0.0])"), np.diag([np.e, 1.0]))


def test_define_rules_built_from_other_primitives():
    """A rule written with another defined primitive nests through that one's rules."""
    it = make()
    it.define("dsoft", lambda x: 1.0 / (1.0 + np.exp(-x)),
              jvp=lambda p, t: dsoft(p[0]) * (1.0 - dsoft(p[0])) * t[0])
    dsoft = it["dsoft"]
    it.define("softplus2", lambda x: np.logaddexp(0.0, x),
              jvp=lambda p, t: dsoft(p[0]) * t[0],
              vjp=lambda p, out, g: (dsoft(p[0]) * g,))
    s = 1 / (1 + np.exp(-0.3))
    assert it.eval("grad(softplus2)(0.3)") == pytest.approx(s)
    assert it.eval("grad(grad(softplus2))(0.3)") == pytest.approx(s * (1 - s))
    assert it.eval("derivative(grad(softplus2))(0.3)") == pytest.approx(s * (1 - s))
    assert dprog.grad(dprog.grad(it["softplus2"]))(0.3) == pytest.approx(s * (1 - s))


def test_define_several_arguments_and_arrays():
    it = make()
    it.define("wsum", lambda x, w: np.sum(x * w),
              vjp=lambda p, out, g: (g * p[1], g * p[0]))
    it["x"] = np.array([1.0, 2.0, 3.0])
    g = it.eval("grad(fn(x, w) => wsum(x, w) ** 2, argnums=(0, 1))(x, [1.0, 0.0, 2.0])")
    np.testing.assert_allclose(g[0], 2 * 7.0 * np.array([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(g[1], 2 * 7.0 * np.array([1.0, 2.0, 3.0]))
    # forward mode from the vjp rule, with one argument not differentiated
    assert it.eval("derivative(fn(s) => wsum(x * s, [1.0, 1.0, 1.0]))(2.0)") == 6.0


def test_define_errors():
    it = make()
    it.define("norule", lambda x: x * 2)
    assert it.eval("norule(2.0)") == 4.0
    with pytest.raises(dprog.DpDifferentiationError, match="no derivative rule"):
        it.eval("grad(norule)(1.0)")
    it.define("badshape", lambda x: x, jvp=lambda p, t: np.ones(5))
    with pytest.raises(dprog.DpDifferentiationError, match="shape"):
        it.eval("derivative(badshape)([1.0, 2.0])")
    it.define("opaque", lambda x: np.sum(x ** 2), jvp=lambda p, t: np.asarray(p[0]) @ t[0])
    assert it.eval("grad(opaque)([1.0, 2.0])").tolist() == [1.0, 2.0]  # first order: plain
    with pytest.raises(dprog.DpDifferentiationError, match="being differentiated"):
        it.eval("hessian(opaque)([1.0, 2.0])")
    it.define("two", lambda a, b: a + b, jvp=lambda p, t: t[0] + t[1])
    with pytest.raises(dprog.DpArgumentError):
        it.eval("two(1.0)")
    with pytest.raises(dprog.DpArgumentError):
        it.eval("two(1.0, b=2.0)")
    with pytest.raises(dprog.DpTypeError):
        it.eval('two(1.0, "s")')
    it.define("strres", lambda x: "nope")
    with pytest.raises(dprog.DpTypeError):
        it.eval("strres(1.0)")

    def mutate(x):
        x[0] = 5.0
        return x
    it.define("mutate", mutate)
    it["v"] = np.zeros(2)
    with pytest.raises(dprog.DpHostError):  # inputs are read-only: dprog values are immutable
        it.eval("mutate(v)")
    assert it.eval("v").tolist() == [0.0, 0.0]
    it.define("badrule", np.sin, jvp=lambda p, t: 1 / 0)
    with pytest.raises(dprog.DpHostError) as ei:
        it.eval("derivative(badrule)(1.0)")
    assert "jvp rule" in ei.value.message and isinstance(ei.value.__cause__, ZeroDivisionError)
    with pytest.raises(TypeError):
        it.define("x", 3)
    with pytest.raises(ValueError):
        it.define("__x", np.sin)


# ============================================================== transformations from Python
def test_transformations_from_python():
    it = make()
    it.exec("fn f(x) { return sum(sin(x) * x) }\nfn g(x) { return sin(x) * x }")
    f, g = it["f"], it["g"]
    x = np.array([0.5, 1.0])
    want = np.sin(x) + x * np.cos(x)
    np.testing.assert_allclose(dprog.grad(f)(x), want)
    v, gr = dprog.value_and_grad(f)(x)
    assert v == pytest.approx(np.sum(np.sin(x) * x))
    np.testing.assert_allclose(gr, want)
    np.testing.assert_allclose(dprog.jacobian(g)(x), np.diag(want))
    np.testing.assert_allclose(dprog.jacfwd(g)(x), np.diag(want))
    np.testing.assert_allclose(dprog.jacrev(g)(x), np.diag(want))
    h = 2 * np.cos(x) - x * np.sin(x)
    np.testing.assert_allclose(dprog.hessian(f)(x), np.diag(h))
    np.testing.assert_allclose(dprog.hvp(f, x, np.ones(2)), h)
    y, t = dprog.jvp(g, (x,), (np.ones(2),))
    np.testing.assert_allclose(t, want)
    y, pull = dprog.vjp(g, x)
    (ct,) = pull(np.ones(2))
    np.testing.assert_allclose(ct, want)
    assert dprog.derivative(it["g"])(1.0) == pytest.approx(want[1])
    assert dprog.grad(dprog.grad(lambda s: f(s * np.ones(2))))(1.0) == pytest.approx(
        2 * np.sum(2 * np.cos(1.0) - np.sin(1.0)))


def test_gradient_of_record_arguments_from_python():
    it = make()
    it.exec("fn loss(p, x, y) { return mean((x @ p.w + p.b - y) ** 2) }")
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    y = np.array([1.0, 0.0, 2.0])
    params = {"w": np.array([0.1, -0.2]), "b": 0.3}
    g = dprog.grad(it["loss"])(params, x, y)
    r = x @ params["w"] + params["b"] - y
    assert set(g) == {"w", "b"}
    np.testing.assert_allclose(g["w"], 2 * x.T @ r / 3)
    assert g["b"] == pytest.approx(2 * r.mean())
    gs = dprog.grad(it["loss"], argnums=[0, 2])(params, x, y)
    assert isinstance(gs, tuple) and len(gs) == 2


def test_python_functions_with_traced_values():
    it = make()
    it.define("sn", np.sin, jvp=lambda p, t: np.cos(p[0]) * t[0])
    sn = it["sn"]
    assert dprog.grad(lambda x: sn(x) * x + 2.0)(1.0) == pytest.approx(np.cos(1) + np.sin(1))
    # NumPy ufuncs and functions dispatch to dprog on traced values, to any order
    f = lambda x: np.sum(np.tanh(x) ** 2) + np.dot(x, x) / 2  # noqa: E731
    x = np.array([0.2, -0.4])
    want = 2 * np.tanh(x) * (1 - np.tanh(x) ** 2) + x
    np.testing.assert_allclose(dprog.grad(f)(x), want)
    assert dprog.hessian(f)(x).shape == (2, 2)

    def seen(x):
        assert isinstance(x, api.TracedValue)
        assert x.shape == (2,) and len(x) == 2 and x.ndim == 1
        np.testing.assert_allclose(x.value, [0.2, -0.4])
        return x[0] * x[1] + abs(x[1]) + x.T[0] - (-x)[1] + x @ x
    assert dprog.grad(seen)(x).tolist() == pytest.approx([-0.4 + 1 + 0.4, 0.2 - 1 + 1 - 0.8])
    with pytest.raises(dprog.DpDifferentiationError):
        dprog.grad(lambda x: float(x))(1.0)
    with pytest.raises(dprog.DpDifferentiationError):
        dprog.grad(lambda x: np.fft.fft(x))(np.ones(2))


def test_transform_errors_are_dp_errors():
    it = make()
    it.exec("fn vec(x) { return x * [1.0, 2.0] }")
    with pytest.raises(dprog.DpDifferentiationError):
        dprog.grad(it["vec"])(1.0)
    with pytest.raises(dprog.DpHostError):
        dprog.grad(lambda x: {}["k"])(1.0)
    with pytest.raises(TypeError):
        dprog.grad(3)


# ============================================================== sandbox
def test_files_refused_by_default(tmp_path):
    it = make()
    for src in (f'read_csv("{tmp_path}/a.csv")', f'load("{tmp_path}/a.npy")',
                f'save("{tmp_path}/a.npy", zeros(2))'):
        with pytest.raises(dprog.DpImportError, match="allow_files"):
            it.exec(src)
    assert not os.listdir(tmp_path)
    ok = make(allow_files=True)
    ok.exec(f'save("{tmp_path}/a.npy", [1.0, 2.0])')
    assert ok.eval(f'load("{tmp_path}/a.npy")').tolist() == [1.0, 2.0]


def test_imports_from_the_working_directory_need_allow_files(tmp_path, monkeypatch):
    (tmp_path / "local_mod.dp").write_text("let secret = 42\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(dprog.DpImportError):
        make().exec("import local_mod")
    it = make(allow_files=True)
    it.exec("import local_mod")
    assert it.eval("local_mod.secret") == 42
    make().exec("import optim")  # the stdlib is always there


# ============================================================== threads
def test_two_interpreters_in_two_threads():
    results, errors = {}, []

    def work(tag, limit):
        try:
            it = dprog.Interpreter(max_array_elements=limit)
            it.exec("fn f(n) { if n == 0 { return 0 }; return 1 + f(n - 1) }")
            total = 0
            for _ in range(30):
                total += it.eval("f(300)")
                it.exec("let a = zeros(100)")  # fits in both limits
            try:
                it.exec("let b = zeros(1000)")
                results[tag] = (total, "allocated")
            except dprog.DpLimitError:
                results[tag] = (total, "refused")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=work, args=("small", 500)),
          threading.Thread(target=work, args=("big", 10**6))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    assert results == {"small": (9000, "refused"), "big": (9000, "allocated")}


def test_one_interpreter_shared_by_threads_serialises_calls():
    it = dprog.Interpreter()
    it.exec("let counter = 0\nfn bump() { let c = counter; for i in range(50) { c = c + 0 }; "
            "counter = c + 1; return counter }")
    bump = it["bump"]
    errors = []

    def work():
        try:
            for _ in range(100):
                bump()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert it["counter"] == 400


# ============================================================== docs/embedding.md stays true
DOC = Path(__file__).resolve().parent.parent / "docs" / "embedding.md"


def _python_blocks() -> list[tuple[str, str | None]]:
    """(code, expected output or None) for each ```python block of docs/embedding.md."""
    text = DOC.read_text(encoding="utf-8")
    pat = re.compile(r"```python\n(.*?)```\n(?:\n```output\n(.*?)```)?", re.S)
    return [(m.group(1), m.group(2)) for m in pat.finditer(text)]


def test_docs_examples_run(capsys):
    blocks = _python_blocks()
    assert len(blocks) >= 5
    first, _ = blocks[0]
    exec(compile(first, "embedding.md", "exec"), {})
    assert capsys.readouterr().out == "16.0\n[24. 24.]\n[16. 16.]\n"
    worked = [(code, out) for code, out in blocks if out is not None]
    assert len(worked) == 1
    code, want = worked[0]
    exec(compile(code, "embedding.md", "exec"), {})
    assert capsys.readouterr().out == want


def test_docs_define_snippets():
    it = make()
    ns = {"np": np, "dprog": dprog, "interp": it}
    for code, _ in _python_blocks():
        if "interp.define(" in code:
            exec(compile(code, "embedding.md", "exec"), ns)
    np.testing.assert_allclose(it.eval("grad(fn(x) => sum(softclip(x)))([0.5, 2.0])"),
                               1 - np.tanh([0.5, 2.0]) ** 2)
    t = np.tanh(0.5)
    assert it.eval("grad(grad(softclip))(0.5)") == pytest.approx(-2 * t * (1 - t ** 2))
    s = 1 / (1 + np.exp(-0.3))
    assert it.eval("grad(grad(softplus2))(0.3)") == pytest.approx(s * (1 - s))
    # the transformation snippet's claim about the record gradient
    it.exec("fn loss(p, x, y) { return mean((x @ p.w + p.b - y) ** 2) }")
    g = dprog.grad(it["loss"])({"w": np.zeros(2), "b": 0.0}, np.ones((3, 2)), np.ones(3))
    assert g["w"].tolist() == [-2.0, -2.0] and g["b"] == -2.0


def test_returned_arrays_are_the_hosts_own():
    """A fresh result may be handed over without a copy; one that the program still
    holds (a global, an argument, a view of either) must be a copy."""
    it = make()
    it.exec("let G = zeros(3)\nlet H = zeros(0)\n"
            "fn fresh(x) { return x * 2 }\nfn glob() { return G }\nfn arg(x) { return x }\n"
            "fn kept(x) { H = x * 3; return H }\nfn view() { return G[1:] }")
    x = np.ones(3)
    r = it["fresh"](x)
    r[0] = 5.0
    assert list(it["fresh"](x)) == [2.0, 2.0, 2.0]
    for name in ("glob", "view"):
        r = it[name]()
        r[0] = 9.0
    assert list(it.eval("G")) == [0.0, 0.0, 0.0]
    r = it["arg"](x)
    assert r is not x
    r[0] = 7.0
    assert x[0] == 1.0
    r = it["kept"](x)
    r[0] = 11.0
    assert list(it.eval("H")) == [3.0, 3.0, 3.0]
