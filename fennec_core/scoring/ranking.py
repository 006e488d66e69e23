"""From task vectors to Rankings: the transfer part ``U v`` (batched on the device), the meta
part, the merge, intervals in the task's units, and the order.

Parts of a Ranking (each per model, in ranked order):

``transfer``  ``U_i . v`` in normalised units;
``meta``      the meta model's prediction (when the zoo has model features);
``sd``        the predictive standard deviation of the transfer part (posterior factorizers);
``predicted``, ``low``, ``high``  the merged score and its 90% interval in the task's units
              (score-like mergers only);
``sd_relative``  the predictive sd in the task's units without the uncertainty of the task's
              units, which every model shares and which so cancels when models are compared
              (what budgeted search and P(best) use);
``final``     with ``explore``: the merged score before it was replaced by its optimistic end;
``observed``  for a task of the zoo, its observed result in the task's units (NaN where none);
``merged``, ``anchor``  for a new task blended with the zoo's anchor: the merged score before the
              blend and the anchor's score (:mod:`fennec_core.task.anchor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fennec_core.errors import InputError
from fennec_core.plugin.contracts import ScoreLike, supports, transfer_weight
from fennec_core.records import Ranking
from fennec_core.scoring.transfer import order, top_k

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.records import TaskCard
    from fennec_core.task.vector import TaskVector
    from fennec_core.zoo import FittedZoo

#: z of the two-sided 90% normal interval.
Z90 = 1.6448536269514722


def task_units(zoo: FittedZoo, card: TaskCard | None, tv: TaskVector) -> tuple[float, float, Any]:
    """(offset, scale, variance of the units as a function of the normalised score) of a task.

    A task of the zoo has its own units, known exactly. A new task with known scores has the
    units inferred from them (:func:`fennec_core.task.vector.infer_units`), uncertain by their
    posterior variances (same first-order form as below). A new task with none
    (cold, or a description or images) has the historical median units, uncertain by the spread
    of the historical tasks' offsets and log scales: ``y = offset + scale z`` gives, to first
    order, ``Var(offset) + (scale z)^2 Var(log scale)``. That uncertainty is shared by every
    model of the task, so it widens the intervals without changing the order.
    """
    if card is not None and zoo.history.has_task(card.id):
        offset, scale, _ = zoo.task_units(card)
        return offset, scale, lambda z: 0.0
    if tv.units is not None:  # inferred from known scores, uncertain by their posterior spread
        u = tv.units
        return u.offset, u.scale, lambda z: u.var_offset + (np.asarray(z) * u.scale) ** 2 * u.var_log_scale
    offset, scale, _ = zoo.task_units(card)
    inflate = new_draw_inflation(len(zoo.normalizer.offset))
    var_off = inflate * float(np.var(zoo.normalizer.offset))
    var_ls = inflate * float(np.var(np.log(zoo.normalizer.scale)))
    return offset, scale, lambda z: var_off + (np.asarray(z) * scale) ** 2 * var_ls


def new_draw_inflation(n: int) -> float:
    """Factor on the (biased) variance of ``n`` historical tasks' units that gives a normal 90%
    interval the width of the Student-t prediction interval of one more task:
    ``(t_{0.95, n-1} / z_{0.95})^2 (1 + 1/n) n / (n - 1)``. On 7-task tables (6 in a fold) it is
    2.1; on 36 tasks 1.12. The t quantile is the Cornish-Fisher expansion (error < 1e-3 for
    ``n - 1 >= 5``; scipy below that)."""
    nu = n - 1
    if nu < 1:
        return 1.0
    if nu < 5:
        from scipy.special import stdtrit

        t = float(stdtrit(nu, 0.95))
    else:
        z = Z90
        t = (z + (z**3 + z) / (4 * nu) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)
             + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * nu**3))
    return (t / Z90) ** 2 * (1 + 1 / n) * n / nu


def cell_noise(zoo: FittedZoo) -> float:
    """The factorizer's residual variance of one cell (normalised units; 0 when it has none)."""
    extras = zoo.factors.extras
    return float(np.asarray(extras["noise_var"]).ravel()[0]) if "noise_var" in extras else 0.0


def bound_to_history(zoo: FittedZoo, parts: dict[str, np.ndarray]) -> None:
    """Bound predictions and intervals to ``[min(0, lowest observed), 1]`` when every observed
    score lies in [-1, 1] (accuracies, F1, correlations): a predicted accuracy of 1.03 is not a
    prediction. A history with a few slightly negative cells (a correlation task beside accuracy
    tasks, as in hf-nlp) keeps its lowest value as the floor instead of losing the bound."""
    observed = zoo.history.values
    if observed.size and observed.min() >= -1.0 and observed.max() <= 1.0:
        floor = min(0.0, float(observed.min()))
        for key in ("predicted", "low", "high"):
            parts[key] = np.clip(parts[key], floor, 1.0)


