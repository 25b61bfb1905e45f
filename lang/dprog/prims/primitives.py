"""The primitive layer as the rest of dprog calls it: the dispatching operations
(`add`, `mul`, `sin`, `sum_`, `getitem`, `matmul`, ...), the primitives themselves
(`*_p`), `bind`, and the helpers the engines and the builtins share.

Each primitive is declared once, with its rules, in the module of its family:
`elementwise`, `special` (erf, the gamma functions, sinc), `structure` (reshape,
broadcasting, transposes, sums: the linear maps every rule needs), `indexing`
(gather, scatter, stack, concat, array literals), `reductions`, `linalg` (matmul, solve, inv, det),
`spectral` (the singular values, for the matrix norms), `products` (einsum),
`triangular` (solve, product, inverse), `sorting` (argsort, gathers along an axis),
`decompositions` (cholesky, eigh, svd, qr)
and `matfuncs` (logabsdet, pinv, expm); `core` holds the registry, `defprim` and
`bind`. This module only gathers their names, those of five families on first use
(`LAZY_FAMILIES`, at the end). (`core.NAN_CHECK` is not re-exported:
it changes while a program runs, so read it from `core`.)
"""

from __future__ import annotations

import importlib

from ..core.values import strip  # noqa: F401
from . import core as _core
from .core import (  # noqa: F401
    EMPTY,
    F64,
    LIMITS,
    Limits,
    Primitive,
    accept_array,
    apply_impl,
    bind,
    check_size,
    defprim,
    nan_check_enter,
    nan_check_exit,
    nan_pass,
    ndarray,
    ndim,
    normalize,
    shape,
)
from .elementwise import (  # noqa: F401
    abs_,
    abs_p,
    acos,
    acos_p,
    acosh,
    acosh_p,
    add,
    add_p,
    asin,
    asin_p,
    asinh,
    asinh_p,
    atan,
    atan2,
    atan2_p,
    atan_p,
    atanh,
    atanh_p,
    ceil,
    ceil_p,
    clip,
    cos,
    cos_p,
    cosh,
    cosh_p,
    deg2rad,
    deg2rad_p,
    div,
    div_p,
    eq_p,
    exp,
    exp2,
    exp2_p,
    exp_p,
    expm1,
    expm1_p,
    floor,
    floor_p,
    floordiv,
    floordiv_p,
    ge_p,
    gt_p,
    heaviside,
    heaviside_p,
    hypot,
    hypot_p,
    isfinite,
    isfinite_p,
    isinf,
    isinf_p,
    isnan,
    isnan_p,
    le_p,
    log,
    log1p,
    log1p_p,
    log2,
    log2_p,
    log10,
    log10_p,
    log_p,
    logaddexp,
    logaddexp_p,
    logit,
    logit_p,
    lt_p,
    maximum,
    maximum_p,
    minimum,
    minimum_p,
    mod,
    mod_p,
    mul,
    mul_p,
    ne_p,
    neg,
    neg_p,
    partials,
    pow_,
    pow_p,
    rad2deg,
    rad2deg_p,
    reciprocal,
    reciprocal_p,
    relu,
    relu_p,
    round_p,
    safe_div,
    safe_div_p,
    safe_mul,
    safe_mul_p,
    sigmoid,
    sigmoid_p,
    sign,
    sign_p,
    sin,
    sin_p,
    sinh,
    sinh_p,
    softplus,
    softplus_p,
    sqrt,
    sqrt_p,
    square,
    square_p,
    sub,
    sub_p,
    tan,
    tan_p,
    tanh,
    tanh_p,
    where,
    where_p,
    xlogy,
    xlogy_p,
)
from .indexing import (  # noqa: F401
    array_literal,
    array_p,
    concat,
    concat_p,
    getitem,
    getitem_p,
    index_add,
    index_add_p,
    region_shape,
    setitem,
    setitem_add,
    setitem_add_p,
    setitem_p,
    stack,
    stack_p,
    zeros_stand_in,
    zeros_tangent,
)
from .linalg import (  # noqa: F401
    cofactor,
    cofactor_p,
    det,
    det_p,
    inv,
    inv_p,
    matmul,
    matmul_p,
    outer_,
    solve,
    solve_p,
)
from .reductions import (  # noqa: F401
    all_p,
    any_p,
    argmax_p,
    argmin_p,
    cumprod,
    cumprod_p,
    cumsum,
    cumsum_p,
    logsumexp,
    logsumexp_p,
    max_p,
    min_p,
    norm_p,
    prod_others,
    prod_others_p,
    prod_p,
    prod_pairs,
    prod_pairs_p,
)
from .sorting import (  # noqa: F401
    argsort,
    argsort_p,
    put_along,
    put_along_p,
    take_along,
    take_along_p,
)
from .special import (  # noqa: F401
    digamma,
    digamma_p,
    erf,
    erf_p,
    erfc,
    erfc_p,
    erfinv,
    erfinv_p,
    lgamma,
    lgamma_p,
    polygamma,
    polygamma_p,
    sinc,
    sinc_deriv,
    sinc_deriv_p,
    sinc_p,
)
from .structure import (  # noqa: F401
    ans_shape,
    broadcast_to,
    broadcast_to_p,
    identity_basis,
    is_identity_basis,
    pad_batched,
    reshape,
    reshape_p,
    sum_,
    sum_p,
    transpose,
    transpose_p,
    unbroadcast,
)

# ======================================================= families loaded on first use
# The linear-algebra families most programs never call are loaded on the first lookup of one of
# their names (`P.cholesky`, `P.einsum_p`, ...), through this module's `__getattr__`: the
# one place that imports them lazily (always downward, as the eager imports above).
# `REGISTRY` holds every primitive, so reading it loads them all; a test checks these
# lists against what each family defines and registers.
LAZY_FAMILIES: dict[str, tuple[str, ...]] = {
    "decompositions": ("cholesky", "cholesky_grad", "cholesky_grad_p", "cholesky_p", "eigh",
                       "eigh_p", "qr", "qr_p", "svd", "svd_p"),
    "matfuncs": ("det_sign", "det_sign_p", "expm", "expm_p", "logabsdet", "logabsdet_p",
                 "pinv", "pinv_p"),
    "products": ("EinsumSpecError", "einsum", "einsum_any", "einsum_p", "normalize_subscripts"),
    "spectral": ("svd_s", "svd_s_p", "svd_u", "svd_u_p", "svd_v", "svd_v_p"),
    "triangular": ("solve_triangular", "solve_triangular_p", "tri_inv", "tri_inv_p", "trimul",
                   "trimul_p"),
}
_FAMILY_OF = {name: family for family, names in LAZY_FAMILIES.items() for name in names}


def load_family(family: str) -> None:
    """Import one lazily loaded family and bind its names here."""
    module = importlib.import_module(f"{__package__}.{family}")
    g = globals()
    for name in LAZY_FAMILIES[family]:
        g[name] = getattr(module, name)


def load_all() -> None:
    """Every family: every primitive is registered afterwards."""
    for family in LAZY_FAMILIES:
        load_family(family)


def loaded() -> dict:
    """The primitives registered so far: the eager families' and those loaded since
    (what start-up may look at without loading the rest)."""
    return _core.REGISTRY


def __getattr__(name: str):
    if name == "REGISTRY":
        load_all()
        globals()["REGISTRY"] = _core.REGISTRY
        return _core.REGISTRY
    family = _FAMILY_OF.get(name)
    if family is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    load_family(family)
    return globals()[name]
