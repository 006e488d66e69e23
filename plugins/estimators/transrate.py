"""TransRate: mutual information between features and labels via coding rates.

Huang et al., "Frustratingly Easy Transferability Estimation", ICML 2022
(https://arxiv.org/abs/2106.09362). With centred features Z [n, d] and distortion eps,
the coding rate R(Z, eps) = 1/2 log det(I + d / (n eps^2) Z'Z) (the authors' code uses
1/(n eps) with eps = 1e-4 for the scale; kept here), and

    TransRate = R(Z, eps) - 1/C sum_c R(Z_c, eps)

where Z_c are the samples of class c. Shapes: features [n, d], labels [n].
"""

from __future__ import annotations

import numpy as np

from .base import Estimator


def coding_rate(Z: np.ndarray, eps: float) -> float:
    """1/2 log det(I + Z'Z / (n eps)) for Z [n, d], on the smaller of the two Gram matrices
    (Sylvester: det(I_d + Z'Z c) = det(I_n + Z Z' c))."""
    n, d = Z.shape
    gram = Z @ Z.T if n < d else Z.T @ Z
    _, logdet = np.linalg.slogdet(np.eye(gram.shape[0]) + gram / (n * eps))
    return 0.5 * float(logdet)


class TransRate(Estimator):
    """Coding rate of all features minus the mean coding rate within each class."""

    name = "transrate"

    def __init__(self, *, eps: float = 1e-4, pca=None, seed: int = 0) -> None:
        super().__init__(pca=pca, seed=seed)
        self.eps = float(eps)

    def _score(self, *, features, labels, probs, **extra):
        Z = features - features.mean(axis=0)
        C = int(labels.max()) + 1
        within = sum(coding_rate(Z[labels == c], self.eps) for c in range(C)) / C
        return coding_rate(Z, self.eps) - within
