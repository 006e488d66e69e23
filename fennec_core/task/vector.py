"""A task's vector in the transfer space: from known scores (warm start), a proxy vector,
both, its fitted vector when it is a task of the zoo, or none of these (*cold*: the historical
tasks' prior mean).

Warm start folds a few known raw scores of the task into its vector. Tasks differ in units
(on the 105-model table the min-max ranges span 0.07 to 0.52), so a new task's offset and
scale are inferred from the known scores themselves (:func:`infer_units`); a task of the zoo
keeps its own. With a posterior factorizer (``pmf``) the fold-in is Bayesian and gives a
covariance; otherwise the factorizer's ``fold_in`` is used, shrunk toward the prior vector
when it supports that (:class:`fennec_core.plugin.contracts.PriorFoldIn`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from fennec_core.errors import InputError
from fennec_core.plugin.contracts import PosteriorFactorizer, PriorFoldIn, supports

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.records import TaskCard
    from fennec_core.zoo import FittedZoo

#: Candidate shrinkage strengths for warm start when the factorizer has no posterior.
WARM_STRENGTHS = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 1e8)
#: ... and when it has one (tempering of the known scores' noise, >= 1).
POSTERIOR_STRENGTHS = (1.0, 3.0, 10.0, 30.0, 100.0, 1e8)


@attrs.frozen(eq=False)
class TaskVector:
    """A new task's vector: mean (k,), covariance (k, k) or None, where it came from, notes."""

    mean: np.ndarray
    cov: np.ndarray | None
    source: str
    notes: tuple[str, ...] = ()
    #: the task's raw units inferred from its known scores (:class:`Units`); None when the task
    #: is the zoo's own (its units are known) or nothing is known (see ``scoring.ranking``)
    units: Units | None = None


def task_vector_prior(zoo: FittedZoo, factorizer: Any) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian prior (mean, cov) over a new task's vector, from the historical tasks."""
    if supports(factorizer, PosteriorFactorizer):
        return factorizer.task_prior(zoo.factors)
    V = zoo.factors.V
    cov = np.cov(V.T, bias=True).reshape(V.shape[1], V.shape[1]) if V.shape[0] > 1 else np.zeros((V.shape[1],) * 2)
    return V.mean(axis=0), cov + 1e-6 * np.eye(V.shape[1])


@attrs.frozen
class Units:
    """A new task's raw units inferred from its known scores: ``y = offset + scale * z``, with the
    posterior variances of the offset and of ``log scale`` (they widen the intervals)."""

    offset: float
    scale: float
    var_offset: float = 0.0
    var_log_scale: float = 0.0


def infer_units(zoo: FittedZoo, factorizer: Any, known: Mapping[str, float]) -> Units:
    """Estimate a new task's units (offset, scale, and their uncertainty) from a few known raw scores.

    Model: ``y = offset + scale * z`` with ``z`` the normalised score,
    ``z_o ~ N(U_o m, U_o C U_o' + s^2 I)`` under the task-vector prior ``N(m, C)``, ``offset``
    Gaussian and ``log scale`` normal with the historical tasks' moments. The scale is the MAP
    on a grid of the marginal likelihood times its prior; the offset its posterior mean given
    that scale. The variances are those of the grid posterior: of ``log scale`` over the grid,
    and of the offset within and across the grid's scales around the reported offset.
    """
    idx = [zoo.history.model_index(m) for m in known]
    y = np.array([float(v) for v in known.values()])
    offs, scales = zoo.normalizer.offset, zoo.normalizer.scale
    mu_ls, sd_ls = float(np.mean(np.log(scales))), max(float(np.std(np.log(scales))), 0.1)
    mu_off = float(np.mean(offs))
    sd_off = max(float(np.std(offs)), 0.05 * float(np.mean(scales)))
    mean_v, cov_v = task_vector_prior(zoo, factorizer)
    Uo = zoo.factors.U[idx]
    extras = zoo.factors.extras
    noise = float(extras["noise_var"][0]) if "noise_var" in extras else float(zoo.factors.info.get("rmse") or 0.05) ** 2
    m = Uo @ mean_v
    S = Uo @ cov_v @ Uo.T + noise * np.eye(len(idx))
    ones = np.ones(len(idx))
    grid = np.exp(np.linspace(mu_ls - 3 * sd_ls, mu_ls + 3 * sd_ls, 121))
    # every grid point at once: (grid, known, known) covariances, one batched slogdet and solve
    with np.errstate(over="ignore", invalid="ignore"):
        cov_y = (grid * grid)[:, None, None] * S + sd_off**2 * np.outer(ones, ones)
        resid = y - (mu_off + grid[:, None] * m)
        sign, logdet = np.linalg.slogdet(cov_y)
    ok = (sign > 0) & np.isfinite(logdet)
    lps, off_mean, off_var = np.full(grid.size, -np.inf), np.zeros(grid.size), np.zeros(grid.size)
    if ok.any():
        rhs = np.stack([resid[ok], np.broadcast_to(ones, resid[ok].shape)], axis=2)
        solved = np.linalg.solve(cov_y[ok], rhs)
        lp = -0.5 * (logdet[ok] + np.einsum("gi,gi->g", resid[ok], solved[:, :, 0])) \
            - 0.5 * ((np.log(grid[ok]) - mu_ls) / sd_ls) ** 2
        fine = np.isfinite(lp)
        at = np.flatnonzero(ok)[fine]
        lps[at] = lp[fine]
        off_mean[at] = mu_off + sd_off**2 * (solved[fine, :, 0] @ ones)
        off_var[at] = np.maximum(sd_off**2 - sd_off**4 * (solved[fine, :, 1] @ ones), 0.0)
    if not np.isfinite(lps).any():  # every candidate scale overflowed: scores far outside the history's range
        raise InputError(f"known scores (e.g. {y[np.argmax(np.abs(y))]!r}) are too far from the history's scores to "
                         "infer the task's units; give them in the history's units")
    best = int(np.argmax(lps))
    w = np.exp(lps - lps[best])
    w /= w.sum()
    log_a = np.log(grid)
    var_ls = float(w @ (log_a - log_a[best]) ** 2)
    var_off = float(w @ (off_var + (off_mean - off_mean[best]) ** 2))
    return Units(float(off_mean[best]), float(grid[best]), var_off, var_ls)


