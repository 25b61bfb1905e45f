"""The REPL (SPEC §9) without a real terminal.

The interactive session is driven through prompt_toolkit's pipe input with a
dummy output, so key handling (Enter, Tab, Ctrl-C, Ctrl-D, Esc Enter),
continuation lines and history are exercised exactly as on a terminal.
Meta-commands and completion are also tested on `Session` directly, and the
piped (no terminal) mode through the real `dp` command.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_dp
from dprog.host.interpreter import Interpreter
from dprog.tools.highlight import classify, highlight_line, make_lexer, tokenize, unclosed_brackets
from dprog.tools.repl import Session, history_path, needs_more

UP = "\x1b[A"
CTRL_C = "\x03"
ESC_ENTER = "\x1b\r"


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch):
    """Never touch the real ~/.dp_history."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DP_HISTORY", str(tmp_path / "dp_history"))


def make_session() -> Session:
    out, err = io.StringIO(), io.StringIO()
    s = Session(Interpreter(stdout=out, allow_files=True), stdout=out, stderr=err)
    s.time_target, s.time_budget = 0.005, 0.2  # keep :time quick in tests
    return s


@pytest.fixture
def session() -> Session:
    return make_session()


def out_of(s: Session) -> str:
    return s.out.getvalue()


def err_of(s: Session) -> str:
    return s.err.getvalue()


