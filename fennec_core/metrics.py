"""Ranking metrics, with the field's conventions.

- ``pearson``: Pearson correlation x 100 between predicted scores and truth (the paper's).
- ``weighted_tau``: ``scipy.stats.weightedtau(truth, scores, rank=None)`` -- hyperbolic
  weights by the *true* rank (Model Spider's convention).
- ``rel_at_1``: truth of the top-ranked model / best truth. Where the best truth is not
  positive (negated errors) it is range-normalised instead: ``(top - worst) / (best - worst)``.
- ``regret_at_k``: ``(best - best among the top k) / (best - worst)``: 0 when the best
  model is in the top k, 1 when the top k hold only the worst.
"""

from __future__ import annotations

import math

import numpy as np


def _clean(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(truth, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if truth.shape != scores.shape or truth.ndim != 1:
        raise ValueError(f"truth and scores must be 1-D of equal length, got {truth.shape} and {scores.shape}")
    ok = np.isfinite(truth) & np.isfinite(scores)
    return truth[ok], scores[ok]


def pearson(truth: np.ndarray, scores: np.ndarray) -> float:
    """Pearson correlation x 100 (NaN when either side is constant or fewer than 2 models)."""
    t, s = _clean(truth, scores)
    if t.size < 2 or np.ptp(t) == 0 or np.ptp(s) == 0:
        return math.nan
    return float(100.0 * np.corrcoef(t, s)[0, 1])


def weighted_tau(truth: np.ndarray, scores: np.ndarray) -> float:
    """Weighted Kendall tau, weights by true rank (``weightedtau(truth, scores, rank=None)``)."""
    from scipy.stats import weightedtau

    t, s = _clean(truth, scores)
    if t.size < 2:
        return math.nan
    # scipy's axis / NaN-policy wrapper costs more than the tau itself on small inputs (0.2 ms a
    # call; the warm-start choice calls this ~700 times per fit). The inputs are already 1-D and
    # finite, so the function it wraps gives the same number.
    return float(getattr(weightedtau, "__wrapped__", weightedtau)(t, s, rank=None)[0])


def rel_at_1(truth: np.ndarray, scores: np.ndarray) -> float:
    """Truth of the top-ranked model relative to the best truth (see module doc)."""
    t, s = _clean(truth, scores)
    if t.size == 0:
        return math.nan
    top = t[np.argmax(s)]
    best, worst = t.max(), t.min()
    if best > 0:
        return float(top / best)
    return float((top - worst) / (best - worst)) if best > worst else 1.0


def regret_at_k(truth: np.ndarray, scores: np.ndarray, k: int = 3) -> float:
    """Range-normalised regret of the best model among the top ``k`` (0 is perfect)."""
    t, s = _clean(truth, scores)
    if t.size == 0:
        return math.nan
    order = np.argsort(-s, kind="stable")[:k]
    best, worst = t.max(), t.min()
    if best == worst:
        return 0.0
    return float((best - t[order].max()) / (best - worst))


ALL = {
    "pearson": pearson,
    "weighted_tau": weighted_tau,
    "rel@1": rel_at_1,
    "regret@3": lambda t, s: regret_at_k(t, s, 3),
}


def all_metrics(truth: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Every metric above for one task."""
    return {name: fn(truth, scores) for name, fn in ALL.items()}


#: How text output names a metric: its unit where it is not 0-1 (JSON keeps the plain names).
LABELS = {"pearson": "pearson x100"}


def metric_label(name: str) -> str:
    """A metric's name for a table, with its unit: ``pearson x100`` beside the 0-1 metrics."""
    return LABELS.get(name, name)


def format_metric(value: float, name: str) -> str:
    """A metric's value for a table: Pearson x100 to one decimal, the 0-1 metrics to three."""
    if math.isnan(value):
        return "nan"
    return f"{value:.1f}" if name == "pearson" else f"{value:.3f}"
