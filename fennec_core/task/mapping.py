"""Map a task's proxy embeddings (CLIP, DINOv2, text) to its vector in the transfer space.

Learned on the historical tasks, whose vectors the factorizer fitted and whose items (images,
or a description) a task proxy embedded. Methods:

- ``random-forest`` (the paper): a RandomForest of 25 trees from each *item's* embedding to
  its task's vector; a new task's vector is the mean prediction over its items.
- ``kernel-ridge``: kernel ridge regression (RBF kernel on the task-mean embeddings, centred
  on the historical tasks' mean and L2-normalised, bandwidth from the median distance) from
  each task's mean embedding to its vector, shrunk towards the mean task vector.
- ``kernel-ridge-cv``: the same kernel ridge, with its shrinkage chosen from a grid
  (:data:`CV_ALPHAS`) by leave-one-task-out over the historical tasks: each task's vector is
  predicted from the others', and the shrinkage with the smallest mean squared error wins (the
  largest is all but the mean task vector, so a proxy that carries no signal is shrunk away).
- ``knn``: the similarity-weighted mean of the vectors of the ``k`` historical tasks whose
  mean embeddings are closest in cosine similarity.

The default (``kernel-ridge``, here and in the engine) was decided by the controlled experiment
in docs/task_proxies.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fennec_core.checks import TASK_MAPPINGS as METHODS
from fennec_core.errors import InputError

#: Shrinkage grid of ``kernel-ridge-cv``.
CV_ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 1e6)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _loo_alpha(K: np.ndarray, Y: np.ndarray) -> float:
    """The kernel-ridge shrinkage of :data:`CV_ALPHAS` whose leave-one-task-out predictions of
    the task vectors ``Y`` have the smallest mean squared error (each held-out task predicted
    from the others, their mean included, with the kernel ``K``)."""
    n = len(Y)
    best, best_err = CV_ALPHAS[-1], np.inf
    for alpha in CV_ALPHAS:
        err = 0.0
        for i in range(n):
            keep = np.arange(n) != i
            mean = Y[keep].mean(axis=0)
            coef = np.linalg.solve(K[np.ix_(keep, keep)] + alpha * np.eye(n - 1), Y[keep] - mean)
            err += float(((mean + K[i, keep] @ coef - Y[i]) ** 2).sum())
        if err < best_err - 1e-12:
            best, best_err = alpha, err
    return float(best)


class TaskMapper:
    """Fitted map from item embeddings of a task to a transfer-space task vector."""

    def __init__(self, method: str = "kernel-ridge", *, seed: int = 0, n_estimators: int = 25,
                 alpha: float = 0.1, k: int = 3, centre: bool = True) -> None:
        if method not in METHODS:
            raise InputError(f"unknown task mapping {method!r}; available: {', '.join(METHODS)}")
        self.method, self.seed, self.n_estimators, self.alpha, self.k = method, seed, n_estimators, alpha, k
        self.centre = centre
        self._centre: np.ndarray | None = None
        self._model: Any = None
        self._dim = 0
        self._train: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None
        self._residual_cov: np.ndarray | None = None

    def fit(self, embeddings: Mapping[str, np.ndarray], vectors: Mapping[str, np.ndarray]) -> TaskMapper:
        """Learn from historical tasks: ``embeddings[t]`` is [n_items, d], ``vectors[t]`` is [k]."""
        tasks = [t for t in embeddings if t in vectors]
        if len(tasks) < 2:
            raise InputError(f"mapping proxy embeddings to task vectors needs at least 2 historical tasks with "
                             f"embeddings, got {len(tasks)}")
        dims = {np.asarray(embeddings[t]).shape[-1] for t in tasks}
        if len(dims) != 1:
            raise InputError(f"historical task embeddings differ in width ({sorted(dims)}); embed every task with "
                             "the same proxy")
        self._dim = dims.pop()
        self._train = ({t: embeddings[t] for t in tasks}, {t: vectors[t] for t in tasks})
        self._residual_cov = None
        Y = np.stack([np.asarray(vectors[t], dtype=np.float64) for t in tasks])
        if self.method == "random-forest":
            from sklearn.ensemble import RandomForestRegressor

            X = np.concatenate([np.atleast_2d(embeddings[t]) for t in tasks])
            y = np.concatenate([np.repeat(Y[i:i + 1], len(np.atleast_2d(embeddings[t])), axis=0)
                                for i, t in enumerate(tasks)])
            self._model = RandomForestRegressor(self.n_estimators, random_state=self.seed, n_jobs=1).fit(X, y)
            return self
        means = np.stack([np.atleast_2d(embeddings[t]).mean(axis=0) for t in tasks])
        # centre on the historical tasks' mean: large encoders share a big common direction that
        # would make every task look alike in cosine terms
        self._centre = means.mean(axis=0) if self.centre else np.zeros(means.shape[1])
        M = _unit(means - self._centre)
        if self.method in ("kernel-ridge", "kernel-ridge-cv"):
            d2 = ((M[:, None] - M[None]) ** 2).sum(-1)
            off = d2[~np.eye(len(M), dtype=bool)]
            gamma = 1.0 / max(float(np.median(off)), 1e-12)
            mean = Y.mean(axis=0)
            K = np.exp(-gamma * d2)
            if self.method == "kernel-ridge-cv":
                self.alpha = _loo_alpha(K, Y)
            coef = np.linalg.solve(K + self.alpha * np.eye(len(M)), Y - mean)
            self._model = ("kernel-ridge", M, coef, mean, gamma)
        else:
            self._model = ("knn", M, Y)
        return self

    def residual_cov(self) -> np.ndarray:
        """Covariance (k, k) of the mapping's error on a new task: the leave-one-task-out
        residuals of the historical tasks' vectors (each predicted by the same method, with the
        same shrinkage, from the others), times ``n / (n - 1)``. It is the uncertainty of a
        proxy-placed task vector (computed on first use, then kept)."""
        if self._train is None:
            raise InputError("the task mapping is not fitted")
        if self._residual_cov is None:
            embeddings, vectors = self._train
            tasks = list(embeddings)
            method = "kernel-ridge" if self.method == "kernel-ridge-cv" else self.method
            resid = []
            if method == "knn" and len(tasks) > 2:
                resid = list(self._knn_loo_residuals())
            for t in tasks if not resid else ():
                rest = [u for u in tasks if u != t]
                if len(rest) < 2:
                    break
                sub = TaskMapper(method, seed=self.seed, n_estimators=self.n_estimators, alpha=self.alpha, k=self.k,
                                 centre=self.centre).fit({u: embeddings[u] for u in rest}, {u: vectors[u] for u in rest})
                resid.append(np.asarray(vectors[t], dtype=np.float64) - sub.predict(embeddings[t]))
            R = np.asarray(resid).reshape(len(resid), -1)
            k = len(next(iter(vectors.values())))
            self._residual_cov = (R.T @ R / max(len(R) - 1, 1) if len(R) else np.zeros((k, k))) + 1e-9 * np.eye(k)
        return self._residual_cov

    def _knn_loo_residuals(self) -> np.ndarray:
        """``knn``'s leave-one-task-out residuals (n, k), as refitting without each task would
        give them (centre of the other tasks, cosine similarity, top-``k``, weights), from one
        Gram matrix of the tasks' mean embeddings instead of n refits: a zoo of 1,500 described
        tasks takes a second, not minutes. With centre ``c_i = (S - x_i) / (n - 1)``, each
        similarity ``(x_j - c_i) . (x_i - c_i) / (|x_j - c_i| |x_i - c_i|)`` expands into Gram terms."""
        embeddings, vectors = self._train
        tasks = list(embeddings)
        X = np.stack([np.atleast_2d(np.asarray(embeddings[t], dtype=np.float64)).mean(axis=0) for t in tasks])
        Y = np.stack([np.asarray(vectors[t], dtype=np.float64) for t in tasks])
        n = len(tasks)
        G = X @ X.T  # x_j . x_i
        sq = np.diag(G).copy()
        if self.centre:
            C = (X.sum(axis=0)[None, :] - X) / (n - 1)  # row i: the centre without task i
            XC = X @ C.T  # [j, i] = x_j . c_i
            cc = (C * C).sum(axis=1)  # c_i . c_i
            dot = G - XC - np.diag(XC)[None, :] + cc[None, :]  # (x_j - c_i) . (x_i - c_i)
            norm_j = np.sqrt(np.maximum(sq[:, None] - 2 * XC + cc[None, :], 0.0))  # |x_j - c_i|
        else:
            dot, norm_j = G, np.sqrt(np.maximum(sq, 0.0))[:, None] * np.ones((1, n))
        norm_i = np.diag(norm_j).copy()
        sim = dot / (np.maximum(norm_j, 1e-12) * np.maximum(norm_i, 1e-12)[None, :])  # [j, i]
        np.fill_diagonal(sim, -np.inf)  # a task is not its own neighbour
        out = np.empty_like(Y)
        for i in range(n):
            order = np.argsort(-sim[:, i], kind="stable")[: min(self.k, n - 1)]
            w = np.maximum(sim[order, i], 0) + 1e-6
            out[i] = Y[i] - (w[:, None] * Y[order]).sum(0) / w.sum()
        return out

    @classmethod
    def for_zoo(cls, zoo: Any, method: str = "kernel-ridge", *, seed: int = 0) -> TaskMapper:
        """The mapping learned from a fitted zoo's task embeddings to its fitted task vectors."""
        if not zoo.task_embeddings:
            raise InputError("this zoo has no proxy embeddings of its tasks; fit it with --task-images DIR or "
                             "--task-embeddings FILE (Fennec.fit(task_embeddings=...))")
        vectors = {t: zoo.factors.V[j] for j, t in enumerate(zoo.task_ids)}
        return cls(method, seed=seed).fit(zoo.task_embeddings, vectors)

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """The vector of a new task from its items' embeddings [n_items, d]."""
        if self._model is None:
            raise InputError("the task mapping is not fitted")
        E = np.atleast_2d(np.asarray(embeddings, dtype=np.float64))
        if E.shape[-1] != self._dim or len(E) == 0 or not np.isfinite(E).all():
            raise InputError(f"task embeddings must be a finite non-empty [n, {self._dim}] array (the proxy the zoo "
                             f"was fitted with), got shape {E.shape}")
        if self.method == "random-forest":
            return self._model.predict(E).mean(axis=0)
        m = _unit(E.mean(axis=0) - self._centre)
        if self._model[0] == "kernel-ridge":
            _, M, coef, mean, gamma = self._model
            return mean + np.exp(-gamma * ((M - m) ** 2).sum(-1)) @ coef
        _, M, Y = self._model
        sim = M @ m
        top = np.argsort(-sim, kind="stable")[: self.k]
        w = np.maximum(sim[top], 0) + 1e-6
        return (w[:, None] * Y[top]).sum(0) / w.sum()
