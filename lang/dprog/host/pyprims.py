"""Python primitives: `Interpreter.define(name, fn, jvp=, vjp=)`.

`fn` always runs on plain NumPy values; the rules run on plain values at first
order and on `TracedValue`s when a derivative of a derivative is taken, which is
what makes defined primitives nest. With only one rule given, the other is
derived from it by transposition (a rule is linear in its tangent or cotangent,
so recording it on a private tape and running that tape backwards applies the
transpose exactly).
"""

from __future__ import annotations

import inspect

from ..ad.engines import new_tape
from ..ad.reverse import RNode
from ..core.backend import xp
from ..core.errors import DpArgumentError, DpDifferentiationError, DpError, DpTypeError
from ..core.values import Function, Tracer, kind_of
from ..prims import primitives as P
from .convert import TracedValue, host_error, to_dprog


class PrimitiveFunction(Function):
    """A `define`d primitive, called from dprog (positional numbers and arrays only)."""

    __slots__ = ("arity", "name", "prim", "remake")

    def __init__(self, name, prim, arity, remake=None):
        self.name = name
        self.prim = prim
        self.arity = arity  # (min, max or None), or None when unknown
        self.remake = remake  # how it pickles: made again from its Python callables

    def describe(self) -> str:
        return f"<primitive {self.name}>"

    def __reduce__(self):
        return self.remake

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise DpArgumentError(f"`{self.name}` takes positional arguments only", None,
                                  "a defined primitive is called as name(x, ...)")
        if self.arity is not None:
            lo, hi = self.arity
            n = len(args)
            if n < lo or (hi is not None and n > hi):
                want = str(lo) if lo == hi else (f"at least {lo}" if hi is None
                                                 else f"{lo} to {hi}")
                raise DpArgumentError(f"`{self.name}` takes {want} argument"
                                      f"{'' if want == '1' else 's'} but {n} "
                                      f"{'was' if n == 1 else 'were'} given", None, None)
        for a in args:
            t = type(a)
            if not (t is float or t is int or t is bool or t is xp.ndarray
                    or isinstance(a, Tracer)):
                raise DpTypeError(f"`{self.name}` expects numbers or arrays, got {kind_of(a)}",
                                  None, None)
        return P.bind(self.prim, args)


def _arity(fn) -> tuple[int, int | None] | None:
    """How many positional arguments fn accepts, or None if its signature is unknown."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    lo, hi = 0, 0
    var = False
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            hi += 1
            if p.default is p.empty:
                lo += 1
        elif p.kind is p.VAR_POSITIONAL:
            var = True
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            return None
    return lo, None if var else hi


def _readonly(x):
    """A plain value for host code: arrays as read-only views (dprog values are immutable)."""
    if type(x) is xp.ndarray:
        v = x.view()
        v.flags.writeable = False
        return v
    return x


def _to_host(x):
    if isinstance(x, Tracer):
        return TracedValue(x)
    return _readonly(x)


def _who(name: str, what: str) -> str:
    return f"the Python primitive `{name}`" if what == "fn" else f"the {what} rule of `{name}`"


def _host_result(name: str, what: str, r):
    """A value returned by host code where a number or an array is expected."""
    who = _who(name, what)
    t = type(r)
    if t is float or t is int or t is bool:
        return r
    if t is TracedValue:
        return r._v
    if isinstance(r, xp.ndarray):
        return P.accept_array(r, lambda dtype: DpTypeError(
            f"{who} returned an array of dtype {dtype}", None, "return numbers or numeric arrays"))
    if isinstance(r, (xp.integer, xp.floating, xp.bool_)):
        return r.item() if not isinstance(r, xp.floating) else float(r)
    if isinstance(r, Tracer):
        return r
    if t is list:

        v = to_dprog(r)
        if type(v) is xp.ndarray or isinstance(v, Tracer):
            return v
    raise DpTypeError(f"{who} must return a number or an array, got {type(r).__name__}",
                      None, None)


def _call_host(name: str, what: str, fn, args: tuple):
    try:
        return fn(*args)
    except DpError:
        raise
    except Exception as exc:
        raise host_error(_who(name, what), exc) from exc


def _fit(name: str, what: str, c, want: tuple):
    """Make a rule's result have shape `want`: broadcast up or sum broadcast axes down."""
    s = P.shape(c)
    if s == want:
        return c
    try:
        b = xp.broadcast_shapes(s, want)
    except ValueError:
        b = None
    if b == want:
        return P.broadcast_to(c, want)
    if b == s:
        return P.unbroadcast(c, xp.zeros(want) if want else 0.0)
    raise DpDifferentiationError(f"{_who(name, what)} returned shape {s}, expected {want}",
                                 None, "a tangent has the output's shape; a cotangent has "
                                 "its argument's shape")


def _zeros_like(x):
    s = P.shape(x)
    return xp.zeros(s) if s else 0.0


