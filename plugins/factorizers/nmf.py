"""Masked non-negative matrix factorization in torch (the paper's factorizer, generalised).

Paper (arXiv 2403.06382, official code): scikit-learn ``NMF(n_components=5)`` with the
Frobenius loss and no regularisation on the full model x task matrix. Here the loss only
counts observed cells, so histories with missing cells work:

    min_{U >= 0, V >= 0}  1/2 || M o (P - U V^T) ||_F^2
                          + l1 (|U|_1 + |V|_1) + l2/2 (||U||_F^2 + ||V||_F^2)

solved by masked multiplicative updates (Lee & Seung 2001) until the relative decrease of
the loss falls below ``tol``. The updates touch observed cells only (gathers and
``index_add`` over the list of observed cells), so the cost per iteration is O(nnz k) and a
100,000 x 1,000 history with 2% observed cells fits in seconds. Initialisation: NNDSVDa
(Boutsidis & Gallopoulos 2008) on the mean-imputed matrix for small matrices, a seeded
scaled uniform start for large ones (``init="auto"``). Shapes: P, M (m, n); U (m, k); V (n, k).

Fold-in of a new task (warm start): non-negative least squares over the models whose scores
are known, optionally shrunk toward a prior vector (the cold or proxy vector):
``min_{v >= 0} ||U_o v - y_o||^2 + s ||v - v_prior||^2``.
"""

from __future__ import annotations

import warnings

import numpy as np
from fennec_plugins.factorizers.base import check_cells, number_option, observed_cells, whole_option

from fennec_core import hookimpl
from fennec_core.errors import InputError
from fennec_core.records import Factors

EPS = 1e-12
NNDSVD_MAX_CELLS = 4_000_000


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
        pos = np.linalg.norm(xp) * np.linalg.norm(yp)
        neg = np.linalg.norm(xn) * np.linalg.norm(yn)
        if pos >= neg:
            u, v, sigma = xp / (np.linalg.norm(xp) + EPS), yp / (np.linalg.norm(yp) + EPS), pos
        else:
            u, v, sigma = xn / (np.linalg.norm(xn) + EPS), yn / (np.linalg.norm(yn) + EPS), neg
        W[:, j] = np.sqrt(S[j] * sigma) * u
        H[j, :] = np.sqrt(S[j] * sigma) * v
    avg = X.mean()
    W[W < EPS] = avg
    H[H < EPS] = avg
    return W, H.T


class _SparseOps:
    """Products restricted to the observed cells, as sparse CSR matrices (rows and columns)."""

    def __init__(self, rows, cols, vals, shape, dtype, device) -> None:
        import torch

        self.torch = torch
        order = np.lexsort((cols, rows))  # row-major
        self.r = torch.as_tensor(rows[order], device=device)
        self.c = torch.as_tensor(cols[order], device=device)
        self.y = torch.as_tensor(vals[order], dtype=dtype, device=device)
        self.shape = shape
        self.crow_r = self._crow(self.r, shape[0])
        t = np.lexsort((rows[order], cols[order]))  # column-major permutation of the row-major list
        self.perm = torch.as_tensor(t, device=device)
        self.r_t = self.r[self.perm]
        self.crow_c = self._crow(self.c[self.perm], shape[1])

    def _crow(self, sorted_idx, n):
        counts = self.torch.bincount(sorted_idx, minlength=n)
        return self.torch.cat([counts.new_zeros(1), counts.cumsum(0)])

    def predict(self, U, V):
        """(U V^T) at the observed cells, in row-major order."""
        return self.torch.einsum("ij,ij->i", U.index_select(0, self.r), V.index_select(0, self.c))

    def rows_times(self, values, V):
        """(M o X) V where X holds ``values`` at the observed cells: shape (m, k)."""
        X = self.torch.sparse_csr_tensor(self.crow_r, self.c, values, self.shape)
        return X @ V

    def cols_times(self, values, U):
        """(M o X)^T U: shape (n, k)."""
        X = self.torch.sparse_csr_tensor(self.crow_c, self.r_t, values[self.perm], (self.shape[1], self.shape[0]))
        return X @ U


