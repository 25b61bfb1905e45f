"""Regression tests for the attack run of the security issue (items 1 and 9 so far).

Each test is a reproducer from the issue: it failed on main before its fix.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import dprog


# ------------------------------------------------- item 1: import sandbox bypass
@pytest.fixture
def secret_module(tmp_path, monkeypatch):
    (tmp_path / "config.dp").write_text("let secret = 42\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", ["user.dp", "config.dp", "./user.dp", "sub/x.dp"])
def test_a_file_like_name_does_not_open_the_working_directory(secret_module, name):
    with pytest.raises(dprog.DpImportError, match="no module named `config`"):
        dprog.Interpreter().exec("import config\nprint(config.secret)", name=name)


def test_an_absolute_name_does_not_open_its_directory(secret_module, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("cwd")
    os.chdir(elsewhere)
    with pytest.raises(dprog.DpImportError):
        dprog.Interpreter().exec("import config", name=str(secret_module / "x.dp"))


def test_a_module_file_is_never_quoted_without_file_access(tmp_path, monkeypatch):
    (tmp_path / "passwd.dp").write_text("root:x:0:0:root:/root:/bin/bash\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(dprog.DpImportError) as info:
        dprog.Interpreter().exec("import passwd", name=str(tmp_path / "a.dp"))
    assert "root:x" not in str(info.value)


def test_file_access_still_imports_beside_the_named_file(secret_module, tmp_path_factory):
    os.chdir(tmp_path_factory.mktemp("cwd"))
    it = dprog.Interpreter(allow_files=True)
    it.exec("import config", name=str(secret_module / "x.dp"))
    assert it.eval("config.secret") == 42


def test_run_file_imports_beside_its_file_without_file_access(secret_module):
    (secret_module / "main.dp").write_text("import config\nlet got = config.secret\n")
    it = dprog.Interpreter()
    it.run_file(secret_module / "main.dp")
    assert it["got"] == 42


# ------------------------------------------------- item 9: save keeps the old file
def _saver(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return dprog.Interpreter(allow_files=True)


@pytest.mark.parametrize("bad", ["2**2000", "{w: [1.0], b: \"text\"}", "(1, 2)",
                                 "{w: 2**2000}"])
def test_a_value_that_cannot_be_saved_leaves_the_old_file(tmp_path, monkeypatch, bad):
    it = _saver(tmp_path, monkeypatch)
    it.exec('save("w.npy", [1.0, 2.0])')
    before = (tmp_path / "w.npy").read_bytes()
    with pytest.raises(dprog.DpError):
        it.exec(f'save("w.npy", {bad})')
    assert (tmp_path / "w.npy").read_bytes() == before
    assert it.eval('load("w.npy")').tolist() == [1.0, 2.0]
    assert sorted(os.listdir(tmp_path)) == ["w.npy"]  # no temporary file left behind


@pytest.mark.parametrize("field", ["file", "allow_pickle", "args", "kwds"])
def test_record_fields_are_saved_exactly(tmp_path, monkeypatch, field):
    it = _saver(tmp_path, monkeypatch)
    it.exec(f'save("r.npz", {{{field}: [1.0], other: 2}})')
    got = it.eval('load("r.npz")')
    assert sorted(got) == sorted([field, "other"])
    assert got[field].tolist() == [1.0] and float(got["other"]) == 2.0
    with np.load(tmp_path / "r.npz") as z:  # and NumPy reads the same archive
        assert sorted(z.files) == sorted([field, "other"])


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    it = _saver(tmp_path, monkeypatch)
    it.exec('save("w.npy", [3.0])')
    (tmp_path / "w.npy").chmod(0o644)
    with pytest.raises(dprog.DpImportError):
        it.exec('save("no/such/dir/w.npy", [1.0])')
    assert it.eval('load("w.npy")').tolist() == [3.0]


def test_a_kill_during_save_leaves_the_old_file(tmp_path):
    """SIGKILL part-way through a large save: the old file still loads."""
    target = tmp_path / "w.npy"
    np.save(target, np.arange(4.0))
    old_size = target.stat().st_size
    src = f"save({json.dumps(str(target))}, ones(20000000))"
    script = textwrap.dedent(f"""
        import dprog
        it = dprog.Interpreter(allow_files=True)
        print("go", flush=True)
        it.exec({src!r})
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "go"
    # wait until the temporary file is being written, then kill the writer
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.name.startswith(".dp-save-") for p in tmp_path.iterdir()) or \
                target.stat().st_size != old_size:  # writing began (beside or in place)
            break
        if child.poll() is not None:
            break
        time.sleep(0.001)
    child.send_signal(signal.SIGKILL)
    child.wait()
    got = np.load(target)  # old or new, never a broken file
    assert got.tolist() == [0.0, 1.0, 2.0, 3.0] or got.shape == (20000000,)


# ------------------------------------------------- item 11: limits are validated
@pytest.mark.parametrize("kw", [{"timeout": float("nan")}, {"timeout": 0}, {"timeout": -1.0},
                                {"max_steps": float("nan")}, {"max_depth": 0},
                                {"max_array_elements": -5}])
def test_bad_limits_are_refused_when_given(kw):
    with pytest.raises(ValueError):
        dprog.Interpreter(**kw)


@pytest.mark.parametrize("timeout", [0, float("nan"), -2])
def test_a_per_call_timeout_is_validated_too(timeout):
    it = dprog.Interpreter()
    for call in (lambda: it.exec("let x = 1", timeout=timeout),
                 lambda: it.eval("1", timeout=timeout)):
        with pytest.raises(ValueError, match="timeout"):
            call()
    assert it.eval("1 + 1", timeout=5) == 2  # a valid override still works


# ------------------------------------------------- item 10: clean reports, not internal errors
@pytest.mark.parametrize("src", [
    "zeros(10**5000)", '"a" * 10**5000', "let v = [1.0]\nv[10**5000]",
    "let v = [1.0]\nv[-10**5000] = 2.0", "let t = (1, 2)\nt[10**5000]",
    'load("/dev/null")', 'load("a\\x00b")', 'read_csv("a\\x00b")', 'save("a\\x00b", 1.0)',
])
def test_no_internal_error(tmp_path, monkeypatch, src):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(dprog.DpError) as info:
        dprog.Interpreter(allow_files=True).exec(src)
    assert not isinstance(info.value, dprog.DpInternalError), info.value.report()
    assert len(info.value.message) < 300  # no integer printed digit by digit


@pytest.mark.parametrize("content", [b"", b"x", b"PK\x03\x04broken", b"\x93NUMPY\x01\x00"])
def test_damaged_data_files_are_import_errors(tmp_path, content):
    for name in ("d.npz", "d.npy"):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(dprog.DpImportError, match="cannot load"):
            dprog.Interpreter(allow_files=True).exec(f'load("{tmp_path / name}")')


def test_an_object_array_in_an_npz_is_refused(tmp_path):
    np.savez(tmp_path / "o.npz", ok=np.ones(2), bad=np.array([{"a": 1}], dtype=object))
    with pytest.raises(dprog.DpImportError, match="cannot load"):
        dprog.Interpreter(allow_files=True).exec(f'load("{tmp_path / "o.npz"}")')


def test_arange_of_huge_bounds():
    assert dprog.Interpreter().eval("arange(2**70, 0)").shape == (0,)
    with pytest.raises(dprog.DpValueError, match="too large"):
        dprog.Interpreter().eval("arange(10**400)")
