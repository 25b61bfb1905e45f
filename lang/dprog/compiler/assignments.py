"""Assignments: `x = e`, `a, b = e`, `v[i] = e`, `r.f = e`, `a[idx] += v` (pass 2).

A mixin of the `Compiler` (codegen.py): an assignment to a container is a
functional update rebuilt from the inside out (`updater`), so `r.w[0] = 1`
makes a new array and a new record and stores them, never mutating a value
another name can see (runtime/ownership.py decides when writing in place is
safe).
"""

# ruff: noqa: B904 - `raise located(exc, span, fname)` sets the cause itself (runtime.ops)

from __future__ import annotations

from ..core.backend import xp
from ..core.errors import (
    DpError,
    DpNameError,
    DpTypeError,
    did_you_mean,
    note_frame,
)
from ..core.values import (
    Module,
    Record,
    kind_of,
)
from ..runtime.ops import (
    ARRAY_ATTRIBUTES,
    BINOPS,
    located,
    set_index_value,
    unpack_at,
)
from ..runtime.ownership import sole_holder
from ..syntax import nodes as N

ndarray = xp.ndarray


def _source_text(span, longest: int = 40) -> str:
    """The source text at a one-line span (for hints that name what to type), or "..."."""
    if span is None or span.line != span.end_line:
        return "..."
    text = span.source.line(span.line)[span.column - 1: span.end_column - 1].strip()
    return text if 0 < len(text) <= longest else "..."


class Assignments:
    """The assignment statements of `Compiler` (which provides expr, store, ...)."""

    def s_Assign(self, s, top_level):
        value = self.expr(s.value)
        return self.assign_to(s.target, value, s.span, _source_text(s.value.span))

    def s_AugAssign(self, s, top_level):
        if type(s.target) is N.Index and s.op in ("+", "-"):
            return self.accumulate(s)
        read = self.expr(s.target)
        rhs = self.expr(s.value)
        op = BINOPS[s.op]
        span, fname = s.span, self.fname

        if s.op == "+":
            def combined(f):
                a = read(f)
                b = rhs(f)
                if type(a) is float and type(b) is float:
                    return a + b
                try:
                    return op(a, b)
                except DpError as err:
                    raise located(err, span, fname)
        else:
            def combined(f):
                a = read(f)
                b = rhs(f)
                try:
                    return op(a, b)
                except DpError as err:
                    raise located(err, span, fname)
        return self.assign_to(s.target, combined, s.span)

    def accumulate(self, s):
        """`a[idx] += v` and `-=`: one update that adds v at every index, repeated ones
        included (np.add.at); the index is evaluated once."""
        rhs = self.expr(s.value)
        update = self.updater(s.target, s.span)
        op = BINOPS[s.op]

        def accumulate(f):
            update(f, rhs(f), op)
        return accumulate

    def assign_to(self, target, value, span, value_text: str = "..."):
        if type(target) is N.TupleLit:  # a, b = e: unpack, then store each in turn
            updates = [self.updater(t, span) for t in target.items]
            n, fname = len(updates), self.fname

            def assign_many(f):
                v = unpack_at(value(f), n, "assignment", "targets", span, fname)
                for update, x in zip(updates, v):
                    update(f, x)
            return assign_many
        if type(target) is N.Name:
            decl = target.decl
            if decl is None:
                return self.assign_late_global(target, value, value_text=value_text)
            if decl.func is self.func and not decl.captured:
                slot = decl.slot  # the common case, without a store call

                def assign_local(f):
                    f[slot] = value(f)
                return assign_local
            st = self.store(decl)

            def assign(f):
                st(f, value(f))
            return assign
        # v[i] = e, r.f = e, r.w[0, 1] = e: rebuild the containers from the inside out
        update = self.updater(target, span)

        def assign_update(f):
            update(f, value(f))
        return assign_update

    def updater(self, target, span):
        """A function (f, new) -> None that stores `new` into `target` functionally."""
        fname = self.fname
        if type(target) is N.Name:
            decl = target.decl
            if decl is None:
                st_late = self.assign_late_global(target, None, raw=True)
                return st_late
            return self.store(decl)
        read_obj = self.expr(target.obj)
        outer = self.updater(target.obj, span)
        tspan = target.span
        if type(target) is N.Field:
            name = target.name

            def upd_field(f, new):
                obj = read_obj(f)
                try:
                    if type(obj) is Record:
                        obj.get(name)  # only existing fields may be assigned
                        updated = obj.with_field(name, new)
                    elif type(obj) is Module:
                        raise DpTypeError("module members cannot be assigned", None,
                                          "copy the value into a variable")
                    elif name in ARRAY_ATTRIBUTES:
                        raise DpTypeError(f"`.{name}` of an array is read-only", None,
                                          "use reshape(x, shape) or transpose(x) for a new array")
                    else:
                        raise DpTypeError(f"`.{name} = ...` needs a record, got {kind_of(obj)}",
                                          None, None)
                except DpError as err:
                    raise located(err, tspan, fname)
                outer(f, updated)
            return upd_field
        idx_fn = self.index_builder(target.subscripts)
        # a variable's own array may be written in place (runtime/ownership.py); an
        # array inside a record or tuple may be shared with a copy of its container
        direct = type(target.obj) is N.Name

        def upd_index(f, new, accumulate=None):
            obj = read_obj(f)
            sole = direct and sole_holder(obj)  # before obj is also a pending argument
            try:
                updated = set_index_value(obj, idx_fn(f), new, accumulate, sole)
            except DpError as err:
                raise located(err, tspan, fname)
            del obj  # the variable must be the array's only holder when it is replaced
            outer(f, updated)
        return upd_index

    def assign_late_global(self, target, value, raw=False, value_text="..."):
        module = self.module
        name = target.name
        span, fname = target.span, self.fname
        # a builtin cannot be assigned to, so it is no suggestion for a misspelt variable
        visible = [n for n in getattr(target, "visible", []) if n not in self.builtins]

        def store(f, v):
            cell = module.globals.get(name)
            if cell is None:
                err = DpNameError(f"cannot assign to `{name}`: it is not declared", None,
                                  (did_you_mean(name, visible) or "") +
                                  (" " if did_you_mean(name, visible) else "") +
                                  f"declare it first with `let {name} = {value_text}`")
                note_frame(err, span, fname)
                raise err
            cell.v = v

        if raw:
            return store

        def assign(f):
            store(f, value(f))
        return assign
