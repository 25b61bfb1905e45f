"""W6 and W7 of bench/run.py: spreading work and BLAS threads (docs/scaling.md).

W6  examples/sweep.dp (8 independent training runs through parallel_map) in one
    process, sequential vs a local Dask cluster of 2 worker processes (the
    cluster is started once, outside the timing; its start-up is in the note).
    The row is parallel / sequential; target <= 1 / 1.6 (a 1.6x speed-up).
W7  bench/programs/gp_fit.dp as whole `dp` processes: dprog's default BLAS
    threads (1) vs as many as the machine has cores (NumPy's own default). The
    row is default / all cores; target <= 1.25 (the default may lose a little
    on an idle machine, and wins many times over on a shared one).
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ROOT / "examples" / "sweep.dp"
GP = ROOT / "bench" / "programs" / "gp_fit.dp"
BLAS_KEYS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def _sweep_once(executor, steps: int, cpu: list | None = None):
    """(wall seconds, output) of one sweep; appends this process's CPU seconds to `cpu`."""
    import dprog

    out = io.StringIO()
    it = dprog.Interpreter(stdout=out, executor=executor, allow_files=True)
    c0, t0 = time.process_time(), time.perf_counter()
    it.run_file(SWEEP, argv=(str(steps),))
    wall = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(time.process_time() - c0)
    return wall, out.getvalue()


def _start_executor(smoke: bool):
    """A 2-process Dask cluster (a spawn process pool in smoke mode: no Dask start-up)."""
    if smoke:
        return ProcessPoolExecutor(2, mp_context=get_context("spawn")), None
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    return Client(cluster), cluster


def run_w6(cfg, Row, rows: list) -> None:
    smoke = not cfg.timed
    steps = 20 if smoke else 600
    rounds = 1 if smoke else cfg.slow_reps
    print(f"\n== W6 sweep of 8 training runs (examples/sweep.dp {steps}), sequential vs 2 "
          f"workers, {rounds} interleaved rounds")
    row = Row("W6 sweep x8", "--workers 2", limit="sequential", target=1 / 1.6, tol=0.0)
    rows.append(row)
    try:
        t0 = time.perf_counter()
        ex, cluster = _start_executor(smoke)
        started = time.perf_counter() - t0
        try:
            _, seq_out = _sweep_once(None, steps)
            _, par_out = _sweep_once(ex, steps)  # warm-up: workers import dprog, numpy
            row.check = 0.0 if par_out == seq_out else 1.0
            seq, par, seq_cpu = [], [], []
            for _ in range(rounds):
                seq.append(_sweep_once(None, steps, seq_cpu)[0])
                par.append(_sweep_once(ex, steps)[0])
        finally:
            ex.shutdown() if cluster is None else (ex.close(), cluster.close())
    except Exception as exc:
        row.error = f"{type(exc).__name__}: {exc}"[:200]
        print(f"  ! {row.error}")
        return
    row.value = statistics.median(par) * 1e3
    row.limit_value = statistics.median(seq) * 1e3
    speedup = row.limit_value / row.value
    # on a shared machine a process may get much less than a core: then so do the workers
    share = sum(seq_cpu) / sum(seq)
    row.note = (f"speed-up {speedup:.2f}x; the sequential run got {share:.2f} CPU s per "
                f"second (1.0 = a whole core); {'pool' if smoke else 'cluster'} start "
                f"{started:.1f} s (not timed); identical output: {row.check == 0.0}")
    print(f"  sequential {row.limit_value:.0f} ms, 2 workers {row.value:.0f} ms "
          f"(medians), speed-up {speedup:.2f}x; start {started:.1f} s")


def _dp_time(dp: str, args: list, env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run([dp, *args], capture_output=True, text=True, env=env, timeout=600,
                         check=True).stdout
    return time.perf_counter() - t0, out


def run_w7(cfg, Row, rows: list, dp: str) -> None:
    smoke = not cfg.timed
    size = ["60", "2"] if smoke else ["300", "10"]
    rounds = 1 if smoke else cfg.slow_reps
    cores = os.cpu_count() or 1
    print(f"\n== W7 BLAS threads: dp gp_fit.dp {' '.join(size)}, default vs --threads {cores} "
          f"(all cores), {rounds} interleaved rounds")
    row = Row("W7 BLAS threads", "dp (default: 1 thread)", limit=f"dp --threads {cores}",
              target=1.25, tol=0.0)
    rows.append(row)
    env = {k: v for k, v in os.environ.items() if k not in BLAS_KEYS}
    try:
        default, every = [], []
        _, a = _dp_time(dp, [str(GP), *size], env)
        _, b = _dp_time(dp, ["--threads", str(cores), str(GP), *size], env)
        row.check = 0.0 if a.splitlines()[0] == b.splitlines()[0] else 1.0
        for _ in range(rounds):
            default.append(_dp_time(dp, [str(GP), *size], env)[0])
            every.append(_dp_time(dp, ["--threads", str(cores), str(GP), *size], env)[0])
    except Exception as exc:
        row.error = f"{type(exc).__name__}: {exc}"[:200]
        print(f"  ! {row.error}")
        return
    row.value = statistics.median(default) * 1e3
    row.limit_value = statistics.median(every) * 1e3
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    row.note = f"load average {load:.1f} on {cores} CPUs"
    print(f"  default {row.value:.0f} ms, {cores} threads {row.limit_value:.0f} ms (medians); "
          f"{row.note}")
