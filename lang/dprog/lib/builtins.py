"""The builtin functions, each with its signature and one-line doc.

`BUILTIN_TABLE` is the single source for the REPL's `:help`, docs/builtins.md
and the argument checking done on every call. A builtin that calls a primitive
takes its row from the primitive's `defprim` (`builtin_of`; the plain shapes are
derived at the end of this module); composed builtins and the transformations are
declared with `@builtin` in the modules by category (numeric, statistics, shapes,
selection, linalg, other, files, transforms, parallel, plots), which this module imports.
The
arithmetic lives in prims/, the differentiation in ad/.
"""

from __future__ import annotations

from ..prims import primitives as P
from . import (  # noqa: F401 - they fill the table
    files,
    linalg,
    numeric,
    other,
    parallel,
    plots,
    selection,
    shapes,
    statistics,
    transforms,
)
from .table import (  # noqa: F401 - the table's public names
    _IMPLS,
    BUILTIN_TABLE,
    CONSTANT_DOCS,
    CONSTANTS,
    BuiltinDoc,
    _axis,
    _bool_arg,
    _keep_dims,
    _num,
    builtin,
    builtin_of,
    make_builtins,
)


# ================================================= builtins derived from primitives
def _reduction_builtin(p: P.Primitive, name: str):
    def reduce(x, axis=None, keepdims=False):
        x = _num(x, name)
        axis = _axis(axis, name, x)
        r = P.bind(p, (x,), {"axis": axis})
        return _keep_dims(r, x, axis) if _bool_arg(keepdims, name, "keepdims") else r
    return reduce


def _binary_builtin(p: P.Primitive, name: str, first: str, second: str):
    op = p.op

    def call(a, b):
        return op(_num(a, name, first), _num(b, name, second))
    return call


def _plain_params(sig: str) -> list[str]:
    """The parameter names of `sig` when all are plain (no defaults, `*` or `...`)."""
    params = [q.strip() for q in sig[sig.index("(") + 1: -1].split(",")]
    return params if all(q.isidentifier() for q in params) else []


def _derive_primitive_builtins() -> None:
    """Every primitive that declares a builtin and has no hand-written wrapper above
    gets one from the shape of its signature: `f(x)` of an elementwise primitive is
    its operation (which checks its operand), `f(a, b)` the operation on two numbers
    or arrays (tuples of numbers read as arrays), `f(x, axis=none)` a reduction."""
    for p in P.REGISTRY.values():
        if p.sig is None:
            continue
        name = p.sig[: p.sig.index("(")]
        if name in _IMPLS:
            continue
        if p.elementwise and p.sig == f"{name}(x)":
            builtin_of(p)(p.op)
        elif p.elementwise and len(params := _plain_params(p.sig)) == 2:
            builtin_of(p)(_binary_builtin(p, name, *params))
        elif p.sig in (f"{name}(x, axis=none, *, keepdims=false)",
                       f"{name}(x, *, axis=none, keepdims=false)"):
            builtin_of(p)(_reduction_builtin(p, name))
        else:
            raise AssertionError(f"primitive {p.name!r} needs a hand-written builtin for "
                                 f"its signature {p.sig}")


_derive_primitive_builtins()
