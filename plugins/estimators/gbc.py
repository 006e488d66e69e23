"""GBC: Gaussian Bhattacharyya coefficient between target classes in feature space.

Pándy et al., "Transferability Estimation using Bhattacharyya Class Separability", CVPR
2022 (https://arxiv.org/abs/2111.12780). Reduce features by PCA (default 64 dims), fit one
Gaussian per class (diagonal covariance, or spherical), and sum the Bhattacharyya
coefficients of all ordered class pairs:

    D_B(i, j) = 1/8 (mu_i - mu_j)' S^-1 (mu_i - mu_j) + 1/2 log( det S / sqrt(det S_i det S_j) ),
    S = (S_i + S_j) / 2,      GBC = - sum_{i != j} exp(-D_B(i, j))

Well-separated classes overlap little: GBC near 0 is best. Shapes: features [n, d], labels [n].
"""

from __future__ import annotations

import numpy as np

from fennec_core.errors import InputError

from .base import Estimator


class GBC(Estimator):
    """Minus the summed pairwise Bhattacharyya coefficients of per-class Gaussians."""

    name = "gbc"
    min_per_class = 2

    def __init__(self, *, gaussian: str = "diagonal", pca: int | float | None = 64, seed: int = 0) -> None:
        if gaussian not in ("diagonal", "spherical"):
            raise InputError(f"gbc: gaussian must be 'diagonal' or 'spherical', got {gaussian!r}")
        super().__init__(pca=pca, seed=seed)
        self.gaussian = gaussian

    def _score(self, *, features, labels, probs, **extra):
        C = int(labels.max()) + 1
        means = np.stack([features[labels == c].mean(axis=0) for c in range(C)])
        var = np.stack([features[labels == c].var(axis=0) for c in range(C)]) + 1e-6
        if self.gaussian == "spherical":
            var = np.repeat(var.mean(axis=1, keepdims=True), features.shape[1], axis=1)
        logdet = np.log(var).sum(axis=1)
        total = 0.0
        for i in range(C):
            for j in range(C):
                if i == j:
                    continue
                s = 0.5 * (var[i] + var[j])
                diff = means[i] - means[j]
                db = 0.125 * np.sum(diff * diff / s) + 0.5 * (np.log(s).sum() - 0.5 * (logdet[i] + logdet[j]))
                total += np.exp(-db)
        return float(-total)
