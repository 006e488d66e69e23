"""Probe scores as evidence about a new task: how an estimator's scores map onto a zoo's
normalised results, and the posterior that folds them in beside the history's prediction.

A *probe score* is a cheap measurement of one model on the new task's own data: a
transferability estimator (LogME, NCE, H-score, ...; named as the estimator registry spells
them) or a cheap probe task of the history (a linear probe such as ``mnli_lp``, whose result
for a model is a probe score for every other task).

The mapping, per estimator (fitted on tasks where probe scores and results share models,
:func:`fit_probe_mapping`): probe scores are z-scored within a task over the probed models,
``p``; the task's normalised result of model ``i`` is ``y_i = b p_i + a_i + e``, with slope
``b``, a per-model offset ``a_i`` (what the estimator systematically gets wrong about that
model; ridge-shrunk toward 0) and noise ``e ~ N(0, s^2)``. The history's prediction of the
same normalised result (the ranking's score) is a prior ``N(mu_i, tau^2)``, ``tau^2`` the
variance of a task's normalised results around the mean of the other tasks (leave-one-task-out
on the training tasks). The posterior per model (:func:`fuse_scores`) is the precision-weighted
mean ``(mu_i / tau^2 + sum_e y_ei / s_e^2) / (1 / tau^2 + sum_e 1 / s_e^2)``; unprobed models
keep their prior. The ridge and a temper of ``s^2`` are chosen by an inner leave-one-task-out
over the training tasks (:data:`RIDGES`, :data:`TEMPERS`), never on the task being ranked.

Probe scores of a subset ``S`` of N models (the top N, say) carry no level: the observation
becomes ``mean_S(mu) + r_N (b p_i + a_i - mean_S(a))``, ``r_N`` the spread of results within
the history's top N over their whole spread (learned on the training tasks): the probe orders
the subset, the history places it. A joint posterior over the task vector (probes
folded in as noisy known results) ranked worse on the Model Spider table (docs/probes.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from fennec_core.errors import InputError
from fennec_core.records import History, TaskCard

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.zoo import FittedZoo

#: Ridge of the per-model offsets (in tasks' worth of evidence); 1e9 means no offsets.
RIDGES = (1.0, 3.0, 10.0, 1e9)
#: Multipliers of the fitted probe noise tried by the inner leave-one-task-out; 1e9 sets the
#: probe aside (the history's ranking), chosen where the probe did not help on the training tasks.
TEMPERS = (0.5, 1.0, 2.0, 4.0, 1e9)
#: Fewest probed models of a task for its scores to be z-scored (and used).
MIN_MODELS = 3
#: Fewest training tasks with probe scores for a mapping (two: one to fit, one to check).
MIN_TASKS = 2
#: At most this many training tasks are held out in the inner leave-one-task-out (seeded sample).
INNER_TASKS = 12

#: Probe scores of a table: task -> estimator -> model -> score.
ProbeTable = Mapping[str, Mapping[str, Mapping[str, float]]]
#: Probe scores of one new task, as ``Fennec.rank(probes=...)`` takes them: model -> estimator -> score.
ProbeScores = Mapping[str, Mapping[str, float]]


@attrs.frozen(eq=False)
class ProbeFit:
    """One estimator's mapping onto a zoo's normalised results (see the module doc).

    ``offsets``: per model of ``model_ids`` of the owning :class:`ProbeMapping` (0 where the
    estimator never scored it). ``noise`` is the fitted ``s^2`` already multiplied by ``temper``."""

    estimator: str
    slope: float
    noise: float
    prior_var: float
    ridge: float
    temper: float
    n_tasks: int
    n_pairs: int
    offsets: np.ndarray
    #: ``spread[N]``: the spread (sd) of a task's normalised results within the history's top N
    #: models over their whole spread, averaged over the training tasks (1 where unknown)
    spread: np.ndarray = attrs.field(factory=lambda: np.ones(0))


@attrs.frozen(eq=False)
class ProbeMapping:
    """The probe-to-result mappings of a zoo, per estimator, for the models ``model_ids``."""

    model_ids: tuple[str, ...] = attrs.field(converter=tuple)
    fits: dict[str, ProbeFit] = attrs.field(factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays to store (the per-model offsets, one array per estimator)."""
        return {**{f"offsets/{i}": f.offsets for i, f in enumerate(self.fits.values())},
                **{f"spread/{i}": f.spread for i, f in enumerate(self.fits.values())}}

    def attributes(self) -> dict[str, Any]:
        """JSON to store beside :meth:`arrays`."""
        return {"model_ids": list(self.model_ids),
                "estimators": [{k: getattr(f, k) for k in ("estimator", "slope", "noise", "prior_var", "ridge",
                                                          "temper", "n_tasks", "n_pairs")} for f in self.fits.values()]}

    @classmethod
    def from_stored(cls, arrays: Mapping[str, np.ndarray], attributes: Mapping[str, Any]) -> ProbeMapping:
        """The mapping :meth:`arrays` and :meth:`attributes` describe (a store's; nothing runs)."""
        fits, ids = {}, tuple(str(m) for m in attributes["model_ids"])
        for i, doc in enumerate(attributes["estimators"]):
            fit = ProbeFit(str(doc["estimator"]), *(float(doc[k]) for k in (
                "slope", "noise", "prior_var", "ridge", "temper")), int(doc["n_tasks"]), int(doc["n_pairs"]),
                np.asarray(arrays[f"offsets/{i}"], dtype=np.float64),
                np.asarray(arrays.get(f"spread/{i}", np.ones(0)), dtype=np.float64))
            numbers = [fit.slope, fit.noise, fit.prior_var, *fit.offsets, *fit.spread]
            if fit.offsets.shape != (len(ids),) or fit.spread.ndim != 1 or not np.all(np.isfinite(numbers)) \
                    or fit.noise <= 0 or fit.prior_var <= 0:
                raise ValueError(f"estimator {fit.estimator!r}: offsets, spread or variances out of range")
            fits[fit.estimator] = fit
        return cls(ids, fits)

    def aligned(self, model_ids: Sequence[str]) -> ProbeMapping:
        """This mapping for the models ``model_ids`` (a model it never saw gets offset 0)."""
        if tuple(model_ids) == self.model_ids:
            return self
        at = {m: i for i, m in enumerate(self.model_ids)}
        pick = np.array([at.get(m, -1) for m in model_ids], dtype=np.int64)
        return ProbeMapping(tuple(model_ids), {e: attrs.evolve(f, offsets=np.where(pick >= 0, f.offsets[pick], 0.0))
                                               for e, f in self.fits.items()})

    def merged(self, other: ProbeMapping) -> ProbeMapping:
        """This mapping with ``other``'s estimators added (``other``'s win; same models required)."""
        if other.model_ids != self.model_ids:
            raise InputError("probe mappings of different model lists cannot be merged; refit the mapping")
        return ProbeMapping(self.model_ids, {**self.fits, **other.fits})


