"""Reading data files under the interpreter's limits.

A program with file access may name any path, so reading must neither block nor
read without bound: only regular files are opened (a FIFO, a device such as
/dev/zero or a directory is refused before any byte is read), a file's size is
checked against the limits before reading, and a .npy header or an .npz
archive's directory (member count, declared sizes, shapes) is checked before its
data is decompressed or allocated. The element limit is `max_array_elements`;
files of text are allowed a fixed number of bytes per element (`BYTES_PER_ELEMENT`).
"""

from __future__ import annotations

import errno
import math
import os
import stat
from collections.abc import Iterator

from ..core.backend import xp
from ..core.errors import DpImportError, DpLimitError

# Text files (CSV, read_text) may hold this many bytes per element the limit allows:
# a CSV number rarely needs more, and the element count is checked again while parsing.
BYTES_PER_ELEMENT = 32
_SLACK = 1 << 16  # a small file is always readable, whatever the limit
_MAX_NPY_HEADER = 1 << 16  # NumPy writes headers of a few hundred bytes
# An archive's members together may declare this many times the bytes of the largest
# array the limit allows (a model's parameters are many arrays; a bomb of many large
# members is refused before any is extracted).
ARCHIVE_FACTOR = 16
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def _limit_error(path: str, what: str, limit: int) -> DpLimitError:
    return DpLimitError(f"cannot read {path!r}: {what} exceeds the limit of {limit} "
                        "elements", None, "raise max_array_elements to read larger files")


def open_regular(path: str, name: str) -> int:
    """A read-only descriptor of the regular file at `path`; anything else (a FIFO, a
    device, a directory, a socket) is refused. O_NONBLOCK makes opening a FIFO return
    at once instead of waiting for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise DpImportError(f"`{name}`: {path!r} is a directory, not a file", None,
                                "give the path of a file in it") from None
        raise DpImportError(f"cannot read {path!r}: {exc.strerror or exc}", None,
                            None) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = ("a directory" if stat.S_ISDIR(mode) else "a pipe (FIFO)" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file")
        raise DpImportError(f"`{name}`: {path!r} is {kind}; only regular files can be read",
                            None, "copy the data into a file first")
    os.set_blocking(fd, True)
    return fd


def read_bounded(path: str, name: str, max_elements: int) -> bytes:
    """The bytes of the regular file `path`, refused before reading if it is larger
    than a text file of `max_elements` elements can be (and read at most that many
    bytes, should the file grow meanwhile)."""
    bound = BYTES_PER_ELEMENT * max_elements + _SLACK
    fd = open_regular(path, name)
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fd).st_size
        if size > bound:
            raise DpLimitError(f"cannot read {path!r}: its {size} bytes exceed the "
                               f"{bound} bytes allowed for max_array_elements="
                               f"{max_elements}", None,
                               "raise max_array_elements to read larger files")
        data = fh.read(bound + 1)
    if len(data) > bound:
        raise DpLimitError(f"cannot read {path!r}: it grew past {bound} bytes while "
                           "being read", None, None)
    return data


class DamagedFile(ValueError):
    """The file is not a valid .npy/.npz file of numbers (the caller reports it)."""


def _read_npy_header(fh, where: str, max_elements: int):
    """The (shape, fortran_order, dtype) of the .npy stream `fh`, checked: no Python
    objects, at most `max_elements` elements."""
    fmt = xp.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            header = fmt.read_array_header_1_0(fh, max_header_size=_MAX_NPY_HEADER)
        elif version in ((2, 0), (3, 0)):
            header = fmt.read_array_header_2_0(fh, max_header_size=_MAX_NPY_HEADER)
        else:
            raise DamagedFile(f"{where}: unknown .npy version {version}")
    except DamagedFile:
        raise
    except Exception as exc:  # noqa: BLE001 - NumPy raises several kinds for bad headers
        raise DamagedFile(f"{where}: bad .npy header") from exc
    shape, fortran, dtype = header
    if dtype.hasobject:
        raise DamagedFile(f"{where}: holds Python objects")
    n = math.prod(shape)
    if n > max_elements:
        raise _limit_error(where, f"its shape {shape} ({n} elements)", max_elements)
    return shape, fortran, dtype


def _read_into(fh, arr: xp.ndarray, where: str) -> None:
    """Fill `arr` from `fh` in 1 MB reads (zipfile's readinto of a whole large member
    is several times slower); a short file is damaged."""
    view = memoryview(arr.reshape(-1).view(xp.uint8))
    done = 0
    while done < len(view):
        data = fh.read(min(len(view) - done, 1 << 20))
        if not data:
            raise DamagedFile(f"{where}: truncated")
        view[done:done + len(data)] = data
        done += len(data)


def read_npy_stream(fh, where: str, max_elements: int) -> xp.ndarray:
    """One array from the .npy stream `fh`, its header checked before its data is read."""
    shape, fortran, dtype = _read_npy_header(fh, where, max_elements)
    arr = xp.empty(math.prod(shape), dtype=dtype)
    if arr.size:
        _read_into(fh, arr, where)
    return arr.reshape(shape, order="F" if fortran else "C")


def file_kind(path: str, name: str) -> tuple[int, str]:
    """An open descriptor of the regular file `path` and its format: "npy", "npz" or
    "other", told by its first bytes (as numpy.load does)."""
    fd = open_regular(path, name)
    head = os.pread(fd, 6, 0)
    kind = ("npy" if head == _NPY_MAGIC else "npz" if head[:4] == _ZIP_MAGIC else "other")
    return fd, kind


def npz_members(fh, path: str, max_elements: int) -> tuple[Iterator[tuple[str, xp.ndarray]],
                                                            bytes]:
    """The archive comment and the (name, array) members of the .npz file `fh`. The
    directory is checked before anything is extracted: at most `max_elements` members,
    names ending in .npy, declared sizes that fit the element limit, each and (times
    ARCHIVE_FACTOR) together. Each member's
    header is checked before its data is decompressed, and a member never yields more
    bytes than its declared size (zipfile stops there and checks the CRC)."""
    import zipfile  # only when loading an archive: `dp` start-up does not pay for it

    try:
        zf = zipfile.ZipFile(fh)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DamagedFile(f"{path}: not a readable zip archive") from exc
    if len(infos) > max_elements:
        raise _limit_error(path, f"its {len(infos)} members", max_elements)
    bound = max_elements * 16 + _MAX_NPY_HEADER  # complex128 is the widest number
    total = sum(info.file_size for info in infos)
    if total > ARCHIVE_FACTOR * max_elements * 8 + len(infos) * 1024:  # + usual headers
        raise _limit_error(path, f"its members' {total} bytes (more than {ARCHIVE_FACTOR} "
                           "arrays of float64 at the limit)", max_elements)
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise DamagedFile(f"{path}: member {info.filename!r} is not a .npy array")
        if info.file_size > bound:
            raise _limit_error(f"{path} ({info.filename})",
                               f"its declared size of {info.file_size} bytes", max_elements)

    def members():
        with zf:
            for info in infos:
                where = f"{path} ({info.filename[:-4]})"
                try:
                    with zf.open(info) as member:
                        yield info.filename[:-4], read_npy_stream(member, where, max_elements)
                except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError,
                        RuntimeError) as exc:
                    raise DamagedFile(f"{where}: damaged member") from exc

    return members(), zf.comment