def ranking_info(zoo: FittedZoo, ranked_ids: Sequence[str], *, source: str, score_space: str,
                 interval: str | None, notes: Sequence[str], **components: str) -> dict[str, Any]:
    """The ``info`` of a Ranking: how it was made (JSON)."""
    predicted = set(zoo.predicted_models)
    return {
        "cold": source == "cold",
        "task_vector_source": source,
        "score_space": score_space,
        "interval": interval,
        **components,
        "n_models": len(zoo.model_ids),
        "predicted_models": [m for m in ranked_ids if m in predicted],
        "notes": list(notes),
    }


def rank_from_vectors(zoo: FittedZoo, factorizer: Any, merger: Any, cards: Sequence[TaskCard | None],
                      vectors: Sequence[TaskVector], *, top: int | None = None, explore: bool = False,
                      device: str = "auto", components: dict[str, str] | None = None,
                      notes: Sequence[str] = (),
                      anchors: Sequence[tuple[float, np.ndarray, str] | None] | None = None,
                      probes: Sequence[Any] | None = None) -> list[Ranking]:
    """One Ranking per task: transfer scores in one batched product, merged with the meta part.

    ``components`` (factorizer and score merger names) go into each Ranking's info; ``notes``
    are added to every Ranking's notes. ``anchors``: per task, None or (weight, anchor scores,
    note): the merged score becomes ``(1 - weight) merged + weight anchor`` (a model without an
    anchor score keeps its merged one; :mod:`fennec_core.task.anchor`), before its interval.
    ``probes``: per task, None or checked probe scores ``{model: {estimator: score}}``, fused with
    the merged score through the zoo's probe mapping (:mod:`fennec_core.scoring.probe_fusion`).
    """
    from fennec_core.scoring.transfer import transfer_scores

    components = dict(components or {})
    probe_zoo = zoo
    if probes is not None:  # checked, and a probe task of the zoo named in them mapped
        from fennec_core.scoring.probes import prepare_probes

        probe_zoo, probes = prepare_probes(zoo, probes, len(cards))
    transfer = transfer_scores(zoo.factors.U, np.stack([v.mean for v in vectors]), device=device)
    meta = zoo.meta_model
    mX = zoo.model_features(meta.model_features) if meta is not None else None
    out = []
    for i, (card, tv) in enumerate(zip(cards, vectors, strict=True)):
        task_notes = [*tv.notes]
        parts: dict[str, np.ndarray] = {"transfer": transfer[i]}
        sd = None
        if tv.cov is not None:
            sd = np.sqrt(factorizer.predictive_variance(zoo.factors, tv.mean, tv.cov))
        if meta is not None and mX is not None:
            parts["meta"], missing = meta.predict_for_task(mX, card.features() if card is not None else {})
            if missing:
                task_notes.append(f"task features {', '.join(missing)} unknown: training mean used")
        elif meta is None and zoo.model_feature_names():
            task_notes.append("meta score not used: this zoo was fitted without one (use_meta=false), although its "
                              "models have features (`fennec zoo info`)")
        else:
            task_notes.append("no model meta features: meta score not used")
        final = np.asarray(merger.merge(parts), dtype=np.float64)
        anchor = None if anchors is None else anchors[i]
        if anchor is not None:
            weight, anchor_scores, note = anchor
            anchor_scores = np.where(np.isfinite(anchor_scores), anchor_scores, final)
            parts["merged"] = final
            final = _anchored(final, weight, anchor_scores)
            parts["anchor"] = anchor_scores
            task_notes.append(note)
        task_probes = None if probes is None else probes[i]
        if task_probes:
            if explore:
                raise InputError("explore ranks by the history's optimistic bound; it does not combine with probes")
            from fennec_core.scoring.probe_fusion import fuse_final

            final, added, shrink, note = fuse_final(probe_zoo, final, task_probes)
            parts.update(added)
            sd = None if sd is None else sd * shrink
            if tv.source == "cold":  # the probes are known about the task: only the history's part is cold
                task_notes = [n for n in task_notes if n not in tv.notes]
                task_notes.append("the history's part uses the mean task vector (nothing else known)")
            task_notes.append(note)
        if card is not None and zoo.history.has_task(card.id):  # the zoo's own results on its task
            parts["observed"], _ = zoo.history.column(card.id)
        if sd is not None:
            parts["sd"] = sd
        score_like = supports(merger, ScoreLike)
        if score_like:
            offset, scale, unit_var = task_units(zoo, card, tv)
            parts["predicted"] = final * scale + offset
        if sd is not None:
            if score_like:
                w = transfer_weight(merger)
                relative = scale**2 * ((w * sd) ** 2 + cell_noise(zoo))
                half = Z90 * np.sqrt(relative + unit_var(final))
                parts["sd_relative"] = np.sqrt(relative)
                parts["low"], parts["high"] = parts["predicted"] - half, parts["predicted"] + half
                bound_to_history(zoo, parts)
            if explore:
                upper_parts = {k: v for k, v in parts.items() if k in ("transfer", "meta")}
                upper_parts["transfer"] = parts["transfer"] + Z90 * sd
                parts["final"] = final
                final = np.asarray(merger.merge(upper_parts), dtype=np.float64)
                if anchor is not None:
                    final = _anchored(final, anchor[0], parts["anchor"])
                task_notes.append("explore: ranked by the optimistic end of the 90% interval")
        elif explore:
            raise InputError(f"explore needs a factorizer with uncertainty (e.g. pmf); "
                             f"{components.get('factorizer', 'this factorizer')!r} has none")
        idx = order(final) if top is None else top_k(final, top)
        ids = [zoo.model_ids[j] for j in idx]
        info = ranking_info(zoo, ids, source=tv.source + ("+probes" if task_probes else ""), score_space=f"normalised ({zoo.normalizer.method})",
                            interval="90% (predicted, low, high in the task's units)" if sd is not None else None,
                            notes=[*task_notes, *notes], **components)
        out.append(Ranking(ids, final[idx], {name: np.asarray(v)[idx] for name, v in parts.items()},
                           task=card.id if card is not None else None, info=info))
    return out


