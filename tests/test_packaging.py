"""Packaging: the standard library is found from the checkout and from an installed wheel.

The wheel test builds dprog from a copy of the sources (so the checkout gets no build/
directory), installs it with pip into a fresh venv and runs `dp` there from a directory
outside the checkout. The new venv borrows numpy / lark / prompt_toolkit from the current
venv through a .pth line (no downloads); dprog itself must come from the wheel, which the
test verifies. Runs in the default test run; takes about 5-20 s.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

STDLIB_FILES = sorted(p.name for p in (ROOT / "stdlib").glob("*.dp"))


def _env():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DPROG_STDLIB", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(NO_COLOR="1", TERM="dumb", PYTHONIOENCODING="utf-8", PIP_NO_INPUT="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def _run(cmd, cwd, timeout=180):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=_env(), check=False)
    assert proc.returncode == 0, (f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                                  f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _can_build_without_isolation() -> bool:
    """The current venv's setuptools can build a wheel itself (needs `wheel` before 70.1)."""
    if importlib.util.find_spec("setuptools") is None:
        return False
    if importlib.util.find_spec("wheel") is not None:
        return True
    import setuptools

    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a clean copy of the sources."""
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("lang", "stdlib"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    out = tmp_path_factory.mktemp("wheelhouse")
    cmd = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", out]
    if _can_build_without_isolation():
        cmd.append("--no-build-isolation")   # offline: use this venv's setuptools
    _run(cmd, cwd=src, timeout=300)
    wheels = list(out.glob("dprog-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_ships_the_stdlib(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert STDLIB_FILES and {"optim.dp", "nn.dp", "ode.dp"} <= set(STDLIB_FILES)
    for f in STDLIB_FILES:
        assert f"dprog/stdlib/{f}" in names, sorted(names)
    assert "dprog/syntax/grammar.lark" in names
    assert "dprog/__init__.py" in names and "dprog/tools/cli.py" in names
    # pyproject lists the packages explicitly: a new subpackage must be added there
    pkg = ROOT / "lang" / "dprog"
    for py in pkg.rglob("*.py"):
        assert f"dprog/{py.relative_to(pkg).as_posix()}" in names, \
            f"{py} is missing from the wheel (add its package to [tool.setuptools] packages)"
    assert not any(n.startswith(("stdlib/", "lang/", "tests/")) for n in names), sorted(names)


def _fresh_venv(wheel, tmp_path) -> Path:
    """The Python of a new venv with the wheel installed (dependencies borrowed)."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    py = venv / "bin" / "python"
    if not py.exists():  # pragma: no cover - Windows layout
        py = venv / "Scripts" / "python.exe"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp_path).stdout.strip())
    # dependencies from this venv (a plain path entry: its .pth files, including the
    # editable install of dprog, are not processed there)
    (site / "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index",
          wheel], cwd=tmp_path)
    return py


def test_wheel_installed_in_a_fresh_venv(wheel, tmp_path):
    py = _fresh_venv(wheel, tmp_path)
    venv = tmp_path / "venv"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    code = "import dprog, dprog.host.interpreter as i; print(dprog.__file__); print(i.stdlib_dir())"
    where = _run([py, "-c", code], cwd=outside).stdout.split()
    assert Path(where[0]).resolve().is_relative_to(venv.resolve()), where
    assert Path(where[1]).resolve() == (Path(where[0]).parent / "stdlib").resolve(), where
    assert not Path(where[0]).resolve().is_relative_to(ROOT.resolve())

    dp = py.parent / "dp"
    proc = _run([dp, "-c", "import optim; print(1)"], cwd=outside)
    assert proc.stdout.strip() == "1", proc.stdout + proc.stderr
    code = ("import ode\nimport nn\n"
            "print(round(ode.odeint(fn(y, t, k) => -k * y, 1.0, [0.0, 1.0], 1.0, "
            "substeps=20)[-1], 6), nn.one_hot(1, 3))")
    proc = _run([dp, "-c", code], cwd=outside)
    assert proc.stdout.split()[0] == "0.367879", proc.stdout
    # errors inside the installed stdlib are reported, not raised as tracebacks
    bad = subprocess.run([str(dp), "-c", 'import optim\noptim.by_name("nope", 0.1)'],
                         cwd=outside, capture_output=True, text=True, timeout=60, env=_env(),
                         check=False)
    assert bad.returncode == 1 and "unknown method" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_checkout_finds_the_stdlib_from_another_directory(tmp_path):
    """The editable install (the dev venv) reads <checkout>/stdlib."""
    code = "import optim; import nn; import ode; print(optim.global_norm([3.0, 4.0]))"
    proc = _run([sys.executable, "-m", "dprog", "-c", code], cwd=tmp_path)
    assert proc.stdout.strip() == "5.0"


def test_local_module_shadows_the_stdlib(tmp_path):
    """SPEC §4: the importing file's directory is searched before the stdlib."""
    (tmp_path / "optim.dp").write_text("let name = \"local\"\n")
    (tmp_path / "main.dp").write_text("import optim\nprint(optim.name)\n")
    proc = _run([sys.executable, "-m", "dprog", "main.dp"], cwd=tmp_path)
    assert proc.stdout.strip() == "local"


def test_wheel_kernel_lexer_and_plots(wheel, tmp_path):
    """The notebook side works from the wheel: `dp kernel install`, the kernel it
    registers (a cell that plots), the Pygments entry point, savefig."""
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    jupyter_client = pytest.importorskip("jupyter_client")
    py = _fresh_venv(wheel, tmp_path)
    venv = (tmp_path / "venv").resolve()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    dp = py.parent / "dp"
    _run([dp, "-c", 'plot((1, 3, 2), label="a")\nlegend()\nsavefig("a.png")'], cwd=outside)
    assert (outside / "a.png").read_bytes().startswith(b"\x89PNG")
    code = ("import sys; from pygments.lexers import get_lexer_by_name\n"
            "lx = get_lexer_by_name('dprog')\n"
            "print(sys.modules[type(lx).__module__].__file__)\n"
            "print(sum(1 for t, v in lx.get_tokens('fn f(x) { return sum(x) }')))")
    where, count = _run([py, "-c", code], cwd=outside).stdout.split()
    assert Path(where).resolve().is_relative_to(venv) and int(count) > 10

    _run([dp, "kernel", "install", "--prefix", tmp_path / "jup"], cwd=outside)
    spec = tmp_path / "jup" / "share" / "jupyter" / "kernels" / "dprog" / "kernel.json"
    assert Path(json.loads(spec.read_text())["argv"][0]).parent.resolve() == py.parent.resolve()
    ksm = jupyter_client.kernelspec.KernelSpecManager(
        kernel_dirs=[str(spec.parent.parent)])
    km = jupyter_client.KernelManager(kernel_name="dprog", kernel_spec_manager=ksm)
    km.start_kernel(cwd=str(outside), env=dict(_env(), MPLBACKEND="Agg"))
    kc = km.client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        kinds = []
        reply = kc.execute_interactive("plot((1, 2))\nprint(1 + 1)", timeout=60,
                                       output_hook=lambda m: kinds.append(m["msg_type"]))
        assert reply["content"]["status"] == "ok"
        assert "display_data" in kinds and "stream" in kinds, kinds
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
