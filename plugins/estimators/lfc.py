"""LFC: label-feature correlation, a centred kernel alignment of features and labels.

Deshpande et al., "A linearized framework and a new benchmark for model selection for
fine-tuning", 2021 (https://arxiv.org/abs/2102.00084). With the linear feature kernel
K = F F' and the label kernel L_ij = +1 if y_i = y_j else -1, both centred (H K H,
H = I - 11'/n):

    LFC = <K~, L~>_F / (||K~||_F ||L~||_F)

Computed without forming n x n matrices: <HKH, HLH> = ||F_c' Y_c||^2-style sums with the
centred features F_c and centred one-hot labels. Shapes: features [n, d], labels [n].
"""

from __future__ import annotations

import numpy as np

from fennec_core.errors import InputError

from .base import Estimator, one_hot


class LFC(Estimator):
    """Centred alignment between the linear feature kernel and the +-1 label kernel."""

    name = "lfc"

    def _score(self, *, features, labels, probs, **extra):
        Fc = features - features.mean(axis=0)
        # L = 2 Y Y' - 1 1'; centring removes the constant, so L~ = 2 Yc Yc'
        Yc = one_hot(labels)
        Yc = Yc - Yc.mean(axis=0)
        kl = 2.0 * np.sum((Fc.T @ Yc) ** 2)  # <Fc Fc', 2 Yc Yc'>
        kk = np.sqrt(np.sum((Fc.T @ Fc) ** 2))  # ||Fc Fc'||_F
        ll = 2.0 * np.sqrt(np.sum((Yc.T @ Yc) ** 2))
        if kk == 0:
            raise InputError("lfc: the features are constant across samples; their kernel has no alignment")
        return float(kl / (kk * ll))
