"""The baseline suite: simple rules every evaluation reports beside Fennec.

A recommender is only as good as its margin over the best simple rule ("How NOT to benchmark
your SITE metric", ICLR 2026, arXiv 2510.06448: a fixed ranking by model size beats
transferability estimators on the usual zoo). Each baseline here is a small object with a
``name`` and ``scores(*, history, models, tasks, task, known, normalization) -> (m,) | None``:

``history``        the training history (the hidden task's column removed), m models;
``models``         model cards by id (may be empty);
``tasks``          the training tasks' cards by id (never the hidden one);
``task``           the hidden task's card (what a user could say about it: classes, attributes);
``known``          ``{row: raw score}`` of the hidden task's known cells (empty when cold);
``normalization``  the evaluated engine's normalisation (``card`` and ``nearest`` use it).

It returns one score per model of ``history`` (higher ranks first; NaN for a model it cannot
score), or None where it does not apply to the table (no parameter-count column for ``size``,
no known cells for ``nearest``). Every baseline is fitted on the training tasks only.

Built-in members:

``static``             each model's mean z-score over the training tasks (the classic static baseline);
``static-<norm>``      the same in each other normalisation (``static-minmax``, ``static-zscore-clip``, ...);
``card``               the mean over training tasks sharing the hidden task's categorical card values
                       (``TaskCard.attributes``: every field must share a value; fields are dropped from
                       the last while none matches), static where no training task matches;
``size``               the largest model first, from a parameter-count column of the models table;
``nearest``            warm only (K >= 2 known): the training task whose column correlates best with the
                       K known results, blended 50/50 with static (both in the engine's normalisation).

:func:`register_baseline` adds a member (a third party's rule is compared like the others);
:func:`suite_scores` computes every member that applies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs
import numpy as np

from fennec_core.errors import InputError
from fennec_core.history.normalize import METHODS as NORMALISATIONS
from fennec_core.history.normalize import TaskNormalizer
from fennec_core.records import History, ModelCard, TaskCard

#: Weight of the nearest task's column in ``nearest`` (the rest is static).
NEAREST_WEIGHT = 0.5
#: Model meta columns read as a parameter count by ``size``, in order of preference.
SIZE_COLUMNS = ("log10_params", "log10_param_count", "params", "param_count", "parameters", "n_parameters")


@runtime_checkable
class Baseline(Protocol):
    """What a baseline provides: a ``name`` and ``scores`` (see the module doc)."""

    name: str

    def scores(self, *, history: History, models: Mapping[str, ModelCard], tasks: Mapping[str, TaskCard],
               task: TaskCard, known: Mapping[int, float], normalization: str) -> np.ndarray | None:
        """One score per model of ``history`` (higher first), or None where the rule does not apply."""
        ...


def normalised_mean(history: History, method: str, columns: np.ndarray | None = None) -> np.ndarray:
    """Each model's mean normalised score (``method``) over the tasks of ``history`` (only the
    column indices ``columns`` when given): (m,), NaN for a model observed on none of them."""
    z = TaskNormalizer.fit_history(history, method).transform_cells(history.cols, history.values)
    keep = np.ones(history.cols.size, dtype=bool) if columns is None else np.isin(history.cols, columns)
    m = history.shape[0]
    sums = np.bincount(history.rows[keep], weights=z[keep], minlength=m)
    counts = np.bincount(history.rows[keep], minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


@attrs.frozen
class Static:
    """Each model's mean normalised score over the training tasks; it never looks at the task."""

    name: str
    method: str

    def scores(self, *, history: History, **_: Any) -> np.ndarray:
        """The mean normalised score of each model (``self.method``)."""
        return normalised_mean(history, self.method)


@attrs.frozen
class Card:
    """The mean over training tasks that share the hidden task's categorical card values."""

    name: str = "card"

    def scores(self, *, history: History, tasks: Mapping[str, TaskCard], task: TaskCard, normalization: str,
               **_: Any) -> np.ndarray | None:
        """Mean over the matching training tasks, static where a model has none of them; None
        when the hidden task has no attributes or no training task has any."""
        cols = matching_tasks(history, tasks, task)
        if cols is None:
            return None
        static = normalised_mean(history, normalization)
        if cols.size == 0:
            return static
        same = normalised_mean(history, normalization, cols)
        return np.where(np.isnan(same), static, same)


def matching_tasks(history: History, tasks: Mapping[str, TaskCard], task: TaskCard) -> np.ndarray | None:
    """Column indices of the training tasks sharing ``task``'s card values: every attribute field
    of ``task`` must share at least one value (``languages = deu,eng`` matches ``eng``); while
    none matches, fields are dropped from the last. Empty when even the first field matches no
    task; None when ``task`` or every training task lacks attributes (the same rule as the
    engine's anchor, :func:`fennec_core.task.anchor.matching_tasks`)."""
    from fennec_core.task.anchor import matching_tasks as match

    return match(history.task_ids, tasks, task)


def size_column(models: Mapping[str, ModelCard]) -> str | None:
    """The models' parameter-count meta column (:data:`SIZE_COLUMNS`, else the first column with
    ``param`` in its name), or None."""
    names = {k for c in models.values() for k in c.meta}
    for name in SIZE_COLUMNS:
        if name in names:
            return name
    found = sorted(n for n in names if re.search("param", n, re.IGNORECASE))
    return found[0] if found else None


