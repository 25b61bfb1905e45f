"""A Pygments lexer for dprog, registered as `dprog` through the `pygments.lexers` entry
point: notebooks (the kernel's language_info names it), `pygmentize -l dprog`, and docs
tools that highlight with Pygments (Sphinx, MkDocs) find it by that name.

It agrees with the grammar (syntax/grammar.lark) about numbers, strings, comments and
operators, and with tools/highlight.py (the REPL's colours) about what is a keyword, a
constant or a builtin; tests/test_lexer.py checks both. Pygments is imported only by
those tools, never by `dp`.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

from ..lib.builtins import BUILTIN_TABLE, CONSTANTS
from ..syntax.keywords import KEYWORDS

_CONSTANT_WORDS = ("true", "false", "none")
_PLAIN_KEYWORDS = tuple(k for k in KEYWORDS if k not in _CONSTANT_WORDS)


class DprogLexer(RegexLexer):
    """dprog source: keywords, constants, builtins, numbers, strings, comments."""

    name = "dprog"
    aliases = ["dprog", "dp"]
    filenames = ["*.dp"]
    mimetypes = ["text/x-dprog"]

    tokens = {
        "root": [
            (r"[ \t\f\r]+", Whitespace),
            (r"\n", Whitespace),
            (r"\\\r?\n", Text),  # a line continuation
            (r"#[^\n]*", Comment.Single),
            (r"^(:)([a-z]+)", bygroups(Punctuation, Keyword.Pseudo)),  # a REPL :command
            (r'"', String.Double, "string"),
            (r"(\d+\.\d*|\.\d+)([eE][-+]?\d+)?|\d+[eE][-+]?\d+", Number.Float),
            (r"\d+", Number.Integer),
            (r"(fn)(\s+)([A-Za-z_]\w*)", bygroups(Keyword, Whitespace, Name.Function)),
            (r"(import)(\s+)([A-Za-z_]\w*)", bygroups(Keyword.Namespace, Whitespace,
                                                       Name.Namespace)),
            (r"(as)(\s+)([A-Za-z_]\w*)", bygroups(Keyword.Namespace, Whitespace,
                                                   Name.Namespace)),
            (words(_CONSTANT_WORDS, suffix=r"\b"), Keyword.Constant),
            (words(("and", "or", "not", "in"), suffix=r"\b"), Operator.Word),
            (words(_PLAIN_KEYWORDS, suffix=r"\b"), Keyword),
            (words(sorted(BUILTIN_TABLE), prefix=r"(?<![\w.])", suffix=r"\b"), Name.Builtin),
            (words(sorted(CONSTANTS), prefix=r"(?<![\w.])", suffix=r"\b"),
             Name.Builtin.Pseudo),
            (r"[A-Za-z_]\w*", Name),
            (r"\*\*=?|//=?|==|!=|<=|>=|=>|[-+*/%@]=?|[<>=!]", Operator),
            (r"[()\[\]{},;:.]", Punctuation),
            (r".", Text),  # anything else: the parser will say what is wrong
        ],
        "string": [
            (r'\\.', String.Escape),
            (r'[^"\\\n]+', String.Double),
            (r'"', String.Double, "#pop"),
            (r"\n", String.Double, "#pop"),  # an unterminated string ends at the line
        ],
    }
