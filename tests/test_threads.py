"""BLAS threads (Interpreter(threads=N), dp --threads N) and the dp options that spread
work: values checked, usage errors, and nothing heavy imported unless asked for."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy  # noqa: F401 - loads BLAS, which threadpool_info reports
import pytest
from threadpoolctl import threadpool_info

import dprog
from conftest import run_dp


def _blas_threads() -> int:
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def test_interpreter_threads_limit_blas_while_it_runs_and_restore_it():
    before = _blas_threads()
    seen = []
    it = dprog.Interpreter(threads=1)
    it["probe"] = lambda: seen.append(_blas_threads()) or 0.0
    it.exec("probe()")
    assert seen == [1]
    assert _blas_threads() == before
    free = dprog.Interpreter()
    free["probe"] = lambda: seen.append(_blas_threads()) or 0.0
    free.exec("probe()")
    assert seen[-1] == before  # threads=None leaves BLAS alone


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ValueError, match="threads"):
        dprog.Interpreter(threads=bad)


def test_an_executor_must_be_able_to_submit():
    with pytest.raises(TypeError, match="executor"):
        dprog.Interpreter(executor=object())


CHILD = textwrap.dedent("""
    import os, sys
    from dprog.tools.cli import main
    status = main(sys.argv[1:])
    from threadpoolctl import threadpool_info
    blas = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    heavy = [m for m in ("dask", "distributed", "cloudpickle", "threadpoolctl")
             if m in sys.modules and m != "threadpoolctl"]
    print(status, blas, os.environ.get("OPENBLAS_NUM_THREADS"), heavy)
""")


def _child(*args, env_extra=None):
    import os
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True,
                          timeout=120, env=env, check=True)
    return proc.stdout.splitlines()[-1]


def test_dp_defaults_to_one_blas_thread_and_takes_threads():
    assert _child("-c", "print(1)") == "0 1 1 []"
    assert _child("--threads", "2", "-c", "print(1)") == "0 2 2 []"
    # a limit the user set in the environment is kept
    assert _child("-c", "print(1)", env_extra={"OPENBLAS_NUM_THREADS": "2"}) == "0 2 2 []"


@pytest.mark.parametrize("args, words", [
    (["--workers", "0", "-c", "1"], "--workers needs a positive integer"),
    (["--threads", "x", "-c", "1"], "--threads needs a positive integer"),
    (["--workers"], "--workers needs a value"),
    (["--workers", "2", "--scheduler", "tcp://x:1", "-c", "1"], "not both"),
])
def test_usage_errors(args, words):
    proc = run_dp(*args)
    assert proc.returncode == 2
    assert words in proc.stderr and "Traceback" not in proc.stderr


def test_an_unreachable_scheduler_is_a_clear_error():
    proc = run_dp("--scheduler", "tcp://127.0.0.1:1", "-c", "print(1)", timeout=120)
    assert proc.returncode == 1
    assert "cannot reach the Dask scheduler tcp://127.0.0.1:1" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
