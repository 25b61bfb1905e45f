"""Source text -> parse tree -> dprog AST (nodes.py), with readable syntax errors.

grammar.lark (Lark, LALR) is the source of truth, but `import lark` and building its
parser cost tens of milliseconds per process, so its tables are pre-generated into
_tables.py (`python -m dprog.syntax.gen_tables`) and replayed by dprog.syntax.lalr, which builds
the same trees. Whenever grammar.lark differs from the copy stored in _tables.py,
Lark itself is used, so editing the grammar never breaks anything.

A small post-lexer implements the newline rules of SPEC §1: newlines inside ( ),
[ ] and record braces are dropped, and `{` is retyped as LREC when it opens a record
literal rather than a block.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..core.errors import DpError, DpLimitError, DpSyntaxError, Source, Span
from ..core.lazy import lazy_module
from ..core.limits import check_deadline
from . import nodes as N
from .lalr import ParseError, Parser, Token, UnexpectedCharacters, UnexpectedToken
from .strings import decode_string

# f-strings' pieces and format specs, imported when a program has an f-string
# (core/lazy.py)
fstrings = lazy_module("dprog.syntax.fstrings")
formatting = lazy_module("dprog.core.formatting")

# Integer literals longer than this are refused (sys.get_int_max_str_digits' default).
_MAX_INT_DIGITS = 4300

_GRAMMAR = Path(__file__).with_name("grammar.lark")
_parser = None

# Tokens after which `{` opens a block rather than a record: they end an expression.
_EXPR_END = {"NAME", "NUMBER", "STRING", "FSTRING", "RPAR", "RSQB", "RBRACE", "TRUE", "FALSE",
             "NONE", "ELSE"}

# Human words for terminals in "expected ..." messages.
_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "FSTRING": "an f-string",
    "_NL": "a new line",
    "$END": "the end of the input",
    "LBRACE": "`{`",
    "LREC": "a record `{`",
    "CMPOP": "a comparison",
    "ADDOP": "`+` or `-`",
    "MULOP": "an operator",
    "AUGOP": "`+=`",
    "POW": "`**`",
    "ARROW": "`=>`",
}


class _PostLexer:
    """Drops bracket-internal newlines and splits `{` into block / record braces."""

    always_accept = ("_NL", "LBRACE")

    def process(self, stream):
        toks = list(stream)
        n = len(toks)
        stack: list[str] = []
        prev = None
        pending_nl = None
        for i, tok in enumerate(toks):
            t = tok.type
            if t == "_NL":
                if stack and stack[-1] != "{":
                    continue
                if pending_nl is None:
                    pending_nl = tok
                continue
            if pending_nl is not None:
                if t != "ELSE":  # allow `}` NEWLINE `else {`
                    yield pending_nl
                pending_nl = None
            if t in ("LPAR", "LSQB"):
                stack.append(t)
            elif t in ("RPAR", "RSQB", "RBRACE"):
                if stack:
                    stack.pop()
            elif t == "LBRACE":
                if self._opens_record(toks, i, n, prev):
                    tok = type(tok).new_borrow_pos("LREC", tok.value, tok)
                    stack.append("r")
                else:
                    stack.append("{")
            prev = tok.type
            yield tok
        if pending_nl is not None:
            yield pending_nl

    @staticmethod
    def _opens_record(toks, i, n, prev) -> bool:
        j = i + 1
        while j < n and toks[j].type == "_NL":
            j += 1
        if j < n and toks[j].type == "NAME":
            k = j + 1
            while k < n and toks[k].type == "_NL":
                k += 1
            return k < n and toks[k].type == "COLON"
        if j < n and toks[j].type == "RBRACE":
            return prev not in _EXPR_END
        return False


def _table_parser(grammar_text: str | None = None):
    """The pre-generated parser, or None when _tables.py is stale (or missing)."""
    if grammar_text is None:
        grammar_text = _GRAMMAR.read_text()
    try:
        from . import _tables
    except ImportError:  # pragma: no cover - tables not generated
        return None
    if _tables.GRAMMAR != grammar_text:
        return None
    return Parser(_tables, postlex=_PostLexer())


class _LarkParser:
    """Lark itself (the fallback and the reference), with errors as dprog.syntax.lalr's."""

    def __init__(self, grammar_text: str | None = None):
        from lark import Lark

        if grammar_text is None:
            grammar_text = _GRAMMAR.read_text()
        # gen_tables.LARK_OPTIONS must stay equal to these options.
        opts = {"parser": "lalr", "lexer": "basic", "postlex": _PostLexer(),
                "propagate_positions": True, "maybe_placeholders": True}
        cache_dir = os.environ.get("DPROG_CACHE_DIR")
        cache: bool | str = True
        if cache_dir:
            cache = os.path.join(cache_dir, "dprog-grammar.cache")
        try:
            self.lark = Lark(grammar_text, cache=cache, **opts)
        except OSError:  # read-only cache location
            self.lark = Lark(grammar_text, **opts)
        self.terminals = {t.name: (t.pattern.type, t.pattern.value) for t in self.lark.terminals}

    def parse(self, text: str):
        from lark.exceptions import UnexpectedCharacters as LarkChars
        from lark.exceptions import UnexpectedEOF, UnexpectedInput
        from lark.exceptions import UnexpectedToken as LarkToken

        try:
            return self.lark.parse(text)
        except LarkToken as e:
            expected = set(e.expected) | set(e.accepts or ())
            raise UnexpectedToken(e.token, expected) from None
        except LarkChars as e:
            raise UnexpectedCharacters(text, e.pos_in_stream, e.line, e.column) from None
        except UnexpectedEOF as e:  # pragma: no cover - LALR reports UnexpectedToken($END)
            end = Token("$END", "", len(text), 1, 1)
            raise UnexpectedToken(end, set(e.expected)) from None
        except UnexpectedInput as e:  # pragma: no cover - other Lark input errors
            err = ParseError(str(e))
            err.line = getattr(e, "line", 1)
            err.column = getattr(e, "column", 1)
            raise err from None


