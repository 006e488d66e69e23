"""Immutable, validated records passed between Fennec's parts.

All are ``attrs`` frozen classes checked on construction, so a bad value fails where it is
made, not three calls later. Records holding arrays compare by identity (``eq=False``);
use their ``to_json``/array accessors to compare contents.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from fennec_core.errors import InputError

#: Largest magnitude of a score Fennec accepts: beyond it normalising a task (squares, sums)
#: overflows float64. Real scores (accuracies, errors, LogME values) are nowhere near it.
MAX_ABS_SCORE = 1e150


def _ids(value: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def _unique_ids(kind: str):
    def check(_inst: Any, _attr: Any, value: tuple[str, ...]) -> None:
        seen: set[str] = set()
        for v in value:
            if not v:
                raise InputError(f"empty {kind} id; every {kind} needs a non-empty id")
            if v in seen:
                raise InputError(f"duplicate {kind} id {v!r}; ids must be unique")
            seen.add(v)

    return check


def _finite_meta(_inst: Any, attr: attrs.Attribute, value: Mapping[str, float]) -> None:
    for k, v in value.items():
        if not isinstance(v, int | float) or not math.isfinite(float(v)):
            raise InputError(f"{attr.name}[{k!r}] = {v!r} is not a finite number")


def _meta_dict(value: Mapping[str, Any] | None) -> dict[str, float]:
    if value is not None and not isinstance(value, Mapping):
        raise InputError(f"meta must be a dict of numeric features, got {type(value).__name__}")
    out = {}
    for k, v in (value or {}).items():
        if not isinstance(v, numbers.Real):
            raise InputError(f"meta[{k!r}] = {v!r} is not a number")
        out[str(k)] = float(v)
    return out


@attrs.frozen
class ModelCard:
    """A candidate pre-trained model: its id, architecture reference and numeric meta features.

    ``architecture`` is a ``scheme:name`` string (``pytorchcv:resnet50``, ``timm:vit_base``)
    or ``None`` when unknown. ``meta`` holds numeric features (parameter count, depth, ...).
    """

    id: str = attrs.field()
    architecture: str | None = attrs.field(default=None)
    meta: dict[str, float] = attrs.field(factory=dict, converter=_meta_dict, validator=_finite_meta)

    @id.validator
    def _check_id(self, _attr: Any, value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise InputError(f"a ModelCard id must be a non-empty string, got {value!r}")

    @architecture.validator
    def _check_architecture(self, _attr: Any, value: Any) -> None:
        if value is not None and not isinstance(value, str):
            raise InputError(f"model {self.id!r}: architecture must be a reference string or None, got {value!r}")


def _positive_whole(task: str, name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"task {task!r}: {name} must be a whole number >= 1 or None, got {value!r}")
    if value < 1:
        raise InputError(f"task {task!r}: {name} must be >= 1, got {value}")


@attrs.frozen
class TaskCard:
    """A task: its id plus what is known without labels (classes, size, a description)."""

    id: str = attrs.field()
    num_classes: int | None = attrs.field(default=None)
    train_size: int | None = attrs.field(default=None)
    description: str | None = None
    meta: dict[str, float] = attrs.field(factory=dict, converter=_meta_dict, validator=_finite_meta)

    @id.validator
    def _check_id(self, _attr: Any, value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise InputError(f"a TaskCard id must be a non-empty string, got {value!r}")

    @num_classes.validator
    def _check_classes(self, _attr: Any, value: int | None) -> None:
        _positive_whole(self.id, "num_classes", value)

    @train_size.validator
    def _check_size(self, _attr: Any, value: int | None) -> None:
        _positive_whole(self.id, "train_size", value)

    def features(self) -> dict[str, float]:
        """Numeric task features for the meta model (log sizes; missing ones omitted). The
        ``probe`` flag (a probe column, not a target; see ``evaluation.is_probe``) is not a feature."""
        out = {k: v for k, v in self.meta.items() if k != "probe"}
        if self.num_classes is not None:
            out["log_num_classes"] = math.log(self.num_classes)
        if self.train_size is not None:
            out["log_train_size"] = math.log(self.train_size)
        return out


class _Buffer:
    """Arrays with spare rows and columns behind one or more History views; ``used`` is the
    extent of the latest view (only that view may grow in place)."""

    def __init__(self, scores: np.ndarray, mask: np.ndarray) -> None:
        self.scores, self.mask, self.used = scores, mask, (0, 0)

    @classmethod
    def allocate(cls, shape: tuple[int, int]) -> _Buffer:
        return cls(np.empty(shape, dtype=np.float64), np.zeros(shape, dtype=bool))


@attrs.frozen(eq=False)
class History:
    """A model x task score matrix with a mask of observed cells; ids kept on both axes.

    ``scores`` is float64 (m, n) with NaN where ``mask`` is False. Every observed cell is
    finite. Build one from a long table with :meth:`from_long` or a CSV with
    :func:`fennec_core.io.tables.read_history`.
    """

    model_ids: tuple[str, ...] = attrs.field(converter=_ids, validator=_unique_ids("model"))
    task_ids: tuple[str, ...] = attrs.field(converter=_ids, validator=_unique_ids("task"))
    scores: np.ndarray = attrs.field(converter=lambda a: np.array(a, dtype=np.float64))
    mask: np.ndarray = attrs.field(converter=lambda a: np.array(a, dtype=bool))
    _model_pos: dict[str, int] = attrs.field(init=False, repr=False)
    _task_pos: dict[str, int] = attrs.field(init=False, repr=False)
    _buffer: _Buffer | None = attrs.field(init=False, repr=False, default=None)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_model_pos", {m: i for i, m in enumerate(self.model_ids)})
        object.__setattr__(self, "_task_pos", {t: j for j, t in enumerate(self.task_ids)})
        shape = (len(self.model_ids), len(self.task_ids))
        if self.scores.shape != shape or self.mask.shape != shape:
            raise InputError(
                f"history arrays have shapes {self.scores.shape} / {self.mask.shape}, "
                f"expected {shape} (models x tasks)"
            )
        if shape[0] == 0 or shape[1] == 0:
            raise InputError("history is empty: it needs at least one model and one task")
        observed = self.scores[self.mask]
        if not np.all(np.isfinite(observed)):
            i, j = np.argwhere(self.mask & ~np.isfinite(self.scores))[0]
            raise InputError(
                f"score of model {self.model_ids[i]!r} on task {self.task_ids[j]!r} is "
                f"{float(self.scores[i, j])!r}; observed scores must be finite (drop the cell instead)"
            )
        big = self.mask & (np.abs(np.where(self.mask, self.scores, 0.0)) > MAX_ABS_SCORE)
        if big.any():
            i, j = np.argwhere(big)[0]
            raise InputError(
                f"score of model {self.model_ids[i]!r} on task {self.task_ids[j]!r} is {float(self.scores[i, j])!r}; "
                f"scores must lie within +-{MAX_ABS_SCORE:g} (rescale that task's scores or drop the cell)"
            )
        self.scores[~self.mask] = np.nan
        self.scores.flags.writeable = False
        self.mask.flags.writeable = False

    @classmethod
    def from_long(cls, rows: Sequence[tuple[str, str, float]]) -> History:
        """Build from (model, task, score) triples; ids keep first-seen order."""
        models: dict[str, int] = {}
        tasks: dict[str, int] = {}
        for m, t, _ in rows:
            models.setdefault(str(m), len(models))
            tasks.setdefault(str(t), len(tasks))
        scores = np.full((len(models), len(tasks)), np.nan)
        mask = np.zeros_like(scores, dtype=bool)
        for m, t, s in rows:
            i, j = models[str(m)], tasks[str(t)]
            if mask[i, j]:
                raise InputError(f"duplicate cell for model {m!r}, task {t!r}")
            scores[i, j] = float(s)
            mask[i, j] = True
        return cls(tuple(models), tuple(tasks), scores, mask)

    def to_long(self) -> list[tuple[str, str, float]]:
        """Observed cells as (model, task, score) triples, model-major order."""
        return [
            (self.model_ids[i], self.task_ids[j], float(self.scores[i, j]))
            for i, j in zip(*np.nonzero(self.mask), strict=True)
        ]

    @property
    def shape(self) -> tuple[int, int]:
        """(number of models, number of tasks)."""
        return self.scores.shape  # type: ignore[return-value]

    def task_index(self, task: str) -> int:
        """Column of ``task``; unknown ids fail listing the known ones."""
        try:
            return self._task_pos[task]
        except KeyError:
            raise InputError(
                f"unknown task {task!r}; tasks in this history: {', '.join(self.task_ids)}"
            ) from None

    def model_index(self, model: str) -> int:
        """Row of ``model``; unknown ids fail naming a few known ones."""
        try:
            return self._model_pos[model]
        except KeyError:
            shown = ", ".join(self.model_ids[:8]) + (" ..." if len(self.model_ids) > 8 else "")
            raise InputError(f"unknown model {model!r}; models include: {shown}") from None

    def has_model(self, model: str) -> bool:
        """Whether ``model`` is a row of this history."""
        return model in self._model_pos

    def has_task(self, task: str) -> bool:
        """Whether ``task`` is a column of this history."""
        return task in self._task_pos

    def with_capacity(self, extra_models: int | None = None, extra_tasks: int | None = None) -> History:
        """An equal history whose arrays have spare room, so :meth:`extended` can append
        models and tasks without copying the existing cells (default room: 25%, at least 8)."""
        m0, n0 = self.shape
        em = max(8, m0 // 4) if extra_models is None else extra_models
        et = max(8, n0 // 4) if extra_tasks is None else extra_tasks
        buf = _Buffer.allocate((m0 + em, n0 + et))
        buf.scores[:m0, :n0] = self.scores
        buf.mask[:m0, :n0] = self.mask
        buf.used = (m0, n0)
        return self._from_buffer(buf, self.model_ids, self.task_ids, self._model_pos, self._task_pos)

    @classmethod
    def _from_buffer(cls, buf: _Buffer, model_ids, task_ids, model_pos, task_pos) -> History:
        m, n = len(model_ids), len(task_ids)
        scores, mask = buf.scores[:m, :n], buf.mask[:m, :n]
        scores.flags.writeable = False
        mask.flags.writeable = False
        out = cls.__new__(cls)
        for name, value in (("model_ids", tuple(model_ids)), ("task_ids", tuple(task_ids)), ("scores", scores),
                            ("mask", mask), ("_model_pos", model_pos), ("_task_pos", task_pos), ("_buffer", buf)):
            object.__setattr__(out, name, value)
        return out

    def extended(self, add: History) -> tuple[History, int]:
        """This history plus the cells of ``add`` (new models and tasks appended).

        Returns (the new history, how many of ``add``'s cells change existing (model, task)
        pairs: a cell equal to the one already there is no change). Only the added cells are
        validated again. When this history
        came from :meth:`with_capacity` (or an earlier ``extended``) and is the latest view
        of its buffer, the new cells are written into the spare room: no existing cell is
        copied. This history itself never changes.
        """
        new_models = [m for m in add.model_ids if m not in self._model_pos]
        new_tasks = [t for t in add.task_ids if t not in self._task_pos]
        m0, n0 = self.shape
        m1, n1 = m0 + len(new_models), n0 + len(new_tasks)
        pos_new_m = {m: m0 + i for i, m in enumerate(new_models)}
        pos_new_t = {t: n0 + j for j, t in enumerate(new_tasks)}
        ai, aj = np.nonzero(add.mask)
        rows = np.array([self._model_pos.get(m, pos_new_m.get(m, -1)) for m in add.model_ids], dtype=np.int64)
        cols = np.array([self._task_pos.get(t, pos_new_t.get(t, -1)) for t in add.task_ids], dtype=np.int64)
        ri, cj = rows[ai], cols[aj]
        old = (ri < m0) & (cj < n0)
        same = np.zeros_like(old)
        same[old] = self.mask[ri[old], cj[old]] & (self.scores[ri[old], cj[old]] == add.scores[ai[old], aj[old]])
        ri, cj, ai, aj, old = ri[~same], cj[~same], ai[~same], aj[~same], old[~same]  # equal cells are no change
        overlap = int(old.sum())
        buf = self._buffer
        in_place = (buf is not None and buf.used == (m0, n0) and buf.scores.shape[0] >= m1
                    and buf.scores.shape[1] >= n1 and overlap == 0)
        if not in_place:
            buf = _Buffer.allocate((m1 + max(8, m1 // 4), n1 + max(8, n1 // 4)))
            buf.scores[:m0, :n0] = self.scores
            buf.mask[:m0, :n0] = self.mask
        buf.scores[:m1, n0:n1] = np.nan
        buf.mask[:m1, n0:n1] = False
        buf.scores[m0:m1, :n0] = np.nan
        buf.mask[m0:m1, :n0] = False
        buf.scores[ri, cj] = add.scores[ai, aj]
        buf.mask[ri, cj] = True
        buf.used = (m1, n1)
        out = History._from_buffer(buf, (*self.model_ids, *new_models), (*self.task_ids, *new_tasks),
                                   {**self._model_pos, **pos_new_m}, {**self._task_pos, **pos_new_t})
        return out, overlap

    def select_models(self, rows: Sequence[int] | np.ndarray) -> History:
        """This history restricted to the models at ``rows`` (indices, or a boolean mask), every
        task kept (a leave-one-model-out fold, or the models with observations)."""
        rows = np.asarray(rows)
        idx = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(int)
        return History([self.model_ids[i] for i in idx], self.task_ids, self.scores[idx], self.mask[idx])

    def without_task(self, task: str) -> History:
        """This history with one task's column removed (the leave-one-task-out view)."""
        j = self.task_index(task)
        keep = [k for k in range(len(self.task_ids)) if k != j]
        return History(self.model_ids, [self.task_ids[k] for k in keep], self.scores[:, keep], self.mask[:, keep])

    def column(self, task: str) -> tuple[np.ndarray, np.ndarray]:
        """(scores, mask) of one task, each shape (m,)."""
        j = self.task_index(task)
        return self.scores[:, j].copy(), self.mask[:, j].copy()


