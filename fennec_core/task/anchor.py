"""The anchor: the best simple rule a new task's ranking falls back to, and known results that
move it from the first one.

A new task's ranking is ``(1 - weight) * engine + weight * anchor``, where

- ``anchor`` (cold) is each model's mean normalised score over the zoo's tasks, in the zoo's
  own normalisation: the ``static-<normalisation>`` baseline of
  :mod:`fennec_core.evaluation.baselines`, which on some histories beats the factor model
  (hf-nlp: ``static-zscore-clip`` 0.627 weighted tau against the factorization's 0.604).
  Where the zoo's tasks have categorical card values (``TaskCard.attributes``: type,
  languages, ...) and leave-one-task-out says they help, a new task's anchor is the mean over
  the zoo's tasks sharing its card values instead (:func:`matching_tasks`: the ``card``
  baseline);
- with known results of the task, the anchor moves: a ridge regression of the known scores on
  the zoo's task columns (their deviations from the mean column) gives one weight per
  historical task, and the anchor becomes the mean column plus that weighted blend of
  deviations -- a Gaussian-process posterior mean whose covariance is the tasks' own
  (``E[z | z_known]`` under ``z ~ N(mean, dev dev' / ridge)``). The task's unknown offset
  drops out by centring the known scores; its scale is the historical median. The ridge is
  chosen per number of known results by leave-one-task-out on the zoo's tasks (the task's
  column removed from the mean and the blend, seeded draws of known cells), among values up
  to infinity (the anchor does not move);
- ``weight`` is chosen once per zoo by leave-one-task-out on its tasks: each task in turn is
  ranked cold by the engine and by the anchor without its column, and the weight of the
  best mean weighted tau wins (ties go to the engine). On a small zoo (at most
  :data:`HONEST_CELLS` cells) the engine is refit without each simulated task; on a larger
  one its side of that comparison uses the factors and meta model fitted with the task
  (refitting them per task would cost a fit per task; refitting only the meta model costs
  2 s a task on hf-nlp), which errs toward trusting the engine.
- the anchor's normalisation is the one whose static rule has the best leave-one-task-out
  weighted tau on the zoo's tasks (exact: the rule is a mean of the other columns), mapped
  into the zoo's normalised units by an order-preserving affine map (so a prediction and its
  interval stay in the task's units).

Large histories (more than :data:`MAX_CELLS` dense cells) get no anchor: the dense deviation
matrix would not fit. Probe tasks (``probe=1``) are columns of the anchor, never simulated
as targets.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.records import TaskCard
    from fennec_core.zoo import FittedZoo

#: Candidate weights of the anchor (0: the engine alone, 1: the anchor alone).
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Candidate ridges of the known-results blend (inf: the anchor stays at the mean column).
RIDGES = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, math.inf)
#: Dense cells (models x tasks) above which a zoo gets no anchor.
MAX_CELLS = 20_000_000
#: Dense cells up to which the weight's simulation refits the engine without each task (honest).
HONEST_CELLS = 20_000
#: Tasks simulated when choosing the weight and the ridges (a seeded sample of larger zoos).
MAX_TASKS = 60
#: Draws of known cells per simulated task when choosing a ridge.
DRAWS = 3


@attrs.frozen(eq=False)
class Anchor:
    """A zoo's anchor: the normalised columns (m, n; NaN where unobserved), their mean column
    (m,), the deviations from it (m, n; 0 where unobserved), the weight of the anchor in a new
    task's ranking, the median raw scale of a task, whether a new task's card values pick the
    tasks its mean is taken over, and the ridge chosen per number of known results."""

    columns: np.ndarray
    mean: np.ndarray
    dev: np.ndarray
    weight: float
    scale: float
    use_card: bool = False
    ridges: dict[int, float] = attrs.field(factory=dict)
    #: mean weighted tau of each candidate in the leave-one-task-out simulations
    trials: dict[str, float] = attrs.field(factory=dict)
    #: the normalisation of ``columns`` (the best static rule's), and the per-task raw scales of it
    method: str = "zscore"
    scales: np.ndarray | None = None
    #: ``(a, b)``: ``a + b * anchor`` is in the zoo's normalised units (an order-preserving map)
    affine: tuple[float, float] = (0.0, 1.0)

    def base(self, card: TaskCard | None, tasks: Mapping[str, TaskCard], task_ids: Sequence[str]) -> np.ndarray:
        """The cold anchor of a new task: the mean over the tasks sharing its card values when
        ``use_card`` and some do, else the mean column."""
        if not self.use_card or card is None:
            return self.mean
        cols = matching_tasks(task_ids, tasks, card)
        if cols is None or cols.size == 0:
            return self.mean
        same = _nanmean(self.columns[:, cols])
        return np.where(np.isfinite(same), same, self.mean)

    def scores(self, known: Mapping[int, float] | None = None, ridge: float = math.inf,
               base: np.ndarray | None = None) -> np.ndarray:
        """The anchor's scores (m,) for a new task given ``known`` raw scores by model row (NaN
        for a model without history), from ``base`` (default the mean column): see :func:`blend`."""
        a, b = self.affine
        return a + b * blend(self.mean if base is None else base, self.dev, self.scale, known or {}, ridge)


def _nanmean(x: np.ndarray) -> np.ndarray:
    seen = np.isfinite(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen.any(axis=1), np.where(seen, x, 0.0).sum(axis=1) / seen.sum(axis=1), np.nan)


def matching_tasks(task_ids: Sequence[str], tasks: Mapping[str, TaskCard], task: TaskCard) -> np.ndarray | None:
    """Indices in ``task_ids`` of the tasks sharing ``task``'s card values: every attribute field
    of ``task`` must share at least one value (``languages = deu,eng`` matches ``eng``); while
    none matches, fields are dropped from the last. Empty when even the first field matches no
    task; None when ``task`` or every other task lacks attributes."""
    from fennec_core.records import attribute_values

    fields = [(k, attribute_values(v)) for k, v in task.attributes.items() if attribute_values(v)]
    cards = [tasks.get(t) for t in task_ids]
    if not fields or not any(c is not None and c.attributes for c in cards):
        return None
    for used in range(len(fields), 0, -1):
        cols = [j for j, c in enumerate(cards) if c is not None and c.id != task.id
                and all(values & attribute_values(c.attributes.get(k)) for k, values in fields[:used])]
        if cols:
            return np.array(cols, dtype=np.int64)
    return np.array([], dtype=np.int64)


def normalised_columns(zoo: FittedZoo, method: str | None = None) -> np.ndarray:
    """The zoo's history in ``method`` (default the zoo's normalisation) as a dense (m, n)
    matrix, NaN where unobserved."""
    h = zoo.history
    norm = zoo.normalizer if method is None else _normalizer(zoo, method)
    out = np.full(h.shape, np.nan)
    out[h.rows, h.cols] = norm.transform_cells(h.cols, h.values)
    return out


def _raw(zoo: FittedZoo) -> np.ndarray:
    """The zoo's raw scores as a dense (m, n) matrix, NaN where unobserved (from the cells)."""
    h = zoo.history
    out = np.full(h.shape, np.nan)
    out[h.rows, h.cols] = h.values
    return out


