"""A small dprog tokenizer for the REPL: syntax colours, bracket depth and completion context.

It is deliberately forgiving (an unterminated string or a stray character is
a token, not an error) because it runs on half-typed input at every key
press. The parser remains the judge of what is valid; this module only has
to agree with it about where strings, comments and brackets are.
prompt_toolkit is imported only inside `make_lexer`, so the plain (piped)
REPL and `dp -c` never load it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..syntax.keywords import KEYWORDS

_KEYWORDS = frozenset(KEYWORDS) - {"true", "false", "none"}
_CONSTANTS = frozenset({"true", "false", "none"})

_TOKEN_RE = re.compile(r"""
  (?P<ws>[ \t\r\n]+)
| (?P<comment>\#[^\n]*)
| (?P<string>"(?:[^"\\\n]|\\.)*"?)
| (?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
| (?P<name>[A-Za-z_][A-Za-z0-9_]*)
| (?P<op>\*\*=?|//=?|==|!=|<=|>=|=>|[-+*/%@]=?|[<>=!])
| (?P<punct>[()\[\]{},;:.])
| (?P<other>.)
""", re.VERBOSE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Token:
    """One lexeme: its kind, its text and where it starts (offset, 1-based line and column)."""

    kind: str
    text: str
    offset: int
    line: int
    column: int


def tokenize(text: str) -> list[Token]:
    """Split dprog source into tokens, whitespace included, never failing."""
    out: list[Token] = []
    line, line_start = 1, 0
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup or "other"
        tok_text = m.group()
        out.append(Token(kind, tok_text, m.start(), line, m.start() - line_start + 1))
        nl = tok_text.count("\n")
        if nl:
            line += nl
            line_start = m.start() + tok_text.rindex("\n") + 1
    return out


_CLOSED_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}


def is_closed_string(text: str) -> bool:
    """True for a complete string literal, False for one still open (the cursor is inside)."""
    return _CLOSED_STRING.fullmatch(text) is not None


def unclosed_brackets(text: str) -> list[Token] | None:
    """The brackets still open at the end of `text`, outermost first.

    None when the brackets cannot be balanced any more (a closer with no
    matching opener, or a string left open): more lines will not help.
    """
    stack: list[Token] = []
    for tok in tokenize(text):
        if tok.kind == "string" and not is_closed_string(tok.text):
            return None
        if tok.kind != "punct":
            continue
        if tok.text in _OPENERS:
            stack.append(tok)
        elif tok.text in _CLOSERS:
            if not stack or _OPENERS[stack[-1].text] != tok.text:
                return None
            stack.pop()
    return stack


def classify(tok: Token, builtins: Iterable[str] | frozenset[str] = frozenset()) -> str:
    """The highlighting class of a token (keyword, constant, builtin, number, ...)."""
    if tok.kind == "name":
        if tok.text in _KEYWORDS:
            return "keyword"
        if tok.text in _CONSTANTS:
            return "constant"
        if tok.text in builtins:
            return "builtin"
        return "name"
    return tok.kind


# prompt_toolkit style rules for the classes above (ANSI names follow the terminal's theme).
STYLE_RULES: dict[str, str] = {
    "prompt": "ansigreen bold",
    "prompt.cont": "ansigreen",
    "dp.keyword": "ansimagenta bold",
    "dp.constant": "ansimagenta",
    "dp.builtin": "ansicyan",
    "dp.number": "ansiyellow",
    "dp.string": "ansigreen",
    "dp.comment": "ansibrightblack italic",
    "dp.meta": "ansiblue bold",
    "dp.other": "ansired",
}


def highlight_line(line: str, builtins: Iterable[str] | frozenset[str] = frozenset(),
                   first: bool = False) -> list[tuple[str, str]]:
    """Style fragments for one line; a leading `:command` on the first line is a meta-command."""
    if first and line.lstrip().startswith(":"):
        stripped = line.lstrip()
        word = stripped.split(None, 1)[0]
        indent = line[: len(line) - len(stripped)]
        return [("", indent), ("class:dp.meta", word), ("", stripped[len(word):])]
    frags: list[tuple[str, str]] = []
    for tok in tokenize(line):
        cls = classify(tok, builtins)
        style = f"class:dp.{cls}" if cls in {"keyword", "constant", "builtin", "number", "string",
                                             "comment", "other"} else ""
        frags.append((style, tok.text))
    return frags


def make_lexer(builtin_names: Callable[[], Iterable[str]]):
    """A prompt_toolkit Lexer for dprog; `builtin_names()` gives the names to colour as builtins."""
    from prompt_toolkit.lexers import Lexer

    class DprogLexer(Lexer):
        """Colours keywords, constants, builtins, numbers, strings and comments line by line."""

        def lex_document(self, document):
            lines = document.lines
            names = frozenset(builtin_names())
            cache: dict[int, list[tuple[str, str]]] = {}

            def get_line(i: int) -> list[tuple[str, str]]:
                if i not in cache:
                    cache[i] = (highlight_line(lines[i], names, first=(i == 0))
                                if 0 <= i < len(lines) else [])
                return cache[i]

            return get_line

    return DprogLexer()
