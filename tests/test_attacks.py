"""The attack suite: untrusted programs against an embedded interpreter (issue 18).

Every attack runs in a child process with an address-space cap (RLIMIT_AS) and
a wall-clock cap, so that a regression fails its test instead of exhausting
the CI machine. The child runs the program in a fresh `dprog.Interpreter` and
prints one JSON line: the error's kind and message (or "ok") and the seconds
the call took. A crash (SIGSEGV, the memory cap, a Python traceback) shows up
as a missing line and fails the test with the child's stderr.

Families: memory (integer, structure and tangent sizes, the memory budget),
time (the timeout inside long work), recursion and the C stack, source
(literals and parsing), host state, threads. Escape, file and internal-error
attacks are in test_security.py.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import textwrap

import pytest

_CHILD = textwrap.dedent("""
    import json, resource, sys, time
    cap = {as_bytes}
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    import dprog
    def main():
        {setup}
        it = dprog.Interpreter(**{kw})
        t0 = time.monotonic()
        try:
            {call}
            out = {{"kind": "ok", "message": ""}}
        except dprog.DpError as e:
            out = {{"kind": e.kind, "message": str(e).splitlines()[0],
                   "internal": isinstance(e, dprog.DpInternalError)}}
        out["seconds"] = time.monotonic() - t0
        print(json.dumps(out), flush=True)
    main()
