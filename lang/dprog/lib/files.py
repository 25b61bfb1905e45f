"""The data-file builtins: read_csv, read_text, load, save (only with file access: `dp`
allows it, an embedded interpreter only with allow_files=True). Reading goes through
reading.py, which keeps every read within the limits."""

from __future__ import annotations

import contextlib
import os

from ..core.backend import xp
from ..core.errors import DpError, DpImportError, DpTypeError, DpValueError
from ..core.values import Record, kind_of, strip
from ..prims import primitives as P
from . import npz_trees
from .csv_reader import parse_csv
from .reading import DamagedFile, file_kind, npz_members, read_bounded, read_npy_stream
from .table import _bool_arg, builtin


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


def _text(data: bytes, path: str, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DpImportError(f"cannot read {path!r}: it is not UTF-8 text", None,
                            f"`{name}` reads text files") from None


@builtin("read_csv(path, header=none, strings=false)", "a CSV file of numbers as a 2-D "
         "array; `header`: true skips the first row, false keeps it, none (default) skips "
         "it only when it is not numeric; empty fields are nan. With strings=true: a record "
         "{data, text, data_columns, text_columns}: the numeric columns as one array, the "
         "text columns as tuples of strings (see encode_labels), and their names",
         "files", "-", needs_rt=True)
def _read_csv(rt, path, header=None, strings=False):
    _file_access(rt, "read_csv")
    path = _path(path, "read_csv")
    if header is not None and type(header) is not bool:
        raise DpTypeError(f"`read_csv`: header must be true, false or none, got "
                          f"{kind_of(header)}", None, None)
    strings = _bool_arg(strings, "read_csv", "strings")
    text = _text(read_bounded(path, "read_csv", rt.max_array_elements), path, "read_csv")
    got = parse_csv(text, path, header, strings)
    if not strings:
        return got
    data, columns, data_names, text_names = got
    return Record({"data": data, "text": columns, "data_columns": data_names,
                   "text_columns": text_names})


@builtin("read_text(path)", "the contents of a UTF-8 text file as a string", "files", "-",
         needs_rt=True)
def _read_text(rt, path):
    _file_access(rt, "read_text")
    path = _path(path, "read_text")
    text = _text(read_bounded(path, "read_text", rt.max_array_elements), path, "read_text")
    if len(text) > rt.max_array_elements:  # strings share the element limit
        P.check_size(len(text), f"the text of {path!r}")
    return text


@builtin("load(path)", "read a .npy file (an array) or an .npz file (the tree `save` wrote, "
         "or a record of the arrays numpy.savez wrote)", "files", "-", needs_rt=True)
def _load(rt, path):
    _file_access(rt, "load")
    path = _path(path, "load")
    fd, kind = file_kind(path, "load")
    limit = rt.max_array_elements
    try:
        with os.fdopen(fd, "rb") as fh:
            if kind == "npy":
                return _numeric_array(read_npy_stream(fh, path, limit), path)
            if kind != "npz":
                raise DamagedFile(path)
            members, comment = npz_members(fh, path, limit)
            skeleton = npz_trees.skeleton_of(comment)
            if skeleton is None:  # written by numpy.savez: a flat record of arrays
                return Record({k: _numeric_array(a, f"{path} ({k})") for k, a in members})
            accept = lambda a: _numeric_array(a, path)  # noqa: E731
            return npz_trees.rebuild(skeleton, dict(members), accept)
    except DpError:
        raise
    except OSError as exc:
        raise DpImportError(f"cannot load {path!r}: {exc.strerror or exc}", None, None) from None
    except (DamagedFile, npz_trees.BadSkeleton, ValueError):
        raise _not_loadable(path) from None


def _not_loadable(path: str) -> DpImportError:
    return DpImportError(f"cannot load {path!r}: not a .npy or .npz file of numbers (empty, "
                         "truncated, damaged or holding Python objects)", None,
                         "save it with numpy.save / numpy.savez (no Python objects)")


def _numeric_array(a, where):
    """An array read from a file as a dprog value: real numbers (or bools) only. A
    float64 array is the fresh one reading.py filled: kept as it is, not copied."""
    if a.dtype == xp.float64 and a.ndim > 0 and a.dtype.isnative:
        return a
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


def _write_npz(fh, arrays: dict, comment: bytes) -> None:
    """An .npz archive with exactly these member names (xp.savez would take some names,
    such as `file` or `allow_pickle`, as its own keyword arguments) and this comment."""
    import zipfile  # only when saving: `dp` start-up does not pay for it

    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.comment = comment
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


@builtin("save(path, value)", "write an array or number to a .npy file, or any tree of "
         "arrays, numbers and strings (records and tuples, nested) to an .npz file; `load` "
         "gives it back identically", "files", "-", needs_rt=True)
def _save(rt, path, value):
    _file_access(rt, "save")
    path = _path(path, "save")
    value = strip(value)
    if path.lower().endswith(".npz"):
        arrays, comment = npz_trees.flatten(value)
        write = lambda fh: _write_npz(fh, arrays, comment)  # noqa: E731
    elif type(value) in (xp.ndarray, float, int, bool):
        arr = _saved_array(value, "the value")
        write = lambda fh: xp.save(fh, arr, allow_pickle=False)  # noqa: E731
    else:
        raise DpTypeError(f"`save` writes an array or a number to a .npy file, got "
                          f"{kind_of(value)}", None,
                          "save records and tuples to a path ending in .npz")
    try:
        _replace_atomically(path, write)
    except OSError as exc:
        raise DpImportError(f"cannot write {path!r}: {exc.strerror or exc}", None, None) from None