def _normalizer(zoo: FittedZoo, method: str) -> Any:
    from fennec_core.history.normalize import TaskNormalizer

    return zoo.normalizer if method == zoo.normalizer.method else TaskNormalizer.fit_history(zoo.history, method)


def blend(mean: np.ndarray, dev: np.ndarray, scale: float, known: Mapping[int, float], ridge: float) -> np.ndarray:
    """``mean + dev @ w`` with ``w`` the ridge regression (penalty ``ridge``) of the centred known
    scores (divided by ``scale``, less the centred mean column) on the centred rows of ``dev``:
    the posterior mean of the task's column given its known cells, its offset unknown. Known
    rows without history are left out; fewer than 2 usable known cells, or an infinite ridge,
    leave ``mean`` unchanged."""
    rows = np.array([r for r in known if np.isfinite(mean[r])], dtype=np.int64)
    if rows.size < 2 or not math.isfinite(ridge):
        return mean
    y = np.array([known[int(r)] for r in rows], dtype=np.float64) / scale
    r = (y - y.mean()) - (mean[rows] - mean[rows].mean())
    A = dev[rows] - dev[rows].mean(axis=0)
    w = A.T @ np.linalg.solve(A @ A.T + ridge * np.eye(rows.size), r)
    return mean + dev @ w


