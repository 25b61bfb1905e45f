"""`parallel_map(f, xs)`: f over the elements of xs, in order, here or on workers.

The builtin splits xs, gives each element its own random stream (derived from
the caller's stream and the element's position, so results never depend on how
many workers there are), and hands the elements to the interpreter's
`run_parallel` (host/parallel.py: an executor such as a Dask client). Without an
executor, or when f or xs carry values being differentiated, the elements run
here one after another: a dprog function cannot change what it was given, so
both ways give the same values, and derivatives through the local loop are
exact to any order (docs/scaling.md).
"""

from __future__ import annotations

from ..core.backend import xp
from ..core.errors import DpError, DpShapeError, DpTypeError
from ..core.values import Tracer, kind_of
from ..prims import primitives as P
from ..runtime.state import element_seed, mark_element  # noqa: F401 - host/parallel.py's too
from .table import _func, builtin

_SEED_BOUND = 1 << 63


def _elements(xs) -> tuple[list, bool]:
    """The elements of xs and whether xs was an array."""
    if type(xs) is tuple:
        return list(xs), False
    if (type(xs) is xp.ndarray or isinstance(xs, Tracer)) and P.ndim(xs) > 0:
        return [P.getitem(xs, (i,)) for i in range(P.shape(xs)[0])], True
    raise DpTypeError(f"`parallel_map` maps over a tuple or an array's first axis, got "
                      f"{kind_of(xs)}", None, "e.g. parallel_map(f, (1.0, 2.0)) or "
                      "parallel_map(f, rows) for an array of rows")


def _run_here(rt, f, elems: list, base: int) -> list:
    saved = rt._rng, rt._seed
    out = []
    try:
        for i, x in enumerate(elems):
            rt.seed_lazily(element_seed(base, i))
            try:
                out.append(f(x))
            except DpError as err:
                raise mark_element(err, i, len(elems)) from None
    finally:
        rt._rng, rt._seed = saved
    return out


def _stacked(results: list):
    for r in results:
        if not (type(r) in (int, float, bool, xp.ndarray) or isinstance(r, Tracer)):
            raise DpTypeError(
                f"`parallel_map` over an array stacks f's results into an array, but f "
                f"returned {kind_of(r)}", None,
                "map over a tuple to get a tuple of any values: parallel_map(f, (a, b, c))")
    shapes = {P.shape(r) for r in results}
    if len(shapes) > 1:
        raise DpShapeError(f"`parallel_map` over an array stacks f's results, but their "
                           f"shapes differ: {', '.join(map(str, sorted(shapes)))}", None,
                           "map over a tuple to get a tuple of results of any shapes")
    return P.stack([float(r) if type(r) in (int, bool) else r for r in results], axis=0)


@builtin("parallel_map(f, xs)", "f(x) for each element x of xs (a tuple: a tuple; an array's "
         "first axis: the stacked results), in order; on worker processes when dprog runs "
         "with workers (dp --workers N), else here", "other", "yes", needs_rt=True)
def _parallel_map(rt, f, xs):
    _func(f, "parallel_map")
    elems, is_array = _elements(xs)
    if not elems:
        if is_array:
            raise DpShapeError("`parallel_map` got an empty array: there is no shape to give "
                               "the results", None, "map over a tuple: () gives ()")
        return ()
    # one draw from the caller's stream: the caller's later numbers do not depend on
    # what the elements draw, nor on how many workers ran them
    base = int(rt.rng.integers(_SEED_BOUND))
    run = getattr(rt.interp, "run_parallel", None)
    results = run(f, elems, base) if run is not None else None
    if results is None:
        results = _run_here(rt, f, elems, base)
    return _stacked(results) if is_array else tuple(results)
