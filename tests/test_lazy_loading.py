"""Start-up loads only what a program uses (issue 17, row W5): the builtins' category
modules load on the first lookup of one of their names, and the static lists that let
every name be seen without loading match the real registrations."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import pytest

import dprog
from dprog.lib import builtins as B
from dprog.runtime.functions import Builtin


def _python(code: str) -> str:
    """Run `code` in a fresh interpreter (nothing of dprog loaded yet); its stdout."""
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120, check=True)
    return r.stdout


def test_category_names_match_the_registrations():
    # each category module, imported alone in order, registers exactly its listed names
    out = _python(
        "import importlib, json\n"
        "from dprog.lib import builtins as B, table as T\n"
        "seen = set(T._IMPLS); got = {}\n"
        "for m in B.CATEGORY_NAMES:\n"
        "    importlib.import_module('dprog.lib.' + m)\n"
        "    got[m] = [n for n in T._IMPLS if n not in seen]; seen |= set(T._IMPLS)\n"
        "print(json.dumps(got))\n")
    got = json.loads(out)
    want = {m: list(names) for m, names in B.CATEGORY_NAMES.items()}
    assert got == want, f"lib/builtins.py CATEGORY_NAMES should be {got}"


def test_start_up_loads_no_category():
    out = _python(
        "import sys, dprog\n"
        "it = dprog.Interpreter()\n"
        "it.exec('let y = 1 + 2')\n"
        "print(sorted(m for m in sys.modules if m.startswith('dprog.lib.')))\n")
    assert out.strip() == "['dprog.lib.builtins', 'dprog.lib.table']"


def test_print_loads_only_its_category():
    out = _python(
        "import sys, dprog\n"
        "it = dprog.Interpreter()\n"
        "it.exec('print(1)')\n"
        "print(sorted(m for m in sys.modules if m.startswith('dprog.lib.')))\n")
    assert out.strip().splitlines()[-1] == ("['dprog.lib.builtins', 'dprog.lib.other', "
                                            "'dprog.lib.table']")


def test_namespace_sees_every_name_and_makes_each_on_lookup():
    ns = B.make_builtins(None)
    names = list(ns)
    assert names == [*B.BUILTIN_TABLE, *B.CONSTANTS]
    assert len(ns) == len(names) and set(ns.keys()) == set(names)
    for name in B.BUILTIN_TABLE:
        assert name in ns
        b = ns[name]
        assert isinstance(b, Builtin) and b.sig == B.BUILTIN_TABLE[name].signature
        assert ns.get(name) is b  # made once
    assert "no_such_builtin" not in ns and ns.get("no_such_builtin") is None
    with pytest.raises(KeyError):
        ns["no_such_builtin"]
    assert dict(ns.items()) == {n: ns[n] for n in names}


def test_complete_table_lists_every_builtin_in_declaration_order():
    per_category = [n for names in B.CATEGORY_NAMES.values() for n in names]
    assert list(B.BUILTIN_TABLE)[: len(per_category)] == per_category
    assert set(B._IMPLS) == set(B.BUILTIN_TABLE)
    assert "inv" in B.BUILTIN_TABLE and B.BUILTIN_TABLE["inv"].category


def test_a_lazily_loaded_builtin_pickles_into_a_fresh_process():
    it = dprog.Interpreter()
    data = pickle.dumps(it.builtins["cholesky"])
    out = _python(
        "import pickle, sys\n"
        f"b = pickle.loads({data!r})\n"
        "print(b.name, b.sig)\n")
    assert out.strip() == f"cholesky {B.BUILTIN_TABLE['cholesky'].signature}"


def test_lazy_families_match_what_they_define_and_register():
    # each family loaded alone binds its listed names, and every primitive it registers
    # is among them (by identity); none declares a builtin derived from its signature,
    # nor is a NumPy ufunc (start-up derives those from the primitives loaded so far)
    out = _python(
        "import json, sys\n"
        "from dprog.prims import primitives as P, core\n"
        "from dprog.lib import builtins as B\n"
        "from dprog.core.backend import xp\n"
        "got = {}\n"
        "for fam, names in P.LAZY_FAMILIES.items():\n"
        "    before = set(map(id, core.REGISTRY.values()))\n"
        "    P.load_family(fam)\n"
        "    new = [p for p in core.REGISTRY.values() if id(p) not in before]\n"
        "    listed = {id(getattr(sys.modules['dprog.prims.' + f], n))\n"
        "              for f, ns in P.LAZY_FAMILIES.items() if 'dprog.prims.' + f in sys.modules\n"
        "              for n in ns}\n"
        "    got[fam] = {'unlisted': [p.name for p in new if id(p) not in listed],\n"
        "                'derived': [p.name for p in new if p.sig and p.sig[:p.sig.index('(')]\n"
        "                            not in B._CATEGORY_OF],\n"
        "                'ufuncs': [p.name for p in new if isinstance(p.impl, xp.ufunc)],\n"
        "                'new': len(new)}\n"
        "print(json.dumps(got))\n")
    got = json.loads(out)
    assert sum(r["new"] for r in got.values()) >= len(got)
    for fam, r in got.items():
        assert not r["unlisted"] and not r["derived"] and not r["ufuncs"], (fam, r)


def test_start_up_loads_no_lazy_family():
    out = _python(
        "import sys, dprog\n"
        "it = dprog.Interpreter()\n"
        "it.exec('print(sum(sin([1.0, 2.0]) @ [[1.0], [2.0]]))')\n"
        "from dprog.prims import primitives as P\n"
        "print(sorted(f for f in P.LAZY_FAMILIES if 'dprog.prims.' + f in sys.modules))\n"
        "P.cholesky_p\n"
        "print(sorted(f for f in P.LAZY_FAMILIES if 'dprog.prims.' + f in sys.modules))\n")
    lines = out.strip().splitlines()
    assert lines[-2] == "[]"
    assert lines[-1] == "['decompositions', 'triangular']"


def test_registry_read_from_primitives_is_complete():
    from dprog.prims import core
    from dprog.prims import primitives as P
    reg = P.REGISTRY
    assert reg is core.REGISTRY and P.loaded() is reg
    for names in P.LAZY_FAMILIES.values():
        for n in names:
            assert getattr(P, n) is not None
    assert "cholesky" in reg and "einsum" in reg


# ------------------------------------------------------------ the lazy imports' edges
_LAYERS = ["tools", "host", "lib", "compiler", "runtime", "ad", "prims", "syntax", "core"]


def _lazy_edges() -> list[tuple[str, str]]:
    """(importer, imported) for every import done on first use: `lazy_module(...)` calls
    found in the sources, the builtins' categories and the primitive families."""
    import ast
    from pathlib import Path

    from dprog.prims import primitives as P

    pkg = Path(dprog.__file__).resolve().parent
    edges = []
    for path in sorted(pkg.rglob("*.py")):
        mod = ".".join(("dprog", *path.relative_to(pkg).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_module"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                edges.append((mod, node.args[0].value))
    edges += [("dprog.lib.builtins", f"dprog.lib.{m}") for m in B.CATEGORY_NAMES]
    edges += [("dprog.prims.primitives", f"dprog.prims.{f}") for f in P.LAZY_FAMILIES]
    return edges


def test_lazy_imports_go_downward_without_cycles():
    import grimp

    edges = _lazy_edges()
    found = {a for a, _ in edges}
    assert {"dprog.host.interpreter", "dprog.runtime.state", "dprog.runtime.ops",
            "dprog.syntax.parser", "dprog.host.cstack", "dprog.syntax.strings"} <= found
    # a standard-library module loaded on first use is below every room
    stdlib = [(a, b) for a, b in edges if not b.startswith("dprog.")]
    for a, b in stdlib:
        assert b.split(".")[0] in sys.stdlib_module_names, f"{a} loads {b}, not dprog's nor stdlib"
    edges = [e for e in edges if e not in stdlib]
    graph = grimp.build_graph("dprog", exclude_type_checking_imports=True)
    nexts = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    for a, b in edges:
        nexts.setdefault(a, set()).add(b)
    for a, b in edges:
        assert b in graph.modules, f"{a} loads {b}, which does not exist"
        room_a, room_b = a.split(".")[1], b.split(".")[1]
        assert _LAYERS.index(room_a) <= _LAYERS.index(room_b), f"{a} -> {b} goes upward"
        seen, todo = set(), [b]
        while todo:  # nothing b imports (eagerly or lazily) leads back to a
            m = todo.pop()
            assert m != a, f"import cycle through the lazy import {a} -> {b}"
            if m not in seen:
                seen.add(m)
                todo.extend(nexts.get(m, ()))


def test_lazy_module_loads_on_first_attribute():
    from dprog.core.lazy import lazy_module

    m = lazy_module("json")
    assert "not loaded yet" in repr(m)
    assert m.dumps([1]) == "[1]" and "loaded" in repr(m)
    with pytest.raises(AttributeError):
        _ = m.no_such_attribute


def test_print_loads_no_embedding_dask_or_vmap_machinery():
    out = _python(
        "import sys\n"
        "sys.argv = ['dp', '-c', 'print(1)']\n"
        "from dprog.tools.cli import main\n"
        "main()\n"
        "print(sorted(m for m in ('dprog.host.convert', 'dprog.host.pyprims',\n"
        "    'dprog.host.parallel', 'dprog.ad.batching', 'dprog.lib.plots',\n"
        "    'dprog.tools.repl', 'dprog.syntax.fstrings', 'dprog.core.formatting')\n"
        "    if m in sys.modules))\n")
    assert out.strip().splitlines()[-1] == "[]"


def test_print_loads_no_threading_nor_unicodedata():
    # threading's import and its shutdown at exit cost ~7 M instructions; the limits,
    # locks and the main-thread test use _thread (host/cstack.py)
    out = _python(
        "import sys\n"
        "sys.argv = ['dp', '-c', 'print(\"a\\\\n\")']\n"
        "from dprog.tools.cli import main\n"
        "main()\n"
        "print(sorted(m for m in ('threading', 'unicodedata') if m in sys.modules))\n")
    assert out.strip().splitlines()[-1] == "[]"


def test_main_thread_is_told_without_threading():
    import threading

    from dprog.host import cstack

    assert cstack._on_main_thread() is (threading.current_thread() is threading.main_thread())
    seen = []
    t = threading.Thread(target=lambda: seen.append(cstack._on_main_thread()))
    t.start()
    t.join()
    assert seen == [False] and cstack._on_main_thread()
    assert cstack.stack_bytes() > 0


def test_named_unicode_escape_loads_unicodedata():
    it = dprog.Interpreter()
    it.exec('let s = "\\N{GREEK SMALL LETTER ALPHA}"')
    assert it["s"] == "\u03b1"


def test_cli_freezes_what_start_up_loaded_and_keeps_the_gc_setting():
    out = _python(
        "import gc, sys\n"
        "sys.argv = ['dp', '-c', 'fn f(x) { let c = [x]; return c }\\nprint(f(1))']\n"
        "from dprog.tools.cli import main\n"
        "main()\n"
        "print(gc.isenabled(), gc.get_freeze_count() > 10000)\n"
        "gc.unfreeze(); gc.disable()\n"
        "sys.argv = ['dp', '-c', 'print(2)']\n"
        "main()\n"
        "print(gc.isenabled())\n")
    assert out.split() == ["[1.]", "True", "True", "2", "False"]
