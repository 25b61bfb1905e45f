"""The core language against SPEC §1-§5: value semantics, scoping, modules, printing,
integer/float semantics, strings and conditions.

Tests the current interpreter fails are marked xfail(strict=True) with the reason;
they document bugs against the SPEC.
"""

from __future__ import annotations

import io
import textwrap

import numpy as np
import pytest

import dprog
from conftest import ROOT, run_dp

MODULES = ROOT / "tests" / "data" / "modules"


def run(src: str, **kw) -> str:
    """Run a program in a fresh interpreter; return what it printed."""
    out = io.StringIO()
    dprog.Interpreter(stdout=out, **kw).exec(textwrap.dedent(src), name="t.dp")
    return out.getvalue()


def lines(src: str, **kw) -> list[str]:
    return run(src, **kw).splitlines()


def error_of(src: str, **kw) -> dprog.DpError:
    with pytest.raises(dprog.DpError) as info:
        run(src, **kw)
    return info.value


# ============================================================ value semantics
def test_array_update_copies():
    assert lines("""\
        let a = [1, 2, 3]
        let b = a
        b[0] = 100
        print(a)
        print(b)
        """) == ["[1. 2. 3.]", "[100.   2.   3.]"]


def test_array_slice_update_copies():
    assert lines("""\
        let a = zeros(4)
        let b = a
        b[1:3] = [7, 8]
        print(a, b)
        """) == ["[0. 0. 0. 0.] [0. 7. 8. 0.]"]


def test_2d_array_row_update_copies():
    assert lines("""\
        let M = zeros(2, 2)
        let N = M
        N[0, :] = [1, 2]
        N[1, 1] = 5
        print(sum(M), sum(N))
        """) == ["0.0 8.0"]


def test_tuple_update_copies():
    assert lines("""\
        let t = (1, (2, 3))
        let u = t
        u[0] = 10
        u[1][1] = 30
        print(t, u)
        """) == ["(1, (2, 3)) (10, (2, 30))"]


def test_record_update_copies_including_nested():
    assert lines("""\
        let r = {w: [1.0, 2.0], inner: {q: 1}, b: 0.0}
        let s = r
        s.b = 1.5
        s.w[0] = 9.0
        s.inner.q = 7
        print(r)
        print(s)
        """) == ["{w: [1. 2.], inner: {q: 1}, b: 0.0}", "{w: [9. 2.], inner: {q: 7}, b: 1.5}"]


def test_update_inside_function_does_not_touch_callers_value():
    assert lines("""\
        fn zero_first(v) { v[0] = 0; return v }
        fn set_b(r) { r.b = 99; return r }
        let a = [5, 6]
        let r = {b: 1}
        let a2 = zero_first(a)
        let r2 = set_b(r)
        print(a, a2, r, r2)
        """) == ["[5. 6.] [0. 6.] {b: 1} {b: 99}"]


def test_containers_inside_containers_are_values():
    assert lines("""\
        let v = [1.0, 2.0]
        let t = (v, 3)
        v[0] = 50.0
        print(t[0], v)
        """) == ["[1. 2.] [50.  2.]"]


def test_compound_assignment_on_elements_and_fields():
    assert lines("""\
        let v = [1.0, 2.0]
        let w = v
        v[1] += 10
        let r = {n: 1}
        r.n *= 5
        print(v, w, r)
        """) == ["[ 1. 12.] [1. 2.] {n: 5}"]


def test_closures_capture_variables_not_copies():
    assert lines("""\
        let x = 1
        fn get() { return x }
        x = 2
        print(get())
        fn set(v) { x = v }
        set(7)
        print(x, get())
        """) == ["2", "7 7"]


def test_closure_keeps_its_variable_alive_and_shares_it():
    assert lines("""\
        fn make() {
          let n = 0
          let inc = fn() { n += 1; return n }
          let peek = fn() => n
          return (inc, peek)
        }
        let pair = make()
        let inc = pair[0]
        let peek = pair[1]
        inc(); inc()
        print(peek(), inc())
        let other = make()
        print(other[1]())
        """) == ["2 3", "0"]


