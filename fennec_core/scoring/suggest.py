"""Which model to fine-tune next: proposals from a ranking's predictive distributions.

:func:`propose` turns rankings of one task (each conditioned on the results known so far) into
:class:`Suggestions`. Each model's score is taken as ``N(predicted, sd^2)``, ``sd`` the ranking's
``sd_relative``: its predictive sd without the uncertainty of the task's units (offset and
scale), which every model shares and so cancels when models are compared (before it was the
sd implied by the 90% interval, which made a new task's EI explore on the shared offset); the strategy's acquisition value (:mod:`fennec_core.scoring.acquisition`)
picks the best model not yet measured. Known models are never proposed.

The incumbent of ``ei`` is the *plug-in* value of noisy-observation EI: the highest posterior
mean among the models already measured (for a known model, what the ranking conditioned on
its result predicts for it), not its raw measured score. The two differ when the fold-in does
not move the predictions all the way to the measured units; against the raw score every
candidate's improvement can be ~0 and the pick would be decided by the widest interval alone.
Likewise :func:`probability_of_best` puts the known models at their posterior mean (sd 0).

A batch (``batch > 1``) is proposed greedily with the *kriging believer* heuristic: after each
pick, its predicted mean is taken as if it had been measured (a fantasised observation, folded
in like a known score), the task is ranked again and the next model picked. Each proposal's
predicted score, interval and probability of being best come from the ranking on the real
known results only; its acquisition value from the ranking it was picked on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from fennec_core.errors import InputError
from fennec_core.records import Ranking
from fennec_core.scoring.acquisition import (
    acquisition,
    check_strategy,
    probability_of_best,
    sd_from_interval,
)

#: What each strategy's acquisition value is, for the reason line.
ACQUISITION_LABEL = {"ei": "expected improvement",
                     "ucb": "optimistic score (predicted + 1.645 sd, the task's shared units left out)",
                     "thompson": "Thompson draw",
                     "greedy": "predicted score"}


@attrs.frozen
class Proposal:
    """One model proposed for fine-tuning, in the task's units."""

    model: str
    predicted: float
    low: float
    high: float
    acquisition: float
    p_best: float
    reason: str


@attrs.frozen(eq=False)
class Suggestions:
    """The proposals for one task, best first, and how they were chosen."""

    task: str | None
    strategy: str
    proposals: tuple[Proposal, ...]
    known: dict[str, float]
    best_known: tuple[str, float] | None
    batch_method: str
    notes: tuple[str, ...] = ()

    @property
    def models(self) -> list[str]:
        """The proposed model ids, in order."""
        return [p.model for p in self.proposals]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: task, strategy, known results, the proposals with their numbers."""
        return {"task": self.task, "strategy": self.strategy, "batch_method": self.batch_method,
                "known": dict(self.known),
                "best_known": None if self.best_known is None else {"model": self.best_known[0],
                                                                    "score": self.best_known[1]},
                "proposals": [{"rank": i + 1, **{k: None if isinstance(v, float) and v != v else v  # NaN: null
                                                 for k, v in attrs.asdict(p).items()}}
                              for i, p in enumerate(self.proposals)],
                "notes": list(self.notes)}

    def format_lines(self) -> list[str]:
        """Plain text: one line per proposal, then its reason line (indented)."""
        lines = []
        for i, p in enumerate(self.proposals, 1):
            interval = "(no interval)" if p.low != p.low else f"[{p.low:.4g}, {p.high:.4g}]"
            chance = "?" if p.p_best != p.p_best else f"{p.p_best:.0%}"
            lines.append(f"{i}. {p.model}  predicted {p.predicted:.4g} {interval}  "
                         f"{self.strategy} {p.acquisition:.4g}  P(best) {chance}")
            lines.append(f"   {p.reason}")
        return lines


def _reason(strategy: str, value: float, best: tuple[str, float] | None, p_best: float, pred: float,
            low: float, high: float, believed: int = 0) -> str:
    """The proposal's reason line; ``believed``: earlier picks of the batch taken as measured
    when it was picked (its acquisition value then differs from the one it would have now)."""
    label = ACQUISITION_LABEL[strategy]
    if strategy == "ei":
        against = (f"over the best known model's predicted {best[1]:.4g} ({best[0]})" if best is not None
                   else "(nothing known yet: ranked by the predicted score)")
        head = f"{label} {value:.4g} {against}"
    else:
        head = f"highest {label} among unmeasured models ({value:.4g})"
    if believed:
        head += f", with pick{'s 1-' if believed > 1 else ' '}{believed} believed measured at {'their' if believed > 1 else 'its'} predicted score"
    if low != low:  # NaN: no interval in this mode
        return f"{head}; predicted {pred:.4g} (no interval in this mode)"
    return (f"{head}; predicted {pred:.4g} with a 90% interval [{low:.4g}, {high:.4g}]; "
            f"{p_best:.0%} chance of being the best model")


def _predictive(ranking: Ranking) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ids, mean, sd, low, high) of a ranking in the task's units (no interval: sd 0, low/high NaN)."""
    p = ranking.parts
    if "predicted" not in p:
        raise InputError("suggesting needs each model's predicted score: use a score-like merger (weighted, the "
                         "default) and a factorizer with a posterior (pmf, the default) for intervals")
    mean = np.asarray(p["predicted"], float)
    if "low" not in p:  # no posterior in this mode: the mean alone, no interval (sd 0)
        nan = np.full_like(mean, np.nan)
        return list(ranking.model_ids), mean, np.zeros_like(mean), nan, nan
    low, high = np.asarray(p["low"], float), np.asarray(p["high"], float)
    # the task's unknown units move every model together: comparisons use the sd without them
    sd = np.asarray(p["sd_relative"], float) if "sd_relative" in p else sd_from_interval(low, high)
    return list(ranking.model_ids), mean, sd, low, high


