"""The small base every estimator shares: input checks, optional PCA, a finite result.

An estimator is called as ``score(*, features, labels, probs=None, **extra) -> float``;
higher means the model should transfer better. ``features`` [n, d] are penultimate-layer
activations on the target's images, ``labels`` [n] integer classes (or [n] / [n, t] floats
for a regression estimator), ``probs`` [n, C_src] the source head's softmax where needed.
Inputs are cast to float64; bad inputs raise :class:`fennec_core.errors.InputError` naming
what is wrong; a non-finite result raises instead of being returned.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fennec_core.errors import InputError


def one_hot(labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """[n] integer labels -> [n, C] one-hot float64."""
    c = int(labels.max()) + 1 if n_classes is None else n_classes
    out = np.zeros((labels.size, c))
    out[np.arange(labels.size), labels] = 1.0
    return out


class Estimator:
    """Base class: subclasses implement ``_score`` on validated float64 inputs."""

    name = "estimator"
    needs_probs = False
    needs_features = True
    regression = False
    #: minimum samples per class the method needs
    min_per_class = 1

    def __init__(self, *, pca: int | float | None = None, seed: int = 0) -> None:
        if pca is not None and not ((isinstance(pca, int) and pca >= 1) or (isinstance(pca, float) and 0 < pca < 1)):
            raise InputError(f"{self.name}: pca must be a component count >= 1 or a variance share in (0, 1)")
        self.pca, self.seed = pca, int(seed)

    def score(self, *, features: np.ndarray | None = None, labels: np.ndarray, probs: np.ndarray | None = None,
              **extra: Any) -> float:
        """Transferability score of ``features`` (and ``probs``) for ``labels``; higher is better."""
        y = np.asarray(labels)
        if y.ndim == 0 or y.shape[0] < 2:
            raise InputError(f"{self.name}: needs at least 2 labelled samples, got {y.shape[0] if y.ndim else 0}")
        n = y.shape[0]
        if not self.regression:
            if y.ndim != 1 or not np.all(np.isfinite(y)) or not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0:
                raise InputError(f"{self.name}: labels must be a 1-D array of non-negative integer classes")
            _, y = np.unique(y.astype(np.int64), return_inverse=True)
            counts = np.bincount(y)
            if counts.size < 2:
                raise InputError(f"{self.name}: labels hold a single class; a transferability score needs >= 2")
            if counts.min() < self.min_per_class:
                raise InputError(f"{self.name}: every class needs >= {self.min_per_class} samples; "
                                 f"the smallest has {counts.min()}")
        else:
            y = y.astype(np.float64)
            if not np.all(np.isfinite(y)):
                raise InputError(f"{self.name}: regression targets contain NaN or inf")
        f = None
        if self.needs_features:
            if features is None:
                raise InputError(f"{self.name}: needs features [n, d] (penultimate-layer activations)")
            f = np.asarray(features, dtype=np.float64)
            if f.ndim != 2 or f.shape[0] != n:
                raise InputError(f"{self.name}: features must be [n, d] with n = {n} labels, got {f.shape}")
            if not np.all(np.isfinite(f)):
                raise InputError(f"{self.name}: features contain NaN or inf")
            if self.pca is not None:
                f = self._pca(f)
        p = None
        if self.needs_probs:
            if probs is None:
                raise InputError(f"{self.name}: needs probs [n, C_src], the source head's softmax outputs")
            p = np.asarray(probs, dtype=np.float64)
            if p.ndim != 2 or p.shape[0] != n:
                raise InputError(f"{self.name}: probs must be [n, C_src] with n = {n}, got {p.shape}")
            if not np.all(np.isfinite(p)) or p.min() < 0 or not np.allclose(p.sum(1), 1.0, atol=1e-3):
                raise InputError(f"{self.name}: probs must be finite rows of a softmax (non-negative, summing to 1)")
        value = float(self._score(features=f, labels=y, probs=p, **extra))
        if not math.isfinite(value):
            raise InputError(f"{self.name}: the score is not finite ({value}); the inputs are degenerate "
                             "(e.g. constant features): try the pca option or more samples")
        return value

    def _pca(self, f: np.ndarray) -> np.ndarray:
        from sklearn.decomposition import PCA

        k = self.pca if isinstance(self.pca, float) else min(self.pca, *f.shape)
        # the exact (LAPACK) SVD, as the reference implementations use; sklearn's "auto" would
        # switch to a randomized one for large inputs and move the scores by up to a few %
        return PCA(n_components=k, svd_solver="full", random_state=self.seed).fit_transform(f)

    def _score(self, *, features: np.ndarray | None, labels: np.ndarray, probs: np.ndarray | None,
               **extra: Any) -> float:
        raise NotImplementedError


def spectrum(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u [n, r], sigma [r]): left singular vectors and squared singular values of f,
    from the smaller Gram matrix (r = rank)."""
    n, d = f.shape
    if n <= d:
        sigma, u = np.linalg.eigh(f @ f.T)
    else:
        sigma, v = np.linalg.eigh(f.T @ f)
        keep = sigma > sigma.max() * 1e-12
        u = (f @ v[:, keep]) / np.sqrt(sigma[keep])
        return u, sigma[keep]
    keep = sigma > sigma.max() * 1e-12
    return u[:, keep], sigma[keep]
