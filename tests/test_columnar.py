"""Columnar history reading (pyarrow): the same history and the same errors as the strict reader,
only faster; Parquet histories with bounded sizes."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fennec_core.errors import InputError
from fennec_core.io import columnar
from fennec_core.io.tables import parse_history, read_history


def _same(a, b) -> None:
    assert a.model_ids == b.model_ids and a.task_ids == b.task_ids
    assert np.array_equal(a.rows, b.rows) and np.array_equal(a.cols, b.cols)
    assert np.array_equal(a.values, b.values)


def test_a_clean_table_is_read_columnar():
    fast = columnar.history_from_csv_bytes(b"model,task,score,note\n7,t,0.5,x\nb,t,1e-3,\n")
    assert fast is not None and fast.model_ids == ("7", "b") and list(fast.values) == [0.5, 1e-3]


def test_the_white_space_list_is_pythons():
    assert set(columnar.SPACE_CODES) == {c for c in range(sys.maxunicode + 1) if chr(c).isspace()}


ID = st.sampled_from(["a", "b", "m/1", " a", "a ", "", "7", "x\u00a0", "é", '"q,1"', "t\x1c"])
SCORE = st.sampled_from(["0.5", "1", "-2e-3", " 0.25", "1_000", "nan", "inf", "NA", "", "x", "1.", ".5", "+3"])


@st.composite
def csv_texts(draw):
    header = draw(st.sampled_from(["model,task,score", "task,model,score,extra", "model,task", "model ,task,score",
                                   "model,task,score,score"]))
    cols = header.split(",")
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        cells = {"model": draw(ID), "task": draw(ID), "score": draw(SCORE), "extra": draw(st.sampled_from(["", "z"]))}
        row = [cells.get(c.strip(), "1") for c in cols]
        if draw(st.integers(0, 9)) == 0:
            row = row[:-1]  # a short row
        rows.append(",".join(row))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    return bom + "\n".join([header, *rows]) + "\n"


@settings(max_examples=300, deadline=None)
@given(csv_texts())
def test_the_columnar_parse_accepts_only_what_the_strict_reader_accepts_and_agrees(text):
    fast = columnar.history_from_csv_bytes(text.encode())
    try:
        strict = parse_history(text.removeprefix("\ufeff"))
    except InputError:
        assert fast is None
        return
    if fast is not None:
        _same(fast, strict)


def _big_history(tmp_path, rows=40_000, tasks=8, extra=""):
    rng = np.random.default_rng(0)
    lines = ["model,task,score"] + [f"model_{i},task_{j},{rng.random():.6f}" for i in range(rows // tasks)
                                   for j in range(tasks)]
    path = tmp_path / "h.csv"
    path.write_text("\n".join(lines) + "\n" + extra)
    assert path.stat().st_size >= columnar.COLUMNAR_MIN_BYTES
    return path


def test_a_large_csv_goes_columnar_and_equals_the_strict_reading(tmp_path, monkeypatch):
    path = _big_history(tmp_path)
    calls = []
    real = columnar.history_from_csv_bytes
    monkeypatch.setattr(columnar, "history_from_csv_bytes", lambda data: calls.append(1) or real(data))
    history = read_history(path)
    assert calls == [1] and history.shape == (5000, 8)
    _same(history, parse_history(path.read_text()))


@pytest.mark.parametrize(("extra", "needle"), [
    ("model_1,task_1,0.5\n", "duplicate row for model 'model_1', task 'task_1'"),
    ("model_x,task_1,1_000\n", "score '1_000' is not a number"),
    ("model_x,task_1,nan\n", "scores must be finite"),
    ("model_x, ,0.5\n", "empty task id"),
])
def test_a_large_csv_with_one_bad_row_gets_the_strict_readers_error_and_line(tmp_path, extra, needle):
    path = _big_history(tmp_path, extra=extra)
    with pytest.raises(InputError, match=needle) as err:
        read_history(path)
    assert "line 40002" in str(err.value)


def test_parquet_histories(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"model": ["a", "b", "a"], "task": ["t", "t", "u"], "score": [0.5, 0.7, 0.2], "x": [1, 2, 3]})
    pq.write_table(table, tmp_path / "h.parquet")
    _same(read_history(tmp_path / "h.parquet"), parse_history("model,task,score\na,t,0.5\nb,t,0.7\na,u,0.2\n"))
    pq.write_table(table.drop_columns(["score"]), tmp_path / "missing.parquet")
    with pytest.raises(InputError, match="missing column"):
        read_history(tmp_path / "missing.parquet")
    pq.write_table(pa.table({"model": ["a", "a"], "task": ["t", "t"], "score": [0.5, 0.6]}), tmp_path / "dup.parquet")
    with pytest.raises(InputError, match="duplicate rows for model 'a', task 't'"):
        read_history(tmp_path / "dup.parquet")
    pq.write_table(pa.table({"model": ["a"], "task": ["t"], "score": [float("inf")]}), tmp_path / "inf.parquet")
    with pytest.raises(InputError, match="row 1: score is inf"):
        read_history(tmp_path / "inf.parquet")
    (tmp_path / "fake.parquet").write_text("model,task,score\n")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        read_history(tmp_path / "fake.parquet")
    monkeypatch.setenv("FENNEC_MAX_TABLE_BYTES", "10")
    with pytest.raises(InputError, match="uncompressed, more than the 10-byte limit"):
        read_history(tmp_path / "h.parquet")
