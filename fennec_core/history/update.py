"""Incremental updates: fold new tasks and new models into a fitted zoo without refitting.

A new task's vector is folded in from its scores (normalised with its own offset and scale,
as a refit would); a new model's vector from its scores on known tasks (a factorizer with
:class:`fennec_core.plugin.contracts.ModelFoldIn`). :func:`plan_update` says when a full
refit is needed instead: cells of existing (model, task) pairs change, the factorizer cannot
fold in models, or the new cells' fold-in residual RMSE exceeds ``threshold`` x the
*reference* -- the median residual RMSE of the existing tasks folded in the same way (what a
fold-in usually leaves; the fit's own RMSE would be too strict, as the fit saw those cells).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from fennec_core.history.fitting import fold_in_reference
from fennec_core.history.normalize import TaskNormalizer
from fennec_core.plugin.contracts import ModelFoldIn, component_name, supports
from fennec_core.records import Factors, History, ModelCard, TaskCard
from fennec_core.table import scatter
from fennec_core.zoo import FittedZoo


@attrs.frozen(eq=False)
class UpdatePlan:
    """What an update does: the zoo with the new cells (folded in, or to refit) and a report."""

    zoo: FittedZoo
    refit_reason: str | None
    report: dict[str, Any]


def _extend_extras(factors: Factors, add_models: int, add_tasks: int) -> dict[str, np.ndarray]:
    """Factor extras for appended rows: posterior covariances of folded-in rows (prior spread)."""
    ex = dict(factors.extras)
    if "U_cov" in ex and add_models:
        ex["U_cov"] = np.concatenate([ex["U_cov"], np.repeat(ex["U_cov"].mean(0, keepdims=True), add_models, 0)])
    if "V_cov" in ex and add_tasks:
        ex["V_cov"] = np.concatenate([ex["V_cov"], np.repeat(ex["V_cov"].mean(0, keepdims=True), add_tasks, 0)])
    return ex


def plan_update(zoo: FittedZoo, factorizer: Any, new: History, *, models: Sequence[ModelCard] | None = None,
                tasks: Sequence[TaskCard] | None = None, threshold: float = 2.0, force_refit: bool = False,
                use_meta: bool = True) -> UpdatePlan:
    """Add the cells of ``new`` (and cards) to ``zoo``; fold them in unless a refit is needed.

    When no refit is needed the returned zoo has the folded-in factors, normaliser and meta
    model; otherwise it holds the extended history and cards, ready to be fitted again.
    """
    from fennec_core.checks import check_number

    check_number(threshold, "refit_threshold")
    if models:  # architecture meta features of new models' architectures, as fit computes them
        from fennec_core.architecture.encoding import architecture_features

        models = architecture_features(models)
    old = zoo.history
    history, overlap = old.extended(new)
    new_models = list(history.model_ids[old.shape[0]:])
    new_tasks = list(history.task_ids[old.shape[1]:])
    # a stored zoo's cards are built lazily (50,000 on a large zoo): copied only when some change
    mcards: Mapping[str, ModelCard] = zoo.models
    if models or new_models:
        mdict = {**zoo.models, **{c.id: c for c in models or []}}
        mcards = {**mdict, **{m: ModelCard(m) for m in new_models if m not in mdict}}
    tcards: Mapping[str, TaskCard] = zoo.tasks
    if tasks or new_tasks:
        tdict = {**zoo.tasks, **{c.id: c for c in tasks or []}}
        tcards = {**tdict, **{t: TaskCard(t) for t in new_tasks if t not in tdict}}
    extended = zoo.with_changes(history=history, models=mcards, tasks=tcards)
    report: dict[str, Any] = {"new_models": new_models, "new_tasks": new_tasks, "refit": False, "reason": None}
    reason = None
    if force_refit:
        reason = "forced"
    elif overlap:
        reason = f"{overlap} cell(s) of existing models on existing tasks changed"
    elif new_models and not supports(factorizer, ModelFoldIn):
        reason = f"factorizer {component_name(factorizer)!r} cannot fold in new models"
    folded = extended
    if reason is None:
        folded, reason = _fold_in_new(extended, factorizer, old, threshold, report, use_meta)
    if reason is not None:
        report.update(refit=True, reason=reason)
        return UpdatePlan(extended, reason, report)
    return UpdatePlan(folded, None, report)


def _fold_in_new(zoo: FittedZoo, factorizer: Any, old: History, threshold: float, report: dict[str, Any],
                 use_meta: bool) -> tuple[FittedZoo, str | None]:
    """Fold new rows and columns into the factors: (the updated zoo, None) or (zoo, a reason to refit).

    Touches only the new cells (plus the meta model, which is refit when in use), so its cost
    does not grow with the size of the existing history.
    """
    hist, factors = zoo.history, zoo.factors
    m0, n0 = old.shape
    m1, n1 = hist.shape
    # new tasks get their own normalisation (as a refit would); existing tasks keep theirs
    method = zoo.normalizer.method
    normalizer = zoo.normalizer
    if n1 > n0:
        new_norm = TaskNormalizer.fit_history(hist.select_tasks(np.arange(n0, n1)), method)
        normalizer = TaskNormalizer(method, np.concatenate([zoo.normalizer.offset, new_norm.offset]),
                                    np.concatenate([zoo.normalizer.scale, new_norm.scale]))
    U, V = factors.U, factors.V
    sq_err, count = 0.0, 0
    new_u = []
    for i in range(m0, m1):
        cols, vals = hist.row_cells(i)
        known = cols < n0
        if not known.any():
            return zoo, f"new model {hist.model_ids[i]!r} has no score on a known task"
        z, obs = scatter(n0, cols[known], normalizer.transform_cells(cols[known], vals[known]))
        u = factorizer.fold_in_model(factors, z, obs)
        sq_err += float(np.sum((V[obs] @ u - z[obs]) ** 2))
        count += int(obs.sum())
        new_u.append(u)
    U2 = np.vstack([U, *new_u]) if new_u else U
    tmp = Factors(U2, V, _extend_extras(factors, len(new_u), 0), factors.info)
    new_v = []
    for j in range(n0, n1):
        rows, z_obs = normalizer.column(hist, j)
        if not rows.size:
            return zoo, f"new task {hist.task_ids[j]!r} has no score"
        z, obs = scatter(m1, rows, z_obs)
        v = factorizer.fold_in(tmp, z, obs)
        sq_err += float(np.sum((U2[obs] @ v - z[obs]) ** 2))
        count += int(obs.sum())
        new_v.append(v)
    V2 = np.vstack([V, *new_v]) if new_v else V
    rmse = float(np.sqrt(sq_err / max(count, 1)))
    reference = factors.info.get("fold_in_reference_rmse")
    if reference is None:
        reference = fold_in_reference(factorizer, factors, old, zoo.normalizer)
    report.update(fold_in_rmse=rmse, reference_rmse=reference, threshold=threshold)
    if rmse > threshold * max(reference, 1e-6):
        return zoo, f"fold-in residual RMSE {rmse:.4f} > {threshold} x reference {reference:.4f}"
    out = zoo.with_changes(normalizer=normalizer,
                           factors=Factors(U2, V2, _extend_extras(factors, len(new_u), len(new_v)), dict(factors.info)))
    if use_meta and out.model_feature_names():
        out = out.with_changes(meta_model=out.fit_meta())
    return out, None
