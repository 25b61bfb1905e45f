"""`dprog.Interpreter`: one independent dprog world (globals, modules, limits, output).

The CLI, the REPL and Python embedders all run programs through this class.
Values crossing into dprog are converted by `to_dprog` (lists and any numeric
NumPy dtype become float64 arrays, dicts become records, Python callables
become dprog functions); values coming out by `to_python` (records become
dicts, dprog functions become plain Python callables, arrays are copies).

Every entry from the host (`exec`, `eval`, `run_file`, calling a function
taken out with `interp[name]`) runs inside `_running()`, which installs this
interpreter's limits, serialises threads, and turns anything that is not a
`DpError` into one: no Python exception escapes a dprog program.
"""

from __future__ import annotations

# NumPy first, from a shallow Python stack. Imported at the bottom of the import chain
# (compiler -> ad -> prims -> core), NumPy's own import code ran across a boundary of
# CPython 3.11's 16 KB frame-stack chunks and allocated and freed one ~1700 times:
# +30 ms for every `dp` start (measured with strace; issue 11's bench note).
from ..core import backend  # noqa: F401

# isort: split

import _thread
import os
from contextlib import contextmanager
from pathlib import Path

from ..compiler.units import EVAL_HOLDER, Unit, eval_program
from ..core.backend import xp
from ..core.errors import (
    DpError,
    DpImportError,
    DpLimitError,
)
from ..core.lazy import lazy_module
from ..core.limits import resident_bytes
from ..core.values import UNSET, Cell, Module
from ..lib.builtins import make_builtins
from ..prims import primitives as P
from ..runtime.state import Runtime
from ..syntax import nodes as N
from ..syntax.keywords import KEYWORDS
from ..syntax.parser import parse
from . import cstack
from .guard import as_dp_error
from .memory import tune_allocator
from .threads import blas_limit, check_threads

# The embedding's conversions, Python-defined primitives and the executor, imported on
# first use: `dp` runs programs without them (core/lazy.py)
convert = lazy_module("dprog.host.convert")
pyprims = lazy_module("dprog.host.pyprims")
parallel = lazy_module("dprog.host.parallel")

_LOADING = object()
_KEYWORDS = frozenset(KEYWORDS)
_EVAL_HOLDER = EVAL_HOLDER
_DEFAULT = object()  # "use the interpreter's timeout"

# Python frames used per dprog call (closure -> block -> statement -> expression ...),
# with headroom: the recursion limit is raised so that max_depth, not Python, is the
# limit, within what the thread's C stack holds (host/cstack.py).
_PY_FRAMES_PER_CALL = 40

# Defaults for embedded use (the `dp` command and the REPL set None: no limit).
DEFAULT_MAX_MEMORY = 4 << 30  # bytes the process may grow by during one call
DEFAULT_MAX_OUTPUT = 10_000_000  # characters printed per call


def stdlib_dir() -> Path:
    """The shipped .dp standard library: inside the package (wheel) or the checkout."""
    env = os.environ.get("DPROG_STDLIB")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent  # the dprog package
    packaged = here / "stdlib"
    if packaged.is_dir():
        return packaged
    return here.parent.parent / "stdlib"


