"""Score mergers: combine the transfer score with the meta score.

``weighted`` is the paper's merge (arXiv 2403.06382, step 6): ``final = (1 - w) s + w m``
with ``w = 0.5``, where ``s`` is the transfer score ``U_i . v`` and ``m`` the meta score of
the linear model on meta features. Both are predictions of the same normalised score, so
they share one scale. A part that is absent (no meta features) is left out and the other
part is used alone; the engine records that in the Ranking.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fennec_core import hookimpl
from fennec_core.errors import InputError


class WeightedMerger:
    """``final = (1 - w) * transfer + w * meta`` (transfer alone when meta is missing)."""

    name = "weighted"

    def __init__(self, w: float = 0.5) -> None:
        if not 0.0 <= float(w) <= 1.0:
            raise InputError(f"weighted merger: w must lie in [0, 1], got {w}")
        self.w = float(w)

    def config(self) -> dict[str, float]:
        """The constructor arguments."""
        return {"w": self.w}

    def merge(self, parts: Mapping[str, np.ndarray]) -> np.ndarray:
        """Merge ``parts['transfer']`` and (if present) ``parts['meta']``."""
        if "transfer" not in parts and "meta" not in parts:
            raise InputError("weighted merger needs a 'transfer' or 'meta' part")
        if "meta" not in parts:
            return np.asarray(parts["transfer"], dtype=np.float64)
        if "transfer" not in parts:
            return np.asarray(parts["meta"], dtype=np.float64)
        return (1.0 - self.w) * np.asarray(parts["transfer"]) + self.w * np.asarray(parts["meta"])


@hookimpl
def fennec_register_score_mergers(register):
    """Register the paper's weighted merge as ``weighted``."""
    register("weighted", WeightedMerger)
