"""dprog's transformations called from Python: `dprog.grad(f)(x)` and friends.

`f` may be a dprog function taken out of an interpreter (`interp["loss"]`),
or a Python function built from such functions, from `define`d primitives,
operators and NumPy ufuncs (it then sees `TracedValue`s while being
differentiated). Arguments are converted with `to_dprog`, results with
`to_python`; everything runs under the owning interpreter's limits when there
is one, and only `DpError`s escape. The semantics are those of the dprog
builtins of the same names (SPEC §6): these functions call them.
"""

from __future__ import annotations

from ..core.values import Function
from ..lib.builtins import make_builtins
from ..lib.transforms import vmap_builtin
from .convert import PyCallable, PyFunction, TracedValue, host_guard, to_dprog, to_python

_BUILTINS: dict | None = None


def _builtin(name: str):
    global _BUILTINS
    if _BUILTINS is None:
        _BUILTINS = make_builtins(None)
    return _BUILTINS[name]


def _as_function(f, what: str):
    """(dprog function, owning interpreter or None) for a Python-side callable."""
    if isinstance(f, PyCallable):
        return f._dp, f._interp
    if isinstance(f, Function):
        return f, None
    if callable(f):
        return PyFunction(getattr(f, "__name__", "python_function"), f, None), None
    raise TypeError(f"dprog.{what} needs a function, got {type(f).__name__}")


def _guard(interp):
    return interp._running() if interp is not None else host_guard()


def _argnums(argnums):
    if isinstance(argnums, list):
        return tuple(argnums)
    return argnums


def _transform(what: str, f, *extra):
    """A Python callable for builtin transformation `what` applied to f."""
    fn, interp = _as_function(f, what)
    with _guard(interp):
        made = _builtin(what)(fn, *extra)
    return PyCallable(made, interp)


def grad(f, argnums=0):
    """The gradient function of scalar-valued f (w.r.t. argument(s) `argnums`)."""
    return _transform("grad", f, _argnums(argnums))


def value_and_grad(f, argnums=0):
    """A function giving (f(x...), grad f(x...))."""
    return _transform("value_and_grad", f, _argnums(argnums))


def derivative(f):
    """f' for f from numbers to numbers (elementwise on arrays), by forward mode."""
    return _transform("derivative", f)


def jacfwd(f):
    """The Jacobian function of f, by forward mode."""
    return _transform("jacfwd", f)


def jacrev(f):
    """The Jacobian function of f, by reverse mode."""
    return _transform("jacrev", f)


def jacobian(f):
    """The Jacobian function of f, by the cheaper mode."""
    return _transform("jacobian", f)


def hessian(f):
    """The Hessian function of scalar-valued f."""
    return _transform("hessian", f)


def vmap(f, in_axes=0, out_axes=0):
    """f mapped over a batch (the axis `in_axes` of each argument); see the `vmap`
    builtin. in_axes/out_axes: an int, None, or a tuple/dict tree of them."""
    fn, interp = _as_function(f, "vmap")
    with _guard(interp):
        made = vmap_builtin(interp.rt if interp is not None else None, fn,
                            to_dprog(in_axes, interp), to_dprog(out_axes, interp))
    return PyCallable(made, interp)


def _tuple_of(x) -> tuple:
    """Primals/tangents as a tuple of arguments (a lone value is one argument)."""
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def jvp(f, primals, tangents):
    """(f(*primals), J·tangents) by forward mode; primals and tangents are tuples."""
    fn, interp = _as_function(f, "jvp")
    with _guard(interp):
        p = tuple(to_dprog(x, interp) for x in _tuple_of(primals))
        t = tuple(to_dprog(x, interp) for x in _tuple_of(tangents))
        return to_python(_builtin("jvp")(fn, p, t), interp)


def vjp(f, *primals):
    """(f(*primals), pullback) where pullback(ct) gives a tuple of cotangents."""
    fn, interp = _as_function(f, "vjp")
    with _guard(interp):
        p = tuple(to_dprog(x, interp) for x in primals)
        return to_python(_builtin("vjp")(fn, *p), interp)


def hvp(f, x, v):
    """The Hessian of scalar f at x times v, without forming the Hessian."""
    fn, interp = _as_function(f, "hvp")
    with _guard(interp):
        return to_python(_builtin("hvp")(fn, to_dprog(x, interp), to_dprog(v, interp)), interp)


__all__ = [
    "TracedValue",
    "derivative",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jvp",
    "value_and_grad",
    "vjp",
    "vmap",
]