def _check_limit(name: str, value, allow_none: bool, number: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = (isinstance(value, (int, float)) if number else isinstance(value, int))
    if not ok or isinstance(value, bool) or not value > 0:  # (nan is not > 0 either)
        raise ValueError(f"{name} must be a positive {'number' if number else 'integer'}"
                         f"{' or None' if allow_none else ''}, got {value!r}")


class Interpreter:
    """An isolated dprog interpreter (see docs/embedding.md).

    Defaults: max_steps=None (unlimited), max_depth=1000 dprog calls,
    max_array_elements=50_000_000 (400 MB of float64 per array), timeout=None
    (seconds per exec/eval/call; None = none), max_memory=4 GiB (growth of
    the process's memory per call), max_output=10_000_000 characters printed
    per call, allow_files=False, check_nans=False. Programs cannot reach
    files, the OS or Python objects other than those the host passes in.
    threads=N runs every call with at most N BLAS threads (None: leave BLAS
    alone); executor (a Dask client or a concurrent.futures executor) spreads
    parallel_map (docs/scaling.md). Interpreters pickle, with their limits,
    globals and modules.
    """

    def __init__(self, *, max_steps: int | None = None, max_depth: int = 1000,
                 max_array_elements: int = 50_000_000, timeout: float | None = None,
                 allow_files: bool = False, check_nans: bool = False, stdout=None, stderr=None,
                 threads: int | None = None, executor=None,
                 max_memory: int | None = DEFAULT_MAX_MEMORY,
                 max_output: int | None = DEFAULT_MAX_OUTPUT):
        check_threads(threads)
        tune_allocator()  # once per process: freed arrays kept for reuse (host/memory.py)
        cstack.forget()  # the host may have changed its stack limit since the last one
        if executor is not None and not callable(getattr(executor, "submit", None)):
            raise TypeError("executor must be a Dask client or a concurrent.futures executor "
                            f"(something with .submit), got {type(executor).__name__}")
        _check_limit("max_steps", max_steps, True)
        _check_limit("max_depth", max_depth, False)
        _check_limit("max_array_elements", max_array_elements, False)
        _check_limit("timeout", timeout, True, number=True)
        _check_limit("max_memory", max_memory, True)
        _check_limit("max_output", max_output, True)
        self.rt = Runtime(max_steps=max_steps, max_depth=max_depth,
                          max_array_elements=max_array_elements, allow_files=allow_files,
                          check_nans=check_nans, stdout=stdout, stderr=stderr,
                          max_memory=max_memory, max_output=max_output)
        self.rt.interp = self
        self.rt.echo = self._echo
        self.timeout = timeout
        self.builtins = make_builtins(self.rt)
        self.main = Module("__main__")
        self.modules: dict[str, object] = {}
        self._import_stack: list[str] = []
        self._lock = _thread.RLock()
        self._active = False
        self.set_argv(())
        self.echo_hook = None
        self.threads = threads
        self.executor = executor

    def __getstate__(self) -> dict:
        """What travels: limits, flags, globals, modules and the random stream (in
        `rt`); not the output streams, the executor, nor a call in progress."""
        state = dict(self.__dict__)
        for k in ("_lock", "builtins", "echo_hook", "executor", "_active", "_import_stack"):
            state.pop(k, None)
        state["modules"] = {k: m for k, m in self.modules.items() if m is not _LOADING}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = _thread.RLock()
        self._active = False
        self._import_stack = []
        self.echo_hook = None
        self.executor = None
        self.rt.interp = self
        self.rt.echo = self._echo
        self.builtins = make_builtins(self.rt)

    def run_parallel(self, f, elems: list, base: int) -> list | None:
        """parallel_map's elements on this interpreter's executor (None: run them here)."""
        if self.executor is None:
            return None
        return parallel.run_on_executor(self, f, elems, base)

    def __repr__(self) -> str:
        return f"<dprog.Interpreter with {len(self.names())} names>"

    # ------------------------------------------------------------- running
    def set_argv(self, argv) -> None:
        self._define_global("argv", tuple(str(a) for a in argv))

    def _define_global(self, name: str, value) -> None:
        cell = self.main.globals.get(name)
        if cell is None:
            self.main.globals[name] = Cell(value)
        else:
            cell.v = value

    @contextmanager
    def _running(self, timeout=_DEFAULT):
        """Run one call from the host: this interpreter's limits, one thread at a time.

        Re-entrant: host code called by a running program may call back in; the
        inner call shares the outer call's step budget, depth and deadline.
        """
        if timeout is not _DEFAULT:  # a per-call override is checked like the constructor's
            _check_limit("timeout", timeout, False, number=True)
        with self._lock:
            rt = self.rt
            if rt.depth > 0 or self._active:
                try:
                    yield
                except DpError:
                    raise
                except Exception as exc:
                    raise as_dp_error(exc) from exc
                return
            self._active = True
            lim = P.LIMITS
            saved = (lim.max_array_elements, lim.check_nans, lim.nan_pass, lim.deadline,
                     lim.max_memory, lim.memory_base, lim.watch)
            lim.max_array_elements = rt.max_array_elements
            lim.check_nans = rt.check_nans
            lim.nan_pass = "forward"
            if rt.check_nans:
                P.nan_check_enter()
            cstack.enter(rt.max_depth * _PY_FRAMES_PER_CALL + 2000)
            rt.start(self.timeout if timeout is _DEFAULT else timeout)
            lim.deadline = rt.deadline  # for the long work between steps (core/limits.py)
            lim.max_memory = rt.max_memory
            lim.memory_base = resident_bytes() if rt.max_memory is not None else 0
            lim.watch = rt.deadline is not None or rt.max_memory is not None
            try:  # (host_guard's work, inline: one generator less per host call)
                with xp.errstate(all="ignore"), blas_limit(self.threads):
                    yield
            except DpError:
                raise
            except Exception as exc:
                raise as_dp_error(exc) from exc
            finally:
                (lim.max_array_elements, lim.check_nans, lim.nan_pass, lim.deadline,
                 lim.max_memory, lim.memory_base, lim.watch) = saved
                if rt.check_nans:
                    P.nan_check_exit()
                rt.depth = 0
                self._active = False
                cstack.exit_()

    def _compile(self, text: str, name: str, module: Module, interactive: bool = False,
                 prog: N.Program | None = None, is_eval: bool = False):
        try:
            if prog is None:
                prog = parse(text, name)
            return Unit(text, name, module, self, interactive, is_eval).compile(prog)
        except RecursionError:
            raise DpLimitError("the program is nested too deeply to compile", None,
                               "split deeply nested expressions into several statements"
                               ) from None

    def _run_source(self, text: str, name: str, module: Module, interactive: bool = False,
                    timeout=_DEFAULT):
        with self._running(timeout):
            code = self._compile(text, name, module, interactive)
            return code()

    def _bind_globals(self, globals: dict | None) -> None:
        if globals:
            if not isinstance(globals, dict):
                raise TypeError(f"globals must be a dict, got {type(globals).__name__}")
            for k, v in globals.items():
                self[k] = v

    def exec(self, src: str, globals: dict | None = None, name: str = "<string>",
             timeout: float | None = None) -> None:
        """Run dprog statements in the main module (names persist across calls).

        `globals` binds Python values to names first; `timeout` (seconds)
        overrides the interpreter's for this call.
        """
        if not isinstance(src, str):
            raise TypeError(f"exec needs dprog source text (str), got {type(src).__name__}")
        self._bind_globals(globals)
        self._run_source(src, name, self.main, timeout=_DEFAULT if timeout is None else timeout)

    def exec_interactive(self, src: str, name: str = "<repl>") -> None:
        """Like exec, but top-level expression statements echo their values."""
        self._run_source(src, name, self.main, interactive=True)

    def eval(self, expr: str, globals: dict | None = None, timeout: float | None = None,
             name: str = "<eval>"):
        """Evaluate one expression in the main module and return it as a Python value."""
        if not isinstance(expr, str):
            raise TypeError(f"eval needs a dprog expression (str), got {type(expr).__name__}")
        self._bind_globals(globals)
        with self._running(_DEFAULT if timeout is None else timeout):
            try:
                prog = eval_program(expr, name)
            except RecursionError:
                raise DpLimitError("the expression is nested too deeply", None, None) from None
            code = self._compile(expr, name, self.main, prog=prog, is_eval=True)
            try:
                code()
                value = self.main.globals[_EVAL_HOLDER].v
            finally:
                self.main.globals.pop(_EVAL_HOLDER, None)
            return convert.to_python(value, self)

    def run_file(self, path, argv=(), timeout: float | None = None) -> None:
        """Run a .dp file as the main program (its imports resolve next to it)."""
        path = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise DpImportError(f"cannot read {path}: {why}", None, None) from None
        self.set_argv(argv)
        self.main.path = os.path.abspath(path)
        self._run_source(text, path, self.main, timeout=_DEFAULT if timeout is None else timeout)

    def _echo(self, value) -> None:
        if self.echo_hook is not None:
            self.echo_hook(value)

    # ------------------------------------------------------------- modules
    def import_module(self, name: str, importer: Module, source_name: str | None) -> Module:
        """Find and load a module, then the stdlib.

        A module imports beside its own file when it has one: the file the host ran
        with `run_file`, or a module file found this way. Code given as text (`exec`,
        `eval`, the REPL) reaches the file system only with allow_files=True: then it
        imports beside `source_name` when that names a file, else from the working
        directory. The display name alone never opens a directory (security item 1).
        """
        paths = []
        if importer.path is not None:
            paths.append(Path(importer.path).resolve().parent / f"{name}.dp")
        elif self.rt.allow_files:
            if source_name and not source_name.startswith("<"):
                paths.append(Path(source_name).resolve().parent / f"{name}.dp")
            else:
                paths.append(Path.cwd() / f"{name}.dp")
        paths.append(stdlib_dir() / f"{name}.dp")
        for p in paths:
            if p.is_file():
                key = str(p)
                got = self.modules.get(key)
                if got is _LOADING:
                    chain = " -> ".join(Path(k).stem for k in self._import_stack + [key])
                    raise DpImportError(f"import cycle: {chain}", None,
                                        "move the shared definitions into a third module")
                if got is not None:
                    return got
                return self._load_module(name, key)
        where = ", ".join(str(p.parent) for p in paths)
        raise DpImportError(f"no module named `{name}`", None,
                            f"looked for {name}.dp in {where}")

    def _load_module(self, name: str, path: str) -> Module:
        self.modules[path] = _LOADING
        self._import_stack.append(path)
        try:
            mod = Module(name, path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                why = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else \
                    (exc.strerror or str(exc))
                raise DpImportError(f"cannot read module `{name}` ({path}): {why}", None,
                                    "dprog sources are UTF-8 text files") from None
            shown = _shown_path(path) if not _is_stdlib(path) else f"<stdlib>/{name}.dp"
            code = self._compile(text, shown, mod)
            code()
        except BaseException:
            self.modules.pop(path, None)
            raise
        finally:
            self._import_stack.pop()
        self.modules[path] = mod
        return mod

    # ------------------------------------------------------------- globals
    def __getitem__(self, name: str):
        """A global (or builtin) as a Python value; KeyError if there is none.

        Converted under this interpreter's limits (a structure too big or too deep
        to convert is a DpLimitError).
        """
        with self._lock:
            cell = self.main.globals.get(name) if isinstance(name, str) else None
            if cell is None or cell.v is UNSET or name == _EVAL_HOLDER:
                if isinstance(name, str) and name in self.builtins:
                    return convert.to_python(self.builtins[name], self)
                raise KeyError(name)
            with self._running():
                return convert.to_python(cell.v, self)

    def __setitem__(self, name: str, value) -> None:
        """Bind a Python value (converted by `to_dprog`) to a global name."""
        _check_name(name)
        with self._lock:
            self._define_global(name, convert.to_dprog(value, self))

    def __contains__(self, name: str) -> bool:
        cell = self.main.globals.get(name)
        return cell is not None and cell.v is not UNSET

    def names(self) -> list[str]:
        """The names the main module defines (globals set from Python included)."""
        return [k for k, c in self.main.globals.items() if c.v is not UNSET]

    def define(self, name: str, py_fn, jvp=None, vjp=None, batch=None) -> None:
        """Add a Python function on numbers/arrays as a dprog primitive with derivative rules.

        jvp(primals, tangents) -> output tangent; vjp(primals, out, g) -> tuple of
        cotangents. Either rule is enough for both modes; batch(args, axes) ->
        (output, batch axis) runs a whole vmap batch at once (without it, once per
        example); see docs/embedding.md.
        """
        _check_name(name)
        for what, f in (("py_fn", py_fn), ("jvp", jvp), ("vjp", vjp), ("batch", batch)):
            if f is not None and not callable(f):
                raise TypeError(f"define: {what} must be callable, got {type(f).__name__}")
        if py_fn is None:
            raise TypeError("define: py_fn must be callable, got None")
        with self._lock:
            self._define_global(name, pyprims.make_primitive_function(self, name, py_fn, jvp,
                                                                      vjp, batch))


def _check_name(name) -> None:
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
        raise ValueError(f"not a valid dprog name: {name!r}")
    if name.startswith("__"):
        raise ValueError(f"names starting with `__` are reserved: {name!r}")
    if name in _KEYWORDS:
        raise ValueError(f"{name!r} is a dprog keyword")


def _is_stdlib(path: str) -> bool:
    try:
        return Path(path).resolve().parent == stdlib_dir().resolve()
    except OSError:
        return False


# ================================================================ conversions


def _shown_path(path: str) -> str:
    """A module's path as reports show it: relative to the working directory when
    it lies below it (like the main file's), else absolute."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


