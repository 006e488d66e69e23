"""The ``loo-probe:EST[:N]`` protocol: leave one task out, then reveal probe scores.

For each target task: every fitted part of the engine is refit with the task hidden
(:func:`fennec_core.evaluation.protocols.fit_without_task`), the probe-to-result mapping of
estimator ``EST`` is fitted on the *other* tasks' probe scores only
(:func:`fennec_core.scoring.probes.fit_probes`), the task is ranked from the history alone (cold), then
``EST``'s scores of the top ``N`` models of that ranking (every probed model without ``N``) are
revealed and fused (``Fennec.rank(probes=...)``). Every model observed on the task is compared
with its hidden result, beside the baseline suite and two more members:

``history``    the engine's ranking without the probes (the prior);
``EST alone``  the estimator's scores: the revealed models first, by their score, then the rest
               in the history's order (with every model probed: the estimator's ranking).

Probe scores come from a long table ``model,task,estimator,score`` (published or computed
scores), or, with no table, from the history's probe tasks (cards with ``probe=1``, e.g.
``mnli_lp``: its result for a model is that model's probe score for every other task).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fennec_core.errors import InputError
from fennec_core.evaluation.report import EvaluationReport, TaskResult
from fennec_core.metrics import all_metrics
from fennec_core.records import History, ModelCard, TaskCard

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.engine import Fennec

PREFIX = "loo-probe:"


def parse_probe_protocol(protocol: str) -> tuple[str, int | None]:
    """(estimator, N or None for every probed model) of ``loo-probe:EST[:N]``."""
    parts = protocol.removeprefix(PREFIX).split(":")
    est = parts[0].strip()
    if not protocol.startswith(PREFIX) or not est or len(parts) > 2:
        raise InputError(f"{protocol!r}: write loo-probe:EST or loo-probe:EST:N (EST an estimator of the probe "
                         "table, e.g. logme; N >= 2 models probed per task)")
    if len(parts) == 1:
        return est, None
    try:
        n = int(parts[1])
    except ValueError:
        n = 0
    if n < 2:
        raise InputError(f"{protocol!r}: N must be a whole number >= 2 (models probed per task), got {parts[1]!r}")
    return est, n


def fold_engine(engine: Fennec, history: History, table: Mapping[str, Any], estimator: str, task: str, *,
                models: Sequence[ModelCard] | None = None, tasks: Sequence[TaskCard] | None = None) -> Fennec:
    """One fold: ``engine`` refit with ``task`` hidden, its probe mapping of ``estimator`` fitted
    on the probe table without ``task``'s scores."""
    from fennec_core.evaluation.protocols import fit_without_task
    from fennec_core.scoring.probes import fit_probes

    fitted = fit_without_task(engine, history, task, models=models, tasks=tasks)
    return fit_probes(fitted, {t: v for t, v in table.items() if t != task}, estimators=[estimator])


def _in_order(ranking: Any, ids: Sequence[str]) -> np.ndarray:
    """A ranking's scores in the order ``ids``."""
    score = dict(zip(ranking.model_ids, ranking.scores, strict=True))
    return np.array([score[m] for m in ids])


def evaluate_probes(engine: Fennec, history: History, table: Mapping[str, Any] | None, protocol: str, *,
                    models: Sequence[ModelCard] | None = None, tasks: Sequence[TaskCard] | None = None,
                    progress: bool = False) -> EvaluationReport:
    """Run ``loo-probe:EST[:N]`` (module doc) for ``engine``'s configuration on ``history`` with the
    probe ``table`` (``{task: {estimator: {model: score}}}``; None: the history's probe tasks)."""
    from scipy.stats import rankdata
    from tqdm.auto import tqdm

    from fennec_core.engine import PIPELINE
    from fennec_core.evaluation.baselines import suite_scores
    from fennec_core.evaluation.protocols import _config, is_probe, static_scores
    from fennec_core.scoring.probes import MIN_MODELS, probes_from_history

    estimator, top_n = parse_probe_protocol(protocol)
    if engine.ranker != PIPELINE:
        raise InputError(f"{protocol}: probes are fused with the pipeline's ranking; the {engine.ranker!r} ranker "
                         "does not take them (use --ranker fennec)")
    cards = {c.id: c for c in tasks or []}
    if table is None:
        table = probes_from_history(history, cards)
    if not any(estimator in v for v in table.values()):
        have = sorted({e for v in table.values() for e in v})
        raise InputError(f"{protocol}: no probe scores by {estimator!r} (the probe table has: "
                         f"{', '.join(have) or 'none; give --probes P.csv or a history with a probe task'})")
    targets = [t for t in history.task_ids if not is_probe(cards.get(t))
               and sum(history.has_model(m) for m in table.get(t, {}).get(estimator, {})) >= MIN_MODELS]
    if not targets:
        raise InputError(f"{protocol}: no task of the history has {estimator!r} scores of >= {MIN_MODELS} of its models")
    model_cards = {c.id: c for c in models or []}
    results, predictions = [], []
    for task in tqdm(targets, desc=protocol, disable=not progress, leave=False):
        fitted = fold_engine(engine, history, table, estimator, task, models=models, tasks=tasks)
        truth, observed = history.column(task)
        train = history.without_task(task)
        card = cards.get(task, TaskCard(task))
        prior = fitted.rank(card)
        order = list(prior.model_ids)
        scores = {m: float(s) for m, s in table[task][estimator].items() if history.has_model(m)}
        probed = [m for m in order if m in scores][:top_n] if top_n else [m for m in order if m in scores]
        fused = fitted.rank(card, probes={m: {estimator: scores[m]} for m in probed})
        ids = history.model_ids
        pred, hist_scores = _in_order(fused, ids), _in_order(prior, ids)
        alone = hist_scores.copy()  # the revealed models first, by their score; the rest in the history's order
        alone[[history.model_index(m) for m in probed]] = 1e6 + rankdata([scores[m] for m in probed])
        suite = suite_scores(train, models=model_cards, tasks={t: c for t, c in cards.items() if t != task},
                             task=card, normalization=engine.resolved_normalization, warm=False)
        suite = {**suite, "history": hist_scores, f"{estimator} alone": alone}
        static = static_scores(train)
        obs = observed
        results.append(TaskResult(task, int(obs.sum()), all_metrics(truth[obs], pred[obs]),
                                  all_metrics(truth[obs], static[obs]), False, {},
                                  {name: all_metrics(truth[obs], s[obs]) for name, s in suite.items()}))
        units = dict(zip(fused.model_ids, fused.parts.get("predicted", np.full(len(fused), np.nan)), strict=True))
        low = dict(zip(fused.model_ids, fused.parts.get("low", np.full(len(fused), np.nan)), strict=True))
        high = dict(zip(fused.model_ids, fused.parts.get("high", np.full(len(fused), np.nan)), strict=True))
        for i in np.flatnonzero(obs):
            m = ids[i]
            predictions.append((m, task, float(pred[i]), float(truth[i]), float(static[i]), 0, float(units[m]),
                                float(low[m]), float(high[m])))
    config = {**_config(engine), "factorizer_config": engine.factorizer_config, "seed": engine.seed,
              "probe_estimator": estimator, "probed_per_task": top_n or "all"}
    return EvaluationReport(protocol, config, results, predictions)
