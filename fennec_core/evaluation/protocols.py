"""Evaluation protocols, always reported beside the static baseline.

``loo`` (leave one task out): for each task, every fitted part (normaliser, factors, meta
model, merger) is refit on the history with that task's column hidden; the engine ranks the
models for the hidden task, knowing only its TaskCard (classes, size); the ranking is
compared with the hidden column on the models observed there.

Tasks whose card has ``probe=1`` (cheap probes such as a linear probe on MNLI) stay in every
fold's history and are never hidden: they are information about the models, not targets.

``loo-warm:K``: as ``loo``, but K seeded random cells of the hidden column are given to the
engine as known scores (warm start); metrics are computed on the remaining cells only, for
Fennec and the static baseline alike. Each target is drawn ``repeats`` times (different
known cells) and its metrics averaged.

The *static baseline* never looks at the new task: each model's mean z-scored score on the
other tasks. On the shared tables it is strong (weighted tau 0.64 on the 105-model table),
so every report shows it, beside the whole baseline suite of
:mod:`fennec_core.evaluation.baselines` (static in every normalisation, card, size, nearest),
computed on the same hidden cells. Gains are reported against ``best``: the member with the
best mean on the table, chosen per metric, never per task.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fennec_core.errors import InputError
from fennec_core.evaluation.metrics import all_metrics
from fennec_core.evaluation.report import EvaluationReport, TaskResult
from fennec_core.history.normalize import TaskNormalizer
from fennec_core.records import History, ModelCard, TaskCard

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.engine import Fennec

PROTOCOLS = ("loo", "loo-warm:K", "loo-model", "search:K", "loo-probe:EST[:N]")


def parse_protocol(protocol: str) -> int:
    """Number of known target cells of ``protocol``: 0 for ``loo``, K for ``loo-warm:K``."""
    if protocol in ("loo", "loo-model"):
        return 0
    if protocol.startswith("search:"):  # sequential picks: its own module, fennec_core.evaluation.search
        raise InputError(f"{protocol}: the search protocol runs through fennec_core.evaluation.evaluate_search("
                         "engine, history, K) or `fennec evaluate --protocol search:K`")
    if protocol.startswith("loo-probe:"):  # probe scores revealed: its own module, fennec_core.evaluation.probe_protocol
        raise InputError(f"{protocol}: the probe protocol runs through fennec_core.evaluation.probe_protocol."
                         "evaluate_probes(engine, history, table, protocol) or `fennec evaluate --protocol "
                         "loo-probe:EST[:N] --probes P.csv`")
    if protocol.startswith("loo-warm:"):
        try:
            k = int(protocol.split(":", 1)[1])
        except ValueError:
            k = 0
        if k >= 1:
            return k
    raise InputError(f"unknown protocol {protocol!r}; available: {', '.join(PROTOCOLS)} (K >= 1 known cells)")


def is_probe(card: TaskCard | None) -> bool:
    """A task whose card says ``probe=1`` (e.g. a linear probe such as ``mnli_lp``): a cheap
    measurement known for every model, used as information, never hidden as a target."""
    return card is not None and bool(card.meta.get("probe", 0.0))


def static_scores(history: History) -> np.ndarray:
    """Static baseline scores (m,): each model's mean z-scored score over the given tasks."""
    z = TaskNormalizer.fit_history(history, "zscore").transform_cells(history.cols, history.values)
    counts = history.model_counts()
    sums = np.bincount(history.rows, weights=z, minlength=history.shape[0])  # from the cells: O(cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts
    return np.where(counts > 0, out, np.nan)


