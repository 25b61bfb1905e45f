"""Every program in examples/ runs (as `python -m dprog`) and prints the result it promises.

Each example has a checker below that reads its printed results; a new example without a
checker fails `test_every_example_is_checked`, so examples cannot silently rot.
"""

from __future__ import annotations

import re
import time

import pytest

from conftest import ROOT, run_dp

EXAMPLES = ROOT / "examples"
TIMEOUT = 300  # seconds per example; they take a few seconds each on an idle machine


def line(out: str, prefix: str) -> str:
    """The rest of the first output line that starts with `prefix` (after stripping)."""
    for ln in out.splitlines():
        s = ln.strip()
        if s.startswith(prefix):
            return s[len(prefix):].strip()
    raise AssertionError(f"no line starting with {prefix!r} in the output:\n{out}")


def number(out: str, prefix: str, index: int = 0) -> float:
    """The index-th number on the line starting with `prefix`."""
    nums = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", line(out, prefix))
    return float(nums[index])


def check_hello(out):
    assert line(out, "w =") == "3.0 b = 0.5 loss = true"


def check_linear_regression(out):
    assert line(out, "agree:") == "true"
    assert number(out, "max |difference| =") < 1e-6
    assert line(out, "gradient norm at the closed form:") == "true"
    w = [float(v) for v in re.findall(r"-?\d+\.\d+", line(out, "closed form:").split("b =")[0])]
    assert len(w) == 3
    for got, want in zip(w, [2.0, -3.0, 0.5]):
        assert abs(got - want) < 0.05


def check_classify_iris(out):
    assert line(out, "loaded") == "150 flowers, 4 features, 3 classes"
    assert line(out, "train:") == "120  test: 30"
    assert number(out, "test accuracy:") >= 0.9
    assert number(out, "train accuracy:") >= 0.9
    assert number(out, "final training loss:") < number(out, "parameters:", 1) / 5


def check_projectile(out):
    assert line(out, "gradient check:") == "true"
    assert number(out, "miss (cm):") < 1.0
    assert line(out, "hit within 1 cm:") == "true"
    angle = number(out, "launch angle:")
    assert 0 < angle < 45
    # reverse and forward mode agree on d range / d theta
    ln = line(out, "d range / d theta at 15 deg:")
    rev, fwd = (float(v) for v in re.findall(r"-?\d+\.\d+", ln))
    assert abs(rev - fwd) < 1e-3


def check_lotka_volterra_fit(out):
    assert line(out, "gradient check through odeint:") == "true"
    truth = {"alpha": 1.0, "beta": 0.1, "delta": 0.075, "gamma": 1.5}
    for name, want in truth.items():
        ln = line(out, name + ":")
        got = float(re.search(r"fitted\s+([-\d.e]+)", ln).group(1))
        assert abs(got - want) / want < 0.05, (name, got, want)
    assert number(out, "max relative error (%):") < 5.0
    assert line(out, "recovered within 5%:") == "true"


def check_rnn_lengths(out):
    assert line(out, "gradient check on one sequence:") == "true"
    assert line(out, "training sequences:").startswith("40  lengths 2 to 12")
    assert number(out, "relative test error:") < 0.1
    assert number(out, "test MSE:") < number(out, "test MSE before training:") / 10


def check_tree_net(out):
    assert line(out, "gradient check on one tree:") == "true"
    assert number(out, "relative test error:") < 0.1
    assert number(out, "final train MSE:") < 0.01


def check_newton_root(out):
    assert abs(number(out, "root of x^3 - 2x - 5:") - 2.0945514815423265) < 1e-12
    assert number(out, "max residual:") < 1e-12
    assert number(out, "largest root of T7:", 1) == pytest.approx(0.9749279121818236, abs=1e-12)
    v = [float(s) for s in re.findall(r"\d+\.\d+", line(out, "intersection of the circle"))[:2]]
    assert abs(v[0] ** 2 + v[1] ** 2 - 4) < 1e-6
    ln = line(out, "d root / d c:")
    a, b = (float(s) for s in re.findall(r"\d+\.\d+", ln))
    assert abs(a - b) < 1e-10


def check_soft_dtw(out):
    assert line(out, "gradient check (w.r.t. y):") == "true"
    assert line(out, "table and wavefront agree:") == "true ; gradients too: true"
    # smaller gamma approaches the hard DTW cost
    dtw = number(out, "DTW cost:")
    assert abs(number(out, "soft-DTW, gamma = 0.001 :") - dtw) < 0.01
    ln = line(out, "soft-DTW fit:")
    a = float(re.search(r"a =\s*([-\d.]+)", ln).group(1))
    c = float(re.search(r"c =\s*([-\d.]+)", ln).group(1))
    assert abs(a - 1.5) / 1.5 < 0.05 and abs(c - 0.3) / 0.3 < 0.05
    assert line(out, "recovered within 5%:") == "true"


