"""The data-file builtins: read_csv, load, save (only with file access: `dp` allows
it, an embedded interpreter only with allow_files=True)."""

from __future__ import annotations

import contextlib
import math
import os

from ..core.backend import xp
from ..core.errors import DpError, DpImportError, DpTypeError, DpValueError
from ..core.values import Record, kind_of, strip
from ..prims import primitives as P
from .table import builtin


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


