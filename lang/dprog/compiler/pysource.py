"""The fast compiler: each function body becomes one Python function, from source.

`codegen.Compiler` (the reference) turns every node into a closure, so a scalar
statement such as `x = x * 0.999 + 0.01 * sin(y * x)` costs a dozen Python calls.
`SourceCompiler` emits the body as Python source instead, flattened into
three-address statements over the same frame list `f`:

    _t1 = f[1]
    if type(_t1) is float: _t2 = _t1 * 0.999
    elif type(_t1) is RNode: _t2 = REC_mul(_t1, 0.999)   # the tape's recorder
    else: _t2 = OP_mul(_t1, 0.999)

so the float path makes no call at all, loops and branches
are Python's own, and a call of a known builtin goes straight to its function.

The frame layout, cells, control signals and function values are the reference's,
so anything not emitted here (index and field assignment, f-strings, keyword calls,
lambdas, ...) is the reference compiler's closure called as `C7(f)`; the emitted code
and the closures share the frame.

Errors: one `try` around the whole body. Every emitted line remembers the span of
the node it belongs to, and the handler locates the error at the line the traceback
shows in this frame (`located`, as each reference closure does with its own span).

The reference compiler stays the definition: `--check-nans` (whose stack reading
needs the closures' `span` variables) uses it, and tests/test_compilers.py runs the
program suites under both and requires the same output and errors.
"""

from __future__ import annotations

import math
from itertools import count

from ..ad.fastpath import RECORDERS
from ..ad.reverse import RNode
from ..core.limits import check_deadline
from ..core.values import UNSET, Cell, Function, Record
from ..runtime.functions import BREAK, CONTINUE, RETURN, Builtin, Closure, enter
from ..runtime.indexes import index_part
from ..runtime.ops import (
    BINOPS,
    field,
    index_one,
    index_value,
    iterate,
    located,
    make_array,
    op_neg,
    refill_at,
    slice_part,
    truth,
    unpack_at,
)
from ..syntax import nodes as N
from . import fusion
from .closures import not_callable_error
from .codegen import Compiler

# operators with a float fast path (as closures.binop_factory) and those with a recorder
_FAST = {"+", "-", "*", "/", "<", ">", "<=", ">="}
_RECORDED = set(RECORDERS)

# nesting the emitted code allows before a statement goes to the reference closure
# (CPython refuses more than 20 nested loops and 100 levels of indentation)
_MAX_LOOPS = 16
_MAX_INDENT = 60
_MAX_EXPR_INDENT = 90  # (`if` expressions, `and`, `or` nest; a call adds 2 levels)
_MAX_FUSE_INDENT = _MAX_EXPR_INDENT - 7  # (a fused tree's code nests 6 levels deeper)
_FUSE_ROOTS = (N.BinOp, N.UnOp, N.Call)

_uid = count()


def _compiled(text: str, where: str, names: dict):
    exec(compile(text, where, "exec"), names)
    return names["body"]


def _locate(exc: Exception, lines: dict, fname: str) -> Exception:
    """`exc` located at the span of the emitted line it passed through in this frame;
    unchanged from a line without a span (the REPL's echo: as the reference's, its
    errors are not the program's)."""
    tb = exc.__traceback__
    span = lines.get(tb.tb_lineno) if tb is not None else None
    return exc if span is None else located(exc, span, fname)


_BASE_NAMES = {
    "RETURN": RETURN, "BREAK": BREAK, "CONTINUE": CONTINUE, "UNSET": UNSET, "Cell": Cell,
    "Closure": Closure, "enter": enter, "Builtin": Builtin, "Function": Function,
    "Record": Record, "truth": truth,
    "iterate": iterate, "refill_at": refill_at, "unpack_at": unpack_at,
    "make_array": make_array, "op_neg": op_neg, "index1": index_one, "field": field,
    "index_value": index_value, "index_part": index_part, "slice_part": slice_part,
    "locate": _locate, "RNode": RNode, "NO_FIELD": object(), **fusion.NAMES,
}


