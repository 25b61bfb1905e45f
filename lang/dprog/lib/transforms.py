"""The transformations as builtins: grad, value_and_grad, derivative, jvp, vjp, the
Jacobians, hessian, hvp, stop_gradient, custom_vjp, custom_jvp, checkpoint, check_grad."""

from __future__ import annotations

import pickle
import sys

from ..ad.batching import vmap_call
from ..ad.checking import check_grad_call
from ..ad.custom import call_checkpoint, call_custom_jvp, call_custom_vjp
from ..ad.levels import new_level
from ..ad.transforms import (
    check_argnums,
    hessian_call,
    hvp_call,
    jacfwd_call,
    jacobian_call,
    jacrev_call,
    jvp_call,
    value_and_grad_call,
    vjp_call,
)
from ..ad.trees import flatten_any, to_float, unflatten_any
from ..core.backend import xp
from ..core.errors import (
    DpArgumentError,
    DpTypeError,
)
from ..core.values import Function, Record, Tracer, kind_of, strip, strip_derivatives
from ..prims import primitives as P
from .table import _bool_arg, _func, _num, builtin


# ============================================================ differentiation
class Transformed(Function):
    """A function made by a transformation (grad(f), jacfwd(f), ...).

    `remake` is (builtin, args) that makes it again: how it pickles (its `fn` is a
    Python closure); None for one that cannot travel (a pullback holds a tape).
    """

    __slots__ = ("name", "fn", "remake")

    def __init__(self, name, fn, remake=None):
        self.name = name
        self.fn = fn
        self.remake = remake

    def describe(self) -> str:
        return f"<fn {self.name}>"

    def __reduce__(self):
        if self.remake is None:
            raise pickle.PicklingError(
                f"`{self.name}` cannot be pickled: it holds a recording of one evaluation; "
                "pickle the function it came from and call vjp again on the other side")
        return self.remake

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


def _fname(f):
    return getattr(f, "name", "f")


def _first_arg(what, f, call, argnums=0):
    """A Jacobian-style function of f's arguments: differentiate with respect to
    argument `argnums` (an int, or a tuple of ints for a tuple of Jacobians, as in
    JAX); the other arguments and keyword arguments are passed through."""
    argnums = strip(argnums)

    def jac(*args, **kwargs):
        if not args:
            raise DpArgumentError(f"`{what}({_fname(f)})` needs the point to differentiate at",
                                  None, f"e.g. {what}(f)(x)")
        nums, single = check_argnums(argnums, len(args), what)
        if single and nums[0] == 0 and not kwargs:
            return call(f, args[0], args[1:])

        def g(x):
            full = list(args)
            for k, v in zip(nums, (x,) if single else x):
                full[k] = v
            return f(*full, **kwargs)
        x = args[nums[0]] if single else tuple(args[k] for k in nums)
        return call(g, x, ())
    return jac


def _aux_flag(has_aux, what) -> bool:
    return _bool_arg(has_aux, what, "has_aux")


def _with_aux(f, what):
    """f that returns (output, aux): a function of the output alone, the box that receives
    aux, and the level above which aux's tracers belong to this transformation."""
    box: list = []

    def main(*args, **kwargs):
        r = f(*args, **kwargs)
        if type(r) is not tuple or len(r) != 2:
            raise DpTypeError(f"`{what}` with has_aux=true needs a function returning a tuple "
                              f"(output, aux), got {kind_of(r)}", None,
                              "e.g. `return (loss, {accuracy: acc})`")
        box.append(r[1])
        return r[0]
    return Transformed(_fname(f), main), box, new_level()


def _aux(box, level):
    """The aux value, undifferentiated: without the tracers of the transformation."""
    leaves, shp = flatten_any(box[-1])
    out = []
    for x in leaves:
        while isinstance(x, Tracer) and x._trace.level > level:
            x = x.primal
        out.append(x)
    return unflatten_any(shp, out)


