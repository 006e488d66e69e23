"""Immutable, validated records passed between Fennec's parts.

All are ``attrs`` frozen classes checked on construction, so a bad value fails where it is
made, not three calls later. Records holding arrays compare by identity (``eq=False``);
use their ``to_json``/array accessors to compare contents.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from fennec_core.errors import InputError
from fennec_core.table import MAX_ABS_SCORE, History, ids_tuple

__all__ = ["MAX_ABS_SCORE", "ArchGraph", "Factors", "History", "ModelCard", "Ranking", "TaskCard"]



_ids = ids_tuple


def _finite_meta(_inst: Any, attr: attrs.Attribute, value: Mapping[str, float]) -> None:
    for k, v in value.items():
        if not isinstance(v, int | float) or not math.isfinite(float(v)):
            raise InputError(f"{attr.name}[{k!r}] = {v!r} is not a finite number")


#: Longest categorical card value kept (a value is a label such as ``Retrieval`` or ``apache-2.0``).
MAX_ATTRIBUTE_CHARS = 1000


def _attributes_dict(value: Mapping[str, Any] | None) -> dict[str, str]:
    """Categorical card values as ``{name: value}`` strings; empty values are dropped."""
    if value is not None and not isinstance(value, Mapping):
        raise InputError(f"attributes must be a dict of text values, got {type(value).__name__}")
    out = {}
    for k, v in (value or {}).items():
        if not isinstance(v, str):
            raise InputError(f"attributes[{k!r}] = {v!r} is not text; categorical card values are strings "
                             "(numeric features go in meta)")
        if len(v) > MAX_ATTRIBUTE_CHARS:
            raise InputError(f"attributes[{k!r}] is {len(v)} characters long; a categorical value holds at most "
                             f"{MAX_ATTRIBUTE_CHARS}")
        if v.strip():
            out[str(k)] = v.strip()
    return out


def attribute_values(value: str | None) -> frozenset[str]:
    """The values of one categorical card field: a field may list several, comma-separated
    (``languages = "deu,eng"``); matching and filtering compare these sets."""
    if not value:
        return frozenset()
    return frozenset(v.strip() for v in value.split(",") if v.strip())


def read_number(text: str) -> float:
    """A number as a table cell or a filter writes it: Python's float syntax without the
    underscores it also accepts (``1_000`` is a typo in a CSV, not a thousand). ValueError otherwise;
    the caller says where."""
    if "_" in text:
        raise ValueError(text)
    return float(text)


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
    or ``None`` when unknown. ``meta`` holds numeric features (parameter count, depth, ...);
    ``attributes`` categorical card values (``license``, ``framework``, ``adapted_from``), text
    that filters and rules read but the meta model does not.
    """

    id: str = attrs.field()
    architecture: str | None = attrs.field(default=None)
    meta: dict[str, float] = attrs.field(factory=dict, converter=_meta_dict, validator=_finite_meta)
    attributes: dict[str, str] = attrs.field(factory=dict, converter=_attributes_dict, kw_only=True)

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
    """A task: its id plus what is known without labels (classes, size, a description, and
    categorical card values such as ``type = Retrieval``, ``languages = deu,eng`` in ``attributes``)."""

    id: str = attrs.field()
    num_classes: int | None = attrs.field(default=None)
    train_size: int | None = attrs.field(default=None)
    description: str | None = None
    meta: dict[str, float] = attrs.field(factory=dict, converter=_meta_dict, validator=_finite_meta)
    attributes: dict[str, str] = attrs.field(factory=dict, converter=_attributes_dict, kw_only=True)

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
