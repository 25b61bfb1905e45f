"""The dprog AST: plain dataclasses, each carrying the source span it came from.

The parser builds these from Lark's tree; the compiler reads them once per
definition and turns them into Python closures. Name nodes get a `decl` slot
filled by the compiler's resolver (which declaration they refer to).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Span


@dataclass(eq=False)
class Node:
    span: Span


# ---------------------------------------------------------------- expressions
@dataclass(eq=False)
class Const(Node):
    value: Any  # int, float, str, bool or None


@dataclass(eq=False)
class Name(Node):
    name: str
    decl: Any = None


@dataclass(eq=False)
class TupleLit(Node):
    items: list


@dataclass(eq=False)
class ArrayLit(Node):
    items: list


@dataclass(eq=False)
class RecordLit(Node):
    fields: list  # [(name, expr)]


@dataclass(eq=False)
class Param(Node):
    name: str
    default: Any  # expr or None
    decl: Any = None


@dataclass(eq=False)
class Lambda(Node):
    name: str  # "<lambda>" or the function's name
    params: list
    body: Any  # Block, or an expression for `fn(x) => e`
    info: Any = None  # compiler's FunctionInfo


@dataclass(eq=False)
class IfExpr(Node):
    cond: Any
    then: Any
    orelse: Any


@dataclass(eq=False)
class BoolOp(Node):
    op: str  # "and" | "or"
    left: Any
    right: Any


@dataclass(eq=False)
class Not(Node):
    operand: Any


@dataclass(eq=False)
class BinOp(Node):
    op: str
    left: Any
    right: Any


@dataclass(eq=False)
class UnOp(Node):
    op: str
    operand: Any


@dataclass(eq=False)
class Call(Node):
    func: Any
    args: list
    kwargs: list  # [(name, expr)]


@dataclass(eq=False)
class Slice(Node):
    start: Any
    stop: Any
    step: Any


@dataclass(eq=False)
class Index(Node):
    obj: Any
    subscripts: list  # exprs or Slice


@dataclass(eq=False)
class Field(Node):
    obj: Any
    name: str


# ----------------------------------------------------------------- statements
@dataclass(eq=False)
class Block(Node):
    stmts: list


@dataclass(eq=False)
class Let(Node):
    names: list  # [Name] (declarations)
    value: Any


@dataclass(eq=False)
class Assign(Node):
    target: Any  # Name | Index | Field
    value: Any


@dataclass(eq=False)
class AugAssign(Node):
    target: Any
    op: str  # "+", "-", "*", "/"
    value: Any


@dataclass(eq=False)
class FnDef(Node):
    target: Name
    func: Lambda


@dataclass(eq=False)
class If(Node):
    cond: Any
    then: Block
    orelse: Any  # Block | If | None


@dataclass(eq=False)
class While(Node):
    cond: Any
    body: Block


@dataclass(eq=False)
class For(Node):
    var: Name
    iterable: Any
    body: Block


@dataclass(eq=False)
class Return(Node):
    value: Any


@dataclass(eq=False)
class Break(Node):
    pass


@dataclass(eq=False)
class Continue(Node):
    pass


@dataclass(eq=False)
class Import(Node):
    module: str
    target: Name  # the name bound (alias or module name)


@dataclass(eq=False)
class ExprStmt(Node):
    expr: Any


@dataclass(eq=False)
class Program(Node):
    body: Block
    extra: dict = field(default_factory=dict)
