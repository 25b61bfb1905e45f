"""The Pygments lexer (tools/pygments_lexer.py): found through its entry point, loses no
text, and agrees with the REPL's highlighter about every keyword, constant, builtin,
number, string and comment in the examples and the standard library."""

from __future__ import annotations

import pytest

from conftest import ROOT

pygments = pytest.importorskip("pygments")
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename  # noqa: E402
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String  # noqa: E402

from dprog.lib.builtins import CONSTANTS  # noqa: E402
from dprog.tools.highlight import classify, tokenize  # noqa: E402
from dprog.tools.pygments_lexer import DprogLexer  # noqa: E402

SOURCES = sorted((ROOT / "examples").glob("*.dp")) + sorted((ROOT / "stdlib").glob("*.dp"))


def _builtin_names():
    import dprog

    return frozenset(dprog.Interpreter().builtins) | frozenset(CONSTANTS)


def test_found_by_name_alias_and_file_name():
    assert isinstance(get_lexer_by_name("dprog"), DprogLexer)
    assert isinstance(get_lexer_by_name("dp"), DprogLexer)
    assert isinstance(get_lexer_for_filename("fit.dp"), DprogLexer)


def _class_of(ttype) -> str:
    if ttype in Keyword.Constant:
        return "constant"
    if ttype in Keyword or ttype in Operator.Word:
        return "keyword"
    if ttype in Name.Builtin:
        return "builtin"
    for cls, top in (("number", Number), ("string", String), ("comment", Comment)):
        if ttype in top:
            return cls
    return "other"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_lexes_every_source_like_the_repl_highlighter(path):
    text = path.read_text(encoding="utf-8")
    toks = list(DprogLexer().get_tokens_unprocessed(text))
    assert "".join(v for _, _, v in toks) == text
    assert not [v for _, t, v in toks if t in Error]
    at = {i: t for i, t, _ in toks}
    names = _builtin_names()
    prev = None
    checked = 0
    for tok in tokenize(text):
        cls = classify(tok, names)
        after_dot_or_fn = prev is not None and prev.text in (".", "fn", "import", "as")
        if tok.kind != "ws":
            prev = tok
        if cls not in ("keyword", "constant", "builtin", "number", "string", "comment"):
            continue
        if cls == "builtin" and after_dot_or_fn:
            continue  # a field or a user function that shadows a builtin: a plain name
        assert tok.offset in at, (tok, path.name)
        assert _class_of(at[tok.offset]) == cls, (tok, at[tok.offset])
        checked += 1
    assert checked > 10


@pytest.mark.parametrize("src, want", [
    ("42", [(Number.Integer, "42")]),
    ("1.5e-3", [(Number.Float, "1.5e-3")]),
    (".5", [(Number.Float, ".5")]),
    ("2e10", [(Number.Float, "2e10")]),
    ('"a\\"b"', [(String.Double, '"'), (String.Double, "a"), (String.Escape, '\\"'),
                 (String.Double, "b"), (String.Double, '"')]),
    ("fn loss(p)", [(Keyword, "fn"), (Name.Function, "loss"), (Name, "p")]),
    ("import optim as o", [(Keyword.Namespace, "import"), (Name.Namespace, "optim"),
                           (Keyword.Namespace, "as"), (Name.Namespace, "o")]),
    ("x.sum", [(Name, "x"), (Name, "sum")]),
    ("sum(x) ** 2", [(Name.Builtin, "sum"), (Name, "x"), (Operator, "**"),
                     (Number.Integer, "2")]),
    ("true and none", [(Keyword.Constant, "true"), (Operator.Word, "and"),
                       (Keyword.Constant, "none")]),
    (":help sum", [(Keyword.Pseudo, "help"), (Name.Builtin, "sum")]),
    ("x += pi # c", [(Name, "x"), (Operator, "+="), (Name.Builtin.Pseudo, "pi"),
                     (Comment.Single, "# c")]),
])
def test_tokens(src, want):
    got = [(t, v) for t, v in DprogLexer().get_tokens(src)
           if v.strip() and v not in ("(", ")", ".", ":")]
    assert got == want


def test_an_unterminated_string_ends_at_the_line():
    toks = list(DprogLexer().get_tokens('let s = "abc\nlet t = 1\n'))
    assert (Keyword, "let") in toks[toks.index((String.Double, "abc")):]
