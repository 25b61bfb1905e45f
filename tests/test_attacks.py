"""The attack suite: untrusted programs against an embedded interpreter (issue 18).

Every attack runs in a child process with an address-space cap (RLIMIT_AS) and
a wall-clock cap, so that a regression fails its test instead of exhausting
the CI machine. The child runs the program in a fresh `dprog.Interpreter` and
prints one JSON line: the error's kind and message (or "ok") and the seconds
the call took. A crash (SIGSEGV, the memory cap, a Python traceback) shows up
as a missing line and fails the test with the child's stderr.

Families: memory (integer, structure and tangent sizes, the memory budget),
time (the timeout inside long work), recursion and the C stack, source
(literals and parsing), host state, threads. Escape, file and internal-error
attacks are in test_security.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

_CHILD = textwrap.dedent("""
    import json, resource, sys, time
    cap = {as_bytes}
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    import dprog
    def main():
        {setup}
        it = dprog.Interpreter(**{kw})
        t0 = time.monotonic()
        try:
            {call}
            out = {{"kind": "ok", "message": ""}}
        except dprog.DpError as e:
            out = {{"kind": e.kind, "message": str(e).splitlines()[0],
                   "internal": isinstance(e, dprog.DpInternalError)}}
        out["seconds"] = time.monotonic() - t0
        print(json.dumps(out), flush=True)
    main()
""")


def attack(src: str, *, kw: str = "{}", call: str = "it.exec(SRC)", setup: str = "pass",
           mem_mb: int = 1200, wall: float = 60.0) -> dict:
    """Run `src` in a capped child; return its report (kind, message, seconds)."""
    code = _CHILD.format(as_bytes=mem_mb << 20, kw=kw, call=call,
                         setup=setup.replace("\n", "\n        "))
    code = f"SRC = {src!r}\n" + code
    try:
        proc = subprocess.run([sys.executable, "-"], input=code, capture_output=True,
                              text=True, timeout=wall)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the attack ran past the wall-clock cap of {wall} s")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        pytest.fail(f"the child died (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(lines[-1])
    assert not out.get("internal"), out
    return out


def refused(src: str, kind: str = "limits", within: float = 10.0, **kw) -> dict:
    """The attack is a clean DpError of `kind`, reported within `within` seconds."""
    out = attack(src, **kw)
    assert out["kind"] == kind, out
    assert out["seconds"] < within, out
    return out


# ================================================================ memory: integers
@pytest.mark.parametrize("src", [
    "let x = 3; for i in range(40) { x = x ** 2 }",
    "let x = (3 ** 600000) ** 64",
    "let x = 3; for i in range(40) { x = x * x }",
    "let x = 7 ** (2 ** 40)",
])
def test_integer_growth_is_refused_before_computing(src):
    out = refused(src, within=2.0, kw="dict(timeout=1)")
    assert "integer" in out["message"]


def test_a_huge_integer_literal_is_a_clean_error():
    out = refused("let x = " + "9" * 6000)
    assert "digits" in out["message"]


def test_integers_below_the_cap_still_work():
    assert attack("let x = 3 ** 600000\nassert(x % 10 == 1)")["kind"] == "ok"


# ================================================================ source
def test_a_ten_megabyte_string_literal_fits_in_little_memory():
    src = 'let s = "' + "ab" * 5_000_000 + '"\nassert(len(s) == 10000000)'
    assert attack(src, mem_mb=700)["kind"] == "ok"


def test_a_literal_full_of_escapes_too():
    src = 'let s = "' + "a\\n" * 2_000_000 + '"\nassert(len(s) == 4000000)'
    assert attack(src, mem_mb=900)["kind"] == "ok"
