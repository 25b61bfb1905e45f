"""`einsum`, the one primitive behind the tensor products (tensordot, inner, kron and
cross are built on it in lib/linalg.py).

Subscripts are normalised once, before the primitive is bound, to explicit labels
with an explicit output ("...ij,jk" -> "abij,jk->abik"): every rule then only
renames or drops labels. The derivative with respect to one operand is an einsum
of the cotangent with the other operands; labels that operand alone carries are
broadcast back, repeated labels (a diagonal) are put back with identity matrices,
and size-1 axes that broadcast are summed.
"""

from __future__ import annotations

from ..core.backend import xp
from ..core.errors import DpShapeError
from .core import bind, check_size, defprim, ndim, shape
from .elementwise import add
from .structure import broadcast_to, move_to_front, reshape

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"  # (not `string`: start-up)

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class EinsumSpecError(ValueError):
    """Subscripts NumPy would refuse (the builtin turns it into a dprog error)."""


def normalize_subscripts(subscripts: str, ndims: list[int]) -> str:
    """Explicit labels and output for `subscripts` applied to operands of ranks `ndims`,
    as NumPy reads them (implicit output: the labels used once, sorted, after the
    broadcast axes of `...`)."""
    spec = subscripts.replace(" ", "")
    if spec.count("->") > 1 or "-" in spec.replace("->", "") or ">" in spec.replace("->", ""):
        raise EinsumSpecError("subscripts have at most one `->`")
    lhs, arrow, out = spec.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(ndims):
        raise EinsumSpecError(f"{len(ins)} operand subscripts for {len(ndims)} operands")
    for term in ins + [out]:
        bad = set(term.replace("...", "")) - set(LETTERS)
        if bad or term.count("...") > 1 or "." in term.replace("...", ""):
            raise EinsumSpecError(f"invalid subscript term {term!r} (letters a-z, A-Z and "
                                  "one `...`)")
    used = set(spec) & set(LETTERS)
    fresh = [c for c in LETTERS if c not in used]
    ell = 0
    for term, nd in zip(ins, ndims):
        k = len(term.replace("...", ""))
        if ("..." not in term and k != nd) or k > nd:
            raise EinsumSpecError(f"subscript term {term!r} has {k} labels for an operand "
                                  f"with {nd} dimensions")
        if "..." in term:
            ell = max(ell, nd - k)
    if ell > len(fresh):
        raise EinsumSpecError("too many dimensions for einsum's 52 labels")
    fresh = "".join(fresh[:ell])
    new_ins = [t.replace("...", fresh[ell - (nd - len(t.replace("...", ""))):])
               for t, nd in zip(ins, ndims)]
    if arrow:
        new_out = out.replace("...", fresh)
        if len(set(new_out)) != len(new_out):
            raise EinsumSpecError(f"output subscript {out!r} repeats a label")
        missing = set(new_out) - set("".join(new_ins))
        if missing:
            raise EinsumSpecError(f"output label {sorted(missing)[0]!r} is not in any input")
    else:
        joined = "".join(t.replace("...", "") for t in ins)
        new_out = fresh + "".join(sorted(c for c in set(joined) if joined.count(c) == 1))
    return ",".join(new_ins) + "->" + new_out


def _split(subs: str) -> tuple[list[str], str]:
    lhs, out = subs.split("->")
    return lhs.split(","), out


def _einsum_np(*ops, subscripts):
    ins, out = _split(subscripts)
    sizes: dict[str, int] = {}
    for term, op in zip(ins, ops):
        for c, d in zip(term, xp.shape(op)):
            if sizes.get(c, 1) == 1:
                sizes[c] = d
    n = 1
    for c in out:
        n *= sizes.get(c, 1)
    check_size(n)
    return xp.einsum(subscripts, *ops, optimize=len(ops) > 1)


def _einsum_error(args, exc):
    shapes = ", ".join(str(xp.shape(a)) for a in args)
    return DpShapeError(f"shape mismatch in `einsum`: operands of shapes {shapes}", None,
                        "a label must have the same size (or 1) in every operand it names")