def check_pendulum_control(out):
    assert line(out, "gradient check:") == "true"
    assert number(out, "final angle error (rad):") < 0.05
    assert number(out, "final angular speed (rad/s):") < 0.1
    assert number(out, "max |torque|:") <= 4.0
    assert line(out, "swung up:") == "true"


def check_dp_sgd(out):
    assert line(out, "per-example gradients agree with a loop:") == "true"
    assert line(out, "largest clipped gradient norm:").endswith("<= C: true")
    assert number(out, "training accuracy:") >= 0.9
    assert number(out, "mean loss:") < 0.3


def check_minibatch_iris(out):
    assert line(out, "loaded").startswith("150 flowers, 4 features, species")
    assert number(out, "epoch 30: training loss") < number(out, "epoch 10: training loss")
    assert number(out, "train accuracy:") >= 0.9
    assert number(out, "test accuracy:") >= 0.9


def check_implicit_fixed_point(out):
    assert number(out, "dz/da implicit:", 2) < 1e-9  # the difference to the formula
    assert number(out, "implicit vs unrolled gradient, norm of the difference:") < 1e-8
    assert line(out, "gradient check:") == "true"
    assert line(out, "equilibrium residual after training:") == "true"
    assert number(out, "relative training error:") < 0.05


def check_sweep(out):
    assert line(out, "runs:") == "8"
    assert [ln.strip() for ln in out.splitlines()[:8]] == [
        f"finished: lr {lr} width {w}" for w in (8, 16) for lr in (0.01, 0.03, 0.1, 0.2)]
    assert line(out, "best:").startswith("lr 0.1 width 16")
    assert number(out, "best:", 2) < number(out, "baseline loss (predict 0):") / 50


def check_gp_fit(out):
    assert line(out, "gradient check:") == "true"
    assert line(out, "logdet agrees:") == "true"
    assert number(out, "final nll:") < number(out, "initial nll:") - 50
    assert number(out, "gradient norm at the fit:") < 1e-3
    assert 0.1 < number(out, "length scale:") < 0.5
    assert 0.05 < number(out, "length scale:", 2) < 0.15  # noise sd (the data's is 0.1)
    assert number(out, "max |mean - sin(6x)|:") < 0.1


CHECKS = {name[len("check_"):]: fn for name, fn in list(globals().items())
          if name.startswith("check_")}
PROGRAMS = sorted(p.stem for p in EXAMPLES.glob("*.dp"))


def test_every_example_is_checked():
    assert PROGRAMS, "examples/ is empty"
    missing = sorted(set(PROGRAMS) - set(CHECKS))
    assert not missing, f"examples without a checker in tests/test_examples.py: {missing}"
    assert not set(CHECKS) - set(PROGRAMS), "checkers for missing examples"


def test_iris_data_is_the_real_data_set():
    rows = (EXAMPLES / "data" / "iris.csv").read_text().splitlines()
    assert rows[0].startswith("sepal_length,")
    data = [[float(v) for v in r.split(",")] for r in rows[1:]]
    assert len(data) == 150 and all(len(r) == 5 for r in data)
    assert [sum(1 for r in data if r[4] == k) for k in (0, 1, 2)] == [50, 50, 50]
    assert data[0] == [5.1, 3.5, 1.4, 0.2, 0.0] and data[-1] == [5.9, 3.0, 5.1, 1.8, 2.0]
    # column means of Fisher's data
    means = [sum(r[i] for r in data) / 150 for i in range(4)]
    assert [round(m, 3) for m in means] == [5.843, 3.057, 3.758, 1.199]


@pytest.mark.parametrize("name", PROGRAMS)
def test_example(name):
    start = time.monotonic()
    proc = run_dp(f"{name}.dp", cwd=EXAMPLES, timeout=TIMEOUT)
    elapsed = time.monotonic() - start
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, f"{name}.dp failed:\n{proc.stderr}"
    assert proc.stderr == "", proc.stderr  # no terminal: progress bars stay silent
    CHECKS[name](proc.stdout)
    print(f"{name}.dp: {elapsed:.1f} s")


def test_classify_iris_from_another_directory():
    """Relative paths resolve against the working directory; the path can be passed."""
    proc = run_dp("examples/classify_iris.dp", "examples/data/iris.csv", cwd=ROOT,
                  timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert number(proc.stdout, "test accuracy:") >= 0.9
