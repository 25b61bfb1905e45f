"""Random numbers, trees, printing and conversions, assertions and `progress`
(the data-file builtins are in files.py)."""

from __future__ import annotations

import contextlib
import math
import sys
import time

from ..core.backend import xp
from ..core.errors import (
    DpAssertionError,
    DpShapeError,
    DpTypeError,
    DpValueError,
)
from ..core.values import Record, Tracer, check_structure, kind_of, show, strip
from ..prims import primitives as P
from ..runtime.functions import Closure, enter
from ..runtime.ops import format_field, iterate, truth
from .table import _bool_arg, _dims, _func, _int_arg, _num, builtin


# ====================================================================== random
@builtin("seed(n)", "restart the random stream from seed n (reproducible)", "random", "-",
         needs_rt=True)
def _seed(rt, n):
    n = _int_arg(n, "seed", "n")
    if n < 0:
        raise DpValueError("`seed` needs a non-negative integer", None, None)
    rt.rng = xp.random.default_rng(n)


@builtin("rand(d...)", "uniform random numbers in [0, 1) with the given dimensions", "random",
         "no d", needs_rt=True)
def _rand(rt, *dims):
    d = _dims(dims, "rand")
    return rt.rng.random(d) if d else float(rt.rng.random())


@builtin("randn(d...)", "standard normal random numbers with the given dimensions", "random",
         "no d", needs_rt=True)
def _randn(rt, *dims):
    d = _dims(dims, "randn")
    return rt.rng.standard_normal(d) if d else float(rt.rng.standard_normal())


@builtin("randint(lo, hi, d...)", "random integers lo ≤ k < hi (as floats in an array)",
         "random", "no d", needs_rt=True)
def _randint(rt, lo, hi, *dims):
    lo = _int_arg(lo, "randint", "lo")
    hi = _int_arg(hi, "randint", "hi")
    if hi <= lo:
        raise DpValueError(f"`randint`: hi ({hi}) must be greater than lo ({lo})", None,
                           "the range is lo ≤ k < hi")
    if lo < -2**63 or hi > 2**63:
        raise DpValueError("`randint`: lo and hi must lie within ±2**63", None, None)
    d = _dims(dims, "randint")
    if not d:
        return int(rt.rng.integers(lo, hi))
    return rt.rng.integers(lo, hi, d).astype(xp.float64)


def _draw_shape(shape, name: str) -> tuple:
    return _dims((shape,) if type(strip(shape)) is tuple else (shape,), name)


@builtin("normal(shape=(), mean=0, std=1)", "normal random numbers: mean + std * randn(shape) "
         "(a number for shape ()); differentiable in mean and std (reparameterised); unlike "
         "NumPy's normal(loc, scale, size), the shape comes first",
         "random", needs_rt=True)
def _normal(rt, shape=(), mean=0, std=1):
    d = _draw_shape(shape, "normal")
    z = rt.rng.standard_normal(d) if d else float(rt.rng.standard_normal())
    return P.add(_num(mean, "normal", "mean"), P.mul(_num(std, "normal", "std"), z))


@builtin("uniform(shape=(), lo=0, hi=1)", "uniform random numbers in [lo, hi): lo + (hi - lo) "
         "* rand(shape); differentiable in lo and hi (reparameterised); unlike NumPy's "
         "uniform(low, high, size), the shape comes first", "random",
         needs_rt=True)
def _uniform(rt, shape=(), lo=0, hi=1):
    d = _draw_shape(shape, "uniform")
    u = rt.rng.random(d) if d else float(rt.rng.random())
    lo = _num(lo, "uniform", "lo")
    return P.add(lo, P.mul(P.sub(_num(hi, "uniform", "hi"), lo), u))


def _count(n, name: str) -> int:
    n = _int_arg(n, name, "n")
    if n < 0:
        raise DpValueError(f"`{name}`: n must not be negative, got {n}", None, None)
    P.check_size(n)
    return n