def test_closure_sees_updated_container_variable():
    # the variable is captured; updating its value rebinds it, and the closure sees that
    assert lines("""\
        let v = [1.0, 2.0]
        let first = fn() => v[0]
        v[0] = 10.0
        print(first())
        """) == ["10.0"]


def test_each_loop_iteration_has_its_own_variable():
    assert lines("""\
        let fs = ()
        for i in range(3) {
          let sq = i * i
          fs = fs + (fn() => (i, sq),)
        }
        print(fs[0](), fs[1](), fs[2]())
        """) == ["(0, 0) (1, 1) (2, 4)"]


# ==================================================================== scoping
def test_block_scoping():
    assert lines("""\
        let x = 1
        if true {
          let y = 2
          print(x + y)
        }
        print(x)
        """) == ["3", "1"]
    err = error_of("if true { let y = 2 }\nprint(y)")
    assert err.kind == "name" and (err.line, err.column) == (2, 7)


def test_loop_body_let_is_local_to_the_body():
    err = error_of("for i in range(2) { let in_body = i }\nprint(in_body)")
    assert err.kind == "name"
    err = error_of("for i in range(2) { }\nprint(i)")
    assert err.kind == "name" and err.line == 2


def test_shadowing_in_inner_block_and_function():
    assert lines("""\
        let x = "outer"
        if true {
          let x = "inner"
          print(x)
          if true { let x = "innermost"; print(x) }
          print(x)
        }
        fn f(x) { return x }
        fn g() { let x = "in g"; return x }
        print(x, f("param"), g(), x)
        """) == ["inner", "innermost", "inner", "outer param in g outer"]


def test_assignment_in_inner_block_changes_outer_variable():
    assert lines("""\
        let total = 0
        for i in range(4) { total += i }
        if total > 0 { total = total * 10 }
        print(total)
        """) == ["60"]


def test_assignment_to_undeclared_name_is_an_error():
    err = error_of("let count = 0\nfor i in range(3) {\n  cnt = cnt + 1\n}")
    assert err.kind == "name"
    assert err.line == 3
    err = error_of("fn f() { undeclared = 1 }\nf()")
    assert err.kind == "name"
    assert "undeclared" in err.message


def test_assignment_never_declares_even_inside_functions():
    # a function cannot create a global by assigning to it
    err = error_of("fn f() { fresh = 1 }\nf()\nprint(fresh)")
    assert err.kind == "name" and err.line == 1


def test_builtins_can_be_shadowed_by_let_but_not_assigned():
    assert run("let sum = 5\nprint(sum + 1)") == "6\n"
    assert run("fn abs(x) { return 42 }\nprint(abs(-1))") == "42\n"
    err = error_of("pi = 3")
    assert err.kind == "name" and (err.line, err.column) == (1, 1)


def test_fn_hoisting_mutual_recursion_at_top_level():
    assert lines("""\
        fn is_even(n) { if n == 0 { return true }; return is_odd(n - 1) }
        fn is_odd(n) { if n == 0 { return false }; return is_even(n - 1) }
        print(is_even(10), is_odd(7), is_even(7))
        """) == ["true true false"]


def test_fn_hoisting_mutual_recursion_inside_a_function():
    assert lines("""\
        fn parity(k) {
          fn ev(n) { if n == 0 { return true }; return od(n - 1) }
          fn od(n) { if n == 0 { return false }; return ev(n - 1) }
          return ev(k)
        }
        print(parity(4), parity(5))
        """) == ["true false"]


def test_fn_hoisting_inside_a_block():
    assert lines("""\
        if true {
          fn a(n) { return b(n) + 1 }
          fn b(n) { return n * 2 }
          print(a(3))
        }
        """) == ["7"]


def test_recursion_and_lambdas_capturing_functions():
    assert lines("""\
        fn fib(n) { return n if n < 2 else fib(n - 1) + fib(n - 2) }
        let twice = fn(f) => fn(x) => f(f(x))
        print(fib(15), twice(fn(x) => x * 3)(2))
        """) == ["610 18"]


