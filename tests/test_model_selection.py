"""k='auto': cross-validation on held-out cells picks the true rank of synthetic data."""

from __future__ import annotations

import numpy as np
from fennec_plugins.factorizers.nmf import MaskedNMF

from fennec_core.history.choose_k import cell_folds, select_k


def test_folds_keep_rows_and_columns():
    mask = np.ones((5, 3), dtype=bool)
    for hold in cell_folds(mask, 3, seed=0):
        train = mask & ~hold
        assert train.any(1).all() and train.any(0).all()


def test_select_k_finds_true_rank():
    rng = np.random.default_rng(0)
    P = rng.random((80, 3)) @ rng.random((3, 12)) + 0.01 * rng.random((80, 12))
    mask = np.ones_like(P, dtype=bool)
    best, scores = select_k(lambda k: MaskedNMF(k=k, device="cpu", max_iter=3000, tol=1e-8), P, mask,
                            candidates=(1, 2, 3, 5, 8), seed=0)
    assert best == 3
    assert scores[3] < scores[1] and scores[3] < scores[2]
