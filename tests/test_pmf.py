"""Variational PMF: recovers low-rank data, calibrated intervals, exact Gaussian fold-in."""

from __future__ import annotations

import numpy as np
import pytest
from fennec_plugins.factorizers.pmf import VariationalPMF

from fennec_core.errors import InputError


def _data(m=60, n=10, k=2, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    U, V = rng.standard_normal((m, k)), rng.standard_normal((n, k))
    b, c = rng.standard_normal(m), rng.standard_normal(n)
    return U @ V.T + b[:, None] + c[None, :] + noise * rng.standard_normal((m, n))


def test_recovers_held_out_cells_and_noise():
    P = _data()
    rng = np.random.default_rng(1)
    mask = rng.random(P.shape) > 0.15
    f = VariationalPMF(k=3, device="cpu").fit(np.where(mask, P, 0), mask)
    pred = f.U @ f.V.T
    assert np.sqrt(np.mean((pred - P)[~mask] ** 2)) < 0.15
    assert f.info["noise_sd"] == pytest.approx(0.05, rel=0.5)
    assert f.U.shape == (60, 5) and np.all(f.U[:, -1] == 1.0) and np.all(f.V[:, 3] == 1.0)


def test_intervals_are_calibrated():
    """Nominal 90% intervals hold about 90% of held-out truths (target 80-95%)."""
    inside = []
    for seed in range(4):
        P = _data(seed=seed, noise=0.2)
        rng = np.random.default_rng(seed + 10)
        mask = rng.random(P.shape) > 0.1
        f = VariationalPMF(k=2, device="cpu").fit(np.where(mask, P, 0), mask)
        S_u, S_v = f.extras["U_cov"], f.extras["V_cov"]
        mean = f.U @ f.V.T
        var = (np.einsum("id,jde,ie->ij", f.U, S_v, f.U) + np.einsum("jd,ide,je->ij", f.V, S_u, f.V)
               + np.einsum("ide,jed->ij", S_u, S_v) + f.extras["noise_var"][0])
        z = (P - mean)[~mask] / np.sqrt(var[~mask])
        inside.extend(np.abs(z) < 1.6448536)
    assert 0.80 <= np.mean(inside) <= 0.95


def test_fold_in_posterior_is_exact_gaussian_update():
    P = _data(noise=0.01)
    mask = np.ones_like(P, dtype=bool)
    pmf = VariationalPMF(k=2, device="cpu")
    f = pmf.fit(P[:, :-1], mask[:, :-1])
    obs = P[:, -1]
    few = np.zeros(60, dtype=bool)
    few[:3] = True
    many = np.ones(60, dtype=bool)
    m0, C0 = pmf.task_prior(f)
    m_few, C_few = pmf.fold_in_posterior(f, obs, few)
    m_all, C_all = pmf.fold_in_posterior(f, obs, many)
    # more evidence, less posterior variance; all evidence reproduces the column
    assert np.trace(C_all) < np.trace(C_few) < np.trace(C0)
    assert np.corrcoef(f.U @ m_all, obs)[0, 1] > 0.99
    m_none, C_none = pmf.fold_in_posterior(f, obs, np.zeros(60, dtype=bool))
    np.testing.assert_allclose(m_none, m0)
    # tempering the evidence keeps the posterior nearer the prior
    m_tempered, _ = pmf.fold_in_posterior(f, obs, few, strength=1e8)
    np.testing.assert_allclose(m_tempered, m0, atol=1e-3)
    assert np.abs(m_tempered - m0).max() < np.abs(m_few - m0).max()


def test_predictive_variance_includes_noise():
    P = _data()
    f = VariationalPMF(k=2, device="cpu").fit(P, np.ones_like(P, dtype=bool))
    pmf = VariationalPMF(k=2)
    mean, cov = pmf.task_prior(f)
    var = pmf.predictive_variance(f, mean, cov)
    assert var.shape == (60,) and np.all(var >= f.extras["noise_var"][0])


def test_fold_in_model():
    P = _data(noise=0.01)
    pmf = VariationalPMF(k=2, device="cpu")
    f = pmf.fit(P[:-1], np.ones_like(P[:-1], dtype=bool))
    u = pmf.fold_in_model(f, P[-1], np.ones(10, dtype=bool))
    assert np.corrcoef(f.V @ u, P[-1])[0, 1] > 0.99
    with pytest.raises(InputError, match="at least one known task"):
        pmf.fold_in_model(f, P[-1], np.zeros(10, dtype=bool))


def test_deterministic():
    P = _data()
    mask = np.ones_like(P, dtype=bool)
    a = VariationalPMF(k=2, seed=3, device="cpu").fit(P, mask)
    b = VariationalPMF(k=2, seed=3, device="cpu").fit(P, mask)
    np.testing.assert_array_equal(a.U, b.U)
