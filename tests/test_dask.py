"""parallel_map and embedded functions on a real Dask LocalCluster of 2 worker processes
(the same code runs against a remote scheduler)."""

from __future__ import annotations

import importlib.util
import io

import pytest

import dprog
from conftest import ROOT, run_dp

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _sweep(executor=None):
    out = io.StringIO()
    it = dprog.Interpreter(stdout=out, executor=executor, allow_files=True)
    it.run_file(ROOT / "examples" / "sweep.dp", argv=("40",))
    return out.getvalue(), it["results"]


def test_sweep_on_two_workers_matches_the_sequential_run(client):
    seq_out, seq = _sweep()
    par_out, par = _sweep(client)
    assert par_out == seq_out
    assert par == seq  # records of floats: bit for bit
    assert len(par) == 8
    # the elements really ran on the workers: each holds the unpickled interpreter
    loaded = client.run(lambda: len(__import__("dprog.host.parallel").host.parallel._LOADED))
    assert sum(loaded.values()) >= 1


def test_an_error_on_a_worker_is_reported_with_its_element(client):
    it = dprog.Interpreter(executor=client, stdout=io.StringIO())
    with pytest.raises(dprog.DpIndexError, match=r"element 1 of 3\)") as info:
        it.exec("let xs = ([1.0, 2.0], [1.0], [3.0, 4.0])\nparallel_map(fn(v) => v[1], xs)")
    assert "^" in info.value.report()


def _example():
    spec = importlib.util.spec_from_file_location("embedded_dask",
                                                  ROOT / "examples" / "embedded_dask.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    angles = [0.3, 0.6, 0.9]
    interp = dprog.Interpreter(max_steps=10_000_000)
    interp.exec(example.PROGRAM)
    local = [interp["shot"](a) for a in angles]
    return example, angles, local


def test_client_map_of_an_embedded_function(client):
    example, angles, local = _example()
    remote = example.run(client, angles)
    assert remote == local
    assert remote[1]["range"] > remote[0]["range"]


def test_dp_workers_option_runs_the_program_on_a_local_cluster():
    proc = run_dp("--workers", "2", "-c",
                  "print(parallel_map(fn(x) => x * 2.0 + rand(), (1.0, 2.0, 3.0)))",
                  timeout=120)
    seq = run_dp("-c", "print(parallel_map(fn(x) => x * 2.0 + rand(), (1.0, 2.0, 3.0)))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == seq.stdout and proc.stdout.startswith("(")
