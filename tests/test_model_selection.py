"""k='auto': cross-validation on held-out cells picks the true rank of synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
from fennec_plugins.factorizers.nmf import MaskedNMF

from fennec_core.history.choose_k import cell_folds, select_k
from fennec_core.records import History


def test_folds_keep_rows_and_columns():
    h = History(list("abcde"), ["x", "y", "z"], np.ones((5, 3)), np.ones((5, 3), dtype=bool))
    for hold in cell_folds(h, 3, seed=0):
        assert set(h.rows[~hold]) == set(range(5)) and set(h.cols[~hold]) == set(range(3))
    one = History.from_cells(["a", "b"], ["x", "y"], [0, 1, 1], [0, 0, 1], [1.0, 2.0, 3.0])
    for hold in cell_folds(one, 2, seed=1):  # the single cells of row a and column y are never held out
        assert not hold[0] and not hold[2]


@pytest.mark.slow
def test_select_k_finds_true_rank():
    rng = np.random.default_rng(0)
    P = rng.random((80, 3)) @ rng.random((3, 12)) + 0.01 * rng.random((80, 12))
    h = History([f"m{i}" for i in range(80)], [f"t{j}" for j in range(12)], P, np.ones_like(P, dtype=bool))
    best, scores = select_k(lambda k: MaskedNMF(k=k, device="cpu", max_iter=3000, tol=1e-8), h, h.values,
                            candidates=(1, 2, 3, 5, 8), seed=0)
    assert best == 3
    assert scores[3] < scores[1] and scores[3] < scores[2]