class _Emitter:
    """The source of one body being emitted: lines, their spans, the constants."""

    def __init__(self, comp: SourceCompiler, fname: str):
        self.comp = comp
        self.fname = fname
        self.lines: list[str] = []
        self.spans: list = []
        self.names = dict(_BASE_NAMES)
        self.tmp = count()
        self.loops = 0
        self.floats: set[str] = set()  # atoms known to be float literals
        self.done: dict = {}  # id(node) -> atom of an operand a fused tree evaluated first
        self.no_fuse = 0      # > 0 while emitting a fused tree's per-operation fallback

    # bookkeeping -------------------------------------------------------------
    def line(self, ind: int, text: str, span) -> None:
        self.lines.append("    " * ind + text)
        self.spans.append(span)

    def new(self) -> str:
        return f"_t{next(self.tmp)}"

    def named(self, atom: str, ind: int, span) -> str:
        """`atom` in a temporary, unless it is one already."""
        if atom.startswith("_t"):
            return atom
        t = self.new()
        self.line(ind, f"{t} = {atom}", span)
        return t

    def const(self, value, hint: str = "k") -> str:
        """A name in the body's namespace bound to `value`."""
        name = f"_{hint}{next(self.tmp)}"
        self.names[name] = value
        return name

    def literal(self, v) -> str:
        t = type(v)
        if t is float:
            if math.isfinite(v):
                atom = repr(v)
                self.floats.add(atom)
                return atom
            return self.const(v)
        if t is bool or v is None or t is int:
            return repr(v)
        return self.const(v)

    def finish(self, info=None):
        """The emitted lines as the Python function `body(f)`. With the FunctionInfo
        `info`, Python compiles them when the function is first called (and puts the
        result in `info.body`): most functions of an imported module never run, and
        compiling costs about as much as parsing."""
        if not self.lines:
            self.line(2, "pass", None)
        src = ["def body(f):", "    try:"]
        spans = {}
        for i, (text, span) in enumerate(zip(self.lines, self.spans)):
            src.append(text)
            spans[i + 3] = span  # line 1 is the header, 2 the `try:`
        src += ["    except Exception as _exc:",
                "        raise locate(_exc, _DPROG_LINES, _DPROG_FNAME)"]
        self.names["_DPROG_LINES"] = spans  # also read by core.errors.frame_location
        self.names["_DPROG_FNAME"] = self.fname
        text = "\n".join(src) + "\n"
        names = self.names
        where = f"<dprog {self.fname}#{next(_uid)}>"
        if info is None:
            return _compiled(text, where, names)

        def body(f):
            real = info.body = _compiled(text, where, names)
            return real(f)
        return body

    # statements --------------------------------------------------------------
    def block(self, stmts, ind: int, top_level: bool = False) -> None:
        comp = self.comp
        for s in stmts:  # hoisted `fn` declarations get their cells first (as Compiler.block)
            if type(s) is N.FnDef and s.target.decl.func is comp.func and s.target.decl.captured:
                self.line(ind, f"f[{s.target.decl.slot}] = Cell(UNSET)", s.span)
        n = len(self.lines)
        for s in stmts:
            self.stmt(s, ind, top_level)
        if len(self.lines) == n:  # nothing to do (or only literals)
            self.line(ind, "pass", None)

    def stmt(self, s, ind: int, top_level: bool = False) -> None:
        check_deadline()
        kind = type(s)
        if ind > _MAX_INDENT or (kind in (N.While, N.For) and self.loops >= _MAX_LOOPS):
            return self.by_reference(s, ind, top_level)
        emit = _STATEMENTS.get(kind)
        if emit is None:
            return self.by_reference(s, ind, top_level)
        emit(self, s, ind, top_level)

    def by_reference(self, s, ind: int, top_level: bool) -> None:
        """The reference compiler's closure for `s`, passing on its control signal."""
        run = self.const(self.comp.stmt(s, top_level), "s")
        if type(s) in (N.ExprStmt, N.Let, N.Assign, N.AugAssign, N.FnDef, N.Import):
            self.line(ind, f"{run}(f)", s.span)  # these never signal
            return
        r = self.new()
        self.line(ind, f"{r} = {run}(f)", s.span)
        self.line(ind, f"if {r} is not None:", s.span)
        self.line(ind + 1, f"if {r} is RETURN: return RETURN", s.span)
        if self.loops:
            self.line(ind + 1, f"if {r} is BREAK: break", s.span)
            self.line(ind + 1, "continue", s.span)

    def s_ExprStmt(self, s, ind, top_level):
        v = self.expr(s.expr, ind)
        if top_level and self.comp.interactive:
            v = self.named(v, ind, s.span)  # (`1 is not None` would warn)
            rt = self.const(self.comp.rt, "rt")
            self.line(ind, f"if {v} is not None: {rt}.echo({v})", None)  # not located

    def store(self, decl, v: str, ind: int, span, declare: bool) -> None:
        comp = self.comp
        if decl.func is None:
            self.line(ind, f"{self.const(decl.cell, 'g')}.v = {v}", span)
        elif declare and decl.captured and decl.func is comp.func:
            self.line(ind, f"f[{decl.slot}] = Cell({v})", span)
        elif comp.is_cell(decl):
            self.line(ind, f"f[{comp.slot_of(decl)}].v = {v}", span)
        else:
            self.line(ind, f"f[{decl.slot}] = {v}", span)

    def unpack(self, v: str, n: int, what: str, names: str, ind: int, span) -> str:
        fname = self.const(self.fname, "n")
        sp = self.const(span, "sp")
        self.line(ind, f"if type({v}) is not tuple or len({v}) != {n}:", span)
        self.line(ind + 1, f"{v} = unpack_at({v}, {n}, {what!r}, {names!r}, {sp}, {fname})",
                  span)
        return v

    def s_Let(self, s, ind, top_level):
        v = self.expr(s.value, ind)
        if len(s.names) == 1:
            return self.store(s.names[0].decl, v, ind, s.span, True)
        t = self.new()
        self.line(ind, f"{t} = {v}", s.span)
        self.unpack(t, len(s.names), "`let`", "names", ind, s.span)
        for i, name in enumerate(s.names):
            self.store(name.decl, f"{t}[{i}]", ind, s.span, True)

    def _plain_target(self, target) -> bool:
        return type(target) is N.Name and target.decl is not None

    def s_Assign(self, s, ind, top_level):
        target = s.target
        if self._plain_target(target):
            v = self.expr(s.value, ind)
            return self.store(target.decl, v, ind, s.span, False)
        if type(target) is N.TupleLit and all(self._plain_target(t) for t in target.items):
            v = self.expr(s.value, ind)
            t = self.new()
            self.line(ind, f"{t} = {v}", s.span)
            self.unpack(t, len(target.items), "assignment", "targets", ind, s.span)
            for i, name in enumerate(target.items):
                self.store(name.decl, f"{t}[{i}]", ind, s.span, False)
            return None
        return self.by_reference(s, ind, top_level)

    def s_AugAssign(self, s, ind, top_level):
        if not self._plain_target(s.target):
            return self.by_reference(s, ind, top_level)
        if self.comp.fuse and not self.no_fuse and ind <= _MAX_FUSE_INDENT:
            e = N.BinOp(s.span, s.op, s.target, s.value)  # `s += x * y` as `s + x * y`
            tree = fusion.analyse(self, e)
            if tree is not None:  # (its fallback reads a local target in place: no
                v = fusion.emit_fused(self, e, tree, ind)  # expression assigns a local)
                return self.store(s.target.decl, v, ind, s.span, False)
        a = self.expr(s.target, ind)
        if a.startswith("f["):  # the read must not see the right side's effects
            t = self.new()
            self.line(ind, f"{t} = {a}", s.span)
            a = t
        b = self.expr(s.value, ind)
        v = self.binop(s.op, a, b, ind, s.span)
        self.store(s.target.decl, v, ind, s.span, False)

    def s_FnDef(self, s, ind, top_level):
        make = self.const(self.comp.expr(s.func), "c")
        t = self.new()
        self.line(ind, f"{t} = {make}(f)", s.span)
        self.store(s.target.decl, t, ind, s.span, False)

    def s_If(self, s, ind, top_level):
        c = self.cond(s.cond, ind)
        self.line(ind, f"if {c}:", s.cond.span)
        self.block(s.then.stmts, ind + 1)
        if s.orelse is not None:
            self.line(ind, "else:", s.span)
            if isinstance(s.orelse, N.Block):
                self.block(s.orelse.stmts, ind + 1)
            else:
                self.stmt(s.orelse, ind + 1)

    def budget(self, ind, span) -> None:
        rt = self.const(self.comp.rt, "rt")
        sp = self.const(span, "sp")
        fname = self.const(self.fname, "n")
        self.line(ind, f"{rt}.budget -= 1", span)
        self.line(ind, f"if {rt}.budget <= 0: refill_at({rt}, {sp}, {fname})", span)

    def s_While(self, s, ind, top_level):
        self.loops += 1
        self.line(ind, "while True:", s.span)
        c = self.cond(s.cond, ind + 1)
        self.line(ind + 1, f"if not {c}: break", s.cond.span)
        self.budget(ind + 1, s.span)
        self.block(s.body.stmts, ind + 1)
        self.loops -= 1

    def s_For(self, s, ind, top_level):
        seq = self.expr(s.iterable, ind)
        it = self.new()
        self.line(ind, f"{it} = iterate({seq})", s.iterable.span)
        v = self.new()
        self.loops += 1
        self.line(ind, f"for {v} in {it}:", s.iterable.span)
        self.budget(ind + 1, s.span)
        self.store(s.var.decl, v, ind + 1, s.span, True)
        self.block(s.body.stmts, ind + 1)
        self.loops -= 1

    def s_Return(self, s, ind, top_level):
        if s.value is None:
            self.line(ind, "f[0] = None", s.span)
        else:
            v = self.expr(s.value, ind)
            self.line(ind, f"f[0] = {v}", s.span)
        self.line(ind, "return RETURN", s.span)

    def s_Break(self, s, ind, top_level):
        self.line(ind, "break", s.span)

    def s_Continue(self, s, ind, top_level):
        self.line(ind, "continue", s.span)

    # expressions -------------------------------------------------------------
    def expr(self, e, ind: int) -> str:
        """Emit `e`; returns an atom (a temporary, a literal, a constant's name, or
        `f[slot]` of a local no closure captures, which nothing else can change)."""
        if self.done:
            atom = self.done.get(id(e))
            if atom is not None:
                return atom
        emit = _EXPRESSIONS.get(type(e))
        if emit is None or ind > _MAX_EXPR_INDENT:
            return self.by_reference_expr(e, ind)
        if (type(e) in _FUSE_ROOTS and not self.no_fuse and ind <= _MAX_FUSE_INDENT
                and self.comp.fuse):
            tree = fusion.analyse(self, e)
            if tree is not None:
                return fusion.emit_fused(self, e, tree, ind)
        return emit(self, e, ind)

    def by_reference_expr(self, e, ind: int) -> str:
        run = self.const(self.comp.expr(e), "c")
        t = self.new()
        self.line(ind, f"{t} = {run}(f)", e.span)
        return t

    def cond(self, e, ind: int) -> str:
        """Emit a condition; returns an atom holding a bool."""
        v = self.expr(e, ind)
        if v in ("True", "False"):
            return v
        t = self.new()
        self.line(ind, f"{t} = {v} if type({v}) is bool else truth({v})", e.span)
        return t

    def e_Const(self, e, ind):
        return self.literal(e.value)

    def e_Name(self, e, ind):
        comp = self.comp
        decl = e.decl
        if decl is None:
            if e.name in comp.builtins and e.name not in comp.shadowed():
                return self.const(comp.builtins[e.name], "b")
            return self.by_reference_expr(e, ind)
        if decl.func is None:
            t = self.new()
            cell = self.const(decl.cell, "g")
            self.line(ind, f"{t} = {cell}.v", e.span)
            read = self.const(comp.expr(e), "c")  # raises the used-before-defined error
            self.line(ind, f"if {t} is UNSET: {read}(f)", e.span)
            return t
        slot = comp.slot_of(decl)
        if comp.is_cell(decl):
            t = self.new()
            self.line(ind, f"{t} = f[{slot}].v", e.span)
            return t
        return f"f[{slot}]"

    def binop(self, sym: str, a: str, b: str, ind: int, span) -> str:
        """`a sym b` on two atoms: Python's operator for two floats, the tape's
        recorder inlined for a reverse-mode float, else the dprog operator."""
        t = self.new()
        op = self.const(BINOPS[sym], "op")
        fast = sym in _FAST
        tests = [f"type({x}) is float" for x in (a, b) if x not in self.floats]
        if sym == "/" and not (b in self.floats and float(b) != 0.0):
            tests.append(f"{b} != 0.0")
        if not fast:
            self.line(ind, f"{t} = {op}({a}, {b})", span)
            return t
        if not tests:
            self.line(ind, f"{t} = {a} {sym} {b}", span)
            return t
        self.line(ind, f"if {' and '.join(tests)}:", span)
        self.line(ind + 1, f"{t} = {a} {sym} {b}", span)
        rnode = " or ".join(f"type({x}) is RNode" for x in (a, b) if x not in self.floats)
        if sym in _RECORDED and rnode:
            self.line(ind, f"elif {rnode}:", span)
            rec = self.const(RECORDERS[sym], "rec")  # one call (inlining it measured no faster)
            self.line(ind + 1, f"{t} = {rec}({a}, {b})", span)
        self.line(ind, "else:", span)
        self.line(ind + 1, f"{t} = {op}({a}, {b})", span)
        return t

    def e_BinOp(self, e, ind):
        a = self.expr(e.left, ind)
        b = self.expr(e.right, ind)
        return self.binop(e.op, a, b, ind, e.span)

    def e_UnOp(self, e, ind):
        if e.op != "-":
            return self.by_reference_expr(e, ind)
        if type(e.operand) is N.Const and type(e.operand.value) is float:
            return self.literal(-e.operand.value)  # `-5.0`: a literal
        a = self.expr(e.operand, ind)
        t = self.new()
        self.line(ind, f"{t} = -{a} if type({a}) is float else op_neg({a})", e.span)
        return t

    def e_Not(self, e, ind):
        c = self.cond(e.operand, ind)
        t = self.new()
        self.line(ind, f"{t} = not {c}", e.span)
        return t

    def e_BoolOp(self, e, ind):
        t = self.new()
        left = self.cond(e.left, ind)
        self.line(ind, f"{t} = {left}", e.span)
        self.line(ind, f"if {'' if e.op == 'and' else 'not '}{t}:", e.span)
        right = self.cond(e.right, ind + 1)
        self.line(ind + 1, f"{t} = {right}", e.span)
        return t

    def e_IfExpr(self, e, ind):
        t = self.new()
        c = self.cond(e.cond, ind)
        self.line(ind, f"if {c}:", e.span)
        self.line(ind + 1, f"{t} = {self.expr(e.then, ind + 1)}", e.span)
        self.line(ind, "else:", e.span)
        self.line(ind + 1, f"{t} = {self.expr(e.orelse, ind + 1)}", e.span)
        return t

    def e_TupleLit(self, e, ind):
        items = [self.expr(x, ind) for x in e.items]
        t = self.new()
        self.line(ind, f"{t} = ({', '.join(items)}{',' if len(items) == 1 else ''})", e.span)
        return t

    def e_ArrayLit(self, e, ind):
        if all(type(x) is N.Const and type(x.value) in (int, float, bool) for x in e.items):
            return self.by_reference_expr(e, ind)  # a constant array, made once
        items = [self.expr(x, ind) for x in e.items]
        t = self.new()
        self.line(ind, f"{t} = make_array([{', '.join(items)}])", e.span)
        return t

    def e_Index(self, e, ind):
        o = self.expr(e.obj, ind)
        subs = e.subscripts
        if len(subs) == 1 and type(subs[0]) is not N.Slice:
            i = self.expr(subs[0], ind)
            t = self.new()
            self.line(ind, f"{t} = index1({o}, {i})", e.span)
            return t
        # the reference's `index_builder` inline: each part read, then checked, in order
        parts = [self.slice_of(s, ind, e.span) if type(s) is N.Slice else
                 self.index_part_of(s, ind, e.span) for s in subs]
        t = self.new()
        self.line(ind, f"{t} = index_value({o}, [{', '.join(parts)}])", e.span)
        return t

    def index_part_of(self, s, ind: int, span) -> str:
        v = self.expr(s, ind)
        t = self.new()
        self.line(ind, f"{t} = index_part({v})", span)
        return t

    def slice_of(self, s, ind: int, span) -> str:
        if s.start is None and s.stop is None and s.step is None:
            return self.const(slice(None), "sl")  # `:`
        bounds = []
        for b in (s.start, s.stop, s.step):
            if b is None:
                bounds.append("None")
                continue
            v = self.expr(b, ind)
            t = self.new()
            self.line(ind, f"{t} = slice_part({v})", span)
            bounds.append(t)
        t = self.new()
        self.line(ind, f"{t} = slice({', '.join(bounds)})", span)
        return t

    def e_Field(self, e, ind):
        o = self.expr(e.obj, ind)
        if not o.startswith(("f[", "_")):  # (a literal: `1._f` is no Python)
            o = self.named(o, ind, e.span)
        t = self.new()
        name = repr(e.name)  # a record's field read inline (`field` without its call)
        self.line(ind, f"{t} = {o}._f.get({name}, NO_FIELD) if type({o}) is Record "
                       "else NO_FIELD", e.span)
        self.line(ind, f"if {t} is NO_FIELD: {t} = field({o}, {name})", e.span)
        return t

    def e_Call(self, e, ind):
        if e.kwargs or (type(e.func) is N.Name and e.func.name == "help"
                        and e.func.decl is None):
            return self.by_reference_expr(e, ind)
        fn = self.expr(e.func, ind)
        if type(e.func) is N.Const:  # `1(2)`: a literal is no Python callee
            fn = self.named(fn, ind, e.span)
        args = [self.expr(a, ind) for a in e.args]
        joined = ", ".join(args)
        t = self.new()
        known = self.names.get(fn)
        if type(known) is Builtin:
            return self.builtin_call(known, fn, args, t, ind, e.span)
        n = len(args)
        pack = f"({joined},)" if n == 1 else f"({joined})"
        self.line(ind, f"if type({fn}) is Closure: {t} = enter({fn}, {pack})", e.span)
        if n in (1, 2):
            call = f"{fn}.fn({joined})"
            if n == 1:  # a float on a tape recorded in one step (as closures.call1)
                call = (f"{fn}.record1({joined}) if type({joined}) is RNode and "
                        f"{fn}.record1 is not None else {call}")
            self.line(ind, f"elif type({fn}) is Builtin and {fn}.takes{n}: {t} = {call}",
                      e.span)
        not_callable = self.const(self.comp.not_callable(e), "nc")
        self.line(ind, "else:", e.span)
        self.line(ind + 1, f"if not isinstance({fn}, Function): raise {not_callable}({fn})",
                  e.span)
        self.line(ind + 1, f"{t} = {fn}({joined})", e.span)
        return t

    def builtin_call(self, b: Builtin, name: str, args: list, t: str, ind: int, span) -> str:
        """A call of a builtin known when compiling (not shadowed by a global)."""
        n = len(args)
        joined = ", ".join(args)
        if not ((n == 1 and b.takes1) or (n == 2 and b.takes2)):
            self.line(ind, f"{t} = {name}({joined})", span)  # checks and reports the arity
            return t
        fn = self.const(b.fn, "fn")
        if n == 1:
            x = args[0]
            p = getattr(b.fn, "prim", None)
            scalar = getattr(p, "scalar", None)
            if scalar is not None:
                sc = self.const(scalar, "sc")
                self.line(ind, f"if type({x}) is float:", span)
                self.line(ind + 1, "try:", span)
                self.line(ind + 2, f"{t} = {sc}({x})", span)
                self.line(ind + 1, "except (ArithmeticError, ValueError):", span)
                self.line(ind + 2, f"{t} = {fn}({x})", span)
                self.line(ind + 1, f"if {t} != {t}: {t} = {fn}({x})", span)
                if b.record1 is not None:
                    rec = self.const(b.record1, "rec")
                    self.line(ind, f"elif type({x}) is RNode: {t} = {rec}({x})", span)
                self.line(ind, f"else: {t} = {fn}({x})", span)
                return t
            if b.record1 is not None:
                rec = self.const(b.record1, "rec")
                self.line(ind, f"{t} = {rec}({x}) if type({x}) is RNode else {fn}({x})", span)
                return t
        self.line(ind, f"{t} = {fn}({joined})", span)
        return t