def zscore(values: np.ndarray) -> np.ndarray | None:
    """``values`` z-scored (population sd); None when they do not vary."""
    sd = float(np.std(values))
    return None if not np.isfinite(sd) or sd <= 1e-12 * max(1.0, float(np.max(np.abs(values)))) \
        else (values - values.mean()) / sd


def probes_from_history(history: History, tasks: Mapping[str, TaskCard]) -> dict[str, dict[str, dict[str, float]]]:
    """The probe table of a history's probe tasks (cards with ``probe=1``, e.g. ``mnli_lp``): each
    probe task's results are probe scores (estimator = the probe task's id) for every other task."""
    probes = [t for t in history.task_ids if t in tasks and bool(tasks[t].meta.get("probe", 0.0))]
    table: dict[str, dict[str, dict[str, float]]] = {}
    for p in probes:
        col, observed = history.column(p)
        scores = {history.model_ids[i]: float(col[i]) for i in np.flatnonzero(observed)}
        for t in history.task_ids:
            if t not in probes:
                table.setdefault(t, {})[p] = scores
    return table


def _task_pairs(history: History, normalised: np.ndarray, table: ProbeTable, estimator: str,
                task_ids: Sequence[str]) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Per training task with enough probed, observed models: (column, model rows, probe z, result)."""
    out = []
    for t in task_ids:
        scores = table.get(t, {}).get(estimator)
        if not scores or not history.has_task(t):
            continue
        j = history.task_index(t)
        _, observed = history.column_at(j)
        rows = np.array(sorted(history.model_index(m) for m in scores if history.has_model(m)), dtype=np.int64)
        rows = rows[observed[rows]] if rows.size else rows
        if rows.size < MIN_MODELS:
            continue
        p = zscore(np.array([float(scores[history.model_ids[i]]) for i in rows]))
        if p is not None:
            out.append((j, rows, p, normalised[rows, j]))
    return out


def _fit_linear(pairs: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], m: int, ridge: float,
                ) -> tuple[float, np.ndarray, float]:
    """(slope, per-model offsets (m,), noise) of ``y = b p + a_i + e`` minimising
    ``|y - b p - a|^2 + ridge |a|^2``, in closed form: for a given ``b`` the offsets are
    ``a(b) = A_y - b A_p`` (per-model sums over count + ridge), so the loss is a quadratic in ``b``."""
    rows = np.concatenate([r for _, r, _, _ in pairs])
    p = np.concatenate([q for _, _, q, _ in pairs])
    y = np.concatenate([v for _, _, _, v in pairs])
    denom = np.bincount(rows, minlength=m) + ridge
    a_y, a_p = np.bincount(rows, weights=y, minlength=m) / denom, np.bincount(rows, weights=p, minlength=m) / denom
    u, w = y - a_y[rows], p - a_p[rows]
    b = float((u @ w + ridge * (a_y @ a_p)) / (w @ w + ridge * (a_p @ a_p)))
    a = a_y - b * a_p
    resid = y - b * p - a[rows]
    return b, a, max(float(np.mean(resid**2)), 1e-6)


def _static_prior(normalised: np.ndarray, mask: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Each model's mean normalised result over ``columns`` (0 where it has none)."""
    obs = mask[:, columns]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(obs, normalised[:, columns], 0.0).sum(1) / obs.sum(1)
    return np.where(np.isfinite(out), out, 0.0)