def test_parameters_shadow_globals_and_defaults_evaluate_at_definition():
    assert lines("""\
        let k = 2.0
        fn scale(x, s=k) { return s * x }
        k = 10.0
        print(scale(1.0), scale(1.0, s=k), scale(s=3.0, x=2.0))
        """) == ["2.0 10.0 6.0"]


def test_function_without_return_gives_none():
    assert lines("""\
        fn nothing() { let x = 1 }
        fn bare() { return }
        print(nothing(), bare())
        """) == ["none none"]


def test_let_destructuring():
    assert lines("""\
        let a, b = (1, "two")
        let p, q, r = (1, (2, 3), [4])
        print(a, b, p, q, r)
        """) == ['1 two 1 (2, 3) [4.]']
    err = error_of("let a, b = (1, 2, 3)")
    assert err.kind == "type"


# ===================================================================== syntax
def test_lexical_forms():
    assert lines("""\
        # a comment line
        let a = 3      # int
        let b = 3.0; let c = .5; let d = 1e-3; let e2 = 2.5E+4
        print(a, b, c, d, e2)
        let v = [1,
                 2]
        let r = {
          w: 1,
          b: 2
        }
        if a > 5 {
          print("big")
        }
        else {
          print("small")
        }
        print(sum(v), r.w + r.b, "a\\tb\\n\\"c\\" \\\\")
        """) == ["3 3.0 0.5 0.001 25000.0", "small", '3.0 3 a\tb', '"c" \\']


def test_operator_precedence():
    assert lines("""\
        print(-2 ** 2, 2 ** 3 ** 2, 2 * 3 + 4, 2 + 3 * 4, (2 + 3) * 4)
        print(not 1 == 2, 1 < 2 and 2 < 3, true or false and false)
        print(1 + 2 if false else 10, 7 - 2 - 1, 8 / 2 / 2, -3 // 2 * 2)
        """) == ["-4 512 10 14 20", "true true true", "10 4 2.0 -4"]


def test_comparisons_do_not_chain():
    err = error_of("print(1 < 2 < 3)")
    assert err.kind == "syntax"


def test_keywords_are_not_names():
    for kw in ("if", "fn", "let", "none", "in"):
        assert error_of(f"let {kw} = 1").kind == "syntax"


def test_argv_is_an_empty_tuple_when_embedded():
    assert lines("print(argv, len(argv))") == ["() 0"]


# ===================================================================== modules
def test_import_from_the_files_directory_runs_once_and_aliases():
    out = io.StringIO()
    dprog.Interpreter(stdout=out).run_file(MODULES / "main_imports.dp")
    assert out.getvalue().splitlines() == [
        "helper loaded",            # once, though imported three times (twice directly)
        "42 8 42 84",
        "true",
    ]


def test_import_relative_to_the_importing_module_not_the_main_file():
    # sub/sibling_user.dp imports inner (in sub/), which imports sibling (in sub/)
    out = io.StringIO()
    dprog.Interpreter(stdout=out).run_file(MODULES / "sub" / "sibling_user.dp")
    assert out.getvalue() == "100\n"


def test_import_from_the_stdlib():
    assert lines("""\
        import optim
        import nn as layers
        print(optim, layers)
        let opt = optim.sgd(lr=0.5)
        print(layers.mse([1.0, 2.0], [1.0, 4.0]))
        """) == ["<module optim> <module nn>", "2.0"]


def test_module_runs_once_per_interpreter(tmp_path):
    (tmp_path / "noisy.dp").write_text('print("loading")\nlet n = 1\n')
    (tmp_path / "main.dp").write_text("import noisy\nimport noisy as again\n"
                                      "print(noisy.n + again.n)\n")
    out = io.StringIO()
    interp = dprog.Interpreter(stdout=out)
    interp.run_file(tmp_path / "main.dp")
    interp.exec("import noisy", name=str(tmp_path / "more.dp"))
    assert out.getvalue() == "loading\n2\n"
    other = io.StringIO()
    dprog.Interpreter(stdout=other).run_file(tmp_path / "main.dp")   # a new interpreter
    assert other.getvalue() == "loading\n2\n"


