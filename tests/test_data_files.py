"""Data files lose nothing: read_csv keeps every numeric row, save/load round-trip."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import dprog


@pytest.fixture
def it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return dprog.Interpreter(allow_files=True)


def _csv(tmp_path, text, name="d.csv"):
    (tmp_path / name).write_text(text)
    return name


def test_a_headerless_first_row_is_kept(it, tmp_path):
    _csv(tmp_path, "1,2\n3,4\n")
    assert it.eval('read_csv("d.csv")').tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_a_header_row_is_skipped(it, tmp_path):
    _csv(tmp_path, "x,y\n1,2\n3,4\n")
    assert it.eval('read_csv("d.csv")').tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_header_option_is_explicit(it, tmp_path):
    _csv(tmp_path, "1,2\n3,4\n")
    assert it.eval('read_csv("d.csv", header=true)').tolist() == [[3.0, 4.0]]
    assert it.eval('read_csv("d.csv", header=false)').tolist() == [[1.0, 2.0], [3.0, 4.0]]
    _csv(tmp_path, "x,y\n1,2\n")
    with pytest.raises(dprog.DpValueError, match="line 1 is not numeric"):
        it.eval('read_csv("d.csv", header=false)')
    with pytest.raises(dprog.DpTypeError, match="header"):
        it.eval('read_csv("d.csv", header=1)')


def test_only_a_header_gives_zero_rows(it, tmp_path):
    _csv(tmp_path, "a,b,c\n")
    assert it.eval('read_csv("d.csv")').shape == (0, 3)


def test_empty_fields_are_nan(it, tmp_path):
    _csv(tmp_path, "1,,3\n4,5,\n")
    got = it.eval('read_csv("d.csv")')
    assert got.shape == (2, 3)
    assert math.isnan(got[0, 1]) and math.isnan(got[1, 2]) and got[1, 1] == 5.0


def test_ragged_rows_name_the_line(it, tmp_path):
    _csv(tmp_path, "x,y\n1,2\n\n3,4,5\n")
    with pytest.raises(dprog.DpValueError, match="line 4 has 3 fields"):
        it.eval('read_csv("d.csv")')


@pytest.mark.parametrize("rows", [[[0.5]], [[1, 2], [3, 4]], [[-1e300, 2.5e-7, 3]]])
def test_no_numeric_row_is_ever_dropped(it, tmp_path, rows):
    text = "\n".join(",".join(repr(float(v)) for v in r) for r in rows) + "\n"
    _csv(tmp_path, text)
    assert it.eval('read_csv("d.csv")').tolist() == np.array(rows, float).tolist()


# ------------------------------------------------------------ CSV with text columns
IRIS_LIKE = """sepal_length,sepal_width,species
5.1,3.5,setosa
7.0,3.2,versicolor
6.3,,virginica
4.9,3.0,setosa
"""


def test_text_columns_are_read_apart(it, tmp_path):
    _csv(tmp_path, IRIS_LIKE)
    d = it.eval('read_csv("d.csv", strings=true)')
    assert d["data"].shape == (4, 2) and d["data"][1].tolist() == [7.0, 3.2]
    assert math.isnan(d["data"][2, 1])
    assert d["text"] == (("setosa", "versicolor", "virginica", "setosa"),)
    assert d["data_columns"] == ("sepal_length", "sepal_width")
    assert d["text_columns"] == ("species",)


def test_a_headerless_row_with_text_is_data(it, tmp_path):
    _csv(tmp_path, "5.1,a\n7.0,b\n")
    d = it.eval('read_csv("d.csv", strings=true)')
    assert d["data"].tolist() == [[5.1], [7.0]] and d["text"] == (("a", "b"),)
    assert d["data_columns"] == (0,) and d["text_columns"] == (1,)
    d = it.eval('read_csv("d.csv", strings=true, header=true)')
    assert d["data"].tolist() == [[7.0]] and d["text_columns"] == ("a",)


def test_quoted_fields_may_hold_commas(it, tmp_path):
    _csv(tmp_path, 'x,name\n1,"Smith, J."\n2,"O\'Neil"\n')
    d = it.eval('read_csv("d.csv", strings=true)')
    assert d["text"] == (("Smith, J.", "O'Neil"),) and d["data"].tolist() == [[1.0], [2.0]]


def test_text_without_strings_option_names_the_option(it, tmp_path):
    _csv(tmp_path, IRIS_LIKE)
    with pytest.raises(dprog.DpValueError, match="line 2 is not numeric: 'setosa'") as info:
        it.eval('read_csv("d.csv")')
    assert "strings=true" in info.value.hint


def test_the_numbers_match_numpy(it, tmp_path):
    _csv(tmp_path, IRIS_LIKE)
    want = np.genfromtxt(tmp_path / "d.csv", delimiter=",", skip_header=1, usecols=(0, 1))
    got = it.eval('read_csv("d.csv", strings=true).data')
    np.testing.assert_array_equal(got, want)


def test_encode_labels_is_numpy_unique_with_inverse(it, tmp_path):
    _csv(tmp_path, IRIS_LIKE)
    codes, classes = it.eval('encode_labels(read_csv("d.csv", strings=true).text[0])')
    names = ["setosa", "versicolor", "virginica", "setosa"]
    uniq, inverse = np.unique(names, return_inverse=True)
    assert classes == tuple(uniq) and codes.tolist() == inverse.astype(float).tolist()
    codes, classes = it.eval("encode_labels([3.0, 1.0, 3.0, 2.0])")
    assert classes.tolist() == [1.0, 2.0, 3.0] and codes.tolist() == [2.0, 0.0, 2.0, 1.0]


@pytest.mark.parametrize("src, match", [
    ('encode_labels(("a", 1))', "strings or all numbers"),
    ("encode_labels(zeros(2, 2))", "1-D"),
    ("encode_labels(3)", "tuple or a 1-D array"),
])
def test_encode_labels_errors(it, src, match):
    with pytest.raises(dprog.DpError, match=match):
        it.eval(src)


def test_the_iris_example_data_reads_with_its_species(tmp_path):
    it = dprog.Interpreter(allow_files=True)
    path = Path(__file__).parent.parent / "examples" / "data" / "iris_species.csv"
    d = it.eval(f'read_csv("{path}", strings=true)')
    assert d["data"].shape == (150, 4) and d["text_columns"] == ("species",)
    codes, classes = it.eval(f'encode_labels(read_csv("{path}", strings=true).text[0])')
    assert classes == ("setosa", "versicolor", "virginica")
    assert np.bincount(codes.astype(int)).tolist() == [50, 50, 50]


def test_read_text(it, tmp_path):
    (tmp_path / "t.txt").write_text("héllo\nworld\n", encoding="utf-8")
    assert it.eval('read_text("t.txt")') == "héllo\nworld\n"
    (tmp_path / "b.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(dprog.DpImportError, match="not UTF-8"):
        it.eval('read_text("b.txt")')


# ------------------------------------------------------------ save / load of trees
TREES = [
    "{w: [[1.0, 2.0], [3.0, 4.0]], b: [0.5], n: 3, lr: 0.1, on: true}",
    "(1.0, (2, [true, false]), {a: (), b: {}}, \"label\")",
    "{layers: ({w: ones(2, 3), b: zeros(3)}, {w: ones(3, 1), b: zeros(1)}), step: 7}",
    "[1.0, nan, inf, -0.0]",
    "2.5",
]


@pytest.mark.parametrize("tree", TREES)
def test_save_load_round_trip_is_identical(it, tree):
    it.exec(f"let t = {tree}\nsave(\"m.npz\", t)\nlet back = load(\"m.npz\")")
    assert it.eval("str(back) == str(t)")
    assert it.eval("tree_map(fn(a, b) => 0, t, back) == tree_map(fn(a, b) => 0, t, t)")
    a, b = it["t"], it["back"]
    assert type(a) is type(b)


def test_round_trip_keeps_types_and_bits(it):
    it.exec('let t = {i: 2**62, f: 1e-300, s: "ünï", a: [1.0, nan]}\nsave("m.npz", t)')
    back = it.eval('load("m.npz")')
    assert back["i"] == 2**62 and type(back["i"]) is int
    assert back["f"] == 1e-300 and back["s"] == "ünï"
    assert np.isnan(back["a"][1])


def test_numpy_reads_leaves_by_path(it, tmp_path):
    it.exec('save("m.npz", {layers: ({w: [1.0, 2.0]}, {w: [3.0]}), step: 4, name: "mlp"})')
    with np.load(tmp_path / "m.npz") as z:
        assert sorted(z.files) == ["layers/0/w", "layers/1/w", "name", "step"]
        assert z["layers/1/w"].tolist() == [3.0] and z["step"] == 4
        assert z["name"] == "mlp"


def test_a_numpy_archive_loads_as_a_record(it, tmp_path):
    np.savez(tmp_path / "n.npz", a=np.arange(3.0), b=np.eye(2))
    got = it.eval('load("n.npz")')
    assert got["a"].tolist() == [0.0, 1.0, 2.0] and got["b"].tolist() == [[1, 0], [0, 1]]


@pytest.mark.parametrize("bad, match", [
    ('{f: fn(x) => x}', "a function"), ("{n: none}", "none"),
    ("{i: 2**70}", "too large for int64"), ('(1, "a\\x00")', "NUL"),
])
def test_what_cannot_be_saved_is_refused_by_path(it, tmp_path, bad, match):
    with pytest.raises(dprog.DpError, match=match):
        it.exec(f'save("m.npz", {bad})')
    assert not list(tmp_path.iterdir())


def test_a_tree_needs_an_npz_path(it):
    with pytest.raises(dprog.DpTypeError, match=r"\.npz") as info:
        it.exec('save("m.npy", (1.0, 2.0))')
    assert ".npz" in info.value.hint


def test_a_forged_tree_description_is_a_clean_error(it, tmp_path):
    import zipfile
    np.savez(tmp_path / "f.npz", a=np.ones(2))
    with zipfile.ZipFile(tmp_path / "f.npz", "a") as zf:
        zf.comment = b"dprog-tree 1\nnot zlib"
    with pytest.raises(dprog.DpImportError, match="cannot load"):
        it.eval('load("f.npz")')


@pytest.mark.parametrize("arr", [np.arange(6.0).reshape(2, 3), np.asfortranarray(np.eye(3) * 2),
                                 np.arange(4, dtype=">f8"), np.arange(5, dtype=np.int32),
                                 np.array([True, False]), np.zeros((0, 3))])
def test_numpy_files_load_with_their_values(it, tmp_path, arr):
    np.save(tmp_path / "a.npy", arr)
    np.savez_compressed(tmp_path / "z.npz", a=arr)
    for src in ('load("a.npy")', 'load("z.npz").a'):
        got = it.eval(src)
        assert got.shape == arr.shape and got.tolist() == arr.tolist()
        assert got.dtype == (bool if arr.dtype == bool else np.float64)
