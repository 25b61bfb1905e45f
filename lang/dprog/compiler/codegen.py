"""AST -> Python closures, once per definition (pass 2; pass 1 is resolve.py).

Two passes over a compilation unit (a file, a module, one REPL input):

1. *Resolve*: every name is bound to the declaration it refers to (lexical
   scoping, `fn` hoisting inside blocks, module top-level names become
   global cells), and declarations that inner functions capture are marked.
2. *Generate*: each node becomes a closure `f -> value` (expressions) or
   `f -> signal` (statements) over a frame `f`, a plain list of slots. A
   captured variable lives in a `Cell` in its slot, so closures share the
   variable, not a copy; a fresh `let` makes a fresh cell.

No node type is dispatched at run time; errors are attached to the failing
node's span by zero-cost `try` blocks and each dprog frame adds one stack
entry while the exception unwinds.
"""

# ruff: noqa: B904 - `raise located(exc, span, fname)` sets the cause itself (runtime.ops)

from __future__ import annotations

from ..core.backend import xp
from ..core.errors import (
    DpError,
    DpNameError,
    did_you_mean,
    note_frame,
)
from ..core.limits import check_deadline
from ..core.values import (
    UNSET,
    Cell,
    Module,
    Record,
)
from ..runtime.functions import BREAK, CONTINUE, MISSING, RETURN, Closure, FunctionInfo
from ..runtime.indexes import index_part
from ..runtime.ops import (
    BINOPS,
    field,
    format_field,
    index_one,
    index_value,
    iterate,
    located,
    make_array,
    op_neg,
    op_pos,
    refill_at,
    slice_part,
    truth,
    unpack_at,
)
from ..syntax import nodes as N
from ..syntax.keywords import KEYWORDS
from .assignments import Assignments, _source_text
from .closures import binop_factory, call1, call2, call_kw, call_n, not_callable_error
from .foreign_names import foreign_name
from .resolve import BlockScope, FuncScope, Resolver

# ============================================================== resolution (pass 1)


# ============================================================= run-time helpers


# ================================================================ functions


# ============================================================== generation (pass 2)