def test_module_functions_see_their_own_globals_only(tmp_path):
    (tmp_path / "mod.dp").write_text("let value = 1\nfn get() { return value }\n")
    (tmp_path / "main.dp").write_text("let value = 2\nimport mod\nprint(mod.get(), value)\n")
    out = io.StringIO()
    dprog.Interpreter(stdout=out).run_file(tmp_path / "main.dp")
    assert out.getvalue() == "1 2\n"


def test_module_names_do_not_leak_into_the_importer():
    interp = dprog.Interpreter(stdout=io.StringIO(), allow_files=True)
    with pytest.raises(dprog.DpNameError) as info:
        interp.exec("import helper\nprint(twice(2))", name=str(MODULES / "t.dp"))
    assert info.value.line == 2


def test_alias_binds_only_the_alias(tmp_path):
    (tmp_path / "geometry.dp").write_text("fn area(r) { return 3 * r * r }\n")
    (tmp_path / "main.dp").write_text("import geometry as g\nprint(g.area(2))\nprint(geometry)\n")
    interp = dprog.Interpreter(stdout=io.StringIO())
    with pytest.raises(dprog.DpNameError) as info:
        interp.run_file(tmp_path / "main.dp")
    assert info.value.line == 3
    assert interp.rt.stdout.getvalue() == "12\n"


def test_local_module_shadows_the_stdlib(tmp_path):
    (tmp_path / "optim.dp").write_text('let who = "local"\n')
    (tmp_path / "main.dp").write_text("import optim\nprint(optim.who)\n")
    out = io.StringIO()
    dprog.Interpreter(stdout=out).run_file(tmp_path / "main.dp")
    assert out.getvalue() == "local\n"


def test_module_member_missing_is_a_name_error_with_suggestion():
    interp = dprog.Interpreter(stdout=io.StringIO(), allow_files=True)
    with pytest.raises(dprog.DpNameError) as info:
        interp.exec("import helper\nprint(helper.twise(2))", name=str(MODULES / "t.dp"))
    assert info.value.hint == "did you mean `twice`?"


def test_import_cycle_is_an_import_error():
    for start in ("import_cycle.dp", "cycle_a.dp", "self_cycle.dp"):
        interp = dprog.Interpreter(stdout=io.StringIO())
        with pytest.raises(dprog.DpImportError) as info:
            interp.run_file(MODULES / start)
        assert "cycle" in info.value.message


def test_import_cycle_via_cli_terminates():
    r = run_dp(str(MODULES / "cycle_a.dp"), timeout=60)
    assert r.returncode == 1 and "import cycle" in r.stderr


def test_failed_import_can_be_retried(tmp_path):
    (tmp_path / "flaky.dp").write_text("let x = [1, 2] + [1, 2, 3]\n")
    interp = dprog.Interpreter(stdout=io.StringIO(), allow_files=True)
    name = str(tmp_path / "main.dp")
    with pytest.raises(dprog.DpShapeError):
        interp.exec("import flaky", name=name)
    (tmp_path / "flaky.dp").write_text("let x = 5\n")
    interp.exec("import flaky\nprint(flaky.x)", name=name)
    assert interp.rt.stdout.getvalue() == "5\n"


