"""FDA: Fisher discriminant score, the scorer Fennec's own history is built with.

Fennec (arXiv 2403.06382) scores a (model, task) pair by how well a linear discriminant fit
on the model's features separates the task's classes: between-class scatter
``S_b = S_t - S_w`` (total minus within-class covariance), the projection solving
``S_b w = lambda S_w w``, then an LDA classifier (shared covariance, class priors) in that
space; the score is the mean probability the classifier gives each sample's true class:

    FDA = 1/n sum_i p(y_i | x_i)

``S_w`` is shrunk toward ``tr(S_w)/d I`` by ``shrinkage`` (default 1e-3) so that
high-dimensional features with few samples stay well posed. Shapes: features [n, d].
"""

from __future__ import annotations

import numpy as np

from .base import Estimator


def scatter(f: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(class means [C, d], priors [C], S_t [d, d], S_w [d, d]) with population covariances."""
    C = int(y.max()) + 1
    counts = np.bincount(y, minlength=C).astype(np.float64)
    priors = counts / counts.sum()
    means = np.zeros((C, f.shape[1]))
    np.add.at(means, y, f)
    means /= counts[:, None]
    St = np.cov(f.T, bias=True).reshape(f.shape[1], f.shape[1])
    Sw = np.zeros_like(St)
    for c in range(C):
        fc = f[y == c] - means[c]
        Sw += priors[c] * (fc.T @ fc) / counts[c]
    return means, priors, St, Sw


def shrink(S: np.ndarray, amount: float, mu: float | None = None) -> np.ndarray:
    """``(1 - a) S + a mu I`` with ``mu = tr(S)/d`` unless given."""
    d = S.shape[0]
    mu = np.trace(S) / d if mu is None else mu
    out = (1.0 - amount) * S
    out.flat[:: d + 1] += amount * (mu if mu > 0 else 1.0)
    return out


def row_space(f: np.ndarray) -> np.ndarray:
    """Orthonormal basis [d, r] of the span of the rows of f (which holds every class mean
    and scatter matrix)."""
    n, d = f.shape
    if d <= n:
        return np.eye(d)
    s2, u = np.linalg.eigh(f @ f.T)
    keep = s2 > s2.max() * 1e-12
    return (f.T @ u[:, keep]) / np.sqrt(s2[keep])


def fisher_proba(f: np.ndarray, y: np.ndarray, shrink_w: float, shrink_t: float | None = None) -> np.ndarray:
    """Class posteriors [n, C] of an LDA classifier in the Fisher space of ``S_b = S_t - S_w``.

    ``S_w`` is shrunk by ``shrink_w`` toward ``tr(S_w)/d I``; ``S_t`` by ``shrink_t`` when
    given. Solves ``S_b w = lambda S_w w`` and keeps the top C - 1 directions. When d > n the
    problem is solved exactly in the row space of f (r <= n dimensions): outside it both
    scatters are only their shrinkage terms, a single eigenvalue whose directions carry no
    class information, so they can only take slots among the top C - 1.
    """
    from scipy import linalg  # here, not at import: registering the plugins must not import scipy
    from scipy.special import softmax

    n, d = f.shape
    Q = row_space(f)
    fq = f @ Q
    r = Q.shape[1]
    means, priors, St, Sw = scatter(fq, y)
    mu_w = np.trace(Sw) / d
    mu_t = np.trace(St) / d
    Sw_s = shrink(Sw, shrink_w, mu_w)
    St_s = St if shrink_t is None else shrink(St, shrink_t, mu_t)
    evals, evecs = linalg.eigh(St_s - Sw_s, Sw_s)
    order = np.argsort(evals)[::-1]
    evals, evecs = evals[order], evecs[:, order]
    slots = max(1, means.shape[0] - 1)
    if r < d and shrink_w > 0:
        outside = ((0.0 if shrink_t is None else shrink_t * mu_t) - shrink_w * mu_w) / (shrink_w * mu_w)
        above = int(np.sum(evals > outside))
        keep = min(slots, above) + max(0, slots - above - (d - r))
    else:
        keep = slots
    W = evecs[:, : max(keep, 0)]
    coef = means @ W @ W.T
    intercept = -0.5 * np.einsum("cd,cd->c", means, coef) + np.log(priors)
    return softmax(fq @ coef.T + intercept, axis=1)


class FDA(Estimator):
    """Mean true-class probability of a Fisher discriminant fit (Fennec's history scorer)."""

    name = "fda"
    min_per_class = 1

    def __init__(self, *, shrinkage: float = 1e-3, pca: int | float | None = None, seed: int = 0) -> None:
        super().__init__(pca=pca, seed=seed)
        self.shrinkage = float(shrinkage)

    def _score(self, *, features, labels, probs, **extra):
        proba = fisher_proba(features, labels, self.shrinkage)
        return float(np.mean(proba[np.arange(labels.size), labels]))
