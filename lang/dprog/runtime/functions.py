"""Function values: `Closure` (a compiled dprog function with its captured cells) and
`Builtin` (a Python implementation with a checked dprog signature).

Compiled statements return the control signals BREAK, CONTINUE and RETURN;
`Closure.__call__` turns RETURN into the function's value.
"""

from __future__ import annotations

import pickle

from ..ad.fastpath import unary_recorder
from ..ad.reverse import CALL_BOUNDARIES
from ..core.errors import DpArgumentError, DpError, did_you_mean
from ..core.values import Cell, Function

# control signals returned by compiled statements
BREAK = "break"
CONTINUE = "continue"
RETURN = "return"


class _Missing:
    """The one MISSING marker; unpickles as itself (closures' defaults hold it)."""

    __slots__ = ()

    def __reduce__(self):
        return "MISSING"


# a parameter with no default (and an argument not given)
MISSING = _Missing()


class FunctionInfo:
    """What a compiled function needs at call time (built once per definition)."""

    __slots__ = ("name", "nparams", "param_names", "param_index", "param_cells", "nslots",
                 "free_dst", "body", "is_expr", "span", "origin")

    def __init__(self, name, span):
        self.name = name
        self.span = span
        self.origin = None  # (compiler.units.Unit, index) when the function can travel


class PendingInfo:
    """Stands for an unpickled closure's FunctionInfo until its unit is compiled again.

    The unit cannot be compiled while unpickling (its module's globals may still be
    filling in), so the first attribute read compiles it and puts the real
    FunctionInfo into every closure waiting for it.
    """

    __slots__ = ("unit", "index", "waiting")

    def __init__(self, unit, index: int):
        self.unit = unit
        self.index = index
        self.waiting: list[Closure] = []

    def __getattr__(self, attr):
        real = self.unit.function_info(self.index)
        for c in self.waiting:
            c.info = real
        self.waiting = []
        return getattr(real, attr)


def _closure_shell() -> Closure:
    return Closure.__new__(Closure)


class Closure(Function):
    """A dprog function value: compiled body + captured cells + default values."""

    __slots__ = ("info", "cells", "defaults", "rt", "name")

    def __init__(self, info: FunctionInfo, cells: tuple, defaults: tuple, rt):
        self.info = info
        self.cells = cells
        self.defaults = defaults
        self.rt = rt
        self.name = info.name

    def describe(self) -> str:
        return f"<fn {self.name}({', '.join(self.info.param_names)})>"

    def __reduce__(self):
        info = self.info
        origin = (info.unit, info.index) if type(info) is PendingInfo else info.origin
        if origin is None:
            raise pickle.PicklingError(
                f"the dprog function `{self.name}` cannot be pickled: it was made by code "
                "that was not kept (such as the REPL's :time)")
        return _closure_shell, (), (origin, self.cells, self.defaults, self.rt, self.name)

    def __setstate__(self, state) -> None:
        (unit, index), self.cells, self.defaults, self.rt, self.name = state
        pending = PendingInfo(unit, index)
        pending.waiting.append(self)
        self.info = pending

    def __call__(self, *args, **kwargs):
        if kwargs:
            args = self._bind_slow(args, kwargs)
        return enter(self, args)

    def _bind_slow(self, args, kwargs):
        info = self.info
        n = info.nparams
        name = info.name
        if len(args) > n:
            raise DpArgumentError(
                f"`{name}` takes {n} argument{'s' if n != 1 else ''} but {len(args)} "
                f"{'were' if len(args) != 1 else 'was'} given", None,
                f"its parameters are ({', '.join(info.param_names)})" if n else
                "it takes no arguments")
        vals = list(args) + [MISSING] * (n - len(args))
        for k, v in kwargs.items():
            i = info.param_index.get(k)
            if i is None:
                raise DpArgumentError(
                    f"`{name}` has no parameter `{k}`", None,
                    did_you_mean(k, info.param_names) or
                    f"its parameters are ({', '.join(info.param_names)})")
            if vals[i] is not MISSING:
                raise DpArgumentError(f"`{name}` got two values for parameter `{k}`", None, None)
            vals[i] = v
        for i, v in enumerate(vals):
            if v is MISSING:
                d = self.defaults[i]
                if d is MISSING:
                    missing = [info.param_names[j] for j in range(n)
                               if vals[j] is MISSING and self.defaults[j] is MISSING]
                    raise DpArgumentError(
                        f"`{name}` is missing argument{'s' if len(missing) > 1 else ''} "
                        + ", ".join(f"`{m}`" for m in missing), None,
                        f"its parameters are ({', '.join(info.param_names)})")
                vals[i] = d
        return vals


