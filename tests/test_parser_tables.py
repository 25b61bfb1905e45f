"""The pre-generated LALR tables (dprog.syntax._tables + dprog.syntax.lalr) against Lark itself.

parser.py avoids importing lark at start-up by replaying tables generated from
grammar.lark; these tests keep the tables current and check that both back ends give
identical parse trees, ASTs (with spans) and syntax errors.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from conftest import CONFORMANCE, ROOT
from dprog.core.errors import DpSyntaxError, Span
from dprog.syntax import _tables, gen_tables, lalr
from dprog.syntax import nodes as N
from dprog.syntax import parser as P

GRAMMAR_TEXT = P._GRAMMAR.read_text()


@pytest.fixture(scope="module")
def backends():
    table = P._table_parser()
    assert table is not None, "dprog/_tables.py is stale: run python -m dprog.syntax.gen_tables"
    return table, P._LarkParser()


# ------------------------------------------------------------------ (a) up to date
def test_tables_match_grammar():
    import hashlib

    assert _tables.GRAMMAR == GRAMMAR_TEXT, "run python -m dprog.syntax.gen_tables"
    assert _tables.GRAMMAR_SHA256 == hashlib.sha256(GRAMMAR_TEXT.encode()).hexdigest()


def test_tables_regenerate_identically():
    import lark

    if lark.__version__ != _tables.LARK_VERSION:
        pytest.skip(f"tables made with lark {_tables.LARK_VERSION}, have {lark.__version__}")
    expected = gen_tables.generate(GRAMMAR_TEXT)
    assert gen_tables.OUTPUT.read_text() == expected, "run python -m dprog.syntax.gen_tables"


def test_stale_tables_fall_back_to_lark(monkeypatch, tmp_path):
    changed = tmp_path / "grammar.lark"
    changed.write_text(GRAMMAR_TEXT + "\n// edited\n")
    monkeypatch.setattr(P, "_GRAMMAR", changed)
    monkeypatch.setattr(P, "_parser", None)
    assert P._table_parser() is None
    prog = P.parse("let x = {a: 1}\nprint(x.a)")
    assert isinstance(P._parser, P._LarkParser)
    assert isinstance(prog.body.stmts[0], N.Let)
    with pytest.raises(DpSyntaxError, match="unexpected `=`"):
        P.parse("let = 5")


def test_current_grammar_uses_tables(monkeypatch):
    monkeypatch.setattr(P, "_parser", None)
    P.parse("print(1)")
    assert isinstance(P._parser, lalr.Parser)


# ------------------------------------------------------------------ (c) no lark import
def test_start_up_does_not_import_lark():
    code = "import dprog.tools.cli; from dprog.syntax.parser import parse; parse('print(1)')"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                          capture_output=True, text=True, check=True)
    mods = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:")]
    assert "dprog.syntax.parser" in mods
    assert not [m for m in mods if m == "lark" or m.startswith("lark.")]


# ------------------------------------------------------------------ (b) equivalence
def _dump_tree(t):
    """Tokens and trees with every position Lark's propagate_positions sets."""
    if t is None:
        return None
    if isinstance(t, str):
        return ("tok", t.type, str(t), t.start_pos, t.line, t.column, t.end_line,
                t.end_column, t.end_pos)
    m = t.meta
    keys = ("empty", "line", "column", "start_pos", "end_line", "end_column", "end_pos")
    return (str(t.data), tuple(getattr(m, k, "-") for k in keys),
            [_dump_tree(c) for c in t.children])


def _dump_ast(x):
    if isinstance(x, Span):
        return ("span", x.line, x.column, x.end_line, x.end_column)
    if isinstance(x, N.Node):
        return (type(x).__name__, _dump_ast(x.span),
                tuple((f, _dump_ast(getattr(x, f))) for f in x._fields))
    if isinstance(x, (list, tuple)):
        return [_dump_ast(v) for v in x]
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    return (type(x).__name__, x)


def _outcome(backend, text: str):
    """Parse with one back end: ('ok', tree dump, AST dump) or ('error', ...)."""
    old = P._parser
    P._parser = backend
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # "\\q" in a string literal
            try:
                tree = backend.parse(text)
            except lalr.ParseError:
                tree = None
            try:
                prog = P.parse(text, "t.dp")
            except DpSyntaxError as e:
                return ("error", _dump_tree(tree) if tree is not None else None, e.message,
                        e.hint, _dump_ast(e.span), getattr(e, "incomplete", None))
            return ("ok", _dump_tree(tree), _dump_ast(prog))
    finally:
        P._parser = old


def _corpus() -> list[Path]:
    files = []
    for base in (CONFORMANCE, ROOT / "examples", ROOT / "stdlib", ROOT / "tests"):
        if base.is_dir():
            files += sorted(base.rglob("*.dp"))
    return files


CORPUS = _corpus()

