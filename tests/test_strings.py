"""f-strings and `format` (Python's format mini-language), the `in` operator, `time()`."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dprog


@pytest.fixture
def it():
    return dprog.Interpreter()


@pytest.mark.parametrize("value, spec", [
    ("0.123456", ".4f"), ("3", "05d"), ("12345678", ","), ("0.25", ".1%"), ("-2.5", "+.2e"),
    ("3.0", ">8"), ("42", "x"), ("1e300", "g"), ("7", "^9"), ("2.0", "*<6.1f"),
])
def test_specs_format_as_python(it, value, spec):
    want = format(eval(value), spec)
    assert it.eval(f'format({value}, "{spec}")') == want
    assert it.eval(f'f"<{{{value}:{spec}}}>"') == f"<{want}>"


def test_fstring_pieces_and_fields(it):
    it.exec("let i = 3\nlet l = 0.123456\nlet r = {w: 2}")
    assert it.eval('f"step {i}: loss {l:.4f}"') == "step 3: loss 0.1235"
    assert it.eval('f"{{x}} {i + 1:>3}|{r.w * 2}|{ {a: 1}.a }"') == "{x}   4|4|1"
    assert it.eval('f"tab\\there {true} {none} {(1, 2)}"') == "tab\there true none (1, 2)"
    assert it.eval('f""') == "" and it.eval('f"plain"') == "plain"


def test_without_a_spec_a_field_shows_as_print_does(it):
    it.exec('let s = "text"\nlet v = [1.0, 2.5]')
    assert it.eval('f"{s} {v}"') == "text " + it.eval("str(v)")


def test_arrays_tuples_records_format_leaf_by_leaf(it):
    assert it.eval('f"{[1.0, 2.5]:.2f}"') == "[1.00, 2.50]"
    assert it.eval('format([[1.0, 2.0], [3.0, 4.0]], ".0f")') == "[[1, 2], [3, 4]]"
    assert it.eval('format((1, 2.0), "+.1f")') == "(+1.0, +2.0)"
    assert it.eval('format({a: 0.5}, ".1%")') == "{a: 50.0%}"


def test_traced_values_format_as_their_values(it):
    it.exec('let seen = ""\nfn f(x) { seen = f"{x:.3f}"\n return x * x }\nlet d = grad(f)(2.0)')
    assert it["seen"] == "2.000" and it["d"] == 4.0


@pytest.mark.parametrize("src, kind, match", [
    ('f"{1:.4q}"', dprog.DpSyntaxError, "bad format spec '.4q'"),
    ('f"{1.5:d}"', dprog.DpValueError, "needs an integer"),
    ('f"{1 +}"', dprog.DpSyntaxError, "expected an expression"),
    ('f"a } b"', dprog.DpSyntaxError, "single `}`"),
    ('f"a { b"', dprog.DpSyntaxError, "never closed"),
    ('f"{}"', dprog.DpSyntaxError, "empty field"),
    ('f"{1:>{2}}"', dprog.DpSyntaxError, "nested"),
    ('f"{x}"', dprog.DpNameError, "`x`"),
    ('format(1, 5)', dprog.DpTypeError, "spec must be a string"),
    ('format(1, "zz")', dprog.DpValueError, "bad format spec"),
    ('format("a", ".2f")', dprog.DpValueError, "does not apply to a string"),
    ('format(1, "1000000000000")', dprog.DpLimitError, "limit"),
    ('format(ones(1000), "100000")', dprog.DpLimitError, "limit"),
    ('format(1, "9" * 5000)', dprog.DpLimitError, "limit"),
])
def test_bad_specs_and_fields_are_clear_errors(it, src, kind, match):
    with pytest.raises(kind, match=match) as info:
        it.eval(src)
    assert info.value.span is not None
    assert len(info.value.message) < 300


def test_a_field_error_points_into_the_fstring(it):
    with pytest.raises(dprog.DpSyntaxError) as info:
        it.exec('let a = 1\nprint(f"ok {a:.4q}")')
    assert (info.value.span.line, info.value.span.column) == (2, 15)


def test_in_for_tuples_strings_records_arrays(it):
    assert it.eval("2 in (1, 2)") is True and it.eval("3 not in (1, 2)") is True
    assert it.eval('(1, "a") in ((1, "a"), 2)') is True
    assert it.eval('"ell" in "hello"') is True and it.eval('"z" in "hello"') is False
    assert it.eval('"w" in {w: 1, b: 2}') is True and it.eval('"q" in {w: 1}') is False
    v = np.array([1.0, 3.0])
    assert it.eval("3 in [1.0, 3.0]") is (3 in v) and it.eval("2 in [1.0, 3.0]") is (2 in v)
    assert it.eval("nan in [nan]") is False  # as NumPy: nan equals nothing
    assert it.eval("1 in (1, 2) and not (1 not in (1,))") is True


@pytest.mark.parametrize("src, match", [
    ("1 in 2", "tuple, string, record or array"),
    ('1 in "ab"', "substring"),
    ("1 in {a: 1}", "field name"),
    ("[1.0] in [1.0, 2.0]", "any\\(a == b\\)"),
])
def test_in_errors(it, src, match):
    with pytest.raises(dprog.DpTypeError) as info:
        it.eval(src)
    assert info.value.span is not None
    assert match.replace("\\", "") in info.value.message + (info.value.hint or "")


def test_in_inside_a_for_header(it):
    it.exec("let n = 0\nfor x in (1, 2, 3) { if x in (2, 3) { n += 1 } }")
    assert it["n"] == 2


def test_time_is_monotonic_seconds(it):
    it.exec("let t0 = time()\nlet s = 0\nfor i in range(10000) { s += i }\nlet dt = time() - t0")
    dt = it["dt"]
    assert isinstance(dt, float) and 0 <= dt < 60 and not math.isnan(dt)


@pytest.mark.parametrize("src", ['f"{format(x, ".2f")}"', 'f"{"yes" if true else "no"}"',
                                 'f"{x"'])
def test_a_quote_inside_a_field_names_the_cause(it, src):
    it.exec("let x = 1.5")
    with pytest.raises(dprog.DpSyntaxError) as info:
        it.eval(src)
    assert "first `\"`" in info.value.hint


def test_an_ordinary_syntax_error_after_an_fstring_keeps_its_hint(it):
    with pytest.raises(dprog.DpSyntaxError) as info:
        it.eval('f"{1}" 2')
    assert "first `\"`" not in (info.value.hint or "")