@attrs.frozen(eq=False)
class Factors:
    """A factorization ``P ~ U V^T`` in normalised score space.

    ``U`` (m, k) are model vectors, ``V`` (n, k) task vectors. ``extras`` holds further
    named arrays a factorizer needs later (e.g. posterior variances); ``info`` is JSON.
    """

    U: np.ndarray = attrs.field(converter=lambda a: np.asarray(a, dtype=np.float64))
    V: np.ndarray = attrs.field(converter=lambda a: np.asarray(a, dtype=np.float64))
    extras: dict[str, np.ndarray] = attrs.field(factory=dict)
    info: dict[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if self.U.ndim != 2 or self.V.ndim != 2 or self.U.shape[1] != self.V.shape[1]:
            raise InputError(
                f"factors need U (m, k) and V (n, k) with the same k; got {self.U.shape} and {self.V.shape}"
            )
        if not (np.all(np.isfinite(self.U)) and np.all(np.isfinite(self.V))):
            raise InputError("factorization produced non-finite values; check the history for extreme scores")

    @property
    def k(self) -> int:
        """Latent size."""
        return int(self.U.shape[1])


@attrs.frozen(eq=False)
class ArchGraph:
    """An architecture as an attributed DAG (a networkx ``DiGraph``), nodes numbered 0..n-1.

    Filled in by :mod:`fennec_core.architecture.graph` (graph-encoder issue); kept here so every
    graph encoder plugin shares one input type.
    """

    model_id: str
    graph: Any
    source: str = "unknown"


def _float_list(a: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(float(x)) else float(x) for x in np.asarray(a, dtype=float)]


@attrs.frozen(eq=False)
class Ranking:
    """Models ordered best first, with final scores and the parts that made them.

    ``parts`` maps a part name (``transfer``, ``meta``, ...) to per-model values in the same
    order as ``model_ids``. ``info`` records how the ranking was made (task, components,
    whether the transfer part was cold, notes) and is JSON-serialisable.
    """

    model_ids: tuple[str, ...] = attrs.field(converter=_ids)
    scores: np.ndarray = attrs.field(converter=lambda a: np.asarray(a, dtype=np.float64))
    parts: dict[str, np.ndarray] = attrs.field(factory=dict)
    task: str | None = None
    info: dict[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        m = len(self.model_ids)
        if self.scores.shape != (m,):
            raise InputError(f"ranking has {m} models but scores of shape {self.scores.shape}")
        for name, values in self.parts.items():
            if np.shape(values) != (m,):
                raise InputError(f"ranking part {name!r} has shape {np.shape(values)}, expected ({m},)")

    def __len__(self) -> int:
        return len(self.model_ids)

    @property
    def cold(self) -> bool:
        """True when nothing about the task itself informed the transfer part."""
        return bool(self.info.get("cold", False))

    def top(self, n: int) -> Ranking:
        """The first ``n`` models of this ranking."""
        return Ranking(
            self.model_ids[:n],
            self.scores[:n],
            {k: np.asarray(v)[:n] for k, v in self.parts.items()},
            self.task,
            dict(self.info),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: task, info and one entry per model (rank, id, score, parts)."""
        return {
            "task": self.task,
            "info": self.info,
            "models": [
                {
                    "rank": r + 1,
                    "model": mid,
                    "score": _float_list(self.scores[r : r + 1])[0],
                    **{k: _float_list(np.asarray(v)[r : r + 1])[0] for k, v in self.parts.items()},
                }
                for r, mid in enumerate(self.model_ids)
            ],
        }

    def to_json(self, **kwargs: Any) -> str:
        """This ranking as JSON (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), **kwargs)