SNIPPETS = [
    "", "\n", "\n\n\n", ";", ";;x;;", "x", "x;y;", "x\n\n\ny\n", "# only a comment",
    "x = 1  # trailing\n# another\ny = 2\n",
    # records vs blocks
    "let r = {}", "let r = {a: 1}", "let r = {a: 1, b: [1, 2],}", "r = {\n  a: 1,\n  b: 2\n}",
    "f({a: 1})", "[{}, {x: {y: 2}}]", "if {a: 1}.a { print(1) }", "if x {}", "while x { }",
    "fn f() {}", "return {}", "let g = fn() {}", "{}", "{\n}", "{a: 1}.a", "if x { {} }",
    "if x {\n  {a: 1}\n}", "fn f() { return {a: 1} }", "x = y {}", "f(x) {}",
    # `}` newline `else`
    "if a {\n  1\n}\nelse {\n  2\n}", "if a { 1 }\n\nelse if b { 2 }\nelse { 3 }",
    "if a { 1 } else if b { 2 } else { 3 }", "if a {\n}\n# c\nelse { 1 }",
    # nested lambdas with blocks inside calls
    "map(fn(x) {\n  let y = x * 2\n  return y\n}, xs)", "f(fn(a) => fn(b) => a + b)",
    "g(fn() { return fn() { 1 } })", "let h = fn(a, b=2,) => a if b else fn(c) => c",
    "f(fn(x) {\n  if x { return {k: x} }\n  return {}\n}, 3)",
    # slices, indexing, fields
    "a[1:2]", "a[:]", "a[::2]", "a[1:]", "a[:3, 1]", "a[::]", "a[1::2]", "a[:-1:]",
    "a[1, 2,]", "a.b.c = 1", "a[1][2] += 3", "a[1:2] = b", "x.y[0].z(1)(2)",
    # kwargs and calls
    "f(1, b=2, c=3,)", "f()", "f(a=1, 2)", "f(a=1, a=2)", "f(\n  1,\n  2\n)",
    "f(1, # c\n  2)",
    # operators
    "x = 1 if c else 2", "not not x", "-x ** -y", "a < b", "a == b == c", "a and b or not c",
    "1 + 2 * 3 // 4 % 5 @ 6 / 7", "x -= 1; x *= 2; x /= 3; x += 4", "f => x",
    "1.5e3 + .5 + 3. + 2E-2", "()", "(1,)", "(1, 2, 3,)", "(1)", "[]", "[1,]", "[\n1,\n2\n]",
    "(\n1\n+\n2\n)", "let a, b = f()", "import foo", "import foo as bar", "return",
    "return 1", "break; continue", "for i in range(3) { print(i) }",
    "fn f(a, b=1) {\n  return a + b\n}\nprint(f(2))",
    # strings and continuations
    '"a\\"b\\n\\t\\\\"', '"bad \\q escape"', 'x = "a" "b"', "x = 1 + \\\n  2",
    "x = 1 + \\\r\n  2", "x = 1\r\ny = 2\r\n", "\tx = 1", "print('single')",
    # syntax errors
    'print("abc', 'print("abc\n")', '"unterminated\nnext', "let = 5", "f(1, 2", "[1, 2",
    "{a: 1", "if x {", "fn f(", "x = ", "1 +", "x = = 1", "let x 5", "a b", "1 = 2",
    "f() = 3", "$", "x @@ y", "x = é", "fn f(a=1, b) {}", "fn f(a, a) {}", "{a: 1, a: 2}",
    "}", ")", "]", "else", "{", "fn f() {\n  let x = 1\n", "if x { 1 } else", "a.1",
    "f(a=)", "let x = (1, 2", "x = [\n1,\n2\n", "x = {a: }", "x = {a 1}", "while { }",
    "for in x {}", "fn (x) => x", "import", "import 1", "return return", "1 +\n2",
    "let x = 1 2", "x[", "x[1:2:3:4]", "fn f() { return }}", "a ** ** b", "not",
    "x = 1 # comment\n  +", "\\", "x = \\", "x = \\ 1",
]


@pytest.mark.parametrize("path", CORPUS, ids=[str(p.relative_to(p.parents[1])) for p in CORPUS])
def test_corpus_file_parses_identically(backends, path):
    text = path.read_text()
    table, lark = backends
    assert _outcome(table, text) == _outcome(lark, text)


@pytest.mark.parametrize("text", SNIPPETS)
def test_snippet_parses_identically(backends, text):
    table, lark = backends
    assert _outcome(table, text) == _outcome(lark, text)


def test_mutated_corpus_parses_identically(backends):
    """Random single-character edits of the corpus: mostly syntax errors of every kind."""
    table, lark = backends
    rng = random.Random(1234)
    alphabet = "(){}[],:;=+-*/.\n \"#\\abc1xé"
    texts = [p.read_text() for p in CORPUS] or SNIPPETS
    cases = 0
    for text in texts:
        if not text:
            continue
        for _ in range(4):
            i = rng.randrange(len(text))
            edit = rng.choice(("delete", "insert", "replace"))
            ch = rng.choice(alphabet)
            if edit == "delete":
                mutated = text[:i] + text[i + 1:]
            elif edit == "insert":
                mutated = text[:i] + ch + text[i:]
            else:
                mutated = text[:i] + ch + text[i + 1:]
            assert _outcome(table, mutated) == _outcome(lark, mutated), (edit, i, ch)
            cases += 1
    assert cases >= 4


def test_errors_carry_expected_terminals(backends):
    table, _ = backends
    with pytest.raises(lalr.UnexpectedToken) as info:
        table.parse("f(1, 2")
    assert info.value.token.type == "$END"
    assert {"RPAR", "COMMA"} <= info.value.expected
    assert info.value.accepts <= info.value.expected
    with pytest.raises(lalr.UnexpectedCharacters) as info:
        table.parse('x = 1\ny = "abc')
    assert (info.value.line, info.value.column, info.value.pos_in_stream) == (2, 5, 10)