def propose(rank: Callable[[dict[str, float] | None], Ranking], known: Mapping[str, float] | None = None, *,
            strategy: str = "ei", batch: int = 1, seed: int | Sequence[int] = 0,
            candidates: Collection[str] | None = None, draws: int = 4000) -> Suggestions:
    """Propose ``batch`` models to fine-tune next (see the module doc).

    ``rank(known)``: the task's Ranking given known results (None: nothing known), with
    ``predicted``/``low``/``high`` parts. ``candidates``: the models that may be proposed
    (default all). ``seed``: Thompson draws and the probability-of-best Monte Carlo.
    """
    strategy = check_strategy(strategy)
    if isinstance(batch, bool) or not isinstance(batch, int | np.integer) or batch < 1:
        raise InputError(f"batch must be a whole number >= 1, got {batch!r}")
    known = {str(m): float(v) for m, v in (known or {}).items()}
    base = rank(dict(known) or None)
    ids, mean, sd, low, high = _predictive(base)
    pos = {m: i for i, m in enumerate(ids)}
    missing = [m for m in known if m not in pos]
    if missing:
        raise InputError(f"known model {missing[0]!r} is not in the zoo; known results must name the zoo's models")
    allowed = set(ids) if candidates is None else set(candidates) & set(ids)
    pool = [i for i, m in enumerate(ids) if m in allowed and m not in known]
    if not pool:
        raise InputError("every candidate model already has a known result: nothing left to propose")
    field = sorted(set(pool) | {pos[m] for m in known})  # P(best) among the candidates and the known models
    fm = mean[field]  # known models at their posterior mean (the plug-in value), with sd 0
    fs = np.array([0.0 if ids[i] in known else sd[i] for i in field])
    p_best = dict(zip((ids[i] for i in field), probability_of_best(fm, fs, draws=draws, seed=seed), strict=True))
    notes = list(base.info.get("notes", ()))
    if np.isnan(low).all():
        p_best = dict.fromkeys(p_best, float("nan"))
        notes.append("no 90% interval in this mode: acquisition from the predicted score alone, P(best) unknown")
    best = max(known.items(), key=lambda kv: kv[1]) if known else None
    seeds = [int(s) for s in np.atleast_1d(seed)]
    fantasy, proposals, ranking = dict(known), [], base
    for b in range(min(int(batch), len(pool))):
        if b:  # kriging believer: the previous pick's predicted mean as if measured
            ranking = rank(fantasy)
        r_ids, r_mean, r_sd, _, _ = _predictive(ranking)
        open_ = [i for i, m in enumerate(r_ids) if m in allowed and m not in fantasy]
        r_pos = {m: i for i, m in enumerate(r_ids)}
        incumbent = max(r_mean[r_pos[m]] for m in fantasy) if fantasy else None  # plug-in incumbent
        values = acquisition(strategy, r_mean[open_], r_sd[open_], best=incumbent,
                             rng=np.random.default_rng([*seeds, b]))
        first = int(np.lexsort((-r_mean[open_], -values))[0])  # ties: the higher predicted score
        j, value = open_[first], float(values[first])
        model = r_ids[j]
        i = pos[model]
        inc = max(fantasy, key=lambda m: r_mean[r_pos[m]]) if fantasy else None
        inc = None if inc is None else (inc if inc in known else f"{inc}, believed", float(r_mean[r_pos[inc]]))
        proposals.append(Proposal(model, float(mean[i]), float(low[i]), float(high[i]), value, float(p_best[model]),
                                  _reason(strategy, value, inc, float(p_best[model]), float(mean[i]), float(low[i]),
                                          float(high[i]), believed=b)))
        fantasy[model] = float(r_mean[j])
    method = "kriging believer (each pick's predicted mean folded in as if measured, then ranked again)"
    return Suggestions(base.task, strategy, tuple(proposals), known, best, method if batch > 1 else "single",
                       tuple(notes))