@builtin("permutation(n)", "a random ordering of 0, 1, ..., n-1 (as floats in an array); of "
         "an array: a shuffled copy, as shuffle", "random", "no d", needs_rt=True)
def _permutation(rt, n):
    if P.ndim(n) > 0:
        return _shuffle(rt, n)
    return rt.rng.permutation(_count(n, "permutation")).astype(xp.float64)


@builtin("shuffle(x)", "a copy of x with its rows (first axis) in random order; x itself is "
         "unchanged (derivatives flow back to the rows)", "random", needs_rt=True)
def _shuffle(rt, x):
    x = _num(x, "shuffle")
    if P.ndim(x) == 0:
        raise DpShapeError("`shuffle` needs an array, got a number", None, None)
    return P.getitem(x, (rt.rng.permutation(P.shape(x)[0]),))


@builtin("choice(n, k=none, replace=true, p=none)", "k random picks from 0..n-1 (or from the "
         "rows of an array n); one pick when k is none; replace=false: all different; p: the "
         "probability of each (a vector summing to 1), as NumPy's Generator.choice",
         "random", needs_rt=True)
def _choice(rt, n, k=None, replace=True, p=None):
    replace = _bool_arg(replace, "choice", "replace")
    pool = None
    if P.ndim(n) > 0:
        pool = _num(n, "choice", "n")
        size = P.shape(pool)[0]
    else:
        size = _count(n, "choice")
    count = None if k is None else _count(k, "choice")
    if size == 0 and count != 0:
        raise DpValueError("`choice` from nothing: n is 0", None, None)
    if not replace and (count or 1) > size:
        raise DpValueError(f"`choice`: cannot pick {count} different items from {size}", None,
                           "use replace=true, or pick fewer")
    probs = None if p is None else _choice_probabilities(p, size, count, replace)
    picks = rt.rng.choice(size, size=count, replace=replace, p=probs)
    if pool is not None:
        return P.getitem(pool, (int(picks) if count is None else picks,))
    return int(picks) if count is None else picks.astype(xp.float64)


def _choice_probabilities(p, size: int, count, replace: bool):
    """choice's p as NumPy takes it, after NumPy's checks worded as dprog errors."""
    probs = xp.asarray(strip(_num(p, "choice", "p")), dtype=xp.float64)
    if probs.shape != (size,):
        raise DpShapeError(f"`choice`: p needs one probability per item ({size}), got shape "
                           f"{probs.shape}", None, None)
    if not xp.all(xp.isfinite(probs)) or xp.any(probs < 0):
        raise DpValueError("`choice`: probabilities must be finite and not negative", None,
                           None)
    total = float(probs.sum())
    if abs(total - 1.0) > math.sqrt(xp.finfo(xp.float64).eps):
        raise DpValueError(f"`choice`: probabilities must sum to 1, they sum to {total:g}",
                           None, "divide them by their sum: p / sum(p)")
    if not replace and int(xp.count_nonzero(probs)) < (count or 1):
        raise DpValueError(f"`choice`: cannot pick {count} different items: only "
                           f"{int(xp.count_nonzero(probs))} have a nonzero probability",
                           None, "use replace=true, or pick fewer")
    return probs


# ======================================================================= trees
@builtin("tree_map(f, t, ...)", "apply f leaf-wise over one or more trees of the same structure; "
         "gives a tree of that structure",
         "trees", "yes")
def _tree_map(f, t, *more):
    _func(f, "tree_map")
    for x in (t, *more):
        check_structure(x, "mapped over", arrays=False)
    if type(f) is Closure:  # (`Closure.__call__` without keywords is `enter`)
        def leaf(*xs):
            return enter(f, xs)
    else:
        leaf = f
    try:
        return _map_tree(leaf, t, more)
    except _Differ as d:  # the path is known only once the exception has unwound
        raise DpTypeError(f"tree_map: trees differ at {d.path or 'the root'}: {d.what}", None,
                          "all trees must have the same structure") from None


