"""Pass 1 of compiling: resolution. Every name is bound to the declaration it refers
to (lexical scoping, `fn` hoisting inside blocks, module top-level names as global
cells), and declarations that inner functions capture are marked, so that pass 2
(codegen.py) knows each variable's frame slot or cell."""

from __future__ import annotations

from ..core.errors import DpInternalError, DpSyntaxError
from ..core.limits import check_deadline
from ..core.values import UNSET, Cell, Module
from ..syntax import nodes as N


class Decl:
    __slots__ = ("name", "func", "slot", "captured", "cell", "span")

    def __init__(self, name, func, span, cell=None):
        self.name = name
        self.func = func  # FuncScope, or None for module globals
        self.slot = -1
        self.captured = False
        self.cell = cell
        self.span = span


class FuncScope:
    def __init__(self, parent: FuncScope | None, name: str):
        self.parent = parent
        self.name = name
        self.nslots = 1  # slot 0 holds the return value
        self.free: dict[Decl, int] = {}

    def new_slot(self) -> int:
        s = self.nslots
        self.nslots += 1
        return s


class BlockScope:
    def __init__(self, func: FuncScope, parent: BlockScope | None, module: Module | None = None):
        self.func = func
        self.parent = parent
        self.names: dict[str, Decl] = {}
        self.module = module  # set for the module's top-level block: names are globals