def make_primitive_function(interp, name: str, py_fn, jvp=None, vjp=None,
                            batch=None) -> PrimitiveFunction:
    """Wrap py_fn(*arrays) -> array as a dprog primitive with host derivative rules.

    jvp(primals, tangents) -> tangent of the output, and
    vjp(primals, out, g) -> tuple of cotangents (one per argument; None = zero);
    batch(args, axes) -> (output, its batch axis), for vmap (else once per example).
    """
    def impl(*args):
        r = _call_host(name, "fn", py_fn, tuple(_readonly(a) for a in args))
        return _host_result(name, "fn", r)

    prim = P.defprim(name, impl, jvp_joint=_jvp_joint(name, jvp, vjp),
                     vjp_joint=_vjp_joint(name, jvp, vjp), batch=_batch_rule(name, batch),
                     register=False)
    return PrimitiveFunction(name, prim, _arity(py_fn),
                             (make_primitive_function, (None, name, py_fn, jvp, vjp, batch)))


def _batch_rule(name: str, batch):
    """The host's batching rule as a primitive's: it sees plain arrays, each with the
    axis of its batch (None: the same for every example). Without one, or when a
    derivative is being taken through the call, vmap runs py_fn once per example."""
    if batch is None:
        return "per example"

    def rule(p, args, dims, params):
        if any(isinstance(a, Tracer) for a in args):
            return None
        r = _call_host(name, "batch", batch, (tuple(_readonly(a) for a in args), tuple(dims)))
        if type(r) is not tuple or len(r) != 2 or not isinstance(r[1], int):
            raise DpTypeError(f"{_who(name, 'batch')} must return (output, batch axis), got "
                              f"{type(r).__name__}", None, None)
        return _host_result(name, "batch", r[0]), r[1]
    return rule


def _no_rule(name):
    return DpDifferentiationError(f"`{name}` has no derivative rule", None,
                                  "pass jvp= and/or vjp= to define() to differentiate it")


def _jvp_joint(name, jvp, vjp):
    def once(primals, tangents, out):
        ts = tuple(t if t is not None else _zeros_like(x) for t, x in zip(tangents, primals))
        if jvp is not None:
            r = _call_host(name, "jvp", jvp,
                           (tuple(_to_host(x) for x in primals), tuple(_to_host(t) for t in ts)))
            r = _host_result(name, "jvp", r)
        elif vjp is not None:
            r = _jvp_from_vjp(name, vjp, primals, ts, out)
        else:
            raise _no_rule(name)
        return _fit(name, "jvp", r, P.shape(out))

    def jvp_joint(primals, tangents, out):
        batch = None
        for t, x in zip(tangents, primals):
            if t is not None and P.ndim(t) == P.ndim(x) + 1:
                batch = P.shape(t)[0]
                break
        if batch is None:
            return once(primals, tangents, out)
        # a batch of tangents (jacfwd): apply the rule to each one
        rows = [once(primals, [None if t is None else P.getitem(t, (i,)) for t in tangents],
                     out) for i in range(batch)]
        return P.stack([float(r) if type(r) is int else r for r in rows], axis=0)
    return jvp_joint


def _cotangents(name, r, primals):
    if type(r) is not tuple and type(r) is not list:
        r = (r,)
    if len(r) != len(primals):
        raise DpDifferentiationError(f"the vjp rule of `{name}` returned {len(r)} cotangent(s) "
                                     f"for {len(primals)} argument(s)", None,
                                     "return a tuple with one cotangent per argument")
    out = []
    for c, x in zip(r, primals):
        if c is None:
            out.append(None)
            continue
        c = _host_result(name, "vjp", c)
        out.append(_fit(name, "vjp", c, P.shape(x)))
    return out


def _vjp_joint(name, jvp, vjp):
    def vjp_joint(g, out, primals, needs):
        if vjp is not None:
            r = _call_host(name, "vjp", vjp,
                           (tuple(_to_host(x) for x in primals), _to_host(out), _to_host(g)))
            cts = _cotangents(name, r, primals)
            return [c if need else None for c, need in zip(cts, needs)]
        if jvp is not None:
            return _vjp_from_jvp(name, jvp, g, out, primals, needs)
        raise _no_rule(name)
    return vjp_joint


def _vjp_from_jvp(name, jvp, g, out, primals, needs):
    """Transpose the (linear in t) jvp rule: record it on a private tape, run it backwards."""

    inner = new_tape()
    leaves = [inner.leaf(_zeros_like(x)) if need else None for x, need in zip(primals, needs)]
    ts = tuple(TracedValue(leaf) if leaf is not None else _readonly(_zeros_like(x))
               for leaf, x in zip(leaves, primals))
    r = _call_host(name, "jvp", jvp, (tuple(_to_host(x) for x in primals), ts))
    r = _fit(name, "jvp", _host_result(name, "jvp", r), P.shape(out))
    if not (type(r) is RNode and r._trace is inner):
        return [None] * len(primals)
    cts = inner.backward([(r.idx, g)])
    inner.release()
    return [cts[leaf.idx] if leaf is not None else None for leaf in leaves]


def _jvp_from_vjp(name, vjp, primals, ts, out):
    """J·t from the vjp rule V(g) = Jᵀg: J·t is the gradient of <V(g), t> in g."""

    inner = new_tape()
    g = inner.leaf(_zeros_like(out))
    r = _call_host(name, "vjp", vjp,
                   (tuple(_to_host(x) for x in primals), _to_host(out), TracedValue(g)))
    cts = _cotangents(name, r, primals)
    seeds = [(c.idx, t) for c, t in zip(cts, ts)
             if type(c) is RNode and c._trace is inner]
    if not seeds:
        return _zeros_like(out)
    got = inner.backward(seeds)[g.idx]
    inner.release()
    return got if got is not None else _zeros_like(out)
