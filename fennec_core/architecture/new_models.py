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
from typing import TYPE_CHECKING

import attrs
import numpy as np

from fennec_core.errors import InputError
from fennec_core.records import ModelCard
from fennec_core.scoring.meta_score import feature_matrix

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.zoo import FittedZoo

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
        from fennec_core.scoring.meta_score import feature_moments

        mean, std = feature_moments(X)
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


def add_new_models(zoo: FittedZoo, cards: Sequence[ModelCard]) -> tuple[FittedZoo, list[str]]:
    """(the zoo with ``cards`` added as models without history, the ids added).

    The regressor is fitted on the zoo's models that have history and features; each new
    model gets a predicted row of ``U`` (and, with a posterior, the prior spread plus the
    regression's leave-one-out error as its covariance) and an all-unobserved row of the
    history. A model lacking some of the zoo's features gets the zoo's mean for them, with a
    warning.
    """
    import warnings

    from fennec_core.records import Factors, History

    names = zoo.model_feature_names()
    predicted = set(zoo.predicted_models)
    have = [m for m in zoo.model_ids if m not in predicted]
    rows = [zoo.history.model_index(m) for m in have]
    X = zoo.model_features(names, have)
    usable = (zoo.history.model_counts()[rows] > 0) & np.isfinite(X).any(axis=1)
    reg = ModelVectorRegressor.fit(X[usable], names, zoo.factors.U[rows][usable])
    added = []
    for card in cards:
        if zoo.history.has_model(card.id):
            raise InputError(f"model {card.id!r} is already in the zoo; give new models a new id")
        if not any(n in card.meta for n in names):
            raise InputError(f"model {card.id!r} has none of the zoo's model features ({', '.join(names)}); "
                             "give them (e.g. `fennec add-model --model pytorchcv:NAME` computes them)")
        missing = [n for n in names if n not in card.meta]
        if missing:
            warnings.warn(f"model {card.id!r} lacks the zoo features {', '.join(missing)}: the zoo's mean is used "
                          "for them (fit the zoo with `--archi ENCODER` so new architectures get archi2vec "
                          "features)", stacklevel=3)
        added.append(card)
    if not added:
        return zoo, []
    U_new = reg.predict(feature_matrix([c.meta for c in added], names))
    hist = zoo.history
    history = History.from_cells((*hist.model_ids, *[c.id for c in added]), hist.task_ids, hist.rows, hist.cols,
                                 hist.values)  # the new models' rows hold no cells
    extras = dict(zoo.factors.extras)
    if "U_cov" in extras:
        cov = extras["U_cov"].mean(axis=0) + np.diag(reg.residual_var)
        extras["U_cov"] = np.concatenate([extras["U_cov"], np.repeat(cov[None], len(added), axis=0)])
    factors = Factors(np.vstack([zoo.factors.U, U_new]), zoo.factors.V, extras, zoo.factors.info)
    out = zoo.with_changes(history=history, factors=factors, models={**zoo.models, **{c.id: c for c in added}},
                           predicted_models=(*zoo.predicted_models, *[c.id for c in added]))
    return out, [c.id for c in added]