class Resolver:
    def __init__(self, module: Module, builtins: dict):
        self.module = module
        self.builtins = builtins
        self.loop_depth = 0
        self.func_depth = 0

    # declarations ----------------------------------------------------------
    def declare(self, scope: BlockScope, name_node: N.Name) -> Decl:
        name = name_node.name
        if scope.module is not None:
            cell = scope.module.globals.get(name)
            if cell is None:
                cell = scope.module.globals[name] = Cell(UNSET)
            d = scope.names.get(name)
            if d is None:
                d = Decl(name, None, name_node.span, cell)
                scope.names[name] = d
        else:
            d = Decl(name, scope.func, name_node.span)
            d.slot = scope.func.new_slot()
            scope.names[name] = d
        name_node.decl = d
        return d

    def lookup(self, scope: BlockScope, func: FuncScope, name: str):
        s = scope
        while s is not None:
            d = s.names.get(name)
            if d is not None:
                if d.func is not None and d.func is not func:
                    d.captured = True
                    f = func
                    while f is not d.func:
                        if d not in f.free:
                            f.free[d] = f.new_slot()
                        f = f.parent
                return d
            s = s.parent
        return None

    def visible_names(self, scope: BlockScope) -> list[str]:
        out = []
        s = scope
        while s is not None:
            out.extend(s.names)
            s = s.parent
        out.extend(k for k, c in self.module.globals.items() if c.v is not UNSET)
        out.extend(self.builtins)
        return out

    # walking ---------------------------------------------------------------
    def block(self, b: N.Block, scope: BlockScope, new_scope=True):
        if new_scope:
            scope = BlockScope(scope.func, scope)
        self.hoist(b.stmts, scope)
        for s in b.stmts:
            self.stmt(s, scope)

    def hoist(self, stmts, scope):
        for s in stmts:
            if isinstance(s, N.FnDef):
                self.declare(scope, s.target)
            elif scope.module is not None:
                if isinstance(s, N.Let):
                    for n in s.names:
                        self.declare(scope, n)
                elif isinstance(s, N.Import):
                    self.declare(scope, s.target)

    def stmt(self, s, scope: BlockScope):
        check_deadline()  # the host's timeout covers compiling too
        t = type(s)
        if t is N.ExprStmt:
            self.expr(s.expr, scope)
        elif t is N.Let:
            self.expr(s.value, scope)
            for n in s.names:
                if scope.module is not None:
                    n.decl = scope.names[n.name]
                else:
                    self.declare(scope, n)
        elif t is N.Assign or t is N.AugAssign:
            self.expr(s.value, scope)
            self.expr(s.target, scope)
        elif t is N.FnDef:
            if s.target.decl is None:
                self.declare(scope, s.target)
            self.function(s.func, scope)
        elif t is N.If:
            self.expr(s.cond, scope)
            self.block(s.then, scope)
            if isinstance(s.orelse, N.Block):
                self.block(s.orelse, scope)
            elif s.orelse is not None:
                self.stmt(s.orelse, scope)
        elif t is N.While or t is N.For:
            self.loop(s, scope)
        elif t is N.Return or t is N.Break or t is N.Continue:
            self.jump(s, scope)
        elif t is N.Import:
            if scope.module is None:
                self.declare(scope, s.target)
            else:
                s.target.decl = scope.names[s.target.name]
        else:  # pragma: no cover
            raise DpInternalError(f"unknown statement {t.__name__}", s.span)

    def loop(self, s, scope: BlockScope):
        if type(s) is N.While:
            self.expr(s.cond, scope)
            body_scope = scope
        else:
            self.expr(s.iterable, scope)
            body_scope = BlockScope(scope.func, scope)
            self.declare(body_scope, s.var)
        self.loop_depth += 1
        self.block(s.body, body_scope)
        self.loop_depth -= 1

    def jump(self, s, scope: BlockScope):
        """`return`, `break`, `continue`: only where they mean something."""
        if type(s) is N.Return:
            if self.func_depth == 0:
                raise DpSyntaxError("`return` outside a function", s.span,
                                    "use `return` inside `fn` bodies only")
            if s.value is not None:
                self.expr(s.value, scope)
        elif self.loop_depth == 0:
            word = "break" if type(s) is N.Break else "continue"
            raise DpSyntaxError(f"`{word}` outside a loop", s.span,
                                f"`{word}` works inside `while` and `for` loops")

    def function(self, fn: N.Lambda, scope: BlockScope):
        for p in fn.params:
            if p.default is not None:
                self.expr(p.default, scope)
        func = FuncScope(scope.func, fn.name)
        inner = BlockScope(func, scope)
        for p in fn.params:
            nm = N.Name(p.span, p.name)
            p.decl = self.declare(inner, nm)
        saved = self.loop_depth
        self.loop_depth = 0
        self.func_depth += 1
        if isinstance(fn.body, N.Block):
            self.block(fn.body, inner)
        else:
            self.expr(fn.body, inner)
        self.func_depth -= 1
        self.loop_depth = saved
        fn.info = func

    def expr(self, e, scope: BlockScope):
        t = type(e)
        if t is N.Name:
            d = self.lookup(scope, scope.func, e.name)
            e.decl = d
            if d is None:
                e.visible = self.visible_names(scope)
        elif t is N.Lambda:
            self.function(e, scope)
        else:
            children = _SUBEXPRESSIONS.get(t)
            if children is None:  # pragma: no cover
                raise DpInternalError(f"unknown expression {t.__name__}", e.span)
            for c in children(e):
                self.expr(c, scope)


def _index_parts(e: N.Index):
    yield e.obj
    for s in e.subscripts:
        if type(s) is N.Slice:
            yield from (part for part in (s.start, s.stop, s.step) if part is not None)
        else:
            yield s


# the expressions directly inside each kind of expression, in evaluation order
_SUBEXPRESSIONS = {
    N.Const: lambda e: (),
    N.FString: lambda e: e.exprs,
    N.BinOp: lambda e: (e.left, e.right),
    N.BoolOp: lambda e: (e.left, e.right),
    N.UnOp: lambda e: (e.operand,),
    N.Not: lambda e: (e.operand,),
    N.Call: lambda e: (e.func, *e.args, *(a for _, a in e.kwargs)),
    N.Index: _index_parts,
    N.Field: lambda e: (e.obj,),
    N.TupleLit: lambda e: e.items,
    N.ArrayLit: lambda e: e.items,
    N.RecordLit: lambda e: (x for _, x in e.fields),
    N.IfExpr: lambda e: (e.cond, e.then, e.orelse),
}
