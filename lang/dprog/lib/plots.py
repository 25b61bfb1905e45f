"""Plot builtins: a small pyplot-like vocabulary drawn with matplotlib.

The state is pyplot's: a current figure and a current axes that `plot`, `scatter`,
`hist`, `imshow`, `title` ... draw on, made on first use. Each interpreter keeps its
own (`FigureState`, on its `Runtime`), so two interpreters never draw on each other's
figures. matplotlib is imported only when a program first plots: `dp -c "print(1)"`
never pays for it, and dprog runs without it installed.

Where a figure goes: `savefig(path)` writes it (PNG, SVG or PDF; with file access
only); `show()` hands every figure not yet shown to the host's show hook (the Jupyter
kernel's inline display), else opens windows when a display exists, else saves PNGs
to fresh temporary files and prints their paths. A figure drawn but never saved or
shown is reported by `unfinished_figures` (the `dp` command prints a note).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import contextmanager

from ..core.backend import xp
from ..core.errors import DpImportError, DpShapeError, DpTypeError, DpValueError
from ..core.values import kind_of, show, strip
from .files import _file_access, _path, _replace_atomically
from .table import _bool_arg, _int_arg, _num, builtin

FORMATS = ("png", "svg", "pdf")
SCALES = ("linear", "log", "symlog", "logit")
# class labels with at most this many distinct integer values get one colour each
_MAX_CLASSES = 20
# open figures kept before the saved ones are let go (pyplot warns at 20)
_MAX_OPEN = 20


class _Figure:
    """One figure: the matplotlib Figure, its axes by grid position, the current axes."""

    __slots__ = ("fig", "axes", "current", "dirty")

    def __init__(self, fig):
        self.fig = fig
        self.axes: dict[tuple[int, int, int], object] = {}
        self.current = None
        self.dirty = False  # drawn on since it was last saved or shown


class FigureState:
    """The figures of one interpreter. `show_hook(fig)`, when a host sets it, receives
    each matplotlib Figure that `show()` displays (the kernel sends it inline)."""

    def __init__(self) -> None:
        self.figures: list[_Figure] = []
        self.show_hook: Callable[[object], None] | None = None
        self.windows: bool | None = None  # pyplot windows: decided at the first figure

    @property
    def current(self) -> _Figure | None:
        return self.figures[-1] if self.figures else None

    def pending(self) -> list[_Figure]:
        """Figures drawn on since they were last saved or shown."""
        return [f for f in self.figures if f.dirty]

    def close_all(self) -> None:
        if self.windows:
            from matplotlib import pyplot as plt  # (only when windows are in use)
            for f in self.figures:
                plt.close(f.fig)
        self.figures.clear()


def state_of(rt) -> FigureState:
    """The interpreter's figure state, made on first use."""
    st = getattr(rt, "plots", None)
    if st is None:
        st = rt.plots = FigureState()
    return st


def unfinished_figures(rt) -> int:
    """How many figures the program drew on and then neither saved nor showed."""
    st = getattr(rt, "plots", None)
    return len(st.pending()) if st is not None else 0


# ======================================================================= matplotlib
def _matplotlib():
    """matplotlib, imported here on first use (it costs ~0.3-1 s)."""
    try:
        import matplotlib
        import matplotlib.figure  # noqa: F401 - Figure, used through the module
    except ImportError:
        raise DpImportError("plotting needs matplotlib, which is not installed", None,
                            "install it: pip install 'dprog[plots]'") from None
    return matplotlib


def has_display() -> bool:
    """Whether windows can be opened: a graphical session, and no MPLBACKEND forcing
    a file-only backend."""
    backend = os.environ.get("MPLBACKEND", "").lower()
    if backend in ("agg", "pdf", "svg", "ps", "cairo", "template") or \
            backend.startswith("module://matplotlib_inline"):
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _new_figure(st: FigureState, width: float = 6.4, height: float = 4.8) -> _Figure:
    mpl = _matplotlib()
    if st.windows is None:
        st.windows = st.show_hook is None and has_display()
    fig = _window_figure(st, width, height) if st.windows else None
    if fig is None:
        fig = _Figure(mpl.figure.Figure(figsize=(width, height), layout="constrained"))
    if len(st.figures) >= _MAX_OPEN:  # a loop saving many figures: forget saved ones
        st.figures = [f for f in st.figures if f.dirty]
    st.figures.append(fig)
    return fig


