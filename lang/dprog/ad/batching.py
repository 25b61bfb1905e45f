"""Batching (`vmap`): the third interpretation of the primitives, beside their NumPy
implementations and their derivative rules.

`vmap(f)` calls f once on `BatchTracer`s: values that stand for one example but
carry the whole batch, with the axis that holds it. A primitive that meets
them goes (through `bind`, like the differentiation traces) to the
`BatchTrace`, which applies the primitive's batching rule (prims/batching.py);
the result is again one batched value. Batching traces take levels like the
differentiation traces, so `vmap` and `grad` nest in either order.

Control flow never makes `vmap` fail. A batched value has no plain value of
one example: whatever needs one (an `if`, a loop bound, an index, printing, a
random draw, a function without a batching rule) raises `NeedsPerExample`,
and `vmap` then runs f once per example and stacks the results: the values
and derivatives of a loop, at a loop's cost. `explain` reports where.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext

from ..core.backend import xp
from ..core.errors import DpShapeError, DpTypeError, DpValueError, frame_location
from ..core.values import (
    BATCH_TYPES,
    TRACER_TYPES,
    Record,
    Tracer,
    kind_of,
    strip,
    strip_derivatives,
    values_equal,
)
from ..prims import primitives as P
from ..prims.batching import ELEMENTWISE, NAMED, move_from_front, move_to_front
from ..prims.core import EMPTY, ndarray, ndim
from .levels import new_level
from .trees import flatten_any, unflatten_any

_new = object.__new__  # a value without an __init__ call: the fast paths set its slots


class NeedsPerExample(BaseException):  # noqa: N818 - a signal, not an error
    """Raised where a batched value's per-example value is needed; caught by the
    `vmap` that made it, which then runs its function once per example.

    A BaseException, so that no error handler on the way mistakes it for an error.
    """

    def __init__(self, trace, reason: str):
        super().__init__(reason)
        self.trace = trace
        self.reason = reason
        self.where = _dprog_location() if trace.explain is not None else None


class BatchTracer(Tracer):
    """One example's value, standing for a batch: `val` holds the whole batch in its
    axis `bdim`."""

    __slots__ = ("val", "bdim")

    def __init__(self, trace, val, bdim: int):
        self._trace = trace
        self.val = val
        self.bdim = bdim

    @property
    def primal(self):  # noqa: D401 - see NeedsPerExample
        raise NeedsPerExample(self._trace, "a batched value was needed as a plain value")

    def shape(self) -> tuple:
        v, d = self.val, self.bdim
        s = v.shape if type(v) is ndarray else P.shape(v)
        return s[1:] if d == 0 else s[:d] + s[d + 1:]


TRACER_TYPES.add(BatchTracer)
BATCH_TYPES.add(BatchTracer)


def known_values(x):
    """x's plain value (under every enclosing trace), or None when a vmap batches it:
    code that chooses an algorithm by looking at values (a partition for a few order
    statistics) then takes one that works without them, for the whole batch at once,
    instead of making the vmap run once per example."""
    try:
        return strip(x)
    except NeedsPerExample:
        return None


def every_example(x):
    """The values of x for every example of every vmap batching it (an array with the
    batch axes somewhere): for a check that must hold for each example, which then fails
    as the loop over the examples would, without running the batch once per example."""
    while True:
        x = strip_derivatives(x)
        if type(x) is not BatchTracer:
            return x
        x = x.val


class BatchTrace:
    """One `vmap`: its level, its batch size and where to report fallbacks."""

    __slots__ = ("level", "size", "explain")
    batching = True

    def __init__(self, size: int, explain=None):
        self.level = new_level()
        self.size = size
        self.explain = explain  # a list collecting fallback reports, or None

    def process(self, p, args, params):
        if not params and p.batch == ELEMENTWISE and p.op is not None:
            if len(args) == 2:
                return self.process2(p, args[0], args[1])
            if len(args) == 1:
                return self.process1(p, args[0])
        return self._general(p, args, params)

    def _general(self, p, args, params):
        vals = [a.val if type(a) is BatchTracer and a._trace is self else a for a in args]
        dims = [a.bdim if type(a) is BatchTracer and a._trace is self else None for a in args]
        rule = p.batch
        if type(rule) is str:
            rule = NAMED.get(rule)
        res = rule(p, vals, dims, params) if rule is not None else None
        out, d = res if res is not None else self._per_example(p, vals, dims, params)
        return BatchTracer(self, out, d) if d is not None else out

    # The fast paths: an elementwise primitive without parameters whose batched operands
    # already hold the batch in front, at the result's rank (what the "elementwise" rule
    # would leave unchanged), runs its dispatching operation on them directly.
    def process1(self, p, a):
        if (type(a) is BatchTracer and a._trace is self and a.bdim == 0
                and p.batch == ELEMENTWISE and p.op is not None):
            r = _new(BatchTracer)
            r._trace = self
            r.val = p.op(a.val)
            r.bdim = 0
            return r
        return self._general(p, (a,), EMPTY)

    def process2(self, p, a, b):
        if p.batch == ELEMENTWISE and p.op is not None:
            out = None
            if type(a) is BatchTracer and a._trace is self:
                if a.bdim == 0:
                    va = a.val
                    if type(b) is BatchTracer and b._trace is self:
                        if b.bdim == 0:
                            vb = b.val
                            if (va.ndim == vb.ndim if type(va) is ndarray and type(vb) is ndarray
                                    else ndim(va) == ndim(vb)):
                                out = p.op(va, vb)
                    elif (type(b) is float or type(b) is int) or ndim(b) < ndim(va):
                        out = p.op(va, b)
            elif type(b) is BatchTracer and b._trace is self and b.bdim == 0:
                vb = b.val
                if (type(a) is float or type(a) is int) or ndim(a) < ndim(vb):
                    out = p.op(a, vb)
            if out is not None:
                r = _new(BatchTracer)
                r._trace = self
                r.val = out
                r.bdim = 0
                return r
        return self._general(p, (a, b), EMPTY)

    def _per_example(self, p, vals, dims, params):
        """A primitive without a vectorised rule: once per example, stacked."""
        outs = [P.bind(p, tuple(example(v, d, i) for v, d in zip(vals, dims)), params)
                for i in range(self.size)]
        if self.explain is not None:
            self.explain.append((f"`{p.name}` has no batching rule: it ran once per example",
                                 _dprog_location()))
        return P.stack(outs, axis=0), 0


def example(v, d, i: int):
    """Example i of a batched value v (batch axis d; None: v is the same for all)."""
    if d is None:
        return v
    return P.getitem(v, (slice(None),) * d + (i,))


# ---------------------------------------------------------------------------- vmap
def vmap_call(f, args: tuple, in_axes, out_axes, explain=None, side_effects=None):
    """vmap(f, in_axes, out_axes)(*args).

    `side_effects` is the interpreter's guard (see `runtime.state.Runtime`): while
    the batched attempt runs, printing and random draws ask for the per-example run,
    so that the output and the random stream are those of a loop.
    """
    axes = _leaf_axes(args, in_axes)
    if axes is not None:  # every argument an array or a number (the common case)
        size = _batch_size_leaves(args, axes)
        trace = BatchTrace(size, explain)
        batched = tuple(a if d is None else BatchTracer(trace, a, d) for a, d in zip(args, axes))
        axes = [[d] for d in axes]
    else:
        axes = _in_axes_per_leaf(args, in_axes)
        size = _batch_size(args, axes)
        trace = BatchTrace(size, explain)
        batched = tuple(_wrap(a, ax, trace) for a, ax in zip(args, axes))
    guard = side_effects if side_effects is not None else _NO_GUARD
    try:
        with guard.batching(trace):
            out = f(*batched)
            return _unbatch(out, trace, out_axes)
    except NeedsPerExample as signal:
        if signal.trace is not trace:
            raise
        if explain is not None:
            explain.append((signal.reason, signal.where))
    return per_example_call(f, args, axes, size, out_axes)


class _NoGuard:
    """No interpreter to guard (the Python API's own calls)."""

    def batching(self, trace):
        return nullcontext()


_NO_GUARD = _NoGuard()


def _leaf_axes(args, in_axes) -> list | None:
    """The batch axis of each argument when every argument is a single leaf and in_axes
    an int, none, or a tuple of them; else None (`_in_axes_per_leaf` decides)."""
    t = type(in_axes)
    if t is tuple:
        if len(in_axes) != len(args):
            return None
        specs = in_axes
    elif in_axes is None or t is int:
        specs = (in_axes,) * len(args)
    else:
        return None
    out = []
    for k, (a, s) in enumerate(zip(args, specs)):
        ta = type(a)
        if ta is tuple or ta is Record or (s is not None and type(s) is not int):
            return None
        out.append(None if s is None else _check_axis(a, s, f"argument {k + 1}"))
    return out


def _batch_size_leaves(args, axes) -> int:
    """The batch size the mapped values agree on (an error when they do not, or when
    nothing is mapped)."""
    size = None
    for v, d in zip(args, axes):
        if d is not None:
            n = P.shape(v)[d]
            if size is None:
                size = n
            elif n != size:
                raise _size_mismatch(size, n)
    if size is None:
        raise _nothing_mapped()
    return size


def _size_mismatch(size, n):
    return DpShapeError(f"`vmap`: mapped arguments have different sizes ({size} "
                        f"and {n}) along their mapped axes", None,
                        "every mapped argument needs the same batch size")


def _nothing_mapped():
    return DpValueError("`vmap` needs at least one mapped argument", None,
                        "in_axes is none for every argument; map one with in_axes=0")


def per_example_call(f, args, axes, size, out_axes):
    """f on each example, the results stacked: vmap's meaning, and its fallback."""
    if size == 0:
        raise DpValueError("`vmap` over an empty batch: the function needs a plain value of "
                           "one example here", None,
                           "vmap over a batch of at least one example")
    outs = []
    for i in range(size):
        ex = tuple(_map_leaves(lambda v, d: example(v, d, i), a, ax)
                   for a, ax in zip(args, axes))
        outs.append(f(*ex))
    return _stack_trees(outs, out_axes)


def _map_leaves(fn, tree, axes):
    leaves, shp = flatten_any(tree)
    return unflatten_any(shp, [fn(v, d) for v, d in zip(leaves, axes)])


def _in_axes_per_leaf(args, in_axes) -> list:
    """For each argument, the batch axis of each of its leaves (None: not mapped)."""
    if type(in_axes) is tuple:
        if len(in_axes) != len(args):
            raise DpValueError(f"`vmap`: in_axes has {len(in_axes)} entries but the function "
                               f"was called with {len(args)} arguments", None,
                               "give one entry per argument (an int, none, or a tree)")
        return [_axes_of(a, ax, f"argument {k + 1}") for k, (a, ax) in
                enumerate(zip(args, in_axes))]
    return [_axes_of(a, in_axes, f"argument {k + 1}") for k, a in enumerate(args)]


def _axes_of(tree, spec, where: str) -> list:
    """The leaves' axes of one argument: `spec` is an int or none for all its leaves,
    or a tuple/record with the argument's structure (a prefix of it)."""
    out: list = []

    def go(t, s, path):
        if s is None or type(s) is int:
            leaves, _ = flatten_any(t)
            for v in leaves:
                out.append(None if s is None else _check_axis(v, s, path))
            return
        if type(s) is tuple and type(t) is tuple and len(s) == len(t):
            for k, (tk, sk) in enumerate(zip(t, s)):
                go(tk, sk, f"{path}[{k}]")
            return
        if type(s) is Record and type(t) is Record and set(s.keys()) == set(t.keys()):
            for k in t.keys():
                go(t.get(k), s.get(k), f"{path}.{k}")
            return
        raise DpValueError(f"`vmap`: in_axes for {path} is {kind_of(s)} but the argument is "
                           f"{kind_of(t)}", None,
                           "in_axes entries are an int, none, or a tuple/record shaped like "
                           "the argument")

    go(tree, spec, where)
    return out


def _check_axis(v, axis: int, path: str) -> int:
    if not _is_numeric(v):
        raise DpTypeError(f"`vmap` cannot map over {kind_of(v)} ({path})", None,
                          "map over arrays; use none in in_axes for other arguments")
    nd = P.ndim(v)
    if not -nd <= axis < nd:
        raise DpShapeError(f"`vmap`: in_axes {axis} for {path}, which has {nd} "
                           f"dimension{'s' if nd != 1 else ''}", None,
                           "the mapped axis must exist in the argument")
    return axis % nd


def _is_numeric(v) -> bool:
    v = strip_derivatives(v)
    return type(v) in (int, float, bool, xp.ndarray) or type(v) in BATCH_TYPES


def _batch_size(args, axes) -> int:
    """`_batch_size_leaves` for arguments that are trees (axes: one per leaf)."""
    leaves, dims = [], []
    for a, ax in zip(args, axes):
        leaves += flatten_any(a)[0]
        dims += ax
    return _batch_size_leaves(leaves, dims)


def _wrap(tree, axes, trace):
    return _map_leaves(lambda v, d: v if d is None else BatchTracer(trace, v, d), tree, axes)


def _out_axes_per_leaf(out, out_axes) -> list:
    return _axes_spec_leaves(out, out_axes)


def _axes_spec_leaves(tree, spec) -> list:
    out: list = []

    def go(t, s):
        if s is None or type(s) is int:
            leaves, _ = flatten_any(t)
            out.extend([s] * len(leaves))
            return
        if type(s) is tuple and type(t) is tuple and len(s) == len(t):
            for tk, sk in zip(t, s):
                go(tk, sk)
            return
        if type(s) is Record and type(t) is Record and set(s.keys()) == set(t.keys()):
            for k in t.keys():
                go(t.get(k), s.get(k))
            return
        raise DpValueError(f"`vmap`: out_axes is {kind_of(s)} but the result is {kind_of(t)}",
                           None, "out_axes is an int, none, or a tree shaped like the result")

    go(tree, spec)
    return out


def _unbatch(out, trace, out_axes):
    """The batched result as plain (or lower-level) values with the batch on out_axes."""
    if type(out_axes) is int and out_axes == 0 and type(out) is BatchTracer and out._trace is trace:
        return move_to_front(out.val, out.bdim)  # one batched array (the common case)
    leaves, shp = flatten_any(out)
    axes = _out_axes_per_leaf(out, out_axes)
    res = []
    for v, ax in zip(leaves, axes):
        mine = type(v) is BatchTracer and v._trace is trace
        if ax is None:
            if mine:
                raise DpValueError("`vmap`: out_axes is none for a result that depends on "
                                   "the mapped arguments", None,
                                   "use an int in out_axes for results that differ by example")
            res.append(v)
            continue
        if not mine:
            if not _is_numeric(v):
                res.append(v)  # a string, a function...: the same for every example
                continue
            v = P.broadcast_to(v, (trace.size,) + P.shape(v))
        else:
            v = move_to_front(v.val, v.bdim)
        res.append(move_from_front(v, _out_axis(ax, P.ndim(v))))
    return unflatten_any(shp, res)


def _out_axis(ax: int, nd: int) -> int:
    if not -nd <= ax < nd:
        raise DpShapeError(f"`vmap`: out_axes {ax} for a result with {nd} dimensions "
                           "(batch included)", None, "choose an existing axis")
    return ax % nd


def _stack_trees(outs, out_axes):
    first_leaves, shp = flatten_any(outs[0]) if outs else ([], None)
    axes = _out_axes_per_leaf(outs[0], out_axes) if outs else []
    columns = [[] for _ in first_leaves]
    for o in outs:
        leaves, s = flatten_any(o)
        if s != shp or len(leaves) != len(first_leaves):
            raise DpValueError("`vmap`: the function returned results of different structure "
                               "for different examples", None,
                               "return the same tuple/record structure for every example")
        for col, v in zip(columns, leaves):
            col.append(v)
    res = []
    for col, ax in zip(columns, axes):
        if ax is None or not _is_numeric(col[0]):
            if any(not values_equal(c, col[0]) for c in col[1:]):
                raise DpValueError("`vmap`: a result that is not a number differs between "
                                   "examples (or out_axes is none for a result that does)",
                                   None, "results that differ by example must be numbers or "
                                   "arrays, to be stacked")
            res.append(col[0])
            continue
        try:
            st = P.stack(col, axis=0)
        except DpShapeError:
            raise DpShapeError("`vmap`: the function returned arrays of different shapes for "
                               "different examples", None,
                               "vmap stacks the results: each example's must have one shape"
                               ) from None
        res.append(move_from_front(st, _out_axis(ax, P.ndim(st))))
    return unflatten_any(shp, res)


def _dprog_location():
    """(span, function name) of the innermost dprog code on the Python stack, or None."""
    f = sys._getframe(2)
    while f is not None:
        where = frame_location(f)
        if where is not None:
            return where
        f = f.f_back
    return None
