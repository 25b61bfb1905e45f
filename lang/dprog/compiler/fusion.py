"""Fusion: a float expression of the fast compiler computed and recorded in one step.

`x * 0.999 + 0.01 * sin(y * x)` costs five recorder calls and five tape records
under `grad` when each operation is emitted on its own (pysource.py). An expression
tree made only of `+ - * /`, unary minus and one-argument builtins with a float
function and a float derivative (`scalar`, `sderiv`, declared beside each primitive)
is emitted here a second time, in front of that per-operation code:

    _r = None                                          (leaves f[1], f[2]: x and y)
    if (_k1 := type(f[1])) is float and ...:           floats only
        try: _u1 = f[1] * 0.999 ...; _r = the value    (unless nan)
        except (ArithmeticError, ValueError): pass
    elif (_k1 is RNode or _k1 is float) and ...:       floats and RNodes
        _tr, _p1, _i1 = f[1]._trace, f[1].primal, f[1].idx ...   (one tape, else False)
        if type(_tr) is FastTape and <float primals> and not core.NAN_CHECK:
            try:
                _u1 = _p1 * 0.999 ...                  the value, operation by operation
                _d1 = ..., _d2 = ...                   its partials by each leaf
                if <no nan, finite partials>: _r = RNode with ONE record
            except (ArithmeticError, ValueError): pass
    if _r is None: <the per-operation code>            anything else (Duals, arrays, ...)

The value is computed with the same Python operations in the same order as the
per-operation code, so it is the same float. The partials are accumulated backwards
through the tree (a tree: every inner node has one parent), so each leaf's partial
is the sum over its paths of the products of the local partials: the gradient the
per-operation records give, associated differently (a few ulps apart, not bit for
bit). Everything else takes the per-operation path unchanged: a leaf that is not a
float (ints, arrays, forward-mode Duals, values of a nested tape, leaves on two
tapes), a reference `Tape`, --check-nans, a Python exception (a zero divisor, a
domain or overflow error of a math function), a nan value or a partial that is not
finite.

Evaluation order: the leaves are read before the first operation. Variables can be
read then; any other operand (a call, an index, a constant expression of ints) is
allowed only before the first operation of the tree (it is evaluated there, once,
and the per-operation code reuses it), so errors and effects keep their order.
"""

from __future__ import annotations

import math

from ..ad.fastpath import RECORDING_NAMES
from ..ad.fasttape import FastTape
from ..runtime.functions import Builtin
from ..syntax import nodes as N

_ARITH = {"+", "-", "*", "/"}
_MAX_OPS = 48          # a larger tree is fused in parts (its subtrees)
_EXACT_INT = 2 ** 53   # ints converted to floats exactly

NAMES = {"FastTape": FastTape, "core": RECORDING_NAMES["core"]}


class _Tree:
    """The analysis of one expression tree: its operations in evaluation order,
    its leaves and the operands evaluated before the first operation."""

    def __init__(self, em):
        self.em = em
        self.ops: list = []      # (kind, sym_or_prim, [child refs], live)
        self.leaves: list = []   # runtime leaves: (key, node read first or None, decl)
        self.keys: dict = {}     # leaf key -> index in leaves
        self.seen_op = False
        self.ok = True

    # refs: ("lit", value, is_int) | ("leaf", index) | ("op", index)
    def walk(self, e):
        kind = op_kind(self.em, e)
        if kind is None:
            return self.leaf(e)
        sym, children = kind
        refs = [self.walk(c) for c in children]
        if not self.ok:
            return None
        if sym == "neg" and refs[0][0] == "lit":  # -2 is the int -2, -0.0 the float
            return ("lit", -refs[0][1], refs[0][2])
        if (sym in _ARITH and all(r[0] == "lit" for r in refs)
                and any(r[2] for r in refs)):
            return self.opaque(e)  # ints: exact in Python, rounded as floats
        live = any(r[0] == "leaf" or (r[0] == "op" and self.ops[r[1]][3]) for r in refs)
        self.ops.append((sym, kind, refs, live))
        self.seen_op = True
        return ("op", len(self.ops) - 1)

    def leaf(self, e):
        t = type(e)
        if t is N.Const:
            v = e.value
            if type(v) is float and math.isfinite(v):
                return ("lit", v, False)
            if type(v) is int and -_EXACT_INT <= v <= _EXACT_INT:
                return ("lit", v, True)
            return self.opaque(e)
        if t is N.Name:
            comp = self.em.comp
            decl = e.decl
            if decl is None:
                if e.name in comp.builtins and e.name not in comp.shadowed():
                    v = comp.builtins[e.name]
                    if type(v) is float and math.isfinite(v):
                        return ("lit", v, False)
                return self.opaque(e)
            if decl.func is None:  # a global: peeked (UNSET is no float: per-operation)
                return self.runtime(("g", id(decl)), None, decl)
            if comp.is_cell(decl):
                if not self.seen_op:  # read in order, before any operand's effects
                    return self.runtime(("pre", id(e)), e, None)
                return self.runtime(("c", id(decl)), None, decl)
            return self.runtime(f"f[{decl.slot}]", None, None)
        return self.opaque(e)

    def opaque(self, e):
        """An operand that is not a variable: evaluated first, or not fused at all."""
        if self.seen_op:
            self.ok = False
            return None
        return self.runtime(("pre", id(e)), e, None)

    def runtime(self, key, node, decl):
        i = self.keys.get(key)
        if i is None:
            i = self.keys[key] = len(self.leaves)
            self.leaves.append((key, node, decl))
        return ("leaf", i)


