"""The package is laid out as its pipeline, and imports only go downward.

The layers contract lives in pyproject.toml ([tool.importlinter]); this test runs
it, and checks that no modules import each other in a loop, inside a room too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def test_rooms_import_only_downward():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), str(ROOT / "pyproject.toml")], cwd=ROOT / "lang",
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 kept, 0 broken" in proc.stdout


def _cycles(graph) -> list[list[str]]:
    """Every import loop among the package's modules (one representative per loop)."""
    edges = {m: graph.find_modules_directly_imported_by(m) & graph.modules for m in graph.modules}
    seen: set[str] = set()
    loops = []
    for start in sorted(edges):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges[node]:
                if nxt == start:
                    loops.append(path)
                elif nxt not in path and nxt not in seen:
                    stack.append((nxt, path + [nxt]))
        seen.add(start)
    return loops


def test_no_import_cycles():
    graph = grimp.build_graph("dprog", exclude_type_checking_imports=True)
    # the package's face re-exports the error classes; it is not a room
    graph.remove_module("dprog")
    loops = _cycles(graph)
    assert not loops, "import cycles: " + "; ".join(" -> ".join(p) for p in loops[:5])


def test_the_cycle_finder_finds_a_cycle():
    class Fake:
        modules = {"a", "b", "c"}

        def find_modules_directly_imported_by(self, m):
            return {"a": {"b"}, "b": {"c"}, "c": {"a"}}[m]

    assert _cycles(Fake())


def test_ruff_clean():
    """Lint, import order and the complexity limit (pyproject.toml [tool.ruff])."""
    ruff = Path(sys.executable).with_name("ruff")
    proc = subprocess.run([str(ruff), "check", "lang", "tests", "docs", "bench"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
