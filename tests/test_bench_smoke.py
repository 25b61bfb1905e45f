"""bench/run.py --smoke: the benchmark code runs end to end (tiny sizes, no timing targets).

The benchmarks themselves are not part of the test run; this only keeps the
benchmark programs, the limits and the runner from rotting.
"""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

ROWS = [
    "| W1 value+grad | dprog |",
    "| W1 value only | dprog |",
    "| W2 MLP gradient | dprog |",
    "| W3 Lorenz JVP, scalar state | dprog |",
    "| W3 Lorenz JVP, (3,)-array state | dprog |",
    "| W4 Hessian | dprog |",
    "| W5 start-up | dp -c \"print(1)\" |",
    "| W1 memory | dprog |",
    "| W6 sweep x8 | --workers 2 |",
    "| W7 BLAS threads | dp (default: 1 thread) |",
    "| IDX gather 100 rows | dprog |",
    "| IDX update loop, grad | time at n=800 |",
    "| IDX update loop, grad | peak memory growth at n=800 |",
    "| RNN loss+grad step | dprog |",
]


def test_bench_smoke():
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--no-peers"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
                       check=False)
    out = r.stdout
    assert r.returncode == 0, out[-4000:] + r.stderr[-4000:]
    summary = out[out.index("== summary"):]
    for row in ROWS:
        assert row in summary, f"missing row {row!r} in:\n{summary}"
    for line in summary.splitlines():
        if line.startswith("| W"):
            assert "ERROR" not in line and "FAIL" not in line, line
            assert line.rstrip().endswith(("| ok (smoke) |", "| - |")), line
