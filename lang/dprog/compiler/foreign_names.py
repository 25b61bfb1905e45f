"""Well-known NumPy, SciPy and Python names that are not dprog builtins, with what to
write instead: an undefined name found here gets "`foo` is not a dprog builtin"
and this hint, rather than a suggestion to declare it.

Only names that are absent from the builtin table count (a name that becomes a
builtin is found before this table is consulted, so an entry left here is
harmless).
"""

from __future__ import annotations

# name -> what to use instead (None: nothing close; the message alone says it is missing)
FOREIGN_NAMES: dict[str, str | None] = {
    # NumPy's spellings of dprog builtins
    "arcsin": "asin(x)", "arccos": "acos(x)", "arctan": "atan(x)", "arctan2": "atan2(y, x)",
    "arcsinh": "asinh(x)", "arccosh": "acosh(x)", "arctanh": "atanh(x)",
    "absolute": "abs(x)", "fabs": "abs(x)", "power": "x ** y", "float_power": "x ** y",
    "multiply": "a * b", "divide": "a / b", "true_divide": "a / b", "add": "a + b",
    "subtract": "a - b", "negative": "-x", "floor_divide": "a // b", "remainder": "a % b",
    "fmod": "a % b", "amax": "max(x)", "amin": "min(x)", "fmax": "maximum(a, b)",
    "fmin": "minimum(a, b)", "concatenate": "concat((a, b), axis)",
    "column_stack": "stack((a, b), 1)", "dstack": "stack((a, b), -1)",
    "array": "an array literal [1.0, 2.0], or stack(...)", "asarray": "the value itself",
    "zeros_like": "zeros(shape(x))", "ones_like": "ones(shape(x))",
    "full_like": "full(shape(x), value)", "empty": "zeros(d...)",
    "empty_like": "zeros(shape(x))", "identity": "eye(n)", "ravel": "reshape(x, -1)",
    "flatten": "reshape(x, -1)", "atleast_1d": "reshape(x, -1)", "ndim": "len(shape(x))",
    "astype": "float(x) or int(x)", "copy": "the value itself (values are never mutated)",
    "count_nonzero": "norm(x, 0)", "nanmax": "max(where(isnan(x), -inf, x))",
    "nanmin": "min(where(isnan(x), inf, x))", "nansum": "sum(nan_to_num(x))",
    "nanmean": "sum(nan_to_num(x)) / sum(where(isnan(x), 0.0, 1.0))",
    "cumproduct": "cumprod(x)", "product": "prod(x)",
    "nanmedian": None, "ptp": "max(x) - min(x)",
    "array_split": "split(x, (i, j, ...)) with the cut indices",
    "argwhere": None, "nonzero": None, "flatnonzero": None,
    "interp": None, "convolve": None, "correlate": None, "histogram": None, "gradient": None,
    "meshgrid": None, "mgrid": None, "ogrid": None, "vectorize": "vmap(f) or a loop",
    "apply_along_axis": "a loop, or vmap(f)", "fft": None, "ifft": None,
    "logspace": "10.0 ** linspace(a, b, n)", "geomspace": "exp(linspace(log(a), log(b), n))",
    "expit": "sigmoid(x)", "log_softmax": "x - logsumexp(x, -1, "
    "keepdims=true)",
    "gamma": "exp(lgamma(x)) (for x > 0)", "factorial": "exp(lgamma(n + 1.0))",
    "beta": "exp(lgamma(a) + lgamma(b) - lgamma(a + b))",
    "betaln": "lgamma(a) + lgamma(b) - lgamma(a + b)", "psi": "digamma(x)",
    "binom": "exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0))",
    "comb": "exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0))",
    "sqrtm": None, "logm": None,
    "random_sample": "rand(d...)",
    "standard_normal": "randn(d...)",
    "default_rng": "seed(n): one seeded stream per interpreter",
    "random_seed": "seed(n)",
    # linear algebra and products dprog may lack
    "cholesky": None, "slogdet": "log(abs(det(A))) and sign(det(A))",
    "logdet": "log(det(A))", "eigh": None, "eigvalsh": None, "eig": None, "eigvals": None,
    "svd": None, "svdvals": None, "qr": None, "lstsq": "solve(transpose(A) @ A, "
    "transpose(A) @ b)", "pinv": None, "matrix_power": "a loop of A @ A", "expm": None,
    "solve_triangular": "solve(A, b)", "cho_solve": "solve(A, b)", "cho_factor": None,
    "lu": None, "lu_factor": None, "matrix_rank": None, "cond": None, "tensordot": None,
    "einsum": None, "inner": "dot(a, b) for vectors", "vdot": "sum(a * b)", "kron": None,
    "cross": None,
    # Python
    "list": "a tuple (a, b, c) or an array [a, b, c]", "dict": "a record {a: 1, b: 2}",
    "sorted": "sort(x)", "enumerate": "range(len(xs)) and xs[i]",
    "zip": "range(len(xs)) and xs[i], ys[i]", "map": "tree_map(f, t) or a loop",
    "isinstance": None, "type": None, "input": None, "open": "read_csv(path) or load(path)",
    "math": "the builtins themselves: sin(x), sqrt(x), pi",
}

# module names that programs from Python reach through: `np.sum` -> `sum`
FOREIGN_MODULES: dict[str, str] = {
    "np": "NumPy", "numpy": "NumPy", "jnp": "jax.numpy", "jax": "JAX", "scipy": "SciPy",
    "torch": "PyTorch", "linalg": "numpy.linalg",
}


def foreign_name(name: str) -> tuple[str, str] | None:
    """(message, hint) for an undefined name that is well known elsewhere, else None."""
    if name in FOREIGN_MODULES:
        lib = FOREIGN_MODULES[name]
        return (f"`{name}` is not defined: dprog has no {lib} module",
                f"{lib}'s functions are dprog builtins: write `sum(x)` for `{name}.sum(x)` "
                "(see :help or docs/builtins.md)")
    if name not in FOREIGN_NAMES:
        return None
    instead = FOREIGN_NAMES[name]
    hint = (f"use {instead}" if instead else
            "there is no builtin for it (see :help or docs/builtins.md)")
    return (f"`{name}` is not a dprog builtin (nor a declared name)",
            f"{hint}; a variable of yours needs `let {name} = ...` first")
