"""H-Score, and its shrinkage-regularised variant.

Bao et al., "An Information-Theoretic Approach to Transferability in Task Transfer
Learning", ICIP 2019: with cov(f) the feature covariance and E[f | y] the class-conditional
means (each sample mapped to its class mean),

    H(f) = tr( cov(f)^-1 cov(E[f | y]) )

Ibrahim et al., "Newer is not always better: Rethinking transferability metrics, their
peculiarities, stability and performance", ECML-PKDD 2022 (https://arxiv.org/abs/2110.06893):
the inverse of a sample covariance is unstable in high dimensions, so estimate it with
Ledoit-Wolf shrinkage ``cov_a = (1 - a) cov + a tr(cov)/d I`` and use
``H_a = tr( cov_a^-1 (1 - a) cov(E[f | y]) )``. As in the implementation used by the
benchmarks (thuml/Transfer-Learning-Library, ``tllib/ranking/hscore.py``; the authors'
code is not public), cov_a is scikit-learn's Ledoit-Wolf estimate (population covariance,
divided by n) while cov(E[f | y]) is ``np.cov``'s sample covariance (divided by n - 1), so
H_a carries a factor n / (n - 1). Shapes: features [n, d], labels [n].
"""

from __future__ import annotations

import numpy as np

from .base import Estimator, spectrum


def _centred_spectrum(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return spectrum(f - f.mean(axis=0))


def _class_projection_norms(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    """diag(U' P U) per column of u, P the projector onto class indicators: n_c * mean_c(u)^2 summed."""
    C = int(y.max()) + 1
    sums = np.zeros((C, u.shape[1]))
    np.add.at(sums, y, u)
    counts = np.bincount(y, minlength=C)[:, None]
    return (sums**2 / counts).sum(axis=0)


class HScore(Estimator):
    """tr(cov(f)^+ cov(E[f|y])) with the pseudo-inverse.

    With the centred features F = U S V', cov(f) = F'F/n and cov(E[f|y]) = F'PF/n (P projects
    onto the class indicators), so the trace is tr(U_r' P U_r) over the non-null singular
    directions: computed on the n x n (or d x d, whichever is smaller) Gram matrix.
    """

    name = "hscore"

    def _score(self, *, features, labels, probs, **extra):
        u, _ = _centred_spectrum(features)
        return float(_class_projection_norms(u, labels).sum())


class ShrinkageHScore(Estimator):
    """H-Score with a Ledoit-Wolf shrinkage covariance (Ibrahim et al. 2022).

    cov_a = (1 - a) F'F/n + a mu I has eigenvalues (1 - a) s_i^2/n + a mu on the span of F and
    a mu elsewhere; cov(E[f|y]) lives in that span, so
    H_a = sum_i (1 - a) (s_i^2/n) (U'PU)_ii / ((1 - a) s_i^2/n + a mu), times n / (n - 1)
    for the sample covariance of the class means (see the module docstring).
    """

    name = "hscore-shrinkage"

    def _score(self, *, features, labels, probs, **extra):
        from sklearn.covariance import ledoit_wolf_shrinkage

        f = features - features.mean(axis=0)
        n, d = f.shape
        a = float(ledoit_wolf_shrinkage(f, assume_centered=True))
        u, sigma = _centred_spectrum(features)
        lam = sigma / n
        mu = float((f**2).sum() / n / d)
        proj = _class_projection_norms(u, labels)
        return float(np.sum((1 - a) * lam * proj / ((1 - a) * lam + a * mu)) * n / (n - 1))
