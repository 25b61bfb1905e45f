"""`dprog.Interpreter`: one independent dprog world (globals, modules, limits, output).

The CLI, the REPL and Python embedders all run programs through this class.
Values crossing into dprog are converted by `to_dprog` (lists and any-dtype
arrays become float64 arrays, dicts become records, Python callables become
dprog functions); values coming out by `to_python` (records become dicts,
dprog functions become plain Python callables).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import primitives as P
from .builtins import Builtin, make_builtins
from .compiler import Closure, Compiler
from .errors import DpError, DpImportError, DpInterrupt, DpLimitError, DpTypeError
from .parser import parse
from .runtime import Runtime
from .values import UNSET, Cell, Function, Module, Record, kind_of

_LOADING = object()

# Python frames used per dprog call (closure -> block -> statement -> expression ...),
# with headroom; sets sys.setrecursionlimit so max_depth, not Python, is the limit.
_PY_FRAMES_PER_CALL = 40


def stdlib_dir() -> Path:
    """The shipped .dp standard library: inside the package (wheel) or the checkout."""
    env = os.environ.get("DPROG_STDLIB")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    packaged = here / "stdlib"
    if packaged.is_dir():
        return packaged
    return here.parent.parent / "stdlib"


class Interpreter:
    """An isolated dprog interpreter (see docs/embedding.md)."""

    def __init__(self, *, max_steps: int | None = None, max_depth: int = 1000,
                 max_array_elements: int = 50_000_000, timeout: float | None = None,
                 allow_files: bool = False, check_nans: bool = False, stdout=None, stderr=None):
        self.rt = Runtime(max_steps=max_steps, max_depth=max_depth,
                          max_array_elements=max_array_elements, allow_files=allow_files,
                          check_nans=check_nans, stdout=stdout, stderr=stderr)
        self.rt.interp = self
        self.rt.echo = self._echo
        self.timeout = timeout
        self.builtins = make_builtins(self.rt)
        self.main = Module("__main__")
        self.modules: dict[str, object] = {}
        self._import_stack: list[str] = []
        self.set_argv(())
        self.echo_hook = None

    # ------------------------------------------------------------- running
    def set_argv(self, argv) -> None:
        self._define_global("argv", tuple(argv))

    def _define_global(self, name: str, value) -> None:
        cell = self.main.globals.get(name)
        if cell is None:
            self.main.globals[name] = Cell(value)
        else:
            cell.v = value

    @contextmanager
    def _running(self):
        """Install this interpreter's limits for the duration of one call from the host."""
        rt = self.rt
        outer = rt.depth > 0 or getattr(self, "_active", False)
        if outer:
            yield
            return
        self._active = True
        lim = P.LIMITS
        saved = (lim.max_array_elements, lim.check_nans, lim.nan_pass)
        lim.max_array_elements = rt.max_array_elements
        lim.check_nans = rt.check_nans
        lim.nan_pass = "forward"
        if rt.check_nans:
            P.nan_check_enter()
        old_limit = sys.getrecursionlimit()
        want = rt.max_depth * _PY_FRAMES_PER_CALL + 2000
        if want > old_limit:
            sys.setrecursionlimit(want)
        rt.start(self.timeout)
        try:
            with np.errstate(all="ignore"):
                yield
        except RecursionError:
            raise DpLimitError("recursion too deep for the host", None,
                               "lower max_depth or simplify the recursion") from None
        except KeyboardInterrupt:
            raise
        finally:
            lim.max_array_elements, lim.check_nans, lim.nan_pass = saved
            if rt.check_nans:
                P.nan_check_exit()
            rt.depth = 0
            self._active = False
            if want > old_limit:
                sys.setrecursionlimit(old_limit)

    def _run_source(self, text: str, name: str, module: Module, interactive: bool = False):
        prog = parse(text, name)
        code = Compiler(self.rt, module, self.builtins, interactive).compile_program(prog)
        with self._running():
            return code()

    def exec(self, src: str, globals: dict | None = None, name: str = "<string>") -> None:
        """Run dprog statements in the main module (names persist across calls)."""
        if globals:
            for k, v in globals.items():
                self[k] = v
        self._run_source(src, name, self.main)

    def exec_interactive(self, src: str, name: str = "<repl>") -> None:
        """Like exec, but top-level expression statements echo their values."""
        self._run_source(src, name, self.main, interactive=True)

    def eval(self, expr: str, globals: dict | None = None):
        """Evaluate one expression and return its value as a Python value."""
        if globals:
            for k, v in globals.items():
                self[k] = v
        holder = "__eval_result__"
        self._run_source(f"let {holder} = (\n{expr}\n)", "<eval>", self.main)
        cell = self.main.globals.pop(holder)
        return to_python(cell.v, self)

    def run_file(self, path, argv=()) -> None:
        path = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise DpImportError(f"cannot read {path}: {exc.strerror}", None, None) from None
        self.set_argv(argv)
        self.main.path = os.path.abspath(path)
        self._run_source(text, path, self.main)

    def _echo(self, value) -> None:
        if self.echo_hook is not None:
            self.echo_hook(value)

    # ------------------------------------------------------------- modules
    def import_module(self, name: str, from_file: str | None) -> Module:
        paths = []
        if from_file and not from_file.startswith("<"):
            paths.append(Path(from_file).resolve().parent / f"{name}.dp")
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
            text = Path(path).read_text(encoding="utf-8")
            prog = parse(text, path if not _is_stdlib(path) else f"<stdlib>/{name}.dp")
            code = Compiler(self.rt, mod, self.builtins).compile_program(prog)
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
        cell = self.main.globals.get(name)
        if cell is None or cell.v is UNSET:
            if name in self.builtins:
                return to_python(self.builtins[name], self)
            raise KeyError(name)
        return to_python(cell.v, self)

    def __setitem__(self, name: str, value) -> None:
        if not name.isidentifier() or name.startswith("__"):
            raise ValueError(f"not a valid dprog name: {name!r}")
        self._define_global(name, to_dprog(value, self))

    def __contains__(self, name: str) -> bool:
        cell = self.main.globals.get(name)
        return cell is not None and cell.v is not UNSET

    def names(self) -> list[str]:
        return [k for k, c in self.main.globals.items() if c.v is not UNSET]

    def define(self, name: str, py_fn, jvp=None, vjp=None) -> None:
        """Add a Python function as a dprog primitive, with optional derivative rules."""
        from .embedding import make_primitive_function

        self._define_global(name, make_primitive_function(self, name, py_fn, jvp, vjp))