def _anchored(final: np.ndarray, weight: float, anchor: np.ndarray) -> np.ndarray:
    """``(1 - weight) final + weight anchor`` (``final`` itself at weight 0)."""
    return final if weight == 0.0 else (1.0 - weight) * final + weight * anchor


def rank_with_ranker(zoo: FittedZoo, ranker: Any, ranker_name: str, card: TaskCard | None,
                     task_embeddings: np.ndarray | None, *, top: int | None = None, notes: Sequence[str] = (),
                     unsupported: Sequence[str] = ()) -> Ranking:
    """A Ranking from a ranker plugin's scores for a task given by its item embeddings.

    A task of the zoo given without embeddings uses the zoo's own embeddings of it.
    ``unsupported``: the pipeline-only inputs the caller was given (task vector, known scores,
    explore), refused here with one InputError.
    """
    if unsupported:
        raise InputError(f"the {ranker_name!r} ranker ranks from task embeddings only (no task_vector, known "
                         f"scores or explore; got {', '.join(unsupported)}); use the default ranker (fennec) for those")
    notes = list(notes)
    if task_embeddings is None and card is not None and card.id in zoo.task_embeddings:
        task_embeddings = zoo.task_embeddings[card.id]
        notes.append(f"task embeddings: the zoo's own for {card.id!r}")
    if task_embeddings is None:
        raise InputError(f"the {ranker_name!r} ranker needs the task's embeddings: rank --describe TEXT, --images "
                         "DIR or --embeddings FILE (task_embeddings=... / description=... in Python), or --task with a "
                         "task of the zoo")
    scores = np.asarray(ranker.scores(zoo, task_embeddings), dtype=np.float64)
    idx = order(scores) if top is None else top_k(scores, top)
    ids = [zoo.model_ids[j] for j in idx]
    info = ranking_info(zoo, ids, source="embeddings", score_space=f"{ranker_name} fitness", interval=None,
                        notes=notes, ranker=ranker_name)
    return Ranking(ids, scores[idx], {"ranker": scores[idx]}, task=card.id if card is not None else None, info=info)


def predict_cells(zoo: FittedZoo, merger: Any, model_ids: Sequence[str], task_ids: Sequence[str]) -> np.ndarray:
    """Merged predicted scores (normalised) of models on historical tasks: [len(models), len(tasks)]."""
    rows = [zoo.history.model_index(m) for m in model_ids]
    cols = [zoo.history.task_index(t) for t in task_ids]
    transfer = zoo.factors.U[rows] @ zoo.factors.V[cols].T
    out = np.empty_like(transfer)
    meta = zoo.meta_model
    X = zoo.model_features(meta.model_features, model_ids) if meta is not None else None
    for k, t in enumerate(task_ids):
        parts = {"transfer": transfer[:, k]}
        if meta is not None and X is not None:
            parts["meta"], _ = meta.predict_for_task(X, zoo.tasks[t].features())
        out[:, k] = merger.merge(parts)
    return out