def _get_parser():
    global _parser
    if _parser is None:
        text = _GRAMMAR.read_text()
        _parser = _table_parser(text) or _LarkParser(text)
    return _parser


def _describe_terminal(name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    kind, value = _get_parser().terminals.get(name, (None, None))
    if kind == "str":
        return f"`{value}`"
    return name.lower()


# The words a reader most likely needs come first: what closes or continues the
# construct (a block's `{`, a closing bracket, a separator), then operators, which
# could continue almost any expression and say little.
_PRIORITY = ["a name", "a number", "an expression", "`{`", "`)`", "`]`", "`}`", "`,`", "`:`",
             "`=`", "`=>`", "`in`", "`else`", "a new line", "the end of the input"]
_LAST = {"`+=`", "`.`", "`(`", "`[`"}


def _order_words(words) -> list:
    return sorted(set(words), key=lambda w: (
        _PRIORITY.index(w) if w in _PRIORITY else (99 if w in _LAST else 50), w))


def _join_words(words: list) -> str:
    if len(words) > 7:
        words = words[:7] + ["..."]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _expected_words(expected) -> str:
    return _join_words(_order_words(_describe_terminal(e) for e in expected if e != "LREC"))


_EXPR_STARTERS = {"NAME", "NUMBER", "STRING", "FSTRING", "LPAR", "LSQB", "LREC", "TRUE", "FALSE",
                  "NONE", "FN", "ADDOP", "NOT"}


def _token_text(tok) -> str:
    if tok.type == "_NL":
        return "end of line"
    if tok.type == "$END":
        return "end of input"
    return f"`{tok.value}`"


def parse(text: str, name: str = "<input>", source: Source | None = None) -> N.Program:
    """Parse a whole program. Raises DpSyntaxError with a span and an 'expected' hint.
    `source`: the program `text` is part of (an f-string field, padded to its place)."""
    if text.startswith("\ufeff"):
        text = text[1:]  # a UTF-8 byte-order mark, as editors on Windows write
    source = source or Source(name, text)
    parser = _get_parser()
    try:
        tree = parser.parse(text)
    except UnexpectedToken as e:
        tok = e.token
        expected = _closers_in_context(set(e.expected) | set(e.accepts or ()), text, tok)
        if expected & _EXPR_STARTERS and len(expected & _EXPR_STARTERS) >= 4:
            expected = (expected - _EXPR_STARTERS) | {"an expression"}
            words = _expected_words_expr(expected)
        else:
            words = _expected_words(expected)
        opened = _open_brackets(text, tok)
        if tok.type == "$END":
            if opened:  # point at the bracket that is never closed, as Python does
                br, off = opened[-1]
                line, col = _offset_position(text, off)
                span = Span(source, line, col, line, col + 1)
                end_line, end_col = _end_position(text)
                err = DpSyntaxError(f"syntax error: `{br}` was never closed (unexpected end "
                                    "of input)", span,
                                    f"the input ends at {name}:{end_line}:{end_col} before it "
                                    f"is closed; expected {words}")
            else:
                line, col = _end_position(text)
                span = Span(source, line, col, line, col + 1)
                err = DpSyntaxError(f"unexpected end of input, expected {words}", span,
                                    "the statement is incomplete")
            err.incomplete = True
            raise err from None
        span = _token_span(source, tok)
        hint = f"expected {words}"
        if tok.type == "CMPOP":
            hint = "comparisons do not chain: write `a < b and b < c`"
        elif _cut_fstring(source.line(tok.line), tok.column):
            hint = ('an f-string ends at its first `"`, so a field holds no quoted string: '
                    "`let s = ...` first, then `{s}`")
        elif opened and opened[-1][0] in "([":  # blocks span lines; brackets seldom do
            line, col = _offset_position(text, opened[-1][1])
            if line < tok.line:
                hint += f"; the `{opened[-1][0]}` opened at line {line}, column {col} is " \
                        "still open"
        msg = f"syntax error: unexpected {_token_text(tok)}"
        if tok.type == "_NL" and tok.line > 0:
            # point at the end of the line, where something is missing
            line_text = source.line(tok.line)
            col = len(line_text.rstrip()) + 1
            span = Span(source, tok.line, col, tok.line, col + 1)
        err = DpSyntaxError(msg, span, hint)
        err.incomplete = False
        raise err from None
    except UnexpectedCharacters as e:
        span = Span(source, e.line, e.column, e.line, e.column + 1)
        ch = text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(text) else "?"
        hint = None
        incomplete = False
        if ch == '"':
            hint = "a string must end with `\"` on the same line"
        err = DpSyntaxError(f"syntax error: unexpected character `{ch}`", span, hint)
        err.incomplete = incomplete
        raise err from None
    except ParseError as e:  # pragma: no cover - other Lark input errors
        line = getattr(e, "line", 1) or 1
        col = getattr(e, "column", 1) or 1
        raise DpSyntaxError("syntax error", Span(source, line, col, line, col + 1)) from None
    return _Builder(source).program(tree)


_CLOSERS = {"(": "RPAR", "[": "RSQB", "{": "RBRACE"}
_FSTRING_BEFORE = re.compile(r'f"(?:\\.|[^"\\\n])*"\s*$')


def _cut_fstring(line: str, column: int | None) -> bool:
    """Whether the text before `column` ends with an f-string whose field is still open
    (a quote inside a field ended the f-string early: `f"{g("a")}"`)."""
    m = _FSTRING_BEFORE.search(line[: (column or 1) - 1])
    if m is None:
        return False
    try:
        fstrings.split(m.group().rstrip())
    except fstrings.FStringError as e:
        return "never closed" in e.message
    return False


def _closers_in_context(expected: set, text: str, tok) -> set:
    """Drop closing brackets that cannot close anything at the error.

    LALR merges states, so its expected set may offer `]` inside `( ... `;
    only the innermost open bracket's closer is really possible.
    """
    opened = _open_brackets(text, tok)
    keep = _CLOSERS[opened[-1][0]] if opened else None
    return {e for e in expected if e not in _CLOSERS.values() or e == keep}


def _open_brackets(text: str, tok) -> list[tuple[str, int]]:
    """The brackets still open before `tok`, innermost last: (bracket, offset)."""
    end = getattr(tok, "start_pos", None)
    if end is None or end < 0 or tok.type == "$END":
        end = len(text)
    stack: list[tuple[str, int]] = []
    i = 0
    while i < end:
        c = text[i]
        if c == "#":
            j = text.find("\n", i)
            i = end if j < 0 else j
            continue
        if c == '"':
            i += 1
            while i < end and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif c in "([{":
            stack.append((c, i))
        elif c in ")]}" and stack:
            stack.pop()
        i += 1
    return stack


def _offset_position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def _expected_words_expr(expected) -> str:
    rest = _order_words(_describe_terminal(e) for e in expected
                        if e != "an expression" and e != "LREC")
    return _join_words(["an expression"] + rest)


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    return len(lines), len(lines[-1]) + 1


def _token_span(source: Source, tok) -> Span:
    line = tok.line or 1
    col = tok.column or 1
    end_line = tok.end_line or line
    end_col = tok.end_column or col + 1
    return Span(source, line, col, end_line, end_col)


# ------------------------------------------------------------------ tree -> AST
_AUG = {"+=": "+", "-=": "-", "*=": "*", "/=": "/", "//=": "//", "%=": "%", "**=": "**",
        "@=": "@"}


class _Builder:
    """Turns the parse tree (Lark's or dprog.syntax.lalr's) into AST nodes, once per parse."""

    def __init__(self, source: Source):
        self.source = source
        self.count = 0

    def span(self, t) -> Span:
        meta = t.meta
        if getattr(meta, "empty", True):
            return Span(self.source, 1, 1, 1, 2)
        return Span(self.source, meta.line, meta.column, meta.end_line, meta.end_column)

    def tspan(self, tok) -> Span:
        return _token_span(self.source, tok)

    def distinct(self, name, seen: set, twice: str) -> str:
        """The text of a name token, added to `seen`; a syntax error at the token if it
        is there already (`twice`: the message, `{}` for the name)."""
        text = str(name)
        if text in seen:
            raise DpSyntaxError(twice.format(name), self.tspan(name))
        seen.add(text)
        return text

    def program(self, tree) -> N.Program:
        stmts = [self.stmt(c) for c in tree.children if c is not None]
        span = self.span(tree) if stmts else Span(self.source, 1, 1, 1, 1)
        return N.Program(span, N.Block(span, stmts))

    # statements ---------------------------------------------------------------
    def stmt(self, t):
        if isinstance(t, str):  # a token (lark's and dprog.syntax.lalr's are str subclasses)
            raise DpSyntaxError("syntax error", self.tspan(t))
        method = getattr(self, "s_" + t.data, None)
        if method is None:
            return N.ExprStmt(self.span(t), self.expr(t))
        return method(t)

    def block(self, t) -> N.Block:
        # children: LBRACE token, stmts..., (the closing brace is filtered)
        stmts = [self.stmt(c) for c in t.children[1:] if c is not None]
        return N.Block(self.span(t), stmts)

    def s_let_stmt(self, t):
        names_tree, value = t.children
        names = [N.Name(self.tspan(tok), str(tok)) for tok in names_tree.children]
        return N.Let(self.span(t), names, self.expr(value))

    def s_assign_stmt(self, t):
        target, value = t.children
        return N.Assign(self.span(t), self.target(target), self.expr(value))

    def s_augassign_stmt(self, t):
        target, op, value = t.children
        return N.AugAssign(self.span(t), self.target(target), _AUG[str(op)], self.expr(value))

    def target(self, t):
        node = self.expr(t)
        probe = node
        while isinstance(probe, (N.Index, N.Field)):
            if isinstance(probe, N.Index) and any(isinstance(s, N.Slice) for s in probe.subscripts):
                pass  # slices are allowed in update targets
            probe = probe.obj
        if not isinstance(probe, N.Name):
            raise DpSyntaxError("cannot assign to this expression", node.span,
                                "assign to a variable, `v[i] = e` or `r.field = e`")
        return node

    def s_fn_stmt(self, t):
        name, params, body = t.children
        fn = N.Lambda(self.span(t), str(name), self.params(params), self.block(body))
        return N.FnDef(self.span(t), N.Name(self.tspan(name), str(name)), fn)

    def s_if_stmt(self, t):
        cond, then, orelse = (t.children + [None])[:3]
        if orelse is not None:
            orelse = self.s_if_stmt(orelse) if orelse.data == "if_stmt" else self.block(orelse)
        return N.If(self.span(t), self.expr(cond), self.block(then), orelse)

    def s_while_stmt(self, t):
        cond, body = t.children
        return N.While(self.span(t), self.expr(cond), self.block(body))

    def s_for_stmt(self, t):
        names_tree, it, body = t.children
        toks = names_tree.children
        block = self.block(body)
        if len(toks) == 1:
            return N.For(self.span(t), N.Name(self.tspan(toks[0]), str(toks[0])),
                         self.expr(it), block)
        # `for a, b in xs { ... }` is `for item in xs { let a, b = item; ... }`
        names = [N.Name(self.tspan(tok), str(tok)) for tok in toks]
        first, last = names[0].span, names[-1].span
        span = Span(first.source, first.line, first.column, last.end_line, last.end_column)
        item = "for$item"
        unpack = N.Let(span, names, N.Name(span, item))
        block = N.Block(block.span, [unpack] + list(block.stmts))
        return N.For(self.span(t), N.Name(span, item), self.expr(it), block)

    def s_multi_assign_stmt(self, t):
        *targets, value = t.children
        nodes = [self.target(x) for x in targets]
        first, last = nodes[0].span, nodes[-1].span
        span = Span(first.source, first.line, first.column, last.end_line, last.end_column)
        return N.Assign(self.span(t), N.TupleLit(span, nodes), self.expr(value))

    def s_return_stmt(self, t):
        value = t.children[0] if t.children else None
        return N.Return(self.span(t), self.expr(value) if value is not None else None)

    def s_break_stmt(self, t):
        return N.Break(self.span(t))

    def s_continue_stmt(self, t):
        return N.Continue(self.span(t))

    def s_import_stmt(self, t):
        mod, alias = t.children
        bound = alias if alias is not None else mod
        return N.Import(self.span(t), str(mod), N.Name(self.tspan(bound), str(bound)))

    def s_expr_stmt(self, t):
        return N.ExprStmt(self.span(t), self.expr(t.children[0]))

    def params(self, t) -> list:
        out = []
        seen = set()
        for p in t.children:
            if p is None:
                continue
            name, default = p.children
            self.distinct(name, seen, "duplicate parameter `{}`")
            d = self.expr(default) if default is not None else None
            if d is None and out and out[-1].default is not None:
                raise DpSyntaxError(
                    f"parameter `{name}` without a default follows one with a default",
                    self.tspan(name), "give it a default or move it earlier")
            out.append(N.Param(self.tspan(name), str(name), d))
        return out

    # expressions --------------------------------------------------------------
    def expr(self, t):
        self.count += 1
        if not self.count & 1023:  # the host's timeout covers building the AST too
            check_deadline()
        if isinstance(t, str):  # a token
            if t.type == "NAME":
                return N.Name(self.tspan(t), str(t))
            raise DpSyntaxError(f"unexpected `{t}`", self.tspan(t))
        return getattr(self, "e_" + t.data)(t)

    def e_number(self, t):
        tok = t.children[0]
        s = str(tok)
        if any(c in s for c in ".eE"):
            value = float(s)
        elif len(s) > _MAX_INT_DIGITS:  # Python's own str -> int limit: refuse it cleanly
            raise DpLimitError(f"integer literal of {len(s)} digits (the limit is "
                               f"{_MAX_INT_DIGITS})", self.tspan(tok),
                               "write it as a float (1e5000) or compute it (10 ** 5000)")
        else:
            value = int(s)
        return N.Const(self.tspan(tok), value)

    def e_string(self, t):
        tok = t.children[0]
        raw = str(tok)
        try:
            value = decode_string(raw)
        except ValueError:
            raise DpSyntaxError("invalid escape in string", self.tspan(tok),
                                'strings support \\n \\t \\" and \\\\') from None
        return N.Const(self.tspan(tok), value)

    def e_fstring(self, t):
        tok = t.children[0]
        raw = str(tok)
        try:
            texts, fields = fstrings.split(raw)
        except fstrings.FStringError as e:
            raise DpSyntaxError(f"syntax error: {e.message}", self.at(tok, e.offset, 1),
                                e.hint) from None
        pieces = []
        for piece in texts:
            try:
                pieces.append(decode_string('"' + piece + '"'))
            except ValueError:
                raise DpSyntaxError("invalid escape in string", self.tspan(tok),
                                    'strings support \\n \\t \\" and \\\\') from None
        exprs = []
        for f in fields:
            exprs.append(self.fragment(f.expr, tok, f.offset))
            if f.spec:
                try:
                    formatting.check_spec(f.spec)
                except DpError as e:
                    raise DpSyntaxError(f"syntax error: {e.message}",
                                        self.at(tok, f.spec_offset, len(f.spec)),
                                        e.hint) from None
        return N.FString(self.tspan(tok), pieces, exprs, [f.spec for f in fields])

    def at(self, tok, offset: int, width: int) -> Span:
        """The span of `width` characters at `offset` in the one-line token `tok`."""
        col = (tok.column or 1) + offset
        return Span(self.source, tok.line or 1, col, tok.line or 1, col + max(width, 1))

    def fragment(self, text: str, tok, offset: int):
        """The expression `text` of an f-string field, parsed in place: its spans (and
        syntax errors) point into the f-string."""
        line, col = tok.line or 1, (tok.column or 1) + offset
        try:
            prog = parse("\n" * (line - 1) + " " * (col - 1) + text, self.source.name,
                         self.source)
        except DpSyntaxError as err:
            err.incomplete = False  # the f-string is closed: more lines cannot complete it
            raise
        stmts = prog.body.stmts
        if len(stmts) != 1 or type(stmts[0]) is not N.ExprStmt:
            raise DpSyntaxError("syntax error: an f-string field holds one expression",
                                self.at(tok, offset, len(text)),
                                "assign first (`let s = ...`), then use `{s}`")
        return stmts[0].expr

    def e_name(self, t):
        tok = t.children[0]
        return N.Name(self.tspan(tok), str(tok))

    def e_true(self, t):
        return N.Const(self.span(t), True)

    def e_false(self, t):
        return N.Const(self.span(t), False)

    def e_none(self, t):
        return N.Const(self.span(t), None)

    def e_tuple(self, t):
        return N.TupleLit(self.span(t), [self.expr(c) for c in t.children if c is not None])

    def e_array(self, t):
        return N.ArrayLit(self.span(t), [self.expr(c) for c in t.children if c is not None])

    def e_record(self, t):
        fields = []
        seen = set()
        for f in t.children[1:]:
            if f is None:
                continue
            name, value = f.children
            fields.append((self.distinct(name, seen, "duplicate field `{}` in record"),
                           self.expr(value)))
        return N.RecordLit(self.span(t), fields)

    def e_lambda_expr(self, t):
        params, _arrow, body = t.children
        return N.Lambda(self.span(t), "<lambda>", self.params(params), self.expr(body))

    def e_lambda_block(self, t):
        params, body = t.children
        return N.Lambda(self.span(t), "<lambda>", self.params(params), self.block(body))

    def e_if_expr(self, t):
        then, cond, orelse = t.children
        return N.IfExpr(self.span(t), self.expr(cond), self.expr(then), self.expr(orelse))

    def e_or_op(self, t):
        a, b = t.children
        return N.BoolOp(self.span(t), "or", self.expr(a), self.expr(b))

    def e_and_op(self, t):
        a, b = t.children
        return N.BoolOp(self.span(t), "and", self.expr(a), self.expr(b))

    def e_not_op(self, t):
        return N.Not(self.span(t), self.expr(t.children[0]))

    def e_binop(self, t):
        a, op, b = t.children
        return N.BinOp(self.span(t), str(op), self.expr(a), self.expr(b))

    def e_in_op(self, t):
        a, b = t.children
        return N.BinOp(self.span(t), "in", self.expr(a), self.expr(b))

    def e_not_in_op(self, t):
        a, b = t.children
        return N.BinOp(self.span(t), "not in", self.expr(a), self.expr(b))

    def e_unop(self, t):
        op, a = t.children
        return N.UnOp(self.span(t), str(op), self.expr(a))

    def e_call(self, t):
        func, args = t.children
        pos, kw = [], []
        seen = set()
        for a in args.children if args is not None else ():
            if a is None:
                continue
            if getattr(a, "data", None) == "kwarg":
                name, value = a.children
                kw.append((self.distinct(name, seen, "keyword argument `{}` given twice"),
                           self.expr(value)))
            else:
                if kw:
                    raise DpSyntaxError("positional argument after a keyword argument",
                                        self.span(a) if hasattr(a, "meta") else self.tspan(a))
                pos.append(self.expr(a))
        return N.Call(self.span(t), self.expr(func), pos, kw)

    def e_index(self, t):
        obj, subs = t.children
        items = []
        for s in subs.children:
            if s is None:
                continue
            if getattr(s, "data", None) == "slice":
                a, b, c = s.children
                items.append(N.Slice(self.span(s), *(self.expr(x) if x is not None else None
                                                      for x in (a, b, c))))
            else:
                items.append(self.expr(s))
        return N.Index(self.span(t), self.expr(obj), items)

    def e_ellipsis(self, t):  # `...` inside `x[...]`: every axis not indexed otherwise
        return N.Const(self.span(t), Ellipsis)

    def e_field(self, t):
        obj, name = t.children
        return N.Field(self.span(t), self.expr(obj), str(name))
