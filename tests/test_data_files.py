"""Data files lose nothing: read_csv keeps every numeric row, save/load round-trip."""

from __future__ import annotations

import math

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
