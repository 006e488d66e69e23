"""OTCE: optimal-transport based conditional entropy between source and target tasks.

Tan et al., "OTCE: A Transferability Metric for Cross-Domain Cross-Task Representations",
CVPR 2021 (https://arxiv.org/abs/2103.13843). Needs the *source* task's features and labels
as well: the optimal coupling pi between source features X_s [n_s, d] and target features
X_t [n_t, d] under the squared Euclidean cost (POT's exact ``ot.emd``, or entropic Sinkhorn
with ``reg``) gives the domain difference W = <pi, M> and the joint label distribution
P(y_s, y_t) = sum_ij pi_ij [y_s(i) = y_s][y_t(j) = y_t]; the task difference is

    CE = H(Y_t | Y_s) = -sum P(y_s, y_t) log( P(y_s, y_t) / P(y_s) )

and OTCE = lambda_w W + lambda_ce CE (the paper fits the lambdas on auxiliary tasks; the
defaults here are its reported -1e-4 and -1, so that higher is better).
Shapes: features [n_t, d], labels [n_t], source_features [n_s, d], source_labels [n_s].
"""

from __future__ import annotations

import numpy as np

from fennec_core.errors import InputError, MissingDependencyError

from .base import Estimator, one_hot


class OTCE(Estimator):
    """Weighted OT distance plus conditional entropy of target given source labels."""

    name = "otce"

    def __init__(self, *, lambda_w: float = -1e-4, lambda_ce: float = -1.0, reg: float | None = None,
                 pca=None, seed: int = 0) -> None:
        super().__init__(pca=pca, seed=seed)
        self.lambda_w, self.lambda_ce, self.reg = float(lambda_w), float(lambda_ce), reg

    def _score(self, *, features, labels, probs, source_features=None, source_labels=None, **extra):
        try:
            import ot
        except ImportError as exc:
            raise MissingDependencyError("otce needs the POT library: pip install pot") from exc
        if source_features is None or source_labels is None:
            raise InputError("otce: needs source_features [n_s, d] and source_labels [n_s] of the source task")
        xs = np.asarray(source_features, dtype=np.float64)
        ys = np.unique(np.asarray(source_labels), return_inverse=True)[1]
        if xs.ndim != 2 or xs.shape[1] != features.shape[1] or xs.shape[0] != ys.size:
            raise InputError(f"otce: source_features must be [n_s, {features.shape[1]}] matching source_labels; "
                             f"got {xs.shape} and {ys.shape}")
        if self.pca is not None:
            raise InputError("otce: the pca option would project source and target differently; reduce both beforehand")
        M = ot.dist(xs, features)  # squared Euclidean
        a = np.full(xs.shape[0], 1.0 / xs.shape[0])
        b = np.full(features.shape[0], 1.0 / features.shape[0])
        pi = ot.emd(a, b, M, numItermax=1_000_000) if self.reg is None else ot.sinkhorn(a, b, M / M.max(), self.reg)
        W = float(np.sum(pi * M))
        joint = one_hot(ys).T @ pi @ one_hot(labels)  # [C_s, C_t]
        ps = joint.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            ce = -float(np.sum(np.where(joint > 0, joint * np.log(joint / ps), 0.0)))
        return self.lambda_w * W + self.lambda_ce * ce
