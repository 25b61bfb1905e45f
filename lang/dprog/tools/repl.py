"""The REPL (SPEC §9): a prompt_toolkit session on a terminal, plain lines otherwise.

`Session` holds everything that does not need a terminal (running input,
echoing values, reporting errors, meta-commands, completion candidates), so
the piped mode and the tests share it with the interactive prompt.
prompt_toolkit is imported only when an interactive prompt starts, which
keeps `dp FILE` and `dp -c` fast.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import textwrap
import time
from collections.abc import Iterable

from .. import __version__
from ..compiler.units import compiler_for
from ..core.backend import xp
from ..core.errors import DpError, DpSyntaxError, did_you_mean
from ..core.values import UNSET, Function, Module, Record, kind_of, show
from ..host.interpreter import Interpreter
from ..lib.builtins import BUILTIN_TABLE, CONSTANT_DOCS
from ..runtime.functions import MISSING, Builtin, Closure
from ..syntax import nodes as N
from ..syntax.keywords import KEYWORDS
from ..syntax.parser import parse
from .highlight import STYLE_RULES, is_closed_string, make_lexer, tokenize, unclosed_brackets

HISTORY_ENV = "DP_HISTORY"
PROMPT = "dp> "
CONTINUATION = "... "
INDENT = "  "

# name -> (argument synopsis, one-line description); the order is the order of :help.
META_COMMANDS: dict[str, tuple[str, str]] = {
    "help": ("[NAME]", "this overview, or the signature and doc of a builtin or function"),
    "load": ("FILE", "run a .dp file in this session; its names stay defined"),
    "reset": ("", "forget every name and module: a fresh session"),
    "time": ("EXPR", "run an expression repeatedly; print the best and median time per call"),
    "vars": ("", "the names you defined, with their kinds and shapes"),
    "quit": ("", "leave the REPL (Ctrl-D does the same)"),
}

_DIFF_WORDS = {"yes": "differentiable", "no d": "derivative zero (as in JAX)",
               "transform": "a function transformation", "-": ""}


def history_path() -> str:
    """Where the history lives: $DP_HISTORY, else ~/.dp_history (SPEC §9)."""
    env = os.environ.get(HISTORY_ENV)
    if env:
        return os.path.expanduser(env)
    return os.path.join(os.path.expanduser("~"), ".dp_history")


def is_meta(text: str) -> bool:
    """A `:command` line (meta-commands are only recognised at the start of an input)."""
    return text.lstrip().startswith(":")


def needs_more(text: str) -> bool:
    """Should Enter continue the input on a new line rather than run it?

    The parser decides: it flags a syntax error at the end of the input as
    incomplete (an open block, bracket or string of operands). One case needs
    the brackets too: a `{` at the end of a line may open a record literal,
    which the parser cannot tell from a misplaced block until a field follows.
    """
    if not text.strip() or is_meta(text):
        return False
    try:
        parse(text + "\n", "<repl>")
    except DpSyntaxError as err:
        if getattr(err, "incomplete", False):
            return True
        open_ = unclosed_brackets(text)
        if not open_ or err.span is None:
            return False
        last = open_[-1]
        return last.text == "{" and (err.span.line, err.span.column) == (last.line, last.column)
    except Exception:  # noqa: BLE001 - a parser fault: run the input so the fault is reported
        return False
    return False


def _indent_after(before: str) -> str:
    """Indentation for a new line typed after `before`: one level deeper after an opener."""
    line = before.rsplit("\n", 1)[-1]
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    code = [t for t in tokenize(line) if t.kind not in ("ws", "comment")]
    if code and code[-1].text in ("{", "(", "["):
        indent += INDENT
    return indent


def _declared_names(text: str) -> set[str]:
    """Names that `let`, `for` and `fn` (with its parameters) declare in a piece of input."""
    toks = [t for t in tokenize(text) if t.kind not in ("ws", "comment")]
    n = len(toks)
    out: set[str] = set()
    for i, t in enumerate(toks):
        if t.kind != "name":
            continue
        if t.text in ("let", "for"):
            j = i + 1
            while j < n and toks[j].kind == "name" and toks[j].text not in KEYWORDS:
                out.add(toks[j].text)
                if j + 1 < n and toks[j + 1].text == ",":
                    j += 2
                else:
                    break
        elif t.text == "fn":
            j = i + 1
            if j < n and toks[j].kind == "name" and toks[j].text not in KEYWORDS:
                out.add(toks[j].text)
                j += 1
            if j < n and toks[j].text == "(":
                depth, prev = 0, "("
                for tk in toks[j + 1:]:
                    if tk.text in ("(", "[", "{"):
                        depth += 1
                    elif tk.text in (")", "]", "}"):
                        if depth == 0:
                            break
                        depth -= 1
                    elif depth == 0 and tk.kind == "name" and prev in ("(", ","):
                        out.add(tk.text)
                    prev = tk.text
    return out


def _fmt_seconds(t: float, encoding: str | None) -> str:
    """A duration with three significant digits and a unit, like `timeit`."""
    micro = "µs"
    try:
        micro.encode(encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        micro = "us"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, micro), (1e-9, "ns")):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


def _kind_word(v) -> str:
    """`kind_of` without its article and shape: "number", "array", "function"..."""
    return re.sub(r"^(a|an) ", "", kind_of(v)).split(" of shape")[0]


def _safe_write(stream, text: str) -> None:
    """Write, falling back to escapes when the stream's encoding cannot show a character."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        enc = getattr(stream, "encoding", None) or "ascii"
        stream.write(text.encode(enc, "backslashreplace").decode(enc, "replace"))


