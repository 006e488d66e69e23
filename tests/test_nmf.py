"""Masked NMF: agrees with scikit-learn on a full matrix, handles missing cells, folds in tasks."""

from __future__ import annotations

import numpy as np
import pytest
from fennec_plugins.factorizers.nmf import MaskedNMF

from fennec_core.errors import InputError


def _objective(P, U, V):
    return 0.5 * np.sum((P - U @ V.T) ** 2)


@pytest.mark.slow
def test_full_matrix_matches_sklearn_objective():
    from sklearn.decomposition import NMF

    rng = np.random.default_rng(1)
    P = rng.random((40, 9))
    mask = np.ones_like(P, dtype=bool)
    f = MaskedNMF(k=4, tol=1e-9, max_iter=5000, device="cpu").fit(P, mask)
    sk = NMF(n_components=4, init="nndsvda", max_iter=5000, tol=1e-9, random_state=0, solver="mu")
    W = sk.fit_transform(P)
    ours, theirs = _objective(P, f.U, f.V), _objective(P, W, sk.components_.T)
    assert ours == pytest.approx(theirs, rel=0.03)
    assert np.all(f.U >= 0) and np.all(f.V >= 0)


@pytest.mark.slow
def test_masked_cells_do_not_count():
    rng = np.random.default_rng(2)
    U0, V0 = rng.random((30, 3)), rng.random((8, 3))
    P = U0 @ V0.T
    mask = rng.random(P.shape) > 0.2
    corrupted = np.where(mask, P, 100.0)  # garbage in hidden cells must be ignored
    f = MaskedNMF(k=3, tol=1e-10, max_iter=20000, device="cpu").fit(corrupted, mask)
    pred = f.U @ f.V.T
    assert np.abs(pred - P)[mask].max() < 0.02
    assert np.abs(pred - P)[~mask].mean() < 0.05  # and the hidden cells are recovered


def test_deterministic():
    rng = np.random.default_rng(3)
    P, mask = rng.random((20, 6)), np.ones((20, 6), dtype=bool)
    a = MaskedNMF(k=3, init="random", seed=7, device="cpu").fit(P, mask)
    b = MaskedNMF(k=3, init="random", seed=7, device="cpu").fit(P, mask)
    np.testing.assert_array_equal(a.U, b.U)


def test_fold_in_recovers_task_vector():
    rng = np.random.default_rng(4)
    U = rng.random((25, 3))
    v = np.array([0.3, 0.0, 0.8])
    f = MaskedNMF(k=3, device="cpu")
    from fennec_core.records import Factors

    factors = Factors(U, rng.random((4, 3)))
    obs = U @ v
    mask = np.zeros(25, dtype=bool)
    mask[:6] = True
    np.testing.assert_allclose(f.fold_in(factors, obs, mask), v, atol=1e-8)
    with pytest.raises(InputError, match="no known scores"):
        f.fold_in(factors, obs, np.zeros(25, dtype=bool))


def test_rejects_negative_and_bad_config():
    with pytest.raises(InputError, match="non-negative"):
        MaskedNMF(device="cpu").fit(-np.ones((3, 3)), np.ones((3, 3), dtype=bool))
    with pytest.raises(InputError, match="k must be"):
        MaskedNMF(k=0)
    with pytest.raises(InputError, match="no observed"):
        MaskedNMF(device="cpu").fit(np.ones((3, 3)), np.zeros((3, 3), dtype=bool))
