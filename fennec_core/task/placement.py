"""Where a new task's proxy inputs place it: images or a description become item embeddings
or a task vector (with the mapping's error covariance), for :meth:`fennec_core.Fennec.rank`.

A task described in words is placed by a mapping learned from the zoo's described tasks; item
embeddings (given, or made from images by the zoo's proxy) by the engine's task mapping. A
learned ranker (Model Spider) reads embeddings instead of a vector, so for it a description is
only embedded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from fennec_core.errors import InputError
from fennec_core.plugin.contracts import PosteriorFactorizer, supports

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.zoo import FittedZoo

#: The note of a ranking whose task vector came from a description.
DESCRIPTION_NOTE = "task vector from the description (text proxy, mapped from the zoo's task descriptions)"


@attrs.frozen(eq=False)
class Placement:
    """A task vector (or None), its covariance (or None), item embeddings (or None), notes."""

    task_vector: np.ndarray | None
    cov: np.ndarray | None
    task_embeddings: np.ndarray | None
    notes: tuple[str, ...]


#: Below this share of the spread of the zoo's task vectors that the description mapping explains
#: (leave-one-task-out), a described ranking says it will stay close to the one with no information.
WEAK_DESCRIPTIONS = 0.05


def describe_placement(zoo: FittedZoo, factorizer: Any, description: str, *, mapping: str, seed: int,
                       proxy: Any) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """(task vector, its covariance or None, notes) of a task described in words, placed by
    ``mapping`` learned from the zoo's described tasks with the loaded text ``proxy``; the
    covariance (the mapping's leave-one-task-out error) only for a posterior factorizer. The
    notes say plainly when, leave-one-task-out, descriptions predict this zoo's tasks no better
    than the mean task (:data:`WEAK_DESCRIPTIONS`): then the ranking barely moves, and why."""
    from fennec_core.task.proxies import describe_task, described_tasks

    vector, fitted = describe_task(zoo, description, mapping=mapping, seed=seed, proxy=proxy)
    error = fitted.residual_cov()
    rows = [zoo.task_ids.index(t) for t in described_tasks(zoo)]
    spread = float(np.trace(np.atleast_2d(np.cov(np.asarray(zoo.factors.V)[rows].T)))) if len(rows) > 1 else 0.0
    explained = 1.0 - float(np.trace(error)) / spread if spread > 0 else 0.0
    notes = (DESCRIPTION_NOTE,)
    if explained < WEAK_DESCRIPTIONS:
        notes += (f"descriptions explain {explained:.0%} of how this zoo's tasks differ (leave-one-task-out): "
                  "expect a ranking close to the one with no information; known results move it more",)
    return vector, error if supports(factorizer, PosteriorFactorizer) else None, notes


def place_task(zoo: FittedZoo, factorizer: Any, *, mapper: Callable[[], Any], mapping: str, seed: int,
               device: str, for_ranker: bool, task_vector: np.ndarray | None = None,
               task_vector_cov: np.ndarray | None = None, task_embeddings: np.ndarray | None = None, images: str | os.PathLike[str] | None = None,
               images_per_task: int = 100, description: str | None = None, progress: bool = False) -> Placement:
    """Turn what places a new task (at most one of ``task_vector``, ``task_embeddings``,
    ``images``, ``description``; checked by the caller) into a :class:`Placement`.

    ``mapper()``: the engine's fitted task mapping of item embeddings. The covariance is the
    mapping's leave-one-task-out error (:meth:`fennec_core.task.mapping.TaskMapper.residual_cov`),
    computed only for a posterior factorizer, which turns it into intervals; for a given
    ``task_vector`` it is ``task_vector_cov``.
    """
    if task_vector_cov is not None and task_vector is None:
        raise InputError("task_vector_cov is the covariance of a given task_vector: give task_vector too")
    posterior = supports(factorizer, PosteriorFactorizer)
    notes: list[str] = []
    cov = task_vector_cov
    if images is not None:
        from fennec_core.task.proxies import embed_new_task_images

        task_embeddings = embed_new_task_images(zoo, images, images_per_task=images_per_task, device=device,
                                                progress=progress)
    if description is not None:
        from fennec_core.task.proxies import make_proxy

        text = make_proxy("text", {"progress": progress})
        if for_ranker:  # a learned ranker reads the description's embedding
            notes.append(DESCRIPTION_NOTE)
            task_embeddings = text.embed(description)
        else:
            task_vector, cov, placed_notes = describe_placement(zoo, factorizer, description, mapping=mapping,
                                                                seed=seed, proxy=text)
            notes.extend(placed_notes)
    elif task_embeddings is not None:
        notes.append(f"task vector from {len(task_embeddings)} item embeddings ({mapping} mapping)")
        if not for_ranker:
            fitted = mapper()
            task_vector, cov = fitted.predict(task_embeddings), fitted.residual_cov() if posterior else None
    return Placement(task_vector, cov, task_embeddings, tuple(notes))
