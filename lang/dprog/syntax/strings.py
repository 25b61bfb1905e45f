"""Decoding string literals: Python's escapes, in linear time and memory.

`ast.literal_eval` built a whole Python AST for each literal, and a 10 MB
literal exhausted 3 GB (security issue 18, item 7). This decoder keeps its
meaning (Python's escapes; an unknown one such as `\\q` stays two characters)
with one regular-expression pass, and none at all for a literal without `\\`.
"""

from __future__ import annotations

import re

from ..core.lazy import lazy_module

# \N{...} escapes only (core/lazy.py)
unicodedata = lazy_module("unicodedata")

_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'",
           "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x(.{0,2})|u(.{0,4})|U(.{0,8})|N(\{[^}]*\})?|(.))",
                     re.DOTALL)


def _hex(digits: str, n: int) -> str:
    if len(digits) != n or not _HEX.issuperset(digits):
        raise ValueError("truncated \\x, \\u or \\U escape")
    code = int(digits, 16)
    if code > 0x10FFFF:
        raise ValueError("escape beyond the last Unicode character")
    return chr(code)


def _one(m: re.Match) -> str:
    octal, x, u, big_u, name, other = m.groups()
    if octal is not None:
        return chr(int(octal, 8))
    if x is not None:
        return _hex(x, 2)
    if u is not None:
        return _hex(u, 4)
    if big_u is not None:
        return _hex(big_u, 8)
    if other is None:  # \N
        if name is None:
            raise ValueError("\\N needs a {name}")
        try:
            return unicodedata.lookup(name[1:-1])
        except KeyError:
            raise ValueError(f"unknown Unicode character name {name}") from None
    return _SIMPLE.get(other, "\\" + other)


def decode_string(raw: str) -> str:
    """The value of a string literal token (with its quotes); ValueError if an escape
    is malformed (`\\x4`, `\\N{nonsense}`)."""
    body = raw[1:-1]
    if "\\" not in body:
        return body
    return _ESCAPE.sub(_one, body)
