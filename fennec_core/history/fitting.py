"""Fitting a zoo from a history: normalise, choose ``k``, factorize, fit the meta model.

The result is a :class:`fennec_core.zoo.FittedZoo` without merger or ranker state; the engine
fits those components on it next (they see the record, not the engine).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from fennec_core.errors import FennecError, InputError
from fennec_core.history.normalize import TaskNormalizer
from fennec_core.records import Factors, History, ModelCard, TaskCard
from fennec_core.zoo import FittedZoo


def fold_in_reference(factorizer: Any, factors: Factors, Pn: np.ndarray, mask: np.ndarray,
                      max_tasks: int = 50) -> float:
    """Median RMSE of existing tasks folded in as if new: what a fold-in usually leaves.

    ``update`` compares the fold-in residual of new cells with this (``refit_threshold`` x it).
    """
    errs = []
    for j in range(min(Pn.shape[1], max_tasks)):
        obs = mask[:, j]
        if obs.sum() < 2:
            continue
        v = factorizer.fold_in(factors, Pn[:, j], obs)
        errs.append(float(np.sqrt(np.mean((factors.U[obs] @ v - Pn[obs, j]) ** 2))))
    return float(np.median(errs)) if errs else 0.0


def fit_zoo(
    history: History,
    models: Mapping[str, ModelCard],
    tasks: Mapping[str, TaskCard],
    *,
    factorizer: Any,
    make_factorizer: Callable[[dict[str, Any]], Any],
    factorizer_config: Mapping[str, Any],
    normalization: str,
    use_meta: bool,
    seed: int,
    guard: AbstractContextManager[Any] | None = None,
    **record: Any,
) -> tuple[FittedZoo, Any]:
    """(the fitted zoo, the factorizer that fitted it) for ``history`` and its cards.

    ``factorizer`` fits the history; with ``k="auto"`` in ``factorizer_config`` the latent
    size is cross-validated on held-out cells first (:mod:`fennec_core.history.choose_k`) and
    ``make_factorizer(config)`` builds the factorizer with the chosen ``k``, which is returned.
    ``record``: further FittedZoo fields carried as given (task embeddings, proxy, archi,
    predicted models). ``guard``: a context around the factorizer's own code that turns its
    unexpected errors into one error naming it (:func:`fennec_core.errors.plugin_errors`).
    """
    normalizer = TaskNormalizer.fit(history.scores, history.mask, normalization)
    with np.errstate(over="ignore", invalid="ignore"):
        Pn = np.where(history.mask, normalizer.transform(history.scores), 0.0)
    if not np.all(np.isfinite(Pn)):
        raise InputError("the history's scores overflow when normalised; rescale them (e.g. to accuracies in "
                         "[0, 1]) or drop extreme cells")
    k = factorizer_config.get("k")
    m, n = history.shape
    if not isinstance(k, bool) and isinstance(k, int | np.integer) and k > min(m, n):
        raise InputError(f"factorizer k={k} is larger than the history allows ({m} models x {n} tasks): use k <= "
                         f"{min(m, n)}, or k=auto")
    k_selection = None
    with guard or contextlib.nullcontext():
        if k == "auto":
            from fennec_core.history.choose_k import select_k

            best, scores = select_k(lambda k: make_factorizer({**factorizer_config, "k": k}), Pn, history.mask,
                                    seed=seed)
            k_selection = {"k": best, "cv_rmse": {str(k): v for k, v in scores.items()}}
            factorizer = make_factorizer({**factorizer_config, "k": best})
        factors = factorizer.fit(Pn, history.mask)
        if not isinstance(factors, Factors):
            raise FennecError(f"factorizer {type(factorizer).__name__} returned {type(factors).__name__}, "
                              "not Factors")
        factors.info["fold_in_reference_rmse"] = fold_in_reference(factorizer, factors, Pn, history.mask)
    zoo = FittedZoo(history=history, models=models, tasks=tasks, normalizer=normalizer, factors=factors,
                    k_selection=k_selection, **record)
    if use_meta:
        zoo = zoo.with_changes(meta_model=zoo.fit_meta())
    return zoo, factorizer
