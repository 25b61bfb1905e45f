"""A small table-driven lexer + LALR(1) parser that replays what Lark computed.

`import lark` and building its parser dominate dprog's start-up after numpy, so
gen_tables.py writes Lark's lexer regexp and LALR table into _tables.py, and this
module drives them without Lark. It mirrors Lark 1.x's BasicLexer, LALR parser loop
and ParseTreeBuilder (child filtering, `?rule` inlining, maybe_placeholders Nones and
propagate_positions metas), so parser.py's tree-to-AST builder sees the same trees.
"""

from __future__ import annotations

import re

from ..core.limits import check_deadline


class Token(str):
    """A lexed token: the matched text plus its type and position (like lark.Token)."""

    __slots__ = ("column", "end_column", "end_line", "end_pos", "line", "start_pos", "type",
                 "value")

    def __new__(cls, type_, value, start_pos=None, line=None, column=None, end_line=None,
                end_column=None, end_pos=None):
        self = super().__new__(cls, value)
        self.type = type_
        self.value = value
        self.start_pos = start_pos
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column
        self.end_pos = end_pos
        return self

    @classmethod
    def new_borrow_pos(cls, type_, value, borrow):
        """A token of another type at `borrow`'s position (the post-lexer retypes `{`)."""
        return cls(type_, value, borrow.start_pos, borrow.line, borrow.column,
                   borrow.end_line, borrow.end_column, borrow.end_pos)

    def __repr__(self):
        return f"Token({self.type!r}, {self.value!r})"

    def __reduce__(self):
        return (self.__class__, (self.type, self.value, self.start_pos, self.line, self.column,
                                 self.end_line, self.end_column, self.end_pos))


class Meta:
    """Source positions of a tree; attributes appear once known, as in lark.tree.Meta."""

    empty = True


class Tree:
    """A parse-tree node: rule (or alias) name, children and position meta."""

    __slots__ = ("children", "data", "meta")

    def __init__(self, data, children):
        self.data = data
        self.children = children
        self.meta = Meta()

    def __repr__(self):
        return f"Tree({self.data!r}, {self.children!r})"


class ParseError(Exception):
    """Base of the errors below (the counterpart of lark.exceptions.UnexpectedInput)."""

    line = column = pos_in_stream = None


class UnexpectedCharacters(ParseError):
    """No terminal matches at this position."""

    def __init__(self, text, pos, line, column):
        self.pos_in_stream = pos
        self.line = line
        self.column = column
        self.char = text[pos] if pos < len(text) else ""
        super().__init__(f"No terminal matches {self.char!r} at line {line} col {column}")


class UnexpectedToken(ParseError):
    """The parser cannot take `token`; `expected` holds the terminals it could take."""

    def __init__(self, token, expected, parser=None, state_stack=None):
        self.token = token
        self.expected = expected
        self.line = token.line
        self.column = token.column
        self.pos_in_stream = token.start_pos
        self._parser = parser
        self._state_stack = state_stack
        self._accepts = None
        super().__init__(f"Unexpected token {token!r} at line {token.line}, column "
                         f"{token.column}; expected one of {sorted(expected)}")

    @property
    def accepts(self) -> set:
        """Terminals that really advance the parser (Lark's InteractiveParser.accepts)."""
        if self._accepts is None:
            self._accepts = set()
            if self._parser is not None:
                for t in self.expected:
                    if self._parser.can_shift(list(self._state_stack), t):
                        self._accepts.add(t)
        return self._accepts


class Lexer:
    """Lark's BasicLexer: first matching alternative of one regexp, keywords retyped."""

    def __init__(self, tables):
        self._match = re.compile(tables.LEXER_PATTERN, tables.LEXER_FLAGS).match
        self._ignore = frozenset(tables.IGNORE)
        self._newline_types = frozenset(tables.NEWLINE_TYPES)
        self._keywords = tables.KEYWORDS

    def lex(self, text: str):
        match = self._match
        ignore = self._ignore
        newline_types = self._newline_types
        keywords = self._keywords
        pos, line, line_start = 0, 1, 0
        end = len(text)
        count = 0
        while pos < end:
            count += 1
            if not count & 1023:  # the host's timeout covers lexing too
                check_deadline()
            m = match(text, pos)
            if m is None:
                raise UnexpectedCharacters(text, pos, line, pos - line_start + 1)
            value = m.group(0)
            type_ = m.lastgroup
            start, start_line, start_col = pos, line, pos - line_start + 1
            if type_ in newline_types:
                n = value.count("\n")
                if n:
                    line += n
                    line_start = pos + value.rindex("\n") + 1
            pos += len(value)
            if type_ in ignore:
                continue
            if type_ in keywords:
                type_ = keywords[type_].get(value, type_)
            yield Token(type_, value, start, start_line, start_col, line,
                        pos - line_start + 1, pos)