# ==================================================================== printing
@pytest.mark.parametrize("expr, shown", [
    ("3", "3"),
    ("2.5", "2.5"),
    ("-0.5", "-0.5"),
    ("1.0", "1.0"),
    ("1e20", "1e+20"),
    ("true", "true"),
    ("false", "false"),
    ("none", "none"),
    ('"text"', "text"),
    ("(1, 2)", "(1, 2)"),
    ("(1,)", "(1,)"),
    ("()", "()"),
    ('("a", ("b", 1))', '("a", ("b", 1))'),
    ("{w: [1, 2], b: 0.5}", "{w: [1. 2.], b: 0.5}"),
    ('{s: "x", t: (none, true)}', '{s: "x", t: (none, true)}'),
    ("[1, 2, 3]", "[1. 2. 3.]"),
    ("[[1, 2], [3, 4]]", "[[1. 2.]\n [3. 4.]]"),
    ("[0.5, 1.25]", "[0.5  1.25]"),
    ("1 / 0", "inf"),
    ("-1 / 0", "-inf"),
    ("0.0 / 0.0", "nan"),
    ("inf", "inf"),
    ("fn(x) => x", "<fn <lambda>(x)>"),
])
def test_print_shows_values_in_dprog_syntax(expr, shown):
    assert run(f"print({expr})") == shown + "\n"


def test_print_separates_with_one_space_and_quotes_only_inside_containers():
    assert run('print("a", "b c", ("d",), {e: "f"})') == 'a b c ("d",) {e: "f"}\n'
    assert run("print()") == "\n"
    assert run('print(str("s"), str(("s", 1)), str(1.5), str([1, 2]))') == \
        's ("s", 1) 1.5 [1. 2.]\n'


def test_print_inside_differentiated_function_shows_plain_values():
    assert lines("""\
        fn f(x) { print("x =", x, "x*2 =", x * 2, (x,)); return x * x }
        let g = grad(f)(3.0)
        let d = derivative(f)(2.0)
        print(g, d)
        """) == ["x = 3.0 x*2 = 6.0 (3.0,)", "x = 2.0 x*2 = 4.0 (2.0,)", "6.0 4.0"]


# ============================================================ integers, floats
def test_integer_and_float_arithmetic_follows_python():
    assert lines("""\
        print(7 / 2, 6 / 3, 7 // 2, -7 // 2, 7 % 3, -7 % 3, 7.5 // 2, -7.5 % 2)
        print(2 ** 10, 2 ** -1, 2 ** 0.5, 2 ** 100)
        print(1 + 2, 1 + 2.0, 3 * 1.0, 10 - 10, true + 1)
        print(int(3.9), int(-3.9), int("42"), float(3), float("2.5"), float([4]))
        print(3 == 3.0, 1 != 1.0, 0.1 + 0.2 == 0.3)
        """) == [
        "3.5 2.0 3 -4 1 2 3.0 0.5",
        "1024 0.5 1.4142135623730951 1267650600228229401496703205376",
        "3 3.0 3.0 0 2",
        "3 -3 42 3.0 2.5 4.0",
        "true false false",
    ]


def test_division_by_zero():
    assert run("print(1 / 0, 1.0 / 0.0, -1 / 0.0, 1.0 // 0.0)") == "inf inf -inf inf\n"
    for src in ("print(1 // 0)", "print(5 % 0)"):
        err = error_of(src)
        assert err.kind == "value" and (err.line, err.column) == (1, 7)


def test_array_elements_are_floats_and_indices_must_be_ints():
    assert lines("""\
        let v = [1, 2, 3]
        print(v[0], v[-1], sum(v), len(v), size(zeros(2, 3)), shape(v), range(3))
        print(v[int(1.0)], [true, false])
        """) == ["1.0 3.0 6.0 3 6 (3,) range(0, 3)", "2.0 [1. 0.]"]
    err = error_of("let v = [1, 2]\nprint(v[0.0])")
    assert err.kind == "type" and "int(" in err.hint


def test_range_gives_integers():
    assert lines("""\
        let s = ()
        for i in range(2, 11, 4) { s = s + (i,) }
        for i in range(3, 0, -1) { s = s + (i,) }
        print(s, 10 / len(s))
        """) == ["(2, 6, 10, 3, 2, 1) 1.6666666666666667"]


# ===================================================================== strings
def test_string_operations():
    assert lines("""\
        let s = "dprog"
        print(s + "!", len(s), s[0], s[-1], s[1:3], "ab" < "b", "x" == "x", "x" != "y")
        print("n=" + str(3) + ", v=" + str(2.5) + ", b=" + str(true) + ", none=" + str(none))
        let chars = ()
        for c in "abc" { chars = chars + (c,) }
        print(chars)
        """) == ["dprog! 5 d g pr true true true", "n=3, v=2.5, b=true, none=none",
                 '("a", "b", "c")']


