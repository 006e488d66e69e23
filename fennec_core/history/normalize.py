"""Per-task score normalisation: tasks live on different scales (accuracy in [0,1], in %,
negated errors), so each task's column is mapped to a common scale before factorizing.

Options (``method``):

``minmax`` (the engine's choice for ``nmf``)
    ``(x - min) / (max - min)`` per task: scores in [0, 1], non-negative as NMF needs.
``zscore`` (the engine's choice for ``pmf`` and other factorizers)
    ``(x - mean) / std`` per task (population std): the static baseline's convention.
``zscore-clip``
    ``max((x - mean) / std, 0)``: z-scores with everything below a task's mean floored at its
    mean. Fine-tuning runs sometimes collapse (on the model-recycling history 1-4% of the cells
    of a task sit below z = -3); a plain mean or a least-squares fit is dominated by those
    collapses, while a ranking is decided at the top. With the floor, a model is scored by how
    far above average it is where it is good. On that history the cold ranking rises from
    weighted tau 0.44 to 0.63 (docs/results.md); on tables without such collapses it changes
    little, so it is an option, not the default.
``none``
    Scores used as given (all tasks must already share one scale).

A task with one observed score, or with all scores equal, gets scale 1. The fitted offsets
and scales are kept so a normalised prediction can be shown in the task's own units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import numpy as np

from fennec_core.checks import NORMALIZATIONS
from fennec_core.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.table import History

METHODS = NORMALIZATIONS
#: The floor of ``zscore-clip`` in z units (a task's mean).
CLIP_FLOOR = 0.0


@attrs.frozen(eq=False)
class TaskNormalizer:
    """Offsets and scales per task, fitted on observed cells: ``z = (x - offset) / scale``."""

    method: str
    offset: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, scores: np.ndarray, mask: np.ndarray, method: str = "minmax") -> TaskNormalizer:
        """Fit one offset and scale per column of a dense ``scores`` matrix from its observed cells."""
        return cls._fit([scores[mask[:, j], j] for j in range(scores.shape[1])], method)

    @classmethod
    def fit_history(cls, history: History, method: str = "minmax") -> TaskNormalizer:
        """Fit one offset and scale per task of ``history`` from its observed cells (sparse: the
        same numbers as :meth:`fit` on its dense view, without making one)."""
        return cls._fit([history.column_cells(j)[1] for j in range(history.shape[1])], method)

    @classmethod
    def _fit(cls, columns: Sequence[np.ndarray], method: str) -> TaskNormalizer:
        if method not in METHODS:
            raise InputError(f"unknown normalisation {method!r}; choose one of {', '.join(METHODS)}")
        n = len(columns)
        offset, scale = np.zeros(n), np.ones(n)
        for j, col in enumerate(columns):
            if col.size == 0 or method == "none":
                continue
            if method == "minmax":
                lo, hi = col.min(), col.max()
            else:
                lo, hi = col.mean(), col.mean() + col.std()
            offset[j] = lo
            scale[j] = hi - lo if hi - lo > 1e-12 else 1.0
        return cls(method, offset, scale)

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Normalise a (m, n) matrix column by column (NaN stays NaN)."""
        z = (scores - self.offset) / self.scale
        if self.method == "zscore-clip":
            return np.where(np.isnan(z), z, np.maximum(z, CLIP_FLOOR))
        return z

    def transform_cells(self, cols: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Normalise observed cells given as their columns and raw values (the sparse
        :meth:`transform`: the same numbers cell for cell)."""
        z = (values - self.offset[cols]) / self.scale[cols]
        if self.method == "zscore-clip":
            return np.maximum(z, CLIP_FLOOR)
        return z

    def column(self, history: History, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(model rows, normalised scores) of the observed cells of ``history``'s task column ``j``."""
        rows, values = history.column_cells(j)
        return rows, self.transform_cells(np.full(rows.size, j), values)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Map normalised values back to each task's own units (for ``zscore-clip``, a value at
        the floor maps to the task's mean: the floor cannot be undone)."""
        return z * self.scale + self.offset

