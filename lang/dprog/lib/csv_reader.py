"""Parsing CSV text for `read_csv`: numbers into one 2-D array, text columns apart.

Fields are split by Python's csv module (so quoted fields may hold commas), blank
lines are skipped, an empty field is a missing number (nan, as NumPy's genfromtxt
reads it). Every error names the line. The header is decided once, and a first row
that is all numbers is never taken for a header.
"""

from __future__ import annotations

import io
import math

from ..core.backend import xp
from ..core.errors import DpValueError
from ..prims import primitives as P


def _number(text: str) -> float:
    """One CSV field as a number; an empty field is a missing value (nan), as in NumPy."""
    text = text.strip()
    return math.nan if text == "" else float(text)


def _is_number(text: str) -> bool:
    try:
        _number(text)
    except ValueError:
        return False
    return True


def _rows(text: str, path: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows of `text` with their (first) line numbers."""
    import csv  # only when reading a CSV file: `dp` start-up does not pay for it

    reader = csv.reader(io.StringIO(text, newline=""))
    rows, line = [], 1
    try:
        for fields in reader:
            if fields and any(f.strip() for f in fields):
                rows.append((line, fields))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise DpValueError(f"{path}: line {reader.line_num}: {exc}", None,
                           "check the quotes on that line") from None
    return rows


def _check_ragged(rows, path: str) -> None:
    width = len(rows[0][1])
    for line, fields in rows:
        if len(fields) != width:
            raise DpValueError(f"{path}: line {line} has {len(fields)} fields, the first "
                               f"row has {width}", None,
                               "every row needs the same number of fields")
    P.check_size(len(rows) * width, "the CSV file")


def _text_columns(data, width: int) -> list[bool]:
    """Which columns hold text: those with a field that is not a number."""
    text = [False] * width
    for _, fields in data:
        for j, f in enumerate(fields):
            if not text[j] and not _is_number(f):
                text[j] = True
    return text


def _auto_header(rows, strings: bool) -> bool:
    """Whether the first row is a header: never when it is all numbers; with text
    columns, when a field of it is text where every row below is a number."""
    first = rows[0][1]
    if all(_is_number(f) for f in first):
        return False
    if not strings:
        return True
    below = _text_columns(rows[1:], len(first))
    return any(not below[j] and not _is_number(f) for j, f in enumerate(first))


def _numbers(data, columns: list[int], path: str) -> xp.ndarray:
    """The numeric columns as a 2-D array: one NumPy conversion when every field is a
    number (NumPy parses as Python's float does), else field by field (empty -> nan)."""
    whole = not data or len(columns) == len(data[0][1])
    rows = [f for _, f in data] if whole else [[f[j] for j in columns] for _, f in data]
    try:
        return xp.array(rows, dtype=xp.float64).reshape(len(data), len(columns))
    except ValueError:
        pass  # an empty field or text: field by field below, naming the line
    out = xp.empty((len(data), len(columns)))
    for i, (line, fields) in enumerate(data):
        try:
            out[i] = [_number(fields[j]) for j in columns]
        except ValueError:
            bad = next(fields[j] for j in columns if not _is_number(fields[j]))
            raise DpValueError(f"{path}: line {line} is not numeric: {bad[:40]!r}", None,
                               "read_csv reads numbers only; pass strings=true to read "
                               "text columns apart") from None
    return out


def parse_csv(text: str, path: str, header: bool | None, strings: bool):
    """The numbers of a CSV text as a 2-D array, or with `strings` a tuple
    (numbers, text columns, names of the numeric columns, names of the text columns);
    a column's name is its header field, or its position when there is no header."""
    rows = _rows(text, path)
    if rows:
        _check_ragged(rows, path)
    if header is None:
        header = bool(rows) and _auto_header(rows, strings)
    head, data = (rows[0][1], rows[1:]) if header and rows else (None, rows)
    width = len(rows[0][1]) if rows else 0
    is_text = _text_columns(data, width) if strings else [False] * width
    numeric = [j for j in range(width) if not is_text[j]]
    textual = [j for j in range(width) if is_text[j]]
    numbers = _numbers(data, numeric, path)
    if not strings:
        return numbers
    names = [f.strip() for f in head] if head is not None else list(range(width))
    columns = tuple(tuple(fields[j].strip() for _, fields in data) for j in textual)
    return numbers, columns, tuple(names[j] for j in numeric), tuple(names[j] for j in textual)