_STATEMENTS = {getattr(N, k[2:]): v for k, v in vars(_Emitter).items() if k.startswith("s_")}
_EXPRESSIONS = {getattr(N, k[2:]): v for k, v in vars(_Emitter).items() if k.startswith("e_")}


class SourceCompiler(Compiler):
    """`Compiler` with program and function bodies emitted as Python source (never
    under --check-nans: `units.compiler_for` gives that the reference closures)."""

    fuse = True  # float expression trees fused (fusion.py); False: DPROG_COMPILER=unfused

    def shadowed(self):
        return self.unit.shadowed if self.unit is not None else self.module.globals

    def not_callable(self, e):
        return not_callable_error(e.func.name if type(e.func) is N.Name else None,
                                  e.span, self.fname)

    def program_body(self, stmts):
        em = _Emitter(self, self.fname)
        em.block(stmts, 2, top_level=True)
        return em.finish()

    def function_body(self, stmts, info=None):
        em = _Emitter(self, self.fname)
        em.block(stmts, 2)
        return em.finish(info)

    def expression_body(self, e, info=None):
        em = _Emitter(self, self.fname)
        v = em.expr(e, 2)
        em.line(2, f"return {v}", e.span)
        return em.finish(info)


class UnfusedSourceCompiler(SourceCompiler):
    """The fast compiler with every operation on its own (DPROG_COMPILER=unfused): its
    gradients are those of the reference compiler bit for bit, which the fused ones
    are only to rounding (tests/test_compilers.py compares both)."""

    fuse = False