def _prior_var(normalised: np.ndarray, mask: np.ndarray, columns: np.ndarray) -> float:
    """Variance of a task's normalised results around the mean of the other ``columns`` (each
    column's leave-one-out mean from the columns' sums: O(models x columns))."""
    obs = mask[:, columns]
    vals = np.where(obs, normalised[:, columns], 0.0)
    sums, counts = vals.sum(1, keepdims=True), obs.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        others = (sums - vals) / (counts - obs)
    ok = obs & np.isfinite(others)
    return max(float(np.mean((vals - np.where(ok, others, 0.0))[ok] ** 2)), 1e-6) if ok.any() else 1.0


def _top_spread(normalised: np.ndarray, mask: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``spread[N]`` of :class:`ProbeFit`: per training task, the sd of its normalised results
    within the top N models by the mean of the other tasks, over the sd of all its results; the
    mean over tasks (N = 0, 1: 1)."""
    m = normalised.shape[0]
    sums, n_tasks = np.zeros(m + 1), 0
    for j in columns:
        obs = np.flatnonzero(mask[:, j])
        others = columns[columns != j]
        if obs.size < 3 or not others.size:
            continue
        y = normalised[obs, j]
        sd = float(np.std(y))
        if sd <= 0:
            continue
        y = y[np.argsort(-_static_prior(normalised, mask, others)[obs], kind="stable")]
        n = np.arange(1, y.size + 1)
        mean, sq = np.cumsum(y) / n, np.cumsum(y * y) / n
        ratio = np.sqrt(np.maximum(sq - mean**2, 0.0)) / sd
        sums[1:y.size + 1] += ratio
        sums[y.size + 1:] += 1.0
        n_tasks += 1
    out = sums / n_tasks if n_tasks else np.ones(m + 1)
    out[:2] = 1.0
    return out


def posterior(prior: np.ndarray, prior_var: float, observations: Sequence[tuple[np.ndarray, float]],
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per-model posterior (mean (m,), variance (m,)): ``prior`` (m,) with variance ``prior_var``,
    and each (y (m,), noise) observation (NaN where a model was not probed) -- precision-weighted;
    unprobed models keep the prior."""
    num, den = prior / prior_var, np.full(prior.shape, 1.0 / prior_var)
    for y, noise in observations:
        seen = np.isfinite(y)
        num = num + np.where(seen, np.nan_to_num(y) / noise, 0.0)
        den = den + np.where(seen, 1.0 / noise, 0.0)
    return num / den, 1.0 / den


def observation(fit: ProbeFit, prior: np.ndarray, rows: np.ndarray, scores: np.ndarray) -> np.ndarray | None:
    """The normalised results that probe ``scores`` of the models ``rows`` indicate (m,), NaN
    elsewhere, placed on the history's level of that subset (module doc); None when they do not vary."""
    p = zscore(np.asarray(scores, dtype=np.float64))
    if p is None:
        return None
    rel = fit.slope * p + fit.offsets[rows] - fit.offsets[rows].mean()
    ratio = float(fit.spread[rows.size]) if rows.size < prior.size and rows.size < fit.spread.size else 1.0
    y = np.full(prior.shape, np.nan)
    y[rows] = prior[rows].mean() + ratio * rel
    return y


def fuse_scores(mapping: ProbeMapping, prior: np.ndarray, probes: ProbeScores,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(posterior mean (m,), the probes' indicated results (m,), NaN where none, posterior sd /
    prior sd (m,)) for the models of ``mapping`` given the history's ``prior`` scores in the same
    order and ``probes`` (checked)."""
    by_estimator: dict[str, dict[int, float]] = {}
    index = {m: i for i, m in enumerate(mapping.model_ids)}
    for model, scores in probes.items():
        for est, value in scores.items():
            by_estimator.setdefault(est, {})[index[model]] = float(value)
    observations, shown = [], np.full(prior.shape, np.nan)
    prior_var = 1.0
    for est, cells in by_estimator.items():
        fit = mapping.fits[est]
        prior_var = fit.prior_var
        rows = np.array(sorted(cells), dtype=np.int64)
        y = observation(fit, prior, rows, np.array([cells[r] for r in rows]))
        if y is None:
            raise InputError(f"probes: the {est!r} scores of the {rows.size} probed models are all equal; "
                             "they cannot order the models (give scores that differ, or drop them)")
        observations.append((y, fit.noise))
        shown = np.where(np.isfinite(y), y, shown)
    mean, var = posterior(prior, prior_var, observations)
    return mean, shown, np.sqrt(var / prior_var)


def _inner_taus(pairs: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], normalised: np.ndarray,
                mask: np.ndarray, columns: np.ndarray, m: int, held: Sequence[int]) -> dict[tuple[float, float], float]:
    """Mean weighted tau of the fusion on the ``held`` training tasks, each fitted without it,
    for every (ridge, temper) of :data:`RIDGES` x :data:`TEMPERS`."""
    from fennec_core.metrics import weighted_tau

    taus: dict[tuple[float, float], list[float]] = {(r, t): [] for r in RIDGES for t in TEMPERS}
    for h in held:
        rest = [q for i, q in enumerate(pairs) if i != h]
        j, rows, p, y = pairs[h]
        others = columns[columns != j]
        prior, prior_var = _static_prior(normalised, mask, others), _prior_var(normalised, mask, others)
        for ridge in RIDGES:
            b, a, s2 = _fit_linear(rest, m, ridge)
            for temper in TEMPERS:
                fit = ProbeFit("", b, s2 * temper, prior_var, ridge, temper, 0, 0, a)
                obs = observation(fit, prior, rows, p)
                if obs is not None:
                    taus[ridge, temper].append(weighted_tau(y, posterior(prior, prior_var, [(obs, fit.noise)])[0][rows]))
    return {k: float(np.nanmean(v)) if v else -np.inf for k, v in taus.items()}


def fit_estimator(history: History, normalised: np.ndarray, table: ProbeTable, estimator: str,
                  task_ids: Sequence[str], *, seed: int = 0) -> ProbeFit:
    """One estimator's :class:`ProbeFit` from the training tasks ``task_ids`` of ``history``
    (``normalised``: its results in the zoo's normalisation, dense (m, n)). Ridge and temper by
    inner leave-one-task-out over at most :data:`INNER_TASKS` of them (seeded)."""
    m = len(history.model_ids)
    pairs = _task_pairs(history, normalised, table, estimator, task_ids)
    if len(pairs) < MIN_TASKS:
        raise InputError(f"probes: estimator {estimator!r} has scores of >= {MIN_MODELS} observed models on "
                         f"{len(pairs)} of the history's tasks; a mapping needs {MIN_TASKS} (add its scores on more "
                         "of the history's tasks)")
    mask = history.mask
    columns = np.array(sorted({history.task_index(t) for t in task_ids if history.has_task(t)}), dtype=np.int64)
    rng = np.random.default_rng(seed)
    held = range(len(pairs)) if len(pairs) <= INNER_TASKS else sorted(rng.choice(len(pairs), INNER_TASKS, replace=False))
    scored = _inner_taus(pairs, normalised, mask, columns, m, held)
    best = max(scored, key=lambda rt: scored[rt])  # ties: the first in RIDGES x TEMPERS order
    b, a, s2 = _fit_linear(pairs, m, best[0])
    return ProbeFit(estimator, b, s2 * best[1], _prior_var(normalised, mask, columns), best[0], best[1], len(pairs),
                    int(sum(r.size for _, r, _, _ in pairs)), a, _top_spread(normalised, mask, columns))


def fit_probe_mapping(history: History, normalised: np.ndarray, table: ProbeTable, *,
                      task_ids: Sequence[str] | None = None, estimators: Sequence[str] | None = None,
                      seed: int = 0) -> ProbeMapping:
    """The probe mapping of every estimator of ``table`` (or ``estimators``), fitted on the
    training tasks ``task_ids`` (default: every task of ``history`` the table scores). Of a whole
    table, an estimator that cannot be mapped (too few tasks with spread scores) is left out with a
    warning; a named one that cannot is an error."""
    task_ids = list(history.task_ids if task_ids is None else task_ids)
    names = sorted({e for t in task_ids for e in table.get(t, {})}) if estimators is None else list(estimators)
    if not names:
        raise InputError("probes: the probe table scores none of the history's tasks; its task column must name "
                         "tasks of the history")
    if estimators is not None:
        return ProbeMapping(history.model_ids, {e: fit_estimator(history, normalised, table, e, task_ids, seed=seed)
                                                for e in names})
    fits, failed = {}, {}  # every estimator of the table: one that cannot be mapped is named, not fatal
    for e in names:
        try:
            fits[e] = fit_estimator(history, normalised, table, e, task_ids, seed=seed)
        except InputError as exc:
            failed[e] = exc
    if not fits:
        raise next(iter(failed.values()))
    for e, exc in failed.items():
        import warnings

        warnings.warn(f"estimator {e!r} left unmapped: {str(exc).removeprefix('probes: ')}", stacklevel=2)
    return ProbeMapping(history.model_ids, fits)


def check_probes(probes: Any, mapping: ProbeMapping | None) -> dict[str, dict[str, float]]:
    """``probes`` checked against ``mapping``: a {model: {estimator: finite score}} mapping of the
    zoo's models and the mapping's estimators, >= :data:`MIN_MODELS` models per estimator."""
    import math

    if not isinstance(probes, Mapping):
        raise InputError(f"probes must map model id -> {{estimator: score}}, got {type(probes).__name__}")
    if mapping is None:
        raise InputError("probes: this zoo has no probe mapping; fit one with `fennec fit --probes P.csv` "
                         "(model,task,estimator,score on the history's tasks) or fennec_core.scoring.probes.fit_probes(engine, table)")
    known_models = set(mapping.model_ids)
    out: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for model, scores in probes.items():
        if model not in known_models:
            raise InputError(f"probes: model {model!r} is not a model of the zoo")
        if not isinstance(scores, Mapping):
            raise InputError(f"probes[{model!r}] must map estimator -> score, got {type(scores).__name__}")
        for est, value in scores.items():
            if est not in mapping.fits:
                raise InputError(f"probes: estimator {est!r} has no mapping in this zoo (it has: "
                                 f"{', '.join(sorted(mapping.fits)) or 'none'}); fit it with `fennec fit --probes`")
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) \
                    or not math.isfinite(float(value)):
                raise InputError(f"probes[{model!r}][{est!r}] must be a finite number, got {value!r}")
            out.setdefault(model, {})[est] = float(value)
            counts[est] = counts.get(est, 0) + 1
    few = {e: c for e, c in counts.items() if c < MIN_MODELS}
    if few:
        raise InputError(f"probes: estimator(s) {', '.join(f'{e} ({c})' for e, c in few.items())} score fewer than "
                         f"{MIN_MODELS} models; probe at least {MIN_MODELS} models per estimator")
    return out


def with_probe_mapping(zoo: FittedZoo, table: Any = None, *, estimators: Sequence[str] | None = None,
                       seed: int = 0) -> FittedZoo:
    """``zoo`` with the probe mapping of ``table`` (``{task: {estimator: {model: score}}}``, as
    :func:`fennec_core.io.probe_tables.read_probe_table` reads a CSV ``model,task,estimator,score``
    on the history's tasks, or None: the zoo's probe tasks,
    cards with ``probe=1`` such as ``mnli_lp``) fitted on its history, only ``estimators`` if
    given, beside any estimators it mapped before."""
    if table is None:
        table = probes_from_history(zoo.history, zoo.tasks)
    normalised = zoo.normalizer.transform(zoo.history.scores)
    mapping = fit_probe_mapping(zoo.history, normalised, table, estimators=estimators, seed=seed)
    if zoo.probe_mapping is not None:
        mapping = zoo.probe_mapping.aligned(zoo.model_ids).merged(mapping)
    return zoo.with_changes(probe_mapping=mapping)


def fit_probes(engine: Any, table: Any = None, *, estimators: Sequence[str] | None = None) -> Any:
    """Learn how probe scores map onto a fitted engine's zoo (:func:`with_probe_mapping`, seeded by
    the engine) and keep the mapping in ``engine.zoo_``, so ``engine.rank(probes=...)`` uses it and
    ``engine.save`` stores it. Returns the engine."""
    engine.zoo_ = with_probe_mapping(engine.check_is_fitted(), table, estimators=estimators, seed=engine.seed)
    return engine


def prepare_probes(zoo: FittedZoo, probes: Sequence[Any], n_tasks: int,
                   ) -> tuple[FittedZoo, list[dict[str, dict[str, float]] | None]]:
    """(zoo holding the mapping to use, checked probes per task) for a ranking: an estimator named
    in them that is a probe task of the zoo (card ``probe=1``, e.g. ``mnli_lp``) and not mapped yet
    is mapped from the history (seed 0; about 4 s on hf-nlp, then kept with the zoo record's
    derived data); the others must be mapped already (:func:`check_probes`)."""
    if len(probes) != n_tasks:
        raise InputError(f"probes must have one entry per task ({n_tasks}), got {len(probes)}")
    mapped = set(zoo.probe_mapping.fits) if zoo.probe_mapping is not None else set()
    wanted = {e for p in probes if isinstance(p, Mapping) for s in p.values() if isinstance(s, Mapping) for e in s}
    own = tuple(sorted(e for e in wanted - mapped if isinstance(e, str) and e in zoo.tasks
                       and zoo.history.has_task(e) and bool(zoo.tasks[e].meta.get("probe", 0.0))))
    used = zoo
    if own:
        key = ("probe-task-mapping", own)
        if key not in zoo._derived:
            zoo._derived[key] = with_probe_mapping(zoo, None, estimators=own).probe_mapping
        used = zoo.with_changes(probe_mapping=zoo._derived[key])
    mapping = used.probe_mapping.aligned(zoo.model_ids) if used.probe_mapping is not None else None
    return used, [check_probes(p, mapping) if p else None for p in probes]