def _first_meta(children):
    """Lark's PropagatePositions._pp_get_meta: position source of the first child."""
    for c in children:
        if type(c) is Tree:
            if not c.meta.empty:
                return c.meta
        elif isinstance(c, Token):
            return c
    return None


def _propagate(res, children):
    """PropagatePositions.__call__: set res.meta from the (unfiltered) children."""
    meta = res.meta
    first = _first_meta(children)
    if first is not None:
        line = getattr(first, "container_line", first.line)
        column = getattr(first, "container_column", first.column)
        start_pos = getattr(first, "container_start_pos", first.start_pos)
        if not hasattr(meta, "line"):
            meta.line, meta.column, meta.start_pos = line, column, start_pos
            meta.empty = False
        meta.container_line, meta.container_column, meta.container_start_pos = (
            line, column, start_pos)
    last = _first_meta(reversed(children))
    if last is not None:
        end_line = getattr(last, "container_end_line", last.end_line)
        end_column = getattr(last, "container_end_column", last.end_column)
        end_pos = getattr(last, "container_end_pos", last.end_pos)
        if not hasattr(meta, "end_line"):
            meta.end_line, meta.end_column, meta.end_pos = end_line, end_column, end_pos
            meta.empty = False
        meta.container_end_line, meta.container_end_column, meta.container_end_pos = (
            end_line, end_column, end_pos)


class Parser:
    """Lexer + optional post-lexer + LALR driver over the generated tables."""

    def __init__(self, tables, postlex=None):
        self.tables = tables
        self.lexer = Lexer(tables)
        self.postlex = postlex
        self.terminals = tables.TERMINALS
        self._actions = tables.ACTIONS
        self._gotos = tables.GOTOS
        self._rules = tables.RULES
        self._start = tables.START_STATE
        self._end = tables.END_STATE

    def parse(self, text: str) -> Tree:
        tokens = self.lexer.lex(text)
        if self.postlex is not None:
            tokens = self.postlex.process(tokens)
        return self.parse_tokens(tokens)

    def parse_tokens(self, tokens) -> Tree:
        actions, gotos, rules = self._actions, self._gotos, self._rules
        states = [self._start]
        values: list = []
        token = None
        count = 0
        for token in tokens:
            count += 1
            if not count & 1023:  # the host's timeout covers parsing too
                check_deadline()
            ttype = token.type
            while True:
                try:
                    act = actions[states[-1]][ttype]
                except KeyError:
                    raise self._unexpected(token, states) from None
                if act >= 0:
                    states.append(act)
                    values.append(token)
                    break
                self._reduce(rules[~act], states, values, gotos)
        if token is not None:
            end = Token.new_borrow_pos("$END", "", token)
        else:
            end = Token("$END", "", 0, 1, 1)
        end_state = self._end
        while True:
            try:
                act = actions[states[-1]]["$END"]
            except KeyError:
                raise self._unexpected(end, states) from None
            assert act < 0
            self._reduce(rules[~act], states, values, gotos)
            if states[-1] == end_state:
                return values[-1]

    def _unexpected(self, token, states) -> UnexpectedToken:
        expected = {t for t in self._actions[states[-1]] if t.isupper()}
        return UnexpectedToken(token, expected, self, states)

    @staticmethod
    def _reduce(rule, states, values, gotos):
        name, origin, size, expand1, include, append_none = rule
        if size:
            children = values[-size:]
            del states[-size:]
            del values[-size:]
        else:
            children = []
        if include is None:
            filtered = children
        else:
            filtered = []
            for i, inline, nones in include:
                if nones:
                    filtered += [None] * nones
                if inline:
                    if filtered:
                        filtered += children[i].children
                    else:  # left recursion (`x ("," x)*`): take the list over, no copy
                        filtered = children[i].children
                else:
                    filtered.append(children[i])
            if append_none:
                filtered += [None] * append_none
        if expand1 and len(filtered) == 1:
            res = filtered[0]
        else:
            res = Tree(name, filtered)
        if type(res) is Tree:
            _propagate(res, children)
        states.append(gotos[states[-1]][origin])
        values.append(res)

    def can_shift(self, states, ttype) -> bool:
        """Whether `ttype` would be shifted from this stack (reductions need no values)."""
        actions, gotos, rules = self._actions, self._gotos, self._rules
        while True:
            act = actions[states[-1]].get(ttype)
            if act is None:
                return False
            if act >= 0:
                return True
            _name, origin, size, *_ = rules[~act]
            if size:
                del states[-size:]
            states.append(gotos[states[-1]][origin])
            if ttype == "$END" and states[-1] == self._end:
                return True
