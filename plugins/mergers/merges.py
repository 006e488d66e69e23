"""Score mergers: combine the transfer score with the meta score.

- ``weighted`` -- the paper's merge (arXiv 2403.06382, step 6): ``final = (1 - w) s + w m``
  with ``w = 0.5``, where ``s`` is the transfer score ``U_i . v`` and ``m`` the meta score of
  the linear model on meta features. Both predict the same normalised score, so they share
  one scale and the result is still a predicted score.
- ``rank-fusion`` -- reciprocal rank fusion (Cormack, Clarke & Buettcher, SIGIR 2009):
  ``final_i = sum_parts 1 / (c + rank_part(i))`` with ``c = 60``; scale-free, not a score.
- ``learned`` -- the weighted merge with ``w`` fitted by leave-one-task-out on the history:
  for each historical task, the transfer part is the cold prediction from the other tasks'
  vectors and the meta part comes from a meta model refit without that task; the ``w`` on a
  grid of 0..1 with the best mean weighted tau wins (ties: closest to 0.5).

A part that is absent (no meta features) is left out and the other part is used alone; the
engine records that in the Ranking. ``learned`` follows the ``FittableMerger`` and ``Stateful``
contracts (:mod:`fennec_core.plugin.contracts`): it is fitted on the zoo record, and its ``w``
is stored, so loading a zoo fits nothing.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from fennec_core import hookimpl
from fennec_core.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.zoo import FittedZoo

MERGED_PARTS = ("transfer", "meta")


def _parts(parts: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    present = {k: np.asarray(parts[k], dtype=np.float64) for k in MERGED_PARTS if k in parts}
    if not present:
        raise InputError(f"score merger needs at least one of the parts {', '.join(MERGED_PARTS)}")
    return present


class WeightedMerger:
    """``final = (1 - w) * transfer + w * meta`` (one part alone when the other is missing)."""

    name = "weighted"
    score_like = True

    def __init__(self, w: float = 0.5) -> None:
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not 0.0 <= w <= 1.0:
            raise InputError(f"weighted merger: w must lie in [0, 1] (a number), got {w!r}")
        self.w = float(w)

    @property
    def transfer_weight(self) -> float:
        """Weight of the transfer part in the final score (for intervals)."""
        return 1.0 - self.w

    def merge(self, parts: Mapping[str, np.ndarray]) -> np.ndarray:
        """Merge ``transfer`` and (if present) ``meta``."""
        p = _parts(parts)
        if len(p) == 1:
            return next(iter(p.values()))
        return (1.0 - self.w) * p["transfer"] + self.w * p["meta"]


class RankFusionMerger:
    """Reciprocal rank fusion of the parts: ``sum 1 / (c + rank)``, ranks from 1, ties by order."""

    name = "rank-fusion"
    score_like = False

    def __init__(self, c: float = 60.0) -> None:
        if isinstance(c, bool) or not isinstance(c, numbers.Real) or not 0 <= c < math.inf:
            raise InputError(f"rank-fusion merger: c must be a number >= 0, got {c!r}")
        self.c = float(c)

    def merge(self, parts: Mapping[str, np.ndarray]) -> np.ndarray:
        """Fuse the ranks that each part gives every model."""
        from scipy.stats import rankdata

        total = None
        for values in _parts(parts).values():
            ranks = rankdata(-np.nan_to_num(values, nan=-np.inf), method="average")
            fused = 1.0 / (self.c + ranks)
            total = fused if total is None else total + fused
        return total


class LearnedMerger(WeightedMerger):
    """The weighted merge with ``w`` chosen by leave-one-task-out on the zoo's history."""

    name = "learned"

    def __init__(self, grid: int = 11) -> None:
        super().__init__(0.5)
        if isinstance(grid, bool) or not isinstance(grid, numbers.Integral) or grid < 2:
            raise InputError(f"learned merger: grid must be a whole number >= 2, got {grid!r}")
        self.grid = int(grid)
        self.scores: dict[str, float] = {}

    def fit(self, zoo: FittedZoo) -> LearnedMerger:
        """Choose ``w`` by leave-one-task-out on the zoo's history and factors."""
        from fennec_core.plugin_api import weighted_tau

        hist, factors = zoo.history, zoo.factors
        if zoo.meta_model is None or len(hist.task_ids) < 3:
            self.w, self.scores = 0.0 if zoo.meta_model is None else 0.5, {}
            return self
        X = zoo.model_features(zoo.meta_model.model_features)
        parts = []
        for j, t in enumerate(hist.task_ids):
            obs, z = zoo.normalized_column(j)
            if obs.size < 3:
                continue
            transfer = factors.U @ np.delete(factors.V, j, axis=0).mean(axis=0)
            meta, _ = zoo.fit_meta(exclude_task=j).predict_for_task(X, zoo.tasks[t].features())
            parts.append((z, transfer[obs], meta[obs]))
        grid = np.linspace(0.0, 1.0, self.grid)
        self.scores = {
            f"{w:.2f}": float(np.mean([weighted_tau(y, (1 - w) * s + w * m) for y, s, m in parts])) for w in grid
        }
        best = max(self.scores.values())
        self.w = float(min((w for w in grid if self.scores[f"{w:.2f}"] >= best - 1e-12), key=lambda w: abs(w - 0.5)))
        return self

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The fitted ``w`` and the tau of every grid point (JSON; no arrays)."""
        return {}, {"w": self.w, "scores": dict(self.scores)}

    def load_state(self, arrays: Mapping[str, np.ndarray], attributes: Mapping[str, Any]) -> LearnedMerger:
        """Restore the state written by :meth:`state` (nothing is refit)."""
        self.w, self.scores = float(attributes["w"]), {str(k): float(v) for k, v in attributes["scores"].items()}
        return self


@hookimpl
def fennec_register_score_mergers(register):
    """Register ``weighted`` (the paper's), ``rank-fusion`` and ``learned``."""
    register("weighted", WeightedMerger)
    register("rank-fusion", RankFusionMerger)
    register("learned", LearnedMerger)