def evaluate(
    engine: Fennec,
    history: History | str | os.PathLike[str] | None = None,
    *,
    protocol: str = "loo",
    models: Sequence[ModelCard] | None = None,
    tasks: Sequence[TaskCard] | None = None,
    progress: bool = False,
    repeats: int = 5,
    task_embeddings: Mapping[str, np.ndarray] | None = None,
    jobs: int = 1,
) -> EvaluationReport:
    """Run ``protocol`` (``loo``, ``loo-warm:K``, ``loo-model``) for ``engine``'s configuration.

    ``history``: a History or CSV path; None evaluates on the engine's fitted zoo (its history,
    cards and task embeddings unless given). Each fold fits a clone of the engine (its
    parameters, never its fitted state). ``models`` with an ``architecture`` get its meta
    features where they lack them, as in ``fit``. With ``task_embeddings`` (proxy embeddings per task),
    each hidden task is ranked from its own embeddings through a mapping learned on the other
    tasks only. ``jobs``: folds run in that many worker processes (-1: one per core; see
    :mod:`fennec_core.evaluation.folds`), with the same report for any number. Returns the
    report, with the static baseline beside every number.
    """
    from fennec_core.evaluation.folds import check_jobs

    check_jobs(jobs)
    if history is None:
        zoo = engine.check_is_fitted()
        history = zoo.history
        models = models if models is not None else list(zoo.models.values())
        tasks = tasks if tasks is not None else list(zoo.tasks.values())
        task_embeddings = task_embeddings if task_embeddings is not None else (zoo.task_embeddings or None)
    else:
        from fennec_core.io.tables import as_history

        history = as_history(history)
    n_known = parse_protocol(protocol)
    _check_k_per_fold(engine, history, protocol)
    if models is not None:  # once here, not in every fold: cards with an architecture get its meta features
        from fennec_core.architecture.encoding import ArchiSpec
        from fennec_core.io.tables import as_cards

        models, _ = ArchiSpec(None).apply(as_cards(models, "models"), progress=progress)
    if isinstance(repeats, bool) or not isinstance(repeats, int | np.integer) or repeats < 1:
        raise InputError(f"repeats must be a whole number >= 1 (draws of known cells per target), got {repeats!r}")
    if protocol == "loo-model":
        return _evaluate_loo_model(engine, history, models=models, tasks=tasks, progress=progress)
    repeats = 1 if n_known == 0 else int(repeats)
    if len(history.task_ids) < 2:
        raise InputError("leave-one-task-out needs a history with at least 2 tasks")
    counts = history.task_counts()  # observed models per task
    most = int(counts.max())
    if most < n_known + 2:
        raise InputError(f"{protocol}: no task has {n_known + 2} observed models ({n_known} known + 2 to compare); "
                         f"the best-covered task has {most}" + (f", so use K <= {most - 2}" if most > 2 else ""))
    task_cards = {t.id: t for t in (tasks or [])}
    folds = [(j, task) for j, task in enumerate(history.task_ids)  # the targets: enough observed models, no probe
             if counts[j] >= n_known + 2 and not is_probe(task_cards.get(task))]
    from fennec_core.evaluation.folds import run_folds

    shared = (engine.clone(), history, models, list(task_cards.values()), task_embeddings, n_known, repeats)
    done = run_folds(_loo_fold, folds, jobs=jobs, progress=progress, desc=protocol, shared=shared)
    results = [result for result, _ in done]
    predictions = [row for _, rows in done for row in rows]
    config = {**_config(engine), "factorizer_config": engine.factorizer_config,
              "score_merger_config": engine.score_merger_config, "seed": engine.seed, "repeats": repeats,
              "task_mapping": engine.task_mapping if task_embeddings else None}
    return EvaluationReport(protocol, config, results, predictions)


def _check_k_per_fold(engine: Fennec, history: History, protocol: str) -> None:
    """Each fold fits on the history less one task (or one model): say so when ``k`` is too large for it."""
    k = engine.factorizer_config.get("k")
    m, n = history.shape
    m, n = (m - 1, n) if protocol == "loo-model" else (m, n - 1)
    if not isinstance(k, bool) and isinstance(k, int | np.integer) and k > min(m, n) >= 1:
        raise InputError(f"{protocol} fits each fold on {m} models x {n} tasks: factorizer k={k} is larger than that "
                         f"allows; use k <= {min(m, n)}, or k=auto")


def _config(engine: Fennec) -> dict[str, Any]:
    """What a report records about the configuration it evaluated."""
    return {"factorizer": engine.factorizer, "score_merger": engine.score_merger,
            "normalization": engine.resolved_normalization, "use_meta": engine.use_meta}


def fit_without_task(engine: Fennec, history: History, task: str, *, models: Sequence[ModelCard] | None = None,
                     tasks: Sequence[TaskCard] | None = None,
                     task_embeddings: Mapping[str, np.ndarray] | None = None, progress: bool = False) -> Fennec:
    """A clone of ``engine`` fitted on ``history`` with ``task`` hidden from every fitted part
    (its column, its card, its proxy embeddings): one fold of leave-one-task-out. ``progress``:
    the fit's progress bar (``fennec demo``)."""
    others = None if task_embeddings is None else {t: e for t, e in task_embeddings.items() if t != task}
    return engine.clone().fit(history.without_task(task), models, [c for c in tasks or [] if c.id != task],
                              task_embeddings=others, progress=progress)