def _is_stdlib(path: str) -> bool:
    try:
        return Path(path).resolve().parent == stdlib_dir().resolve()
    except OSError:
        return False


# ================================================================ conversions
def to_dprog(v, interp: Interpreter | None = None):
    """A Python value as a dprog value (SPEC §10)."""
    t = type(v)
    if t is float or t is int or t is bool or t is str or v is None:
        return v
    if t is np.ndarray:
        if v.dtype == np.bool_:
            a = v.copy()
        else:
            try:
                a = np.array(v, dtype=np.float64)
            except (TypeError, ValueError):
                raise DpTypeError(f"cannot pass an array of dtype {v.dtype} to dprog", None,
                                  "arrays must be numeric") from None
        a.flags.writeable = False
        return P.normalize(a) if a.ndim == 0 else a
    if isinstance(v, np.generic):
        return to_dprog(v.item(), interp)
    if t is tuple:
        return tuple(to_dprog(x, interp) for x in v)
    if t is list:
        return to_dprog(np.asarray(v), interp)
    if isinstance(v, dict):
        for k in v:
            if type(k) is not str or not k.isidentifier():
                raise DpTypeError(f"record field names must be identifiers, got {k!r}", None, None)
        return Record({k: to_dprog(x, interp) for k, x in v.items()})
    if isinstance(v, (Record, Function, Module)) or isinstance(v, P.Tracer) or t is range:
        return v
    if isinstance(v, _PyCallable):
        return v._dp
    if callable(v):
        from .embedding import wrap_python_callable

        return wrap_python_callable(v, interp)
    raise DpTypeError(f"cannot pass a Python {t.__name__} to dprog", None,
                      "pass numbers, arrays, strings, tuples, dicts or callables")


def to_python(v, interp: Interpreter | None = None):
    """A dprog value as a Python value (records -> dicts, functions -> callables)."""
    t = type(v)
    if t is Record:
        return {k: to_python(x, interp) for k, x in v.items()}
    if t is tuple:
        return tuple(to_python(x, interp) for x in v)
    if isinstance(v, Function):
        return _PyCallable(v, interp)
    if isinstance(v, P.Tracer):
        return v
    if t is np.ndarray and not v.flags.writeable:
        return v.copy()
    return v


class _PyCallable:
    """A dprog function handed to Python: a plain callable converting at the boundary."""

    def __init__(self, fn: Function, interp: Interpreter | None):
        self._dp = fn
        self._interp = interp
        self.__name__ = getattr(fn, "name", "dprog_function")
        self.__doc__ = f"dprog function {fn.describe()}"

    def __repr__(self) -> str:
        return f"<dprog function {self._dp.describe()}>"

    def __call__(self, *args, **kwargs):
        a = [to_dprog(x, self._interp) for x in args]
        kw = {k: to_dprog(x, self._interp) for k, x in kwargs.items()}
        if self._interp is not None:
            with self._interp._running():
                r = self._dp(*a, **kw)
        else:
            with np.errstate(all="ignore"):
                r = self._dp(*a, **kw)
        return to_python(r, self._interp)


__all__ = ["Interpreter", "to_dprog", "to_python", "stdlib_dir", "Closure", "Builtin",
           "DpInterrupt", "kind_of"]
