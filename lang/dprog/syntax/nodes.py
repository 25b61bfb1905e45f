"""The dprog AST: small classes, each carrying the source span it came from.

The parser builds these from Lark's tree; the compiler reads them once per
definition and turns them into Python closures. Name nodes get a `decl` slot
filled by the compiler's resolver (which declaration they refer to).
Plain classes with __slots__ rather than dataclasses: importing and applying
`dataclasses` costs more start-up time than the whole AST module is worth.
"""

from __future__ import annotations

from ..core.errors import Span


class Node:
    """Base: `span` first, then the class's `_fields` in order (trailing ones may default)."""

    __slots__ = ("span",)
    _fields: tuple = ()
    _defaults: dict = {}

    def __init__(self, span: Span, *args):
        self.span = span
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} fields")
        for name, value in zip(fields, args):
            setattr(self, name, value)
        for name in fields[len(args):]:
            setattr(self, name, self._defaults[name])

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields)
        return f"{type(self).__name__}({inner})"


def _node(name: str, fields: str, defaults: dict | None = None, extra: tuple = ()):
    names = tuple(fields.split())
    return type(name, (Node,), {"__slots__": names + extra, "_fields": names,
                                "_defaults": defaults or {}, "__module__": __name__})


Const = _node("Const", "value")
FString = _node("FString", "texts exprs specs")  # texts: one more than exprs; specs: str|None
Name = _node("Name", "name decl", {"decl": None}, extra=("visible",))
TupleLit = _node("TupleLit", "items")
ArrayLit = _node("ArrayLit", "items")
RecordLit = _node("RecordLit", "fields")
Param = _node("Param", "name default decl", {"decl": None})
Lambda = _node("Lambda", "name params body info", {"info": None})
IfExpr = _node("IfExpr", "cond then orelse")
BoolOp = _node("BoolOp", "op left right")
Not = _node("Not", "operand")
BinOp = _node("BinOp", "op left right")
UnOp = _node("UnOp", "op operand")
Call = _node("Call", "func args kwargs")
Slice = _node("Slice", "start stop step")
Index = _node("Index", "obj subscripts")
Field = _node("Field", "obj name")
Block = _node("Block", "stmts")
Let = _node("Let", "names value")
Assign = _node("Assign", "target value")
AugAssign = _node("AugAssign", "target op value")
FnDef = _node("FnDef", "target func")
If = _node("If", "cond then orelse")
While = _node("While", "cond body")
For = _node("For", "var iterable body")
Return = _node("Return", "value")
Break = _node("Break", "")
Continue = _node("Continue", "")
Import = _node("Import", "module target")
ExprStmt = _node("ExprStmt", "expr")
Program = _node("Program", "body extra", {"extra": None})