def op_kind(em, e):
    """(kind, children) for an operation fusion handles, else None. The kind is the
    operator symbol, "neg", or the primitive of a builtin call."""
    t = type(e)
    if t is N.BinOp:
        return (e.op, (e.left, e.right)) if e.op in _ARITH else None
    if t is N.UnOp:
        return ("neg", (e.operand,)) if e.op == "-" else None
    if t is N.Call:
        p = fusable_builtin(em, e)
        return (p, (e.args[0],)) if p is not None else None
    return None


def fusable_builtin(em, e):
    """The primitive of a call `name(x)` of a builtin whose float path (pysource's
    `builtin_call`) computes `p.scalar(x)` on a float and records `p.pyfn(x)` with
    `p.sderiv` on a tape: the same function, so fused values are the same."""
    func = e.func
    if e.kwargs or len(e.args) != 1 or type(func) is not N.Name or func.decl is not None:
        return None
    comp = em.comp
    if func.name not in comp.builtins or func.name in comp.shadowed():
        return None
    b = comp.builtins[func.name]
    if type(b) is not Builtin or not b.takes1 or b.record1 is None:
        return None
    p = getattr(b.fn, "prim", None)
    if (p is None or p.scalar is None or p.pyfn is not p.scalar or p.sderiv is None
            or not p.differentiable):
        return None
    return p


def analyse(em, e) -> _Tree | None:
    """The tree rooted at `e` if it is worth fusing (two operations or more, a
    variable among its leaves), else None."""
    tree = _Tree(em)
    tree.walk(e)
    if not tree.ok or len(tree.ops) < 2 or len(tree.ops) > _MAX_OPS or not tree.leaves:
        return None
    if not tree.ops[-1][3]:
        return None
    return tree


