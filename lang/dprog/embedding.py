"""Python functions as dprog values: `Interpreter.define` and plain callables.

A `define`d function becomes a `Primitive` with the host's derivative rules,
so both engines (and any nesting of them) use it like a builtin primitive.
"""

from __future__ import annotations

import numpy as np

from . import primitives as P
from .errors import DpError, DpInternalError, DpTypeError
from .values import Function


class PyFunction(Function):
    """A Python callable made callable from dprog (arguments converted both ways)."""

    __slots__ = ("name", "fn", "interp")

    def __init__(self, name, fn, interp):
        self.name = name
        self.fn = fn
        self.interp = interp

    def describe(self) -> str:
        return f"<python fn {self.name}>"

    def __call__(self, *args, **kwargs):
        from .interpreter import to_dprog, to_python

        try:
            r = self.fn(*(to_python(a, self.interp) for a in args),
                        **{k: to_python(v, self.interp) for k, v in kwargs.items()})
        except DpError:
            raise
        except Exception as exc:
            err = DpInternalError(f"the Python function `{self.name}` raised "
                                  f"{type(exc).__name__}: {exc}", None,
                                  "the error comes from the host program")
            err.kind = "host"
            raise err from exc
        return to_dprog(r, self.interp)


def wrap_python_callable(fn, interp) -> PyFunction:
    return PyFunction(getattr(fn, "__name__", "python_function"), fn, interp)


class PrimitiveFunction(Function):
    """A `define`d primitive, called from dprog."""

    __slots__ = ("name", "prim")

    def __init__(self, name, prim):
        self.name = name
        self.prim = prim

    def describe(self) -> str:
        return f"<primitive {self.name}>"

    def __call__(self, *args):
        return P.bind(self.prim, args)


def make_primitive_function(interp, name: str, py_fn, jvp=None, vjp=None) -> PrimitiveFunction:
    """Wrap py_fn(*arrays) as a primitive.

    jvp(primals, tangents) -> output tangent, and vjp(primals, out, g) -> tuple of
    cotangents, are called with plain NumPy values at the innermost level; they
    are themselves treated as primitives of the same kind for higher orders
    (they must be linear in the tangent / cotangent).
    """

    def impl(*args):
        try:
            r = py_fn(*args)
        except DpError:
            raise
        except Exception as exc:
            err = DpInternalError(f"the Python function `{name}` raised "
                                  f"{type(exc).__name__}: {exc}", None,
                                  "the error comes from the host program")
            err.kind = "host"
            raise err from exc
        if isinstance(r, (list, tuple)):
            raise DpTypeError(f"the Python primitive `{name}` must return a number or an array",
                              None, None)
        return np.asarray(r, dtype=np.float64) if not isinstance(r, (int, float)) else r

    prim = P.Primitive(name, impl)
    if jvp is not None:
        def jvp_joint(primals, tangents, out):
            ts = [t if t is not None else np.zeros(np.shape(P.strip(x)))
                  for t, x in zip(tangents, primals)]
            return _call_rule(f"{name} jvp", jvp, (tuple(primals), tuple(ts)))
        prim.jvp_joint = jvp_joint
    if vjp is not None:
        def vjp_joint(g, out, primals, needs):
            r = _call_rule(f"{name} vjp", vjp, (tuple(primals), out, g), many=True)
            if not isinstance(r, tuple):
                r = (r,)
            return list(r)
        prim.vjp_joint = vjp_joint
    if jvp is None and vjp is None:
        prim.nondiff = False
    return PrimitiveFunction(name, prim)


def _call_rule(name, rule, args, many=False):
    """Call a host rule; traced inputs go through a rule primitive so nesting works."""
    flat = []
    for a in args:
        if isinstance(a, tuple):
            flat.extend(a)
        else:
            flat.append(a)
    if not any(isinstance(x, P.Tracer) for x in flat):
        r = rule(*args)
        if many and isinstance(r, (list, tuple)):
            return tuple(P.normalize(np.asarray(x, dtype=np.float64)) for x in r)
        return P.normalize(np.asarray(r, dtype=np.float64))
    raise DpTypeError(f"the rule of the Python primitive `{name}` was asked for a derivative "
                      "of a derivative; give a rule written in dprog instead", None, None)