def _without(columns: np.ndarray, sums: np.ndarray, counts: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean column, deviations) of the zoo less task column ``j``."""
    col = columns[:, j]
    seen = np.isfinite(col)
    s = sums - np.where(seen, col, 0.0)
    c = counts - seen
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    rest = np.delete(columns, j, axis=1)
    dev = np.nan_to_num(rest - mean[:, None])
    return mean, dev


def fit_anchor(zoo: FittedZoo, cold_scores: Callable[[int, TaskCard], np.ndarray], *, seed: int,
               targets: list[int]) -> Anchor | None:
    """Choose the anchor of ``zoo`` (see the module doc): its normalisation (the static rule with
    the best leave-one-task-out weighted tau on the zoo's tasks; the zoo's own on ties), whether
    card values pick the tasks to average, and its weight against ``cold_scores(j, card)``: the
    engine's cold merged scores (m,) for task column ``j`` ranked as a new task with that card.
    ``targets``: the task columns that may be simulated (not probes). None for a zoo too large or
    with fewer than 3 tasks."""
    from fennec_core.history.normalize import METHODS
    from fennec_core.metrics import weighted_tau

    m, n = zoo.history.shape
    if m * n > MAX_CELLS or n < 3:
        return None
    own = normalised_columns(zoo)
    seen = np.isfinite(own)
    sample = _sample(targets, seen, seed)
    if not sample:
        return None
    truth = _raw(zoo)
    trials: dict[str, float] = {}
    best: tuple[float, int] | None = None
    prepared = {}
    for rank, method in enumerate([zoo.normalizer.method, *[x for x in METHODS if x != zoo.normalizer.method]]):
        columns = own if rank == 0 else normalised_columns(zoo, method)
        sums, counts = np.where(seen, columns, 0.0).sum(axis=1), seen.sum(axis=1)
        taus = []
        for j in sample:
            a, _ = _without(columns, sums, counts, j)
            ok = seen[:, j] & np.isfinite(a)
            taus.append(weighted_tau(truth[ok, j], a[ok]))
        trials[f"static-{method}"] = float(np.nanmean(taus))
        prepared[method] = (columns, sums, counts)
        if best is None or round(trials[f"static-{method}"], 9) > round(best[0], 9):
            best = (trials[f"static-{method}"], rank)
    method = [zoo.normalizer.method, *[x for x in METHODS if x != zoo.normalizer.method]][best[1]]  # type: ignore[index]
    columns, sums, counts = prepared[method]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    dev = np.nan_to_num(columns - mean[:, None])
    scales = np.asarray(_normalizer(zoo, method).scale, dtype=np.float64)
    own_mean = _nanmean(own)
    ok = np.isfinite(mean) & np.isfinite(own_mean)
    b = float(np.std(own_mean[ok]) / np.std(mean[ok])) if ok.sum() > 1 and np.std(mean[ok]) > 0 else 1.0
    affine = (float(np.mean(own_mean[ok]) - b * np.mean(mean[ok])) if ok.any() else 0.0, b)
    cards = [zoo.tasks.get(t) or _card(t) for t in zoo.task_ids]
    plain = Anchor(columns, mean, dev, 0.0, float(np.median(scales)), method=method, scales=scales, affine=affine)
    # does a task's card pick better tasks to average than all of them? (each task without its own column)
    by_card: dict[str, list[float]] = {"mean": [], "card": []}
    for j in sample:
        if not cards[j].attributes:
            continue
        a, _ = _without(columns, sums, counts, j)
        c = attrs.evolve(plain, use_card=True).base(cards[j], zoo.tasks, zoo.task_ids)
        c = np.where(np.isfinite(c), c, a)
        ok = seen[:, j] & np.isfinite(a)
        by_card["mean"].append(weighted_tau(truth[ok, j], a[ok]))
        by_card["card"].append(weighted_tau(truth[ok, j], c[ok]))
    use_card = bool(by_card["card"]) and float(np.nanmean(by_card["card"])) > float(np.nanmean(by_card["mean"]))
    totals: dict[float, list[float]] = {w: [] for w in WEIGHTS}
    for j in sample:
        a, _ = _without(columns, sums, counts, j)
        if use_card:
            c = attrs.evolve(plain, use_card=True).base(cards[j], zoo.tasks, zoo.task_ids)
            a = np.where(np.isfinite(c), c, a)
        a = affine[0] + affine[1] * a
        e = cold_scores(j, cards[j])
        ok = seen[:, j] & np.isfinite(a) & np.isfinite(e)
        for w in WEIGHTS:
            totals[w].append(weighted_tau(truth[ok, j], (1 - w) * e[ok] + w * a[ok]))
    trials.update({f"weight {w:g}": float(np.nanmean(v)) for w, v in totals.items()})
    trials.update({f"{k} (cold anchor)": float(np.nanmean(v)) for k, v in by_card.items() if v})
    weight = max(WEIGHTS, key=lambda w: (round(trials[f"weight {w:g}"], 9), -w))
    return attrs.evolve(plain, weight=float(weight), use_card=use_card, trials=trials)


def choose_ridge(zoo: FittedZoo, anchor: Anchor, n_known: int, *, seed: int, targets: list[int]) -> float:
    """The ridge of the known-results blend for ``n_known`` known cells: leave-one-task-out on
    the zoo's tasks, :data:`DRAWS` seeded draws each; the best mean weighted tau of the anchor
    on each task's other cells wins (ties: the larger ridge, down to infinity = no move)."""
    from fennec_core.metrics import weighted_tau

    if n_known < 2:
        return math.inf
    columns = anchor.columns
    seen = np.isfinite(columns)
    sums, counts = np.where(seen, columns, 0.0).sum(axis=1), seen.sum(axis=1)
    scales = anchor.scales if anchor.scales is not None else np.asarray(zoo.normalizer.scale)
    rng = np.random.default_rng([seed, n_known])
    raw = _raw(zoo)
    scores = {r: [] for r in RIDGES}
    for j in _sample(targets, seen, seed):
        obs = np.flatnonzero(seen[:, j])
        if obs.size < n_known + 2:
            continue
        a, dev = _without(columns, sums, counts, j)
        scale = float(np.median(np.delete(scales, j)))
        for _ in range(DRAWS):
            pick = rng.choice(obs, n_known, replace=False)
            known = {int(i): float(raw[i, j]) for i in pick}
            rest = np.setdiff1d(obs, pick)
            for r in RIDGES:
                s = blend(a, dev, scale, known, r)
                scores[r].append(weighted_tau(raw[rest, j], s[rest]))
    if not scores[RIDGES[0]]:
        return math.inf
    means = {r: float(np.nanmean(v)) for r, v in scores.items()}
    return max(RIDGES, key=lambda r: (round(means[r], 9), r))


