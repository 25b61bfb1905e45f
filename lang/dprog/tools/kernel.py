"""The dprog Jupyter kernel, on ipykernel's wrapper kernel (`ipykernel.kernelbase.Kernel`).

One REPL `Session` (tools/repl.py) per kernel: cells run in its interpreter, so names
persist across cells, and meta-commands (`:help`, `:vars`, `:time`) work as in the REPL.
What the notebook sees:

- output: the program's `print` goes to the kernel's stdout stream, which ipykernel
  sends to the notebook as the cell runs; stderr likewise. Both streams claim to be a
  terminal, since the notebook renders carriage returns as one does: progress bars
  draw in place.
- values: as in the REPL, each top-level expression statement shows its value; the
  last one, when nothing was printed after it, is the cell's result (`Out[n]`).
- errors: the same report as `dp` prints, sent as the cell's error (no traceback).
- figures: `show()` displays inline as image/png, and every figure still open when
  the cell ends is displayed then (matplotlib's inline backend does the same).
- Tab completion and Shift-Tab inspection are the REPL's completion and `:help`.
- interrupting sends SIGINT: the running cell stops with `interrupted`, the names stay.

Started as `python -m dprog.tools.kernel -f CONNECTION_FILE` (what `dp kernel install`
writes into the kernel spec). ipykernel is an optional dependency (`dprog[notebook]`).
"""

from __future__ import annotations

import base64
import io
import re
import sys

from ipykernel.kernelapp import IPKernelApp
from ipykernel.kernelbase import Kernel

from .. import __version__
from ..core.errors import DpError
from ..core.values import show
from ..host.interpreter import Interpreter
from ..lib.plots import show_figures, state_of
from .repl import Session, _Quit, needs_more

LANGUAGE_INFO = {
    "name": "dprog",
    "version": __version__,
    "mimetype": "text/x-dprog",
    "file_extension": ".dp",
    "pygments_lexer": "dprog",
    "codemirror_mode": "python",  # the closest mode notebook front ends ship
}



class _Stream:
    """The interpreter's stdout or stderr: the kernel's stream of that name (ipykernel
    replaces sys.stdout / sys.stderr with streams that publish to the notebook), after
    any value echoed earlier in the cell, so the output keeps the program's order."""

    def __init__(self, name: str, before) -> None:
        self.name = name
        self.before = before

    def write(self, text: str) -> int:
        self.before()
        return getattr(sys, self.name).write(text)

    def flush(self) -> None:
        getattr(sys, self.name).flush()

    def isatty(self) -> bool:
        return True  # the notebook renders `\r` like a terminal: progress bars draw in place


class KernelSession(Session):
    """The REPL session with the notebook's ways of showing values, errors and figures."""

    def __init__(self, kernel: DprogKernel) -> None:
        self.kernel = kernel
        self.pending: list = []  # the last echoed value, not yet shown
        self.error: str | None = None  # the report
        self.ename = "error"  # the error's class, as the notebook's `ename`
        interp = Interpreter(allow_files=True, max_depth=1000, max_array_elements=250_000_000,
                             stdout=_Stream("stdout", self.flush_echo),
                             stderr=_Stream("stderr", self.flush_echo))
        super().__init__(interp)

    def _adopt(self, interp: Interpreter) -> None:
        super()._adopt(interp)
        state_of(interp.rt).show_hook = self.kernel.display_figure  # (again after :reset)

    def _echo(self, value) -> None:
        self.flush_echo()
        self.pending.append(value)

    def flush_echo(self) -> None:
        """An echoed value followed by more output is shown as text, as in the REPL."""
        if self.pending:
            sys.stdout.write(show(self.pending.pop(), quote=True) + "\n")

    def write_error(self, text: str) -> None:
        self.flush_echo()
        exc = sys.exc_info()[1]  # (Session reports errors from inside its `except`)
        if self.error is None and isinstance(exc, DpError):
            self.ename = type(exc).__name__
        elif self.error is None and isinstance(exc, KeyboardInterrupt):
            self.ename = "KeyboardInterrupt"
        self.error = text if self.error is None else f"{self.error}\n{text}"


