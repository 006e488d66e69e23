"""N-LEEP: LEEP with the source head replaced by a Gaussian mixture on the features.

Li et al., "Ranking Neural Checkpoints", CVPR 2021 (https://arxiv.org/abs/2011.11200):
reduce the features by PCA keeping 80% of the variance, fit a Gaussian mixture with
``components_per_class`` x C components, and use its posterior p(component | x) in place of
the source softmax in LEEP. As in the reference implementations (google-research
``stable_transfer/transferability/nleep.py``; TencentARC/SFDA ``metrics.py``) the PCA is the
exact SVD and the mixture is scikit-learn's ``GaussianMixture`` with its defaults: full
covariances, ``reg_covar=1e-6``, k-means initialisation seeded by ``seed``.
``covariance_type="diag"`` (with a larger ``reg_covar``) is the robust choice when there are
few samples per component in the PCA space. Shapes: features [n, d], labels [n].
"""

from __future__ import annotations

from fennec_core.errors import InputError

from .base import Estimator
from .leep import leep_from_probs

COVARIANCE_TYPES = ("full", "diag", "tied", "spherical")


class NLEEP(Estimator):
    """LEEP on Gaussian-mixture posteriors of PCA-reduced features."""

    name = "nleep"

    def __init__(self, *, components_per_class: int = 5, variance: float = 0.8, covariance_type: str = "full",
                 reg_covar: float = 1e-6, pca=None, seed: int = 0) -> None:
        if covariance_type not in COVARIANCE_TYPES:
            raise InputError(f"nleep: covariance_type must be one of {', '.join(COVARIANCE_TYPES)}; "
                             f"got {covariance_type!r}")
        super().__init__(pca=pca, seed=seed)
        self.components_per_class, self.variance = int(components_per_class), float(variance)
        self.covariance_type, self.reg_covar = covariance_type, float(reg_covar)

    def _score(self, *, features, labels, probs, **extra):
        from sklearn.decomposition import PCA
        from sklearn.mixture import GaussianMixture

        reduced = PCA(n_components=self.variance, svd_solver="full", random_state=self.seed).fit_transform(features)
        k = min(self.components_per_class * (int(labels.max()) + 1), labels.size)
        gmm = GaussianMixture(n_components=k, covariance_type=self.covariance_type, reg_covar=self.reg_covar,
                              random_state=self.seed)
        try:
            post = gmm.fit(reduced).predict_proba(reduced)
        except ValueError as exc:  # a component collapsed: its covariance is not positive definite
            raise InputError(
                f"nleep: the {k}-component Gaussian mixture ({self.covariance_type} covariances) is ill-defined on "
                f"{labels.size} samples in {reduced.shape[1]} PCA dimensions; use covariance_type='diag' "
                "(and e.g. reg_covar=1e-4), fewer components_per_class, or more samples") from exc
        return leep_from_probs(post, labels)
