"""Task proxies at the edges of the engine: embed historical tasks' image folders for ``fit``,
a new task's images for ``rank``, and map a written description to a task vector.

``describe_vector`` is the text route: the zoo's own task descriptions and the new
description are embedded by the ``text`` proxy, and a mapping learned from description
embeddings to the fitted task vectors (kernel ridge, the engine's default mapping: it shrinks
towards the mean task vector, which matters with a handful of described tasks) places the
new task.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fennec_core.errors import InputError


def make_proxy(name: str, config: Mapping[str, Any] | None = None) -> Any:
    """A task proxy plugin by name (``clip``, ``dinov2``, ``text``, or a third party's)."""
    from fennec_core import registry

    return registry.create("task_proxy", name, **dict(config or {}))


def proxy_spec(proxy: Any, name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """What a zoo records about the proxy that embedded its tasks."""
    return proxy.spec() if hasattr(proxy, "spec") else {"name": name, "config": dict(config)}


def embed_task_folders(root: str | os.PathLike[str], task_ids: list[str], proxy: Any, *,
                       progress: bool = False) -> dict[str, np.ndarray]:
    """Embed ``root/<task id>/`` (flat or one subfolder per class) for every historical task."""
    from tqdm.auto import tqdm

    base = Path(root)
    if not base.is_dir():
        raise InputError(f"--task-images {base}: not a folder (expected one subfolder per task id)")
    present = {p.name for p in base.iterdir() if p.is_dir()}
    found = [t for t in task_ids if t in present]
    if not found:
        raise InputError(f"--task-images {base}: no subfolder is named after a task of the history "
                         f"(e.g. {task_ids[0]!r})")
    missing = [t for t in task_ids if t not in present]
    if missing:
        warnings.warn(f"--task-images: no images for {len(missing)} task(s) ({', '.join(missing[:5])}); they do "
                      "not train the proxy mapping", stacklevel=2)
    return {t: proxy.embed(base / t) for t in tqdm(found, desc="tasks", disable=not progress, leave=False)}


def describe_vector(engine: Any, description: str, *, proxy: Any = None, mapping: str = "kernel-ridge") -> np.ndarray:
    """A task vector for a task described in words, from the zoo's described tasks."""
    from fennec_core.task_mapping import TaskMapper

    engine._require_fitted()
    described = {t: engine.tasks[t].description for t in engine.history.task_ids
                 if engine.tasks.get(t) is not None and engine.tasks[t].description}
    if len(described) < 2:
        raise InputError("--describe needs a zoo whose tasks have descriptions (a `description` column in the tasks "
                         "table given to `fennec fit`); this zoo has "
                         f"{len(described)}")
    proxy = proxy or make_proxy("text")
    ids = list(described)
    emb = proxy.embed([described[t] for t in ids] + [description])
    vectors = {t: engine.factors.V[engine.history.task_index(t)] for t in ids}
    mapper = TaskMapper(mapping, seed=engine.seed).fit({t: emb[i:i + 1] for i, t in enumerate(ids)}, vectors)
    return mapper.predict(emb[-1:])
