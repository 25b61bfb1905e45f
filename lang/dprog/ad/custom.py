"""Functions with their own derivative rules: `custom_vjp`, `custom_jvp`, and
`checkpoint` (recompute instead of storing). Each records one node (or one
tangent) for the whole call on the trace it belongs to."""

from __future__ import annotations

from ..core.backend import xp
from ..core.errors import DpDifferentiationError, DpTypeError
from ..core.values import TRACER_TYPES, Record
from ..prims import primitives as P
from .batching import BatchTracer, NeedsPerExample
from .engines import new_tape
from .forward import Dual, ForwardTrace
from .reverse import RNode, Tape
from .trees import (
    conform,
    flatten,
    flatten_any,
    is_leaf,
    to_float,
    top_trace,
    unflatten,
    unflatten_any,
    unwrap_level,
    unwrap_tree,
    zeros_like,
)


def _batching_on_top(trace, leaves) -> bool:
    """True when a vmap is the top trace. With differentiation under it, the custom
    rule must still apply: that vmap runs once per example (NeedsPerExample)."""
    if trace is None or not trace.batching:
        return False
    for x in leaves:
        while type(x) is BatchTracer:
            x = x.val
        if type(x) in TRACER_TYPES:
            raise NeedsPerExample(trace, "a custom rule under vmap inside a differentiation")
    return True


def call_custom_vjp(f, fwd, bwd, args: tuple):
    leaves, shp = flatten_any(args)
    trace = top_trace(leaves)
    if _batching_on_top(trace, leaves) or not isinstance(trace, Tape):
        # no reverse tracing at the top: run f itself (forward mode traces through f)
        return f(*args)
    primals = unflatten_any(shp, [unwrap_level(x, trace) for x in leaves])
    res_pair = fwd(*primals)
    if type(res_pair) is not tuple or len(res_pair) != 2:
        raise DpTypeError("custom_vjp: `fwd` must return a tuple (output, residuals)", None,
                          "e.g. `fn fwd(x) { let y = f(x); return (y, x) }`")
    y, res = res_pair
    y_leaves, y_shape = flatten(y, "output of `fwd` in custom_vjp")
    parents = [x.idx if type(x) is RNode and x._trace is trace else -1 for x in leaves]
    def backward(g):
        if y_shape is not None:
            g = unflatten(y_shape, g)
        cts = bwd(res, g)
        if type(cts) is not tuple:
            cts = (cts,)
        if len(cts) != len(args):
            raise DpDifferentiationError(
                f"custom_vjp: `bwd` returned {len(cts)} cotangent(s) for {len(args)} "
                f"argument(s)", None, "return a tuple with one cotangent per argument")
        ct_leaves, _ = flatten_any(cts)
        if len(ct_leaves) != len(leaves):
            raise DpDifferentiationError("custom_vjp: `bwd`'s cotangents do not match the "
                                         "structure of the arguments", None, None)
        for c, x in zip(ct_leaves, leaves):
            if c is not None and is_leaf(x) and P.shape(c) != P.shape(x):
                raise DpDifferentiationError(
                    f"custom_vjp: `bwd` returned a cotangent of shape {P.shape(c)} for an "
                    f"argument of shape {P.shape(x)}", None,
                    "each cotangent must have the shape of its argument")
        return ct_leaves

    if y_shape is not None:
        return unflatten(y_shape, _record_tree_rule(trace, parents, y_leaves, backward))
    return trace.record_custom(backward, parents, y)


def _record_tree_rule(trace, parents, y_leaves, pull):
    """Record a custom rule whose output has several leaves: one joint node takes
    the arguments; each output leaf is a node on it that hands its cotangent over.

    The backward pass visits the leaf nodes first (they come later on the tape),
    so when it reaches the joint node every output cotangent is collected and
    `pull(cotangents)` (one per output leaf, zeros filled in) runs once.
    """
    collected: list = [None] * len(y_leaves)

    def joint_backward(_g):
        gs = [c if c is not None else zeros_like(y) for c, y in zip(collected, y_leaves)]
        collected[:] = [None] * len(y_leaves)
        return pull(gs)

    joint = trace.record_custom(joint_backward, parents, 0.0)

    def leaf_backward(i):
        def backward(g):
            collected[i] = g if collected[i] is None else P.add(collected[i], g)
            return [1.0]  # wakes the joint node
        return backward

    return [trace.record_custom(leaf_backward(i), [joint.idx], y)
            for i, y in enumerate(y_leaves)]