class Compiler(Assignments):
    def __init__(self, rt, module: Module, builtins: dict, interactive: bool = False,
                 unit=None):
        self.rt = rt
        self.module = module
        self.builtins = builtins
        self.interactive = interactive
        # the units.Unit being compiled (None for throwaway code such as the REPL's
        # `:time`): each function's FunctionInfo records (unit, its index in `infos`)
        self.unit = unit
        self.infos: list[FunctionInfo] = []
        self.count = 0

    def compile_program(self, prog: N.Program):
        """Resolve and generate a whole unit; returns a thunk that runs it."""
        main = FuncScope(None, "<main>")
        top = BlockScope(main, None, module=self.module)
        resolver = Resolver(self.module, self.builtins)
        resolver.block(prog.body, top, new_scope=False)
        self.func = main
        self.fname = "<main>"
        body = self.program_body(prog.body.stmts)
        nslots = main.nslots

        def run():
            frame = [None] * nslots
            r = body(frame)
            return r

        return run

    # the three kinds of body; the fast compiler (pysource.py) emits Python source for them
    def program_body(self, stmts):
        """A unit's top level: `f -> signal` over the frame of <main>."""
        return self.block(stmts, top_level=True)

    def function_body(self, stmts, info=None):
        """A function's block body: `f -> signal`, RETURN leaves the value in f[0]
        (`info`: the function's FunctionInfo, whose `body` this becomes)."""
        return self.block(stmts)

    def expression_body(self, e, info=None):
        """A function written `fn(x) => e`: `f -> value`."""
        return self.expr(e)

    # blocks and statements ---------------------------------------------------
    def block(self, stmts, top_level=False):
        run = self._block(stmts, top_level)
        # `fn` declarations are hoisted: a captured one needs its cell before any
        # closure in the block captures it (mutual recursion between inner fns).
        cells = [s.target.decl.slot for s in stmts
                 if type(s) is N.FnDef and s.target.decl.func is self.func
                 and s.target.decl.captured]
        if not cells:
            return run

        def with_cells(f):
            for slot in cells:
                f[slot] = Cell(UNSET)
            return run(f)
        return with_cells

    def _block(self, stmts, top_level=False):
        fns = [self.stmt(s, top_level) for s in stmts]
        if not fns:
            return lambda f: None
        if len(fns) == 1:
            return fns[0]
        if len(fns) == 2:
            a, b = fns

            def run2(f):
                r = a(f)
                if r is not None:
                    return r
                return b(f)
            return run2

        if len(fns) == 3:
            a, b, c = fns

            def run3(f):
                r = a(f)
                if r is not None:
                    return r
                r = b(f)
                if r is not None:
                    return r
                return c(f)
            return run3

        fns = tuple(fns)

        def run(f):
            for s in fns:
                r = s(f)
                if r is not None:
                    return r
            return None
        return run

    def stmt(self, s, top_level=False):
        check_deadline()  # the host's timeout covers compiling too
        return getattr(self, "s_" + type(s).__name__)(s, top_level)

    def s_ExprStmt(self, s, top_level):
        ev = self.expr(s.expr)
        if top_level and self.interactive:
            rt = self.rt

            def echo(f):
                v = ev(f)
                if v is not None:
                    rt.echo(v)
            return echo

        def run(f):
            ev(f)
        return run

    def store(self, decl):
        """A function (f, value) -> None that assigns to `decl`."""
        if decl.func is None:
            cell = decl.cell

            def set_global(f, v):
                cell.v = v
            return set_global
        slot = self.slot_of(decl)
        if self.is_cell(decl):
            def set_cell(f, v):
                f[slot].v = v
            return set_cell

        def set_local(f, v):
            f[slot] = v
        return set_local

    def declare_store(self, decl):
        """Like `store`, but a captured local gets a fresh cell (a new variable)."""
        if decl.func is not None and decl.captured and decl.func is self.func:
            slot = decl.slot

            def new_cell(f, v):
                f[slot] = Cell(v)
            return new_cell
        return self.store(decl)

    def slot_of(self, decl) -> int:
        if decl.func is self.func:
            return decl.slot
        return self.func.free[decl]

    def is_cell(self, decl) -> bool:
        return decl.func is not self.func or decl.captured

    def s_Let(self, s, top_level):
        value = self.expr(s.value)
        span, fname = s.span, self.fname
        if len(s.names) == 1:
            st = self.declare_store(s.names[0].decl)

            def let1(f):
                st(f, value(f))
            return let1
        stores = [self.declare_store(n.decl) for n in s.names]
        n = len(stores)

        def let_many(f):
            for st, x in zip(stores, unpack_at(value(f), n, "`let`", "names", span, fname)):
                st(f, x)
        return let_many

    def s_FnDef(self, s, top_level):
        make = self.expr(s.func)
        st = self.store(s.target.decl)  # the cell (if any) was made at block entry

        def define(f):
            st(f, make(f))
        return define

    def s_If(self, s, top_level):
        cond = self.cond(s.cond)
        then = self.block(s.then.stmts)
        if s.orelse is None:
            def if_(f):
                if cond(f):
                    return then(f)
            return if_
        if isinstance(s.orelse, N.Block):
            orelse = self.block(s.orelse.stmts)
        else:
            orelse = self.stmt(s.orelse)

        def if_else(f):
            if cond(f):
                return then(f)
            return orelse(f)
        return if_else

    def cond(self, e):
        ev = self.expr(e)
        span, fname = e.span, self.fname

        def c(f):
            v = ev(f)
            if type(v) is bool:
                return v
            try:
                return truth(v)
            except DpError as err:
                raise located(err, span, fname)
        return c

    def s_While(self, s, top_level):
        cond = self.cond(s.cond)
        body = self.block(s.body.stmts)
        rt = self.rt
        loop_span, fname = s.span, self.fname

        def while_(f):
            while cond(f):
                rt.budget -= 1
                if rt.budget <= 0:
                    refill_at(rt, loop_span, fname)
                r = body(f)
                if r is not None and r is not CONTINUE:  # `continue` ends the body anyway
                    return None if r is BREAK else r
            return None
        return while_

    def s_For(self, s, top_level):
        iterable = self.expr(s.iterable)
        st = self.declare_store(s.var.decl)
        body = self.block(s.body.stmts)
        rt = self.rt
        span, fname = s.iterable.span, self.fname
        loop_span = s.span

        var = s.var.decl
        slot = var.slot if (var.func is self.func and not var.captured) else -1

        def for_(f):
            seq = iterable(f)
            try:
                it = iterate(seq)
            except DpError as err:
                raise located(err, span, fname)
            for v in it:
                rt.budget -= 1
                if rt.budget <= 0:
                    refill_at(rt, loop_span, fname)
                if slot >= 0:
                    f[slot] = v
                else:
                    st(f, v)
                r = body(f)
                if r is not None and r is not CONTINUE:
                    return None if r is BREAK else r
            return None
        return for_

    def s_Return(self, s, top_level):
        if s.value is None:
            def ret_none(f):
                f[0] = None
                return RETURN
            return ret_none
        value = self.expr(s.value)

        def ret(f):
            f[0] = value(f)
            return RETURN
        return ret

    def s_Break(self, s, top_level):
        return lambda f: BREAK

    def s_Continue(self, s, top_level):
        return lambda f: CONTINUE

    def s_Import(self, s, top_level):
        st = self.declare_store(s.target.decl)
        rt = self.rt
        modname = s.module
        span, fname = s.span, self.fname
        source = s.span.source
        importer = self.module

        def import_(f):
            try:
                mod = rt.interp.import_module(modname, importer, source.name)
            except DpError as err:
                err.frame_noted = False  # the module's own frame is noted; add this one
                raise located(err, span, fname)
            st(f, mod)
        return import_

    # expressions ------------------------------------------------------------
    def expr(self, e):
        self.count += 1
        if not self.count & 1023:
            check_deadline()
        return getattr(self, "e_" + type(e).__name__)(e)

    def e_Const(self, e):
        v = e.value
        return lambda f: v

    def e_FString(self, e):
        first, rest = e.texts[0], e.texts[1:]
        fields = [(self.expr(x), spec, x.span, text) for x, spec, text in
                  zip(e.exprs, e.specs, rest)]
        fname = self.fname

        def fstring(f):
            out = [first]
            for value, spec, span, text in fields:
                try:
                    out.append(format_field(value(f), spec))
                except DpError as err:
                    raise located(err, span, fname) from None
                out.append(text)
            return "".join(out)
        return fstring

    def e_Name(self, e):
        decl = e.decl
        name = e.name
        span, fname = e.span, self.fname
        if decl is None:
            return self.late_global(e)
        if decl.func is None:
            cell = decl.cell

            def read_global(f):
                v = cell.v
                if v is UNSET:
                    err = DpNameError(f"`{name}` is used before it is defined", None,
                                      f"move `let {name} = ...` (or `fn {name}`) above this use")
                    note_frame(err, span, fname)
                    raise err
                return v
            return read_global
        slot = self.slot_of(decl)
        if self.is_cell(decl):
            return lambda f: f[slot].v
        return lambda f: f[slot]

    def late_global(self, e, hint: str | None = None):
        name = e.name
        module = self.module
        span, fname = e.span, self.fname
        builtins = self.builtins
        shadowed = self.unit.shadowed if self.unit is not None else module.globals
        if name in builtins and name not in shadowed:
            v = builtins[name]
            return lambda f: v
        visible = getattr(e, "visible", [])
        cache = []

        def read_late(f):
            if cache:
                v = cache[0].v
                if v is not UNSET:
                    return v
            cell = module.globals.get(name)
            if cell is not None and cell.v is not UNSET:
                cache[:] = [cell]
                return cell.v
            if name in builtins:
                return builtins[name]
            # keywords only as a case slip (None -> none): `as` is no guess for `a`
            kws = {k for k in KEYWORDS if k.lower() == name.lower()}
            cands = set(visible) | kws | {k for k, c in module.globals.items()
                                                    if c.v is not UNSET}
            foreign = foreign_name(name)
            if foreign is not None:  # `arcsin`, `np`: say what dprog calls it
                err = DpNameError(foreign[0], None, foreign[1])
            else:
                err = DpNameError(f"undefined name `{name}`", None,
                                  hint or did_you_mean(name, cands) or
                                  f"declare it with `let {name} = ...` before using it")
            note_frame(err, span, fname)
            raise err
        return read_late

    def e_TupleLit(self, e):
        items = [self.expr(x) for x in e.items]
        if not items:
            return lambda f: ()
        if len(items) == 2:
            a, b = items
            return lambda f: (a(f), b(f))
        return lambda f: tuple([x(f) for x in items])

    def e_ArrayLit(self, e):
        if all(type(x) is N.Const and type(x.value) in (int, float, bool) for x in e.items):
            try:
                const = xp.array([x.value for x in e.items], dtype=xp.float64)
            except OverflowError:  # a huge int literal: reported when it runs
                const = None
            if const is not None:
                const.flags.writeable = False
                return lambda f: const
        items = [self.expr(x) for x in e.items]
        span, fname = e.span, self.fname

        def array(f):
            vals = [x(f) for x in items]
            try:
                return make_array(vals)
            except Exception as exc:
                raise located(exc, span, fname)
        return array

    def e_RecordLit(self, e):
        names = [k for k, _ in e.fields]
        items = [self.expr(x) for _, x in e.fields]
        return lambda f: Record({k: x(f) for k, x in zip(names, items)})

    def e_Lambda(self, e):
        func: FuncScope = e.info
        info = FunctionInfo(e.name, e.span)
        info.origin = (self.unit, len(self.infos)) if self.unit is not None else None
        self.infos.append(info)
        info.nparams = len(e.params)
        info.param_names = [p.name for p in e.params]
        info.param_index = {p.name: i for i, p in enumerate(e.params)}
        # parameters occupy slots 1..n in order (declared first in their scope)
        info.param_cells = tuple(p.decl.slot for p in e.params if p.decl.captured)
        saved_func, saved_name = self.func, self.fname
        self.func, self.fname = func, e.name
        if isinstance(e.body, N.Block):
            info.body = self.function_body(e.body.stmts, info)
            info.is_expr = False
        else:
            info.body = self.expression_body(e.body, info)
            info.is_expr = True
        self.func, self.fname = saved_func, saved_name
        info.nslots = func.nslots
        free = list(func.free.items())
        info.free_dst = tuple(slot for _, slot in free)
        src = tuple(self.slot_of(d) for d, _ in free)
        defaults = [self.expr(p.default) if p.default is not None else None for p in e.params]
        has_defaults = any(d is not None for d in defaults)
        rt = self.rt
        no_defaults = (MISSING,) * info.nparams

        def make_closure(f):
            cells = tuple([f[s] for s in src])
            if has_defaults:
                ds = tuple(MISSING if d is None else d(f) for d in defaults)
            else:
                ds = no_defaults
            return Closure(info, cells, ds, rt)
        return make_closure

    def e_IfExpr(self, e):
        cond = self.cond(e.cond)
        then = self.expr(e.then)
        orelse = self.expr(e.orelse)
        return lambda f: then(f) if cond(f) else orelse(f)

    def e_BoolOp(self, e):
        left = self.cond(e.left)
        right = self.cond(e.right)
        if e.op == "and":
            return lambda f: left(f) and right(f)
        return lambda f: left(f) or right(f)

    def e_Not(self, e):
        operand = self.cond(e.operand)
        return lambda f: not operand(f)

    def e_UnOp(self, e):
        operand = self.expr(e.operand)
        op = op_neg if e.op == "-" else op_pos
        span, fname = e.span, self.fname

        def unop(f):
            try:
                return op(operand(f))
            except DpError as err:
                raise located(err, span, fname)
        return unop

    def e_BinOp(self, e):
        left = self.expr(e.left)
        right = self.expr(e.right)
        op = BINOPS[e.op]
        lkind, lconst = self.operand_kind(e.left)
        rkind, rconst = self.operand_kind(e.right)
        factory = binop_factory(e.op, lkind, rkind, self.rt.check_nans)
        return factory(left, right, lconst, rconst, op, e.span, self.fname)

    def operand_kind(self, e):
        """How a binary operator reads an operand: inline constant, local slot, or call."""
        if type(e) is N.Const:
            return "const", e.value
        if type(e) is N.Name and e.decl is not None and e.decl.func is self.func \
                and not e.decl.captured:
            return "slot", e.decl.slot
        return "expr", None

    def e_Call(self, e):
        if type(e.func) is N.Name and e.func.name == "help" and e.func.decl is None:
            # help(x) as in Python: there is no such function, the REPL has `:help x`
            what = _source_text(e.args[0].span) if len(e.args) == 1 else "NAME"
            func = self.late_global(e.func, f"in the REPL, type `:help {what}` "
                                            "(docs/builtins.md lists every builtin)")
        else:
            func = self.expr(e.func)
        args = [self.expr(a) for a in e.args]
        span, fname = e.span, self.fname
        not_callable = not_callable_error(e.func.name if type(e.func) is N.Name else None,
                                           span, fname)
        if e.kwargs:
            kwnames = [k for k, _ in e.kwargs]
            kwvals = [self.expr(v) for _, v in e.kwargs]
            return call_kw(func, args, kwnames, kwvals, not_callable, span, fname)
        if len(args) == 1:
            return call1(func, args[0], not_callable, span, fname)
        if len(args) == 2:
            return call2(func, args[0], args[1], not_callable, span, fname)
        return call_n(func, args, not_callable, span, fname)

    def index_builder(self, subscripts):
        parts = []
        for s in subscripts:
            if type(s) is N.Slice:
                a = self.expr(s.start) if s.start is not None else None
                b = self.expr(s.stop) if s.stop is not None else None
                c = self.expr(s.step) if s.step is not None else None

                def mk_slice(f, a=a, b=b, c=c):
                    return slice(slice_part(a(f)) if a else None,
                                 slice_part(b(f)) if b else None,
                                 slice_part(c(f)) if c else None)
                parts.append(mk_slice)
            else:
                ev = self.expr(s)
                parts.append(lambda f, ev=ev: index_part(ev(f)))
        if len(parts) == 1:
            (p0,) = parts
            return lambda f: [p0(f)]
        return lambda f: [p(f) for p in parts]

    def e_Index(self, e):
        obj = self.expr(e.obj)
        span, fname = e.span, self.fname
        if len(e.subscripts) == 1 and type(e.subscripts[0]) is not N.Slice:
            sub = self.expr(e.subscripts[0])

            def index1(f):
                o = obj(f)
                i = sub(f)
                try:
                    return index_one(o, i)
                except Exception as exc:
                    raise located(exc, span, fname)
            return index1
        idx = self.index_builder(e.subscripts)

        def index(f):
            o = obj(f)
            try:
                return index_value(o, idx(f))
            except Exception as exc:
                raise located(exc, span, fname)
        return index

    def e_Field(self, e):
        obj = self.expr(e.obj)
        name = e.name
        span, fname = e.span, self.fname

        def field_(f):
            o = obj(f)
            try:
                return field(o, name)
            except DpError as err:
                raise located(err, span, fname)
        return field_
