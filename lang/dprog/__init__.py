"""dprog: a small imperative language in which every program is differentiable.

Embedding (SPEC §10)::

    import dprog
    interp = dprog.Interpreter()
    interp.exec("fn loss(w) { return sum(w ** 2) }")
    dprog.grad(interp["loss"])(np.ones(3))
"""

from __future__ import annotations

__version__ = "0.1.0"

from .core.errors import (
    DpArgumentError,
    DpAssertionError,
    DpDifferentiationError,
    DpError,
    DpHostError,
    DpImportError,
    DpIndexError,
    DpInternalError,
    DpInterrupt,
    DpLimitError,
    DpNameError,
    DpShapeError,
    DpSyntaxError,
    DpTypeError,
    DpValueError,
)

__all__ = [
    "__version__", "Interpreter", "DpError", "DpSyntaxError", "DpNameError", "DpTypeError",
    "DpValueError", "DpShapeError", "DpIndexError", "DpArgumentError", "DpDifferentiationError",
    "DpImportError", "DpLimitError", "DpAssertionError", "DpHostError", "DpInterrupt",
    "DpInternalError",
    "grad", "value_and_grad", "jvp", "vjp", "jacobian", "hessian", "jacfwd", "jacrev", "hvp",
    "derivative", "vmap",
]


def __getattr__(name):
    # Lazy: `dp -c` and `import dprog` stay fast; the heavy modules load on first use.
    if name == "Interpreter":
        from .host.interpreter import Interpreter
        return Interpreter
    if name in ("grad", "value_and_grad", "jvp", "vjp", "jacobian", "hessian", "jacfwd",
                "jacrev", "hvp", "derivative", "vmap"):
        from .host import api
        return getattr(api, name)
    raise AttributeError(f"module 'dprog' has no attribute {name!r}")