def _known_vector(zoo: FittedZoo, known: Mapping[str, float], offset: float, scale: float,
                  ) -> tuple[np.ndarray, np.ndarray]:
    m = len(zoo.model_ids)
    obs, mask = np.zeros(m), np.zeros(m, dtype=bool)
    for mid, score in known.items():
        i = zoo.history.model_index(mid)
        if not np.isfinite(score):
            raise InputError(f"known score of model {mid!r} is {score!r}; known scores must be finite")
        obs[i] = (float(score) - offset) / scale
        mask[i] = True
    return obs, mask


def fold_known(zoo: FittedZoo, factorizer: Any, known: Mapping[str, float], card: TaskCard | None,
               prior: np.ndarray | None, strength: float, units: Units | None = None,
               ) -> tuple[np.ndarray, np.ndarray | None, str, Units | None]:
    """Fold known raw scores of a task into its vector: (mean, covariance or None, units note,
    the units inferred for a new task or None for a task of the zoo). ``units``: those already
    inferred from the same known scores (they do not depend on ``strength``)."""
    if card is not None and zoo.history.has_task(card.id):
        units = None
        offset, scale, _ = zoo.task_units(card)
        src = "the task's own offset and scale"
    else:
        units = units or infer_units(zoo, factorizer, known)
        offset, scale = units.offset, units.scale
        src = f"offset {offset:.4g} and scale {scale:.4g} inferred from them"
    obs, mask = _known_vector(zoo, known, offset, scale)
    if supports(factorizer, PosteriorFactorizer):
        mean, cov = factorizer.fold_in_posterior(zoo.factors, obs, mask, prior_mean=prior, strength=strength)
        return mean, cov, src, units
    base = prior if prior is not None else task_vector_prior(zoo, factorizer)[0]
    if supports(factorizer, PriorFoldIn):
        v = factorizer.fold_in(zoo.factors, obs, mask, prior=base, strength=strength)
    else:
        v = factorizer.fold_in(zoo.factors, obs, mask)
    return np.asarray(v, dtype=np.float64), None, src, units


