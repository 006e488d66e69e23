"""GBC: Gaussian Bhattacharyya coefficient between target classes in feature space.

Pándy et al., "Transferability Estimation using Bhattacharyya Class Separability", CVPR
2022 (https://arxiv.org/abs/2111.12780). Reduce features by PCA (default 64 dims, exact
SVD), fit one Gaussian per class (diagonal covariance, or spherical), and sum the
Bhattacharyya coefficients of all ordered class pairs:

    D_B(i, j) = 1/8 (mu_i - mu_j)' S^-1 (mu_i - mu_j) + 1/2 log( det S / sqrt(det S_i det S_j) ),
    S = (S_i + S_j) / 2,      GBC = - sum_{i != j} exp(-D_B(i, j))

As in the authors' code (google-research ``stable_transfer/transferability/gbc.py``): the
per-class variances are population variances floored at 1e-4, and ``gaussian="spherical"``
uses each class's mean variance s_i as a scalar in *both* terms, so its log term is
``1/2 (log s - 1/2 log s_i - 1/2 log s_j)`` with s = (s_i + s_j)/2, without the factor d that
``det`` of a d-dimensional s I would give. Well-separated classes overlap little: GBC near 0
is best. Shapes: features [n, d], labels [n].
"""

from __future__ import annotations

import numpy as np

from fennec_core.errors import InputError

from .base import Estimator

#: the authors' floor on per-dimension class variances (constant features)
VARIANCE_FLOOR = 1e-4


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
        var = np.maximum(np.stack([features[labels == c].var(axis=0) for c in range(C)]), VARIANCE_FLOOR)
        if self.gaussian == "spherical":
            var = var.mean(axis=1, keepdims=True)  # one scalar per class, as in the authors' code
        logvar = np.log(var).sum(axis=1)
        total = 0.0
        for i in range(C):
            for j in range(C):
                if i == j:
                    continue
                s = 0.5 * (var[i] + var[j])
                diff = means[i] - means[j]
                db = 0.125 * np.sum(diff * diff / s) + 0.5 * (np.log(s).sum() - 0.5 * (logvar[i] + logvar[j]))
                total += np.exp(-db)
        return float(-total)
