"""Cold start for a new model: predict its vector in the transfer space from its features.

A model with no history (just released, never fine-tuned) still needs a row ``u`` of ``U``
to be ranked. A ridge regression (alpha by efficient leave-one-out, scikit-learn ``RidgeCV``)
from the model's standardised meta features (parameter count, conv + linear layers, input
size, FLOPs, architecture-vector components: whatever the zoo's models carry) to its fitted
row of ``U`` is learned on the models that have history; a new model gets the prediction,
and its residual variance (per latent dimension, from leave-one-out) widens its uncertainty.
The fitted regressor is plain arrays, stored with the zoo.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from fennec_core.errors import InputError

ALPHAS = tuple(np.logspace(-3, 3, 13))


@attrs.frozen(eq=False)
class ModelVectorRegressor:
    """Ridge map from standardised model features to model vectors (rows of U)."""

    features: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    coef: np.ndarray  # [f, k]
    intercept: np.ndarray  # [k]
    residual_var: np.ndarray  # [k]

    @classmethod
    def fit(cls, X: np.ndarray, names: Sequence[str], U: np.ndarray) -> ModelVectorRegressor:
        """Fit on models with features ``X`` [m, f] (NaN = unknown, mean-imputed) and vectors ``U`` [m, k]."""
        from sklearn.linear_model import RidgeCV

        if X.shape[1] == 0:
            raise InputError("cold start for new models needs model meta features (e.g. a models table)")
        if X.shape[0] < 3:
            raise InputError("cold start for new models needs at least 3 models with history and features")
        with np.errstate(all="ignore"):
            mean = np.nan_to_num(np.nanmean(X, axis=0))
            std = np.nanstd(X, axis=0)
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        Z = np.nan_to_num((X - mean) / std)
        reg = RidgeCV(alphas=ALPHAS, store_cv_results=True).fit(Z, U)
        loo = np.asarray(reg.cv_results_)  # [m, k] squared LOO errors at each alpha? -> [m, k, n_alphas]
        if loo.ndim == 3:
            loo = loo[..., list(ALPHAS).index(reg.alpha_)]
        return cls(tuple(names), mean, std, np.atleast_2d(reg.coef_).T.reshape(Z.shape[1], U.shape[1]),
                   np.asarray(reg.intercept_, dtype=np.float64).reshape(U.shape[1]), loo.mean(axis=0).reshape(U.shape[1]))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted model vectors [n, k] for raw features ``X`` [n, f] (NaN = unknown)."""
        Z = np.nan_to_num((X - self.mean) / self.std)
        return Z @ self.coef + self.intercept
