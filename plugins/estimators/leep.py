"""LEEP: log expected empirical prediction, from the source head's probabilities.

Nguyen et al., "LEEP: A New Measure to Evaluate Transferability of Learned
Representations", ICML 2020 (https://arxiv.org/abs/2002.12462). With theta(x_i) [n, C_src]
the source softmax and y_i the target labels:

    P(y, z) = 1/n sum_i theta(x_i)_z [y_i = y],   P(y | z) = P(y, z) / P(z)
    LEEP = 1/n sum_i log( sum_z P(y_i | z) theta(x_i)_z )

Shapes: probs [n, C_src], labels [n].
"""

from __future__ import annotations

import numpy as np

from .base import Estimator, one_hot


def leep_from_probs(probs: np.ndarray, labels: np.ndarray) -> float:
    """LEEP of soft source assignments ``probs`` [n, K] for ``labels`` [n]."""
    Y = one_hot(labels)
    joint = Y.T @ probs / labels.size  # [C, K]
    cond = joint / (joint.sum(axis=0, keepdims=True) + 1e-12)  # P(y | z)
    eep = probs @ cond.T  # [n, C]
    return float(np.mean(np.log(eep[np.arange(labels.size), labels] + 1e-12)))


class LEEP(Estimator):
    """Log expected empirical prediction (needs the source head's probs)."""

    name = "leep"
    needs_probs = True
    needs_features = False

    def _score(self, *, features, labels, probs, **extra):
        return leep_from_probs(probs, labels)
