"""Error values and the SPEC §7 report format.

Every failure a dprog program can cause is a `DpError`. The evaluator attaches
the source span of the expression that failed and, while the exception
unwinds, one stack entry per dprog frame; `DpError.report()` renders the
caret diagram that the CLI prints and `str()` returns.
"""

from __future__ import annotations


class Span:
    """A region of one source file (1-based lines and columns, end exclusive)."""

    __slots__ = ("source", "line", "column", "end_line", "end_column")

    def __init__(self, source: Source, line: int, column: int, end_line: int,
                 end_column: int):
        self.source = source
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column

    def _key(self):
        return (self.source, self.line, self.column, self.end_line, self.end_column)

    def __eq__(self, other) -> bool:
        return type(other) is Span and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Span({self.source.name!r}, {self.line}, {self.column}, {self.end_line}, "
                f"{self.end_column})")

    def location(self) -> str:
        return f"{self.source.name}:{self.line}:{self.column}"


class Source:
    """Owns the text of one program so errors can quote it and draw carets."""

    __slots__ = ("name", "text", "_lines")

    def __init__(self, name: str, text: str):
        self.name = name
        self.text = text
        self._lines: list[str] | None = None

    def line(self, n: int) -> str:
        if self._lines is None:
            self._lines = self.text.splitlines()
        if 1 <= n <= len(self._lines):
            return self._lines[n - 1]
        return ""


# kind -> (word whose presence in a message already names the kind, label to add)
_KIND_LABELS = {
    "syntax": ("syntax", "syntax error"),
    "name": ("name", "name error"),
    "type": ("type", "type error"),
    "value": ("value", "value error"),
    "shape": ("shape", "shape error"),
    "index": ("index", "index error"),
    "argument": ("argument", "argument error"),
    "differentiation": ("differentiat", "differentiation error"),
    "import": ("import", "import error"),
    "limits": ("limit", "limit exceeded"),
    "assert": ("assert", "assertion failed"),
}


class DpError(Exception):
    """Base of every error a dprog program can cause (SPEC §7)."""

    kind = "error"

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        # (span, function name) pairs, innermost first, filled while unwinding.
        self.stack: list[tuple[Span, str]] = []
        # True once the frame currently unwinding has recorded its entry.
        self.frame_noted = False

    # Location attributes for embedders (SPEC §10).
    @property
    def file(self) -> str | None:
        return self.span.source.name if self.span else None

    @property
    def line(self) -> int | None:
        return self.span.line if self.span else None

    @property
    def column(self) -> int | None:
        return self.span.column if self.span else None

    @property
    def dprog_stack(self) -> list[str]:
        """The call stack, outermost first, as `file:line:col in name` strings."""
        return [f"{s.location()} in {name}" for s, name in reversed(self.stack)]

    def headline(self) -> str:
        """The message, led by its kind ("type error: ...") unless it already names it,
        so that every report says what kind of error it is."""
        label = _KIND_LABELS.get(self.kind)
        if label is None or label[0] in self.message.lower():
            return self.message
        return f"{label[1]}: {self.message}"

    def report(self) -> str:
        lines = [f"error: {self.headline()}"]
        span = self.span
        if span is not None:
            lines.append(f"  --> {span.location()}")
            text = span.source.line(span.line)
            num = str(span.line)
            pad = " " * len(num)
            lines.append(f"{pad} |")
            start = max(span.column, 1)
            if span.end_line == span.line and span.end_column > span.column:
                width = span.end_column - span.column
            else:
                width = max(len(text.rstrip()) - start + 1, 1)
            # tabs are shown as four spaces so that the carets line up under them
            before = text[:start - 1]
            shift = before.count("\t") * 3
            width += text[start - 1:start - 1 + width].count("\t") * 3
            lines.append(f"{num} | {text.replace(chr(9), '    ')}")
            lines.append(f"{pad} | {' ' * (start - 1 + shift)}{'^' * width}")
            if self.hint:
                lines.append(f"{pad} = hint: {self.hint}")
        elif self.hint:
            lines.append(f"  = hint: {self.hint}")
        if self.stack:
            lines.append("stack (most recent call last):")
            entries = list(reversed(self.stack))
            width = max(len(s.location()) for s, _ in entries)
            if len(entries) > 40:  # deep recursion: keep both ends readable
                omitted = len(entries) - 30
                entries = entries[:15] + [None] + entries[-15:]
            for entry in entries:
                if entry is None:
                    lines.append(f"  ... {omitted} more frames ...")
                    continue
                s, name = entry
                lines.append(f"  {s.location().ljust(width)} in {name}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


class DpSyntaxError(DpError):
    kind = "syntax"


class DpNameError(DpError):
    kind = "name"


class DpTypeError(DpError):
    kind = "type"


class DpValueError(DpError):
    """A value of the right type but outside what an operation accepts."""

    kind = "value"


class DpShapeError(DpError):
    kind = "shape"


class DpIndexError(DpError):
    kind = "index"


class DpArgumentError(DpError):
    kind = "argument"


class DpDifferentiationError(DpError):
    kind = "differentiation"


class DpImportError(DpError):
    kind = "import"


class DpLimitError(DpError):
    kind = "limits"


class DpAssertionError(DpError):
    kind = "assert"


class DpHostError(DpError):
    """An exception raised by host Python code called from dprog (kept as `__cause__`)."""

    kind = "host"


class DpInternalError(DpError):
    """A fault inside dprog itself; reported like any error, flagged as a bug."""

    kind = "internal"


class DpInterrupt(DpError):
    """Ctrl-C or a host timeout stopped the program."""

    kind = "interrupted"


def frame_location(frame) -> tuple | None:
    """(span, function name) of the dprog node a Python frame is running, or None.

    A body the fast compiler emitted (compiler/pysource.py) keeps `_DPROG_LINES`
    (Python line -> span) and `_DPROG_FNAME` among its globals; a reference closure
    keeps `span` and `fname` among its variables.
    """
    lines = frame.f_globals.get("_DPROG_LINES")
    if lines is not None:
        span = lines.get(frame.f_lineno)
        return (span, frame.f_globals["_DPROG_FNAME"]) if span is not None else None
    loc = frame.f_locals
    if "span" in loc and "fname" in loc and loc["span"] is not None:
        return loc["span"], loc["fname"]
    return None


def note_frame(err: DpError, span: Span, fname: str) -> None:
    """Record where `err` passed through the current dprog frame (once per frame)."""
    if not err.frame_noted:
        if err.span is None:
            err.span = span
        err.stack.append((span, fname))
        err.frame_noted = True


def did_you_mean(name: str, candidates) -> str | None:
    """A 'did you mean' hint from the closest candidate names."""
    import difflib

    candidates = [c for c in candidates if c != name]
    same_letters = [c for c in candidates if c.lower() == name.lower()]  # None -> none
    best = same_letters or difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if best:
        return f"did you mean `{best[0]}`?"
    return None


def shown_int(n: int) -> str:
    """An integer for a message: its digits, or its size when it has hundreds of them
    (Python refuses to print ints over 4300 digits; a message should not try)."""
    if n.bit_length() < 330:  # up to 100 digits
        return str(n)
    return f"about {'-' if n < 0 else ''}10**{int(abs(n).bit_length() * 0.30103)}"