def _window_figure(st: FigureState, width: float, height: float) -> _Figure | None:
    """A pyplot figure, which show() opens in a window; None (and no windows from now
    on) when no GUI toolkit is installed or the display cannot be opened."""
    from matplotlib import pyplot as plt  # a window manager for show()

    try:
        if plt.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo", "template"):
            return _Figure(plt.figure(figsize=(width, height), layout="constrained"))
    except Exception:  # noqa: BLE001 - e.g. Tk's TclError: no display after all
        pass
    st.windows = False
    return None


def _axes(rt):
    """The current axes (a new figure with one axes if there is none)."""
    st = state_of(rt)
    f = st.current or _new_figure(st)
    if f.current is None:
        f.current = f.axes[(1, 1, 1)] = f.fig.add_subplot(1, 1, 1)
    f.dirty = True
    return f.current


@contextmanager
def _drawing(name: str):
    """matplotlib's complaints about arguments as dprog errors."""
    try:
        yield
    except (ValueError, TypeError, KeyError) as exc:
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        raise DpValueError(f"`{name}`: {_short(text)}", None, f"see :help {name}") from None


def _short(message: str) -> str:
    """The gist of a matplotlib message: its first line, without a long list of what
    would have been accepted."""
    line = message.strip().split("\n")[0]
    if len(line) > 120:
        cut = min((i for i in (line.find(": ", 20), line.find("; ", 20)) if i > 0),
                  default=120)
        line = line[:cut]
    return line


# ======================================================================= arguments
def _data(v, name: str, what: str):
    """Numbers for a plot: an array (tracers stripped), 0-d for a number."""
    return xp.asarray(strip(_num(strip(v), name, what)), dtype=xp.float64)


def _vector(v, name: str, what: str):
    a = _data(v, name, what)
    if a.ndim > 1:
        raise DpShapeError(f"`{name}`: {what} must be 1-D, got shape {a.shape}", None,
                           "flatten it with reshape(x, -1)")
    return a.reshape(-1)


def _text(v, name: str, what: str) -> str | None:
    if v is None:
        return None
    if type(v) is not str:
        raise DpTypeError(f"`{name}`: {what} must be a string, got {kind_of(v)}", None,
                          f'e.g. {what}="loss"')
    return v


def _labels(label, n: int, name: str) -> list[str | None]:
    """One label per series: a string for one series, a tuple of strings for several."""
    if type(label) is tuple:
        if len(label) != n:
            raise DpShapeError(f"`{name}`: {len(label)} labels for {n} series", None,
                               "give one label per column of y")
        return [_text(s, name, "label") for s in label]
    label = _text(label, name, "label")
    if n > 1 and label is not None:
        return [f"{label} {k}" for k in range(n)]
    return [label] * n


def _same_length(x, y, name: str) -> None:
    if len(x) != len(y):
        raise DpShapeError(f"`{name}`: x has {len(x)} points but y has {len(y)}", None,
                           "x and y need one entry per point")


# ======================================================================= drawing
@builtin("plot(x, y=none, *, label=none, style=none, color=none)",
         "draw a line plot of y against x (or of x against 0, 1, 2, ...); a 2-D y draws one "
         "line per column; style is matplotlib's format string (\"o\", \"--\", \"r.-\")",
         "plots", "-", needs_rt=True)
def _plot(rt, x, y=None, label=None, style=None, color=None):
    if y is None:
        x, y = None, _data(x, "plot", "y")
    else:
        x, y = _vector(x, "plot", "x"), _data(y, "plot", "y")
    if y.ndim > 2:
        raise DpShapeError(f"`plot`: y must be 1-D or 2-D, got shape {y.shape}", None, None)
    y = y.reshape(len(y) if y.ndim else 1, -1)
    if x is None:
        x = xp.arange(len(y), dtype=xp.float64)
    _same_length(x, y, "plot")
    labels = _labels(label, y.shape[1], "plot")
    fmt = _text(style, "plot", "style")
    color = _text(color, "plot", "color")
    extra = {} if color is None else {"color": color}  # (None would override `style`)
    ax = _axes(rt)
    with _drawing("plot"):
        for k in range(y.shape[1]):
            args = (x, y[:, k]) if fmt is None else (x, y[:, k], fmt)
            ax.plot(*args, label=labels[k], **extra)


def _class_labels(c) -> list[float] | None:
    """The distinct values of `c` when they look like class labels (few integers)."""
    if c.size == 0 or not xp.all(xp.isfinite(c)) or not xp.all(c == xp.round(c)):
        return None
    values = xp.unique(c)
    return [float(v) for v in values] if len(values) <= _MAX_CLASSES else None