def emit_fused(em, e, tree: _Tree, ind: int) -> str:
    """Emit the fused computation of `e` and the per-operation code as its fallback;
    returns the atom holding the result."""
    span = e.span
    line = em.line
    r = em.new()
    # operands evaluated before the first operation, in order, and their atoms
    qs = []
    for key, node, decl in tree.leaves:
        if node is not None:
            atom = em.expr(node, ind)
            em.done[id(node)] = atom
        elif type(key) is str:
            atom = key
        elif decl.func is None:
            atom = f"{em.const(decl.cell, 'g')}.v"
        else:
            atom = f"f[{em.comp.slot_of(decl)}].v"
        qs.append(atom)  # (read where used: nothing runs between the reads)
    line(ind, f"{r} = None", span)
    tr = em.new()
    ps = [em.new() for _ in qs]
    idx = [em.new() for _ in qs]
    ks = [em.new() for _ in qs]
    # floats only: the value in straight-line code (a nan: the per-op code's)
    line(ind, "if " + " and ".join(f"({k} := type({q})) is float" for k, q in zip(ks, qs))
         + ":", span)
    line(ind + 1, "try:", span)
    out = _values(em, tree, qs, ind + 2, span)[-1]
    line(ind + 2, f"if {out} == {out}: {r} = {out}", span)
    line(ind + 1, "except (ArithmeticError, ValueError):", span)
    line(ind + 2, "pass", span)
    # floats and RNodes (anything else, as Duals, goes straight to the per-op code)
    line(ind, "elif " + " and ".join(  # (the first leaf's type is known from the `if`)
        f"({k} is RNode or {k} is float)" if n == 0 else
        f"(({k} := type({q})) is RNode or {k} is float)"
        for n, (k, q) in enumerate(zip(ks, qs))) + ":", span)
    ind += 1
    for n, q in enumerate(qs):
        k, p, i = ks[n], ps[n], idx[n]
        if n == 0:
            line(ind, f"if {k} is RNode: {tr} = {q}._trace; {p} = {q}.primal; {i} = {q}.idx",
                 span)
            line(ind, f"else: {tr} = None; {p} = {q}; {i} = -1", span)
            continue
        line(ind, f"if {k} is RNode:", span)
        line(ind + 1, f"if {tr} is None: {tr} = {q}._trace", span)
        line(ind + 1, f"elif {q}._trace is not {tr}: {tr} = False", span)
        line(ind + 1, f"{p} = {q}.primal; {i} = {q}.idx", span)
        line(ind, f"else: {p} = {q}; {i} = -1", span)
    floats = " and ".join(f"type({p}) is float" for p in ps)
    line(ind, f"if type({tr}) is FastTape and {floats} and not core.NAN_CHECK:", span)
    line(ind + 1, "try:", span)
    vals = _values(em, tree, ps, ind + 2, span)
    out = vals[-1]
    ds = _partials(em, tree, ps, vals, ind + 2, span)
    finite = " and ".join([f"{out} == {out}"] + [f"{d} - {d} == 0.0" for d in ds
                                                  if d.startswith("_t")])  # (not literals)
    line(ind + 2, f"if {finite}:", span)
    _record(em, tr, out, _anchored(tree, idx), _anchored(tree, ds), r, ind + 3, span)
    line(ind + 1, "except (ArithmeticError, ValueError):", span)
    line(ind + 2, "pass", span)
    ind -= 1
    # the per-operation code, reusing the operands evaluated above
    line(ind, f"if {r} is None:", span)
    em.no_fuse += 1
    try:
        v = em.expr(e, ind + 1)
    finally:
        em.no_fuse -= 1
    line(ind + 1, f"{r} = {v}", span)
    for key, node, decl in tree.leaves:
        if node is not None:
            del em.done[id(node)]
    return r


def _atom(ref, ps, vals) -> str:
    kind = ref[0]
    if kind == "lit":  # (an int as the float Python converts it to: exact up to 2**53)
        return f"({float(ref[1])!r})"
    if kind == "leaf":
        return ps[ref[1]]
    return vals[ref[1]]


def _values(em, tree, ps, ind, span) -> list:
    """The value of every operation, in evaluation order (as the per-op code)."""
    vals: list = []
    for sym, kind, refs, live in tree.ops:
        args = [_atom(ref, ps, vals) for ref in refs]
        u = em.new()
        if sym == "neg":
            em.line(ind, f"{u} = -{args[0]}", span)
        elif sym in _ARITH:
            em.line(ind, f"{u} = {args[0]} {sym} {args[1]}", span)
        else:
            fn = em.const(sym.pyfn, "sc")
            em.line(ind, f"{u} = {fn}({args[0]})", span)
        vals.append(u)
    return vals


def _partials(em, tree, ps, vals, ind, span) -> list:
    """The partial derivative of the root by each leaf (atoms)."""
    adj = _Adjoints(em, tree, ps, vals, ind, span)
    for k in range(len(tree.ops) - 1, -1, -1):
        adj.pull(k)
    return adj.sums()


