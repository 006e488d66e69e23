"""Acquisition functions for choosing the next model to fine-tune, and the probability of being best.

Each candidate model has a normal predictive distribution ``N(mean, sd^2)`` of its score on the
task, in the task's units: ``mean`` is the ranking's ``predicted`` part and ``sd`` the one its
90% interval implies, ``(high - low) / (2 z90)`` (:func:`sd_from_interval`).

Strategies (:data:`STRATEGIES`), larger is better for each:

``ei``        expected improvement over the best known score ``f*``:
              ``E[max(X - f*, 0)] = (mean - f*) Phi(z) + sd phi(z)``, ``z = (mean - f*) / sd``
              (``max(mean - f*, 0)`` where ``sd = 0``). With nothing known yet there is no
              ``f*``: the improvement over no result is the score itself, so ``ei`` is the mean.
``ucb``       upper confidence bound, ``mean + beta sd`` (``beta`` = z90 by default: the
              interval's optimistic end).
``thompson``  one seeded draw from each model's predictive distribution.
``greedy``    the predicted mean.

:func:`probability_of_best` estimates, by seeded Monte Carlo over independent normals, the
chance that each model is the best one; models already measured enter with ``sd = 0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fennec_core.errors import InputError
from fennec_core.scoring.ranking import Z90

#: The strategies of :func:`acquisition`, the default first.
STRATEGIES = ("ei", "ucb", "thompson", "greedy")

def check_strategy(strategy: object) -> str:
    """``strategy`` if it names one of :data:`STRATEGIES`, else one InputError listing them."""
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r}; available: {', '.join(STRATEGIES)}")
    return strategy


def sd_from_interval(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The standard deviation a two-sided 90% normal interval ``[low, high]`` implies (>= 0)."""
    return np.maximum((np.asarray(high, float) - np.asarray(low, float)) / (2.0 * Z90), 0.0)


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """The standard normal cumulative distribution function, elementwise."""
    z = np.asarray(z, dtype=np.float64)
    return 0.5 * (1.0 + np.vectorize(math.erf, otypes=[np.float64])(z / math.sqrt(2.0))) if z.size else z


def normal_pdf(z: np.ndarray) -> np.ndarray:
    """The standard normal density, elementwise."""
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def expected_improvement(mean: np.ndarray, sd: np.ndarray, best: float | None) -> np.ndarray:
    """``E[max(X - best, 0)]`` for ``X ~ N(mean, sd^2)``, elementwise; ``best=None``: the mean."""
    mean, sd = np.asarray(mean, np.float64), np.asarray(sd, np.float64)
    if best is None:
        return mean.copy()
    gap = mean - float(best)
    safe = np.where(sd > 0, sd, 1.0)
    z = gap / safe
    ei = gap * normal_cdf(z) + safe * normal_pdf(z)
    return np.where(sd > 0, np.maximum(ei, 0.0), np.maximum(gap, 0.0))


def upper_confidence_bound(mean: np.ndarray, sd: np.ndarray, beta: float = Z90) -> np.ndarray:
    """``mean + beta sd``, elementwise."""
    return np.asarray(mean, np.float64) + float(beta) * np.asarray(sd, np.float64)


def thompson_draw(mean: np.ndarray, sd: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw from each ``N(mean, sd^2)`` with ``rng``."""
    mean, sd = np.asarray(mean, np.float64), np.asarray(sd, np.float64)
    return mean + sd * rng.standard_normal(mean.shape)


def acquisition(strategy: str, mean: np.ndarray, sd: np.ndarray, *, best: float | None = None,
                rng: np.random.Generator | None = None) -> np.ndarray:
    """The acquisition values of ``strategy`` (see the module doc) for each candidate."""
    strategy = check_strategy(strategy)
    if strategy == "ei":
        return expected_improvement(mean, sd, best)
    if strategy == "ucb":
        return upper_confidence_bound(mean, sd)
    if strategy == "thompson":
        return thompson_draw(mean, sd, rng if rng is not None else np.random.default_rng(0))
    return np.asarray(mean, np.float64).copy()


def probability_of_best(mean: Sequence[float] | np.ndarray, sd: Sequence[float] | np.ndarray, *,
                        draws: int = 4000, seed: int | Sequence[int] = 0) -> np.ndarray:
    """Monte Carlo probability that each entry is the largest of independent ``N(mean, sd^2)``
    (``draws`` seeded samples; entries with ``sd = 0`` are fixed values). Sums to 1."""
    mean, sd = np.asarray(mean, np.float64), np.asarray(sd, np.float64)
    if mean.ndim != 1 or mean.shape != sd.shape or mean.size == 0:
        raise InputError("probability_of_best needs two 1-D arrays of the same, non-zero length")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise InputError(f"draws must be a whole number >= 1, got {draws!r}")
    rng = np.random.default_rng(seed)
    counts = np.zeros(mean.size)
    for start in range(0, draws, 1000):  # bounded memory: 1000 x n samples at a time
        n = min(1000, draws - start)
        sample = mean + sd * rng.standard_normal((n, mean.size))
        counts += np.bincount(np.argmax(sample, axis=1), minlength=mean.size)
    return counts / draws
