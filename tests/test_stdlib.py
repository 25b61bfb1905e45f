"""The standard library (stdlib/*.dp): its dprog test programs in tests/dp, run by pytest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_dp, run_src

DP_TESTS = sorted((ROOT / "tests" / "dp").glob("test_*.dp"))
MODULES = ("optim", "nn", "ode")


@pytest.mark.parametrize("case", DP_TESTS, ids=[p.stem for p in DP_TESTS])
def test_dp_program(case: Path):
    """Each tests/dp/test_*.dp asserts its own results and prints `<name>: ok` at the end."""
    proc = run_dp(case.name, cwd=case.parent, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert f"{case.stem}: ok" in proc.stdout, proc.stdout


@pytest.mark.parametrize("module", MODULES)
def test_every_module_has_dp_tests(module):
    assert (ROOT / "stdlib" / f"{module}.dp").is_file()
    assert (ROOT / "tests" / "dp" / f"test_{module}.dp").is_file()


def test_stdlib_dir_is_the_checkout_in_an_editable_install():
    from dprog.host.interpreter import stdlib_dir

    assert (stdlib_dir() / "optim.dp").is_file()
    assert {p.stem for p in stdlib_dir().glob("*.dp")} >= set(MODULES)


def test_failing_dp_assert_fails_the_program(tmp_path):
    """The runner above would notice a broken stdlib: a failed assert exits 1."""
    prog = tmp_path / "bad.dp"
    prog.write_text('import optim\nassert(optim.global_norm([3.0, 4.0]) == 6.0, "nope")\n')
    proc = run_dp(prog.name, cwd=tmp_path)
    assert proc.returncode == 1 and "nope" in proc.stderr


def test_import_from_an_embedded_interpreter():
    out = run_src("import optim\nimport nn as layers\n"
                  "print(optim.global_norm({a: [3.0], b: 4.0}), layers.one_hot(2, 3))")
    assert out.split()[0] == "5.0"


def test_stdlib_functions_callable_from_python():
    import dprog

    it = dprog.Interpreter()
    it.exec("import ode\nfn decay(y, t, k) { return -k * y }\n"
            "fn final(k) { return ode.odeint(decay, 1.0, linspace(0, 1, 11), k)[-1] }")
    final = it["final"]
    assert abs(final(0.5) - np.exp(-0.5)) < 1e-6
    g = it.eval("grad(final)(0.5)")
    assert abs(g + np.exp(-0.5)) < 1e-5


def test_stdlib_errors_name_the_stdlib_location():
    proc = run_dp("-c", 'import optim\noptim.minimize(fn(p) => p ** 2, 1.0, method="lbfgs")')
    assert proc.returncode == 1
    assert "unknown method" in proc.stderr and "optim.dp" in proc.stderr
    assert "Traceback" not in proc.stderr
