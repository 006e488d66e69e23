"""N-LEEP: LEEP with the source head replaced by a Gaussian mixture on the features.

Li et al., "Ranking Neural Checkpoints", CVPR 2021 (https://arxiv.org/abs/2011.11200):
reduce the features by PCA keeping 80% of the variance, fit a Gaussian mixture with
``components_per_class`` x C components, and use its posterior p(component | x) in place of
the source softmax in LEEP. Shapes: features [n, d], labels [n].
"""

from __future__ import annotations

from .base import Estimator
from .leep import leep_from_probs


class NLEEP(Estimator):
    """LEEP on Gaussian-mixture posteriors of PCA-reduced features."""

    name = "nleep"

    def __init__(self, *, components_per_class: int = 5, variance: float = 0.8, pca=None, seed: int = 0) -> None:
        super().__init__(pca=pca, seed=seed)
        self.components_per_class, self.variance = int(components_per_class), float(variance)

    def _score(self, *, features, labels, probs, **extra):
        from sklearn.decomposition import PCA
        from sklearn.mixture import GaussianMixture

        reduced = PCA(n_components=self.variance, random_state=self.seed).fit_transform(features)
        k = min(self.components_per_class * (int(labels.max()) + 1), labels.size)
        gmm = GaussianMixture(n_components=k, covariance_type="diag", reg_covar=1e-4, random_state=self.seed)
        post = gmm.fit(reduced).predict_proba(reduced)
        return leep_from_probs(post, labels)
