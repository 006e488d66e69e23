"""Probabilistic matrix factorization with biases, by variational Bayes, in torch.

Model (Salakhutdinov & Mnih, "Probabilistic Matrix Factorization", NIPS 2007; variational
treatment after Lim & Teh, "Variational Bayesian Approach to Movie Rating Prediction", 2007):

    z_ij = w_i . x_j + b_i + c_j + eps,   eps ~ N(0, 1/tau)
    w_i ~ N(0, diag(1/alpha_w)),  x_j ~ N(0, diag(1/alpha_x)),  b_i, c_j Gaussian likewise

with a model bias ``b_i`` (how good a model is overall) and a task bias ``c_j`` (how easy a
task is). Each model and task gets a Gaussian posterior q(.) = N(mu, Sigma) (mean field);
noise precision ``tau`` and the prior precisions ``alpha`` are fitted by empirical Bayes.
Every predicted cell therefore has a mean and a variance:

    E[z_ij]   = mu_i . mu_j
    Var[z_ij] = mu_i' S_j mu_i + mu_j' S_i mu_j + tr(S_i S_j) + 1/tau

Vectors are stored augmented so ``U V^T`` is the mean prediction and the engine stays
generic: model rows ``[w_i, b_i, 1]``, task rows ``[x_j, 1, c_j]`` (k + 2 columns).
All sums over observed cells are sparse products, so the cost per sweep is O(nnz (k+2)^2); a
small table that is at least 5% observed uses dense masked products instead (faster there).

Fold-in of a new task: the exact Gaussian posterior of its vector given its known scores,
under a prior fitted on the historical tasks (their mean and spread) -- with few known
scores the posterior stays close to the mean task (the static ranking); a proxy vector, when
given, replaces the prior mean.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from fennec_core import hookimpl
from fennec_core.errors import InputError
from fennec_core.records import Factors

#: A table of at most this many cells (models x tasks) ...
DENSE_PRODUCT_MAX_CELLS = 4_000_000
#: ... with at least one observed cell in this many is fitted with dense masked products.
DENSE_PRODUCT_MIN_FILL = 20


class VariationalPMF:
    """Bayesian PMF with model and task biases; see the module docstring."""

    name = "pmf"

    def __init__(
        self,
        k: int = 3,
        *,
        max_iter: int = 200,
        tol: float = 1e-5,
        seed: int = 0,
        device: str = "auto",
        prior_floor: float = 1e-3,
    ) -> None:
        from fennec_plugins.factorizers.base import number_option, whole_option

        self.k, self.max_iter = whole_option("pmf", "k", k, 0), whole_option("pmf", "max_iter", max_iter, 1)
        self.tol, self.seed = number_option("pmf", "tol", tol), whole_option("pmf", "seed", seed, 0)
        self.device, self.prior_floor = device, number_option("pmf", "prior_floor", prior_floor, 1e-12)

    # index bookkeeping: model rows [w (k), b, 1], task rows [x (k), 1, c]
    @property
    def D(self) -> int:
        """Augmented vector length (k + 2)."""
        return self.k + 2

    def _free_u(self) -> list[int]:
        return list(range(self.k + 1))

    def _free_v(self) -> list[int]:
        return [*range(self.k), self.k + 1]

    def fit(self, P: np.ndarray, mask: np.ndarray) -> Factors:
        """Fit the posterior of every model and task vector on the observed cells of a dense ``P``."""
        from fennec_plugins.factorizers.base import observed_cells

        rows, cols, vals = observed_cells(P, mask)
        return self.fit_cells(rows, cols, vals, np.shape(P))

    def fit_cells(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
                  shape: tuple[int, int]) -> Factors:
        """Fit the posterior of every model and task vector on the observed cells (row-major)."""
        from fennec_plugins.factorizers.base import check_cells

        rows, cols, vals = check_cells(rows, cols, values, shape)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
            return self._fit(rows, cols, vals, (int(shape[0]), int(shape[1])))

    def _fit(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> Factors:
        import torch

        from fennec_core.device import resolve_device

        m, n = shape
        D, k = self.D, self.k
        dev = resolve_device(self.device)
        dt = torch.float64
        r = torch.as_tensor(rows, device=dev)
        c = torch.as_tensor(cols, device=dev)
        z = torch.as_tensor(vals, dtype=dt, device=dev)
        # the masked products over observed cells: dense 0/1 and score matrices for a small, dense
        # enough table (faster there; the same sums to rounding), sparse CSR ones otherwise
        dense = m * n <= DENSE_PRODUCT_MAX_CELLS and len(vals) * DENSE_PRODUCT_MIN_FILL >= m * n
        if dense:
            M1, Mz = torch.zeros(m, n, dtype=dt, device=dev), torch.zeros(m, n, dtype=dt, device=dev)
            M1[r, c], Mz[r, c] = 1.0, z
            M1_t, Mz_t = M1.T.contiguous(), Mz.T.contiguous()
            flat = r * n + c
        else:
            idx = torch.stack([r, c])
            Mz = torch.sparse_coo_tensor(idx, z, (m, n)).coalesce().to_sparse_csr()
            M1 = torch.sparse_coo_tensor(idx, torch.ones_like(z), (m, n)).coalesce().to_sparse_csr()
            Mz_t = torch.sparse_coo_tensor(idx.flip(0), z, (n, m)).coalesce().to_sparse_csr()
            M1_t = torch.sparse_coo_tensor(idx.flip(0), torch.ones_like(z), (n, m)).coalesce().to_sparse_csr()

        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        mean = float(vals.mean())
        row_cnt = torch.as_tensor(np.bincount(rows, minlength=m), dtype=dt, device=dev).clamp_min(1)
        col_cnt = torch.as_tensor(np.bincount(cols, minlength=n), dtype=dt, device=dev).clamp_min(1)
        mu_u = torch.zeros(m, D, dtype=dt, device=dev)
        mu_v = torch.zeros(n, D, dtype=dt, device=dev)
        mu_u[:, :k] = 0.1 * torch.randn(m, k, generator=gen, dtype=dt).to(dev)
        mu_v[:, :k] = 0.1 * torch.randn(n, k, generator=gen, dtype=dt).to(dev)
        mu_u[:, k] = (Mz @ torch.ones(n, 1, dtype=dt, device=dev)).squeeze(1) / row_cnt - mean
        mu_u[:, k + 1] = 1.0
        mu_v[:, k] = 1.0
        mu_v[:, k + 1] = mean
        S_u = torch.zeros(m, D, D, dtype=dt, device=dev)
        S_v = torch.zeros(n, D, D, dtype=dt, device=dev)
        fu, fv = self._free_u(), self._free_v()
        alpha_u = torch.ones(len(fu), dtype=dt, device=dev)
        alpha_v = torch.ones(len(fv), dtype=dt, device=dev)
        tau = 1.0 / max(float(vals.var()), 1e-6)
        nnz = len(vals)

        def update(mu_a, S_a, mu_b, S_b, Mz_ab, M1_ab, free, const, alpha):
            # second moments of the other side, summed over each row's observed cells
            G = (mu_b[:, :, None] * mu_b[:, None, :] + S_b).reshape(mu_b.shape[0], D * D)
            S = (M1_ab @ G).reshape(-1, D, D)
            t = Mz_ab @ mu_b
            fi = torch.as_tensor(free, device=dev)  # index_select / index_copy_: faster than fancy indexing
            Sf = S.index_select(1, fi)
            Lam = tau * Sf.index_select(2, fi) + torch.diag(alpha)
            rhs = tau * (t.index_select(1, fi) - Sf[:, :, const])
            cov = torch.linalg.inv(Lam)
            cov = 0.5 * (cov + cov.transpose(1, 2))
            new_mu = mu_a.clone().index_copy_(1, fi, (cov @ rhs[:, :, None]).squeeze(2))
            rows_f = torch.zeros(S.shape[0], len(free), D, dtype=S.dtype, device=dev).index_copy_(2, fi, cov)
            return new_mu, torch.zeros_like(S_a).index_copy_(1, fi, rows_f)

        it, converged = 0, False
        for it in range(1, self.max_iter + 1):  # noqa: B007 - `it` is reported after the loop
            old = mu_u.clone(), mu_v.clone()
            mu_v, S_v = update(mu_v, S_v, mu_u, S_u, Mz_t, M1_t, fv, k, alpha_v)
            mu_u, S_u = update(mu_u, S_u, mu_v, S_v, Mz, M1, fu, k + 1, alpha_u)
            # noise precision: expected squared residual over observed cells
            if dense:
                pred = (mu_u @ mu_v.T).reshape(-1).index_select(0, flat)
            else:
                pred = torch.einsum("ij,ij->i", mu_u.index_select(0, r), mu_v.index_select(0, c))
            Gv = (mu_v[:, :, None] * mu_v[:, None, :] + S_v).reshape(n, D * D)
            vecSv = S_v.reshape(n, D * D)
            extra = (S_u.reshape(m, D * D) * (M1 @ Gv)).sum() + (
                (mu_u[:, :, None] * mu_u[:, None, :]).reshape(m, D * D) * (M1 @ vecSv)).sum()
            esq = float(((z - pred) ** 2).sum() + extra)
            tau = nnz / max(esq, 1e-12)
            # empirical-Bayes prior precisions (ARD), floored to stay proper
            alpha_u = m / ((mu_u[:, fu] ** 2).sum(0) + torch.diagonal(S_u, dim1=1, dim2=2)[:, fu].sum(0))
            alpha_v = n / ((mu_v[:, fv] ** 2).sum(0) + torch.diagonal(S_v, dim1=1, dim2=2)[:, fv].sum(0))
            alpha_u = alpha_u.clamp(self.prior_floor, 1e6)
            alpha_v = alpha_v.clamp(self.prior_floor, 1e6)
            change = max(float((mu_u - old[0]).abs().max()), float((mu_v - old[1]).abs().max()))
            if change < self.tol:
                converged = True
                break
        del row_cnt, col_cnt
        U, V = mu_u.cpu().numpy(), mu_v.cpu().numpy()
        return Factors(
            U, V,
            extras={"U_cov": S_u.cpu().numpy(), "V_cov": S_v.cpu().numpy(),
                    "noise_var": np.array([1.0 / tau])},
            info={"factorizer": "pmf", "k": self.k, "n_iter": it, "converged": converged, "noise_sd": float(np.sqrt(1 / tau)),
                  "rmse": float(np.sqrt(np.mean((vals - np.einsum("ij,ij->i", U[rows], V[cols])) ** 2)))},
        )

    # -- new tasks ---------------------------------------------------------------------

    def task_prior(self, factors: Factors) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian prior (mean, covariance) over a new task's vector: the historical tasks' spread."""
        V, S = factors.V, factors.extras["V_cov"]
        fv = self._free_v()
        mean = V.mean(0)
        cov = np.zeros((self.D, self.D))
        Vf = V[:, fv]
        spread = np.cov(Vf.T, bias=True).reshape(len(fv), len(fv)) if V.shape[0] > 1 else np.zeros((len(fv),) * 2)
        cov[np.ix_(fv, fv)] = spread + S[:, fv][:, :, fv].mean(0) + 1e-6 * np.eye(len(fv))
        return mean, cov

    def fold_in_posterior(
        self, factors: Factors, observed: np.ndarray, mask: np.ndarray, *, prior_mean: np.ndarray | None = None,
        prior_cov: np.ndarray | None = None, strength: float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior (mean, cov) of a new task's vector given its known normalised scores.

        ``strength`` >= 1 inflates the noise variance of the known scores (tempering): the
        larger it is, the closer the posterior stays to the prior (the cold ranking).
        """
        observed, mask = np.asarray(observed, dtype=np.float64), np.asarray(mask, dtype=bool)
        if observed.shape != (factors.U.shape[0],) or mask.shape != observed.shape:
            raise InputError(f"pmf fold-in: expected {factors.U.shape[0]} scores and mask entries, got {observed.shape}")
        m0, C0 = self.task_prior(factors)
        if prior_mean is not None:
            m0 = np.asarray(prior_mean, dtype=np.float64)
        if prior_cov is not None:
            C0 = np.asarray(prior_cov, dtype=np.float64)
        if not mask.any():
            return m0, C0
        fv, cv = self._free_v(), self.k
        tau = 1.0 / (float(factors.extras["noise_var"][0]) * max(float(strength), 1.0))
        Uo, So = factors.U[mask], factors.extras["U_cov"][mask]
        S = (Uo[:, :, None] * Uo[:, None, :] + So).sum(0)
        t = (observed[mask][:, None] * Uo).sum(0)
        P0 = np.linalg.inv(C0[np.ix_(fv, fv)])
        Lam = P0 + tau * S[np.ix_(fv, fv)]
        rhs = P0 @ m0[fv] + tau * (t[fv] - S[fv, cv])
        cov_f = np.linalg.inv(Lam)
        mean = m0.copy()
        mean[fv] = cov_f @ rhs
        mean[cv] = 1.0
        cov = np.zeros_like(C0)
        cov[np.ix_(fv, fv)] = 0.5 * (cov_f + cov_f.T)
        return mean, cov

    def fold_in_model(self, factors: Factors, observed: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Posterior mean (k + 2,) of a new model's vector from its scores (n,) on known tasks."""
        observed, mask = np.asarray(observed, dtype=np.float64), np.asarray(mask, dtype=bool)
        if observed.shape != (factors.V.shape[0],) or not mask.any():
            raise InputError("pmf fold-in of a model needs its scores on at least one known task")
        fu, cu = self._free_u(), self.k + 1
        U, SU = factors.U, factors.extras["U_cov"]
        m0 = U.mean(0)
        C0 = np.cov(U[:, fu].T, bias=True).reshape(len(fu), len(fu)) + SU[:, fu][:, :, fu].mean(0)
        C0 += 1e-6 * np.eye(len(fu))
        tau = 1.0 / float(factors.extras["noise_var"][0])
        Vo, So = factors.V[mask], factors.extras["V_cov"][mask]
        S = (Vo[:, :, None] * Vo[:, None, :] + So).sum(0)
        t = (observed[mask][:, None] * Vo).sum(0)
        P0 = np.linalg.inv(C0)
        cov_f = np.linalg.inv(P0 + tau * S[np.ix_(fu, fu)])
        mean = m0.copy()
        mean[fu] = cov_f @ (P0 @ m0[fu] + tau * (t[fu] - S[fu, cu]))
        mean[cu] = 1.0
        return mean

    def fold_in(self, factors: Factors, observed: np.ndarray, mask: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Posterior mean (k + 2,) of a new task's vector given its known scores."""
        return self.fold_in_posterior(factors, observed, mask, **kwargs)[0]

    def predictive_variance(self, factors: Factors, task_mean: np.ndarray, task_cov: np.ndarray) -> np.ndarray:
        """Variance (m,) of every model's score on a task with vector ~ N(task_mean, task_cov)."""
        U, S = factors.U, factors.extras["U_cov"]
        var = np.einsum("id,de,ie->i", U, task_cov, U) + np.einsum("d,ide,e->i", task_mean, S, task_mean)
        var += np.einsum("ide,ed->i", S, task_cov) + float(factors.extras["noise_var"][0])
        return np.maximum(var, 0.0)


@hookimpl
def fennec_register_factorizers(register):
    """Register variational Bayesian PMF as ``pmf``."""
    register("pmf", VariationalPMF)