def _map_tree(leaf, a, bs):
    ta = type(a)
    if ta is tuple:
        return _map_tuple(leaf, a, bs)
    if ta is Record:
        return _map_record(leaf, a, bs)
    return leaf(a, *bs)


def _map_tuple(leaf, a: tuple, bs) -> tuple:
    for b in bs:
        if type(b) is not tuple or len(b) != len(a):
            other = f"a tuple of length {len(b)}" if type(b) is tuple else kind_of(b)
            raise _Differ(f"a tuple of length {len(a)} vs {other}")
    out = []
    for i, x in enumerate(a):
        try:
            out.append(_map_tree(leaf, x, [b[i] for b in bs]))
        except _Differ as d:
            d.path = f"[{i}]{d.path}"
            raise
    return tuple(out)


def _map_record(leaf, a: Record, bs) -> Record:
    keys = a.keys()
    for b in bs:  # (the same fields in another order match: they are read by name)
        if type(b) is not Record or b.keys() != keys:
            other = f"fields {', '.join(b.keys())}" if type(b) is Record else kind_of(b)
            raise _Differ(f"a record with fields {', '.join(keys)} vs {other}")
    out = {}
    for k, v in a.items():
        try:
            out[k] = _map_tree(leaf, v, [b._f[k] for b in bs])
        except _Differ as d:
            d.path = f".{k}{d.path}"
            raise
    return Record(out)


