"""The public conformance suite (../shared/conformance), one test per case."""

from __future__ import annotations

import importlib.util
import json
import shlex

import pytest

from conftest import CONFORMANCE, run_dp

if CONFORMANCE.is_dir():
    CASES = sorted(p for p in CONFORMANCE.glob("*.dp")
                   if p.with_suffix(".out").exists() or p.with_suffix(".err").exists())
else:  # pragma: no cover - the suite lives beside the checkout in CI
    CASES = []


def _runner():
    spec = importlib.util.spec_from_file_location("conformance_run", CONFORMANCE / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not CASES, reason="../shared/conformance not present")
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_conformance(case):
    runner = _runner()
    args = []
    if case.with_suffix(".args").exists():
        args = shlex.split(case.with_suffix(".args").read_text())
    proc = run_dp(case.name, *args, cwd=case.parent)
    assert "Traceback (most recent call last)" not in proc.stderr, proc.stderr
    err_file = case.with_suffix(".err")
    if err_file.exists():
        spec = json.loads(err_file.read_text())
        assert proc.returncode == spec.get("exit", 1), proc.stderr
        low = proc.stderr.lower()
        for item in spec.get("stderr_contains", []):
            alts = item if isinstance(item, list) else [item]
            assert any(a.lower() in low for a in alts), (item, proc.stderr)
        if case.with_suffix(".out").exists():
            diff = runner.compare_output(case.with_suffix(".out").read_text(), proc.stdout)
            assert diff is None, diff
        return
    assert proc.returncode == 0, proc.stderr
    diff = runner.compare_output(case.with_suffix(".out").read_text(), proc.stdout)
    assert diff is None, diff