def _check_single_output(y, what):
    if type(y) is tuple or type(y) is Record:
        raise DpTypeError(f"{what}: the function must return a number or an array", None,
                          "return a single array (stack several outputs into one)")


def call_custom_jvp(f, rule, args: tuple):
    leaves, shp = flatten_any(args)
    trace = top_trace(leaves)
    if trace is None or _batching_on_top(trace, leaves):
        return f(*args)
    if isinstance(trace, ForwardTrace):
        primals = tuple(unwrap_tree(a, trace) for a in args)
        tangents = tuple(_tangent_tree(a, trace) for a in args)
        out = rule(primals, tangents)
        if type(out) is not tuple or len(out) != 2:
            raise DpTypeError("custom_jvp: the rule must return a tuple (output, tangent)", None,
                              "e.g. `fn rule(p, t) { return (f(p[0]), df(p[0]) * t[0]) }`")
        y, ty = out
        return Dual(trace, y, ty)
    # Reverse mode: linearise the rule. Tangent inputs become leaves of an inner
    # tape; the rule's tangent output is linear in them, so back-propagating the
    # inner tape applies exactly the transpose of the custom JVP.
    primals = tuple(unwrap_tree(a, trace) for a in args)
    inner = new_tape()
    t_leaves = []
    parents = []
    for x in leaves:
        node = inner.leaf(zeros_like(unwrap_level(x, trace)))
        t_leaves.append(node)
        parents.append(x.idx if type(x) is RNode and x._trace is trace else -1)
    tangents = unflatten_any(shp, t_leaves)
    out = rule(primals, tangents)
    if type(out) is not tuple or len(out) != 2:
        raise DpTypeError("custom_jvp: the rule must return a tuple (output, tangent)", None, None)
    y, ty = out
    y_leaves, y_shape = flatten(unwrap_tree(y, inner), "output of the custom_jvp rule")
    ty_leaves, ty_shape = flatten(conform(ty, y_shape), "tangent of the custom_jvp rule")
    if ty_shape != y_shape:
        raise DpDifferentiationError("custom_jvp: the rule's tangent does not have the "
                                     "structure of its output", None, None)

    def backward(gs):
        if y_shape is None:
            gs = [gs]
        seeds = [(t.idx, g) for t, g in zip(ty_leaves, gs)
                 if type(t) is RNode and t._trace is inner]
        if not seeds:
            return [None] * len(t_leaves)
        cts = inner.backward(seeds)
        return [cts[n.idx] for n in t_leaves]

    if y_shape is not None:
        return unflatten(y_shape, _record_tree_rule(trace, parents, y_leaves, backward))
    return trace.record_custom(backward, parents, y_leaves[0])


def _tangent_tree(a, trace):
    leaves, shp = flatten_any(a)
    out = []
    for x in leaves:
        if type(x) is Dual and x._trace is trace:
            out.append(x.tangent)
        elif is_leaf(x):
            z = zeros_like(x)
            if trace.batch is not None:
                P.check_size(trace.batch * int(xp.prod(P.shape(x))))
                z = xp.zeros((trace.batch,) + P.shape(x))
            out.append(z)
        else:
            out.append(x)
    return unflatten_any(shp, out)


def call_checkpoint(f, args: tuple):
    leaves, shp = flatten_any(args)
    trace = top_trace(leaves)
    if _batching_on_top(trace, leaves) or not isinstance(trace, Tape):
        return f(*args)
    primals = unflatten_any(shp, [unwrap_level(x, trace) for x in leaves])
    y = f(*primals)  # not recorded on this tape: only the output node is
    _check_single_output(y, "checkpoint")
    parents = [x.idx if type(x) is RNode and x._trace is trace else -1 for x in leaves]
    diff_positions = [i for i, x in enumerate(leaves) if is_leaf(x)]

    def backward(g):
        # recompute f's intermediates on a fresh tape, then pull g back through them
        inner = new_tape()
        nodes = {}
        new_leaves = list(flatten_any(primals)[0])
        for i in diff_positions:
            if parents[i] >= 0:
                nodes[i] = inner.leaf(to_float(new_leaves[i]))
                new_leaves[i] = nodes[i]
        out = f(*unflatten_any(shp, new_leaves))
        if not (type(out) is RNode and out._trace is inner):
            return [None] * len(leaves)
        cts = inner.backward([(out.idx, g)])
        return [cts[nodes[i].idx] if i in nodes else None for i in range(len(leaves))]

    return trace.record_custom(backward, parents, y)
