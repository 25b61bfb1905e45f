"""File reading never blocks or reads without bound (issue 18, item 8).

Each reproducer runs in a child process with an address-space cap and a wall-clock
cap, so that a regression fails the test instead of blocking or exhausting the host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import dprog

_CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    import dprog
    kw, src = json.loads(sys.argv[1])
    try:
        dprog.Interpreter(allow_files=True, **kw).exec(src)
        print(json.dumps(["ok", ""]))
    except dprog.DpError as e:
        print(json.dumps([type(e).__name__, e.message]))
""")


def run_capped(src: str, cwd, **limits) -> tuple[str, str]:
    """(error class name or "ok", message) of running `src` in a capped child."""
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps([limits, src])],
                          capture_output=True, text=True, timeout=60, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return tuple(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory):
    """A ~400 KB .npz holding 5·10**7 zeros (400 MB once extracted)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.npz"
    n = 5 * 10**7
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("x.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(
                member, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
            block = bytes(1 << 22)
            for _ in range(n * 8 // len(block)):
                member.write(block)
            member.write(bytes(n * 8 % len(block)))
    assert path.stat().st_size < 1_000_000
    return path


def test_a_zip_bomb_is_refused_before_extraction(zip_bomb):
    kind, msg = run_capped(f'load("{zip_bomb}")', zip_bomb.parent, max_array_elements=1000)
    assert kind == "DpLimitError" and "1000" in msg, msg


def test_a_member_header_is_checked_before_its_data(tmp_path):
    """A member whose declared size is small but whose header claims 10**9 elements."""
    path = tmp_path / "lie.npz"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("x.npy", "w") as member:
            np.lib.format.write_array_header_1_0(
                member, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)})
    kind, msg = run_capped(f'load("{path}")', tmp_path, max_array_elements=1000)
    assert kind == "DpLimitError" and "1000000000" in msg, msg


def test_too_many_members_are_refused(tmp_path):
    np.savez(tmp_path / "many.npz", **{f"a{i}": np.zeros(1) for i in range(20)})
    kind, msg = run_capped('load("many.npz")', tmp_path, max_array_elements=10)
    assert kind == "DpLimitError" and "20 members" in msg, msg


def test_a_large_npy_is_refused_by_its_header(tmp_path):
    np.save(tmp_path / "big.npy", np.zeros(10**6))
    kind, msg = run_capped('load("big.npy")', tmp_path, max_array_elements=1000)
    assert kind == "DpLimitError" and "1000000" in msg, msg


def test_a_large_csv_is_refused(tmp_path):
    (tmp_path / "big.csv").write_text(("0," * 999 + "0\n") * 1000)  # 10**6 elements
    kind, msg = run_capped('read_csv("big.csv")', tmp_path, max_array_elements=1000)
    assert kind == "DpLimitError", msg


def test_a_csv_within_the_bytes_but_over_the_elements_is_refused(tmp_path):
    (tmp_path / "mid.csv").write_text("1,2\n" * 600)  # 1200 elements in 2400 bytes
    kind, msg = run_capped('read_csv("mid.csv")', tmp_path, max_array_elements=1000)
    assert kind == "DpLimitError" and "1200" in msg, msg


def test_a_long_text_is_refused(tmp_path):
    (tmp_path / "t.txt").write_text("x" * 5000)
    kind, msg = run_capped('read_text("t.txt")', tmp_path, max_array_elements=1000)
    assert kind == "DpLimitError", msg
    kind, _ = run_capped('read_text("t.txt")', tmp_path, max_array_elements=10_000)
    assert kind == "ok"


@pytest.mark.parametrize("call", ["read_csv", "load", "read_text"])
def test_dev_zero_is_refused_at_once(tmp_path, call):
    kind, msg = run_capped(f'{call}("/dev/zero")', tmp_path, timeout=2)
    assert kind == "DpImportError" and "a device" in msg, msg


@pytest.mark.parametrize("call", ["read_csv", "load", "read_text"])
def test_a_fifo_never_blocks(tmp_path, call):
    os.mkfifo(tmp_path / "pipe")
    kind, msg = run_capped(f'{call}("pipe")', tmp_path, timeout=2)
    assert kind == "DpImportError" and "FIFO" in msg, msg


@pytest.mark.parametrize("call", ["read_csv", "load", "read_text"])
def test_a_directory_is_a_clear_error(tmp_path, call):
    with pytest.raises(dprog.DpImportError, match="directory") as info:
        dprog.Interpreter(allow_files=True).exec(f'{call}("{tmp_path}")')
    assert info.value.hint


def test_files_within_the_limits_still_load(tmp_path):
    np.save(tmp_path / "ok.npy", np.arange(1000.0))
    np.savez_compressed(tmp_path / "ok.npz", a=np.arange(1000.0), b=np.ones((10, 10)))
    (tmp_path / "ok.csv").write_text("1,2\n" * 500)
    it = dprog.Interpreter(allow_files=True, max_array_elements=1000)
    assert it.eval(f'load("{tmp_path / "ok.npy"}")').shape == (1000,)
    assert it.eval(f'load("{tmp_path / "ok.npz"}")')["b"].shape == (10, 10)
    assert it.eval(f'read_csv("{tmp_path / "ok.csv"}")').shape == (500, 2)


def test_a_damaged_member_is_an_import_error(tmp_path):
    path = tmp_path / "crc.npz"
    np.savez(path, a=np.arange(100.0))
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF  # inside the member's data: the CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(dprog.DpImportError, match="cannot load"):
        dprog.Interpreter(allow_files=True).exec(f'load("{path}")')


def test_a_foreign_member_is_an_import_error(tmp_path):
    path = tmp_path / "f.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(dprog.DpImportError, match="cannot load"):
        dprog.Interpreter(allow_files=True).exec(f'load("{path}")')


def test_many_members_at_the_limit_are_refused_together(tmp_path):
    """20 members of 1000 zeros each pass one by one, not together (a bomb of many)."""
    np.savez_compressed(tmp_path / "wide.npz", **{f"a{i}": np.zeros(1000) for i in range(20)})
    kind, msg = run_capped('load("wide.npz")', tmp_path, max_array_elements=1000)
    assert kind == "DpLimitError" and "members'" in msg, msg
    np.savez_compressed(tmp_path / "ok.npz", **{f"a{i}": np.zeros(1000) for i in range(16)})
    assert run_capped('load("ok.npz")', tmp_path, max_array_elements=1000)[0] == "ok"