def _fresh(subs: str, k: int = 1) -> str:
    return "".join([c for c in LETTERS if c not in subs][:k])


def _einsum_jvp(primals, tangents, ans, subscripts):
    ins, out = _split(subscripts)
    total = None
    for k, t in enumerate(tangents):
        if t is None:
            continue
        terms, o = list(ins), out
        if ndim(t) > len(ins[k]):  # a batched tangent: its batch axis leads the output
            z = _fresh(subscripts)
            terms[k], o = z + terms[k], z + out
        ops = list(primals)
        ops[k] = t
        c = einsum(",".join(terms) + "->" + o, ops)
        total = c if total is None else add(total, c)
    return total


def _sizes(ins, primals) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for term, x in zip(ins, primals):
        for c, d in zip(term, shape(x)):
            if sizes.get(c, 1) == 1:
                sizes[c] = d
    return sizes


def _einsum_vjp_one(g, ins, out, primals, k):
    term, xs = ins[k], shape(primals[k])
    sizes = _sizes(ins, primals)
    others = "".join(t for i, t in enumerate(ins) if i != k) + out
    uniq = "".join(dict.fromkeys(term))
    own = {c: d for c, d in zip(term, xs)}
    keep = "".join(c for c in uniq if c in others and not (own[c] == 1 and sizes[c] != 1))
    spec = ",".join([out] + [t for i, t in enumerate(ins) if i != k]) + "->" + keep
    r = einsum(spec, [g] + [x for i, x in enumerate(primals) if i != k])
    if keep != uniq:  # labels summed away (own, or broadcast from size 1): put them back
        r = reshape(r, tuple(own[c] if c in keep else 1 for c in uniq))
        r = broadcast_to(r, tuple(own[c] for c in uniq))
    if len(term) == len(uniq):
        return r
    # a repeated label (a diagonal): spread r onto it with identity matrices
    taken = set(term) | set(out) | set(others)
    pool = [c for c in LETTERS if c not in taken]
    seen: set = set()
    target, eyes, specs = [], [], [uniq]
    for c in term:
        if c in seen:
            c2 = pool.pop(0)
            specs.append(c + c2)
            eyes.append(xp.eye(own[c]))
            target.append(c2)
        else:
            seen.add(c)
            target.append(c)
    return einsum(",".join(specs) + "->" + "".join(target), [r] + eyes)


def _einsum_vjp(g, ans, primals, needs, subscripts):
    ins, out = _split(subscripts)
    return [_einsum_vjp_one(g, ins, out, primals, k) if need else None
            for k, need in enumerate(needs)]


def _einsum_batch(p, args, dims, params):
    """A fresh letter for the batch: in front of each batched operand and of the result."""
    ins, out = _split(params["subscripts"])
    b = next(c for c in _LETTERS if c not in params["subscripts"])
    ops = [move_to_front(a, d) if d is not None else a for a, d in zip(args, dims)]
    specs = [b + s if d is not None else s for s, d in zip(ins, dims)]
    return bind(p, tuple(ops), {"subscripts": ",".join(specs) + "->" + b + out}), 0


einsum_p = defprim("einsum", _einsum_np, shape_error=_einsum_error, jvp_joint=_einsum_jvp,
                   batch=_einsum_batch,
                   vjp_joint=_einsum_vjp, sig="einsum(subscripts, operands...)",
                   category="linear algebra",
                   doc="Einstein summation as NumPy's (\"ij,jk->ik\", \"...ii->...i\", "
                       "implicit output)")


def einsum(subscripts: str, operands) -> object:
    """einsum on normalised subscripts (see `normalize_subscripts`)."""
    return bind(einsum_p, tuple(operands), {"subscripts": subscripts})


def einsum_any(subscripts: str, operands) -> object:
    """einsum on subscripts as NumPy accepts them (EinsumSpecError if it would not)."""
    ops = tuple(operands)
    return einsum(normalize_subscripts(subscripts, [ndim(x) for x in ops]), ops)

