"""`progress` and `print` share a terminal: printed lines go above the bar, the bar
waits half a second (so its first rate means something), nothing is drawn off a tty."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

SLOW_LOOP = """
let s = 0
for i in progress(range(30), label="train") {
  let t0 = time()
  while time() - t0 < 0.04 { s += 1 }
  if i % 10 == 0 { print(f"step {i}") }
}
print("done")
"""


def run_in_pty(tmp_path, src: str) -> str:
    (tmp_path / "p.dp").write_text(src)
    env = dict(os.environ, TERM="xterm", NO_COLOR="1", PYTHONIOENCODING="utf-8")
    child = pexpect.spawn(sys.executable, ["-m", "dprog", "p.dp"], env=env, cwd=str(tmp_path),
                          encoding="utf-8", timeout=60, dimensions=(24, 100))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return child.before


def test_printed_lines_go_above_the_bar(tmp_path):
    out = run_in_pty(tmp_path, SLOW_LOOP)
    for k in (0, 10, 20):  # each printed line whole, at the start of a line
        assert re.search(rf"(^|\r|\n)step {k}\r\n", out), out
    # after a line printed while the bar is shown, the bar is drawn again below it
    after = out.split("step 20\r\n", 1)[1]
    assert after.lstrip("\r").startswith("train:"), after[:80]
    assert "30/30" in out and out.rstrip().endswith("done")
    bars = [seg for seg in re.split(r"[\r\n]+", out) if seg.startswith("train:")]
    assert bars and "/s" in bars[-1]


def test_a_short_loop_draws_no_bar(tmp_path):
    out = run_in_pty(tmp_path, 'for i in progress(range(5), label="quick") { print(i) }\n')
    assert "quick" not in out and out.replace("\r", "").split() == ["0", "1", "2", "3", "4"]


def test_off_a_terminal_progress_is_silent(tmp_path):
    (tmp_path / "p.dp").write_text(SLOW_LOOP.replace("0.04", "0.001"))
    proc = subprocess.run([sys.executable, "-m", "dprog", "p.dp"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.stderr == "" and proc.stdout.split("\n")[:3] == ["step 0", "step 10", "step 20"]


def test_breaking_out_of_a_bar_restores_print(tmp_path):
    src = SLOW_LOOP.replace('print("done")', 'for j in progress(range(3)) { break }\n'
                                             'print("after")')
    out = run_in_pty(tmp_path, src)
    assert re.search(r"(^|\r|\n)after\r\n", out), out


def test_tqdm_is_not_imported_at_start_up():
    proc = subprocess.run([sys.executable, "-c", "import sys, dprog\n"
                           "dprog.Interpreter().exec('for i in progress(range(3)) { }')\n"
                           "print('tqdm' in sys.modules)"],
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False"


def test_no_thread_is_left_running(tmp_path):
    script = ("import sys, threading, dprog\n"
              "class Tty:\n"
              "    def write(self, s): pass\n"
              "    def flush(self): pass\n"
              "    def isatty(self): return True\n"
              "it = dprog.Interpreter(stderr=Tty())\n"
              "it.exec('let t0 = time()\\nfor i in progress(range(20)) '\n"
              "        '{ while time() - t0 < 0.03 * i { } }')\n"
              "print('tqdm' in sys.modules, threading.active_count())")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.split() == ["True", "1"], proc.stderr