def _sample(targets: list[int], seen: np.ndarray, seed: int) -> list[int]:
    """The simulated task columns: targets with at least 5 observed models, a seeded sample of
    :data:`MAX_TASKS` when there are more."""
    ok = [j for j in targets if seen[:, j].sum() >= 5]
    if len(ok) <= MAX_TASKS:
        return ok
    rng = np.random.default_rng(seed)
    return sorted(int(j) for j in rng.choice(ok, MAX_TASKS, replace=False))


def _card(task: str) -> TaskCard:
    from fennec_core.records import TaskCard

    return TaskCard(task)


def cold_merged(zoo: FittedZoo, factorizer: Any, merger: Any, card: TaskCard) -> np.ndarray:
    """The engine's cold merged scores (m,) of a new task with ``card``: the mean task vector's
    transfer part, merged with the meta part where the zoo has one."""
    from fennec_core.task.vector import task_vector_prior

    parts = {"transfer": zoo.factors.U @ task_vector_prior(zoo, factorizer)[0]}
    meta = zoo.meta_model
    if meta is not None:
        parts["meta"] = meta.predict_for_task(zoo.model_features(meta.model_features), card.features())[0]
    return np.asarray(merger.merge(parts), dtype=np.float64)


def anchor_for_zoo(zoo: FittedZoo, factorizer: Any, merger: Any, *, seed: int,
                   refit: Callable[[str], tuple[FittedZoo, Any, Any]] | None = None) -> Anchor | None:
    """The anchor of a fitted zoo (:func:`fit_anchor`), None where it does not apply: a merger
    whose output is not a normalised score (``rank-fusion``), or a zoo too large or too small.

    ``refit(task)``: (zoo, factorizer, merger) of the engine refit without ``task``. On a zoo of
    at most :data:`HONEST_CELLS` cells the engine's side of the weight's leave-one-task-out is
    then honest (one refit per simulated task); otherwise it uses this zoo's factors, which saw
    the task (see the module doc)."""
    from fennec_core.plugin.contracts import ScoreLike, supports

    if not supports(merger, ScoreLike):
        return None
    m, n = zoo.history.shape
    honest = refit is not None and m * n <= HONEST_CELLS

    def cold_scores(j: int, card: TaskCard) -> np.ndarray:
        if not honest:
            return cold_merged(zoo, factorizer, merger, card)
        inner, fz, mg = refit(zoo.task_ids[j])  # type: ignore[misc]
        scores = cold_merged(inner, fz, mg, card)
        out = np.full(m, np.nan)
        for i, model in enumerate(inner.model_ids):
            if zoo.history.has_model(model):
                out[zoo.history.model_index(model)] = scores[i]
        return out

    with _one_thread():
        anchor = fit_anchor(zoo, cold_scores, seed=seed, targets=_targets(zoo))
    if anchor is not None:
        anchor.trials["honest engine"] = float(honest)
    return anchor


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """One BLAS and one torch thread inside (restored after): the simulation's refits and small
    products are faster so, above all on a shared machine (a refit of the 105-model zoo: 0.8 s on
    one thread, 30 s on two threads beside other work), as in the evaluation's folds."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


def _targets(zoo: FittedZoo) -> list[int]:
    """Task columns that may be simulated as new tasks: every task but probes (``probe=1``)."""
    return [j for j, t in enumerate(zoo.task_ids)
            if not (t in zoo.tasks and zoo.tasks[t].meta.get("probe", 0.0))]


def new_task_anchor(zoo: FittedZoo, anchor: Anchor, card: TaskCard | None, known: Mapping[str, float] | None, *,
                    seed: int) -> tuple[np.ndarray, str]:
    """(the anchor's scores (m,), a note for the Ranking) for a new task with ``card`` and
    ``known`` raw scores by model id; the ridge for their number is chosen on first use and kept."""
    rows = {zoo.history.model_index(mid): float(v) for mid, v in (known or {}).items()}
    usable = {r: v for r, v in rows.items() if np.isfinite(anchor.mean[r])}
    k = len(usable)
    ridge = math.inf
    if k >= 2:
        if k not in anchor.ridges:
            anchor.ridges[k] = choose_ridge(zoo, anchor, k, seed=seed, targets=_targets(zoo))
        ridge = anchor.ridges[k]
    base = anchor.base(card, zoo.tasks, zoo.task_ids)
    scores = anchor.scores(usable, ridge, base)
    over = "the zoo's tasks sharing its card values" if base is not anchor.mean else "the zoo's tasks"
    moved = f"; its {k} known result(s) move it (ridge {ridge:g})" if math.isfinite(ridge) else \
        (f"; its {k} known result(s) do not move it (leave-one-task-out prefers the mean)" if k >= 2 else "")
    note = (f"blended with the anchor (each model's mean {zoo.normalizer.method} score over {over}{moved}) "
            f"at weight {anchor.weight:g}, chosen by leave-one-task-out on the zoo's tasks")
    return scores, note


def engine_anchor(engine: Any, zoo: FittedZoo) -> Anchor | None:
    """The anchor of ``engine``'s fitted ``zoo``; on a small zoo the weight's simulation refits a
    clone of the engine without each task (:func:`anchor_for_zoo`)."""

    def refit(task: str) -> tuple[FittedZoo, Any, Any]:
        inner = engine.clone().fit(zoo.history.without_task(task), list(zoo.models.values()),
                                   [c for c in zoo.tasks.values() if c.id != task])
        return inner.check_is_fitted(), inner.components.factorizer, inner.components.merger

    return anchor_for_zoo(zoo, engine.components.factorizer, engine.components.merger, seed=engine.seed,
                          refit=refit)


def task_anchors(engine: Any, cards: Sequence[TaskCard | None], known: Sequence[Mapping[str, float] | None] | None,
                 task_vectors: Any = None) -> list[tuple[float, np.ndarray, str] | None]:
    """(weight, anchor scores, note) per new task of ``engine``'s zoo; None for a task of the zoo,
    a task placed by a vector (a proxy's, a description's: the weight is chosen without one) or
    without an anchor."""
    zoo, seed = engine.check_is_fitted(), engine.seed
    out: list[tuple[float, np.ndarray, str] | None] = []
    anchor = None
    for i, card in enumerate(cards):
        placed = task_vectors is not None and task_vectors[i] is not None
        if placed or (card is not None and zoo.history.has_task(card.id)):
            out.append(None)
            continue
        anchor = anchor if anchor is not None else anchor_of(engine)
        if anchor is None:
            out.append(None)
            continue
        scores, note = new_task_anchor(zoo, anchor, card, None if known is None else known[i], seed=seed)
        out.append((anchor.weight, scores, note))
    return out


def anchor_of(engine: Any) -> Anchor | None:
    """The anchor new tasks of ``engine``'s fitted zoo are blended with, chosen on first use and
    kept on the engine while the parts it depends on (history, factors, meta model; not e.g. the
    warm strength) are the same. None where it does not apply."""
    zoo = engine.check_is_fitted()
    key = (zoo.history, zoo.factors, zoo.meta_model)
    cache = getattr(engine, "_anchor_cache", None)
    if cache is not None and all(a is b for a, b in zip(cache[0], key, strict=True)):
        return cache[1]
    anchor = engine_anchor(engine, zoo)
    engine._anchor_cache = (key, anchor)
    return anchor
