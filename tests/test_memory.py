"""Freed arrays: a transformation leaves no cycles behind, and the allocator keeps freed
memory for reuse (host/memory.py) instead of returning and re-faulting it each call."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dprog
from dprog.host import memory

PROGRAM = """
fn f(x, A) { return sum(log(1 + exp(A @ x))) + 0.5 * dot(x, x) }
fn loss(x) { return sum(tanh(x) * x) }
"""


@pytest.mark.parametrize("call", [
    "hessian(fn(x) => f(x, A))(x0)",
    "jacrev(fn(x) => exp(A @ x))(x0)",
    "jacfwd(jacrev(loss))(x0)",
    "grad(fn(x) => f(x, A))(x0)",
    "vmap(grad(loss))(A)",
    "vjp(fn(x) => exp(A @ x), x0)[1](ones(20))",
])
def test_transformations_leave_no_cyclic_garbage(call):
    """The tape's records and its nodes refer to each other; a transformation that
    pulls back once releases its tape, so the arrays go when the call returns (the
    cyclic collector, which runs rarely while tapes record, does not have to find them)."""
    rng = np.random.default_rng(0)
    interp = dprog.Interpreter()
    interp.exec(PROGRAM)
    interp["A"] = rng.standard_normal((20, 10))
    interp["x0"] = rng.standard_normal(10)
    run = interp.eval(f"fn() => {call}")
    run()  # warm: first-use imports and caches
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
        # (only dprog's objects and arrays: other threads, a Dask cluster's of an earlier
        # test say, may leave garbage of their own meanwhile)
        left = [type(o).__name__ for o in gc.garbage
                if type(o).__module__.startswith("dprog") or isinstance(o, np.ndarray)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []


@pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(os, "confstr"),
                    reason="glibc's allocator")
def test_repeated_hessians_do_not_refault_their_memory():
    """W4's Hessian (A 200x100) re-faulted ~146 pages per call before the allocator's
    thresholds were set; the hand-written NumPy Hessian none. `DPROG_MALLOC=default`
    leaves glibc's own thresholds."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            pytest.skip("not glibc")
    except (ValueError, OSError):
        pytest.skip("not glibc")
    script = textwrap.dedent("""
        import resource, numpy as np, dprog
        i = dprog.Interpreter()
        i.exec("fn f(x, A) { return sum(log(1 + exp(A @ x))) + 0.5 * dot(x, x) }")
        rng = np.random.default_rng(0)
        i["A"] = rng.standard_normal((200, 100)); i["x0"] = rng.standard_normal(100)
        h = i.eval("fn() => hessian(fn(x) => f(x, A))(x0)")
        for _ in range(20): h()
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(50): h()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 50)
    """)

    # (Dask, once imported by an earlier test, puts glibc's MALLOC_TRIM_THRESHOLD_ in the
    # environment, which dprog then leaves alone: see the next test)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("MALLOC_") and k != "DPROG_MALLOC"}

    def faults(**env):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             env={**base, **env}, timeout=120, check=True)
        return float(out.stdout.split()[-1])

    tuned, default = faults(), faults(DPROG_MALLOC="default")
    assert tuned < 20, (tuned, default)
    assert default > 3 * max(tuned, 10), (tuned, default)


@pytest.mark.parametrize("var, value", [("DPROG_MALLOC", "default"),
                                        ("MALLOC_TRIM_THRESHOLD_", "65536"),
                                        ("MALLOC_MMAP_THRESHOLD_", "131072")])
def test_the_environment_keeps_glibcs_own_thresholds(monkeypatch, var, value):
    """`DPROG_MALLOC=default`, or glibc's own variables (which glibc read at start, and
    which Dask sets for its workers), leave the allocator alone."""
    calls = []
    monkeypatch.setattr(memory, "_done", False)
    monkeypatch.setattr(memory, "_mallopt", lambda *a: calls.append(a) or 1)
    for v in ("DPROG_MALLOC", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv(var, value)
    assert memory.tune_allocator() is False
    assert calls == []
    monkeypatch.delenv(var)
    monkeypatch.setattr(memory, "_done", False)
    expected = memory.tune_allocator()
    assert expected is bool(calls)
    assert memory.tune_allocator() is False  # once per process
