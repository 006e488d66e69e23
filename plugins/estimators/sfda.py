"""SFDA: self-challenging Fisher discriminant analysis.

Shao et al., "Not All Models Are Equal: Predicting Model Transferability in a
Self-challenging Fisher Space", ECCV 2022 (https://arxiv.org/abs/2207.03036).

1. Regularised Fisher space: within-class scatter S_w shrunk toward tr(S_w)/d I by
   ``lambda = exp(-a * sigma_max(S_w))`` (a = 5, sigma_max by power iteration); the total
   scatter is shrunk by the same amount and S_b = S_t - S_w; an LDA classifier in the
   discriminant space of (S_b, S_w) gives p(y | x).
2. Self-challenging (ConfMix): every sample moves toward the mean of the *other* classes in
   proportion to how unsure the first classifier is, ``x <- p x + (1 - p) mu_{-y}`` with
   ``p = softmax(p(y | x))_y`` (the reference implementation's softened confidence).
3. A second Fisher classifier on the mixed features; SFDA = mean true-class probability.

Shapes: features [n, d], labels [n].
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from .base import Estimator
from .fda import fisher_proba, row_space, scatter


def largest_eigenvalue(S: np.ndarray, iterations: int = 20) -> float:
    """Largest eigenvalue of a symmetric PSD matrix by power iteration (seeded start: row sums)."""
    x = S.sum(axis=1)
    if not np.any(x):
        x = np.ones(S.shape[0])
    for _ in range(iterations):
        x = S @ x
        norm = np.linalg.norm(x)
        if norm == 0:
            return 0.0
        x /= norm
    return float(x @ S @ x)


class SFDA(Estimator):
    """Mean true-class probability in a self-challenging, regularised Fisher space."""

    name = "sfda"
    min_per_class = 1

    def __init__(self, *, a: float = 5.0, pca=None, seed: int = 0) -> None:
        super().__init__(pca=pca, seed=seed)
        self.a = float(a)

    def _fit_proba(self, f: np.ndarray, y: np.ndarray, lam: float | None) -> tuple[np.ndarray, float]:
        if lam is None:  # sigma_max(S_w) is the same in the row space of f
            Q = row_space(f)
            _, _, _, Sw = scatter(f @ Q, y)
            lam = max(float(np.exp(-self.a * largest_eigenvalue(Sw))), 1e-10)
        return fisher_proba(f, y, lam, lam), lam

    def _score(self, *, features, labels, probs, **extra):
        f = features.copy()
        n, C = labels.size, int(labels.max()) + 1
        proba, lam = self._fit_proba(f, labels, None)
        conf = softmax(proba, axis=1)[np.arange(n), labels][:, None]
        means = np.stack([f[labels == c].mean(axis=0) for c in range(C)])
        others = (means.sum(axis=0, keepdims=True) - means) / max(C - 1, 1)
        f = conf * f + (1.0 - conf) * others[labels]
        proba, _ = self._fit_proba(f, labels, lam)
        return float(np.mean(proba[np.arange(n), labels]))