@builtin("scatter(x, y, *, c=none, label=none, size=none)",
         "draw points; c is a colour name, or one number per point: integer class labels get "
         "one colour (and legend entry) each, other numbers a colour scale",
         "plots", "-", needs_rt=True)
def _scatter(rt, x, y, c=None, label=None, size=None):
    x, y = _vector(x, "scatter", "x"), _vector(y, "scatter", "y")
    _same_length(x, y, "scatter")
    label = _text(label, "scatter", "label")
    s = None if size is None else _data(size, "scatter", "size")
    ax = _axes(rt)
    if c is None or type(c) is str:
        with _drawing("scatter"):
            ax.scatter(x, y, c=c, s=s, label=label)
        return
    c = _vector(c, "scatter", "c")
    _same_length(x, c, "scatter")
    classes = _class_labels(c)
    with _drawing("scatter"):
        if classes is None:
            ax.figure.colorbar(ax.scatter(x, y, c=c, s=s, label=label), ax=ax)
            return
        for k in classes:
            mask = c == k
            name = show(int(k)) if label is None else f"{label} {show(int(k))}"
            ax.scatter(x[mask], y[mask], s=s if s is None or s.ndim == 0 else s[mask],
                       label=name)


@builtin("hist(x, bins=10, *, label=none, density=false)",
         "draw a histogram of the values of x (any shape) in `bins` equal bins",
         "plots", "-", needs_rt=True)
def _hist(rt, x, bins=10, label=None, density=False):
    x = _data(x, "hist", "x").reshape(-1)
    bins = _int_arg(bins, "hist", "bins")
    if bins < 1:
        raise DpValueError(f"`hist`: bins must be at least 1, got {bins}", None, None)
    density = _bool_arg(density, "hist", "density")
    label = _text(label, "hist", "label")
    ax = _axes(rt)
    with _drawing("hist"):
        ax.hist(x[xp.isfinite(x)], bins=bins, label=label, density=density, alpha=0.8)


@builtin("imshow(a, *, extent=none, origin=\"upper\", cmap=none, colorbar=false)",
         "draw a 2-D array as an image (a heatmap); extent=(x0, x1, y0, y1) places it on the "
         "axes, origin=\"lower\" puts row 0 at the bottom (a grid evaluated over x and y)",
         "plots", "-", needs_rt=True)
def _imshow(rt, a, extent=None, origin="upper", cmap=None, colorbar=False):
    a = _data(a, "imshow", "a")
    if a.ndim != 2:
        raise DpShapeError(f"`imshow`: a must be a 2-D array, got shape {a.shape}", None,
                           "reshape it to (rows, columns)")
    if extent is not None:
        extent = _vector(extent, "imshow", "extent")
        if len(extent) != 4:
            raise DpShapeError("`imshow`: extent must be (x0, x1, y0, y1)", None, None)
        extent = [float(v) for v in extent]
    if origin not in ("upper", "lower"):
        raise DpValueError(f"`imshow`: origin must be \"upper\" or \"lower\", got "
                           f"{show(origin, True)}", None, None)
    cmap = _text(cmap, "imshow", "cmap")
    colorbar = _bool_arg(colorbar, "imshow", "colorbar")
    ax = _axes(rt)
    with _drawing("imshow"):
        im = ax.imshow(a, extent=extent, origin=origin, cmap=cmap, aspect="auto")
        if colorbar:
            ax.figure.colorbar(im, ax=ax)


# ======================================================================= decoration
def _set_text(setter: str, name: str):
    def call(rt, text):
        getattr(_axes(rt), setter)(_text(text, name, "text") or "")
    return call


builtin("title(text)", "set the title of the current plot", "plots", "-",
        needs_rt=True)(_set_text("set_title", "title"))
builtin("xlabel(text)", "label the x axis of the current plot", "plots", "-",
        needs_rt=True)(_set_text("set_xlabel", "xlabel"))
builtin("ylabel(text)", "label the y axis of the current plot", "plots", "-",
        needs_rt=True)(_set_text("set_ylabel", "ylabel"))


@builtin("legend()", "show a legend of the labelled lines and points of the current plot",
         "plots", "-", needs_rt=True)
def _legend(rt):
    ax = _axes(rt)
    if not ax.get_legend_handles_labels()[1]:
        raise DpValueError("`legend`: nothing in the current plot has a label", None,
                           'give the lines labels: plot(x, y, label="data")')
    ax.legend()


def _set_scale(setter: str, name: str):
    def call(rt, scale):
        if scale not in SCALES:
            choices = ", ".join(show(s, True) for s in SCALES)
            raise DpValueError(f"`{name}`: the scale must be one of {choices}, got "
                               f"{show(scale, True)}", None, f'e.g. {name}("log")')
        getattr(_axes(rt), setter)(scale)
    return call


