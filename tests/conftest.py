"""Shared fixtures: run `dp` as a subprocess, or a fresh embedded interpreter."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CONFORMANCE = SHARED / "conformance"


def run_dp(*args, input=None, cwd=None, timeout=120):
    """Run the dp command (as `python -m dprog`) and return the CompletedProcess."""
    env = dict(os.environ, NO_COLOR="1", TERM="dumb", PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "dprog", *args], input=input,
                          capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)


@pytest.fixture
def dp():
    return run_dp


@pytest.fixture
def interp():
    import dprog

    out = io.StringIO()
    it = dprog.Interpreter(stdout=out, allow_files=True)
    it.out = out
    return it


def run_src(src: str, **kw) -> str:
    """Run a dprog program in a fresh interpreter and return what it printed."""
    import dprog

    out = io.StringIO()
    it = dprog.Interpreter(stdout=out, allow_files=True, **kw)
    it.exec(src, name="test.dp")
    return out.getvalue()