class _Quit(Exception):
    """Raised by `:quit` to leave the loop."""


class Session:
    """One REPL session: an interpreter plus echo, error reporting and meta-commands."""

    # :time calibrates the number of calls per run until a run takes this long (seconds),
    # then repeats runs until it has `time_repeat` of them or has spent `time_budget`.
    time_target = 0.2
    time_repeat = 5
    time_budget = 3.0

    def __init__(self, interp: Interpreter | None = None, *, check_nans: bool = False,
                 stdout=None, stderr=None, color: bool = False):
        self._stdout = stdout
        self._stderr = stderr
        self.color = color
        self.tty = False  # set when running on a real terminal
        self.stop_on_interrupt = False  # piped input: Ctrl-C ends the whole run
        self.check_nans = check_nans
        self.failed = False
        if interp is None:
            interp = Interpreter(allow_files=True, check_nans=check_nans, max_depth=1000,
                                 max_array_elements=250_000_000, max_memory=None,
                                 max_output=None)
        self._adopt(interp)

    # ------------------------------------------------------------------ output
    @property
    def out(self):
        return self._stdout if self._stdout is not None else sys.stdout

    @property
    def err(self):
        return self._stderr if self._stderr is not None else sys.stderr

    def write(self, text: str) -> None:
        _safe_write(self.out, text if text.endswith("\n") else text + "\n")

    def write_error(self, text: str) -> None:
        """Errors go to stderr, after whatever the program printed so far."""
        try:
            self.out.flush()
        except (OSError, ValueError):
            pass
        if self.color and text.startswith("error:"):
            text = "\x1b[1;31merror\x1b[0m" + text[len("error"):]
        _safe_write(self.err, text if text.endswith("\n") else text + "\n")
        try:
            self.err.flush()
        except (OSError, ValueError):
            pass

    def _interrupted(self) -> str:
        # On a terminal the tty has just echoed `^C`: start a fresh line.
        return "\ninterrupted" if self.tty else "interrupted"

    def _fail(self, message: str, hint: str | None = None) -> bool:
        self.write_error(DpError(message, None, hint).report())
        self.failed = True
        return False

    def _echo(self, value) -> None:
        self.write(show(value, quote=True))

    def _adopt(self, interp: Interpreter) -> None:
        self.interp = interp
        interp.echo_hook = self._echo

    # ------------------------------------------------------------------ running
    def handle(self, text: str) -> bool:
        """Run one complete input (statements or a meta-command); False if it failed.

        Nothing a user types reaches them as a Python traceback: dprog errors
        print their report, Ctrl-C prints `interrupted`, and an unexpected
        Python exception is reported as an internal error. The session's
        names survive all three.
        """
        if not text.strip():
            return True
        try:
            if is_meta(text):
                return self.meta(text.strip())
            self.interp.exec_interactive(text, "<repl>")
            return True
        except (_Quit, BrokenPipeError):
            raise
        except DpError as err:
            if isinstance(err.__cause__, BrokenPipeError):  # `print` into a closed pipe
                raise err.__cause__ from None
            self.write_error(err.report())
        except KeyboardInterrupt:
            if self.stop_on_interrupt:
                raise
            self.write_error(self._interrupted())
        except RecursionError:
            self.write_error(DpError("recursion too deep for the host", None,
                                     "is a recursive function missing its base case?").report())
        except Exception as exc:  # noqa: BLE001 - a bug in dprog: say so, keep the session
            self.write_error(DpError(f"internal error: {type(exc).__name__}: {exc}", None,
                                     "this is a bug in dprog; please report it").report())
        self.failed = True
        return False

    def run_lines(self, lines: Iterable[str]) -> int:
        """The REPL without a terminal: run statements as they complete, echo values.

        Returns 1 if any input failed, else 0; `:quit` stops early. Ctrl-C
        is not caught here: like a running `dp FILE`, it ends the run (130).
        """
        buf: list[str] = []
        self.stop_on_interrupt = True
        try:
            for line in lines:
                if not buf and not line.strip():
                    continue
                if not buf and is_meta(line):
                    self.handle(line)
                    continue
                buf.append(line if line.endswith("\n") else line + "\n")
                text = "".join(buf)
                if needs_more(text):
                    continue
                buf = []
                self.handle(text)
            if buf:
                self.handle("".join(buf))
        except _Quit:
            pass
        finally:
            self.stop_on_interrupt = False
        return 1 if self.failed else 0

    # ------------------------------------------------------------------ meta-commands
    def meta(self, line: str) -> bool:
        """Run a `:command [argument]` line."""
        m = re.match(r":(\S*)\s*(.*)$", line, re.DOTALL)
        name, arg = (m.group(1), m.group(2).strip()) if m else ("", "")
        if name not in META_COMMANDS:
            cands = [f":{c}" for c in META_COMMANDS]
            return self._fail(f"unknown command `:{name}`",
                              did_you_mean(f":{name}", cands) or
                              "the commands are " + ", ".join(cands))
        synopsis = META_COMMANDS[name][0]
        if not synopsis and arg:
            return self._fail(f"`:{name}` takes no argument")
        if synopsis and not synopsis.startswith("[") and not arg:
            return self._fail(f"`:{name}` needs an argument", f"usage: :{name} {synopsis}")
        return getattr(self, f"_cmd_{name}")(arg)

    def _cmd_quit(self, arg: str) -> bool:
        raise _Quit()

    def _cmd_reset(self, arg: str) -> bool:
        old = self.interp
        rt = old.rt
        self._adopt(Interpreter(max_steps=rt.max_steps, max_depth=rt.max_depth,
                                max_array_elements=rt.max_array_elements, timeout=old.timeout,
                                allow_files=rt.allow_files, check_nans=rt.check_nans,
                                stdout=rt.stdout, stderr=rt.stderr, threads=old.threads,
                                executor=old.executor, max_memory=rt.max_memory,
                                max_output=rt.max_output))
        self.write("session reset: every name and module is forgotten")
        return True

    def _cmd_load(self, arg: str) -> bool:
        path = arg
        if len(path) >= 2 and path[0] == path[-1] and path[0] in "\"'":
            path = path[1:-1]
        path = os.path.expanduser(path)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return self._fail(f"cannot read {path}: {why}")
        self.interp.exec(text, name=path)
        return True

    def _cmd_vars(self, arg: str) -> bool:
        rows = []
        for name, cell in self.interp.main.globals.items():
            v = cell.v
            if v is UNSET or name.startswith("_") or (name == "argv" and v == ()):
                continue
            rows.append((name, _kind_word(v), self._detail(v)))
        if not rows:
            self.write("no names defined yet")
            return True
        w1 = max(len(r[0]) for r in rows)
        w2 = max(len(r[1]) for r in rows)
        for name, kind, detail in sorted(rows):
            self.write(f"{name.ljust(w1)}  {kind.ljust(w2)}  {detail}".rstrip())
        return True

    def _detail(self, v) -> str:
        """The third column of :vars: a shape, a signature, a short value."""


        if isinstance(v, xp.ndarray):
            return f"shape {v.shape}"
        if isinstance(v, Function):
            return self._signature(v)
        if isinstance(v, Module):
            return f"{len(v.member_names())} members"
        if isinstance(v, Record):
            return "fields " + ", ".join(v.keys()) if len(v) else "no fields"
        if isinstance(v, tuple):
            return f"{len(v)} item{'s' if len(v) != 1 else ''}"
        s = show(v, quote=True)
        return s if len(s) <= 40 else s[:37] + "..."

    @staticmethod
    def _signature(fn) -> str:
        """`name(a, b=2)` for a user function, the table's signature for a builtin."""
        if isinstance(fn, Closure):
            parts = []
            for pname, default in zip(fn.info.param_names, fn.defaults):
                if default is MISSING:
                    parts.append(pname)
                else:
                    parts.append(f"{pname}={show(default, quote=True)}")
            return f"{fn.name}({', '.join(parts)})"
        if isinstance(fn, Builtin):
            return fn.sig
        return fn.describe()

    def _cmd_help(self, arg: str) -> bool:
        if not arg:
            self.write(self.overview())
            return True
        text = self.help_for(arg)
        if text is None:
            cands = list(self._scope_names()) + list(META_COMMANDS)
            return self._fail(f"no builtin, name or command called `{arg}`",
                              did_you_mean(arg, cands) or "`:help` lists the builtins")
        self.write(text)
        return True

    def help_for(self, name: str) -> str | None:
        """The `:help NAME` text: a user value, a builtin, a constant, a keyword or a command."""
        name = name.strip()
        if name.startswith(":") and name[1:] in META_COMMANDS:  # `:help :time`, not time()
            syn, doc = META_COMMANDS[name[1:]]
            return f"{name} {syn}".rstrip() + f"\n  {doc}"
        found, v = self._lookup(name.split("."))
        user = found and not (("." not in name) and name in self.interp.builtins
                              and v is self.interp.builtins.get(name))
        if user:
            if isinstance(v, Closure):
                lines = [self._signature(v), f"  user function defined at {v.info.span.location()}"
                         if v.info.span is not None else "  user function"]
                return "\n".join(lines)
            if isinstance(v, Builtin) and v.name in BUILTIN_TABLE:
                return self._builtin_help(BUILTIN_TABLE[v.name])
            if isinstance(v, Function):
                return f"{v.describe()}\n  a function"
            if isinstance(v, Module):
                members = v.member_names()
                body = textwrap.fill(" ".join(members), 76, initial_indent="  ",
                                     subsequent_indent="  ") if members else "  (no members)"
                return f"module {v.name}: {len(members)} members\n{body}"
            return f"{name}: {_kind_word(v)} {self._detail(v)}".rstrip()
        if name in BUILTIN_TABLE:
            return self._builtin_help(BUILTIN_TABLE[name])
        if name in CONSTANT_DOCS:
            return f"{name} = {show(self.interp.builtins.get(name), quote=True)}\n" \
                   f"  {CONSTANT_DOCS[name]}"
        if name in KEYWORDS:
            return f"`{name}` is a keyword (docs/reference.md has the syntax)"
        if name in META_COMMANDS:
            syn, doc = META_COMMANDS[name]
            return f":{name} {syn}".rstrip() + f"\n  {doc}"
        return None

    @staticmethod
    def _builtin_help(d) -> str:
        extra = _DIFF_WORDS.get(d.diff, d.diff)
        tail = f"\n  {d.category}" + (f"; {extra}" if extra else "")
        return f"{d.signature}\n  {d.doc}{tail}"

    def overview(self) -> str:
        """The `:help` text: how the REPL works, the meta-commands and the builtins."""
        lines = [
            "dprog REPL: type statements; the values of expressions are echoed.",
            "  Enter runs the input once it is complete; an open bracket or block continues",
            "  on the next line (Esc Enter runs it anyway). Tab completes names, Up/Down walk",
            "  the history, Right accepts the grey suggestion, Ctrl-C cancels the input or",
            "  interrupts a running computation, Ctrl-D leaves.",
            "",
            "commands:",
        ]
        width = max(len(f":{n} {s}") for n, (s, _) in META_COMMANDS.items())
        for n, (syn, doc) in META_COMMANDS.items():
            lines.append(f"  {f':{n} {syn}'.ljust(width)}  {doc}")
        lines += ["", "builtins (`:help NAME` for one):"]
        by_cat: dict[str, list[str]] = {}
        for d in BUILTIN_TABLE.values():
            by_cat.setdefault(d.category, []).append(d.name)
        by_cat.setdefault("constants", []).extend(CONSTANT_DOCS)
        for cat, names in by_cat.items():
            lines.append(textwrap.fill(" ".join(names), 78, initial_indent=f"  {cat}: ",
                                       subsequent_indent="    "))
        return "\n".join(lines)

    def _cmd_time(self, arg: str) -> bool:
        interp = self.interp
        prog = parse(arg, "<repl>")
        if len(prog.body.stmts) != 1 or not isinstance(prog.body.stmts[0], N.ExprStmt):
            return self._fail("`:time` takes one expression", "for example  :time f(x)")
        run = compiler_for(interp.rt)(interp.rt, interp.main, interp.builtins).compile_program(prog)
        clock = time.perf_counter

        def timed(number: int) -> float:
            t0 = clock()
            for _ in range(number):
                run()
            return clock() - t0

        started = clock()
        with interp._running():
            number, i = 1, 0
            while True:
                t = timed(number)
                if t >= self.time_target or number >= 10**8:
                    break
                i += 1
                number = (1, 2, 5)[i % 3] * 10 ** (i // 3)
            runs = [t / number]
            while len(runs) < self.time_repeat and clock() - started < self.time_budget:
                runs.append(timed(number) / number)
        enc = getattr(self.out, "encoding", None)
        self.write(f"{_fmt_seconds(min(runs), enc)} best, "
                   f"{_fmt_seconds(statistics.median(runs), enc)} median per call "
                   f"({len(runs)} run{'s' if len(runs) != 1 else ''} of {number} "
                   f"call{'s' if number != 1 else ''})")
        return True

    # ------------------------------------------------------------------ names and completion
    def _lookup(self, chain: list[str]):
        """Resolve `a.b.c` through globals, modules and records without running code."""
        if not chain or not chain[0]:
            return False, None
        cell = self.interp.main.globals.get(chain[0])
        if cell is not None and cell.v is not UNSET:
            v = cell.v
        elif chain[0] in self.interp.builtins:
            v = self.interp.builtins[chain[0]]
        else:
            return False, None
        for part in chain[1:]:
            if isinstance(v, Module):
                c = v.globals.get(part)
                if c is None or c.v is UNSET or part.startswith("_"):
                    return False, None
                v = c.v
            elif isinstance(v, Record) and part in dict(v.items()):
                v = dict(v.items())[part]
            else:
                return False, None
        return True, v

    def _scope_names(self) -> dict[str, str]:
        """Every completable name with a short description: user names, then builtins."""

        out: dict[str, str] = {}
        for name, cell in self.interp.main.globals.items():
            if cell.v is not UNSET and not name.startswith("_"):
                out[name] = _kind_word(cell.v)
        for name in self.interp.builtins:
            if name not in out:
                d = BUILTIN_TABLE.get(name)
                out[name] = d.signature if d else "constant"
        return out

    def completions(self, before: str) -> list[tuple[str, int, str]]:
        """Completion candidates for the text before the cursor.

        Each is (text, start, description) where `start` (<= 0) is where the
        replaced word begins relative to the cursor, as prompt_toolkit wants.
        """

        stripped = before.lstrip()
        if stripped.startswith(":") and "\n" not in stripped:
            m = re.fullmatch(r":(\w*)", stripped)
            if m:
                return [(f":{c}", -len(stripped), doc) for c, (_, doc) in META_COMMANDS.items()
                        if c.startswith(m.group(1))]
            m = re.fullmatch(r":help\s+([\w.]*)", stripped)
            if not m:
                return []
            before = m.group(1)
        line = before.rsplit("\n", 1)[-1]
        toks = tokenize(line)
        if toks and (toks[-1].kind == "comment" or
                     (toks[-1].kind == "string" and not is_closed_string(toks[-1].text))):
            return []
        m = re.search(r"(?<![\w.])((?:[A-Za-z_]\w*\.)+)(\w*)$", before)
        if m:
            prefix = m.group(2)
            found, v = self._lookup(m.group(1)[:-1].split("."))
            if not found:
                return []
            if isinstance(v, Module):
                members = {n: _kind_word(v.globals[n].v) for n in v.member_names()}
            elif isinstance(v, Record):
                members = {k: _kind_word(x) for k, x in v.items()}
            else:
                return []
            return [(n, -len(prefix), d) for n, d in sorted(members.items())
                    if n.startswith(prefix)]
        m = re.search(r"(?<![\w.])[A-Za-z_]\w*$", before)
        if m is None and re.search(r"[\w.]$", before):
            return []  # after a number or `expr.`: nothing sensible to offer
        prefix = m.group() if m else ""
        out: dict[str, str] = {}
        for n in sorted(_declared_names(before) - {prefix}):
            out[n] = "local"
        scope = self._scope_names()
        user = [n for n in scope if n in self.interp.main.globals]
        for n in sorted(user):
            out.setdefault(n, scope[n])
        for n in sorted(scope):
            out.setdefault(n, scope[n])
        if prefix:
            for k in KEYWORDS:
                out.setdefault(k, "keyword")
        return [(n, -len(prefix), d) for n, d in out.items() if n.startswith(prefix)]

    # ------------------------------------------------------------------ the terminal session
    def run_prompt(self, input=None, output=None, history_file: str | None = None,
                   banner: bool = True) -> int:
        """The interactive REPL on a terminal (or on the given prompt_toolkit input/output)."""
        prompt = self.make_prompt_session(input=input, output=output, history_file=history_file)
        if banner:
            self.write(f"dprog {__version__}: `:help` for help, Ctrl-D to leave")
        while True:
            try:
                text = prompt.prompt()
            except KeyboardInterrupt:
                continue  # Ctrl-C while typing: drop the input
            except EOFError:
                break
            try:
                self.handle(text)
            except _Quit:
                break
            except KeyboardInterrupt:  # landed between statements or while reporting
                self.write_error(self._interrupted())
        return 0

    def make_prompt_session(self, input=None, output=None, history_file: str | None = None):
        """The prompt_toolkit PromptSession: highlighting, completion, history, continuation."""
        from prompt_toolkit import PromptSession
        from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
        from prompt_toolkit.completion import Completer, Completion, PathCompleter
        from prompt_toolkit.document import Document
        from prompt_toolkit.history import FileHistory, InMemoryHistory
        from prompt_toolkit.styles import Style

        session = self

        class DprogCompleter(Completer):
            """Names in scope, keywords, builtins, `module.member`, commands and :load paths."""

            def __init__(self):
                self.paths = PathCompleter(
                    expanduser=True,
                    file_filter=lambda p: os.path.isdir(p) or p.endswith(".dp"))

            def get_completions(self, document, complete_event):
                before = document.text_before_cursor
                m = re.match(r"\s*:load\s+", before)
                if m and "\n" not in before:
                    sub = Document(before[m.end():])
                    yield from self.paths.get_completions(sub, complete_event)
                    return
                for text, start, meta in session.completions(before):
                    yield Completion(text, start_position=start, display_meta=meta)

        class SafeFileHistory(FileHistory):
            """A history file that never breaks the session (unreadable, unwritable, full disk)."""

            def load_history_strings(self):
                try:
                    items = list(super().load_history_strings())
                except (OSError, ValueError):
                    items = []
                yield from items

            def store_string(self, string: str) -> None:
                try:
                    super().store_string(string)
                except (OSError, ValueError):
                    pass

        completer = DprogCompleter()
        kb = _key_bindings(completer)

        history = InMemoryHistory()
        path = history_file if history_file is not None else history_path()
        if path:
            history = SafeFileHistory(path)

        def continuation(width: int, line_number: int, wrap_count: int):
            return [("class:prompt.cont", CONTINUATION.rjust(width))]

        return PromptSession(
            message=[("class:prompt", PROMPT)],
            multiline=True,
            prompt_continuation=continuation,
            lexer=make_lexer(lambda: session.interp.builtins.keys()),
            completer=completer,
            complete_while_typing=False,
            auto_suggest=AutoSuggestFromHistory(),
            history=history,
            key_bindings=kb,
            style=Style.from_dict(STYLE_RULES),
            include_default_pygments_style=False,
            enable_history_search=False,
            tempfile_suffix=".dp",
            input=input,
            output=output,
        )


def _key_bindings(completer):
    """Enter runs complete input (else a new, indented line), Esc-Enter always runs,
    Tab completes or indents, a closing bracket on an empty line dedents."""
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.enums import DEFAULT_BUFFER
    from prompt_toolkit.filters import has_focus
    from prompt_toolkit.key_binding import KeyBindings

    focused = has_focus(DEFAULT_BUFFER)
    kb = KeyBindings()

    @kb.add("enter", filter=focused)
    def _enter(event) -> None:
        b = event.current_buffer
        state = b.complete_state
        if state is not None:
            if state.current_completion is not None:
                b.apply_completion(state.current_completion)
                return
            b.cancel_completion()
        at_end = not b.document.text_after_cursor.strip()
        if at_end and not needs_more(b.text):
            b.validate_and_handle()
            return
        b.insert_text("\n" + _indent_after(b.document.text_before_cursor))

    @kb.add("escape", "enter", filter=focused)
    def _force(event) -> None:
        event.current_buffer.validate_and_handle()

    @kb.add("tab", filter=focused)
    def _tab(event) -> None:
        b = event.current_buffer
        if b.complete_state is not None:
            b.complete_next()
            return
        if not b.document.current_line_before_cursor.strip():
            b.insert_text(INDENT)
            return
        found = list(completer.get_completions(b.document,
                                               CompleteEvent(completion_requested=True)))
        if len(found) == 1:
            b.apply_completion(found[0])  # immediate, so typing on is never racy
        elif found:
            b.start_completion(insert_common_part=True)

    for closer in ("}", ")", "]"):
        @kb.add(closer, filter=focused)
        def _dedent(event) -> None:
            b = event.current_buffer
            line = b.document.current_line_before_cursor
            if line and not line.strip() and b.document.current_line_after_cursor == "":
                b.delete_before_cursor(min(len(INDENT), len(line)))
            b.insert_text(event.data)

    return kb


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def run_repl(interp: Interpreter | None = None, check_nans: bool = False) -> int:
    """`dp` with no program (and `dp -i FILE` after the file): the exit status.

    With a terminal on both ends it is the prompt_toolkit session; otherwise
    it reads plain lines from standard input with no prompts or escape codes.
    """
    try:
        return _run_repl(interp, check_nans)
    except KeyboardInterrupt:  # Ctrl-C outside any input (while starting, while piped)
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        sys.stderr.write("interrupted\n")
        return 130


def _run_repl(interp: Interpreter | None, check_nans: bool) -> int:
    if _isatty(sys.stdin) and _isatty(sys.stdout):
        session = Session(interp, check_nans=check_nans,
                          color=not os.environ.get("NO_COLOR") and _isatty(sys.stderr))
        session.tty = True
        try:
            return session.run_prompt()
        except (OSError, RuntimeError) as exc:  # a terminal prompt_toolkit cannot drive
            sys.stderr.write(f"dp: cannot start the interactive prompt ({exc}); "
                             "reading plain lines\n")
    else:
        session = Session(interp, check_nans=check_nans)
    try:
        sys.stdin.reconfigure(errors="replace")  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass
    try:
        return session.run_lines(iter(sys.stdin.readline, ""))
    except BrokenPipeError:
        try:  # the reader went away (`dp < script | head`): stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except OSError as exc:  # the terminal or pipe went away under us
        session.write_error(f"dp: cannot read standard input: {exc.strerror or exc}")
        return 1
