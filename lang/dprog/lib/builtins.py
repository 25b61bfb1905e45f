"""The builtin functions, each with its signature and one-line doc.

`BUILTIN_TABLE` is the single source for the REPL's `:help`, docs/builtins.md
and the argument checking done on every call. A builtin that calls a primitive
takes its row from the primitive's `defprim` (`builtin_of`; the plain shapes are
derived at the end of this module); composed builtins and the transformations are
declared with `@builtin` in the modules by category (numeric, statistics, shapes,
selection, linalg, other, files, transforms, parallel, plots).
The
arithmetic lives in prims/, the differentiation in ad/.

Lazy loading (issue 17, W5 start-up): a program pays only for the categories it
uses. `CATEGORY_NAMES` lists, per category module, the builtins it declares (a
test checks the list against the real registrations); this module is the one
place that imports a category module, on the first lookup of one of its names
(`load_category`). `BUILTIN_TABLE` here is the complete table (a listing loads
every category), `table.BUILTIN_TABLE` holds the rows registered so far, and
`make_builtins` gives an interpreter a namespace that knows every name and makes
each builtin on its first lookup.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from ..prims import primitives as P
from ..runtime.functions import Builtin
from . import table as _table
from .table import (  # noqa: F401 - the table's public names
    CONSTANT_DOCS,
    CONSTANTS,
    BuiltinDoc,
    _axis,
    _bool_arg,
    _keep_dims,
    _num,
    builtin,
    builtin_of,
)

# The category modules in the order their rows are listed (that of docs/builtins.md),
# each with the builtins it declares, in declaration order.
CATEGORY_NAMES: dict[str, tuple[str, ...]] = {
    "files": ("read_csv", "read_text", "load", "save"),
    "linalg": ("einsum", "tensordot", "inner", "kron", "cross", "cholesky", "eigh", "eigvalsh",
               "svd", "qr", "solve_triangular", "cho_solve", "slogdet", "logdet", "pinv",
               "lstsq", "matrix_power", "expm"),
    "numeric": ("pow", "clip", "round", "nan_to_num", "polygamma", "gammaln", "sum", "mean",
                "var", "std", "cumsum", "logsumexp", "zeros", "ones", "full", "eye",
                "linspace", "arange", "range", "shape", "len", "size", "reshape", "transpose",
                "concat", "stack"),
    "other": ("seed", "rand", "randn", "randint", "normal", "uniform", "permutation",
              "shuffle", "choice", "tree_map", "encode_labels", "print", "format", "time",
              "str", "float", "int", "assert", "progress"),
    "parallel": ("parallel_map",),
    "plots": ("plot", "scatter", "hist", "imshow", "title", "xlabel", "ylabel", "legend",
              "xscale", "yscale", "figure", "subplot", "savefig", "show"),
    "selection": ("sort", "argsort", "searchsorted", "unique", "take", "take_along_axis", "pad",
                  "split"),
    "shapes": ("expand_dims", "squeeze", "flip", "swapaxes", "moveaxis", "broadcast_to",
               "hstack", "vstack", "tril", "triu", "diagonal", "trace", "diag", "roll",
               "repeat", "tile", "where", "dot", "outer", "matmul", "softmax", "solve", "inv",
               "det"),
    "statistics": ("norm", "cumprod", "diff", "quantile", "percentile", "median", "average"),
    "transforms": ("grad", "value_and_grad", "derivative", "jvp", "vjp", "jacfwd", "jacrev",
                   "jacobian", "hessian", "hvp", "stop_gradient", "vmap", "custom_vjp",
                   "custom_jvp", "checkpoint", "check_grad"),
}
_CATEGORY_OF = {name: mod for mod, names in CATEGORY_NAMES.items() for name in names}


def load_category(module: str) -> None:
    """Import one category module (its `@builtin`s fill `table`'s rows). The only
    import of a category module: always downward, from this module."""
    importlib.import_module(f"{__package__}.{module}")


def load_all() -> None:
    """Every category, for a complete listing (help, docs, the fuzz tests)."""
    for module in CATEGORY_NAMES:
        load_category(module)


def _ensure(name: str) -> bool:
    """Load the category that declares builtin `name`; whether `name` is a builtin."""
    if name in _table._IMPLS:
        return True
    module = _CATEGORY_OF.get(name)
    if module is None:
        return False
    load_category(module)
    return True


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


def _derive_primitive_builtins() -> list[str]:
    """Every primitive that declares a builtin and has no hand-written wrapper in a
    category module gets one from the shape of its signature: `f(x)` of an elementwise
    primitive is its operation (which checks its operand), `f(a, b)` the operation on
    two numbers or arrays (tuples of numbers read as arrays), `f(x, axis=none)` a
    reduction. Their names, in order. (The families primitives.py loads on first use
    declare no such builtin: a test checks it.)"""
    names = []
    for p in P.loaded().values():
        if p.sig is None:
            continue
        name = p.sig[: p.sig.index("(")]
        if name in _table._IMPLS or name in _CATEGORY_OF:
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
        names.append(name)
    return names


_BUILTIN_NAMES = (*_CATEGORY_OF, *_derive_primitive_builtins())
_ALL_NAMES = dict.fromkeys((*_BUILTIN_NAMES, *CONSTANTS))


# ================================================= the complete table, loaded on use
class _CompleteTable(Mapping):
    """A read-only view of one of `table`'s dicts (rows or implementations) that holds
    every builtin: a lookup loads the name's category, a listing loads all of them."""

    def __init__(self, rows: dict) -> None:
        self._rows = rows

    def __getitem__(self, name: str):
        if name not in self._rows:
            _ensure(name)  # a KeyError below if it is no builtin
        return self._rows[name]

    def __contains__(self, name: object) -> bool:
        return name in self._rows or name in _CATEGORY_OF

    def __iter__(self) -> Iterator[str]:
        load_all()
        return iter(_BUILTIN_NAMES)

    def __len__(self) -> int:
        return len(_BUILTIN_NAMES)


BUILTIN_TABLE: Mapping[str, BuiltinDoc] = _CompleteTable(_table.BUILTIN_TABLE)
_IMPLS: Mapping[str, tuple] = _CompleteTable(_table._IMPLS)


# ================================================= one interpreter's namespace
def builtin_for(name: str, rt) -> Builtin:
    """The builtin `name` of the interpreter whose runtime is `rt` (also how a pickled
    builtin is made again: it travels as its name and its interpreter)."""
    fn, needs_rt = _IMPLS[name]
    if needs_rt:
        fn = _bind_rt(fn, rt)
    return Builtin(name, fn, BUILTIN_TABLE[name].signature, remake=(builtin_for, (name, rt)))


def _bind_rt(fn, rt):
    def bound(*args, **kwargs):
        return fn(rt, *args, **kwargs)
    return bound


class Namespace(dict):
    """The builtin namespace of one interpreter. It holds every name from the start
    (`in`, iteration and `keys()` see them all without loading anything) and makes
    each builtin, bound to the interpreter's runtime, on its first lookup; `values()`
    and `items()` make them all."""

    __slots__ = ("rt",)

    def __init__(self, rt) -> None:
        super().__init__(CONSTANTS)
        self.rt = rt

    def __missing__(self, name: str) -> Builtin:
        if name not in _ALL_NAMES:
            raise KeyError(name)
        v = builtin_for(name, self.rt)
        dict.__setitem__(self, name, v)
        return v

    def __contains__(self, name: object) -> bool:
        return name in _ALL_NAMES

    def get(self, name: str, default=None):
        return self[name] if name in _ALL_NAMES else default

    def __iter__(self) -> Iterator[str]:
        return iter(_ALL_NAMES)

    def __len__(self) -> int:
        return len(_ALL_NAMES)

    def keys(self):
        return _ALL_NAMES.keys()

    def values(self):
        return [self[n] for n in _ALL_NAMES]

    def items(self):
        return [(n, self[n]) for n in _ALL_NAMES]


def make_builtins(rt) -> dict:
    """The builtin namespace of one interpreter (functions bound to its runtime)."""
    return Namespace(rt)
