"""The REPL end to end in a real pseudo-terminal: `python -m dprog` driven by pexpect.

Only a real terminal exercises what users meet: prompt_toolkit's raw mode,
the tty turning Ctrl-C into SIGINT while a program runs, and Ctrl-D on an
empty line. Timeouts are generous so a loaded machine does not make it flaky.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

TIMEOUT = 30


def spawn(tmp_path, *args):
    env = dict(os.environ, HOME=str(tmp_path), DP_HISTORY=str(tmp_path / "history"),
               TERM="xterm", NO_COLOR="1", PYTHONIOENCODING="utf-8",
               PROMPT_TOOLKIT_NO_CPR="1")  # nobody answers cursor-position requests here
    # SIGINT's default restored in the child (a background test run inherits it ignored)
    child = pexpect.spawn(sys.executable, ["-m", "dprog", *args], env=env, cwd=str(tmp_path),
                          encoding="utf-8", timeout=TIMEOUT, dimensions=(40, 120),
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    child.expect_exact("dp> ")
    return child


def run(child, line: str, expect: str | None = None) -> None:
    """Type a line and press Enter; wait for `expect` (a regex), then for the next prompt."""
    child.send(line + "\r")
    if expect is not None:
        child.expect(expect)
    child.expect_exact("dp> ")


def finish(child) -> int:
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_session_in_a_pseudo_terminal(tmp_path):
    (tmp_path / "lib.dp").write_text("let base = 40\nfn add2(x) { return x + 2 }\n")
    child = spawn(tmp_path, "-i", "lib.dp")  # runs the file, then the REPL has its names
    try:
        run(child, "add2(base)", r"\D42\r\n")
        # a multi-line function: Enter continues while the block is open
        child.send("fn sq(x) {\r")
        child.expect_exact("... ")
        child.send("return x * x\r")
        child.expect_exact("... ")
        run(child, "}")
        run(child, "sq(12)", r"\D144\r\n")
        # an error is reported and the session keeps its names
        run(child, "sq(nope)", r"error: undefined name `nope`")
        run(child, "let k = 5")
        run(child, "sq(k) + 1", r"\D26\r\n")

        # Ctrl-C interrupts a running loop quickly and the session survives
        child.send("while true { }\r")
        time.sleep(0.5)  # let the prompt hand the terminal back before SIGINT
        for _ in range(10):
            sent = time.monotonic()
            child.sendintr()
            if child.expect([r"interrupted", pexpect.TIMEOUT], timeout=3) == 0:
                break
        else:
            pytest.fail("Ctrl-C did not interrupt the loop")
        assert time.monotonic() - sent < 3
        child.expect_exact("dp> ")
        run(child, "sq(k)", r"\D25\r\n")

        # Ctrl-C while typing drops the line
        child.send("let dropped = 1")
        child.sendintr()
        child.expect_exact("dp> ")
        run(child, "dropped", r"undefined name `dropped`")
        run(child, ":vars", r"add2\s+function\s+add2\(x\)")

        assert finish(child) == 0
    finally:
        if child.isalive():
            child.terminate(force=True)
    history = (tmp_path / "history").read_text(encoding="utf-8")
    assert "+fn sq(x) {" in history and "+sq(k) + 1" in history
