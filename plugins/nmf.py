"""Masked non-negative matrix factorization in torch (the paper's factorizer, generalised).

Paper (arXiv 2403.06382, official code): scikit-learn ``NMF(n_components=5)`` with the
Frobenius loss and no regularisation on the full model x task matrix. Here the loss only
counts observed cells, so histories with missing cells work:

    min_{U >= 0, V >= 0}  1/2 || M o (P - U V^T) ||_F^2
                          + l1 (|U|_1 + |V|_1) + l2/2 (||U||_F^2 + ||V||_F^2)

solved by masked multiplicative updates (Lee & Seung 2001) from an NNDSVDa start
(Boutsidis & Gallopoulos 2008) on the mean-imputed matrix, until the relative decrease of
the loss falls below ``tol``. Shapes: P, M (m, n); U (m, k); V (n, k). Runs on ``device``.

Fold-in of a new task (warm start): non-negative least squares ``min_{v>=0} ||U_o v - y_o||``
(+ the same L2) over the models whose scores are known.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fennec_core import hookimpl
from fennec_core.errors import InputError
from fennec_core.records import Factors

EPS = 1e-12


def nndsvda(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """NNDSVD initialisation with zeros filled by the matrix mean (sklearn's ``nndsvda``)."""
    Uf, S, Vt = np.linalg.svd(X, full_matrices=False)
    m, n = X.shape
    W, H = np.zeros((m, k)), np.zeros((k, n))
    W[:, 0] = np.sqrt(S[0]) * np.abs(Uf[:, 0])
    H[0, :] = np.sqrt(S[0]) * np.abs(Vt[0, :])
    for j in range(1, min(k, S.size)):
        x, y = Uf[:, j], Vt[j, :]
        xp, xn = np.maximum(x, 0), np.maximum(-x, 0)
        yp, yn = np.maximum(y, 0), np.maximum(-y, 0)
        np_, nn = np.linalg.norm(xp) * np.linalg.norm(yp), np.linalg.norm(xn) * np.linalg.norm(yn)
        if np_ >= nn:
            u, v, sigma = xp / (np.linalg.norm(xp) + EPS), yp / (np.linalg.norm(yp) + EPS), np_
        else:
            u, v, sigma = xn / (np.linalg.norm(xn) + EPS), yn / (np.linalg.norm(yn) + EPS), nn
        W[:, j] = np.sqrt(S[j] * sigma) * u
        H[j, :] = np.sqrt(S[j] * sigma) * v
    avg = X.mean()
    W[W < EPS] = avg
    H[H < EPS] = avg
    return W, H.T


class MaskedNMF:
    """Masked NMF factorizer; see the module docstring for the objective."""

    name = "nmf"

    def __init__(
        self,
        k: int = 5,
        *,
        l1: float = 0.0,
        l2: float = 0.0,
        max_iter: int = 2000,
        tol: float = 1e-6,
        init: str = "nndsvda",
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        if int(k) < 1:
            raise InputError(f"nmf: k must be >= 1, got {k}")
        if init not in ("nndsvda", "random"):
            raise InputError(f"nmf: init must be 'nndsvda' or 'random', got {init!r}")
        if l1 < 0 or l2 < 0:
            raise InputError("nmf: l1 and l2 must be >= 0")
        self.k, self.l1, self.l2 = int(k), float(l1), float(l2)
        self.max_iter, self.tol, self.init, self.seed, self.device = int(max_iter), float(tol), init, int(seed), device

    def config(self) -> dict[str, Any]:
        """The constructor arguments, for storing beside the fitted factors."""
        return {"k": self.k, "l1": self.l1, "l2": self.l2, "max_iter": self.max_iter,
                "tol": self.tol, "init": self.init, "seed": self.seed}

    def fit(self, P: np.ndarray, mask: np.ndarray) -> Factors:
        """Factorize the observed cells of ``P`` (must be non-negative) into ``U V^T``."""
        import torch

        from fennec_core.scoring import resolve_device

        P = np.array(P, dtype=np.float64)
        mask = np.array(mask, dtype=bool)
        if P.shape != mask.shape or P.ndim != 2:
            raise InputError(f"nmf: P and mask must be 2-D of one shape, got {P.shape} and {mask.shape}")
        if not mask.any():
            raise InputError("nmf: no observed cells to factorize")
        if np.any(P[mask] < 0):
            raise InputError("nmf: scores must be non-negative; normalise with 'minmax' first")
        m, n = P.shape
        k = self.k
        filled = np.where(mask, P, 0.0)
        col_mean = filled.sum(0) / np.maximum(mask.sum(0), 1)
        imputed = np.where(mask, P, col_mean[None, :])
        if self.init == "nndsvda":
            U0, V0 = nndsvda(imputed, k)
        else:
            rng = np.random.default_rng(self.seed)
            scale = np.sqrt(max(imputed.mean(), EPS) / k)
            U0, V0 = scale * rng.random((m, k)), scale * rng.random((n, k))
        dev = resolve_device(self.device)
        torch.manual_seed(self.seed)
        Pt = torch.as_tensor(filled, dtype=torch.float64, device=dev)
        Mt = torch.as_tensor(mask, dtype=torch.float64, device=dev)
        U = torch.as_tensor(U0, dtype=torch.float64, device=dev).clamp_min(EPS)
        V = torch.as_tensor(V0, dtype=torch.float64, device=dev).clamp_min(EPS)
        MP = Mt * Pt

        def loss() -> float:
            R = Mt * (Pt - U @ V.T)
            val = 0.5 * (R * R).sum() + self.l1 * (U.sum() + V.sum()) + 0.5 * self.l2 * ((U * U).sum() + (V * V).sum())
            return float(val)

        prev = loss()
        converged, it = False, 0
        for it in range(1, self.max_iter + 1):
            U *= (MP @ V) / ((Mt * (U @ V.T)) @ V + self.l1 + self.l2 * U + EPS)
            V *= (MP.T @ U) / ((Mt * (U @ V.T)).T @ U + self.l1 + self.l2 * V + EPS)
            if it % 10 == 0:
                cur = loss()
                if prev - cur <= self.tol * max(prev, EPS):
                    converged = True
                    prev = cur
                    break
                prev = cur
        return Factors(
            U.cpu().numpy(), V.cpu().numpy(),
            info={"factorizer": "nmf", "loss": prev, "n_iter": it, "converged": converged},
        )

    def fold_in(self, factors: Factors, observed: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Task vector (k,) from its known scores: NNLS on the known models' vectors."""
        from scipy.optimize import nnls

        observed, mask = np.asarray(observed, dtype=np.float64), np.asarray(mask, dtype=bool)
        if observed.shape != (factors.U.shape[0],) or mask.shape != observed.shape:
            raise InputError(f"nmf fold-in: expected {factors.U.shape[0]} scores and mask entries, got {observed.shape}")
        if not mask.any():
            raise InputError("nmf fold-in: no known scores to fold in")
        A, b = factors.U[mask], observed[mask]
        if self.l2 > 0:
            A = np.vstack([A, np.sqrt(self.l2) * np.eye(factors.k)])
            b = np.concatenate([b, np.zeros(factors.k)])
        v, _ = nnls(A, b)
        return v


@hookimpl
def fennec_register_factorizers(register):
    """Register the masked NMF factorizer as ``nmf``."""
    register("nmf", MaskedNMF)
