"""The sparse History: its cells agree with a dense matrix and mask under every view and edit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fennec_core import table
from fennec_core.errors import InputError
from fennec_core.history.normalize import METHODS, TaskNormalizer
from fennec_core.records import History


@st.composite
def dense_tables(draw):
    m, n = draw(st.integers(1, 7)), draw(st.integers(1, 6))
    mask = np.array(draw(st.lists(st.booleans(), min_size=m * n, max_size=m * n))).reshape(m, n)
    vals = draw(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=m * n, max_size=m * n))
    scores = np.where(mask, np.array(vals).reshape(m, n), np.nan)
    return [f"m{i}" for i in range(m)], [f"t{j}" for j in range(n)], scores, mask


@settings(max_examples=150, deadline=None)
@given(dense_tables())
def test_cells_match_the_dense_table(t):
    mids, tids, scores, mask = t
    h = History(mids, tids, scores, mask)
    rows, cols = np.nonzero(mask)
    assert np.array_equal(h.rows, rows) and np.array_equal(h.cols, cols)
    assert np.array_equal(h.mask, mask) and np.array_equal(h.scores, scores, equal_nan=True)
    assert h.nnz == mask.sum() and np.array_equal(h.task_counts(), mask.sum(0))
    assert np.array_equal(h.model_counts(), mask.sum(1))
    for j, tid in enumerate(tids):
        s, k = h.column(tid)
        assert np.array_equal(k, mask[:, j]) and np.array_equal(s, scores[:, j], equal_nan=True)
    for i in range(len(mids)):
        s, k = h.row(i)
        assert np.array_equal(k, mask[i]) and np.array_equal(s, scores[i], equal_nan=True)
    shuffled = np.random.default_rng(0).permutation(h.nnz)  # from_cells takes any order
    again = History.from_cells(mids, tids, h.rows[shuffled], h.cols[shuffled], h.values[shuffled])
    assert again.to_long() == h.to_long()
    assert sorted(History.from_long(h.to_long()).to_long()) == sorted(h.to_long()) if h.nnz else True
    for j, tid in enumerate(tids if len(tids) > 1 else []):
        w = h.without_task(tid)
        keep = [c for c in range(len(tids)) if c != j]
        assert np.array_equal(w.mask, mask[:, keep]) and np.array_equal(w.scores, scores[:, keep], equal_nan=True)
    pick = [i for i in range(len(mids)) if i % 2 == 0][::-1]
    sel = h.select_models(pick)
    assert sel.model_ids == tuple(mids[i] for i in pick) and np.array_equal(sel.mask, mask[pick])
    assert np.array_equal(sel.scores, scores[pick], equal_nan=True)
    assert np.array_equal(h.to_sparse().toarray(), np.where(mask, scores, 0.0))


@settings(max_examples=100, deadline=None)
@given(dense_tables(), st.sampled_from(METHODS))
def test_sparse_normalisation_equals_the_dense_one(t, method):
    mids, tids, scores, mask = t
    h = History(mids, tids, scores, mask)
    dense = TaskNormalizer.fit(scores, mask, method)
    sparse = TaskNormalizer.fit_history(h, method)
    assert np.array_equal(dense.offset, sparse.offset) and np.array_equal(dense.scale, sparse.scale)
    assert np.array_equal(dense.transform(scores)[mask], sparse.transform_cells(h.cols, h.values))


@settings(max_examples=100, deadline=None)
@given(dense_tables(), dense_tables())
def test_extended_equals_the_dense_merge(a, b):
    ha = History(*a)
    hb = History([f"x{i}" if i % 2 else m for i, m in enumerate(b[0])], [f"y{j}" if j % 2 else t
                                                                           for j, t in enumerate(b[1])], b[2], b[3])
    out, overlap = ha.extended(hb)
    expect = {(m, t): s for m, t, s in ha.to_long()}
    changed = 0
    for m, t, s in hb.to_long():
        if (m, t) in expect and expect[(m, t)] != s:
            changed += 1
        expect[(m, t)] = s
    assert overlap == changed
    assert sorted(out.to_long()) == sorted((m, t, s) for (m, t), s in expect.items())
    assert out.model_ids[:len(ha.model_ids)] == ha.model_ids


def test_bad_cells_fail_in_one_line():
    with pytest.raises(InputError, match="duplicate cell for model 'a', task 't'"):
        History.from_cells(["a"], ["t"], [0, 0], [0, 0], [1.0, 2.0])
    with pytest.raises(InputError, match=r"rows must be whole numbers in \[0, 1\)"):
        History.from_cells(["a"], ["t"], [1], [0], [1.0])
    with pytest.raises(InputError, match="must be finite"):
        History.from_cells(["a"], ["t"], [0], [0], [np.inf])
    with pytest.raises(InputError, match="one length"):
        History.from_cells(["a"], ["t"], [0], [0, 0], [1.0])
    h = History.from_cells(["a"], ["t"], [0], [0], [1.0])
    with pytest.raises(AttributeError, match="immutable"):
        h.values = np.zeros(1)
    with pytest.raises(ValueError):
        h.values[0] = 2.0


def test_a_large_history_refuses_a_dense_view(monkeypatch):
    monkeypatch.setattr(table, "DENSE_VIEW_MAX_CELLS", 10)
    h = History.from_cells([f"m{i}" for i in range(4)], ["a", "b", "c"], [0, 3], [0, 2], [1.0, 2.0])
    with pytest.raises(InputError, match="dense view of this 4 x 3 history would hold 12 cells"):
        h.scores  # noqa: B018
    assert h.column("c")[0][3] == 2.0 and h.nnz == 2  # the sparse reads still work


def test_a_scipy_sparse_matrix_is_a_history():
    from scipy import sparse

    from fennec_core.io.tables import as_history

    m = sparse.csr_array((np.array([0.0, 0.5, 0.7]), (np.array([0, 2, 2]), np.array([1, 0, 1]))), shape=(3, 2))
    h = as_history(m)
    assert h.to_long() == [("0", "1", 0.0), ("2", "0", 0.5), ("2", "1", 0.7)]  # a stored zero is a result
    with pytest.raises(InputError, match="at least one stored entry"):
        as_history(sparse.csr_array((2, 2)))
    with pytest.raises(InputError, match="must be finite"):
        as_history(sparse.coo_array((np.array([np.nan]), (np.array([0]), np.array([0]))), shape=(1, 1)))