builtin("xscale(scale)", "the x axis scale: \"linear\", \"log\", \"symlog\" or \"logit\"",
        "plots", "-", needs_rt=True)(_set_scale("set_xscale", "xscale"))
builtin("yscale(scale)", "the y axis scale: \"linear\", \"log\", \"symlog\" or \"logit\"",
        "plots", "-", needs_rt=True)(_set_scale("set_yscale", "yscale"))


@builtin("figure(width=6.4, height=4.8)", "start a new figure (size in inches); later plots "
         "draw on it", "plots", "-", needs_rt=True)
def _figure(rt, width=6.4, height=4.8):
    sizes = []
    for what, v in (("width", width), ("height", height)):
        v = strip(v)
        if type(v) not in (int, float) or not 0.5 <= v <= 100:
            raise DpValueError(f"`figure`: {what} must be a number of inches from 0.5 to "
                               f"100, got {show(v)}", None, None)
        sizes.append(float(v))
    _new_figure(state_of(rt), *sizes)


@builtin("subplot(rows, cols, k)", "draw the next plots in cell k (1 to rows*cols, row by "
         "row) of a rows x cols grid in the current figure", "plots", "-", needs_rt=True)
def _subplot(rt, rows, cols, k):
    rows, cols = _int_arg(rows, "subplot", "rows"), _int_arg(cols, "subplot", "cols")
    k = _int_arg(k, "subplot", "k")
    if not (1 <= rows <= 20 and 1 <= cols <= 20):
        raise DpValueError(f"`subplot`: a grid of {rows} x {cols} cells; rows and cols must "
                           "be from 1 to 20", None, None)
    if not 1 <= k <= rows * cols:
        raise DpValueError(f"`subplot`: cell {k} is outside the {rows} x {cols} grid", None,
                           f"k counts from 1 to {rows * cols}, row by row")
    st = state_of(rt)
    f = st.current or _new_figure(st)
    key = (rows, cols, k)
    if key not in f.axes:
        f.axes[key] = f.fig.add_subplot(rows, cols, k)
    f.current = f.axes[key]
    f.dirty = True


# ======================================================================= output
def _format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise DpValueError(f"`savefig`: cannot tell the format of {path!r}", None,
                           "end the name with .png, .svg or .pdf")
    return ext


@builtin("savefig(path, *, dpi=100)", "write the current figure to a .png, .svg or .pdf "
         "file (needs file access)", "plots", "-", needs_rt=True)
def _savefig(rt, path, dpi=100):
    _file_access(rt, "savefig")
    path = _path(path, "savefig")
    fmt = _format(path)
    dpi = _int_arg(dpi, "savefig", "dpi")
    if not 10 <= dpi <= 1200:
        raise DpValueError(f"`savefig`: dpi must be from 10 to 1200, got {dpi}", None, None)
    st = state_of(rt)
    if st.current is None:
        raise DpValueError("`savefig`: there is no figure to save", None,
                           "draw something first, e.g. plot(y)")
    f = st.current
    try:
        _replace_atomically(path, lambda fh: f.fig.savefig(fh, format=fmt, dpi=dpi))
    except OSError as exc:
        raise DpImportError(f"cannot write {path!r}: {exc.strerror or exc}", None,
                            None) from None
    f.dirty = False


@builtin("show()", "display the figures drawn since the last show: inline in a notebook, "
         "in windows when there is a display, else saved as PNG files whose paths are printed",
         "plots", "-", needs_rt=True)
def _show(rt):
    show_figures(rt)


def show_figures(rt) -> None:
    """Display every open figure (saved ones too, as pyplot does), then close them."""
    st = state_of(rt)
    figs = list(st.figures)
    if not figs:
        return
    if st.show_hook is not None:
        for f in figs:
            st.show_hook(f.fig)
    elif st.windows:
        from matplotlib import pyplot as plt  # the windows' event loop
        plt.show()
    else:
        _file_access(rt, "show")
        for f in figs:
            rt.write(f"figure saved to {_save_temporary(f.fig)}\n")
    st.close_all()


def _save_temporary(fig) -> str:
    """Save to a new file in the temporary directory (never an existing one)."""
    import tempfile  # only here: `dp` start-up does not pay for it (~10 ms)

    fd, path = tempfile.mkstemp(prefix="dp-figure-", suffix=".png")
    with os.fdopen(fd, "wb") as fh:
        fig.savefig(fh, format="png")
    return path