def choose_warm_strength(zoo: FittedZoo, factorizer: Any, *, seed: int, known_per_task: int = 3,
                         max_tasks: int = 200) -> float:
    """How strongly a warm-start fold-in is held to the cold (prior) task vector.

    For ``pmf`` it tempers the known scores' noise (>= 1); for ``nmf`` it is the ridge pulling
    the fold-in toward the mean task vector. Simulated on the history: each historical task
    in turn is treated as new, gets ``known_per_task`` seeded known raw scores (units inferred
    as for a real new task), is folded in with each candidate strength -- including one so
    large that the ranking stays cold -- and the strength with the best mean weighted tau on
    its other cells wins. The simulation uses the fitted factors (which saw that task), so it
    errs toward weaker shrinkage. Chosen once at fit and stored with the zoo. A history of
    more than ``max_tasks`` tasks simulates a seeded sample of that many (the choice is one
    number; 200 tasks settle it, and 10,000 would cost minutes).
    """
    from fennec_core.metrics import weighted_tau

    hist = zoo.history
    candidates = POSTERIOR_STRENGTHS if supports(factorizer, PosteriorFactorizer) else WARM_STRENGTHS
    rng = np.random.default_rng(seed)
    trials = []
    n = len(hist.task_ids)
    columns = range(n) if n <= max_tasks else np.sort(rng.choice(n, max_tasks, replace=False))
    for j in columns:
        obs, vals = hist.column_cells(int(j))
        if obs.size <= known_per_task + 1:
            continue
        for _ in range(3):
            pick = rng.choice(obs.size, known_per_task, replace=False)
            known = {hist.model_ids[obs[p]]: float(vals[p]) for p in pick}
            trials.append((known, infer_units(zoo, factorizer, known), obs, vals, pick))
    best, best_tau = candidates[-1], -np.inf
    for s in candidates:
        taus = []
        for known, units, obs, vals, pick in trials:
            mean, _, _, _ = fold_known(zoo, factorizer, known, None, None, s, units)
            rest = np.ones(obs.size, dtype=bool)
            rest[pick] = False
            taus.append(weighted_tau(vals[rest], (zoo.factors.U @ mean)[obs[rest]]))
        tau = float(np.nanmean(taus)) if taus else -np.inf
        if tau > best_tau + 1e-9:
            best, best_tau = s, tau
    return float(best)


def _check_cov(cov: Any, k: int) -> np.ndarray:
    try:
        out = np.asarray(cov, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"task_vector_cov must be a ({k}, {k}) array of numbers, got {type(cov).__name__}") from None
    if out.shape != (k, k) or not np.all(np.isfinite(out)):
        raise InputError(f"task_vector_cov must be a finite ({k}, {k}) array, got shape {out.shape}")
    return out


def resolve_task_vector(zoo: FittedZoo, factorizer: Any, card: TaskCard | None, *,
                        task_vector: np.ndarray | None = None, known: Mapping[str, float] | None = None,
                        strength: float = 1.0, task_vector_cov: np.ndarray | None = None) -> TaskVector:
    """The vector of one new task from what is known about it (see the module doc).
    ``task_vector_cov``: the given vector's covariance (a proxy mapping's error), used without
    known scores by posterior factorizers."""
    k = zoo.factors.k
    prior = None
    if task_vector is not None:
        try:
            prior = np.asarray(task_vector, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"task vector must be an array of {k} numbers, got {type(task_vector).__name__}") from None
        if prior.shape != (k,):
            raise InputError(f"task vector must have shape ({k},), got {prior.shape}")
        if not np.all(np.isfinite(prior)):
            raise InputError("task vector contains NaN or inf")
    own = zoo.history.task_index(card.id) if card is not None and zoo.history.has_task(card.id) else None
    if known:
        if prior is None and own is not None:
            prior = zoo.factors.V[own]  # a task of the zoo: folded in from its fitted vector
        with np.errstate(over="ignore", invalid="ignore"):
            mean, cov, src, units = fold_known(zoo, factorizer, known, card, prior, strength)
        if not (np.all(np.isfinite(mean)) and (cov is None or np.all(np.isfinite(cov)))):
            raise InputError("the known scores are too extreme to fold in (the task vector overflows); give them in "
                             "the history's units")
        return TaskVector(mean, cov, "known" + ("+proxy" if prior is not None else ""),
                          (f"{len(known)} known score(s) folded in (normalised with {src})",), units)
    if prior is not None:
        cov = None
        if task_vector_cov is not None and supports(factorizer, PosteriorFactorizer):
            cov = _check_cov(task_vector_cov, k)
        return TaskVector(prior, cov, "proxy")
    if own is not None:
        n_obs = int(zoo.history.task_counts()[own])
        cov = zoo.factors.extras["V_cov"][own] if supports(factorizer, PosteriorFactorizer) \
            and "V_cov" in zoo.factors.extras else None
        return TaskVector(zoo.factors.V[own], cov, "zoo task",
                          (f"a task of the zoo: its fitted vector ({n_obs} observed results, shown as observed)",))
    mean, cov = task_vector_prior(zoo, factorizer)
    return TaskVector(mean, cov if supports(factorizer, PosteriorFactorizer) else None, "cold",
                      ("nothing known about the task: transfer part uses the mean task vector",))