def _loo_fold(engine: Fennec, history: History, models: Sequence[ModelCard] | None, tasks: list[TaskCard],
              task_embeddings: Mapping[str, np.ndarray] | None, n_known: int, repeats: int, j: int, task: str,
              ) -> tuple[TaskResult, list[tuple[str, str, float, float, float, int, float, float, float]]]:
    """One fold of ``loo`` / ``loo-warm:K``: ``task`` (column ``j``) hidden, the engine refit, the
    task ranked ``repeats`` times (K known cells drawn from the seed ``[engine.seed, j, repeat]``,
    so a fold's draws depend on nothing else), its metrics and prediction rows."""
    truth, observed = history.column(task)
    own = (task_embeddings or {}).get(task)  # the hidden task's embeddings, if it has any
    fitted = fit_without_task(engine, history, task, models=models, tasks=tasks,
                              task_embeddings=task_embeddings if own is not None else None)
    train = history.without_task(task)
    static = static_scores(train)
    cards = {c.id: c for c in tasks}
    card = cards.get(task, TaskCard(task))
    from fennec_core.evaluation.baselines import suite_scores

    suite_args = {"models": {c.id: c for c in models or []}, "tasks": {t: c for t, c in cards.items() if t != task},
                  "task": card, "normalization": engine.resolved_normalization}
    cold_suite = suite_scores(train, **suite_args, warm=False)  # the same for every draw of known cells
    draws: list[tuple[np.ndarray, dict[str, float] | None]] = []  # (cells compared, known cells) per repeat
    for rep in range(repeats):
        rest, known = observed.copy(), None
        if n_known:
            rng = np.random.default_rng([engine.seed, j, rep])
            idx = rng.choice(np.flatnonzero(observed), n_known, replace=False)
            rest[idx] = False
            known = {history.model_ids[i]: float(truth[i]) for i in idx}
        draws.append((rest, known))
    from fennec_core.engine import PIPELINE

    if n_known and engine.ranker == PIPELINE:  # every repeat's fold-in and product in one batch
        vector = None if own is None else fitted.map_task(own)  # what rank(task_embeddings=own) starts from
        rankings = fitted.rank_many([card] * repeats, task_vectors=None if vector is None else [vector] * repeats,
                                    known=[known for _, known in draws])
    else:
        rankings = [fitted.rank(card, known=known, task_embeddings=own) for _, known in draws]
    method_runs, static_runs, suite_runs = [], [], {}
    inside, cells, width = 0, 0, 0.0
    predictions = []
    for rep, ((rest, _), ranking) in enumerate(zip(draws, rankings, strict=True)):
        pos = {m: i for i, m in enumerate(ranking.model_ids)}
        perm = np.array([pos[m] for m in history.model_ids])
        pred = ranking.scores[perm]
        nan = np.full(len(perm), np.nan)
        units, low, high = (ranking.parts[k][perm] if k in ranking.parts else nan for k in ("predicted", "low", "high"))
        method_runs.append(all_metrics(truth[rest], pred[rest]))
        static_runs.append(all_metrics(truth[rest], static[rest]))
        known_rows = {history.model_index(mid): v for mid, v in (draws[rep][1] or {}).items()}
        suite = {**cold_suite, **suite_scores(train, **suite_args, known=known_rows, warm=True)} if known_rows \
            else cold_suite
        for name, scores in suite.items():
            suite_runs.setdefault(name, []).append(all_metrics(truth[rest], scores[rest]))
        if "low" in ranking.parts:
            inside += int(np.sum((low[rest] <= truth[rest]) & (truth[rest] <= high[rest])))
            cells += int(rest.sum())
            width += float(np.sum(high[rest] - low[rest]))
        for i in np.flatnonzero(rest):
            predictions.append((history.model_ids[i], task, float(pred[i]), float(truth[i]), float(static[i]), rep,
                                float(units[i]), float(low[i]), float(high[i])))
    intervals = {"cells": cells, "coverage": inside / cells, "width": width / cells} if cells else {}
    baselines = {name: _mean_runs(runs) for name, runs in suite_runs.items() if len(runs) == repeats}
    return TaskResult(task, int(draws[-1][0].sum()), _mean_runs(method_runs), _mean_runs(static_runs),
                      rankings[-1].cold, intervals, baselines), predictions


def _mean_runs(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.nanmean([r[k] for r in runs])) if any(not math.isnan(r[k]) for r in runs) else math.nan
            for k in runs[0]}


