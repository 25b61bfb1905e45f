"""Closure factories for the hottest node shapes, shared by every compiled program:
binary operators generated from one source template (a float fast path, constants
inlined, the float recorder of reverse mode inlined) and calls of 1, 2, n arguments
or keywords. Every closure keeps `span` and `fname` among its variables: errors are
located with them and --check-nans reads them off the Python stack."""

# ruff: noqa: B904 - `raise located(exc, span, fname)` sets the cause itself (runtime.ops)

from __future__ import annotations

from ..ad.fastpath import RECORDERS, RECORDING_NAMES, recording_code
from ..ad.reverse import RNode
from ..core.errors import DpNameError, DpTypeError, note_frame
from ..core.values import UNSET, Function, kind_of
from ..runtime.functions import Builtin
from ..runtime.ops import located

# Binary operator closures are generated from one template: a float fast path
# (no call at all for two Python floats), constants inlined, and the error
# handling every node has (`located`). One factory per (operator, constant side) pair.
_BINOP_TEMPLATE = """
def factory(left, right, lconst, rconst, op, span, fname):
    def binop(f):
        a = {a}
        b = {b}
        if {fast}:
            return a {sym} b
        try:
            {traced}
            return op(a, b)
        except Exception as exc:
            raise located(exc, span, fname)
    return binop
"""


_FAST_SYMS = {"+", "-", "*", "/", "<", ">", "<=", ">="}


_binop_factories: dict = {}


_OPERAND = {"const": "{c}", "slot": "f[{c}]", "expr": "{e}(f)"}


def binop_factory(sym: str, lkind: str, rkind: str, checked: bool = False):
    """lkind/rkind: "const" (value inlined), "slot" (a plain local, read inline) or "expr"."""
    key = (sym, lkind, rkind, checked)
    fac = _binop_factories.get(key)
    if fac is None:
        if sym in _FAST_SYMS and not checked:
            fast = "type(a) is float and type(b) is float"
            if sym == "/":
                fast += " and b != 0.0"
            psym = sym
        else:
            fast, psym = "False", "+"
        # a float operation on a reverse-mode value is recorded right here (the
        # recorder's code inlined: one call fewer per operation on the hot path)
        traced = ("if type(a) is RNode or type(b) is RNode:\n"
                  + recording_code(sym, 16) if sym in RECORDERS and not checked else "pass")
        src = _BINOP_TEMPLATE.format(a=_OPERAND[lkind].format(c="lconst", e="left"),
                                     b=_OPERAND[rkind].format(c="rconst", e="right"),
                                     fast=fast, sym=psym, traced=traced)
        ns = {"located": located, **RECORDING_NAMES}
        exec(compile(src, f"<dprog binop {sym}>", "exec"), ns)
        fac = _binop_factories[key] = ns["factory"]
    return fac


# Call closures, one factory per shape. The closures keep `span` and `fname` among
# their variables: --check-nans reads them off the Python stack (ad.reverse.dprog_stack).
def not_callable_error(callee, span, fname):
    def not_callable(fn):
        what = f"`{callee}` is {kind_of(fn)}" if callee else f"this is {kind_of(fn)}"
        if fn is UNSET:
            err = DpNameError(f"`{callee}` is called before it is defined", None, None)
        else:
            err = DpTypeError(f"{what}, not a function", None, "only functions can be called")
        note_frame(err, span, fname)
        return err
    return not_callable


def call_kw(func, args, kwnames, kwvals, not_callable, span, fname):
    def call_kw(f):
        fn = func(f)
        a = [x(f) for x in args]
        kw = {k: v(f) for k, v in zip(kwnames, kwvals)}
        if not isinstance(fn, Function):
            raise not_callable(fn)
        try:
            return fn(*a, **kw)
        except Exception as exc:
            raise located(exc, span, fname)
    return call_kw


def call1(func, a0, not_callable, span, fname):
    def call1(f):
        fn = func(f)
        x = a0(f)
        try:
            if type(fn) is Builtin and fn.takes1:  # no argument checks needed
                if type(x) is RNode and fn.record1 is not None:
                    return fn.record1(x)  # a float on a tape: recorded in one step
                return fn.fn(x)
            if not isinstance(fn, Function):
                raise not_callable(fn)
            return fn(x)
        except Exception as exc:
            raise located(exc, span, fname)
    return call1


def call2(func, a0, a1, not_callable, span, fname):
    def call2(f):
        fn = func(f)
        x = a0(f)
        y = a1(f)
        try:
            if type(fn) is Builtin and fn.takes2:
                return fn.fn(x, y)
            if not isinstance(fn, Function):
                raise not_callable(fn)
            return fn(x, y)
        except Exception as exc:
            raise located(exc, span, fname)
    return call2


def call_n(func, args, not_callable, span, fname):
    def call(f):
        fn = func(f)
        a = [x(f) for x in args]
        if not isinstance(fn, Function):
            raise not_callable(fn)
        try:
            return fn(*a)
        except Exception as exc:
            raise located(exc, span, fname)
    return call
