"""Format specs (Python's format mini-language) for f-strings and `format(value, spec)`.

The parser checks a spec's shape when it reads an f-string (so a bad spec is a
syntax error with a caret); formatting checks that the spec suits the value and
that the text it asks for stays within the element limit (a width of 10**9 would
otherwise build a gigabyte string). Numbers and strings format as in Python;
arrays, tuples and records format leaf by leaf in dprog syntax (NumPy refuses a
spec on an array; printing a vector to 4 decimals is what a user wants).
"""

from __future__ import annotations

import re

from .backend import xp
from .errors import DpLimitError, DpValueError
from .values import Record, kind_of, show, strip

SPEC = re.compile(r"(?:(?P<fill>[^{}])?(?P<align>[<>=^]))?(?P<sign>[-+ ])?z?#?0?"
                  r"(?P<width>\d+)?[_,]?(?:\.(?P<precision>\d+))?(?P<type>[bcdeEfFgGnosxX%])?")
SPEC_HINT = ("a spec follows Python's format mini-language: [[fill]align][sign][0][width]"
             "[,][.precision][type], e.g. .4f, >8, +.2e, 05d, .1%")
_INT_TYPES = set("bcdoxXn")


def _shown(spec: str) -> str:
    """A spec as quoted in a message (a long one cut short)."""
    return repr(spec if len(spec) <= 40 else spec[:37] + "...")


def check_spec(spec: str) -> re.Match:
    """The parts of `spec`, or a DpValueError naming it."""
    m = SPEC.fullmatch(spec)
    if m is None:
        raise DpValueError(f"bad format spec {_shown(spec)}", None, SPEC_HINT)
    return m


def _leaf(v, spec: str, kind: str) -> str:
    t = type(v)
    if t is bool or isinstance(v, xp.bool_):
        v = int(v) if kind and kind not in "s" else show(bool(v))
    elif isinstance(v, xp.floating):
        v = float(v)
    elif v is None:
        v = "none"
    elif t not in (int, float, str):
        raise DpValueError(f"a format spec cannot format {kind_of(v)}", None,
                           "format numbers, strings, arrays, tuples or records")
    if kind in _INT_TYPES and type(v) is float:
        raise DpValueError(f"format spec {_shown(spec)} needs an integer, got the float {show(v)}",
                           None, "use .0f for a float without decimals, or int(x)")
    try:
        return format(v, spec)
    except (ValueError, TypeError, OverflowError):
        raise DpValueError(f"format spec {_shown(spec)} does not apply to {kind_of(v)}", None,
                           SPEC_HINT) from None


def _count_leaves(v) -> int:
    if type(v) is xp.ndarray:
        return max(v.size, 1)
    if type(v) is tuple:
        return sum(_count_leaves(strip(x)) for x in v) + 1
    if type(v) is Record:
        return sum(_count_leaves(strip(x)) for x in v.values()) + 1
    return 1


def _tree(v, spec: str, kind: str) -> str:
    v = strip(v)
    t = type(v)
    if t is xp.ndarray:
        if v.ndim == 0:
            return _leaf(v[()], spec, kind)
        return "[" + ", ".join(_tree(x, spec, kind) for x in v) + "]"
    if t is tuple:
        inner = ", ".join(_tree(x, spec, kind) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if t is Record:
        return "{" + ", ".join(f"{k}: {_tree(x, spec, kind)}" for k, x in v.items()) + "}"
    return _leaf(v, spec, kind)


def format_value(value, spec: str | None, max_chars: int) -> str:
    """`value` as text: as `print` shows it without a spec, else formatted by `spec`."""
    if not spec:
        return show(value)
    m = check_spec(spec)
    value = strip(value)
    digits = max(len(m["width"] or ""), len(m["precision"] or ""))
    per_leaf = max(int(m["width"] or 0), int(m["precision"] or 0)) + 32 if digits <= 18 else 0
    if digits > 18 or _count_leaves(value) * per_leaf > max_chars:
        raise DpLimitError(f"format spec {_shown(spec)} asks for more text than the limit of "
                           f"{max_chars} characters", None,
                           "use a smaller width or precision")
    return _tree(value, spec, m["type"] or "")
