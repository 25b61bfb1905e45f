"""Compilation units that can be compiled again: how dprog functions travel.

A compiled dprog function is a tree of Python closures, which no pickler can
ship. What travels instead is the function's *origin*: the `Unit` it was
compiled from (the source text, its name, the module it was compiled into, and
the builtins it found shadowed) and its position among the unit's functions.
Unpickling a function unpickles its interpreter and module (their globals are
cells, so closures keep sharing variables), and the first call compiles the
unit once more against that module; every function of the unit unpickled
together shares that one compilation (docs/design.md, "Functions that travel").
"""

from __future__ import annotations

from ..core.errors import DpSyntaxError
from ..core.values import Module
from ..syntax import nodes as N
from ..syntax.parser import parse
from .codegen import Compiler
from .pysource import SourceCompiler, UnfusedSourceCompiler

EVAL_HOLDER = "__eval_result__"


def eval_program(expr: str, name: str) -> N.Program:
    """Parse one expression as the program `let __eval_result__ = expr`."""
    prog = parse(expr, name)
    stmts = prog.body.stmts
    if len(stmts) != 1 or type(stmts[0]) is not N.ExprStmt:
        span = stmts[0].span if stmts else None
        raise DpSyntaxError("eval takes exactly one expression", span,
                            "use exec() to run statements, then eval() to read values")
    e = stmts[0].expr
    prog.body.stmts = [N.Let(stmts[0].span, [N.Name(e.span, EVAL_HOLDER)], e)]
    return prog


def compiler_for(rt) -> type[Compiler]:
    """The compiler a runtime's programs use: the fast one, or the reference closures
    under --check-nans (or DPROG_COMPILER=reference); DPROG_COMPILER=unfused is the
    fast one without fusion (for tests and measurements)."""
    which = getattr(rt, "compiler", "fast")
    if rt.check_nans or which == "reference":
        return Compiler
    return UnfusedSourceCompiler if which == "unfused" else SourceCompiler


class Unit:
    """One compiled piece of source (a file, a module, an exec/eval, a REPL input)."""

    __slots__ = ("text", "name", "module", "interactive", "is_eval", "shadowed", "interp",
                 "_infos")

    def __init__(self, text: str, name: str, module: Module, interp, interactive: bool = False,
                 is_eval: bool = False):
        self.text = text
        self.name = name
        self.module = module
        self.interp = interp  # its `rt` and `builtins` (an Interpreter; not imported here)
        self.interactive = interactive
        self.is_eval = is_eval
        # builtins that module globals shadowed when the unit was compiled: a later
        # global of the same name must not change what a recompiled unit calls
        self.shadowed = frozenset(n for n in module.globals if n in interp.builtins)
        self._infos: list | None = None

    def compile(self, prog: N.Program | None = None):
        """Compile the unit (parsing it unless `prog` is given); returns its thunk."""
        if prog is None:
            prog = eval_program(self.text, self.name) if self.is_eval else \
                parse(self.text, self.name)
        interp = self.interp
        make = compiler_for(interp.rt)
        compiler = make(interp.rt, self.module, interp.builtins, self.interactive, unit=self)
        run = compiler.compile_program(prog)
        self._infos = compiler.infos
        return run

    def function_info(self, index: int):
        """The FunctionInfo of the unit's `index`-th function (compiling on first use)."""
        if self._infos is None:
            self.compile()
        return self._infos[index]

    def __getstate__(self):
        return (self.text, self.name, self.module, self.interp, self.interactive,
                self.is_eval, self.shadowed)

    def __setstate__(self, state) -> None:
        (self.text, self.name, self.module, self.interp, self.interactive, self.is_eval,
         self.shadowed) = state
        self._infos = None