class DprogKernel(Kernel):
    """The wrapper kernel: ipykernel does the messaging, `KernelSession` runs the code."""

    implementation = "dprog"
    implementation_version = __version__
    language = "dprog"
    language_version = __version__
    language_info = LANGUAGE_INFO
    banner = f"dprog {__version__}: every program is differentiable. `:help` for help."
    _silent = False  # the running cell asked for no output

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dp = KernelSession(self)

    def set_parent(self, ident, parent, channel="shell"):
        """Also tell ipykernel's output streams which request their output belongs to
        (IPythonKernel does it through its shell, which this kernel does not have)."""
        super().set_parent(ident, parent, channel)
        if channel == "shell":
            for stream in (sys.stdout, sys.stderr):
                if hasattr(stream, "set_parent"):
                    stream.set_parent(parent)

    # ------------------------------------------------------------------ running cells
    async def do_execute(self, code, silent, store_history=True, user_expressions=None,
                         allow_stdin=False, *, cell_meta=None, cell_id=None):
        dp = self.dp
        dp.pending, dp.error, dp.ename = [], None, "error"
        self._silent = silent
        try:
            dp.handle(code)
        except _Quit:
            dp.error = DpError("`:quit` does not end a notebook's kernel", None,
                               "use the notebook's Kernel menu to restart or shut it down"
                               ).report()
        except Exception as exc:  # noqa: BLE001 - a closed stream: keep the kernel
            dp.error = f"error: {exc or type(exc).__name__}"
        finally:
            try:
                show_figures(dp.interp.rt)  # what the cell drew, inline
            except Exception as exc:  # noqa: BLE001 - a figure matplotlib cannot draw
                dp.error = dp.error or f"error: cannot draw the figure: {exc}"
        _flush_streams()
        if dp.error is not None:
            return self._error_reply(dp.ename, dp.error)
        if dp.pending and not silent:
            self.send_response(self.iopub_socket, "execute_result", {
                "execution_count": self.execution_count,
                "data": {"text/plain": show(dp.pending.pop(), quote=True)},
                "metadata": {}})
        return {"status": "ok", "execution_count": self.execution_count, "payload": [],
                "user_expressions": {}}

    def _error_reply(self, ename: str, report: str) -> dict:
        first = report.splitlines()[0] if report else ""
        content = {"ename": ename, "evalue": first.removeprefix("error: "),
                   "traceback": [report]}
        if not self._silent:
            self.send_response(self.iopub_socket, "error", content)
        return {"status": "error", "execution_count": self.execution_count, **content}

    def display_figure(self, fig) -> None:
        """Send a matplotlib figure to the notebook as a PNG."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        width, height = (int(v * 100) for v in fig.get_size_inches())
        self.dp.flush_echo()
        if self._silent:
            return
        _flush_streams()  # what was printed before the figure goes out before it
        self.send_response(self.iopub_socket, "display_data", {
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                     "text/plain": f"<figure {width}x{height}>"},
            "metadata": {"image/png": {"width": width, "height": height}}})

    # ------------------------------------------------------------------ editing help
    async def do_complete(self, code, cursor_pos):
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        found = self.dp.completions(code[:cursor_pos])
        start = cursor_pos + (found[0][1] if found else 0)
        return {"status": "ok", "matches": [text for text, _, _ in found],
                "cursor_start": start, "cursor_end": cursor_pos,
                "metadata": {"_jupyter_types_experimental": [
                    {"text": text, "start": cursor_pos + at, "end": cursor_pos,
                     "signature": doc} for text, at, doc in found]}}

    async def do_inspect(self, code, cursor_pos, detail_level=0, omit_sections=()):
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        name = name_at(code, cursor_pos)
        text = self.dp.help_for(name) if name else None
        return {"status": "ok", "found": text is not None,
                "data": {"text/plain": text} if text is not None else {}, "metadata": {}}

    async def do_is_complete(self, code):
        if needs_more(code):
            return {"status": "incomplete", "indent": "  "}
        return {"status": "complete"}


def _flush_streams() -> None:
    """Send the output ipykernel's streams still hold (they send every 0.2 s), so that
    messages sent directly afterwards (figures, the result) keep the program's order."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()


def name_at(code: str, cursor: int) -> str | None:
    """The name to inspect at the cursor: the (dotted) name under or just before it, or
    the function whose call's parentheses the cursor is in (`plot(x, |`)."""
    before = re.search(r"[A-Za-z_][\w.]*$", code[:cursor])
    after = re.match(r"\w*", code[cursor:])
    if before:
        return (before.group() + after.group()).strip(".")
    depth = 0
    for i in range(cursor - 1, -1, -1):
        ch = code[i]
        if ch in ")]}":
            depth += 1
        elif ch in "([{":
            if depth == 0:
                m = re.search(r"[A-Za-z_][\w.]*$", code[:i]) if ch == "(" else None
                return m.group() if m else None
            depth -= 1
    return None


def main() -> None:
    IPKernelApp.launch_instance(kernel_class=DprogKernel)


if __name__ == "__main__":
    main()
