"""The parts of ``spark-als`` that run on the driver without Spark (biases, the held-out split,
the posterior covariances): checked everywhere, Java or not."""

from __future__ import annotations

import numpy as np
from fennec_plugins.factorizers.spark_als import fit_biases, holdout_cells, posterior_covariances


def _cells(m=30, n=8, fill=0.7, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random((m, n)) < fill
    mask[np.arange(m), rng.integers(0, n, m)] = True
    rows, cols = np.nonzero(mask)
    return rng, rows, cols, (m, n)


def test_biases_recover_an_additive_table():
    rng, rows, cols, shape = _cells()
    b, c = rng.normal(size=shape[0]), 0.5 + rng.normal(size=shape[1])
    z = b[rows] + c[cols] + 1e-4 * rng.normal(size=rows.size)
    fb, fc = fit_biases(rows, cols, z, shape)
    np.testing.assert_allclose(fb[rows] + fc[cols], z, atol=1e-3)


def test_holdout_keeps_a_training_cell_in_every_row_and_column():
    _, rows, cols, (m, n) = _cells(m=50, n=6, fill=0.3)
    for seed in range(5):
        hold = holdout_cells(rows, cols, (m, n), 0.5, seed)
        assert 0 < hold.sum() < rows.size
        assert (np.bincount(rows[~hold], minlength=m) > 0).all()
        assert (np.bincount(cols[~hold], minlength=n) > 0).all()
    np.testing.assert_array_equal(holdout_cells(rows, cols, (m, n), 0.5, 1), holdout_cells(rows, cols, (m, n), 0.5, 1))


def test_covariances_shrink_with_more_results_and_fix_the_constant_coordinates():
    """A row with more results is known better (smaller posterior variance); the constant
    coordinates (model's 1, task's 1) carry no uncertainty, the free ones are positive definite."""
    rng, rows, cols, (m, n) = _cells(m=40, n=10, fill=0.5)
    k = 2
    U = np.column_stack([rng.normal(size=(m, k)), rng.normal(size=m), np.ones(m)])
    V = np.column_stack([rng.normal(size=(n, k)), np.ones(n), rng.normal(size=n)])
    z = np.einsum("ij,ij->i", U[rows], V[cols]) + 0.1 * rng.normal(size=rows.size)
    U_cov, V_cov, noise = posterior_covariances(U, V, rows, cols, z, k)
    assert 0.005 < noise < 0.02  # the noise variance, 0.1 ** 2
    np.testing.assert_array_equal(U_cov[:, k + 1], 0.0)
    np.testing.assert_array_equal(V_cov[:, k], 0.0)
    assert (np.linalg.eigvalsh(U_cov[:, : k + 1, : k + 1]) > 0).all()
    counts = np.bincount(rows, minlength=m)
    trace = np.trace(U_cov, axis1=1, axis2=2)
    few, many = counts <= np.percentile(counts, 25), counts >= np.percentile(counts, 75)
    assert trace[few].mean() > trace[many].mean()