def evaluate_scores(scores_path: str, truth_path: str, *, dataset_col: str = "Dataset",
                    model_col: str = "Model") -> dict[str, dict[str, Any]]:
    """Weighted tau of precomputed transferability scores against true fine-tuning results.

    ``scores_path``: a long CSV with a dataset column, a model column and one column per
    method (e.g. the published Model Spider baselines). ``truth_path``: a wide CSV, first
    column the model, one column per dataset. Returns ``{method: {"per_dataset": {...},
    "mean": float}}`` with ``weightedtau(truth, score, rank=None)`` per dataset; datasets
    without truth are skipped, models without truth make an error.
    """
    from fennec_core.evaluation.metrics import weighted_tau
    from fennec_core.io.tables import _open_text, _rows, convert_table

    source = str(scores_path)
    header, rows = _rows(_open_text(scores_path), source, (dataset_col, model_col))
    methods = [h for h in header if h not in (dataset_col, model_col)]
    if not methods:
        raise InputError(f"{source}: no method columns besides {dataset_col} and {model_col}")
    truth = convert_table(truth_path, wide=True)
    by_dataset: dict[str, list[tuple[str, dict[str, float]]]] = {}
    from fennec_core.io.tables import _float

    for line, row in rows:
        ds, model = (row[dataset_col] or "").strip(), (row[model_col] or "").strip()
        values = {m: _float(row[m], f"column {m!r}", source, line) for m in methods}
        by_dataset.setdefault(ds, []).append((model, values))
    out: dict[str, dict[str, Any]] = {m: {"per_dataset": {}, "mean": math.nan} for m in methods}
    for ds, entries in by_dataset.items():
        if ds not in truth.task_ids:
            continue
        col, observed = truth.column(ds)
        t = np.array([col[truth.model_index(model)] for model, _ in entries])
        ok = np.array([observed[truth.model_index(model)] for model, _ in entries])
        for m in methods:
            s = np.array([values[m] for _, values in entries])
            out[m]["per_dataset"][ds] = weighted_tau(t[ok], s[ok])
    if not any(out[m]["per_dataset"] for m in methods):
        raise InputError(f"{source}: none of its datasets ({', '.join(sorted(by_dataset))}) is a column of {truth_path}")
    for m in methods:
        vals = list(out[m]["per_dataset"].values())
        out[m]["mean"] = float(np.mean(vals)) if vals else math.nan
    return out


def feature_regression_scores(train_z: np.ndarray, train_mask: np.ndarray, X_train: np.ndarray,
                              X_new: np.ndarray) -> np.ndarray:
    """Baseline for new models: per task, least squares of z-scores on the model features."""
    out = np.full((X_new.shape[0], train_z.shape[1]), np.nan)
    from fennec_core.scoring.meta_score import feature_moments

    mean, std = feature_moments(X_train)
    A = np.nan_to_num((X_train - mean) / std)
    B = np.nan_to_num((X_new - mean) / std)
    for j in range(train_z.shape[1]):
        obs = train_mask[:, j]
        design = np.hstack([A[obs], np.ones((obs.sum(), 1))])
        coef, *_ = np.linalg.lstsq(design, train_z[obs, j], rcond=None)
        out[:, j] = np.hstack([B, np.ones((B.shape[0], 1))]) @ coef
    return out


def _evaluate_loo_model(engine: Fennec, history: History, *, models, tasks, progress: bool) -> EvaluationReport:
    """Leave one *model* out: its whole row is hidden and predicted from its features alone.

    Per task, the held-out predictions of every model are compared with the truth (metrics
    across models), beside a plain least-squares regression of each task's z-scores on the
    same model features.
    """
    from tqdm.auto import tqdm

    from fennec_core.scoring.meta_score import feature_matrix

    cards = {c.id: c for c in (models or [])}
    names = sorted({k for c in cards.values() for k in c.meta})
    if not names:
        raise InputError("loo-model predicts a model from its features: give a models table with meta features")
    m, n = history.shape
    pred = np.full((m, n), np.nan)
    base = np.full((m, n), np.nan)
    X = feature_matrix([cards[mid].meta if mid in cards else {} for mid in history.model_ids], names)
    Z = TaskNormalizer.fit(history.scores, history.mask, "zscore").transform(history.scores)
    for i in tqdm(range(m), desc="loo-model", disable=not progress, leave=False):
        keep = [r for r in range(m) if r != i]
        train = history.select_models(keep)
        fitted = engine.clone().fit(train, [cards[mid] for mid in train.model_ids if mid in cards], tasks)
        card = cards.get(history.model_ids[i])
        if card is None or not any(k in card.meta for k in names):
            continue
        fitted.add_models([card])
        pred[i] = fitted.predict_cells([card.id], history.task_ids)[0]
        base[i] = feature_regression_scores(np.where(history.mask[keep], Z[keep], 0.0), history.mask[keep],
                                            X[keep], X[[i]])[0]
    results, predictions = [], []
    for j, task in enumerate(history.task_ids):
        truth = history.scores[:, j]
        ok = history.mask[:, j] & np.isfinite(pred[:, j])
        if ok.sum() < 2:
            continue
        results.append(TaskResult(task, int(ok.sum()), all_metrics(truth[ok], pred[ok, j]),
                                  all_metrics(truth[ok], base[ok, j]), False))
        for i in np.flatnonzero(ok):
            predictions.append((history.model_ids[i], task, float(pred[i, j]), float(truth[i]), float(base[i, j]), 0,
                                math.nan, math.nan, math.nan))
    config = {**_config(engine), "features": names}
    return EvaluationReport("loo-model", config, results, predictions, baseline="feature regression")
