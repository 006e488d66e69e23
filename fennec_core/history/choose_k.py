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

DEFAULT_CANDIDATES = (1, 2, 3, 4, 5, 6, 8)


def cell_folds(mask: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Split the observed cells into ``folds`` boolean masks, never emptying a row or column."""
    rng = np.random.default_rng(seed)
    rows, cols = np.nonzero(mask)
    assign = rng.integers(0, folds, size=rows.size)
    out = []
    for f in range(folds):
        hold = np.zeros_like(mask)
        sel = assign == f
        hold[rows[sel], cols[sel]] = True
        train = mask & ~hold
        # keep at least one training cell in every row and column that has any
        lost_r = mask.any(1) & ~train.any(1)
        lost_c = mask.any(0) & ~train.any(0)
        for i in np.flatnonzero(lost_r):
            j = np.flatnonzero(hold[i])[0]
            hold[i, j] = False
        for j in np.flatnonzero(lost_c):
            i = np.flatnonzero(hold[:, j])[0]
            hold[i, j] = False
        out.append(hold)
    return out


def select_k(
    make: Callable[[int], Any],
    P: np.ndarray,
    mask: np.ndarray,
    *,
    candidates: Sequence[int] = DEFAULT_CANDIDATES,
    folds: int = 3,
    seed: int = 0,
) -> tuple[int, dict[int, float]]:
    """Return (best k, {k: mean held-out RMSE}) for factorizers built by ``make(k)``."""
    if mask.sum() < 2 * folds:
        raise InputError(f"k='auto' needs at least {2 * folds} observed cells; give k explicitly")
    m, n = P.shape
    cands = [k for k in candidates if k <= max(1, min(m, n))] or [1]
    splits = cell_folds(mask, folds, seed)
    scores: dict[int, float] = {}
    for k in cands:
        errs = []
        for hold in splits:
            if not hold.any():
                continue
            train = mask & ~hold
            f = make(k).fit(np.where(train, P, 0.0), train)
            pred = f.U @ f.V.T
            errs.append(float(np.sqrt(np.mean((pred[hold] - P[hold]) ** 2))))
        scores[k] = float(np.mean(errs)) if errs else float("inf")
    best = min(cands, key=lambda k: (round(scores[k], 12), k))
    return best, scores
