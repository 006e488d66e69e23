"""SFDA: self-challenging Fisher discriminant analysis.

Shao et al., "Not All Models Are Equal: Predicting Model Transferability in a
Self-challenging Fisher Space", ECCV 2022 (https://arxiv.org/abs/2207.03036).

1. Regularised Fisher space: within-class scatter S_w shrunk toward tr(S_w)/d I by
   ``lambda = max(exp(-a * sigma_max(S_w)), 1e-10)`` (a = 5; sigma_max by the authors' power
   iteration: start at the row sums, 3 rounds of two products, ``x' S_w y``); the total
   scatter is shrunk by the same amount and S_b = S_t - S_w; an LDA classifier in the
   discriminant space of (S_b, S_w) gives p(y | x).
2. Self-challenging (ConfMix): every sample moves toward the mean of the *other* classes in
   proportion to how unsure the first classifier is, ``x <- p x + (1 - p) mu_{-y}`` with
   ``p = softmax(p(y | x))_y`` (the reference implementation's softened confidence).
3. A second Fisher classifier on the mixed features, with the same lambda; SFDA = mean
   true-class probability.

As in the authors' code (TencentARC/SFDA, ``metrics.py``) the classifier keeps *all* the
generalized eigenvectors W of (S_b, S_w), not only the top C - 1: then W W' = S_w^-1, so
p(y | x) is the LDA posterior ``softmax(x' S_w^-1 mu_c - 1/2 mu_c' S_w^-1 mu_c + log pi_c)``
with the shrunk S_w (the total scatter cancels). When d > n it is computed exactly in the row
space of the features, which holds every sample and class mean: there the inverse of the
shrunk S_w is that of its restriction. Shapes: features [n, d], labels [n].
"""

from __future__ import annotations

import numpy as np

from .base import Estimator
from .fda import row_space, scatter, shrink


def largest_eigenvalue(S: np.ndarray, iterations: int = 3, start: np.ndarray | None = None) -> float:
    """Largest eigenvalue of a symmetric PSD matrix by the SFDA authors' power iteration:
    from ``start`` (default: the row sums of S), ``iterations`` rounds of y = Sx/|Sx|,
    x = Sy/|Sy|, then ``x' S y``."""
    x = S.sum(axis=1) if start is None else start
    for _ in range(iterations):
        sx = S @ x
        if not np.any(sx):
            return 0.0
        y = sx / np.linalg.norm(sx)
        sy = S @ y
        if not np.any(sy):
            return 0.0
        x = sy / np.linalg.norm(sy)
    return float(x @ S @ y)


def shrunk_lda_proba(f: np.ndarray, y: np.ndarray, lam: float, Q: np.ndarray | None = None) -> np.ndarray:
    """Posteriors [n, C] of LDA with S_w shrunk by ``lam`` toward tr(S_w)/d I, computed in the
    row space ``Q`` [d, r] of f (default: computed here)."""
    from scipy import linalg  # here, not at import: registering the plugins must not import scipy
    from scipy.special import softmax

    d = f.shape[1]
    Q = row_space(f) if Q is None else Q
    fq = f @ Q
    means, priors, _, Sw = scatter(fq, y)
    A = shrink(Sw, lam, np.trace(Sw) / d)
    coef = linalg.solve(A, means.T, assume_a="pos").T  # [C, r]: mu_c' S_w^-1
    intercept = -0.5 * np.einsum("cd,cd->c", means, coef) + np.log(priors)
    return softmax(fq @ coef.T + intercept, axis=1)


class SFDA(Estimator):
    """Mean true-class probability in a self-challenging, regularised Fisher space."""

    name = "sfda"
    min_per_class = 1

    def __init__(self, *, a: float = 5.0, pca=None, seed: int = 0) -> None:
        super().__init__(pca=pca, seed=seed)
        self.a = float(a)

    def _score(self, *, features, labels, probs, **extra):
        from scipy.special import softmax

        f = features.copy()
        n, d = f.shape
        C = int(labels.max()) + 1
        Q = row_space(f)  # the mixed features below stay in this span
        _, _, _, Sw = scatter(f @ Q, labels)
        start = Sw @ (Q.T @ np.ones(d))  # the row sums of the full d x d S_w, in the row space
        lam = max(float(np.exp(-self.a * largest_eigenvalue(Sw, start=start))), 1e-10)
        proba = shrunk_lda_proba(f, labels, lam, Q)
        conf = softmax(proba, axis=1)[np.arange(n), labels][:, None]
        means = np.stack([f[labels == c].mean(axis=0) for c in range(C)])
        others = (means.sum(axis=0, keepdims=True) - means) / max(C - 1, 1)
        f = conf * f + (1.0 - conf) * others[labels]
        proba = shrunk_lda_proba(f, labels, lam, Q)
        return float(np.mean(proba[np.arange(n), labels]))