@builtin("grad(f, argnums=0, has_aux=false)", "function giving the gradient of scalar-valued f "
         "with respect to argument argnums (an int, or a tuple of ints for a tuple of "
         "gradients); trees give trees. has_aux: f returns (output, aux) and the result is "
         "(gradient, aux)", "differentiation", "transform")
def _grad(f, argnums=0, has_aux=False):
    return _reverse("grad", _grad, f, argnums, has_aux,
                    lambda v, grads: grads, lambda v, aux, grads: (grads, aux))


def _reverse(what, maker, f, argnums, has_aux, result, result_aux):
    """grad / value_and_grad: `result(value, grads)`, or with has_aux
    `result_aux(value, aux, grads)`."""
    _func(f, what)
    argnums = strip(argnums)
    aux = _aux_flag(has_aux, what)

    def g(*args, **kwargs):
        if aux:
            main, box, level = _with_aux(f, what)
            v, grads = value_and_grad_call(main, args, kwargs, argnums, what)
            return result_aux(v, _aux(box, level), grads)
        return result(*value_and_grad_call(f, args, kwargs, argnums, what))
    return Transformed(f"{what}({_fname(f)})", g, (maker, (f, argnums, aux)))


@builtin("value_and_grad(f, argnums=0, has_aux=false)", "function giving (f(x...), grad "
         "f(x...)); with has_aux, ((output, aux), gradient)", "differentiation", "transform")
def _value_and_grad(f, argnums=0, has_aux=False):
    return _reverse("value_and_grad", _value_and_grad, f, argnums, has_aux,
                    lambda v, grads: (v, grads), lambda v, aux, grads: ((v, aux), grads))


@builtin("derivative(f)", "f' by forward mode, for f from numbers to numbers (elementwise on "
         "arrays)", "differentiation", "transform")
def _derivative(f):
    _func(f, "derivative")

    def d(*args, **kwargs):
        if not args:
            raise DpArgumentError(f"`derivative({_fname(f)})` needs the point to "
                                  "differentiate at", None, "e.g. derivative(f)(x)")
        x = to_float(_num(args[0], "derivative"))
        rest = args[1:]
        s = P.shape(x)
        one = xp.ones(s) if s else 1.0
        return jvp_call(lambda v: f(v, *rest, **kwargs), (x,), (one,))[1]
    return Transformed(f"derivative({_fname(f)})", d, (_derivative, (f,)))


@builtin("jvp(f, primals, tangents)", "(f(primals...), J·tangents) by forward mode",
         "differentiation", "transform")
def _jvp(f, primals, tangents):
    _func(f, "jvp")
    if type(primals) is not tuple or type(tangents) is not tuple:
        raise DpTypeError("`jvp` takes the primals and the tangents as tuples", None,
                          "e.g. jvp(f, (x,), (t,))")
    if len(primals) != len(tangents):
        raise DpArgumentError(f"`jvp` got {len(primals)} primals but {len(tangents)} tangents",
                              None, None)
    return jvp_call(f, primals, tangents)


@builtin("vjp(f, x..., has_aux=false)", "(f(x...), pullback); pullback(ct) gives a tuple of "
         "cotangents; with has_aux, f returns (output, aux) and vjp gives (output, pullback, "
         "aux)", "differentiation", "transform")
def _vjp(f, *xs, has_aux=False):
    _func(f, "vjp")
    if _aux_flag(has_aux, "vjp"):
        main, box, level = _with_aux(f, "vjp")
        y, pull = _vjp(main, *xs)
        return (y, pull, _aux(box, level))
    y, pull = vjp_call(f, xs)

    def pullback(*cts, **kwargs):
        if len(cts) != 1 or kwargs:
            raise DpArgumentError(
                f"a pullback takes 1 argument (the cotangent of the output) but "
                f"{len(cts) + len(kwargs)} were given", None,
                "pass one cotangent shaped like f's output; it returns a tuple")
        return pull(cts[0])
    return (y, Transformed(f"pullback({_fname(f)})", pullback))


