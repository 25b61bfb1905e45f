"""The reserved words of dprog (the grammar's keywords), for the resolver, the REPL's
completion and the highlighter."""

from __future__ import annotations

KEYWORDS = ("let fn return if else while for in break continue import as and or not "
            "true false none").split()
