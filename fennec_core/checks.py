"""Checks of the Python API's arguments: a bad value is one :class:`InputError` naming the
argument, raised before any work is done (no raw TypeError three calls later).

Only the engine's own settings and call arguments are checked here; tables, records and
components check their own contents.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fennec_core.device import check_device
from fennec_core.errors import InputError
from fennec_core.records import MAX_ABS_SCORE, TaskCard

#: Per-task normalisations (:mod:`fennec_core.history.normalize` implements them).
NORMALIZATIONS = ("minmax", "zscore", "zscore-clip", "none")
#: Mappings from proxy embeddings to task vectors (:mod:`fennec_core.task.mapping` implements them).
TASK_MAPPINGS = ("random-forest", "kernel-ridge", "kernel-ridge-cv", "knn")


def is_whole(value: Any, minimum: int = 1) -> bool:
    """Whether ``value`` is an int (not a bool) >= ``minimum``."""
    return not isinstance(value, bool) and isinstance(value, int | np.integer) and value >= minimum


def check_whole(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int when it is a whole number >= ``minimum``, else an InputError naming ``name``."""
    if not is_whole(value, minimum):
        raise InputError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def check_number(value: Any, name: str, minimum: float = 0.0) -> float:
    """``value`` as a float when it is a number (not NaN, not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) \
            or not value >= minimum:
        raise InputError(f"{name} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def check_settings(factorizer: Any, score_merger: Any, ranker: Any, use_meta: Any, seed: Any, device: Any,
                   normalization: Any, warm_strength: Any, task_mapping: Any, configs: Sequence[Any]) -> None:
    """The :class:`fennec_core.engine.Fennec` constructor's parameters (components are built next);
    ``configs``: the factorizer's, score merger's and ranker's configs."""
    if task_mapping not in TASK_MAPPINGS:
        raise InputError(f"unknown task_mapping {task_mapping!r}; choose one of {', '.join(TASK_MAPPINGS)}")
    if normalization != "auto" and normalization not in NORMALIZATIONS:
        raise InputError(f"unknown normalization {normalization!r}; choose auto or one of {', '.join(NORMALIZATIONS)}")
    if warm_strength != "auto" and (isinstance(warm_strength, bool) or not isinstance(warm_strength, int | float)
                                    or not 0 <= warm_strength < math.inf):
        raise InputError(f"warm_strength must be 'auto' or a number >= 0, got {warm_strength!r}")
    for name, value in (("factorizer", factorizer), ("score_merger", score_merger), ("ranker", ranker)):
        if not isinstance(value, str):
            raise InputError(f"{name} must be a component name (a string; see `fennec plugins`), got {value!r}")
    if not isinstance(use_meta, bool | np.bool_):
        raise InputError(f"use_meta must be true or false, got {use_meta!r}")
    check_whole(seed, "seed", 0)
    check_device(device)
    for name, value in zip(("factorizer_config", "score_merger_config", "ranker_config"), configs, strict=True):
        if value is not None and not isinstance(value, Mapping):
            raise InputError(f"{name} must be a dict of options, got {type(value).__name__} {value!r:.60}")


def check_task(task: Any, name: str = "task") -> None:
    """A task argument: a TaskCard, a task id or None."""
    if task is not None and not isinstance(task, TaskCard | str):
        raise InputError(f"{name} must be a TaskCard, a task id (str) or None, got {type(task).__name__} {task!r:.60}")


def check_top(top: Any) -> None:
    """``top``: None (every model) or a whole number >= 1."""
    if top is not None:
        check_whole(top, "top")


def check_rank(task: Any, top: Any, images_per_task: Any, known: Any,
               inputs: Mapping[str, Any] | None = None) -> dict[str, float] | None:
    """The arguments of :meth:`Fennec.rank` (``inputs``: the ways of placing the task, by name, of
    which at most one may be given); returns ``known`` checked."""
    given = [name for name, value in (inputs or {}).items() if value is not None]
    if len(given) > 1:
        raise InputError(f"give one of {', '.join(inputs or {})} (got {', '.join(given)})")
    check_task(task)
    check_top(top)
    check_whole(images_per_task, "images_per_task")
    return check_known(known)


def check_known(known: Any, name: str = "known") -> dict[str, float] | None:
    """Known scores of a new task as ``{model id: float}`` (finite, within ``MAX_ABS_SCORE``), or None."""
    if known is None:
        return None
    if not isinstance(known, Mapping):
        raise InputError(f"{name} must be a dict {{model id: score}}, got {type(known).__name__} {known!r:.60}")
    out = {}
    for model, score in known.items():
        if not isinstance(model, str):
            raise InputError(f"{name}: model ids must be strings, got {model!r}")
        if isinstance(score, bool) or not isinstance(score, int | float | np.integer | np.floating):
            raise InputError(f"{name}[{model!r}] = {score!r:.60} is not a number")
        if not math.isfinite(score) or abs(score) > MAX_ABS_SCORE:
            raise InputError(f"{name}[{model!r}] = {score!r}; known scores must be finite numbers within "
                             f"+-{MAX_ABS_SCORE:g}, in the history's units")
        out[model] = float(score)
    return out


def check_rank_many(tasks: Any, task_vectors: Any, known: Any, top: Any) -> list[dict[str, float] | None] | None:
    """The arguments of :meth:`Fennec.rank_many`; returns ``known`` checked."""
    if isinstance(tasks, str | TaskCard) or not isinstance(tasks, Sequence):
        raise InputError(f"tasks must be a list of TaskCards or task ids, got {type(tasks).__name__}")
    for i, t in enumerate(tasks):
        check_task(t, f"tasks[{i}]")
    check_top(top)
    n = len(tasks)
    if task_vectors is not None and len(task_vectors) != n:
        raise InputError(f"got {len(task_vectors)} task vectors for {n} tasks")
    if known is None:
        return None
    if isinstance(known, Mapping | str) or not isinstance(known, Sequence):
        raise InputError(f"known must be a list with one {{model id: score}} dict (or None) per task, "
                         f"got {type(known).__name__}")
    if len(known) != n:
        raise InputError(f"got {len(known)} known-score tables for {n} tasks")
    return [check_known(k, f"known[{i}]") for i, k in enumerate(known)]


def check_store_path(path: Any, name: str = "path") -> None:
    """A store path: a non-empty str or os.PathLike."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise InputError(f"{name} must be a store path (a str or os.PathLike), got {path!r}")


def check_load(path: Any, device: Any) -> None:
    """The arguments of :meth:`Fennec.load`."""
    check_store_path(path)
    check_device(device)
