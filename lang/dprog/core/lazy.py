"""Modules imported on their first use, so that start-up pays only for what runs
(issue 17, row W5: `dp -c "print(1)"` against `python -c "import numpy"`).

Machinery that a program may never reach (the embedding's value conversions,
Python-defined primitives, the Dask executor, vmap's signal) is named at the top of
the module that uses it as `name = lazy_module("dprog.room.module")` (or a standard-library
module that only rare paths need, such as `threading` or `unicodedata`): a stand-in
whose first attribute read imports the module, then forwards to it. The import-linter
and the layout check read `import` statements only, so `tests/test_lazy_loading.py`
checks every `lazy_module` target against the layers and for cycles. (The builtins'
categories and the linear-algebra primitive families load the same way, from their
static name lists in lib/builtins.py and prims/primitives.py.)
"""

from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule:
    """A module imported on the first read of one of its attributes."""

    __slots__ = ("_name", "_module")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str):
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str) -> LazyModule:
    """The module `name` (absolute), imported when first used."""
    return LazyModule(name)