def test_strings_are_immutable():
    err = error_of('let s = "abc"\ns[0] = "x"')
    assert err.kind == "type" and err.line == 2


def test_string_plus_number_is_a_type_error_with_hint():
    err = error_of('print("loss " + 0.5)')
    assert err.kind == "type"
    assert "str(" in err.hint


def test_string_escapes():
    assert run(r'print("tab\there", "nl\nx", "q\"q", "back\\slash")') == \
        'tab\there nl\nx q"q back\\slash\n'
    assert run(r'print(("q\"", "n\n"))') == '("q\\"", "n\\n")\n'


# ================================================================= conditions
def test_conditions_take_bools_and_numbers():
    assert lines("""\
        if 1 { print("one") }
        if 0 { print("zero") } else { print("not zero") }
        if 0.5 and true { print("both") }
        print(not 0, 2 if 3 else 4, [5] and true)
        let n = 3
        while n { n -= 1 }
        print(n)
        """) == ["one", "not zero", "both", "true 2 true", "0"]


@pytest.mark.parametrize("src", [
    "if [1, 2] > 0 { }",
    "while [true, true] { }",
    "let b = [1, 2] and true",
    "let b = true and [1, 2]",
    "let b = false or [0, 1]",
    "let b = not [1, 2]",
    "let b = 1 if zeros(2, 2) else 2",
])
def test_multi_element_array_condition_is_rejected_with_any_all_hint(src):
    err = error_of(src)
    assert err.kind == "type"
    assert "any(" in err.hint and "all(" in err.hint
    assert err.line == 1 and err.column is not None


def test_one_element_array_is_a_valid_condition():
    assert run("if [2.0] > 1 { print(1) }\nif [[0]] { print(2) } else { print(3) }") == "1\n3\n"


@pytest.mark.parametrize("value", ['"text"', "none", "(1, 2)", "{a: 1}"])
def test_non_numeric_conditions_are_type_errors(value):
    err = error_of(f"if {value} {{ print(1) }}")
    assert err.kind == "type"


def test_and_or_short_circuit():
    assert lines("""\
        fn boom() { assert(false, "evaluated"); return true }
        print(false and boom(), true or boom())
        """) == ["false true"]


# ====================================================== destructuring and more
def test_for_unpacks_pairs_and_rows():
    assert lines("""\
        for a, b in ((1, 2), (3, 4)) { print(a + b) }
        for x, y in [[1, 2], [3, 4]] { print(x * y) }
        """) == ["3", "7", "2.0", "12.0"]


def test_let_unpacks_arrays_and_bare_tuples():
    assert lines("""\
        let p, q = [5, 6]
        let a, b = 1, 2
        let t = 3, 4
        print(p, q, a, b, t)
        """) == ["5.0 6.0 1 2 (3, 4)"]


def test_tuple_assignment_swaps_and_updates_elements():
    assert lines("""\
        let a = 1
        let b = 2
        a, b = b, a
        let v = zeros(2)
        let r = {w: 0}
        v[1], r.w = (7, 8)
        print(a, b, v, r)
        """) == ["2 1 [0. 7.] {w: 8}"]


def test_return_of_a_bare_tuple():
    assert lines("""\
        fn f(x) { return x, x * 2 }
        let a, b = f(3)
        print(a, b)
        """) == ["3 6"]


def test_more_compound_assignments():
    assert lines("""\
        let k = 7
        k //= 2; print(k); k **= 3; print(k); k %= 5; print(k)
        """) == ["3", "27", "2"]


def test_unpacking_counts_are_checked():
    err = error_of("let a, b = (1, 2, 3)")
    assert err.kind == "type" and "2 names got a tuple of 3" in err.message
    err = error_of("let a = 0\nlet b = 0\na, b = [1, 2, 3]")
    assert "3 rows" in err.message and err.line == 3


