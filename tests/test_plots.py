"""Plot builtins (lib/plots.py): headless PNG/SVG output that is not blank, the same
pixels as matplotlib for the same plot, errors as reports, file access, `show()` and
the `dp` note for figures never saved."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

import dprog
from conftest import run_dp

mpl = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imread  # noqa: E402


@pytest.fixture(autouse=True)
def _headless(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")


def _interp(**kw):
    out = io.StringIO()
    it = dprog.Interpreter(stdout=out, allow_files=True, **kw)
    it.out = out
    return it


def _pixels(path):
    img = imread(str(path))
    assert img.ndim == 3 and img.shape[2] in (3, 4), img.shape
    return img[..., :3]


def _not_blank(path, width, height):
    img = _pixels(path)
    assert img.shape[:2] == (height, width), img.shape
    assert img.std() > 0.05, "the image is (nearly) one colour"
    # more than the frame: a good share of pixels is not background white
    assert (img.min(axis=2) < 0.9).mean() > 0.01


DRAWINGS = {
    "plot": 'plot(linspace(0, 1, 20), sin(6 * linspace(0, 1, 20)), label="s")\nlegend()',
    "plot_columns": "plot(randn(30, 3), label=(\"a\", \"b\", \"c\"), style=\"o-\")\nlegend()",
    "scatter_classes": "scatter(randn(50), randn(50), c=randint(0, 3, 50))\nlegend()",
    "scatter_scale": "scatter(randn(50), randn(50), c=randn(50), size=40)",
    "hist": "hist(randn(400), bins=25, density=true)",
    "imshow": "imshow(reshape(linspace(0, 1, 400), (20, 20)), colorbar=true, origin=\"lower\", "
              "extent=(0, 1, 0, 1), cmap=\"magma\")",
    "subplots_log": "subplot(2, 1, 1)\nplot(exp(linspace(0, 5, 30)))\nyscale(\"log\")\n"
                    "title(\"t\")\nxlabel(\"x\")\nylabel(\"y\")\n"
                    "subplot(2, 1, 2)\nplot(linspace(1, 100, 30), linspace(1, 2, 30))\n"
                    "xscale(\"log\")",
}


@pytest.mark.parametrize("name", sorted(DRAWINGS))
def test_each_drawing_saves_a_png_that_is_not_blank(tmp_path, name):
    it = _interp()
    path = tmp_path / f"{name}.png"
    it.exec(f"seed(1)\nfigure(width=4, height=3)\n{DRAWINGS[name]}\n"
            f"savefig({str(path)!r}, dpi=50)".replace("'", '"'))
    _not_blank(path, 4 * 50, 3 * 50)


def test_a_line_plot_matches_matplotlib_pixel_for_pixel(tmp_path):
    it = _interp()
    mine = tmp_path / "dprog.png"
    it.exec(f'let x = linspace(0, 3, 40)\nplot(x, x ** 2, label="sq", style="r--")\n'
            f'plot(x, 3 * x, label="lin")\ntitle("t")\nxlabel("x")\nylabel("y")\nlegend()\n'
            f'savefig("{mine}")')
    import numpy as np

    x = np.linspace(0, 3, 40)
    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(x, x ** 2, "r--", label="sq")
    ax.plot(x, 3 * x, label="lin")
    ax.set_title("t")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend()
    ref = tmp_path / "matplotlib.png"
    fig.savefig(ref, format="png", dpi=100)
    a, b = _pixels(mine), _pixels(ref)
    assert a.shape == b.shape == (480, 640, 3)
    assert np.abs(a - b).max() < 1e-6


def test_svg_and_pdf(tmp_path):
    it = _interp()
    it.exec(f'plot((1, 3, 2))\nsavefig("{tmp_path / "a.svg"}")\nsavefig("{tmp_path / "a.pdf"}")')
    svg = (tmp_path / "a.svg").read_text()
    assert "<svg" in svg and "</svg>" in svg and svg.count("<path") > 5
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")


def test_traced_values_plot_their_values(tmp_path):
    it = _interp()
    it.exec(f'fn f(x) {{ plot(x, x * x); savefig("{tmp_path / "g.png"}"); return sum(x * x) }}\n'
            'let g = grad(f)(linspace(0, 1, 5))')
    assert it["g"].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    _not_blank(tmp_path / "g.png", 640, 480)


@pytest.mark.parametrize("src, words", [
    ("plot((1, 2, 3), (1, 2))", "x has 3 points but y has 2"),
    ('plot((1, 2), style="q")', "not a valid format string"),
    ('plot((1, 2), color="notacolor")', "`plot`: 'notacolor' is not a valid value for color\n"),
    ('imshow(ones((2, 2)), cmap="nope")', "'nope' is not a valid value for cmap"),
    ("plot(\"abc\")", "expects a number or an array"),
    ('plot((1, 2), label=3)', "label must be a string"),
    ("plot(randn(2, 2), label=(\"a\",))", "1 labels for 2 series"),
    ("legend()", "nothing in the current plot has a label"),
    ('yscale("lg")', 'one of "linear", "log"'),
    ("imshow(ones(3))", "must be a 2-D array"),
    ("hist(ones(3), bins=0)", "bins must be at least 1"),
    ("subplot(2, 2, 5)", "cell 5 is outside the 2 x 2 grid"),
    ("figure(width=0)", "width must be a number of inches"),
    ('plot((1, 2))\nsavefig("out.txt")', "cannot tell the format"),
    ('savefig("x.png")', "there is no figure to save"),
    ("scatter((1, 2), (1, 2), c=(1, 2, 3))", "x has 2 points but y has 3"),
])
def test_bad_arguments_are_dprog_errors(src, words):
    with pytest.raises(dprog.DpError) as info:
        _interp().exec(src)
    report = info.value.report()
    assert words in report, report
    assert "Traceback" not in report and "internal" not in report


def test_savefig_obeys_allow_files(tmp_path):
    it = dprog.Interpreter()  # allow_files=False
    with pytest.raises(dprog.DpError, match="no file access"):
        it.exec(f'plot((1, 2))\nsavefig("{tmp_path / "a.png"}")')
    with pytest.raises(dprog.DpError, match="no file access"):
        it.exec("show()")
    assert not list(tmp_path.iterdir())


def test_savefig_error_leaves_the_old_file(tmp_path):
    old = tmp_path / "a.png"
    old.write_bytes(b"old")
    it = _interp()
    with pytest.raises(dprog.DpError):
        it.exec(f'plot((1, 2))\nsavefig("{old}", dpi=5)')
    assert old.read_bytes() == b"old"


def test_show_without_display_saves_pngs_and_prints_their_paths():
    it = _interp()
    it.exec("plot((1, 2, 3))\nfigure()\nhist(randn(100))\nshow()")
    lines = it.out.getvalue().splitlines()
    assert len(lines) == 2 and all(s.startswith("figure saved to ") for s in lines), lines
    for line in lines:
        path = line[len("figure saved to "):]
        _not_blank(path, 640, 480)
        os.unlink(path)
    it.exec("show()")  # show closed them: nothing more to show
    assert len(it.out.getvalue().splitlines()) == 2


def test_show_hook_receives_figures():
    from dprog.lib.plots import state_of

    it = _interp()
    got = []
    state_of(it.rt).show_hook = got.append
    it.exec("plot((1, 2))\nsubplot(1, 2, 2)\nscatter((1, 2), (3, 4))\nshow()")
    assert len(got) == 1 and len(got[0].axes) == 2


def test_interpreters_have_their_own_figures(tmp_path):
    a, b = _interp(), _interp()
    a.exec("plot((1, 2))")
    with pytest.raises(dprog.DpError, match="no figure"):
        b.exec(f'savefig("{tmp_path / "b.png"}")')


def test_dp_notes_figures_never_saved(tmp_path):
    prog = tmp_path / "p.dp"
    prog.write_text('plot((1, 2, 3))\nprint("done")\n')
    env_run = run_dp(str(prog), cwd=tmp_path)
    assert env_run.returncode == 0 and env_run.stdout == "done\n"
    assert "drew a figure but never saved or showed it" in env_run.stderr
    assert 'savefig("figure.png")' in env_run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.dp"]  # no file written
    prog.write_text(f'plot((1, 2, 3))\nsavefig("{tmp_path / "f.png"}")\n')
    saved = run_dp(str(prog), cwd=tmp_path)
    assert saved.returncode == 0 and saved.stderr == "", saved.stderr


def test_programs_that_do_not_plot_do_not_import_matplotlib():
    code = ("import sys, dprog\ndprog.Interpreter().exec('print(1)')\n"
            "from dprog.tools import cli\n"
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out == "1\nFalse\n"


def test_has_display(monkeypatch):
    from dprog.lib.plots import has_display

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("MPLBACKEND")
    assert has_display()
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert not has_display()
    monkeypatch.delenv("MPLBACKEND")
    monkeypatch.delenv("DISPLAY")
    assert not has_display()


def test_a_display_that_cannot_be_opened_falls_back_to_files(monkeypatch):
    """DISPLAY names no X server: no window can open, so show() saves PNGs."""
    if sys.platform != "linux":
        pytest.skip("X displays are a Linux matter")
    monkeypatch.delenv("MPLBACKEND")
    monkeypatch.setenv("DISPLAY", ":97")
    code = ("import dprog, io\nout = io.StringIO()\n"
            "dprog.Interpreter(stdout=out, allow_files=True).exec('plot((1, 2))\\nshow()')\n"
            "print(out.getvalue().strip())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    path = proc.stdout.strip()[len("figure saved to "):]
    assert proc.stdout.startswith("figure saved to ") and os.path.isfile(path)
    os.unlink(path)
