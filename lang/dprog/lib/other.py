"""Random numbers, trees, printing and conversions, assertions, `progress`, and the
data-file builtins (read_csv, load, save; only with file access)."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time

from ..core.backend import xp
from ..core.errors import (
    DpAssertionError,
    DpError,
    DpImportError,
    DpTypeError,
    DpValueError,
)
from ..core.values import Record, Tracer, check_structure, kind_of, show, strip
from ..prims import primitives as P
from ..runtime.ops import iterate, truth
from .table import _dims, _func, _int_arg, builtin


# ====================================================================== random
@builtin("seed(n)", "restart the random stream from seed n (reproducible)", "random", "-",
         needs_rt=True)
def _seed(rt, n):
    n = _int_arg(n, "seed", "n")
    if n < 0:
        raise DpValueError("`seed` needs a non-negative integer", None, None)
    rt.rng = xp.random.default_rng(n)


@builtin("rand(d...)", "uniform random numbers in [0, 1) with the given dimensions", "random",
         "no d", needs_rt=True)
def _rand(rt, *dims):
    d = _dims(dims, "rand")
    return rt.rng.random(d) if d else float(rt.rng.random())


@builtin("randn(d...)", "standard normal random numbers with the given dimensions", "random",
         "no d", needs_rt=True)
def _randn(rt, *dims):
    d = _dims(dims, "randn")
    return rt.rng.standard_normal(d) if d else float(rt.rng.standard_normal())


@builtin("randint(lo, hi, d...)", "random integers lo ≤ k < hi (as floats in an array)",
         "random", "no d", needs_rt=True)
def _randint(rt, lo, hi, *dims):
    lo = _int_arg(lo, "randint", "lo")
    hi = _int_arg(hi, "randint", "hi")
    if hi <= lo:
        raise DpValueError(f"`randint`: hi ({hi}) must be greater than lo ({lo})", None,
                           "the range is lo ≤ k < hi")
    if lo < -2**63 or hi > 2**63:
        raise DpValueError("`randint`: lo and hi must lie within ±2**63", None, None)
    d = _dims(dims, "randint")
    if not d:
        return int(rt.rng.integers(lo, hi))
    return rt.rng.integers(lo, hi, d).astype(xp.float64)


# ======================================================================= trees
@builtin("tree_map(f, t, ...)", "apply f leaf-wise over one or more trees of the same structure; "
         "gives a tree of that structure",
         "trees", "yes")
def _tree_map(f, t, *more):
    _func(f, "tree_map")
    for x in (t, *more):
        check_structure(x, "mapped over", arrays=False)

    def go(path, a, *bs):
        ta = type(a)
        if ta is tuple:
            for b in bs:
                if type(b) is not tuple or len(b) != len(a):
                    other = (f"a tuple of length {len(b)}" if type(b) is tuple
                             else kind_of(b))
                    raise DpTypeError(f"tree_map: trees differ at {path or 'the root'}: "
                                      f"a tuple of length {len(a)} vs {other}", None,
                                      "all trees must have the same structure")
            return tuple(go(f"{path}[{i}]", x, *(b[i] for b in bs)) for i, x in enumerate(a))
        if ta is Record:
            for b in bs:
                if type(b) is not Record or list(b.keys()) != list(a.keys()):
                    if type(b) is Record and set(b.keys()) == set(a.keys()):
                        continue
                    other = (f"fields {', '.join(b.keys())}" if type(b) is Record
                             else kind_of(b))
                    raise DpTypeError(f"tree_map: trees differ at {path or 'the root'}: a record "
                                      f"with fields {', '.join(a.keys())} vs {other}", None,
                                      "all trees must have the same structure")
            return Record({k: go(f"{path}.{k}", v, *(b._f[k] for b in bs))
                           for k, v in a.items()})
        return f(a, *bs)

    return go("", t, *more)


# ======================================================================= other
@builtin("print(...)", "print the values separated by one space, then a new line; strings "
         "bare, everything else in dprog syntax",
         "other", "-", needs_rt=True)
def _print(rt, *args):
    rt.write(" ".join(show(a) for a in args) + "\n")


@builtin("str(x)", "x as text, in dprog syntax", "other", "-")
def _str(x):
    return show(x)


@builtin("float(x)", "x as a float (numbers, one-element arrays, numeric strings)", "other")
def _float(x):
    t = type(x)
    if t is float:
        return x
    if t is int or t is bool:
        return float(x)
    if t is str:
        try:
            return float(x)
        except ValueError:
            raise DpValueError(f"cannot convert the string {show(x, True)} to a float", None,
                               None) from None
    if isinstance(x, Tracer):
        s = strip(x)
        if type(s) is xp.ndarray and s.size != 1:
            raise DpTypeError(f"`float` of an array of shape {s.shape}", None,
                              "index one element first")
        return P.reshape(x, ()) if type(s) is xp.ndarray else x
    if t is xp.ndarray:
        if x.size != 1:
            raise DpTypeError(f"`float` of an array of shape {x.shape}", None,
                              "index one element first, e.g. float(v[0])")
        return float(x.reshape(()))
    raise DpTypeError(f"cannot convert {kind_of(x)} to a float", None, None)


@builtin("int(x)", "x truncated toward zero as an integer (numbers, numeric strings)", "other",
         "no d")
def _int(x):
    x = strip(x)
    t = type(x)
    if t is int:
        return x
    if t is bool:
        return int(x)
    if t is float:
        if x != x or x in (math.inf, -math.inf):
            raise DpValueError(f"cannot convert {show(x)} to an integer", None, None)
        return int(x)
    if t is str:
        try:
            return int(x)
        except ValueError:
            try:
                return int(float(x))
            except ValueError:
                raise DpValueError(f"cannot convert the string {show(x, True)} to an integer",
                                   None, None) from None
    if t is xp.ndarray and x.size == 1:
        return _int(float(x.reshape(())))
    raise DpTypeError(f"cannot convert {kind_of(x)} to an integer", None, None)


@builtin("assert(cond, message=\"assertion failed\")", "stop with an error if cond is false",
         "other", "-")
def _assert(cond, message="assertion failed"):
    if not truth(cond):
        raise DpAssertionError(message if type(message) is str else show(message), None, None)


class _Progress:
    def __init__(self, rt, xs, label):
        self.items = xs
        self.iterable = iterate(xs)
        self.label = label
        self.rt = rt

    def dp_iter(self):
        err = self.rt.stderr if self.rt.stderr is not None else sys.stderr
        try:
            tty = err.isatty()
        except (AttributeError, ValueError):
            tty = False
        if not tty:
            yield from self.iterable
            return
        try:
            total = len(self.items)
        except TypeError:
            total = None
        t0 = time.monotonic()
        last = 0.0
        i = 0
        for i, x in enumerate(self.iterable, 1):
            now = time.monotonic()
            if now - last > 0.1 or i == total:
                last = now
                rate = i / max(now - t0, 1e-9)
                if total:
                    left = (total - i) / rate if rate > 0 else 0
                    width = 24
                    fill = int(width * i / total)
                    bar = "#" * fill + "-" * (width - fill)
                    err.write(f"\r{self.label} [{bar}] {i}/{total} {rate:.1f}/s {left:.0f}s left")
                else:
                    err.write(f"\r{self.label} {i} {rate:.1f}/s")
                err.flush()
            yield x
        err.write("\n")
        err.flush()


@builtin("progress(xs, label=\"\")", "iterate like xs, drawing a progress bar on a terminal's "
         "standard error", "other", "-", needs_rt=True)
def _progress(rt, xs, label=""):
    return _Progress(rt, xs, label if type(label) is str else show(label))


def _file_access(rt, name):
    if not rt.allow_files:
        raise DpImportError(f"`{name}` is not allowed here: this interpreter has no file access",
                            None, "create the interpreter with allow_files=True")


def _path(p, name):
    if type(p) is not str:
        raise DpTypeError(f"`{name}` expects a path string, got {kind_of(p)}", None, None)
    if "\x00" in p:
        raise DpValueError(f"`{name}`: the path contains a NUL character", None, None)
    return p


def _csv_field(text: str) -> float:
    """One CSV field as a number; an empty field is a missing value (nan), as in NumPy."""
    text = text.strip()
    return math.nan if text == "" else float(text)


def _is_numeric_row(line: str) -> bool:
    try:
        [_csv_field(c) for c in line.split(",")]
    except ValueError:
        return False
    return True


@builtin("read_csv(path, header=none)", "a numeric CSV file as a 2-D array; `header`: true "
         "skips the first row, false keeps it, none (default) skips it only when it is not "
         "numeric; empty fields are nan", "files", "-", needs_rt=True)
def _read_csv(rt, path, header=None):
    _file_access(rt, "read_csv")
    path = _path(path, "read_csv")
    if header is not None and type(header) is not bool:
        raise DpTypeError(f"`read_csv`: header must be true, false or none, got "
                          f"{kind_of(header)}", None, None)
    try:
        with open(path, encoding="utf-8") as fh:
            numbered = [(k + 1, ln) for k, ln in enumerate(fh.read().splitlines()) if ln.strip()]
    except OSError as exc:
        raise DpImportError(f"cannot read {path!r}: {exc.strerror}", None, None) from None
    except UnicodeDecodeError:
        raise DpImportError(f"cannot read {path!r}: it is not UTF-8 text", None,
                            "read_csv reads comma-separated numbers in a text file") from None
    if header is None:  # automatic: a first row that is all numbers is data, never dropped
        header = bool(numbered) and not _is_numeric_row(numbered[0][1])
    head, data = (numbered[:1], numbered[1:]) if header else ([], numbered)
    rows = []
    for lineno, ln in data:
        try:
            rows.append([_csv_field(c) for c in ln.split(",")])
        except ValueError:
            raise DpValueError(f"{path}: line {lineno} is not numeric: {ln[:60]!r}",
                               None, "read_csv reads numbers only") from None
        if len(rows[-1]) != len(rows[0]):
            raise DpValueError(f"{path}: line {lineno} has {len(rows[-1])} fields, the first "
                               f"data row has {len(rows[0])}", None, None)
    if not rows:  # only a header: no rows, as many columns as it names
        return xp.zeros((0, len(head[0][1].split(",")) if head else 0))
    return xp.array(rows, dtype=xp.float64)


@builtin("load(path)", "read a .npy file (an array) or .npz file (a record of arrays)", "files",
         "-", needs_rt=True)
def _load(rt, path):
    _file_access(rt, "load")
    path = _path(path, "load")
    try:
        data = xp.load(path, allow_pickle=False)
        if isinstance(data, xp.ndarray):
            return _numeric_array(data, path)
        with data:  # members are read (and checked) here, inside the same guard
            return Record({k: _numeric_array(data[k], f"{path} ({k})") for k in data.files})
    except DpError:
        raise
    except OSError as exc:
        raise DpImportError(f"cannot load {path!r}: {exc.strerror or exc}", None, None) from None
    except Exception:  # noqa: BLE001 - any failure to decode a file is the file's fault
        raise _not_loadable(path) from None


def _not_loadable(path: str) -> DpImportError:
    return DpImportError(f"cannot load {path!r}: not a .npy or .npz file of numbers (empty, "
                         "truncated, damaged or holding Python objects)", None,
                         "save it with numpy.save / numpy.savez (no Python objects)")


def _numeric_array(a, where):
    """An array read from a file as a dprog value: real numbers (or bools) only."""
    return P.accept_array(a, lambda dtype: DpImportError(
        f"cannot load {where!r}: it holds {dtype} values, not real numbers", None,
        "dprog arrays are float64"))


def _saved_array(v, where: str) -> xp.ndarray:
    """A number or array as the float64 array `save` writes (checked before any file is
    touched, so a value that cannot be saved leaves the old file as it was)."""
    v = strip(v)
    if type(v) not in (xp.ndarray, float, int, bool):
        raise DpTypeError(f"`save`: {where} is {kind_of(v)}; only numbers and arrays can be "
                          "saved", None, None)
    try:
        return xp.asarray(v, dtype=xp.float64)
    except OverflowError:
        raise DpValueError(f"`save`: {where} is an integer too large for a float64", None,
                           None) from None


def _write_npz(fh, arrays: dict) -> None:
    """An .npz archive with exactly these member names (xp.savez would take some names,
    such as `file` or `allow_pickle`, as its own keyword arguments)."""
    import zipfile  # only when saving: `dp` start-up does not pay for it

    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                xp.lib.format.write_array(member, arr, allow_pickle=False)


def _new_temporary(folder: str) -> tuple[int, str]:
    """A new file in `folder` that nothing else uses (created exclusively)."""
    for _ in range(100):
        tmp = os.path.join(folder, f".dp-save-{os.getpid()}-{os.urandom(4).hex()}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


def _replace_atomically(path: str, write) -> None:
    """Write through `write(fh)` to a temporary file beside `path`, then rename it over
    `path`: an error or a kill part-way leaves the previous file intact."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = _new_temporary(folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@builtin("save(path, value)", "write an array to .npy or a record of arrays to .npz", "files",
         "-", needs_rt=True)
def _save(rt, path, value):
    _file_access(rt, "save")
    path = _path(path, "save")
    if "\x00" in path:
        raise DpValueError("`save`: the path contains a NUL character", None, None)
    value = strip(value)
    if type(value) is Record:
        arrays = {k: _saved_array(v, f"field `{k}`") for k, v in value.items()}
        write = lambda fh: _write_npz(fh, arrays)  # noqa: E731
    elif type(value) in (xp.ndarray, float, int, bool):
        arr = _saved_array(value, "the value")
        write = lambda fh: xp.save(fh, arr, allow_pickle=False)  # noqa: E731
    else:
        raise DpTypeError(f"`save` writes an array or a record of arrays, got "
                          f"{kind_of(value)}", None, None)
    try:
        _replace_atomically(path, write)
    except OSError as exc:
        raise DpImportError(f"cannot write {path!r}: {exc.strerror or exc}", None, None) from None


