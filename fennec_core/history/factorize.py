"""Fitting a factorizer on a history's observed cells, never making it dense when it need not.

One function for every caller (the fit, ``k="auto"``'s cross-validation): a factorizer with
:class:`~fennec_core.plugin.contracts.CellFactorizer` gets the cells; any other gets a dense
matrix and mask, which only small histories allow.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fennec_core.errors import FennecError, InputError
from fennec_core.plugin.contracts import CellFactorizer, component_name, supports
from fennec_core.records import Factors
from fennec_core.table import DENSE_VIEW_MAX_CELLS, History


def factorize(factorizer: Any, history: History, z: np.ndarray) -> Factors:
    """Fit ``factorizer`` on every cell of ``history`` with normalised values ``z`` (see
    :func:`factorize_cells`)."""
    return factorize_cells(factorizer, history.rows, history.cols, z, history.shape)


def factorize_cells(factorizer: Any, rows: np.ndarray, cols: np.ndarray, z: np.ndarray,
                    shape: tuple[int, int]) -> Factors:
    """Fit ``factorizer`` on the cells ``z`` at (``rows``, ``cols``), row-major, of a ``shape``
    history: through ``fit_cells`` when it has it
    (:class:`~fennec_core.plugin.contracts.CellFactorizer`), else through ``fit`` on a dense
    matrix and mask (small histories only)."""
    if supports(factorizer, CellFactorizer):
        factors = factorizer.fit_cells(rows, cols, z, shape)
    else:
        m, n = shape
        if m * n > DENSE_VIEW_MAX_CELLS:
            raise InputError(f"factorizer {component_name(factorizer)!r} needs a dense {m} x {n} matrix (more than "
                             f"{DENSE_VIEW_MAX_CELLS:,} cells); use one with fit_cells (pmf, nmf) for a history "
                             "this large")
        Pn, mask = np.zeros(shape), np.zeros(shape, dtype=bool)
        Pn[rows, cols], mask[rows, cols] = z, True
        factors = factorizer.fit(Pn, mask)
    if not isinstance(factors, Factors):
        raise FennecError(f"factorizer {type(factorizer).__name__} returned {type(factors).__name__}, not Factors")
    return factors
