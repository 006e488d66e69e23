"""The history of results as a sparse table: the observed cells of a model x task matrix.

Real histories are sparse (the NLP zoo holds 46k of 100k possible cells; ModelLens, 2026,
1.62M of 450M), so a :class:`History` keeps only its observed cells -- three arrays ``rows``,
``cols``, ``values`` in row-major order (model, then task), as ``np.nonzero`` of a dense mask
would list them -- plus the ids on both axes. Its memory grows with the number of observed
cells, not with models x tasks. Columns (a task's scores) and rows (a model's scores) are read
through indexes built once on first use.

The dense ``scores`` / ``mask`` views are still there for small tables (tests, plots, the
leave-one-model-out baseline); they are built on first use and refused beyond
:data:`DENSE_VIEW_MAX_CELLS` cells, so a large history can never be made dense by accident.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fennec_core.errors import InputError

#: Largest magnitude of a score Fennec accepts: beyond it normalising a task (squares, sums)
#: overflows float64. Real scores (accuracies, errors, LogME values) are nowhere near it.
MAX_ABS_SCORE = 1e150
#: Largest models x tasks for which :attr:`History.scores` / :attr:`History.mask` are built
#: (8 bytes + 1 per cell: 0.9 GB). Beyond it use the cells, :meth:`History.column` or :meth:`History.row`.
DENSE_VIEW_MAX_CELLS = 100_000_000


def ids_tuple(value: Sequence[str]) -> tuple[str, ...]:
    """Ids as a tuple of strings."""
    return tuple(str(v) for v in value)


def check_unique_ids(kind: str, values: Sequence[str]) -> None:
    """Refuse an empty or a repeated id of ``kind`` (model or task)."""
    if len(set(values)) == len(values) and all(values):
        return
    seen: set[str] = set()
    for v in values:
        if not v:
            raise InputError(f"empty {kind} id; every {kind} needs a non-empty id")
        if v in seen:
            raise InputError(f"duplicate {kind} id {v!r}; ids must be unique")
        seen.add(v)


def scatter(size: int, index: np.ndarray, values: np.ndarray, fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(a vector (size,) holding ``values`` at ``index`` and ``fill`` elsewhere, its mask): a row or
    column of cells as the dense vector that fold-ins and :meth:`History.column` give."""
    vector, mask = np.full(size, fill), np.zeros(size, dtype=bool)
    vector[index], mask[index] = values, True
    return vector, mask


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class History:
    """A model x task table of results: the observed cells, ids kept on both axes.

    Build one from (model, task, score) triples with :meth:`from_long`, from cell index
    arrays with :meth:`from_cells`, from a dense matrix and mask with ``History(model_ids,
    task_ids, scores, mask)``, or from a CSV with :func:`fennec_core.io.tables.read_history`.
    Every observed cell is finite. A History never changes; views and extensions are new ones.
    """

    __slots__ = ("model_ids", "task_ids", "rows", "cols", "values", "_model_pos", "_task_pos", "_cache")

    model_ids: tuple[str, ...]
    task_ids: tuple[str, ...]
    #: row (model index) of each observed cell, row-major order
    rows: np.ndarray
    #: column (task index) of each observed cell
    cols: np.ndarray
    #: score of each observed cell (float64, finite)
    values: np.ndarray

    def __init__(self, model_ids: Sequence[str], task_ids: Sequence[str], scores: Any, mask: Any) -> None:
        model_ids, task_ids = ids_tuple(model_ids), ids_tuple(task_ids)
        scores, mask = np.array(scores, dtype=np.float64), np.array(mask, dtype=bool)
        shape = (len(model_ids), len(task_ids))
        if scores.shape != shape or mask.shape != shape:
            check_unique_ids("model", model_ids)
            check_unique_ids("task", task_ids)
            raise InputError(f"history arrays have shapes {scores.shape} / {mask.shape}, "
                             f"expected {shape} (models x tasks)")
        rows, cols = np.nonzero(mask)
        self._set(model_ids, task_ids, rows, cols, scores[rows, cols], sort=False)

    @classmethod
    def from_cells(cls, model_ids: Sequence[str], task_ids: Sequence[str], rows: Any, cols: Any,
                   values: Any) -> History:
        """A history from its observed cells: ``rows[c]``, ``cols[c]`` index ``model_ids`` and
        ``task_ids``, ``values[c]`` is the score (any order; each cell at most once)."""
        out = cls.__new__(cls)
        rows, cols = np.asarray(rows), np.asarray(cols)
        values = np.array(values, dtype=np.float64).reshape(-1)
        if rows.shape != values.shape or cols.shape != values.shape:
            raise InputError(f"cells need rows, cols and values of one length, got {rows.shape}, {cols.shape}, "
                             f"{values.shape}")
        for name, a, size in (("rows", rows, len(model_ids)), ("cols", cols, len(task_ids))):
            if a.size and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= size):
                raise InputError(f"cell {name} must be whole numbers in [0, {size}) (one per "
                                 f"{'model' if name == 'rows' else 'task'} id)")
        out._set(ids_tuple(model_ids), ids_tuple(task_ids), rows.astype(np.int64), cols.astype(np.int64), values,
                 sort=True)
        return out

    def _set(self, model_ids: tuple[str, ...], task_ids: tuple[str, ...], rows: np.ndarray, cols: np.ndarray,
             values: np.ndarray, *, sort: bool) -> None:
        """Validate and adopt the cells (sorted row-major unless they already are)."""
        check_unique_ids("model", model_ids)
        check_unique_ids("task", task_ids)
        if not model_ids or not task_ids:
            raise InputError("history is empty: it needs at least one model and one task")
        n = len(task_ids)
        if sort:
            key = rows * n + cols
            if not np.all(key[1:] > key[:-1]):  # already row-major and unique (a store's cells): as they are
                order = np.argsort(key, kind="stable")
                rows, cols, values, key = rows[order], cols[order], values[order], key[order]
            dup = np.flatnonzero(key[1:] == key[:-1])
            if dup.size:
                i, j = int(rows[dup[0]]), int(cols[dup[0]])
                raise InputError(f"duplicate cell for model {model_ids[i]!r}, task {task_ids[j]!r}")
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            c = bad[0]
            raise InputError(f"score of model {model_ids[rows[c]]!r} on task {task_ids[cols[c]]!r} is "
                             f"{float(values[c])!r}; observed scores must be finite (drop the cell instead)")
        big = np.flatnonzero(np.abs(values) > MAX_ABS_SCORE)
        if big.size:
            c = big[0]
            raise InputError(f"score of model {model_ids[rows[c]]!r} on task {task_ids[cols[c]]!r} is "
                             f"{float(values[c])!r}; scores must lie within +-{MAX_ABS_SCORE:g} (rescale that "
                             "task's scores or drop the cell)")
        for name, value in (("model_ids", model_ids), ("task_ids", task_ids),
                            ("rows", _readonly(np.asarray(rows, dtype=np.int64))),
                            ("cols", _readonly(np.asarray(cols, dtype=np.int64))),
                            ("values", _readonly(np.asarray(values, dtype=np.float64))),
                            ("_model_pos", {m: i for i, m in enumerate(model_ids)}),
                            ("_task_pos", {t: j for j, t in enumerate(task_ids)}), ("_cache", {})):
            object.__setattr__(self, name, value)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the cells (worker processes, e.g. ``evaluate --jobs``); indexes are rebuilt on use."""
        return (type(self).from_cells, (self.model_ids, self.task_ids, self.rows, self.cols, self.values))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"History is immutable; {name!r} cannot be set")

    def __repr__(self) -> str:
        return f"History({len(self.model_ids)} models x {len(self.task_ids)} tasks, {self.nnz} observed cells)"

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_long(cls, rows: Sequence[tuple[str, str, float]]) -> History:
        """Build from (model, task, score) triples; ids keep first-seen order."""
        models: dict[str, int] = {}
        tasks: dict[str, int] = {}
        r, c, v = [], [], []
        for m, t, s in rows:
            r.append(models.setdefault(str(m), len(models)))
            c.append(tasks.setdefault(str(t), len(tasks)))
            v.append(float(s))
        return cls.from_cells(tuple(models), tuple(tasks), np.array(r, dtype=np.int64),
                              np.array(c, dtype=np.int64), np.array(v, dtype=np.float64))

    def to_long(self) -> list[tuple[str, str, float]]:
        """Observed cells as (model, task, score) triples, model-major order."""
        m, t = self.model_ids, self.task_ids
        return [(m[i], t[j], x) for i, j, x in zip(self.rows.tolist(), self.cols.tolist(), self.values.tolist(),
                                                    strict=True)]

    # -- size and ids -----------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        """(number of models, number of tasks)."""
        return len(self.model_ids), len(self.task_ids)

    @property
    def nnz(self) -> int:
        """Number of observed cells."""
        return int(self.values.size)

    def task_counts(self) -> np.ndarray:
        """Observed cells per task, shape (n,)."""
        return self._cached("task_counts", lambda: _readonly(np.bincount(self.cols, minlength=self.shape[1])))

    def model_counts(self) -> np.ndarray:
        """Observed cells per model, shape (m,)."""
        return self._cached("model_counts", lambda: _readonly(np.bincount(self.rows, minlength=self.shape[0])))

    def task_index(self, task: str) -> int:
        """Column of ``task``; unknown ids fail listing the known ones."""
        try:
            return self._task_pos[task]
        except KeyError:
            raise InputError(f"unknown task {task!r}; {_closest(task, self.task_ids, 'tasks')}") from None

    def model_index(self, model: str) -> int:
        """Row of ``model``; unknown ids fail naming a few known ones."""
        try:
            return self._model_pos[model]
        except KeyError:
            raise InputError(f"unknown model {model!r}; {_closest(model, self.model_ids, 'models')}") from None

    def has_model(self, model: str) -> bool:
        """Whether ``model`` is a row of this history."""
        return model in self._model_pos

    def has_task(self, task: str) -> bool:
        """Whether ``task`` is a column of this history."""
        return task in self._task_pos

    # -- reading ----------------------------------------------------------------------------

    def _cached(self, key: str, make: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _by_column(self) -> tuple[np.ndarray, np.ndarray]:
        """(permutation of the cells into column-major order, column start offsets (n + 1,))."""
        def make() -> tuple[np.ndarray, np.ndarray]:
            perm = np.argsort(self.cols, kind="stable")  # within a column rows stay ascending
            return _readonly(perm), _readonly(np.concatenate([[0], np.cumsum(self.task_counts())]))
        return self._cached("by_column", make)

    def _row_starts(self) -> np.ndarray:
        return self._cached("row_starts", lambda: _readonly(np.concatenate([[0], np.cumsum(self.model_counts())])))

    def column_cells(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows ascending, scores) of the observed cells of column ``j``."""
        perm, start = self._by_column()
        sel = perm[start[j]:start[j + 1]]
        return self.rows[sel], self.values[sel]

    def row_cells(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(columns ascending, scores) of the observed cells of row ``i``."""
        start = self._row_starts()
        return self.cols[start[i]:start[i + 1]], self.values[start[i]:start[i + 1]]

    def column(self, task: str) -> tuple[np.ndarray, np.ndarray]:
        """(scores, mask) of one task, each shape (m,): NaN and False where unobserved."""
        return self.column_at(self.task_index(task))

    def column_at(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, mask) of column ``j``, each shape (m,)."""
        return scatter(self.shape[0], *self.column_cells(j), fill=np.nan)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, mask) of row ``i`` (a model's scores on every task), each shape (n,)."""
        return scatter(self.shape[1], *self.row_cells(i), fill=np.nan)

    def _dense(self) -> tuple[np.ndarray, np.ndarray]:
        def make() -> tuple[np.ndarray, np.ndarray]:
            m, n = self.shape
            if m * n > DENSE_VIEW_MAX_CELLS:
                raise InputError(f"a dense view of this {m} x {n} history would hold {m * n:,} cells (more than "
                                 f"{DENSE_VIEW_MAX_CELLS:,}); read its observed cells (rows, cols, values) or "
                                 "column()/row() instead")
            scores, mask = np.full((m, n), np.nan), np.zeros((m, n), dtype=bool)
            scores[self.rows, self.cols], mask[self.rows, self.cols] = self.values, True
            return _readonly(scores), _readonly(mask)
        return self._cached("dense", make)

    @property
    def scores(self) -> np.ndarray:
        """Dense (m, n) float64 scores, NaN where unobserved (read-only; small histories only)."""
        return self._dense()[0]

    @property
    def mask(self) -> np.ndarray:
        """Dense (m, n) mask of observed cells (read-only; small histories only)."""
        return self._dense()[1]

    def to_sparse(self) -> Any:
        """The scores as a ``scipy.sparse.csr_array`` (a stored entry per observed cell, zeros included)."""
        from scipy import sparse

        return sparse.csr_array((self.values, (self.rows, self.cols)), shape=self.shape)

    # -- new histories ----------------------------------------------------------------------

    def _subset(self, keep: np.ndarray, model_ids: Sequence[str], task_ids: Sequence[str], rows: np.ndarray,
                cols: np.ndarray) -> History:
        """A history of the cells at ``keep`` (row-major order kept), reindexed to ``rows``/``cols``."""
        out = History.__new__(History)
        out._set(tuple(model_ids), tuple(task_ids), rows, cols, self.values[keep], sort=False)
        return out

    def select_models(self, rows: Sequence[int] | np.ndarray) -> History:
        """This history restricted to the models at ``rows`` (indices, or a boolean mask), every
        task kept (a leave-one-model-out fold, or the models with observations)."""
        rows = np.asarray(rows)
        idx = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64)
        if np.all(np.diff(idx) > 0):
            new = np.full(self.shape[0], -1, dtype=np.int64)
            new[idx] = np.arange(idx.size)
            keep = np.flatnonzero(new[self.rows] >= 0)
            return self._subset(keep, [self.model_ids[i] for i in idx], self.task_ids, new[self.rows[keep]],
                                self.cols[keep])
        parts = [np.arange(a, b) for a, b in zip(self._row_starts()[idx], self._row_starts()[idx + 1], strict=True)]
        keep = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        new_rows = np.repeat(np.arange(idx.size), self.model_counts()[idx])
        return self._subset(keep, [self.model_ids[i] for i in idx], self.task_ids, new_rows, self.cols[keep])

    def select_tasks(self, cols: Sequence[int] | np.ndarray) -> History:
        """This history restricted to the tasks at ``cols`` (ascending indices, or a boolean mask)."""
        cols = np.asarray(cols)
        idx = np.flatnonzero(cols) if cols.dtype == bool else cols.astype(np.int64)
        if idx.size and np.any(np.diff(idx) <= 0):
            raise InputError("select_tasks needs ascending task indices")
        new = np.full(self.shape[1], -1, dtype=np.int64)
        new[idx] = np.arange(idx.size)
        keep = np.flatnonzero(new[self.cols] >= 0)
        return self._subset(keep, self.model_ids, [self.task_ids[j] for j in idx], self.rows[keep],
                            new[self.cols[keep]])

    def without_task(self, task: str) -> History:
        """This history with one task's column removed (the leave-one-task-out view)."""
        j = self.task_index(task)
        return self.select_tasks(np.arange(self.shape[1]) != j)

    def extended(self, add: History) -> tuple[History, int]:
        """This history plus the cells of ``add`` (new models and tasks appended).

        Returns (the new history, how many of ``add``'s cells change existing (model, task)
        pairs: a cell equal to the one already there is no change; a changed one takes
        ``add``'s score). Costs O(cells of both); this history itself never changes.
        """
        new_models = [m for m in add.model_ids if m not in self._model_pos]
        new_tasks = [t for t in add.task_ids if t not in self._task_pos]
        m0, n0 = self.shape
        pos_m = {**self._model_pos, **{m: m0 + i for i, m in enumerate(new_models)}}
        pos_t = {**self._task_pos, **{t: n0 + j for j, t in enumerate(new_tasks)}}
        rmap = np.array([pos_m[m] for m in add.model_ids], dtype=np.int64)
        cmap = np.array([pos_t[t] for t in add.task_ids], dtype=np.int64)
        ri, cj, vals = rmap[add.rows], cmap[add.cols], add.values
        n1 = n0 + len(new_tasks)
        old_key, new_key = self.rows * n1 + self.cols, ri * n1 + cj  # row-major keys in the wider table
        at = np.searchsorted(old_key, new_key)
        hit = at < old_key.size
        hit[hit] = old_key[at[hit]] == new_key[hit]
        same = hit.copy()
        same[hit] = self.values[at[hit]] == vals[hit]
        overlap = int((hit & ~same).sum())
        keep_old = np.ones(self.nnz, dtype=bool)
        keep_old[at[hit & ~same]] = False  # a changed cell takes the new score
        fresh = ~same
        rows = np.concatenate([self.rows[keep_old], ri[fresh]])
        cols = np.concatenate([self.cols[keep_old], cj[fresh]])
        values = np.concatenate([self.values[keep_old], vals[fresh]])
        out = History.__new__(History)
        out._set((*self.model_ids, *new_models), (*self.task_ids, *new_tasks), rows, cols, values, sort=True)
        return out, overlap


def _closest(name: str, ids: Sequence[str], what: str) -> str:
    """``closest: a, b`` (the ids most like a mistyped ``name``), or a few of ``ids`` when none is close."""
    import difflib

    close = difflib.get_close_matches(str(name), list(ids), n=5, cutoff=0.6)
    if close:
        return f"closest: {', '.join(close)}"
    return f"{what} include: {', '.join(ids[:8])}" + (" ..." if len(ids) > 8 else "")
