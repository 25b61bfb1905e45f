"""Trees of arrays and numbers as .npz archives, and back.

`save` writes each leaf of a tree (records and tuples, nested) as one .npy member
named by its path: record fields by name, tuple entries by position, joined with
"/" (`{w: W, layers: ({b: B},)}` gives members `w` and `layers/0/b`), so that
`numpy.load` reads every leaf by that name. Numbers become 0-d arrays (float64,
int64 or bool) and strings 0-d unicode arrays. What NumPy cannot tell apart (a
tuple from a record, a number from a 0-d array, the order of fields) is kept in the
archive's comment, which NumPy ignores: a JSON skeleton of the tree, compressed.
`load` rebuilds the tree from it; an archive without one (made by numpy.savez) loads
as a flat record of arrays.
"""

from __future__ import annotations

import zlib

from ..core.backend import xp
from ..core.errors import DpTypeError, DpValueError
from ..core.values import Record, kind_of, strip

_MAGIC = b"dprog-tree 1\n"
_MAX_DEPTH = 256
_LEAF_KINDS = {"a", "f", "i", "b", "s"}  # array, float, int, bool, string


def _leaf(v, where: str) -> tuple[str, xp.ndarray]:
    """A leaf's kind code and the array that stores it exactly."""
    t = type(v)
    if t is xp.ndarray:
        if v.dtype.kind not in "bf":
            raise DpTypeError(f"`save`: {where} is an array of {v.dtype}", None, None)
        return "a", v
    if t is bool:
        return "b", xp.array(v)
    if t is float:
        return "f", xp.array(v, dtype=xp.float64)
    if t is int:
        if not -2**63 <= v < 2**63:
            raise DpValueError(f"`save`: {where} is an integer too large for int64", None,
                               "save float(x) instead, or split the number")
        return "i", xp.array(v, dtype=xp.int64)
    if t is str:
        if v.endswith("\x00"):  # NumPy's unicode arrays drop trailing NULs
            raise DpValueError(f"`save`: {where} is a string ending in a NUL character, "
                               "which an .npz file cannot keep exactly", None, None)
        return "s", xp.array(v, dtype=f"<U{max(len(v), 1)}")
    raise DpTypeError(f"`save`: {where} is {kind_of(v)}; only numbers, strings and "
                      "arrays can be saved (in records and tuples)", None, None)


def flatten(value) -> tuple[dict[str, xp.ndarray], bytes]:
    """The members (name -> array) and the archive comment that store `value`,
    checked completely before any file is touched."""
    import json  # only when saving or loading a tree: `dp` start-up does not pay for it

    members: dict[str, xp.ndarray] = {}

    def go(v, path: list[str], depth: int):
        v = strip(v)
        where = "the value" if not path else f"`{'/'.join(path)}`"
        if depth > _MAX_DEPTH:
            raise DpValueError(f"`save`: the tree is deeper than {_MAX_DEPTH} levels", None,
                               None)
        if type(v) is tuple:
            return {"t": [go(x, [*path, str(i)], depth + 1) for i, x in enumerate(v)]}
        if type(v) is Record:
            fields = []
            for k, x in v.items():
                if "/" in k or not k:
                    raise DpValueError(f"`save`: the field name {k!r} at {where} cannot be "
                                       "a member name", None, None)
                fields.append([k, go(x, [*path, k], depth + 1)])
            return {"r": fields}
        kind, arr = _leaf(v, where)
        members["/".join(path) or "arr_0"] = arr
        return kind

    skeleton = go(value, [], 0)
    comment = _MAGIC + zlib.compress(json.dumps(skeleton, separators=(",", ":")).encode())
    if len(comment) > 0xFFFF:
        raise DpValueError("`save`: the tree has too many leaves for one .npz file", None,
                           "save its parts to several files")
    return members, comment


class BadSkeleton(ValueError):
    """The archive's comment does not describe its members."""


def skeleton_of(comment: bytes):
    """The tree skeleton in an archive comment, or None if the archive has none."""
    if not comment.startswith(_MAGIC):
        return None
    import json  # only when loading a tree: `dp` start-up does not pay for it

    try:
        return json.loads(zlib.decompressobj().decompress(comment[len(_MAGIC):], 1 << 22))
    except (ValueError, zlib.error, RecursionError) as exc:
        raise BadSkeleton("bad tree description") from exc


def _from_leaf(kind: str, arr: xp.ndarray, accept):
    if kind == "a":
        return accept(arr)
    if arr.shape != ():
        raise BadSkeleton("a number stored as an array")
    if kind == "s" and arr.dtype.kind == "U":
        return str(arr[()])
    if kind == "b" and arr.dtype.kind == "b":
        return bool(arr[()])
    if kind == "i" and arr.dtype.kind in "iu":
        return int(arr[()])
    if kind == "f" and arr.dtype.kind == "f":
        return float(arr[()])
    raise BadSkeleton(f"a leaf of kind {kind!r} stored as {arr.dtype}")


def rebuild(skeleton, arrays: dict[str, xp.ndarray], accept):
    """The tree `skeleton` describes, its leaves taken from `arrays` (each used once;
    `accept` turns an array leaf into a dprog value)."""
    used: set[str] = set()

    def go(s, path: list[str], depth: int):
        if depth > _MAX_DEPTH:
            raise BadSkeleton("too deep")
        if type(s) is dict and len(s) == 1 and type(s.get("t")) is list:
            return tuple(go(x, [*path, str(i)], depth + 1) for i, x in enumerate(s["t"]))
        if type(s) is dict and len(s) == 1 and type(s.get("r")) is list:
            fields = {}
            for item in s["r"]:
                if not (type(item) is list and len(item) == 2 and type(item[0]) is str):
                    raise BadSkeleton("bad record")
                fields[item[0]] = go(item[1], [*path, item[0]], depth + 1)
            return Record(fields)
        name = "/".join(path) or "arr_0"
        if s not in _LEAF_KINDS or name not in arrays or name in used:
            raise BadSkeleton(f"no member {name!r}")
        used.add(name)
        return _from_leaf(s, arrays[name], accept)

    tree = go(skeleton, [], 0)
    if used != set(arrays):
        raise BadSkeleton("members the description does not name")
    return tree