class _Adjoints:
    """Adjoints carried from the root down (each operation's adjoint times its local
    partials, the per-op records' partials), summed per leaf. An adjoint is (atom or
    None for 1.0, negated)."""

    def __init__(self, em, tree, ps, vals, ind, span):
        self.em, self.tree, self.ps, self.vals = em, tree, ps, vals
        self.ind, self.span = ind, span
        self.adj: list = [None] * len(tree.ops)
        self.adj[-1] = (None, False)
        self.terms: list = [[] for _ in tree.leaves]

    def temp(self, text: str) -> str:
        t = self.em.new()
        self.em.line(self.ind, f"{t} = {text}", self.span)
        return t

    def times(self, a, factor: str):
        """The adjoint `a` times `factor` (an atom), as an adjoint."""
        atom, neg = a
        return (factor, neg) if atom is None else (self.temp(f"{atom} * {factor}"), neg)

    def give(self, ref, a) -> None:
        if ref[0] == "leaf":
            self.terms[ref[1]].append(a)
        elif _live(self.tree, ref):
            self.adj[ref[1]] = a

    def pull(self, k: int) -> None:
        """Pass operation k's adjoint to its operands."""
        sym, kind, refs, live = self.tree.ops[k]
        a = self.adj[k]
        if a is None or not live:
            return
        args = [_atom(ref, self.ps, self.vals) for ref in refs]
        if sym == "+":
            self.give(refs[0], a)
            self.give(refs[1], a)
        elif sym == "-":
            self.give(refs[0], a)
            self.give(refs[1], (a[0], not a[1]))
        elif sym == "neg":
            self.give(refs[0], (a[0], not a[1]))
        elif sym == "*":
            for ref, other in ((refs[0], args[1]), (refs[1], args[0])):
                if _live(self.tree, ref):
                    self.give(ref, self.times(a, other))
        elif sym == "/":  # the per-op record's partials: 1 / b and -out / b
            b = args[1]
            for ref, d in ((refs[0], f"1.0 / {b}"), (refs[1], f"-{self.vals[k]} / {b}")):
                if _live(self.tree, ref):
                    self.give(ref, self.times(a, self.temp(d)))
        else:
            sd = self.em.const(sym.sderiv, "sd")
            self.give(refs[0], self.times(a, self.temp(f"{sd}({self.vals[k]}, {args[0]})")))

    def sums(self) -> list:
        ds = []
        for ts in self.terms:
            if len(ts) == 1 and not ts[0][1]:
                ds.append(ts[0][0] or "1.0")  # one path, no sign: its adjoint is the partial
                continue
            expr = ""
            for atom, neg in ts:
                text = "1.0" if atom is None else atom
                expr += (" - " if neg else " + ") + text if expr else ("-" if neg else "") + text
            ds.append(self.temp(expr))
        return ds


def _live(tree, ref) -> bool:
    return ref[0] == "leaf" or (ref[0] == "op" and tree.ops[ref[1]][3])


def _anchored(tree, items: list) -> list:
    """`items` (one per leaf) with the local variables' first: the leaves most likely
    on the tape (a global or captured one is more often a constant)."""
    local = [type(key) is str for key, node, decl in tree.leaves]
    return ([x for x, loc in zip(items, local) if loc]
            + [x for x, loc in zip(items, local) if not loc])


def _record(em, tr, out, idx, ds, r, ind, span) -> None:
    """A linear record, or for three leaves or more a chain of them linked by partials
    1.0 (two parents each: a later parent may be -1, a float leaf). Its first parent
    must be on the tape: `FastTape.fused_record` when it is not."""
    line = em.line
    n = len(ds)
    node = em.new()
    recs = em.new()
    line(ind, f"{node} = RNode(); {node}._trace = {tr}; {node}.primal = {out}", span)
    line(ind, f"{recs} = {tr}.recs", span)
    if n == 1:
        line(ind, f"{node}.idx = len({recs}); {recs} += ({idx[0]}, {ds[0]}, -1, 0.0)", span)
        line(ind, f"{r} = {node}", span)
        return
    line(ind, f"if {idx[0]} >= 0:", span)
    k = em.new()
    entries = [idx[0], ds[0], idx[1], ds[1]]
    for j in range(2, n):
        entries += [f"{k} + {4 * (j - 2)}" if j > 2 else k, "1.0", idx[j], ds[j]]
    line(ind + 1, f"{k} = len({recs}); {recs} += ({', '.join(entries)})", span)
    line(ind + 1, f"{node}.idx = {k} + {4 * (n - 2)}" if n > 2 else f"{node}.idx = {k}", span)
    pairs = ", ".join(f"{i}, {d}" for i, d in zip(idx, ds))
    line(ind, f"else: {node}.idx = {tr}.fused_record(({pairs}))", span)
    line(ind, f"{r} = {node}", span)
