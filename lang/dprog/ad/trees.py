"""Trees: nested tuples and records whose leaves are numbers and arrays (traced or
not). Transformations flatten their arguments to leaves, trace the leaves, and
put the results back in the same shape."""

from __future__ import annotations

from ..core.backend import xp
from ..core.errors import DpTypeError
from ..core.values import TRACER_TYPES, Record, Tracer, check_structure, kind_of, strip


def flatten(tree, where: str = "argument") -> tuple[list, object]:
    """Leaves (numbers, arrays, traced values) of a tree of tuples/records, and its shape."""
    tt = type(tree)
    if tt is float or tt is xp.ndarray or tt in TRACER_TYPES:
        return [tree], None  # a single leaf (the common case)
    check_structure(tree, "differentiated", arrays=False)
    leaves: list = []

    def go(t):
        tt = type(t)
        if tt is tuple:
            return ("t", tuple(go(x) for x in t))
        if tt is Record:
            return ("r", tuple(t.keys()), tuple(go(x) for x in t.values()))
        if tt is bool or t is None or tt is str or not is_leaf(t):
            raise DpTypeError(f"cannot differentiate with respect to {kind_of(t)} ({where})",
                              None, "differentiate with respect to numbers, arrays, "
                              "or tuples/records of them")
        leaves.append(t)
        return None

    shape = go(tree)
    return leaves, shape


def is_leaf(t) -> bool:
    tt = type(t)
    return tt is float or tt is int or tt is xp.ndarray or isinstance(t, Tracer)


def unflatten(shape, leaves):
    if shape is None and type(leaves) is list:
        return leaves[0]  # a single leaf
    it = iter(leaves)

    def go(s):
        if s is None:
            return next(it)
        if s[0] == "t":
            return tuple(go(x) for x in s[1])
        return Record(dict(zip(s[1], (go(x) for x in s[2]))))

    return go(shape)


def conform(tree, shape):
    """`tree` with its records' fields in the order of `shape` (a flatten() shape)
    where they hold the same names: `{d: .., s: ..}` matches `{s: .., d: ..}`."""
    if shape is None:
        return tree
    if shape[0] == "t" and type(tree) is tuple and len(tree) == len(shape[1]):
        return tuple(conform(x, s) for x, s in zip(tree, shape[1]))
    if shape[0] == "r" and type(tree) is Record and set(tree.keys()) == set(shape[1]):
        return Record({k: conform(tree.get(k), s) for k, s in zip(shape[1], shape[2])})
    return tree


def to_float(x):
    """Promote an int (or int-valued array) to float for differentiation."""
    if type(x) is int:
        return float(x)
    if type(x) is xp.ndarray and x.dtype != xp.float64:
        return x.astype(xp.float64)
    return x


def zeros_like(x):
    s = strip(x)
    if type(s) is xp.ndarray:
        return xp.zeros(s.shape)
    return 0.0


def top_trace(values):
    top = None
    for a in values:
        if isinstance(a, Tracer):
            if top is None or a._trace.level > top.level:
                top = a._trace
    return top


def unwrap_level(x, trace):
    """x with this trace's wrapper removed (lower-level tracing kept)."""
    if isinstance(x, Tracer) and x._trace is trace:
        return x.primal
    return x


def unwrap_tree(tree, trace):
    leaves, shp = flatten_any(tree)
    return unflatten_any(shp, [unwrap_level(x, trace) for x in leaves])


def flatten_any(tree):
    if type(tree) is not tuple and type(tree) is not Record:
        return [tree], None
    check_structure(tree, "differentiated", arrays=False)
    leaves = []

    def go(t):
        if type(t) is tuple:
            return ("t", tuple(go(x) for x in t))
        if type(t) is Record:
            return ("r", tuple(t.keys()), tuple(go(x) for x in t.values()))
        leaves.append(t)
        return None

    return leaves, go(tree)


def unflatten_any(shape, leaves):
    return unflatten(shape, leaves)


def zeros_tree(a):
    leaves, shp = flatten(a)
    return unflatten(shp, [zeros_like(x) for x in leaves])
