"""What the built-in factorizers share: checks of their options and of the observed cells they
are given (a third-party factorizer may use them too). Shapes: ``P``, ``mask`` (m, n); cells as
``rows``, ``cols``, ``values`` of one length."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from fennec_core.errors import InputError


def whole_option(owner: str, name: str, value: Any, minimum: int) -> int:
    """A component option (factorizers, Model Spider) that must be a whole number >= ``minimum`` (``5`` or ``5.0``), as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value != int(value) or value < minimum:
        raise InputError(f"{owner}: {name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def number_option(owner: str, name: str, value: Any, minimum: float = 0.0) -> float:
    """A component option (factorizers, Model Spider) that must be a finite number >= ``minimum``, as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not minimum <= value < math.inf:
        raise InputError(f"{owner}: {name} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def observed_cells(P: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, values) of the observed cells of a dense ``P`` under ``mask``, row-major, validated."""
    P = np.asarray(P, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if P.shape != mask.shape or P.ndim != 2:
        raise InputError(f"P and mask must be 2-D of one shape, got {P.shape} and {mask.shape}")
    rows, cols = np.nonzero(mask)
    return check_cells(rows, cols, P[rows, cols], P.shape)


def check_cells(rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
                shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, values) as int64, int64, float64 after checking them: one length, inside
    ``shape``, finite values, at least one cell."""
    # writable arrays (a copy only of read-only ones, e.g. a History's): torch wraps them without a warning
    rows, cols = np.require(rows, np.int64, "W"), np.require(cols, np.int64, "W")
    values = np.require(values, np.float64, "W")
    if len(shape) != 2 or not (rows.shape == cols.shape == values.shape) or rows.ndim != 1:
        raise InputError(f"cells need 1-D rows, cols and values of one length and a 2-D shape, got "
                         f"{rows.shape}, {cols.shape}, {values.shape} and {tuple(shape)}")
    if rows.size == 0:
        raise InputError("no observed cells to factorize")
    if rows.min() < 0 or cols.min() < 0 or rows.max() >= shape[0] or cols.max() >= shape[1]:
        raise InputError(f"cell indices must lie inside the {shape[0]} x {shape[1]} history")
    if not np.all(np.isfinite(values)):
        raise InputError("observed cells must be finite")
    return rows, cols, values