class _Differ(Exception):
    """Where tree_map's trees part: each level adds its step to `path` on the way out,
    so that no path is formatted while the trees agree."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what
        self.path = ""


# ====================================================================== labels
@builtin("encode_labels(xs)", "integer codes for labels: (codes, classes) where classes are "
         "the distinct values of xs sorted and codes[i] is the position of xs[i] in them, "
         "as numpy.unique(xs, return_inverse=True); xs is a tuple of strings, or numbers",
         "other", "-")
def _encode_labels(xs):
    xs = strip(xs)
    if type(xs) is tuple and xs and all(type(x) is str for x in xs):
        classes = sorted(set(xs))  # code-point order, as NumPy sorts strings
        position = {c: i for i, c in enumerate(classes)}
        return xp.array([position[x] for x in xs], dtype=xp.float64), tuple(classes)
    if type(xs) is tuple:
        if not all(type(strip(x)) in (int, float, bool) for x in xs):
            raise DpTypeError("`encode_labels` expects a tuple of all strings or all numbers",
                              None, "read text columns with read_csv(path, strings=true)")
        xs = xp.array([strip(x) for x in xs], dtype=xp.float64)
    if type(xs) is not xp.ndarray:
        raise DpTypeError(f"`encode_labels` expects a tuple or a 1-D array, got {kind_of(xs)}",
                          None, None)
    if xs.ndim != 1:
        raise DpTypeError(f"`encode_labels` expects a 1-D array, got shape {xs.shape}", None,
                          "flatten it first: reshape(x, -1)")
    classes, codes = xp.unique(xs.astype(xp.float64), return_inverse=True)
    return codes.astype(xp.float64).reshape(-1), classes


# ======================================================================= other
@builtin("print(...)", "print the values separated by one space, then a new line; strings "
         "bare, everything else in dprog syntax",
         "other", "-", needs_rt=True)
def _print(rt, *args):
    rt.write(" ".join(show(a) for a in args) + "\n")


@builtin("format(x, spec=\"\")", "x as text formatted by spec, Python's format "
         "mini-language (\".4f\", \">8\", \"+.2e\", \"05d\", \".1%\"); arrays, tuples "
         "and records element by element; as f\"{x:spec}\"", "other", "-")
def _format(x, spec=""):
    if type(spec) is not str:
        raise DpTypeError(f"`format`: spec must be a string, got {kind_of(spec)}", None,
                          'e.g. format(x, ".4f")')
    return format_field(x, spec)


@builtin("time()", "seconds on a monotonic clock, for timing parts of a program: "
         "t1 - t0 of two readings is the time between them", "other", "-")
def _time():
    return time.monotonic()


@builtin("str(x)", "x as text, in dprog syntax", "other", "-")
def _str(x):
    return show(x)


@builtin("float(x)", "x as a float (numbers, one-element arrays, numeric strings)", "other")
def _float(x):
    t = type(x)
    if t is float:
        return x
    if t is int or t is bool:
        return float(x)
    if t is str:
        try:
            return float(x)
        except ValueError:
            raise DpValueError(f"cannot convert the string {show(x, True)} to a float", None,
                               None) from None
    if isinstance(x, Tracer):
        s = P.shape(x)
        if math.prod(s) != 1:
            raise DpTypeError(f"`float` of an array of shape {s}", None,
                              "index one element first")
        return P.reshape(x, ()) if s else x
    if t is xp.ndarray:
        if x.size != 1:
            raise DpTypeError(f"`float` of an array of shape {x.shape}", None,
                              "index one element first, e.g. float(v[0])")
        return float(x.reshape(()))
    raise DpTypeError(f"cannot convert {kind_of(x)} to a float", None, None)


@builtin("int(x)", "x truncated toward zero as an integer (numbers, numeric strings)", "other",
         "no d")
def _int(x):
    x = strip(x)
    t = type(x)
    if t is int:
        return x
    if t is bool:
        return int(x)
    if t is float:
        if x != x or x in (math.inf, -math.inf):
            raise DpValueError(f"cannot convert {show(x)} to an integer", None, None)
        return int(x)
    if t is str:
        try:
            return int(x)
        except ValueError:
            try:
                return int(float(x))
            except ValueError:
                raise DpValueError(f"cannot convert the string {show(x, True)} to an integer",
                                   None, None) from None
    if t is xp.ndarray and x.size == 1:
        return _int(float(x.reshape(())))
    raise DpTypeError(f"cannot convert {kind_of(x)} to an integer", None, None)


@builtin("assert(cond, message=\"assertion failed\")", "stop with an error if cond is false",
         "other", "-")
def _assert(cond, message="assertion failed"):
    if not truth(cond):
        raise DpAssertionError(message if type(message) is str else show(message), None, None)


class _Progress:
    """`progress(xs)`: iterates like xs; on a terminal it draws a tqdm bar on standard
    error. While the bar is shown, `print` takes it off the line and tqdm draws it again
    below the printed text. The bar appears only after half a second (a short loop shows
    none), so the rate it shows is measured over a meaningful time."""

    def __init__(self, rt, xs, label):
        self.items = xs
        self.iterable = iterate(xs)
        self.label = label
        self.rt = rt

    def dp_iter(self):
        err = self.rt.stderr if self.rt.stderr is not None else sys.stderr
        try:
            tty = err.isatty()
        except (AttributeError, ValueError):
            tty = False
        if not tty:
            yield from self.iterable
            return
        from tqdm import tqdm  # imported when a bar is first shown: start-up does not pay

        class Bar(tqdm):
            monitor_interval = 0  # no monitor thread left running in the host's process

        try:
            total = len(self.items)
        except TypeError:
            total = None
        bar = Bar(total=total, desc=self.label or None, file=err, delay=0.5,
                  mininterval=0.1, leave=None, dynamic_ncols=True)
        rt, outer = self.rt, self.rt.write_guard
        rt.write_guard = lambda: (contextlib.nullcontext() if bar.format_dict["elapsed"] < 0.5
                                  else tqdm.external_write_mode(file=err))  # bar not shown yet
        try:
            for x in self.iterable:
                yield x
                bar.update(1)  # counted when the loop body is done with x
        finally:
            rt.write_guard = outer
            bar.close()


@builtin("progress(xs, label=\"\")", "iterate like xs, drawing a progress bar on a terminal's "
         "standard error", "other", "-", needs_rt=True)
def _progress(rt, xs, label=""):
    return _Progress(rt, xs, label if type(label) is str else show(label))
