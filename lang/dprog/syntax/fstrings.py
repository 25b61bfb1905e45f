"""Splitting the text of an f-string token into its literal pieces and its fields.

`f"step {i}: loss {l:.4f}"` holds the pieces "step ", ": loss ", "" and the fields
`i` and `l` (spec ".4f"). `{{` and `}}` are literal braces. A field's expression
ends at the first `:` (its spec follows) or `}` outside brackets; record literals,
slices and calls inside a field nest. The parser parses each field's expression
with the grammar and places it at its offset in the source.
"""

from __future__ import annotations

from typing import NamedTuple

_OPEN = {"(": ")", "[": "]", "{": "}"}


class Field(NamedTuple):
    expr: str  # the expression's text
    offset: int  # where it starts in the token's text
    spec: str | None  # the format spec after `:`, or None
    spec_offset: int


class FStringError(ValueError):
    def __init__(self, message: str, offset: int, hint: str | None = None):
        super().__init__(message)
        self.message, self.offset, self.hint = message, offset, hint


def _field_end(raw: str, i: int) -> tuple[int, int | None]:
    """From the first character of a field's expression: the index of the `}` that
    closes the field and of the `:` starting its spec (or None)."""
    stack: list[str] = []
    colon = None
    while i < len(raw) - 1:  # the last character is the closing quote
        c = raw[i]
        if c == "\\":
            raise FStringError("a backslash cannot appear inside an f-string field", i,
                               "compute the value first: `let s = ...` then `{s}`")
        if colon is None:
            if c in _OPEN:
                stack.append(_OPEN[c])
            elif stack and c == stack[-1]:
                stack.pop()
            elif not stack and c == ":":
                colon = i
            elif not stack and c == "}":
                return i, None
        elif c == "{":
            raise FStringError("fields nested in a format spec are not supported", i,
                               "build the spec as a string and call format(x, spec)")
        elif c == "}":
            return i, colon
        i += 1
    raise FStringError("f-string field `{` is never closed", i,
                       'close it with `}`; an f-string ends at its first `"`, so a field '
                       "holds no quoted string: `let s = ...` first, then `{s}`")


def split(raw: str) -> tuple[list[str], list[Field]]:
    """The literal pieces (still escaped, one more than the fields) and the fields of
    the f-string token `raw` (`f"..."`, offsets relative to its `f`)."""
    texts, fields = [], []
    piece: list[str] = []
    i = 2
    while i < len(raw) - 1:
        c = raw[i]
        if c == "\\":
            piece.append(raw[i:i + 2])
            i += 2
        elif c in "{}" and raw[i + 1] == c:
            piece.append(c)
            i += 2
        elif c == "}":
            raise FStringError("single `}` in an f-string", i, "write `}}` for a brace")
        elif c == "{":
            end, colon = _field_end(raw, i + 1)
            expr = raw[i + 1: colon if colon is not None else end]
            if not expr.strip():
                raise FStringError("empty field in an f-string", i,
                                   "put an expression in it, or write `{{` for a brace")
            spec = raw[colon + 1: end] if colon is not None else None
            texts.append("".join(piece))
            piece = []
            fields.append(Field(expr, i + 1, spec, (colon or end) + 1))
            i = end + 1
        else:
            piece.append(c)
            i += 1
    texts.append("".join(piece))
    return texts, fields