""")


def attack(src: str, *, kw: str = "{}", call: str = "it.exec(SRC)", setup: str = "pass",
           mem_mb: int = 1200, wall: float = 60.0, stack_kb: int | None = None) -> dict:
    """Run `src` in a capped child; return its report (kind, message, seconds).

    `stack_kb` sets the child's C stack limit (`ulimit -s`)."""
    code = _CHILD.format(as_bytes=mem_mb << 20, kw=kw, call=call.replace("\n", "\n" + " " * 8),
                         setup=setup.replace("\n", "\n    "))
    with tempfile.NamedTemporaryFile("w", suffix=".dp", encoding="utf-8") as f:
        f.write(src)  # (a Python literal of 10 MB would cost the child more than dprog's)
        f.flush()
        code = f"SRC = open({f.name!r}, encoding='utf-8').read()\n" + code
        try:
            proc = subprocess.run([sys.executable, "-"], input=code, capture_output=True,
                                  text=True, timeout=wall, preexec_fn=_stack_limit(stack_kb))
        except subprocess.TimeoutExpired:
            pytest.fail(f"the attack ran past the wall-clock cap of {wall} s")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        pytest.fail(f"the child died (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(lines[-1])
    assert not out.get("internal"), out
    return out


def _stack_limit(kb):
    if kb is None:
        return None

    def set_it():
        resource.setrlimit(resource.RLIMIT_STACK, (kb << 10, kb << 10))
    return set_it


def refused(src: str, kind: str = "limits", within: float = 10.0, **kw) -> dict:
    """The attack is a clean DpError of `kind`, reported within `within` seconds."""
    out = attack(src, **kw)
    assert out["kind"] == kind, out
    assert out["seconds"] < within, out
    return out


# ================================================================ memory: integers
@pytest.mark.parametrize("src", [
    "let x = 3; for i in range(40) { x = x ** 2 }",
    "let x = (3 ** 600000) ** 64",
    "let x = 3; for i in range(40) { x = x * x }",
    "let x = 7 ** (2 ** 40)",
])
def test_integer_growth_is_refused_before_computing(src):
    out = refused(src, within=2.0, kw="dict(timeout=1)")
    assert "integer" in out["message"]


def test_a_huge_integer_literal_is_a_clean_error():
    out = refused("let x = " + "9" * 6000)
    assert "digits" in out["message"]


def test_integers_below_the_cap_still_work():
    assert attack("let x = 3 ** 600000\nassert(x % 10 == 1)")["kind"] == "ok"


# ================================================================ source
def test_a_ten_megabyte_string_literal_fits_in_little_memory():
    src = 'let s = "' + "ab" * 5_000_000 + '"\nassert(len(s) == 10000000)'
    assert attack(src, mem_mb=700)["kind"] == "ok"


def test_a_literal_full_of_escapes_too():
    src = 'let s = "' + "a\\n" * 2_000_000 + '"\nassert(len(s) == 4000000)'
    assert attack(src, mem_mb=900)["kind"] == "ok"


# ================================================================ memory: structures
_SHARED = "let t = 1.0\nfor i in range(60) { t = (t, t) }\n"


@pytest.mark.parametrize("use, what", [
    ("print(str(t))", "printed"), ("print(t)", "printed"), ("let e = t == t", "compared"),
    ("let m = tree_map(abs, t)", "mapped over"),
    ("let g = grad(fn(p) => 0.0)(t)", "differentiated"),
])
def test_a_self_sharing_structure_is_refused_by_every_walk(use, what):
    out = refused(_SHARED + use, within=5.0, kw="dict(timeout=5)")
    assert what in out["message"]


def test_repeating_a_long_string_in_a_tuple_cannot_be_printed():
    refused('let s = "x" * 10000\nprint(len(str((s,) * 10**6)))', within=5.0)


def test_eval_does_not_copy_a_shared_array_a_thousand_times():
    out = refused("", call='it.eval("(ones(1000000),) * 1000")', mem_mb=1500)
    assert "converted to Python" in out["message"]


@pytest.mark.parametrize("call", ['it["t"]', 'it.eval("t")', 'it.exec("print(t)")',
                                  'it.exec("let g = grad(fn(p) => 0.0)(t)")'])
def test_a_deep_tuple_is_a_clean_error_never_a_recursion_error(call):
    out = refused("", call='it.exec("let t = 1.0\\nfor i in range(5000) { t = (t,) }")\n'
                  + call)
    assert "nested more than" in out["message"]


def test_structures_below_the_limits_still_work():
    src = ("let t = 1.0\nfor i in range(500) { t = (t,) }\nassert(len(str(t)) == 1503)\n"
           "assert(t == t)\nlet u = 1.0\nfor i in range(12) { u = (u, u) }\n"
           "assert(len(str(u)) > 4096)\nlet g = grad(fn(p) => 0.0)(u)\n")
    assert attack(src)["kind"] == "ok"


# ================================================================ memory: tangents
@pytest.mark.parametrize("src, kw", [
    ("let j = jacfwd(fn(x) => sum(outer(x, x)))(ones(1000))", "dict(max_array_elements=10**6)"),
    ("let h = hessian(fn(x) => sum(sin(outer(x, x))))(ones(500))",
     "dict(max_steps=10**6, max_depth=200, max_array_elements=10**7, timeout=5.0)"),
])
def test_a_batch_of_tangents_is_counted_before_it_is_allocated(src, kw):
    out = refused(src, kw=kw, within=2.0, mem_mb=1500)
    assert "batch of tangents" in out["message"]


def test_a_small_hessian_still_works():
    src = ("let h = hessian(fn(x) => sum(sin(outer(x, x))))(ones(30))\n"
           "assert(shape(h) == (30, 30))")
    assert attack(src, kw="dict(max_array_elements=10**6)")["kind"] == "ok"


# ================================================================ recursion and the C stack
_DEEP = [
    "fn f(n) { return f(n + 1) }\nf(0)",
    "fn f(n) { return grad(fn(x) => f(x))(n) }\nf(1.0)",
    "let t = 1.0\nfor i in range(900) { t = (t,) }\nprint(len(str(t)))",
    "let t = 1.0\nfor i in range(900) { t = (t,) }\nlet g = grad(fn(p) => 0.0)(t)",
    "let t = 1.0\nfor i in range(900) { t = (t,) }\nlet g = tree_map(abs, t)",
]
_IN_A_THREAD = """import threading
threading.stack_size({kb} * 1024)
res = []
def body():
    try:
        it.exec(SRC)
        res.append(None)
    except dprog.DpError as e:
        res.append(e)
th = threading.Thread(target=body)
th.start()
th.join()
if res[0] is not None:
    raise res[0]"""


@pytest.mark.parametrize("src", _DEEP)
@pytest.mark.parametrize("kb", [256, 512])
def test_no_segfault_in_a_thread_with_a_small_stack(src, kb):
    out = attack(src, call=_IN_A_THREAD.format(kb=kb))
    assert out["kind"] in ("ok", "limits"), out


@pytest.mark.parametrize("src", _DEEP)
@pytest.mark.parametrize("kb", [512, 1024])
def test_no_segfault_under_a_small_ulimit_stack(src, kb):
    out = attack(src, stack_kb=kb)
    assert out["kind"] in ("ok", "limits"), out


def test_a_default_stack_still_reaches_max_depth():
    out = attack(_DEEP[0])
    assert "recursion depth limit exceeded (1000 dprog calls)" in out["message"]


# ================================================================ host state
def test_the_hosts_recursion_limit_is_restored_after_a_run():
    call = """import sys
sys.setrecursionlimit(1234)
it.exec("fn f(n) { return n }; f(1)")
assert sys.getrecursionlimit() == 1234, sys.getrecursionlimit()"""
    assert attack("", call=call)["kind"] == "ok"


def test_a_recursion_limit_the_host_sets_during_a_run_is_kept():
    call = """import sys
it["setlim"] = lambda: sys.setrecursionlimit(4321)
it.exec("setlim()")
assert sys.getrecursionlimit() == 4321, sys.getrecursionlimit()"""
    assert attack("", call=call)["kind"] == "ok"


# ================================================================ time
# Each is refused within a margin of the timeout (1 s): the work between two steps
# reads the clock itself, and a product that cannot finish in the time left is refused.
@pytest.mark.parametrize("src", [
    "fn f(x) { let y = x\n for i in range(2000) { y = sin(y) }\n return y }\n"
    "let j = jacrev(f)(ones(2000))",
    "let a = ones(10, 1, 1000, 1000) @ ones(1, 10, 1000, 1000)",
    "let a = ones(3162, 3162)\nfor i in range(100) { a = a @ a }",
    "let a = ones(2000, 2000)\nlet b = a\nfor i in range(40) { b = b @ a }",
    "fn f(x) { return sin(x) * cos(x) }\nlet g = " + "grad(" * 14 + "f" + ")" * 14 + "(1.0)",
    "let g = grad(fn(x) => sum(sin(x) * exp(x) * x))(ones(10**7))",
    "let x = ones(10**7)\nfor i in range(1000) { x = sin(x) * 1.5 }",
])
def test_long_work_stops_near_the_timeout(src):
    out = refused(src, kw="dict(timeout=1.0, max_array_elements=2 * 10**8)", within=5.0,
                  mem_mb=3000)
    assert "time" in out["message"] or "timeout" in out["message"], out


@pytest.mark.parametrize("src", [
    "let x = " + " + ".join(["1"] * 300_000),
    "\n".join(f"let v{i} = {i} * 2 + 1" for i in range(60_000)),
])
def test_parsing_and_compiling_are_inside_the_timeout(src):
    refused(src, kw="dict(timeout=1.0)", within=5.0)


# ================================================================ memory: the budget, output
def test_a_tape_of_large_arrays_stops_at_the_memory_budget():
    src = ("let g = grad(fn(x) { let y = x\n for i in range(100) { y = sin(y) * 1.01 }\n"
           " return sum(y) })(ones(10**7))")
    out = refused(src, kw="dict(max_array_elements=10**7, max_memory=600 * 2**20)",
                  within=60.0, mem_mb=2500)
    assert "memory limit" in out["message"]


def test_many_live_arrays_stop_at_the_memory_budget():
    src = "let a = ()\nfor i in range(100) { a = a + (ones(10**7),) }"
    out = refused(src, kw="dict(max_memory=600 * 2**20)", within=60.0, mem_mb=2500)
    assert "memory limit" in out["message"]


def test_output_is_bounded_per_call():
    out = refused('while true { print("x" * 1000) }',
                  setup="import io", kw="dict(max_output=10**6, stdout=io.StringIO())")
    assert "output limit" in out["message"]


def test_the_memory_budget_does_not_count_what_is_freed():
    src = "let a = 0.0\nfor i in range(20) { a = sum(ones(10**7)) }"
    assert attack(src, kw="dict(max_memory=600 * 2**20)", mem_mb=2500)["kind"] == "ok"


def test_grad_never_disables_the_collector_nor_undoes_the_hosts_choice():
    call = """import gc, threading
seen = []
it["probe"] = lambda: seen.append(gc.isenabled())
it["off"] = lambda: gc.disable()
it.exec("let g = grad(fn(x) { probe()\\n return x * x })(1.0)")
assert seen == [True], seen
it.exec("let g = grad(fn(x) { off()\\n return x * x })(1.0)")
assert not gc.isenabled()
gc.enable()
assert gc.get_threshold() == (700, 10, 10), gc.get_threshold()
gc.set_threshold(500, 5, 5)
it["thr"] = lambda: gc.set_threshold(900, 9, 9)
it.exec("let g = grad(fn(x) { thr()\\n return x * x })(1.0)")
assert gc.get_threshold() == (900, 9, 9), gc.get_threshold()"""
    assert attack("", call=call)["kind"] == "ok"


# ================================================================ threads
def test_a_thread_running_grad_does_not_stop_collection_in_another():
    call = """import gc, threading
started, done = threading.Event(), threading.Event()
it["mark"] = lambda: (started.set(), done.wait(10))[0]
th = threading.Thread(target=lambda: it.exec("let g = grad(fn(x) { mark()\\n return x })(1.0)"))
th.start()
started.wait(10)
enabled = gc.isenabled()
done.set()
th.join()
assert enabled"""
    assert attack("", call=call)["kind"] == "ok"


def test_two_threads_keep_their_own_limits_under_attack():
    call = """import threading
res = {}
def run(name, kw, src):
    try:
        dprog.Interpreter(**kw).exec(src)
        res[name] = "ok"
    except dprog.DpError as e:
        res[name] = e.kind
small = dict(max_array_elements=1000)
a = threading.Thread(target=run, args=("small", small, "let a = ones(10**6)"))
b = threading.Thread(target=run, args=("big", {}, "let b = sum(ones(10**6))"))
a.start(); b.start(); a.join(); b.join()
assert res == {"small": "limits", "big": "ok"}, res"""
    assert attack("", call=call)["kind"] == "ok"