class MaskedNMF:
    """Masked NMF factorizer; see the module docstring for the objective."""

    name = "nmf"
    requires_nonnegative = True

    def __init__(
        self,
        k: int = 5,
        *,
        l1: float = 0.0,
        l2: float = 0.0,
        max_iter: int = 2000,
        tol: float = 1e-6,
        init: str = "auto",
        seed: int = 0,
        device: str = "auto",
        dtype: str = "float64",
    ) -> None:
        k, max_iter, seed = whole_option("nmf", "k", k, 1), whole_option("nmf", "max_iter", max_iter, 1), \
            whole_option("nmf", "seed", seed, 0)
        if init not in ("auto", "nndsvda", "random"):
            raise InputError(f"nmf: init must be 'auto', 'nndsvda' or 'random', got {init!r}")
        l1, l2, tol = (number_option("nmf", n, v) for n, v in (("l1", l1), ("l2", l2), ("tol", tol)))
        if dtype not in ("float32", "float64"):
            raise InputError(f"nmf: dtype must be float32 or float64, got {dtype!r}")
        self.k, self.l1, self.l2 = k, l1, l2
        self.max_iter, self.tol, self.init, self.seed = max_iter, tol, init, seed
        self.device, self.dtype = device, dtype

    def _start(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
               shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        m, n = shape
        init = self.init
        if init == "auto":
            init = "nndsvda" if m * n <= NNDSVD_MAX_CELLS else "random"
        if init == "nndsvda":  # on the column-mean-imputed matrix: dense, but only a small one
            if m * n > 4 * NNDSVD_MAX_CELLS:
                raise InputError(f"nmf: init='nndsvda' needs a dense {m} x {n} matrix; use init='random' (or "
                                 "'auto') for a history this large")
            P, mask = np.zeros((m, n)), np.zeros((m, n), dtype=bool)
            P[rows, cols], mask[rows, cols] = vals, True
            counts = np.maximum(mask.sum(0), 1)
            col_mean = P.sum(0) / counts
            return nndsvda(np.where(mask, P, col_mean[None, :]), self.k)
        rng = np.random.default_rng(self.seed)
        scale = np.sqrt(max(vals.mean(), EPS) / self.k)
        return scale * rng.random((m, self.k)), scale * rng.random((n, self.k))

    def fit(self, P: np.ndarray, mask: np.ndarray) -> Factors:
        """Factorize the observed cells of a dense ``P`` (must be non-negative) into ``U V^T``."""
        rows, cols, vals = observed_cells(P, mask)
        return self.fit_cells(rows, cols, vals, np.shape(P))

    def fit_cells(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
                  shape: tuple[int, int]) -> Factors:
        """Factorize the observed cells (row-major; non-negative values) of a ``shape`` history."""
        rows, cols, vals = check_cells(rows, cols, values, shape)
        if np.any(vals < 0):
            raise InputError("nmf: scores must be non-negative; normalise with 'minmax' first")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
            return self._fit(rows, cols, vals, (int(shape[0]), int(shape[1])))

    def _fit(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> Factors:
        import torch

        from fennec_core.device import resolve_device

        m, n = shape
        U0, V0 = self._start(rows, cols, vals, shape)
        dev = resolve_device(self.device)
        dt = torch.float64 if self.dtype == "float64" else torch.float32
        U = torch.as_tensor(U0, dtype=dt, device=dev).clamp_min(EPS)
        V = torch.as_tensor(V0, dtype=dt, device=dev).clamp_min(EPS)
        ops = _SparseOps(rows, cols, vals, (m, n), dt, dev)
        l1, l2 = self.l1, self.l2

        def loss(pred: torch.Tensor) -> float:
            res = ops.y - pred
            val = 0.5 * (res * res).sum() + l1 * (U.sum() + V.sum()) + 0.5 * l2 * ((U * U).sum() + (V * V).sum())
            return float(val)

        pred = ops.predict(U, V)
        prev = loss(pred)
        converged, it = False, 0
        for it in range(1, self.max_iter + 1):
            U *= ops.rows_times(ops.y, V) / (ops.rows_times(pred, V) + l1 + l2 * U + EPS)
            pred = ops.predict(U, V)
            V *= ops.cols_times(ops.y, U) / (ops.cols_times(pred, U) + l1 + l2 * V + EPS)
            pred = ops.predict(U, V)
            if it % 10 == 0:
                cur = loss(pred)
                if prev - cur <= self.tol * max(prev, EPS):
                    converged, prev = True, cur
                    break
                prev = cur
        return Factors(
            U.double().cpu().numpy(), V.double().cpu().numpy(),
            info={"factorizer": "nmf", "k": self.k, "loss": prev, "n_iter": it, "converged": converged,
                  "rmse": float(((ops.y - pred) ** 2).mean().sqrt())},
        )

    def fold_in(
        self,
        factors: Factors,
        observed: np.ndarray,
        mask: np.ndarray,
        *,
        prior: np.ndarray | None = None,
        strength: float = 0.0,
    ) -> np.ndarray:
        """Task vector (k,) from known scores: NNLS, shrunk toward ``prior`` by ``strength``."""
        from scipy.optimize import nnls

        observed, mask = np.asarray(observed, dtype=np.float64), np.asarray(mask, dtype=bool)
        if observed.shape != (factors.U.shape[0],) or mask.shape != observed.shape:
            raise InputError(f"nmf fold-in: expected {factors.U.shape[0]} scores and mask entries, got {observed.shape}")
        if not mask.any():
            raise InputError("nmf fold-in: no known scores to fold in")
        A, b = factors.U[mask], observed[mask]
        k = factors.k
        reg = self.l2 + float(strength)
        target = np.zeros(k) if prior is None else np.asarray(prior, dtype=np.float64)
        if reg > 0:
            A = np.vstack([A, np.sqrt(reg) * np.eye(k)])
            b = np.concatenate([b, np.sqrt(reg) * target * (float(strength) / reg)])
        v, _ = nnls(A, b)
        return v

    def fold_in_model(self, factors: Factors, observed: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Model vector (k,) of a new model from its scores (n,) on known tasks: NNLS on ``V``."""
        from scipy.optimize import nnls

        observed, mask = np.asarray(observed, dtype=np.float64), np.asarray(mask, dtype=bool)
        if observed.shape != (factors.V.shape[0],) or not mask.any():
            raise InputError("nmf fold-in of a model needs its scores on at least one known task")
        A, b = factors.V[mask], observed[mask]
        if self.l2 > 0:
            A = np.vstack([A, np.sqrt(self.l2) * np.eye(factors.k)])
            b = np.concatenate([b, np.zeros(factors.k)])
        return nnls(A, b)[0]


@hookimpl
def fennec_register_factorizers(register):
    """Register the masked NMF factorizer as ``nmf``."""
    register("nmf", MaskedNMF)