def test_booleans_are_numbers_in_arithmetic():
    assert lines("""\
        print(true + true, true * 3, -true)
        print(sum([1, 2, 3] > 1), ([1, 2] > 1) - ([2, 0] > 1))
        """) == ["2 3 -1", "2 [-1.  1.]"]


def test_builtins_take_required_parameters_by_keyword():
    assert lines("print(clip([-1, 2], lo=0, hi=1))") == ["[0. 1.]"]
    err = error_of("clip([1, 2], hi=1)")
    assert err.kind == "argument" and "missing argument `lo`" in err.message


def test_zero_d_arrays_are_numbers():
    assert lines("""\
        let acc = zeros(())
        acc = acc + 1.0
        acc = acc + 1.0
        print(acc == 2.0, shape(acc), ones(()) * 2.0 == 2.0)
        """) == ["true () true"]


def test_nan_propagates_through_scalar_maximum_and_relu():
    assert lines("print(maximum(nan, 1.0), minimum(1.0, nan), relu(nan), clip(nan, 0, 1))") \
        == ["nan nan nan nan"]


def test_mean_of_nothing_is_nan():
    assert lines("print(mean(zeros(0)))") == ["nan"]


def test_huge_ints_in_float_functions_are_value_errors():
    err = error_of("print(sqrt(10 ** 400))")
    assert err.kind == "value" and "too large" in err.message


def test_reductions_read_tuples_of_numbers_as_arrays():
    assert lines("""\
        let losses = ()
        for i in range(4) { losses = losses + (i * 1.5,) }
        print(sum(losses), max(losses), mean(losses), shape(((1, 2), (3, 4))), size((1, 2)))
        print(grad(fn(x) => sum((x, x * x, 3.0)))(2.0))
        """) == ["9.0 4.5 2.25 (2, 2) 2", "5.0"]
    assert error_of('sum(("a", 1))').kind == "type"


def test_strings_and_tuples_repeat_with_star():
    assert lines('print("=" * 5, 2 * "ab", (1, 2) * 2)') == ["===== abab (1, 2, 1, 2)"]
    assert error_of('print("x" * 2.5)').kind == "type"


def test_sigmoid_keeps_precision_for_very_negative_inputs():
    assert lines("print(log(sigmoid(-40.0)), grad(fn(x) => log(sigmoid(x)))(-40.0))") \
        == ["-40.0 1.0"]
    assert lines("print(log(sigmoid([-40.0]))[0] == -40.0)") == ["true"]


# ============================================================ array attributes
@pytest.mark.parametrize("expr, want", [
    ("ones(2, 3).shape", (2, 3)), ("ones(2, 3).ndim", 2), ("ones(2, 3).size", 6),
    ("ones(2, 3).T.shape", (3, 2)), ("zeros(4).T.shape", (4,)), ("(2.5).shape", ()),
    ("(2.5).size", 1), ("reshape(arange(24), (2, 3, 4)).T.shape", (4, 3, 2)),
])
def test_array_attributes_match_numpy(expr, want):
    assert dprog.Interpreter().eval(expr) == want


def test_array_transpose_attribute_is_differentiable():
    it = dprog.Interpreter()
    it.exec("fn f(a) { return sum((a @ a.T) @ a * a.T.T) }")
    a = np.arange(6.0).reshape(2, 3) / 5
    g = it.eval("grad(f)")(a)
    h = 1e-6
    num = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[i] = h
        num[i] = (it.eval("f")(a + e) - it.eval("f")(a - e)) / (2 * h)
    np.testing.assert_allclose(g, num, rtol=1e-6)


def test_array_attributes_are_read_only_and_misspellings_get_a_hint():
    it = dprog.Interpreter()
    with pytest.raises(dprog.DpTypeError, match="read-only"):
        it.exec("let x = ones(2)\nx.shape = (1, 2)")
    with pytest.raises(dprog.DpTypeError, match="no attribute `.shep`") as info:
        it.eval("ones(2).shep")
    assert "shape" in info.value.hint
