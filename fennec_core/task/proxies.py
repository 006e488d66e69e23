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

from fennec_core.errors import FennecError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.records import TaskCard
    from fennec_core.task.encoders import Encoders
    from fennec_core.zoo import FittedZoo


def make_proxy(name: str, config: Mapping[str, Any] | None = None, *, registry: Any = None) -> Any:
    """A task proxy plugin by name (``clip``, ``dinov2``, ``text``, or a third party's), built and
    checked against its contract by ``registry`` (default: the process's). An engine builds its
    proxies through its own registry, once (:class:`fennec_core.task.encoders.Encoders`); this is
    for scripts with no engine."""
    from fennec_core.plugin.registry import default_registry

    return (registry or default_registry()).build("task_proxy", name, dict(config or {}))


def proxy_spec(proxy: Any, name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """What a zoo records about the proxy that embedded its tasks."""
    from fennec_core.plugin.contracts import proxy_spec as spec

    return spec(proxy, name, config)


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


def _same_proxy(recorded: Mapping[str, Any] | None, spec: Mapping[str, Any]) -> bool:
    """Whether the proxy the zoo ``recorded`` embedding its tasks is the one of ``spec`` (same name,
    and every setting ``spec`` names set alike)."""
    config = (recorded or {}).get("config") or {}
    return (recorded or {}).get("name") == spec.get("name") and all(
        config.get(k) == v for k, v in (spec.get("config") or {}).items())


def embed_description(zoo: FittedZoo, description: str, *, proxy: Any,
                      ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(the zoo's described tasks embedded one row each, the new description embedded) by the
    text ``proxy``, so a task mapping can place the description among the zoo's tasks. When the
    zoo's tasks were embedded by this very proxy at fit, only the new description is embedded."""
    from fennec_core.plugin.contracts import proxy_spec as spec_of

    described = described_tasks(zoo)
    if len(described) < 2:
        raise InputError("a description needs a zoo whose tasks have descriptions (a `description` column in the "
                         f"tasks table given to `fennec fit`); this zoo has {len(described)}: give known results")
    stored = zoo.task_embeddings or {}
    if stored and all(t in stored for t in described) and _same_proxy(zoo.proxy, spec_of(proxy, "", {})):
        return {t: np.atleast_2d(stored[t]) for t in described}, proxy.embed([description])
    ids = list(described)
    emb = proxy.embed([described[t] for t in ids] + [description])
    return {t: emb[i:i + 1] for i, t in enumerate(ids)}, emb[-1:]


def description_embeddings(cards: Sequence[TaskCard], proxy: str = "text", config: Mapping[str, Any] | None = None,
                           *, registry: Any = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(each described task's description embedded as one row, the proxy spec), for tasks whose
    card has a description: what ``evaluate --proxy text`` maps in every fold."""
    from fennec_core.plugin.contracts import proxy_modality

    made = make_proxy(proxy, config, registry=registry)
    if proxy_modality(made) != "text":
        raise InputError(f"--proxy {proxy}: embeds images, not descriptions; use --proxy text (or give "
                         "--task-embeddings made from the tasks' images)")
    described = {c.id: c.description for c in cards if c.description}
    if len(described) < 2:
        raise InputError(f"--proxy {proxy} embeds the tasks' descriptions: give a tasks table with a `description` "
                         f"column for at least 2 tasks (got {len(described)})")
    ids = list(described)
    emb = made.embed([described[t] for t in ids])
    return {t: emb[i:i + 1] for i, t in enumerate(ids)}, proxy_spec(made, proxy, dict(config or {}))


def embed_new_task_images(zoo: FittedZoo, images: str | os.PathLike[str], *, encoders: Encoders,
                          images_per_task: int = 100, device: str = "auto", progress: bool = False) -> np.ndarray:
    """A new task's images embedded by the proxy that embedded the zoo's tasks (built by ``encoders``)."""
    if not zoo.proxy or zoo.proxy.get("name") == "external":
        raise InputError("this zoo has no task proxy to embed images with; fit it with --task-images DIR "
                         "(or give the new task's --embeddings computed like the zoo's)")
    config = {k: v for k, v in zoo.proxy.get("config", {}).items() if k != "images_per_task"}
    if zoo.proxy["name"] == DEFAULT_DESCRIBER:  # known to embed words without building it
        modality = "text"
    else:
        proxy = encoders.get(zoo.proxy["name"], {**config, "images_per_task": images_per_task, "device": device,
                                                 "progress": progress})
        modality = proxy.modality
    if modality != "images":
        raise InputError(f"this zoo's tasks were embedded from words by the {zoo.proxy['name']!r} proxy, not from "
                         "images: describe the new task instead (rank --describe TEXT), or fit a zoo with "
                         "--task-images DIR and an image proxy")
    return proxy.embed(images)


def embed_historical_tasks(root: str | os.PathLike[str], task_ids: list[str], proxy: str,
                           config: Mapping[str, Any] | None = None, *, encoders: Encoders, images_per_task: int = 100,
                           device: str = "auto", progress: bool = False,
                           ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(embeddings of ``root/<task id>/`` per historical task, the proxy spec the zoo records)."""
    config = {"images_per_task": images_per_task, **dict(config or {})}
    made = encoders.get(proxy, {**config, "device": device, "progress": progress})
    if made.modality != "images":
        raise InputError(f"--proxy {proxy}: this proxy embeds text, not images; use an image proxy for --task-images "
                         "(clip, dinov2, efficientnet-lite), and give task descriptions in the tasks table instead")
    return embed_task_folders(root, task_ids, made, progress=progress), proxy_spec(made.proxy, proxy, config)


#: The task proxy that places a described task on a zoo whose own proxy does not embed text.
DEFAULT_DESCRIBER = "text"


def describer(zoo: FittedZoo, encoders: Encoders, config: Mapping[str, Any] | None = None) -> str:
    """The task proxy that embeds descriptions for ``zoo``, a setting of the zoo: the proxy its
    tasks were embedded with when that one embeds text (its ``modality``, read from the proxy
    built with ``config``, the one that will embed), else :data:`DEFAULT_DESCRIBER`."""
    name = (zoo.proxy or {}).get("name")
    if not name or name == "external" or name == DEFAULT_DESCRIBER:
        return DEFAULT_DESCRIBER
    try:
        modality = encoders.get(name, config).modality
    except FennecError:  # a proxy this process cannot build (a plugin not installed here)
        return DEFAULT_DESCRIBER
    return name if modality == "text" else DEFAULT_DESCRIBER


def describe_vector(zoo: FittedZoo, description: str, *, proxy: Any, mapping: str = "kernel-ridge",
                    seed: int = 0) -> np.ndarray:
    """A task vector for a task described in words: the ``mapping`` learned from the zoo's
    described tasks' text embeddings to their fitted vectors places the new description."""
    return describe_task(zoo, description, mapping=mapping, seed=seed, proxy=proxy)[0]


def describe_task(zoo: FittedZoo, description: str, *, proxy: Any, mapping: str = "kernel-ridge",
                  seed: int = 0) -> tuple[np.ndarray, Any]:
    """(task vector, the fitted TaskMapper) of a described task (see :func:`describe_vector`);
    the mapper's ``residual_cov()`` is the vector's uncertainty."""
    from fennec_core.task.mapping import TaskMapper

    described, new = embed_description(zoo, description, proxy=proxy)
    vectors = {t: zoo.factors.V[zoo.history.task_index(t)] for t in described}
    mapper = TaskMapper(mapping, seed=seed).fit(described, vectors)
    return mapper.predict(new), mapper


def historical_task_embeddings(
    task_ids: list[str], task_embeddings: Mapping[str, np.ndarray] | None, *,
    encoders: Encoders, task_images: str | os.PathLike[str] | None = None,
    proxy: Mapping[str, Any] | str | None = None, proxy_config: Mapping[str, Any] | None = None,
    images_per_task: int = 100, device: str = "auto", progress: bool = False,
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
                                                        encoders=encoders, images_per_task=images_per_task, device=device,
                                                        progress=progress)
    elif isinstance(proxy, str):  # a proxy name for embeddings made elsewhere
        proxy = {"name": proxy, "config": dict(proxy_config or {})} if task_embeddings else None
    embeddings, spec = clean_task_embeddings(task_embeddings or {}, proxy)
    stray = [t for t in embeddings if t not in task_ids]
    if stray:
        raise InputError(f"task embeddings name task(s) not in the history, e.g. {stray[0]!r}")
    return embeddings, spec