@attrs.frozen
class Size:
    """The largest model first (a parameter-count column of the models table)."""

    name: str = "size"

    def scores(self, *, history: History, models: Mapping[str, ModelCard], **_: Any) -> np.ndarray | None:
        """The parameter count of each model (a model without one ranks last); None without the column."""
        column = size_column(models)
        if column is None:
            return None
        out = np.array([models[m].meta.get(column, np.nan) if m in models else np.nan for m in history.model_ids])
        if np.isnan(out).all():
            return None
        return np.where(np.isnan(out), np.nanmin(out) - 1.0, out)


@attrs.frozen
class Nearest:
    """Warm: the training task whose column best fits the known results, blended with static."""

    name: str = "nearest"
    weight: float = NEAREST_WEIGHT

    def scores(self, *, history: History, known: Mapping[int, float], normalization: str,
               **_: Any) -> np.ndarray | None:
        """``weight`` x the best-correlated training column + the rest x static (None below 2 known)."""
        j = nearest_task(history, known)
        if j is None:
            return None
        static = normalised_mean(history, normalization)
        norm = TaskNormalizer.fit_history(history, normalization)
        rows, z = norm.column(history, j)
        column = static.copy()
        column[rows] = z
        return self.weight * column + (1.0 - self.weight) * static


def nearest_task(history: History, known: Mapping[int, float]) -> int | None:
    """The training column whose z-scores (a model's static z-score where it has none) have the
    highest Pearson correlation with the known raw scores; None below 2 known cells or when the
    known scores are all equal. Ties go to the first column."""
    if len(known) < 2:
        return None
    rows = np.fromiter(known, dtype=np.int64)
    y = np.array([known[int(r)] for r in rows], dtype=np.float64)
    if np.ptp(y) == 0:
        return None
    z = TaskNormalizer.fit_history(history, "zscore")
    static = normalised_mean(history, "zscore")
    X = np.tile(static[rows][:, None], (1, history.shape[1]))  # (K, n): known rows x training tasks
    for a, r in enumerate(rows):
        cols, values = history.row_cells(int(r))
        X[a, cols] = z.transform_cells(cols, values)
    X = np.nan_to_num(X)
    yc = y - y.mean()
    Xc = X - X.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (yc @ Xc) / (np.linalg.norm(yc) * np.linalg.norm(Xc, axis=0))
    r = np.where(np.isfinite(r), r, -np.inf)
    return int(np.argmax(r)) if np.isfinite(r).any() else None


_REGISTRY: dict[str, Baseline] = {}


def register_baseline(baseline: Baseline) -> None:
    """Add ``baseline`` to the suite every evaluation reports; a name already taken is refused."""
    if not isinstance(baseline, Baseline):
        raise InputError(f"a baseline needs a name and scores(...), got {type(baseline).__name__}")
    name = baseline.name
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", name) or name in ("best", "fennec"):
        raise InputError(f"invalid baseline name {name!r}: use lower-case letters, digits, '-', '_', '.' (not "
                         "'best' or 'fennec')")
    if name in _REGISTRY:
        raise InputError(f"baseline {name!r} is registered already ({_REGISTRY[name]!r}); choose another name")
    _REGISTRY[name] = baseline


def available_baselines() -> list[str]:
    """Names of the registered baselines, in registration order (``static`` first)."""
    return list(_REGISTRY)


def get_baseline(name: str) -> Baseline:
    """The registered baseline ``name``; an unknown name is an InputError listing the others."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown baseline {name!r}; available: best, {', '.join(_REGISTRY)}") from None


def suite_scores(history: History, *, models: Mapping[str, ModelCard] | None = None,
                 tasks: Mapping[str, TaskCard] | None = None, task: TaskCard, known: Mapping[int, float] | None = None,
                 normalization: str = "zscore", warm: bool | None = None) -> dict[str, np.ndarray]:
    """Scores (m,) of every registered baseline that applies, by name. ``warm``: compute only the
    members that use known cells (True), only the others (False), or all (None): a fold's cold
    members do not change between draws of known cells."""
    out = {}
    for name, baseline in _REGISTRY.items():
        if warm is not None and uses_known(baseline) != warm:
            continue
        s = baseline.scores(history=history, models=models or {}, tasks=tasks or {}, task=task, known=known or {},
                            normalization=normalization)
        if s is not None:
            s = np.asarray(s, dtype=np.float64)
            if s.shape != (history.shape[0],):
                raise InputError(f"baseline {name!r} returned scores of shape {s.shape}, expected ({history.shape[0]},)")
            out[name] = s
    return out


def uses_known(baseline: Baseline) -> bool:
    """Whether a baseline reads the known cells (its ``uses_known`` attribute; ``nearest`` does)."""
    return bool(getattr(baseline, "uses_known", isinstance(baseline, Nearest)))


register_baseline(Static("static", "zscore"))
for _method in NORMALISATIONS:
    if _method != "zscore":
        register_baseline(Static(f"static-{_method}", _method))
register_baseline(Card())
register_baseline(Size())
register_baseline(Nearest())
