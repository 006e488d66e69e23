"""NCE: negative conditional entropy of target labels given source labels.

Tran et al., "Transferability and Hardness of Supervised Classification Tasks", ICCV 2019
(https://arxiv.org/abs/1908.08142). With z_i = argmax of the source head (hard source
labels) and the empirical joint P(y, z):

    NCE = -H(Y | Z) = sum_{y, z} P(y, z) log P(y | z)

``soft=True`` uses the source softmax instead of hard labels (the soft variant used by
PACTran's reference code). Shapes: probs [n, C_src], labels [n].
"""

from __future__ import annotations

import numpy as np

from .base import Estimator, one_hot


class NCE(Estimator):
    """Negative conditional entropy H(Y | Z) of target given (hard) source labels."""

    name = "nce"
    needs_probs = True
    needs_features = False

    def __init__(self, *, soft: bool = False, pca=None, seed: int = 0) -> None:
        super().__init__(pca=pca, seed=seed)
        self.soft = bool(soft)

    def _score(self, *, features, labels, probs, **extra):
        z = probs if self.soft else one_hot(np.argmax(probs, axis=1), probs.shape[1])
        joint = one_hot(labels).T @ z / labels.size  # [C, K]
        pz = joint.sum(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(joint > 0, joint * np.log(joint / pz), 0.0)
        return float(terms.sum())
