"""Choosing a factorizer's latent size ``k`` by cross-validation on held-out cells.

``k="auto"`` in a factorizer config is resolved here, for any factorizer whose factory takes
``k``: the observed cells are split into ``folds`` seeded folds; for each candidate k the
factorizer is fit on the other folds and scored by the RMSE of ``U V^T`` on the held-out
fold; the k with the lowest mean RMSE wins (ties: the smaller k).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fennec_core.errors import InputError
from fennec_core.history.factorize import factorize_cells
from fennec_core.table import History

DEFAULT_CANDIDATES = (1, 2, 3, 4, 5, 6, 8)


def cell_folds(history: History, folds: int, seed: int) -> list[np.ndarray]:
    """Split the observed cells into ``folds`` seeded boolean selections of ``history``'s cells
    (held out in that fold), never emptying a row or column that has cells."""
    rng = np.random.default_rng(seed)
    rows, cols = history.rows, history.cols
    m, n = history.shape
    assign = rng.integers(0, folds, size=rows.size)
    out = []
    for f in range(folds):
        hold = assign == f
        train_r = np.bincount(rows[~hold], minlength=m) > 0
        train_c = np.bincount(cols[~hold], minlength=n) > 0
        lost_r = (history.model_counts() > 0) & ~train_r
        lost_c = (history.task_counts() > 0) & ~train_c
        # keep one training cell in every such row (its first held cell), then every column
        for lost, axis in ((lost_r, rows), (lost_c, cols)):  # cells are row-major: first = smallest index
            at = np.flatnonzero(hold & lost[axis])
            _, first = np.unique(axis[at], return_index=True)
            hold[at[first]] = False
        out.append(hold)
    return out


def select_k(
    make: Callable[[int], Any],
    history: History,
    z: np.ndarray,
    *,
    candidates: Sequence[int] = DEFAULT_CANDIDATES,
    folds: int = 3,
    seed: int = 0,
) -> tuple[int, dict[int, float]]:
    """Return (best k, {k: mean held-out RMSE}) for factorizers built by ``make(k)``, on the
    history's cells with normalised values ``z``."""
    if history.nnz < 2 * folds:
        raise InputError(f"k='auto' needs at least {2 * folds} observed cells; give k explicitly")
    m, n = history.shape
    cands = [k for k in candidates if k <= max(1, min(m, n))] or [1]
    splits = cell_folds(history, folds, seed)
    rows, cols = history.rows, history.cols
    scores: dict[int, float] = {}
    for k in cands:
        errs = []
        for hold in splits:
            if not hold.any():
                continue
            f = factorize_cells(make(k), rows[~hold], cols[~hold], z[~hold], history.shape)
            pred = np.einsum("ij,ij->i", f.U[rows[hold]], f.V[cols[hold]])
            errs.append(float(np.sqrt(np.mean((pred - z[hold]) ** 2))))
        scores[k] = float(np.mean(errs)) if errs else float("inf")
    best = min(cands, key=lambda k: (round(scores[k], 12), k))
    return best, scores
