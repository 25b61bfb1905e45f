"""The Jupyter kernel (tools/kernel.py), driven through jupyter_client as a notebook
would: one kernel for the module (it takes a second or two to start)."""

from __future__ import annotations

import base64
import json
import os
import sys
import time

import pytest

pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")
jupyter_client = pytest.importorskip("jupyter_client")

from dprog.lib.builtins import BUILTIN_TABLE  # noqa: E402
from dprog.tools.kernel import name_at  # noqa: E402
from dprog.tools.kernelspec import kernel_spec  # noqa: E402


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A running dprog kernel and its client, from a kernel spec in a temporary folder."""
    folder = tmp_path_factory.mktemp("jupyter") / "kernels" / "dprog"
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps(kernel_spec()))
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(folder.parent.parent)
    env = dict(os.environ, MPLBACKEND="Agg")
    km = jupyter_client.KernelManager(kernel_name="dprog")
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    if saved is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = saved


def run(kc, code, timeout=60):
    """Execute a cell: (its iopub messages as (arrival time, type, content), the reply)."""
    msgs = []
    # stop_on_error=False: after an error ipykernel aborts the requests that arrive
    # in the next instant (the rest of a "Run all"), which would race with the next test
    reply = kc.execute_interactive(
        code, timeout=timeout, stop_on_error=False,
        output_hook=lambda m: msgs.append((time.monotonic(), m["msg_type"], m["content"])))
    return [m for m in msgs if m[1] not in ("status", "execute_input")], reply["content"]


def stdout_of(msgs):
    return "".join(c["text"] for _, t, c in msgs if t == "stream" and c["name"] == "stdout")


def test_state_persists_across_cells_and_the_last_value_is_the_result(kernel):
    _, kc = kernel
    msgs, reply = run(kc, "let a = 20\nfn twice(x) { return 2 * x }")
    assert reply["status"] == "ok" and msgs == []
    msgs, reply = run(kc, "twice(a) + 2")
    assert reply["status"] == "ok"
    [(_, kind, content)] = msgs
    assert kind == "execute_result" and content["data"]["text/plain"] == "42"


def test_values_and_prints_keep_their_order(kernel):
    _, kc = kernel
    msgs, _ = run(kc, 'print("one")\n"two"\nprint("three")\n[1, 2]')
    assert stdout_of(msgs) == 'one\n"two"\nthree\n'
    assert msgs[-1][1] == "execute_result"
    assert msgs[-1][2]["data"]["text/plain"] == "[1. 2.]"


def test_print_streams_while_the_cell_runs(kernel):
    _, kc = kernel
    loop = "let s = 0\nfor k in range({}) {{ s += k }}\n"
    t0 = time.monotonic()
    run(kc, loop.format(100_000))
    n = min(int(200_000 / max(time.monotonic() - t0, 0.01)), 40_000_000)  # about 2 s
    msgs, reply = run(kc, 'print("start")\n' + loop.format(n) + 'print("end")')
    assert reply["status"] == "ok"
    streams = [(t, c["text"]) for t, kind, c in msgs if kind == "stream"]
    start = next(t for t, text in streams if "start" in text)
    end = next(t for t, text in streams if "end" in text)
    # "start" arrived while the loop still ran (ipykernel sends output every 0.2 s)
    assert end - start > 0.4, streams


def test_an_error_is_the_cli_report(kernel):
    _, kc = kernel
    msgs, reply = run(kc, "let v = [1, 2]\nprint(v[5])")
    assert reply["status"] == "error"
    [(_, kind, content)] = [m for m in msgs if m[1] == "error"]
    report = "\n".join(content["traceback"])
    assert report.startswith("error: ") and "v[5]" in report and "^" in report
    assert "Traceback" not in report and 'File "' not in report
    assert content["evalue"] in report and content["ename"] == "DpIndexError"
    msgs, reply = run(kc, "v")  # the names defined before the error stay
    assert reply["status"] == "ok" and msgs[-1][2]["data"]["text/plain"] == "[1. 2.]"


def test_meta_commands_work_but_quit_does_not_end_the_kernel(kernel):
    _, kc = kernel
    run(kc, "let listed_here = 5")
    msgs, reply = run(kc, ":vars")
    assert reply["status"] == "ok" and "listed_here" in stdout_of(msgs)
    msgs, reply = run(kc, ":quit")
    assert reply["status"] == "error" and "Kernel menu" in reply["traceback"][0]
    assert run(kc, "1 + 1")[1]["status"] == "ok"


def test_interrupt_stops_a_long_loop_and_keeps_the_state(kernel):
    km, kc = kernel
    run(kc, "let kept = 7\nlet i = 0")
    msg_id = kc.execute("while true { i += 1 }", stop_on_error=False)
    time.sleep(1.0)
    km.interrupt_kernel()
    deadline = time.monotonic() + 30
    while True:
        reply = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "error"
    assert reply["content"]["evalue"] == "interrupted"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    msgs, reply = run(kc, "print(kept, i > 0)")
    assert reply["status"] == "ok" and stdout_of(msgs) == "7 true\n"


def test_plots_appear_inline_as_png(kernel):
    _, kc = kernel
    msgs, reply = run(kc, 'plot((1, 4, 9), label="sq")\nlegend()')
    assert reply["status"] == "ok"
    [(_, kind, content)] = msgs
    assert kind == "display_data"
    png = base64.b64decode(content["data"]["image/png"])
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert content["metadata"]["image/png"] == {"width": 640, "height": 480}
    msgs, _ = run(kc, "1")  # the cell's figure was closed after it was shown
    assert [m[1] for m in msgs] == ["execute_result"]
    msgs, _ = run(kc, "hist(randn(50))\nshow()\nprint(\"after\")\nfigure()\nplot((1, 2))")
    assert [m[1] for m in msgs] == ["display_data", "stream", "display_data"]


def test_progress_draws_in_the_notebook(kernel):
    _, kc = kernel
    # each step lasts 0.25 s: a bar appears only after 0.5 s (its first rate must mean
    # something), so a loop this long draws one
    msgs, reply = run(kc, 'let t = 0\nfor k in progress(range(3), label="work") {\n'
                          '  let t0 = time()\n  while time() - t0 < 0.25 { }\n  t += k\n}\nt')
    assert reply["status"] == "ok"
    err = "".join(c["text"] for _, kind, c in msgs if kind == "stream" and c["name"] == "stderr")
    assert "work" in err and "3/3" in err
    assert msgs[-1][2]["data"]["text/plain"] == "3"


def test_completion(kernel):
    _, kc = kernel
    run(kc, "let learning_rate = 0.1")
    msg_id = kc.complete("let y = learn", 13)
    reply = kc.get_shell_msg(timeout=30)
    assert reply["parent_header"]["msg_id"] == msg_id
    content = reply["content"]
    assert content["matches"] == ["learning_rate"]
    assert (content["cursor_start"], content["cursor_end"]) == (8, 13)
    kc.complete("linsp", 5)
    assert "linspace" in kc.get_shell_msg(timeout=30)["content"]["matches"]


@pytest.mark.parametrize("code, cursor, words", [
    ("linspace", 3, BUILTIN_TABLE["linspace"].signature),
    ("plot(x, ", 8, BUILTIN_TABLE["plot"].signature),
    ("twice(3)", 2, "user function"),
])
def test_inspection_is_the_help_text(kernel, code, cursor, words):
    _, kc = kernel
    run(kc, "fn twice(x) { return 2 * x }")
    kc.inspect(code, cursor)
    content = kc.get_shell_msg(timeout=30)["content"]
    assert content["found"] and words in content["data"]["text/plain"]


def test_is_complete(kernel):
    _, kc = kernel
    kc.is_complete("fn f(x) {")
    assert kc.get_shell_msg(timeout=30)["content"]["status"] == "incomplete"
    kc.is_complete("f(1)")
    assert kc.get_shell_msg(timeout=30)["content"]["status"] == "complete"


def test_kernel_info_names_the_lexer(kernel):
    _, kc = kernel
    kc.kernel_info()
    info = kc.get_shell_msg(timeout=30)["content"]
    assert info["language_info"]["name"] == "dprog"
    assert info["language_info"]["pygments_lexer"] == "dprog"


def test_name_at():
    assert name_at("print(optim.minimize", 20) == "optim.minimize"
    assert name_at("sum(x, axis=", 12) == "sum"
    assert name_at("sum(f(x), ", 10) == "sum"
    assert name_at("(1 + ", 5) is None


def test_dp_kernel_install_with_prefix(tmp_path):
    from conftest import run_dp

    done = run_dp("kernel", "install", "--prefix", str(tmp_path), "--name", "dp-test")
    assert done.returncode == 0, done.stderr
    spec = json.loads((tmp_path / "share/jupyter/kernels/dp-test/kernel.json").read_text())
    assert spec["argv"][:3] == [sys.executable, "-m", "dprog.tools.kernel"]
    assert spec["language"] == "dprog"
    bad = run_dp("kernel", "install", "--user", "--prefix", str(tmp_path))
    assert bad.returncode == 2 and "only one of" in bad.stderr
    assert run_dp("kernel", "frobnicate").returncode == 2