@builtin("jacfwd(f, argnums=0, has_aux=false)", "function giving the Jacobian of f by forward "
         "mode (one batched pass); with has_aux, (Jacobian, aux)",
         "differentiation", "transform")
def _jacfwd(f, argnums=0, has_aux=False):
    _func(f, "jacfwd")
    return _jacobian_aux("jacfwd", f, jacfwd_call, argnums, has_aux, _jacfwd)


@builtin("jacrev(f, argnums=0, has_aux=false)", "function giving the Jacobian of f by reverse "
         "mode (one backward pass, batched over the outputs); with has_aux, (Jacobian, aux)",
         "differentiation", "transform")
def _jacrev(f, argnums=0, has_aux=False):
    _func(f, "jacrev")
    return _jacobian_aux("jacrev", f, jacrev_call, argnums, has_aux, _jacrev)


def _jacobian_aux(what, f, call, argnums, has_aux, maker):
    name = f"{what}({_fname(f)})"
    if not _aux_flag(has_aux, what):
        return Transformed(name, _first_arg(what, f, call, argnums), (maker, (f, argnums)))

    def jac(*args, **kwargs):
        main, box, level = _with_aux(f, what)
        j = _first_arg(what, main, call, argnums)(*args, **kwargs)
        return (j, _aux(box, level))
    return Transformed(name, jac, (maker, (f, argnums, True)))


@builtin("jacobian(f, argnums=0)", "function giving the Jacobian of f, by the cheaper mode",
         "differentiation", "transform")
def _jacobian(f, argnums=0):
    _func(f, "jacobian")
    return Transformed(f"jacobian({_fname(f)})",
                       _first_arg("jacobian", f, jacobian_call, argnums), (_jacobian, (f, argnums)))


@builtin("hessian(f, argnums=0)", "function giving the Hessian of scalar f (jacfwd of jacrev)",
         "differentiation", "transform")
def _hessian(f, argnums=0):
    _func(f, "hessian")
    return Transformed(f"hessian({_fname(f)})", _first_arg("hessian", f, hessian_call, argnums),
                       (_hessian, (f, argnums)))


@builtin("hvp(f, x, v)", "Hessian-vector product of scalar f at x, without forming the Hessian",
         "differentiation", "transform")
def _hvp(f, x, v):
    _func(f, "hvp")
    return hvp_call(f, x, v)


@builtin("stop_gradient(x)", "x itself, with zero derivative (for trees too)", "differentiation",
         "no d")
def _stop_gradient(x):
    leaves, shp = flatten_any(x)
    return unflatten_any(shp, [strip_derivatives(v) for v in leaves])


# ==================================================================== batching
@builtin("vmap(f, in_axes=0, out_axes=0)", "function mapping f over a batch: the axis in_axes "
         "of each argument (an int, none for an unmapped argument, or a tuple/record of them "
         "per argument) is the batch; results are stacked on out_axes. Control flow that "
         "depends on the example runs f once per example", "differentiation", "transform",
         needs_rt=True)
def vmap_builtin(rt, f, in_axes=0, out_axes=0):
    _func(f, "vmap")
    in_axes = _axes_spec(in_axes, "in_axes")
    out_axes = _axes_spec(out_axes, "out_axes")
    name = f"vmap({_fname(f)})"

    def v(*args, **kwargs):
        if not args:
            raise DpArgumentError(f"`{name}` needs the arguments to map over", None,
                                  f"e.g. {name}(xs)")
        g = (lambda *a: f(*a, **kwargs)) if kwargs else f
        explain = [] if rt is not None and rt.vmap_fallbacks is not None else None
        try:
            return vmap_call(g, args, in_axes, out_axes, explain, rt)
        finally:
            if explain:
                _report_fallbacks(rt, name, explain)
    return Transformed(name, v, (_vmap_elsewhere, (f, in_axes, out_axes)))