def drive(keys: str, session: Session | None = None, history_file: str | None = None):
    """Type `keys` into a prompt_toolkit session (Enter is "\\r"); returns (session, status)."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    s = session or make_session()
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()  # end of input acts like Ctrl-D
        status = s.run_prompt(input=pipe, output=DummyOutput(), history_file=history_file,
                              banner=False)
    return s, status


# ---------------------------------------------------------------- continuation rule
@pytest.mark.parametrize("text", [
    "fn f(x) {",
    "fn f(x) {\n  let y = x",
    "let a = (1,",
    "let a = [1,\n 2",
    "f(1",
    "let r = {",            # a record literal whose fields come on the next lines
    "let r = {\n  w: 1,",
    "print({",
    "if x > 0 {\n} else {",
    "let a = 1 + \\",       # explicit line continuation
])
def test_incomplete_input_continues(text):
    assert needs_more(text)


@pytest.mark.parametrize("text", [
    "let x = 1",
    "x + 1",
    "fn f(x) { return x }",
    "fn f(x) {\n  return x\n}",
    "let r = {\n  w: 1\n}",
    "if x { 1 }",
    "# a comment (with a bracket",
    'let s = "(["',
    "",
    "   ",
    ":help sum",
    ":time f(",
    # definite errors run at once so they are reported instead of waiting forever
    "x +",
    "let 3 = 4",
    "f(1 2",
    '"abc',
    ")",
    "let a = [1, 2)",
])
def test_complete_or_broken_input_runs(text):
    assert not needs_more(text)


# ---------------------------------------------------------------- highlighting
def test_tokenize_kinds():
    toks = [(t.kind, t.text) for t in tokenize('let x = 1.5e3 # note\nprint("a\\"b")')
            if t.kind != "ws"]
    assert toks == [("name", "let"), ("name", "x"), ("op", "="), ("number", "1.5e3"),
                    ("comment", "# note"), ("name", "print"), ("punct", "("),
                    ("string", '"a\\"b"'), ("punct", ")")]


def test_classify_keywords_constants_builtins():
    names = {"sum"}
    kinds = {t.text: classify(t, names) for t in tokenize("while true sum foo 3") if t.kind != "ws"}
    assert kinds == {"while": "keyword", "true": "constant", "sum": "builtin", "foo": "name",
                     "3": "number"}


def test_unclosed_brackets_ignores_strings_and_comments():
    assert [t.text for t in unclosed_brackets('f("(", [1, # ]\n')] == ["(", "["]
    assert unclosed_brackets("(1, 2)") == []
    assert unclosed_brackets("(]") is None
    assert unclosed_brackets('"open') is None


def test_highlight_line_styles():
    frags = highlight_line('let s = sum("x") # c', {"sum"})
    styles = {text: style for style, text in frags}
    assert styles["let"] == "class:dp.keyword"
    assert styles["sum"] == "class:dp.builtin"
    assert styles['"x"'] == "class:dp.string"
    assert styles["# c"] == "class:dp.comment"
    assert styles["s"] == ""
    assert "".join(t for _, t in frags) == 'let s = sum("x") # c'
    meta = highlight_line(":help sum", set(), first=True)
    assert meta[1] == ("class:dp.meta", ":help")


def test_prompt_toolkit_lexer():
    from prompt_toolkit.document import Document

    lexer = make_lexer(lambda: ["zeros"])
    get_line = lexer.lex_document(Document("fn f() {\n  return zeros(2) # z\n}"))
    assert ("class:dp.keyword", "fn") in get_line(0)
    assert ("class:dp.builtin", "zeros") in get_line(1)
    assert ("class:dp.number", "2") in get_line(1)
    assert get_line(7) == []


# ---------------------------------------------------------------- completion
def names(cands):
    return [c[0] for c in cands]


def test_complete_names_in_scope_keywords_and_builtins(session):
    session.handle("let alpha = 1\nfn alpine(a) { return a }")
    assert names(session.completions("alp")) == ["alpha", "alpine"]
    assert "while" in names(session.completions("x = 1; whi"))
    assert names(session.completions("linsp")) == ["linspace"]
    got = {n: d for n, _, d in session.completions("zer")}
    assert got["zeros"].startswith("zeros(")  # builtins show their signature
    assert all(start == -3 for _, start, _ in session.completions("zer"))


def test_complete_names_declared_earlier_in_the_input(session):
    before = "fn f(learning_rate, steps=3) {\n  let local_total = 0\n  learn"
    assert names(session.completions(before)) == ["learning_rate"]
    assert "local_total" in names(session.completions(before + "ing_rate + loc"))


def test_complete_module_members_and_record_fields(session, tmp_path, monkeypatch):
    (tmp_path / "mymod.dp").write_text("fn square(x) { return x * x }\nlet scale = 2\n"
                                       "let _hidden = 1\n")
    monkeypatch.chdir(tmp_path)
    assert session.handle("import mymod\nlet r = {weight: 1, bias: 2}")
    assert names(session.completions("mymod.")) == ["scale", "square"]
    assert session.completions("y = mymod.sq") == [("square", -2, "function")]
    assert names(session.completions("r.b")) == ["bias"]
    assert session.completions("nothing_here.") == []
    assert session.completions("3.") == []


def test_complete_meta_commands_and_help_names(session):
    assert names(session.completions(":t")) == [":time"]
    assert set(names(session.completions(":"))) == {":help", ":load", ":reset", ":time",
                                                   ":vars", ":quit"}
    assert "softmax" in names(session.completions(":help softm"))


def test_no_completion_inside_strings_or_comments(session):
    assert session.completions('print("zer') == []
    assert session.completions("x # zer") == []


def test_prompt_toolkit_completer_and_load_paths(session, tmp_path, monkeypatch):
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    (tmp_path / "model.dp").write_text("let m = 1\n")
    (tmp_path / "notes.txt").write_text("")
    monkeypatch.chdir(tmp_path)
    completer = session.make_prompt_session(history_file="").completer
    ev = CompleteEvent(completion_requested=True)
    got = [c.text for c in completer.get_completions(Document("lins"), ev)]
    assert got == ["linspace"]
    paths = [c.text for c in completer.get_completions(Document(":load mo"), ev)]
    assert paths == ["del.dp"]
    assert [c.text for c in completer.get_completions(Document(":load no"), ev)] == []


# ---------------------------------------------------------------- the prompt session
def test_echo_values_in_dprog_syntax_and_lets_are_silent():
    s, status = drive('let x = 2\rx * 3\r"hi"\r(1, "a")\rprint("bare")\rnone\rzeros(2)\r')
    assert status == 0
    assert out_of(s) == '6\n"hi"\n(1, "a")\nbare\n[0. 0.]\n'
    assert err_of(s) == ""


def test_multiline_function_and_record_continue_until_complete():
    keys = ("fn sq(x) {\r"
            "let y = x * x\r"
            "return y\r"
            "}\r"
            "sq(7)\r"
            "let r = {\r"
            "w: [1, 2],\r"
            "b: 0.5\r"
            "}\r"
            "r\r")
    s, _ = drive(keys)
    assert out_of(s) == "49\n{w: [1. 2.], b: 0.5}\n"
    assert err_of(s) == ""


def test_error_report_and_session_keeps_state():
    s, status = drive("let k = 5\rfn g(a) {\rreturn a + missing\r}\rg(1)\rk + 1\r")
    assert status == 0
    err = err_of(s)
    assert "error: undefined name `missing`" in err
    assert "--> <repl>:2:" in err  # the line within the input that defined g
    assert "2 | return a + missing" in err.replace("  return", "return")
    assert out_of(s) == "6\n"


def test_syntax_error_is_reported_not_continued():
    s, _ = drive("let = 3\r1 + 1\r")
    assert "error: syntax error" in err_of(s)
    assert "<repl>:1:" in err_of(s)
    assert out_of(s) == "2\n"


def test_ctrl_c_while_typing_clears_the_input():
    s, _ = drive("let cleared = 1" + CTRL_C + "fn f(x) {\rreturn x" + CTRL_C + "cleared\r")
    assert "undefined name `cleared`" in err_of(s)
    assert out_of(s) == ""


def test_escape_enter_runs_an_incomplete_input():
    s, _ = drive("fn f(x) {" + ESC_ENTER + "7\r")
    assert "unexpected end of input" in err_of(s)
    assert out_of(s) == "7\n"


def test_tab_completes_a_unique_name_and_indents_at_line_start():
    s, _ = drive("let my_long_variable = 4\rmy_lo\t + 1\rfn f() {\r\treturn 3\r}\rf()\r")
    assert out_of(s) == "5\n3\n"
    assert err_of(s) == ""


def test_ctrl_d_and_quit_exit_with_status_0():
    s, status = drive("1\r\x04")
    assert status == 0 and out_of(s) == "1\n"
    s, status = drive("undefined_thing\r:quit\r2\r")
    assert status == 0 and out_of(s) == ""  # nothing after :quit runs


def test_history_is_saved_and_recalled_across_sessions(tmp_path):
    hist = str(tmp_path / "hist")
    drive("let remembered = 42\r", history_file=hist)
    with open(hist, encoding="utf-8") as fh:
        assert "let remembered = 42" in fh.read()
    s, _ = drive(UP + "\rremembered\r", history_file=hist)  # Up recalls the last session's line
    assert out_of(s) == "42\n"


def test_history_path_follows_environment(tmp_path, monkeypatch):
    assert history_path() == str(tmp_path / "dp_history")
    monkeypatch.delenv("DP_HISTORY")
    assert history_path() == str(tmp_path / ".dp_history")


def test_unwritable_history_does_not_break_the_session(tmp_path):
    s, status = drive("1 + 1\r", history_file=str(tmp_path / "no" / "such" / "dir" / "h"))
    assert status == 0 and out_of(s) == "2\n" and err_of(s) == ""


def test_session_has_auto_suggest_from_history(session, tmp_path):
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.buffer import Buffer
    from prompt_toolkit.document import Document
    from prompt_toolkit.history import InMemoryHistory

    prompt = session.make_prompt_session(history_file=str(tmp_path / "h"))
    assert isinstance(prompt.auto_suggest, AutoSuggestFromHistory)
    hist = InMemoryHistory()
    hist.append_string("let learning_rate = 0.1")
    buf = Buffer(history=hist)
    suggestion = prompt.auto_suggest.get_suggestion(buf, Document("let lea"))
    assert suggestion is not None and suggestion.text == "rning_rate = 0.1"


# ---------------------------------------------------------------- interrupting a computation
def test_interrupt_stops_a_long_computation_and_keeps_the_session(session):
    """A KeyboardInterrupt landing in the middle of a running loop (what Ctrl-C raises)
    stops it, reports `interrupted` and keeps the session. Raised here by a host callback
    on its 200th call: deterministic, and independent of how the test process handles
    SIGINT (started in the background it inherits SIGINT ignored, and
    `_thread.interrupt_main()` then does nothing). Real SIGINT: test_repl_pty.py."""
    session.handle("let before = 1")
    calls = []

    def tick():
        calls.append(1)
        if len(calls) == 200:
            raise KeyboardInterrupt

    session.interp["tick"] = tick
    ok = session.handle("while true { tick() }")
    assert not ok
    assert len(calls) == 200
    assert "interrupted" in err_of(session)
    assert session.handle("before + 1")
    assert out_of(session) == "2\n"


def test_internal_faults_are_reported_not_raised(session, monkeypatch):
    def boom(src, name="<repl>"):
        raise ValueError("kaput")

    monkeypatch.setattr(session.interp, "exec_interactive", boom)
    assert not session.handle("1")
    assert "error: internal error: ValueError: kaput" in err_of(session)


# ---------------------------------------------------------------- meta-commands
def test_help_overview_lists_commands_and_builtins(session):
    assert session.handle(":help")
    text = out_of(session)
    for cmd in (":help", ":load FILE", ":reset", ":time EXPR", ":vars", ":quit"):
        assert cmd in text
    assert "differentiation:" in text and "grad" in text and "linspace" in text


def test_help_for_builtins_constants_and_user_functions(session):
    session.handle(":help sum")
    assert out_of(session).startswith("sum(x, axis=none, *, keepdims=false)\n  sum of the elements")
    session.handle('fn model(w, b=0.5, name="m") { return w }')
    session.handle(":help model")
    assert 'model(w, b=0.5, name="m")' in out_of(session)
    assert "user function defined at <repl>:1:1" in out_of(session)
    session.handle(":help pi")
    assert "pi = 3.14159" in out_of(session)
    session.handle(":help :time")
    assert ":time EXPR" in out_of(session)


def test_help_unknown_name_fails_with_a_suggestion(session):
    assert not session.handle(":help linspac")
    assert "error: no builtin, name or command called `linspac`" in err_of(session)
    assert "did you mean `linspace`?" in err_of(session)


def test_vars_lists_names_kinds_and_shapes(session):
    assert session.handle(":vars")
    assert "no names defined yet" in out_of(session)
    session.handle('let w = zeros((2, 3))\nlet lr = 0.1\nlet tag = "run"\n'
                   'fn f(x, k=2) { return k * x }\nlet p = {a: 1, b: 2}\nlet t = (1, 2)')
    session.handle(":vars")
    lines = out_of(session).splitlines()[1:]
    rows = {ln.split()[0]: ln for ln in lines}
    assert set(rows) == {"w", "lr", "tag", "f", "p", "t"}
    assert "array" in rows["w"] and "(2, 3)" in rows["w"]
    assert "number" in rows["lr"] and "0.1" in rows["lr"]
    assert '"run"' in rows["tag"]
    assert "function" in rows["f"] and "f(x, k=2)" in rows["f"]
    assert "record" in rows["p"] and "a, b" in rows["p"]
    assert "tuple" in rows["t"]


def test_load_reset_and_file_errors(session, tmp_path):
    good = tmp_path / "good.dp"
    good.write_text("let loaded = 3\nfn twice(x) { return 2 * x }\n")
    bad = tmp_path / "bad.dp"
    bad.write_text("let a = 1\nlet b = a + nope\n")
    assert session.handle(f":load {good}")
    assert session.handle("twice(loaded)")
    assert out_of(session) == "6\n"
    assert not session.handle(f":load {bad}")
    assert f"--> {bad}:2:" in err_of(session)
    assert not session.handle(f":load {tmp_path / 'missing.dp'}")
    assert "cannot read" in err_of(session)
    assert not session.handle(":load")
    assert "usage: :load FILE" in err_of(session)
    assert session.handle(":reset")
    assert not session.handle("loaded")
    assert "undefined name `loaded`" in err_of(session)


def test_time_prints_best_and_median(session):
    session.handle("fn f(x) { return sum(x * x) }\nlet v = ones(10)")
    assert session.handle(":time f(v)")
    line = out_of(session).strip().splitlines()[-1]
    assert "best" in line and "median per call" in line and "runs of" in line
    assert not session.handle(":time let q = 1")
    assert "`:time` takes one expression" in err_of(session)
    assert not session.handle(":time f(nope)")
    assert "undefined name `nope`" in err_of(session)


def test_unknown_and_malformed_commands(session):
    assert not session.handle(":tiem 1")
    assert "unknown command `:tiem`" in err_of(session) and ":time" in err_of(session)
    assert not session.handle(":vars x")
    assert "`:vars` takes no argument" in err_of(session)


# ---------------------------------------------------------------- plain (piped) mode
def test_run_lines_groups_multiline_statements(session):
    lines = ["fn f(x) {\n", "  return x + 1\n", "}\n", "\n", "f(1)\n", "let a = [1,\n",
             "  2]\n", "a\n", "oops\n", "f(a)\n"]
    assert session.run_lines(lines) == 1
    assert out_of(session) == "2\n[1. 2.]\n[2. 3.]\n"
    assert "undefined name `oops`" in err_of(session)


def test_run_lines_reports_an_unfinished_input_at_the_end(session):
    assert session.run_lines(["1\n", "fn f(x) {\n", "  return x\n"]) == 1
    assert "unexpected end of input" in err_of(session)


def test_piped_dp_runs_lines_without_prompts_and_fails_with_1():
    script = ('let x = 3\nx * 2\n"text"\nfn sq(a) {\n  return a * a\n}\nsq(x)\n'
              "undefined_name\nx\n:vars\n")
    r = run_dp(input=script)
    assert r.returncode == 1
    assert r.stdout == '6\n"text"\n9\n3\nsq  function  sq(a)\nx   number    3\n'
    assert "error: undefined name `undefined_name`" in r.stderr
    assert "<repl>:1:1" in r.stderr
    assert "dp>" not in r.stdout + r.stderr and "\x1b" not in r.stdout + r.stderr


def test_dash_i_runs_the_file_then_reads_lines_and_exits_0(tmp_path):
    prog = tmp_path / "prog.dp"
    prog.write_text('let base = 10\nfn add(a) { return a + base }\nprint("loaded")\n')
    r = run_dp("-i", str(prog), input="add(5)\n:help sum\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("loaded\n15\nsum(x, axis=none, *, keepdims=false)\n")
    assert r.stderr == ""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_piped_dp_stops_with_130_on_ctrl_c():
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1")
    # SIGINT's default restored in the child: a test run started in the background (nohup,
    # `&`) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt
    p = subprocess.Popen([sys.executable, "-m", "dprog"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        p.stdin.write("1\nwhile true { }\n2\n")
        p.stdin.close()
        assert p.stdout.readline() == "1\n"  # running: the loop comes next
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        out = p.stdout.read()
        err = p.stderr.read()
        assert p.wait(timeout=30) == 130
    finally:
        if p.poll() is None:
            p.kill()
    assert out == ""  # nothing after the interrupted statement runs
    assert err == "interrupted\n"
