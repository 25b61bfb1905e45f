#!/usr/bin/env python
"""dprog benchmark suite: the workloads of ../shared/peers/ in dprog, next to their limits.

    .venv/bin/python bench/run.py             # full run (< 10 min on a 2-core machine)
    .venv/bin/python bench/run.py --quick     # fewer rounds (< 3 min)
    .venv/bin/python bench/run.py --smoke     # tiny sizes, one round, no timing targets (seconds)
    .venv/bin/python bench/run.py --only W1,W3,LIT
    .venv/bin/python bench/run.py --profile W1,RNN  # cProfile of the dprog rows instead of timing

Each workload's cases (the limit rows, the dprog row(s), and peers when importable)
are timed in interleaved rounds (A B C A B C ...) and the median per call is
reported; the summary table gives each dprog row's ratio to its limit measured in
the same run, its target and PASS/FAIL. Every result is first checked against its
limit (max relative difference printed); a wrong result fails its row.

dprog runs in-process through the embedding API (`dprog.Interpreter`), so process
start-up is excluded, except for W5 (whole-process start-up) and the W1 memory row
(a fresh subprocess per measurement). See bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

BLAS_KEYS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
BLAS_NOTE = "NumPy's default"


def _early_blas_threads(argv) -> None:
    """Choose the BLAS thread count; it must be set before NumPy (OpenBLAS) is imported.

    --blas-threads N sets it; --blas-threads 0 keeps NumPy's default. Without the
    option it is 1, what `dp` itself uses (issue 16, row W7): the rows then measure
    dprog as programs run it, with the limits on the same thread count. (Two threads
    also make the rows unreadable on a shared 2-core machine: a multi-threaded BLAS
    call waits for a descheduled thread, and NumPy and SciPy each bring their own
    OpenBLAS pool, which spin against each other in GP's gradient.)
    """
    global BLAS_NOTE
    val = None
    for i, arg in enumerate(argv):
        if arg == "--blas-threads" and i + 1 < len(argv):
            val = argv[i + 1]
        elif arg.startswith("--blas-threads="):
            val = arg.split("=", 1)[1]
    if any(k in os.environ for k in BLAS_KEYS) and val is None:
        BLAS_NOTE = "from the environment"
        return
    if val is None and "--mem-child" not in argv:
        val = "1"
        BLAS_NOTE = "1 (dp's default; --blas-threads 0 keeps NumPy's default)"
    elif val is not None:
        BLAS_NOTE = f"{val} (--blas-threads)" if val != "0" else "NumPy's default"
    if val is not None and val.isdigit() and val != "0":
        for k in BLAS_KEYS:
            os.environ[k] = val


if __name__ == "__main__":
    _early_blas_threads(sys.argv[1:])

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROGRAMS = HERE / "programs"
sys.path.insert(0, str(HERE))

import gp_limits as GPL
import limits as L
import peers as PE
import rnn_limits as RL
import scaling as SC

WORKLOADS = ("W1", "W2", "W3", "LIT", "W4", "GP", "W5", "MEM", "W6", "W7", "IDX", "VMAP", "RNN")
NOISY = 1.5     # a median above NOISY x the fastest sample is flagged in the row's note


# ======================================================================= configuration
@dataclass
class Config:
    mode: str                      # "full", "quick" or "smoke"
    reps: int                      # rounds for cases faster than slow_s per call
    slow_reps: int                 # rounds for slower cases (>= 5 except in smoke mode)
    target_s: float                # a fast case is looped until one sample lasts this long
    warmup: int
    w1_N: int
    w2_sizes: tuple
    w3_steps: int
    w4_sizes: tuple
    w5_runs: int
    w5_warmup: int
    mem_N: int
    mem_reps: int
    peer_budget_s: float           # a scalable peer slower than this per call runs smaller, scaled
    slow_s: float = 2.0
    clock: object = time.perf_counter   # --clock cpu: time.process_time
    idx_rows: int = 60_000              # IDX: the gather's array has idx_rows x 784 entries
    idx_loop: tuple = (10_000, 40_000)  # IDX: the update loop's two lengths

    @property
    def timed(self) -> bool:
        return self.mode != "smoke"


def make_config(mode: str) -> Config:
    if mode == "smoke":
        return Config(mode, reps=1, slow_reps=1, target_s=0.0, warmup=0, w1_N=100,
                      w2_sizes=(16, 12, 8, 10), w3_steps=20, w4_sizes=(12, 6), w5_runs=1,
                      w5_warmup=0, mem_N=2000, mem_reps=1, peer_budget_s=0.5, idx_rows=600,
                      idx_loop=(200, 800))
    if mode == "quick":
        return Config(mode, reps=5, slow_reps=5, target_s=0.05, warmup=1, w1_N=L.W1_N,
                      w2_sizes=L.W2_SIZES, w3_steps=L.W3_STEPS, w4_sizes=L.W4_SIZES,
                      w5_runs=9, w5_warmup=1, mem_N=100_000, mem_reps=1, peer_budget_s=1.0)
    return Config(mode, reps=11, slow_reps=5, target_s=0.05, warmup=1, w1_N=L.W1_N,
                  w2_sizes=L.W2_SIZES, w3_steps=L.W3_STEPS, w4_sizes=L.W4_SIZES,
                  w5_runs=21, w5_warmup=2, mem_N=100_000, mem_reps=3, peer_budget_s=3.0)


# ======================================================================= results
@dataclass
class Case:
    name: str                      # unique within a workload
    fn: object                     # zero-argument callable
    kind: str                      # "limit", "dprog" or "peer"
    note: str = ""
    scale: float = 1.0             # time multiplier (a peer measured on a smaller problem)


@dataclass
class Row:
    """One line of the summary table."""
    workload: str                  # e.g. "W1 value+grad"
    row: str                       # e.g. "dprog", "peer: autograd"
    value: float | None = None     # ms, or bytes per op for the memory row
    unit: str = "ms"
    limit: str = ""                # name of the reference row
    limit_value: float | None = None
    target: float | None = None    # ratio to reach (dprog rows only)
    check: float | None = None     # max relative difference vs the limit
    tol: float | None = None
    error: str = ""
    note: str = ""
    status: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self):
        if self.value is None or not self.limit_value:
            return None
        return self.value / self.limit_value

    def finish(self, timed: bool) -> None:
        if self.error:
            self.status = "ERROR"
        elif self.check is not None and self.tol is not None and not self.check <= self.tol:
            self.status = "FAIL (wrong result)"
        elif self.target is None:
            self.status = "-"
        elif not timed:
            self.status = "ok (smoke)"
        elif self.unit in ("B/op", "MiB"):  # an absolute target
            self.status = ("FAIL (no value)" if self.value is None
                           else "PASS" if self.value <= self.target else "FAIL")
        elif self.ratio is None:
            self.status = "FAIL (no time)"
        else:
            self.status = "PASS" if self.ratio <= self.target else "FAIL"


ROWS: list[Row] = []


def short_error(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    head = msg[0] if msg else ""
    return f"{type(exc).__name__}: {head}"[:200]


# ======================================================================= timing
def calibrate(fn, target_s, clock=time.perf_counter):
    """(inner, seconds per call): loops per sample so that one sample lasts >= target_s."""
    t0 = clock()
    fn()
    dt = clock() - t0
    if dt >= target_s:
        return 1, dt
    inner = 1
    while True:
        inner *= 2
        t0 = clock()
        for _ in range(inner):
            fn()
        dt = clock() - t0
        if dt >= target_s:
            return inner, dt / inner


def measure(cases: list[Case], cfg: Config) -> dict:
    """Interleaved rounds over the cases; median per call (as ../shared/peers/_common.py)."""
    plan = []
    for c in cases:
        for _ in range(cfg.warmup):
            c.fn()
        inner, per = calibrate(c.fn, cfg.target_s, cfg.clock)
        n = cfg.slow_reps if per > cfg.slow_s else cfg.reps
        plan.append((c, inner, n, []))
    for _ in range(max(p[2] for p in plan)):
        for c, inner, n, samples in plan:
            if len(samples) >= n:
                continue
            gc.collect()
            clock = cfg.clock
            t0 = clock()
            for _ in range(inner):
                c.fn()
            samples.append((clock() - t0) / inner * c.scale)
    out = {}
    for c, inner, n, samples in plan:
        out[c.name] = {"median_ms": statistics.median(samples) * 1e3,
                       "min_ms": min(samples) * 1e3, "max_ms": max(samples) * 1e3,
                       "n": len(samples), "inner": inner}
    return out


def detail_table(title: str, cases: list[Case], res: dict, refs: list[str], checks: dict) -> None:
    """Per-workload table: median/min/max, rounds, ratios to the limit rows, check."""
    w = max(18, max(len(c.name) for c in cases) + 1)
    hdr = f"{'case':<{w}} {'median ms':>11} {'min ms':>10} {'max ms':>10} {'runs':>5} {'inner':>5}"
    for r in refs:
        hdr += f" {('x ' + r)[:16]:>16}"
    hdr += f" {'max rel.diff':>12}"
    print(f"\n{title}")
    print(hdr)
    print("-" * len(hdr))
    for c in cases:
        if c.name not in res:
            print(f"{c.name:<{w}} {'(not timed)':>11}  {c.note}")
            continue
        m = res[c.name]
        line = (f"{c.name:<{w}} {m['median_ms']:>11.3f} {m['min_ms']:>10.3f} {m['max_ms']:>10.3f}"
                f" {m['n']:>5} {m['inner']:>5}")
        for r in refs:
            line += (f" {m['median_ms'] / res[r]['median_ms']:>16.2f}" if r in res
                     else f" {'-':>16}")
        ck = checks.get(c.name)
        line += f" {ck:>12.1e}" if ck is not None else f" {'-':>12}"
        if c.note:
            line += "  " + c.note
        print(line)
    sys.stdout.flush()


# ======================================================================= dprog
def load_program(file: str, data: dict | None = None, glue: str | None = None):
    """A fresh embedded interpreter with bench/programs/<file> loaded as a library.

    argv = ("--lib",) keeps the program's stand-alone driver from running; `data`
    are passed in as globals (NumPy arrays / numbers / dicts, converted once);
    `glue` is a line of dprog defining the zero-argument function the runner times.
    """
    import dprog

    it = dprog.Interpreter(max_array_elements=10**9)
    g = {"argv": ("--lib",)}
    g.update(data or {})
    path = PROGRAMS / file
    it.exec(path.read_text(encoding="utf-8"), globals=g, name=str(path.relative_to(ROOT)))
    if glue:
        it.exec(glue, name="<bench glue>")
    return it


def try_case(rows_on_error: list[Row], builder):
    """Run builder(); on an exception mark the rows as ERROR and return None."""
    try:
        return builder()
    except Exception as exc:  # a dprog error or an internal fault: report it, keep going
        msg = short_error(exc)
        for r in rows_on_error:
            r.error = msg
        print(f"  ! {msg}")
        if os.environ.get("BENCH_TRACEBACK"):
            traceback.print_exc()
        return None


def add_peers(cases, table, scalable, full_size, make_args, cfg, ref_at, check_fn, checks,
              workload_rows):
    """Append importable peers of one workload as cases, check them, and add their rows.

    scalable: the peer maker takes a size (W1 N, W3 steps); a peer slower than
    cfg.peer_budget_s per call at full size is measured at a smaller size and its time
    scaled linearly (noted in its row). ref_at(size) gives the limit's result at a size.
    """
    avail = PE.available()
    for key, (label, maker, note) in table.items():
        if key not in avail:
            continue
        name = f"peer:{label}"
        row = Row(workload_rows["workload"], f"peer: {label}", limit=workload_rows["limit"],
                  tol=workload_rows["tol"], note=note)
        ROWS.append(row)
        try:
            size, scale = full_size, 1.0
            if scalable and cfg.timed:
                probe_size = max(1, full_size // 20)
                probe = maker(probe_size)
                probe()
                t0 = time.perf_counter()
                probe()
                projected = (time.perf_counter() - t0) * full_size / probe_size
                if projected > cfg.peer_budget_s:
                    size = max(probe_size, int(full_size * cfg.peer_budget_s / projected))
                    scale = full_size / size
            fn = maker(size) if scalable else maker(*make_args)
            err = check_fn(fn(), ref_at(size) if scalable else ref_at(None))
            checks[name] = err
            row.check = err
            if scale != 1.0:
                row.note += f"; measured at size {size}, time scaled x{scale:.3g}"
            cases.append(Case(name, fn, "peer", row.note, scale))
            row.extra["case"] = name
        except Exception as exc:
            row.error = short_error(exc)
            print(f"  ! peer {label}: {row.error}")


def fill_rows(res: dict, workloads: tuple) -> None:
    """Copy the medians of one measurement into the summary rows of those workloads."""
    for r in ROWS:
        if r.workload not in workloads:
            continue
        noisy = []
        for key, what in (("case", "row"), ("ref_case", "limit")):
            name = r.extra.get(key)
            if not name or name not in res:
                continue
            m = res[name]
            if key == "case":
                r.value = m["median_ms"]
            else:
                r.limit_value = m["median_ms"]
            if m["n"] > 1 and m["median_ms"] > NOISY * m["min_ms"]:
                noisy.append(f"{what} median {m['median_ms'] / m['min_ms']:.1f}x its min")
        if noisy:
            msg = "noisy (" + ", ".join(noisy) + ")"
            r.note = f"{r.note}; {msg}" if r.note else msg


def rel_components(a, b) -> float:
    """max over components of |a_k - b_k| / |b_k| (for tuples of scalars)."""
    return max(abs(float(x) - float(y)) / (abs(float(y)) or 1.0) for x, y in zip(a, b))


# ======================================================================= W1
def run_w1(cfg: Config) -> None:
    N = cfg.w1_N
    x0, y0 = L.W1_X0, L.W1_Y0
    print(f"\n== W1 scalar loop, N = {N} ({N * L.W1_OPS_PER_ITER} primitive ops)")
    ref = L.w1_handrev(x0, y0, N)
    plain = L.w1_plain(x0, y0, N)
    print(f"reference (hand-written reverse): value={ref[0]!r} dx={ref[1]!r} dy={ref[2]!r}")
    checks = {"limit:plain": abs(plain - ref[0]) / abs(ref[0]), "limit:handrev": 0.0}
    cases = [Case("limit:plain", lambda: L.w1_plain(x0, y0, N), "limit",
                  "value only, floats + math.sin/cos"),
             Case("limit:handrev", lambda: L.w1_handrev(x0, y0, N), "limit",
                  "value+grad, lists + reverse loop")]
    vg_row = Row("W1 value+grad", "dprog", limit="hand-written Python reverse mode",
                 target=12.0, tol=1e-9, extra={"ref_case": "limit:handrev"})
    val_row = Row("W1 value only", "dprog", limit="plain Python floats", target=6.0, tol=1e-12,
                  extra={"ref_case": "limit:plain"})
    ROWS.extend([vg_row, val_row])
    it = try_case([vg_row, val_row], lambda: load_program("w1_scalar_loop.dp"))
    if it is not None:
        f = it["f"]
        vg = it["value_and_grad_f"]

        def dp_vg():
            v, (gx, gy) = vg(x0, y0, N)
            return v, gx, gy

        def dp_val():
            return f(x0, y0, N)
        r = try_case([vg_row], dp_vg)
        if r is not None:
            vg_row.check = checks["dprog:value+grad"] = rel_components(r, ref)
            cases.append(Case("dprog:value+grad", dp_vg, "dprog",
                              "value_and_grad(f, argnums=(0, 1))"))
            vg_row.extra["case"] = "dprog:value+grad"
        r = try_case([val_row], dp_val)
        if r is not None:
            val_row.check = checks["dprog:value"] = abs(r - plain) / abs(plain)
            cases.append(Case("dprog:value", dp_val, "dprog", "f(x, y, N)"))
            val_row.extra["case"] = "dprog:value"
    add_peers(cases, PE.W1_PEERS, True, N, None, cfg, lambda n: L.w1_handrev(x0, y0, n),
              rel_components, checks,
              {"workload": "W1 value+grad", "limit": vg_row.limit, "tol": 1e-9})
    for r in ROWS:
        if r.workload == "W1 value+grad" and r.row.startswith("peer"):
            r.extra["ref_case"] = "limit:handrev"
    print("max rel. diff vs hand-written reverse (value, dx, dy; value-only rows vs plain): "
          + ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    res = measure(cases, cfg)
    detail_table(f"W1 per call, N = {N}", cases, res, ["limit:plain", "limit:handrev"], checks)
    fill_rows(res, ("W1 value+grad", "W1 value only"))


# ======================================================================= W2
def run_w2(cfg: Config) -> None:
    X, y, params = L.w2_data(cfg.w2_sizes)
    B, D, H, K = cfg.w2_sizes
    print(f"\n== W2 MLP {B}x{D} -> relu {H} -> {K}, mean softmax cross-entropy, gradient, float64")
    ref = L.w2_numpy_step(X, y, params)
    print(f"reference loss {ref[0]!r}")

    def check(r, ref):
        loss, gs = r
        errs = [L.relerr(g, q) for g, q in zip(gs, ref[1])]
        return max(errs + [abs(float(loss) - ref[0]) / abs(ref[0])])
    checks = {"limit:numpy": 0.0}
    cases = [Case("limit:numpy", lambda: L.w2_numpy_step(X, y, params), "limit",
                  "hand-written NumPy backprop")]
    row = Row("W2 MLP gradient", "dprog", limit="hand-written NumPy backprop", target=1.15,
              tol=1e-8, extra={"ref_case": "limit:numpy"})
    ROWS.append(row)
    Y = np.eye(K)[y]                       # one-hot labels (dprog indexes with ints/slices only)
    W1, b1, W2, b2 = params
    it = try_case([row], lambda: load_program(
        "w2_mlp.dp", {"X": X, "Y": Y, "P": {"W1": W1, "b1": b1, "W2": W2, "b2": b2}},
        "fn bench_step() { return step(P, X, Y) }"))
    if it is not None:
        step = it["bench_step"]

        def dp_step():
            loss, g = step()
            return loss, (g["W1"], g["b1"], g["W2"], g["b2"])
        r = try_case([row], dp_step)
        if r is not None:
            row.check = checks["dprog"] = check(r, ref)
            cases.append(Case("dprog", dp_step, "dprog",
                              "value_and_grad(loss)(P, X, Y), P a record; one-hot labels"))
            row.extra["case"] = "dprog"
    add_peers(cases, PE.W2_PEERS, False, None, (X, y, params), cfg, lambda _: ref, check, checks,
              {"workload": "W2 MLP gradient", "limit": row.limit, "tol": 1e-8})
    for r in ROWS:
        if r.workload == "W2 MLP gradient" and r.row.startswith("peer"):
            r.extra["ref_case"] = "limit:numpy"
    print("max rel. diff vs NumPy (gradients and loss): "
          + ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    res = measure(cases, cfg)
    detail_table("W2 per step (forward + gradient)", cases, res, ["limit:numpy"], checks)
    fill_rows(res, (row.workload,))


# ======================================================================= W3
def w3_check(r, ref):
    return max(L.relerr(r[0], ref[0]), L.relerr(r[1], ref[1]))


def run_w3(cfg: Config) -> None:
    steps = cfg.w3_steps
    print(f"\n== W3 Lorenz RK4, {steps} steps, dt = {L.DT}, JVP w.r.t. s0 with tangent (1, 0, 0)")
    # ---------------- scalar state
    ref = L.w3_dual(steps)
    print(f"scalar state: final {ref[0]}, tangent {ref[1]}")
    checks = {"limit:plain-float": L.relerr(L.w3_plain(steps), ref[0]), "limit:dual": 0.0}
    cases = [Case("limit:plain-float", lambda: L.w3_plain(steps), "limit", "value only"),
             Case("limit:dual", lambda: L.w3_dual(steps), "limit", "hand-written Dual class")]
    row = Row("W3 Lorenz JVP, scalar state", "dprog", limit="hand-written Dual class",
              target=2.5, tol=1e-6, extra={"ref_case": "limit:dual"})
    rowv = Row("W3 Lorenz JVP, (3,)-array state", "dprog", limit="Dual class over NumPy arrays",
               target=3.0, tol=1e-6, extra={"ref_case": "limit:dual-numpy"})
    ROWS.extend([row, rowv])
    it = try_case([row, rowv], lambda: load_program("w3_lorenz.dp"))
    if it is not None:
        js = it["jvp_scalar"]

        def dp_scalar():
            return js(L.W3_S0, L.W3_T0, steps)
        r = try_case([row], dp_scalar)
        if r is not None:
            row.check = checks["dprog"] = w3_check(r, ref)
            cases.append(Case("dprog", dp_scalar, "dprog", "jvp of rk4 over scalars"))
            row.extra["case"] = "dprog"
    add_peers(cases, PE.W3_PEERS, True, steps, None, cfg, L.w3_dual, w3_check, checks,
              {"workload": row.workload, "limit": row.limit, "tol": 1e-6})
    for r in ROWS:
        if r.workload == row.workload and r.row.startswith("peer"):
            r.extra["ref_case"] = "limit:dual"
    print("max rel. diff vs Dual (state, tangent): "
          + ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    res = measure(cases, cfg)
    detail_table(f"W3 scalar state, JVP per call ({steps * L.W3_OPS_PER_STEP} ops)", cases, res,
                 ["limit:plain-float", "limit:dual"], checks)
    fill_rows(res, (row.workload,))

    # ---------------- (3,)-array state
    refv = L.w3v_dual(steps)
    print(f"\n(3,)-array state: final {refv[0]}, tangent {refv[1]}")
    checks = {"limit:plain-numpy": L.relerr(L.w3v_plain(steps), refv[0]),
              "limit:dual-numpy": 0.0}
    cases = [Case("limit:plain-numpy", lambda: L.w3v_plain(steps), "limit",
                  "value only, NumPy (3,) arrays"),
             Case("limit:dual-numpy", lambda: L.w3v_dual(steps), "limit",
                  "Dual class holding (3,) arrays")]
    if it is not None:
        jv = it["jvp_vector"]
        s0, t0 = np.array(L.W3_S0), np.array(L.W3_T0)

        def dp_vec():
            return jv(s0, t0, L.A_NP, L.B_NP, L.P_NP, steps)
        r = try_case([rowv], dp_vec)
        if r is not None:
            rowv.check = checks["dprog"] = w3_check(r, refv)
            cases.append(Case("dprog", dp_vec, "dprog",
                              "jvp of rk4v: A @ s + Bm @ (s * (Pm @ s))"))
            rowv.extra["case"] = "dprog"
    add_peers(cases, PE.W3V_PEERS, True, steps, None, cfg, L.w3v_dual, w3_check, checks,
              {"workload": rowv.workload, "limit": rowv.limit, "tol": 1e-6})
    for r in ROWS:
        if r.workload == rowv.workload and r.row.startswith("peer"):
            r.extra["ref_case"] = "limit:dual-numpy"
    print("max rel. diff vs Dual-NumPy (state, tangent): "
          + ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    res = measure(cases, cfg)
    detail_table(f"W3 (3,)-array state, JVP per call ({steps * L.W3V_OPS_PER_STEP} ops)", cases,
                 res, ["limit:plain-numpy", "limit:dual-numpy"], checks)
    fill_rows(res, (rowv.workload,))


# ======================================================================= LIT
def run_lit(cfg: Config) -> None:
    """W3's (3,)-array JVP as people write it: the permuted state is an array literal of
    traced elements, `A @ s + Bm @ (s * [s[1], s[2], s[0]])` (issue 17)."""
    steps = cfg.w3_steps
    print(f"\n== LIT Lorenz RK4 with an array literal of traced elements, {steps} steps")
    refv = L.w3v_dual(steps)
    checks = {"limit:dual-numpy": 0.0}
    cases = [Case("limit:dual-numpy", lambda: L.w3v_dual(steps), "limit",
                  "Dual class holding (3,) arrays, s[[1, 2, 0]]")]
    row = Row("LIT array literal JVP", "dprog", limit="Dual class over NumPy arrays",
              target=2.5, tol=1e-6, extra={"ref_case": "limit:dual-numpy"})
    ROWS.append(row)
    it = try_case([row], lambda: load_program("w3_lorenz.dp"))
    if it is not None:
        jl = it["jvp_lit"]
        s0, t0 = np.array(L.W3_S0), np.array(L.W3_T0)

        def dp_lit():
            return jl(s0, t0, L.A_NP, L.B_NP, steps)
        r = try_case([row], dp_lit)
        if r is not None:
            row.check = checks["dprog"] = w3_check(r, refv)
            cases.append(Case("dprog", dp_lit, "dprog",
                              "jvp of rk4_lit: A @ s + Bm @ (s * [s[1], s[2], s[0]])"))
            row.extra["case"] = "dprog"
    print("max rel. diff vs Dual-NumPy (state, tangent): "
          + ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    res = measure(cases, cfg)
    detail_table(f"LIT (3,)-array state with an array literal, JVP per call "
                 f"({steps * L.LIT_OPS_PER_STEP} ops)", cases, res, ["limit:dual-numpy"], checks)
    fill_rows(res, (row.workload,))


# ======================================================================= W4
def run_w4(cfg: Config) -> None:
    M, N = cfg.w4_sizes
    print(f"\n== W4 {N}x{N} Hessian of sum(log(1 + exp(A @ x))) + 0.5 * dot(x, x), A {M}x{N}")
    A, x = L.w4_data(cfg.w4_sizes)
    ref = L.w4_analytic(A, x)
    checks = {"limit:analytic": 0.0}
    cases = [Case("limit:analytic", lambda: L.w4_analytic(A, x), "limit", "(A.T * w) @ A + I")]
    row = Row("W4 Hessian", "dprog", limit="analytic NumPy Hessian", target=5.0, tol=1e-8,
              extra={"ref_case": "limit:analytic"})
    ROWS.append(row)
    it = try_case([row], lambda: load_program("w4_hessian.dp", {"A": A, "x0": x},
                                              "fn bench_hess() { return hess(A, x0) }"))
    if it is not None:
        h = it["bench_hess"]
        r = try_case([row], h)
        if r is not None:
            row.check = checks["dprog"] = L.relerr(r, ref)
            row.note = f"symmetry max|H - H.T| {float(np.max(np.abs(r - r.T))):.1e}"
            cases.append(Case("dprog", h, "dprog", "hessian(f) = jacfwd(jacrev(f))"))
            row.extra["case"] = "dprog"
    add_peers(cases, PE.W4_PEERS, False, None, (A, x), cfg, lambda _: ref, L.relerr, checks,
              {"workload": "W4 Hessian", "limit": row.limit, "tol": 1e-8})
    for r in ROWS:
        if r.workload == "W4 Hessian" and r.row.startswith("peer"):
            r.extra["ref_case"] = "limit:analytic"
    print("max rel. diff vs analytic: " + ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    res = measure(cases, cfg)
    detail_table("W4 Hessian per call", cases, res, ["limit:analytic"], checks)
    fill_rows(res, (row.workload,))


# ======================================================================= VMAP
def _np_per_example_grads(w, X, y):
    """Hand-vectorised NumPy: the gradient of each example's logistic loss, (p - y) x."""
    p = 1.0 / (1.0 + np.exp(-(X @ w)))
    return (p - y)[:, None] * X


def run_vmap(cfg: Config) -> None:
    """Issue 14: per-example gradients by vmap(grad) against hand-vectorised NumPy, and
    jacrev (one vmapped backward pass) against one backward pass per row."""
    sizes = [(2000, 3), (256, 784)] if cfg.timed else [(20, 3), (8, 16)]
    for N, D in sizes:
        rng = np.random.default_rng(N)
        X = rng.standard_normal((N, D))
        y = (rng.standard_normal(N) > 0) * 1.0
        w = rng.standard_normal(D) * 0.1
        name = f"VMAP per-example grads N={N} D={D}"
        print(f"\n== {name}")
        row = Row(name, "dprog", limit="hand-vectorised NumPy", target=3.0, tol=1e-12,
                  extra={"ref_case": "limit:numpy", "case": "dprog"})
        ROWS.append(row)
        cases = [Case("limit:numpy", lambda: _np_per_example_grads(w, X, y), "limit")]
        it = try_case([row], lambda: load_program(
            "vmap_per_example.dp", {"X": X, "y": y, "w": w, "A": np.eye(2)},
            "fn bench_pe() { return per_example_grads(w, X, y) }"))
        if it is not None:
            f = it["bench_pe"]
            r = try_case([row], f)
            if r is not None:
                row.check = L.relerr(r, _np_per_example_grads(w, X, y))
                cases.append(Case("dprog", f, "dprog", "vmap(grad(loss), in_axes=(none, 0, 0))"))
        res = measure(cases, cfg)
        detail_table(name, cases, res, ["limit:numpy"], {"dprog": row.check})
        fill_rows(res, (name,))
    n = 100 if cfg.timed else 8
    A = np.sin(np.arange(n * n)).reshape(n, n)
    x0 = np.full(n, 0.1)
    name = f"VMAP jacrev {n}->{n}"
    print(f"\n== {name}")
    row = Row(name, "dprog", limit="one backward pass per row (dprog)", target=0.1, tol=1e-12,
              extra={"ref_case": "limit:rows", "case": "dprog"})
    ROWS.append(row)
    it = try_case([row], lambda: load_program(
        "vmap_per_example.dp", {"A": A, "x0": x0, "X": np.zeros((1, 1)), "y": np.zeros(1),
                                "w": np.zeros(1)},
        "fn bench_jr() { return jacrev(jac_f)(x0) }\nfn bench_rows() { return jac_rows(x0) }"))
    if it is None:
        return
    fj, fr = it["bench_jr"], it["bench_rows"]
    r, ref = try_case([row], fj), try_case([row], fr)
    if r is None or ref is None:
        return
    row.check = L.relerr(r, ref)
    cases = [Case("limit:rows", fr, "limit", "a loop of pullback(e_i)"),
             Case("dprog", fj, "dprog", "jacrev(f): the pullback vmapped over the basis")]
    res = measure(cases, cfg)
    detail_table(name, cases, res, ["limit:rows"], {"dprog": row.check})
    fill_rows(res, (name,))


# ======================================================================= GP
def run_gp(cfg: Config) -> None:
    n = 40 if cfg.mode == "smoke" else GPL.GP_N
    print(f"\n== GP negative log-likelihood, n = {n}, gradient in 3 hyperparameters via "
          "cholesky / cho_solve")
    d2, y = GPL.gp_data(n)
    ref = GPL.gp_numpy_value_and_grad(GPL.THETA, d2, y)

    def check(r, ref):
        return max(abs(float(r[0]) - ref[0]) / abs(ref[0]), L.relerr(r[1], ref[1]))
    checks = {"limit:numpy": 0.0}
    cases = [Case("limit:numpy", lambda: GPL.gp_numpy_value_and_grad(GPL.THETA, d2, y),
                  "limit", "NumPy/SciPy cholesky + cho_solve, hand-written gradient")]
    row = Row("GP NLL gradient", "dprog", limit="NumPy/SciPy, hand-written gradient",
              target=1.5, tol=1e-8, extra={"ref_case": "limit:numpy"})
    ROWS.append(row)
    it = try_case([row], lambda: load_program(
        "gp_nll.dp", {"D2": d2, "Y": y, "THETA": GPL.THETA},
        "fn bench_gp() { return gp_grad(THETA, D2, Y) }"))
    if it is not None:
        f = it["bench_gp"]
        r = try_case([row], f)
        if r is not None:
            row.check = checks["dprog"] = check(r, ref)
            cases.append(Case("dprog", f, "dprog", "value_and_grad(gp_nll)"))
            row.extra["case"] = "dprog"
    print("max rel. diff vs NumPy: " + ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    res = measure(cases, cfg)
    detail_table("GP per call (value + gradient)", cases, res, ["limit:numpy"], checks)
    fill_rows(res, (row.workload,))


# ======================================================================= W5
def venv_bin(name: str) -> str:
    for cand in (ROOT / ".venv" / "bin" / name, Path(sys.executable).parent / name):
        if cand.exists():
            return str(cand)
    return name


def _timed_run(argv: list, env: dict) -> tuple[float, float]:
    """One whole process: its wall time and its CPU time (user + system, all its threads)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, argv)
    return wall, usage.ru_utime + usage.ru_stime


def run_w5(cfg: Config) -> None:
    py = venv_bin("python")
    dp = venv_bin("dp")
    cmds = [("python -c pass", [py, "-c", "pass"]),
            ("python -c 'import numpy'", [py, "-c", "import numpy"]),
            ("dp -c 'print(1)'", [dp, "-c", "print(1)"])]
    cpu = cfg.clock is time.process_time
    print(f"\n== W5 whole-process start-up ({cfg.w5_runs} interleaved runs after "
          f"{cfg.w5_warmup} warm-up; the row uses {'CPU' if cpu else 'wall'} time)"
          f"\n   python = {py}\n   dp = {dp}")
    row = Row("W5 start-up", "dp -c \"print(1)\"", limit="python -c \"import numpy\"", target=1.1,
              tol=0.0)
    ROWS.append(row)
    import compileall

    import dprog
    # as a user starts them: without the BLAS thread variables this runner sets for its
    # own process (dp picks its own thread count), and with the dprog this runner
    # imported: the venv's `dp` would otherwise import the editable install's checkout,
    # not a worktree's. Both commands get the same PYTHONPATH, so the same sys.path.
    tree = Path(dprog.__file__).resolve().parent
    env = {k: v for k, v in os.environ.items() if k not in BLAS_KEYS}
    env["PYTHONPATH"] = str(tree.parent)
    # An installed package has its bytecode compiled (pip does it); an editable
    # checkout under PYTHONDONTWRITEBYTECODE=1 never would, and every start-up
    # would recompile dprog's sources. Compile once so both are measured alike.
    compileall.compile_dir(str(tree), quiet=1)
    print(f"   dprog = {tree}")
    try:
        out = subprocess.run(cmds[2][1], capture_output=True, text=True, env=env, timeout=60,
                             check=False)
        row.check = 0.0 if (out.returncode == 0 and out.stdout == "1\n") else 1.0
        if row.check:
            row.note = f"dp printed {out.stdout!r}, exit {out.returncode}: {out.stderr[-200:]!r}"
        for _ in range(cfg.w5_warmup):
            for _, argv in cmds:
                subprocess.run(argv, capture_output=True, env=env, check=True, timeout=60)
        wall = {n: [] for n, _ in cmds}
        cpus = {n: [] for n, _ in cmds}
        for _ in range(cfg.w5_runs):
            for n, argv in cmds:
                w, c = _timed_run(argv, env)
                wall[n].append(w)
                cpus[n].append(c)
    except Exception as exc:
        row.error = short_error(exc)
        print(f"  ! {row.error}")
        return
    used = cpus if cpu else wall
    base = statistics.median(used["python -c pass"]) * 1e3
    print(f"{'command':<28} {'median ms':>10} {'min ms':>9} {'max ms':>9} {'x pass':>7} "
          f"{'cpu med ms':>11}")
    for n, s in wall.items():
        med = statistics.median(s) * 1e3
        print(f"{n:<28} {med:>10.1f} {min(s) * 1e3:>9.1f} {max(s) * 1e3:>9.1f} "
              f"{statistics.median(used[n]) * 1e3 / base:>7.2f} "
              f"{statistics.median(cpus[n]) * 1e3:>11.1f}")
    ratios = sorted(a / b for a, b in zip(used["dp -c 'print(1)'"],
                                          used["python -c 'import numpy'"]))
    print(f"dp / numpy per round ({'CPU' if cpu else 'wall'}): median "
          f"{statistics.median(ratios):.2f}, range {ratios[0]:.2f}-{ratios[-1]:.2f}")
    row.value = statistics.median(used["dp -c 'print(1)'"]) * 1e3
    row.limit_value = statistics.median(used["python -c 'import numpy'"]) * 1e3
    row.note = f"python -c pass: {base:.1f} ms ({'CPU' if cpu else 'wall'} time)"


# ======================================================================= memory
def _status() -> dict:
    d = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                d[k] = int(v.split()[0])
    return d


UPDATE_LOOP = ("fn update_loop(x, n) { let a = zeros(n); for i in range(n) { a[i] = x * i }\n"
               "    return sum(a) }\nfn grad_update_loop(n) { return grad(update_loop)(1.5, n) }")


def mem_child(which: str, N: int) -> None:
    """In a fresh process: peak RSS growth of one W1 value+grad call, or of the gradient
    of the IDX update loop (which == "update"), printed as JSON."""
    x0, y0 = L.W1_X0, L.W1_Y0
    if which == "update":
        import dprog

        it = dprog.Interpreter(max_array_elements=10**9)
        it.exec(UPDATE_LOOP, name="<bench update loop>")
        fn = it["grad_update_loop"]
    elif which == "dprog":
        it = load_program("w1_scalar_loop.dp")
        vg = it["value_and_grad_f"]

        def fn(n):
            v, (gx, gy) = vg(x0, y0, n)
            return v, gx, gy
    else:
        def fn(n):
            return L.w1_handrev(x0, y0, n)
    fn(50)
    fn(50)
    gc.collect()
    exact = True
    try:       # reset the kernel's peak-RSS mark (VmHWM) so the peak is that of the call alone
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        exact = False
    before = _status()
    t0 = time.perf_counter()
    r = fn(N)
    dt = time.perf_counter() - t0
    after = _status()
    ref = (float(sum(range(N))),) if which == "update" else L.w1_handrev(x0, y0, N)
    r = (r,) if which == "update" else r
    print(json.dumps({"rss_base_kb": before["VmRSS"], "hwm_before_kb": before["VmHWM"],
                      "rss_peak_kb": after["VmHWM"], "exact": exact, "seconds": dt,
                      "check": rel_components(r, ref)}))


def run_mem(cfg: Config) -> None:
    N = cfg.mem_N
    ops = N * L.W1_OPS_PER_ITER
    print(f"\n== W1 memory: peak RSS growth of one value+grad call at N = {N} ({ops} recorded "
          f"ops), fresh subprocess each, median of {cfg.mem_reps}")
    rows = {"handrev": Row("W1 memory", "limit: hand-written lists", unit="B/op", tol=1e-9,
                           note="reference only; the target is absolute"),
            "dprog": Row("W1 memory", "dprog", unit="B/op", limit="hand-written lists",
                         target=150.0, tol=1e-9)}
    ROWS.extend([rows["dprog"], rows["handrev"]])
    print(f"{'case':<10} {'d peak RSS MiB':>15} {'B/op':>8} {'call s':>8} {'max rel.diff':>12}")
    for which in ("handrev", "dprog"):
        row = rows[which]
        samples, secs, checks = [], [], []
        try:
            for _ in range(cfg.mem_reps):
                p = subprocess.run([sys.executable, __file__, "--mem-child", which, str(N)],
                                   capture_output=True, text=True, timeout=900, check=False)
                if p.returncode != 0:
                    raise RuntimeError((p.stderr.strip().splitlines() or ["?"])[-1])
                d = json.loads(p.stdout.strip().splitlines()[-1])
                samples.append((d["rss_peak_kb"] - d["rss_base_kb"]) * 1024)
                secs.append(d["seconds"])
                checks.append(d["check"])
                if not d["exact"]:
                    row.note = "clear_refs unavailable: VmHWM not reset, growth may be understated"
        except Exception as exc:
            row.error = short_error(exc)
            print(f"  ! {which}: {row.error}")
            continue
        growth = statistics.median(samples)
        row.value = growth / ops
        if which == "dprog" and rows["handrev"].value is not None:
            row.limit_value = rows["handrev"].value
        row.check = max(checks)
        extra = f"{growth / 2**20:.1f} MiB peak growth; one call {statistics.median(secs):.2f} s"
        row.note = f"{extra}; {row.note}" if row.note else extra
        print(f"{which:<10} {growth / 2**20:>15.1f} {row.value:>8.0f} "
              f"{statistics.median(secs):>8.2f} {row.check:>12.1e}")


# ======================================================================= IDX
def run_idx(cfg: Config) -> None:
    """Issue 12: a 100-row gather from a 60000x784 array against NumPy's fancy indexing,
    and the gradient of an update loop at two lengths (time linear in n, peak memory)."""
    n_rows = cfg.idx_rows
    print(f"\n== IDX gather: 10 x X[I], X {n_rows}x784, I 100 random row numbers")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_rows, 784))
    I_int = rng.integers(0, n_rows, 100)

    def numpy_gathers():  # the dprog loop below, in Python: one gather per step, kept alive
        s = 0.0
        for _ in range(10):
            B = X[I_int]
            s += B[0, 0]
        return s

    row = Row("IDX gather 100 rows", "dprog", limit="NumPy X[I]", target=2.0, tol=0.0)
    ROWS.append(row)
    it = try_case([row], lambda: load_program_src(
        "fn bench_gather() { let s = 0.0\n for k in range(10) { let B = X[I]; s += B[0, 0] }\n"
        " return s }", {"X": X, "I": I_int.astype(float)}))
    cases = [Case("limit:numpy", numpy_gathers, "limit", "10 x X[I], I an intp array")]
    checks = {"limit:numpy": 0.0}
    if it is not None:
        gather = it["bench_gather"]
        r = try_case([row], gather)
        if r is not None:
            row.check = checks["dprog"] = L.relerr(r, numpy_gathers())
            cases.append(Case("dprog", gather, "dprog", "10 x X[I], I a float array"))
            row.extra["case"] = "dprog"
    row.extra["ref_case"] = "limit:numpy"
    res = measure(cases, cfg)
    detail_table("IDX gather per call", cases, res, ["limit:numpy"], checks)
    fill_rows(res, (row.workload,))
    _run_update_loop(cfg)


def _run_update_loop(cfg: Config) -> None:
    small, big = cfg.idx_loop
    print(f"\n== IDX update loop: grad of `a[i] = x * i` for i < n, n = {small} and {big} "
          "(fresh subprocess each)")
    t_row = Row("IDX update loop, grad", f"time at n={big}", limit=f"{big // small} x time at "
                f"n={small} (linear)", target=1.5, tol=0.0)
    m_row = Row("IDX update loop, grad", f"peak memory growth at n={big}", unit="MiB",
                target=200.0, tol=0.0)
    ROWS.extend([t_row, m_row])
    got = {}
    for n in (small, big):
        try:
            p = subprocess.run([sys.executable, __file__, "--mem-child", "update", str(n)],
                               capture_output=True, text=True, timeout=900, check=False)
            if p.returncode != 0:
                raise RuntimeError((p.stderr.strip().splitlines() or ["?"])[-1])
            got[n] = json.loads(p.stdout.strip().splitlines()[-1])
        except Exception as exc:
            t_row.error = m_row.error = short_error(exc)
            print(f"  ! {t_row.error}")
            return
        d = got[n]
        print(f"n={n:<7} {d['seconds']:8.3f} s  peak RSS growth "
              f"{(d['rss_peak_kb'] - d['rss_base_kb']) / 1024:7.1f} MiB")
    t_row.value = got[big]["seconds"] * 1e3
    t_row.limit_value = got[small]["seconds"] * 1e3 * big / small
    t_row.check = m_row.check = max(got[small]["check"], got[big]["check"])
    m_row.value = (got[big]["rss_peak_kb"] - got[big]["rss_base_kb"]) / 1024
    m_row.note = (f"n={small}: {(got[small]['rss_peak_kb'] - got[small]['rss_base_kb']) / 1024:.1f}"
                  f" MiB, {got[small]['seconds']:.2f} s")


def load_program_src(glue: str, data: dict):
    """An embedded interpreter with `data` as globals and `glue` run (no program file)."""
    import dprog

    it = dprog.Interpreter(max_array_elements=10**9)
    it.exec(glue, globals=dict(data), name="<bench glue>")
    return it


# ======================================================================= profile
def run_profile(which: list[str], cfg: Config) -> None:
    """cProfile of one dprog call of the chosen workloads (W1 W3 W3V LIT W4 W2 GP), top 15
    by tottime."""
    import cProfile
    import pstats

    jobs = []
    if "W1" in which:
        it = load_program("w1_scalar_loop.dp")
        vg = it["value_and_grad_f"]
        jobs.append((f"W1 value+grad, N = {cfg.w1_N}", lambda: vg(L.W1_X0, L.W1_Y0, cfg.w1_N)))
    if "W3" in which:
        it3 = load_program("w3_lorenz.dp")
        js = it3["jvp_scalar"]
        jobs.append((f"W3 scalar state, {cfg.w3_steps} steps",
                     lambda: js(L.W3_S0, L.W3_T0, cfg.w3_steps)))
    if "W3V" in which:
        it3 = load_program("w3_lorenz.dp")
        jv = it3["jvp_vector"]
        jobs.append((f"W3 (3,)-array state, {cfg.w3_steps} steps",
                     lambda: jv(np.array(L.W3_S0), np.array(L.W3_T0), L.A_NP, L.B_NP, L.P_NP,
                                cfg.w3_steps)))
    if "LIT" in which:
        it3 = load_program("w3_lorenz.dp")
        jl = it3["jvp_lit"]
        jobs.append((f"LIT array literal of traced elements, {cfg.w3_steps} steps",
                     lambda: jl(np.array(L.W3_S0), np.array(L.W3_T0), L.A_NP, L.B_NP,
                                cfg.w3_steps)))
    if "W4" in which:
        A, x = L.w4_data(cfg.w4_sizes)
        it4 = load_program("w4_hessian.dp", {"A": A, "x0": x},
                           "fn bench_hess() { return hess(A, x0) }")
        jobs.append(("W4 Hessian", it4["bench_hess"]))
    if "W2" in which:
        X, y, (W1, b1, W2, b2) = L.w2_data(cfg.w2_sizes)
        it2 = load_program("w2_mlp.dp", {"X": X, "Y": np.eye(cfg.w2_sizes[3])[y],
                                         "P": {"W1": W1, "b1": b1, "W2": W2, "b2": b2}},
                           "fn bench_step() { return step(P, X, Y) }")
        jobs.append(("W2 MLP gradient", it2["bench_step"]))
    if "GP" in which:
        d2, y = GPL.gp_data(GPL.GP_N)
        itg = load_program("gp_nll.dp", {"D2": d2, "Y": y, "THETA": GPL.THETA},
                           "fn bench_gp() { return gp_grad(THETA, D2, Y) }")
        jobs.append((f"GP NLL gradient, n = {GPL.GP_N}", itg["bench_gp"]))
    if "RNN" in which:
        p, mem, inputs, targets, h0 = RL.rnn_data()
        itr = load_program("rnn.dp", {"P": p, "M": mem, "I": inputs, "TG": targets, "H0": h0,
                                      "LR": RL.RNN_LR},
                           "fn bench_step() { return train_step(P, M, I, TG, H0, LR) }")
        jobs.append(("RNN training step", itr["bench_step"]))
    for title, fn in jobs:
        fn()
        pr = cProfile.Profile()
        t0 = time.perf_counter()
        pr.enable()
        fn()
        pr.disable()
        dt = time.perf_counter() - t0
        print(f"\n== profile: {title} (one call, {dt * 1e3:.0f} ms under cProfile), "
              "top 15 by tottime")
        pstats.Stats(pr, stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(15)
        sys.stdout.flush()


# ======================================================================= report
def machine() -> dict:
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            info["mem_gib"] = round(int(fh.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        info["loadavg"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        pass
    try:
        import importlib.metadata as md
        info["dprog"] = md.version("dprog")
    except Exception:
        pass
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10,
                              check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "lang"],
                               capture_output=True, text=True, timeout=10,
                               check=False).stdout.strip()
        info["commit"] = head + (" + uncommitted changes in lang/" if dirty else "")
    except Exception:
        pass
    info["peers"] = ", ".join(PE.available()) or "none importable"
    info["blas_threads"] = BLAS_NOTE
    return info


def fmt_value(r: Row) -> str:
    if r.value is None:
        return "-"
    if r.unit in ("B/op", "MiB"):
        return f"{r.value:,.0f} {r.unit}"
    return f"{r.value:,.1f} ms" if r.value >= 10 else f"{r.value:.3g} ms"


def summary(cfg: Config, info: dict, seconds: float) -> str:
    header = ("| workload | row | time | limit | limit time | ratio | target | max rel. diff "
              "| result |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for r in ROWS:
        r.finish(cfg.timed)
        if r.unit in ("B/op", "MiB"):
            lim_t = f"{r.limit_value:,.0f} {r.unit}" if r.limit_value is not None else "-"
            ratio = "-"
            target = f"≤ {r.target:.0f} {r.unit}" if r.target else "-"
        else:
            lim_t = (f"{r.limit_value:,.1f} ms" if r.limit_value and r.limit_value >= 10
                     else f"{r.limit_value:.3g} ms" if r.limit_value else "-")
            ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "-"
            target = f"≤ {r.target:g}×" if r.target else "-"
        check = f"{r.check:.1e}" if r.check is not None else "-"
        status = r.status + (f": {r.error}" if r.error else "")
        lines.append(f"| {r.workload} | {r.row} | {fmt_value(r)} | {r.limit or '-'} | {lim_t} | "
                     f"{ratio} | {target} | {check} | {status} |")
    notes = [f"- {r.workload}, {r.row}: {r.note}" for r in ROWS if r.note]
    clock = "CPU time" if cfg.clock is time.process_time else "wall time"
    head = (f"mode {cfg.mode}, {clock}; {info.get('cpu', '?')}, {info.get('cpus')} CPUs, "
            f"{info.get('mem_gib', '?')} GiB; Python {info['python']}, NumPy {info['numpy']}; "
            f"dprog {info.get('dprog', '?')} at {info.get('commit', '?')}; peers: {info['peers']}; "
            f"BLAS threads: {info['blas_threads']}; "
            f"load average at start {info.get('loadavg', '?')}; run took {seconds:.0f} s")
    return "\n".join([head, ""] + lines + ([""] + notes if notes else []))


# ======================================================================= main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="5 rounds per case, 1 memory run (< 3 min)")
    g.add_argument("--smoke", action="store_true",
                   help="tiny sizes, one round, no timing targets (seconds)")
    ap.add_argument("--only", default="",
                    help="comma-separated subset of W1,W2,W3,LIT,W4,GP,W5,MEM,W6,W7,IDX,"
                         "VMAP,RNN (default: all)")
    ap.add_argument("--no-peers", action="store_true", help="skip autograd/torch/jax rows")
    ap.add_argument("--profile", nargs="?", const="W1,W3", default=None, metavar="W1,W3",
                    help="instead of timing, cProfile one dprog call of W1 / W2 / W3 / W3V / LIT "
                         "/ W4 / GP / RNN")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: time.perf_counter (default, as the peers); cpu: time.process_time "
                         "(CPU time of this process, steadier on a loaded machine; W5 then uses "
                         "its processes' CPU time; the memory row is unaffected)")
    ap.add_argument("--blas-threads", type=int, metavar="N",
                    help="set OPENBLAS/OMP/MKL_NUM_THREADS=N; 0 keeps NumPy's default. Default: "
                         "NumPy's default (as the peers) on a quiet machine, 1 when the load "
                         "average exceeds 0.75 x the CPU count")
    ap.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    ap.add_argument("--mem-child", nargs=2, metavar=("WHICH", "N"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.mem_child:
        mem_child(a.mem_child[0], int(a.mem_child[1]))
        return 0

    cfg = make_config("smoke" if a.smoke else "quick" if a.quick else "full")
    if a.clock == "cpu":
        cfg.clock = time.process_time
    if a.profile:
        run_profile([w.strip().upper() for w in a.profile.split(",") if w.strip()], cfg)
        return 0
    only = [w.strip().upper() for w in a.only.split(",") if w.strip()]
    for w in only:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}; choose from {','.join(WORKLOADS)}")
    selected = only or list(WORKLOADS)
    if a.no_peers:
        PE.available = list

    info = machine()
    print("dprog benchmark suite, mode " + cfg.mode)
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = 0.0
    if load1 > (os.cpu_count() or 1) * 0.75:
        print(f"warning: load average {load1:.1f} on {os.cpu_count()} CPUs: other processes share "
              "the machine; absolute times are inflated (the interleaved ratios are the figures "
              f"to read); BLAS threads: {BLAS_NOTE}")
    sys.stdout.flush()
    t_start = time.perf_counter()
    runners = {"W1": run_w1, "W2": run_w2, "W3": run_w3, "LIT": run_lit, "W4": run_w4,
               "GP": run_gp, "W5": run_w5,
               "MEM": run_mem, "W6": lambda cfg: SC.run_w6(cfg, Row, ROWS),
               "W7": lambda cfg: SC.run_w7(cfg, Row, ROWS, venv_bin("dp")),
               "IDX": run_idx, "VMAP": run_vmap,
               "RNN": lambda cfg: RL.run_rnn(cfg, sys.modules[__name__])}
    with np.errstate(all="ignore"):
        for w in WORKLOADS:
            if w in selected:
                runners[w](cfg)
    seconds = time.perf_counter() - t_start
    text = summary(cfg, info, seconds)
    print("\n== summary (ratios are dprog / limit, measured in the same run)\n")
    print(text)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"mode": cfg.mode, "machine": info, "seconds": seconds,
                       "rows": [{k: v for k, v in r.__dict__.items()} | {"ratio": r.ratio}
                                for r in ROWS]}, fh, indent=1, default=str)
    bad = [r for r in ROWS if r.status.startswith(("FAIL", "ERROR"))]
    if bad:
        print(f"\n{len(bad)} row(s) failed: " + "; ".join(f"{r.workload} / {r.row}" for r in bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
