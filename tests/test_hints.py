"""Hints that name what to type instead: `help(x)` and assigning an undeclared name."""

from __future__ import annotations

import pytest

import dprog


@pytest.mark.parametrize("src, hint", [
    ("help(sum)", "`:help sum`"),
    ("help(nn.mlp)", "`:help nn.mlp`"),
    ("help()", "`:help NAME`"),
    ("x = 3", "`let x = 3`"),
    ("y = [1.0, 2.0] * 2", "`let y = [1.0, 2.0] * 2`"),
    ("z = " + "1 + " * 30 + "1", "`let z = ...`"),
])
def test_the_hint_names_what_to_type(src, hint):
    with pytest.raises(dprog.DpNameError) as info:
        dprog.Interpreter().exec(src)
    assert hint in info.value.hint


def test_a_user_help_function_is_called():
    it = dprog.Interpreter()
    it.exec("fn help(x) { return x + 1 }\nlet r = help(1)")
    assert it["r"] == 2


def test_the_repl_shows_the_hint(tmp_path, monkeypatch):
    import io

    from dprog.tools.repl import Session
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DP_HISTORY", str(tmp_path / "dp_history"))
    out, err = io.StringIO(), io.StringIO()
    session = Session(dprog.Interpreter(stdout=out), stdout=out, stderr=err)
    session.handle("help(sum)")
    session.handle("w = 3")
    assert ":help sum" in err.getvalue() and "let w = 3" in err.getvalue()


def test_a_broken_fstring_field_is_not_an_incomplete_repl_input():
    with pytest.raises(dprog.DpSyntaxError) as info:
        dprog.Interpreter().exec('print(f"{1 +}")')
    assert info.value.incomplete is False
