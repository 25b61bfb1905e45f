"""Map an embedded dprog function over a Dask cluster from Python.

    python examples/embedded_dask.py                      # a local cluster of 2 processes
    python examples/embedded_dask.py tcp://host:8786      # an existing Dask scheduler

`interp["shot"]` is a plain Python callable; it pickles together with its
interpreter (the dprog source, globals and limits), so Dask ships it to the
workers like any other function. Each call returns the range of a projectile with
air drag and its derivative with respect to the launch angle.
"""

from __future__ import annotations

import sys

import numpy as np

import dprog

PROGRAM = """
let drag = 0.02
fn distance(angle) {
    let v = 50.0 * [cos(angle), sin(angle)]
    let p = [0.0, 0.0]
    let dt = 0.01
    while p[1] >= 0.0 {
        let a = [0.0, -9.81] - drag * sqrt(sum(v * v)) * v
        p = p + dt * v
        v = v + dt * a
    }
    return p[0]
}
fn shot(angle) {
    let vg = value_and_grad(distance)(angle)
    return {angle: angle, range: vg[0], slope: vg[1]}
}
"""


def run(client, angles=None) -> list[dict]:
    """The shots at `angles` (radians), computed on the cluster behind `client`."""
    interp = dprog.Interpreter(max_steps=10_000_000)
    interp.exec(PROGRAM)
    shot = interp["shot"]
    if angles is None:
        angles = np.linspace(0.2, 1.2, 16)
    futures = client.map(shot, list(angles))
    return client.gather(futures)


def main(argv: list[str]) -> None:
    from dask.distributed import Client, LocalCluster

    if argv:
        client = Client(argv[0])
    else:
        client = Client(LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0"))
    with client:
        shots = run(client)
    best = max(shots, key=lambda s: s["range"])
    for s in shots:
        print(f"angle {s['angle']:.3f} rad  range {s['range']:8.3f} m  "
              f"d range/d angle {s['slope']:8.3f}")
    print(f"best angle: {best['angle']:.3f} rad, range {best['range']:.3f} m")


if __name__ == "__main__":
    main(sys.argv[1:])
