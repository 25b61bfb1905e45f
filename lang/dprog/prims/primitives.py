"""The primitive layer as the rest of dprog calls it: the dispatching operations
(`add`, `mul`, `sin`, `sum_`, `getitem`, `matmul`, ...), the primitives themselves
(`*_p`), `bind`, and the helpers the engines and the builtins share.

Each primitive is declared once, with its rules, in the module of its family:
`elementwise`, `structure` (reshape, broadcasting, transposes, sums: the linear
maps every rule needs), `indexing` (gather, scatter, stack, concat), `reductions`
and `linalg`; `core` holds the registry, `defprim` and `bind`. This module only
gathers their names. (`core.NAN_CHECK` is not re-exported: it changes while a
program runs, so read it from `core`.)
"""

from __future__ import annotations

from ..core.values import strip  # noqa: F401
from .core import (  # noqa: F401
    LIMITS,
    REGISTRY,
    Primitive,
    bind,
    check_size,
    nan_check_enter,
    nan_check_exit,
    nan_pass,
    ndim,
    normalize,
    shape,
)
from .elementwise import (  # noqa: F401
    abs_,
    acos,
    add,
    asin,
    atan,
    atan2,
    ceil,
    cos,
    cosh,
    div,
    div_p,
    eq_p,
    exp,
    expm1,
    floor,
    floordiv,
    ge_p,
    gt_p,
    le_p,
    log,
    log1p,
    lt_p,
    maximum,
    minimum,
    mod,
    mul,
    mul_p,
    ne_p,
    neg,
    neg_p,
    pow_,
    relu,
    round_p,
    safe_div,
    safe_div_p,
    safe_mul,
    safe_mul_p,
    sigmoid,
    sign,
    sin,
    sinh,
    softplus,
    sqrt,
    sub,
    sub_p,
    tan,
    tanh,
    where,
)
from .indexing import (  # noqa: F401
    concat,
    getitem,
    index_add,
    setitem,
    stack,
)
from .linalg import (  # noqa: F401
    cofactor,
    det,
    inv,
    matmul,
    outer_,
    solve,
)
from .reductions import (  # noqa: F401
    all_p,
    any_p,
    argmax_p,
    argmin_p,
    cumsum,
    cumsum_p,
    max_p,
    min_p,
    norm_p,
    prod_others_p,
    prod_p,
    prod_pairs,
)
from .structure import (  # noqa: F401
    broadcast_to,
    broadcast_to_p,
    pad_batched,
    reshape,
    sum_,
    transpose,
    unbroadcast,
)