def _vmap_elsewhere(f, in_axes, out_axes):
    """vmap(f) unpickled in another process: without an interpreter's runtime, so
    printing inside f is not held back during the batched attempt."""
    return vmap_builtin(None, f, in_axes, out_axes)


def _axes_spec(spec, what):
    """in_axes/out_axes as ints, None, tuples and records (whole floats become ints)."""
    t = type(spec)
    if spec is None or t is int:
        return spec
    if t is float and spec.is_integer():
        return int(spec)
    if t is tuple:
        return tuple(_axes_spec(s, what) for s in spec)
    if t is Record:
        return Record({k: _axes_spec(spec.get(k), what) for k in spec.keys()})
    raise DpTypeError(f"`vmap`: {what} must be an int, none, or a tuple/record of them, "
                      f"got {kind_of(spec)}", None, f"e.g. {what}=0 or {what}=(none, 0)")


def _report_fallbacks(rt, name, explain):
    """--explain-vmap: say where the batched run gave way to one run per example."""
    err = rt.stderr if rt.stderr is not None else sys.stderr
    for reason, where in explain:
        at = ""
        if where is not None:
            span, fname = where
            at = f" at {span.source.name}:{span.line}:{span.column}"
            if fname:
                at += f" (in {fname})"
        err.write(f"{name}: ran once per example{at}: {reason}\n")
    rt.vmap_fallbacks.extend(explain)


class _Custom(Function):
    """custom_vjp(f, ...), custom_jvp(f, ...), checkpoint(f); pickles as `remake`."""

    __slots__ = ("name", "call", "remake")

    def __init__(self, name, call, remake):
        self.name = name
        self.call = call
        self.remake = remake

    def describe(self) -> str:
        return f"<fn {self.name}>"

    def __reduce__(self):
        return self.remake

    def __call__(self, *args, **kwargs):
        return self.call(args, kwargs)


def _positional_only(name, call):
    def c(args, kwargs):
        if kwargs:
            raise DpArgumentError(f"`{name}` takes positional arguments only", None, None)
        return call(args)
    return c


@builtin("custom_vjp(f, fwd, bwd)", "f with a reverse rule: fwd(x...) -> (y, res), "
         "bwd(res, g) -> tuple of cotangents", "differentiation", "transform")
def _custom_vjp(f, fwd, bwd):
    _func(f, "custom_vjp")
    _func(fwd, "custom_vjp", "fwd")
    _func(bwd, "custom_vjp", "bwd")
    name = f"custom_vjp({_fname(f)})"
    return _Custom(name, _positional_only(
        name, lambda args: call_custom_vjp(f, fwd, bwd, args)), (_custom_vjp, (f, fwd, bwd)))


@builtin("custom_jvp(f, rule)", "f with a forward rule: rule((x...), (t...)) -> (y, t_out); "
         "reverse mode uses it too", "differentiation", "transform")
def _custom_jvp(f, rule):
    _func(f, "custom_jvp")
    _func(rule, "custom_jvp", "rule")
    name = f"custom_jvp({_fname(f)})"
    return _Custom(name, _positional_only(name, lambda args: call_custom_jvp(f, rule, args)),
                   (_custom_jvp, (f, rule)))


@builtin("checkpoint(f)", "f whose intermediates are recomputed in the backward pass instead "
         "of stored", "differentiation", "transform")
def _checkpoint(f):
    _func(f, "checkpoint")
    return _Custom(f"checkpoint({_fname(f)})", lambda args, kwargs: call_checkpoint(
        (lambda *a: f(*a, **kwargs)) if kwargs else f, args), (_checkpoint, (f,)))


@builtin("check_grad(f, x...)", "compare forward, reverse and central-difference derivatives; "
         "true, or an error naming the worst entry", "differentiation", "transform")
def _check_grad(f, *xs):
    _func(f, "check_grad")
    if not xs:
        raise DpArgumentError("`check_grad` needs at least one point to check at", None,
                              "e.g. check_grad(f, 1.0)")
    return check_grad_call(f, xs)