def enter(fn: Closure, args) -> object:
    """Run the closure `fn` on positional `args` (a tuple or list): the call of every
    dprog function. The fast compiler calls it directly (no `__call__` slot, no
    keyword dict); `Closure.__call__` binds keywords first."""
    info = fn.info
    rt = fn.rt
    if rt.depth >= rt.max_depth:
        raise rt.too_deep()
    rt.budget -= 1
    if rt.budget <= 0:
        rt.refill()
    rt.depth += 1
    try:
        frame = [None] * info.nslots
        n = info.nparams
        if len(args) != n:
            args = fn._bind_slow(args, {})
        if n:
            frame[1:n + 1] = args
            if info.param_cells:
                for s in info.param_cells:
                    frame[s] = Cell(frame[s])
        if info.free_dst:
            for s, c in zip(info.free_dst, fn.cells):
                frame[s] = c
        if info.is_expr:
            return info.body(frame)
        if info.body(frame) is RETURN:
            return frame[0]
        return None
    except DpError as e:
        e.frame_noted = False
        raise
    finally:
        rt.depth -= 1


class Builtin(Function):
    """A builtin function value with checked arity and keywords."""

    __slots__ = ("name", "fn", "min_args", "max_args", "params", "kwonly", "sig", "takes1",
                 "takes2", "record1", "remake")

    def __init__(self, name, fn, sig, remake=None):
        self.name = name
        # (function, args) that makes this builtin again in another process (pickling)
        self.remake = remake
        self.fn = fn
        self.sig = sig
        params, self.min_args, self.max_args, self.kwonly = _parse_sig(sig)
        self.params = params
        # arities the evaluator may call `fn` with directly, skipping the checks
        hi = self.max_args if self.max_args is not None else 99
        self.takes1 = self.min_args <= 1 <= hi
        self.takes2 = self.min_args <= 2 <= hi
        # records a call on a float reverse-mode value in one step (None: use fn)
        self.record1 = unary_recorder(fn) if self.takes1 else None

    def describe(self) -> str:
        return f"<builtin {self.sig}>"

    def __reduce__(self):
        if self.remake is None:
            raise pickle.PicklingError(f"the builtin `{self.name}` cannot be pickled")
        return self.remake

    def __call__(self, *args, **kwargs):
        if kwargs and len(args) < self.min_args:
            args, kwargs = self._required_from_keywords(args, kwargs)
        n = len(args)
        if n < self.min_args or (self.max_args is not None and n > self.max_args):
            raise self._count_error(n)
        if kwargs:
            for k in kwargs:
                if k not in self.params and k not in self.kwonly:
                    raise DpArgumentError(f"`{self.name}` has no parameter `{k}`", None,
                                          did_you_mean(k, list(self.params) + list(self.kwonly))
                                          or f"its signature is {self.sig}")
                pos = self.params.get(k)
                if pos is not None and pos < n:
                    raise DpArgumentError(f"`{self.name}` got two values for `{k}`", None, None)
        return self.fn(*args, **kwargs)

    def _required_from_keywords(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """Required parameters named by keyword (`clip(x, lo=0, hi=1)`) become positional."""
        names = list(self.params)
        for k in kwargs:
            pos = self.params.get(k)
            if pos is not None and pos < len(args):
                raise DpArgumentError(f"`{self.name}` got two values for `{k}`", None, None)
        args, kwargs = list(args), dict(kwargs)
        while len(args) < self.min_args and names[len(args)] in kwargs:
            args.append(kwargs.pop(names[len(args)]))
        missing = [nm for nm in names[len(args):self.min_args] if nm not in kwargs]
        if missing:
            raise DpArgumentError(f"`{self.name}` is missing argument `{missing[0]}`", None,
                                  f"its signature is {self.sig}")
        return tuple(args), kwargs

    def _count_error(self, n):
        lo, hi = self.min_args, self.max_args
        if hi is None:
            want = f"at least {lo}"
        elif lo == hi:
            want = str(lo)
        else:
            want = f"{lo} to {hi}"
        hint = f"its signature is {self.sig}"
        if self.name in ("max", "min") and n == 2:
            hint = (f"use `{self.name}imum(a, b)` for the elementwise {self.name}imum of two "
                    f"values; `{self.name}(x, axis=k)` reduces along an axis")
        return DpArgumentError(
            f"`{self.name}` takes {want} argument{'s' if want != '1' else ''} but {n} "
            f"{'were' if n != 1 else 'was'} given", None, hint)


def _parse_sig(sig: str):
    inner = sig[sig.index("(") + 1: sig.rindex(")")]
    params: dict[str, int] = {}
    kwonly: set[str] = set()
    required = 0
    maxn: int | None = 0
    kw_mode = False
    for i, part in enumerate(p.strip() for p in inner.split(",") if p.strip()):
        if part == "*":
            kw_mode = True
            continue
        if part.endswith("..."):
            maxn = None
            kw_mode = True  # parameters after `x...` are named only, as in Python
            continue
        name = part.split("=")[0].strip()
        if kw_mode:
            kwonly.add(name)
            continue
        params[name] = len(params)
        if "=" not in part:
            required += 1
        if maxn is not None:
            maxn += 1
    return params, required, maxn, kwonly


# --check-nans reads dprog frames off the Python stack; a closure call begins one
CALL_BOUNDARIES.add(Closure.__call__.__code__)
CALL_BOUNDARIES.add(enter.__code__)
