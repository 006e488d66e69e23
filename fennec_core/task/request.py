"""One path from what a user knows about a new task to a placed task.

``fennec rank`` / ``fennec next`` (the CLI), :meth:`fennec_core.Fennec.rank` / ``suggest`` (the
Python API) and ``POST /rank`` / ``POST /next`` (the server) all describe the task as one
:class:`TaskRequest` and hand it to :func:`place`, which turns it into a :class:`PlacedTask`:
the task's card, its known results, and where it sits in the transfer space (a task vector
and its covariance, or item embeddings for a learned ranker), with notes saying how. The
engine then ranks the placed task; the CLI and the server only parse and render.

The proxies that embed a description or images are built once per engine, through its
registry (:attr:`fennec_core.Fennec.encoders`), and a description's placement is computed once
per zoo. A new kind of evidence is one more field of :class:`TaskRequest` and one more step of
:func:`place`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from fennec_core.errors import InputError
from fennec_core.plugin.contracts import PosteriorFactorizer, supports
from fennec_core.records import TaskCard
from fennec_core.task.cards import NEW_TASK, with_card_values

#: The inputs that place a task in the transfer space, of which a request gives at most one.
PLACING = ("task_vector", "task_embeddings", "images", "description")


@attrs.frozen(eq=False)
class TaskRequest:
    """What is known about a new task, as the CLI, the API and the server receive it.

    ``task``: a TaskCard or an id (a task of the zoo brings its card); ``num_classes`` /
    ``train_size`` override the card's; ``card``: categorical values set in its attributes
    (``{"type": "Retrieval"}``). ``known``: ``{model id: score}`` already measured (warm start).
    What places the task, at most one of: ``task_vector`` (with its covariance
    ``task_vector_cov``), ``task_embeddings`` [n_items, d] made like the zoo's, ``images`` (a
    folder the zoo's proxy embeds, ``images_per_task`` of them), ``description`` (words).
    ``progress``: show the proxies' loading bars. ``probes``: ``{model id: {estimator: score}}``
    measured on the task's own data (:mod:`fennec_core.scoring.probes`), fused after placing.
    """

    task: TaskCard | str | None = None
    num_classes: int | None = None
    train_size: int | None = None
    card: Mapping[str, str] | None = None
    known: Mapping[str, float] | None = None
    task_vector: np.ndarray | None = None
    task_vector_cov: np.ndarray | None = None
    task_embeddings: np.ndarray | None = None
    images: str | os.PathLike[str] | None = None
    images_per_task: int = 100
    description: str | None = None
    progress: bool = False
    probes: Mapping[str, Mapping[str, float]] | None = None

    def placing(self) -> dict[str, Any]:
        """The placing inputs by name (None where not given)."""
        return {name: getattr(self, name) for name in PLACING}


@attrs.frozen(eq=False)
class PlacedTask:
    """A request placed on a zoo: the task's card (or None), its checked known results (or None),
    a task vector (or None: the mean task), its covariance (or None), item embeddings (or None),
    notes saying where the placement came from, and the probe scores to fuse (or None)."""

    card: TaskCard | None
    known: dict[str, float] | None
    task_vector: np.ndarray | None = None
    cov: np.ndarray | None = None
    task_embeddings: np.ndarray | None = None
    notes: tuple[str, ...] = ()
    probes: Mapping[str, Mapping[str, float]] | None = None


def task_card(zoo: Any, request: TaskRequest) -> TaskCard | None:
    """The request's card: the zoo's own for a known id (or the given card, or a bare one), with
    ``num_classes``/``train_size`` and the categorical ``card`` values set."""
    card = zoo.task_card(request.task)
    if request.num_classes is not None or request.train_size is not None:
        base = card or TaskCard(NEW_TASK)
        card = attrs.evolve(base, num_classes=base.num_classes if request.num_classes is None else request.num_classes,
                            train_size=base.train_size if request.train_size is None else request.train_size)
    return with_card_values(card, request.card)


def description_encoder(engine: Any, *, progress: bool = False) -> Any:
    """The engine's proxy that embeds descriptions on its zoo (built once; see
    :func:`fennec_core.task.proxies.describer`)."""
    from fennec_core.task.proxies import describer

    config = {"progress": progress}
    return engine.encoders.get(describer(engine.check_is_fitted(), engine.encoders, config), config)


def place(engine: Any, request: TaskRequest) -> PlacedTask:
    """Place ``request`` on ``engine``'s fitted zoo (see the module); its probe scores ride along
    to the ranking, which fuses them with each model's score (:mod:`fennec_core.scoring.probe_fusion`)."""
    placed = _place(engine, request)
    return attrs.evolve(placed, probes=dict(request.probes)) if request.probes else placed


def _place(engine: Any, request: TaskRequest) -> PlacedTask:
    """The placement of ``request`` without its probes.

    Item embeddings (given, or made from images by the zoo's proxy) go through the engine's task
    mapping; a description through a mapping learned from the zoo's described tasks, with the
    zoo's text proxy (:func:`fennec_core.task.proxies.describer`). A learned ranker reads item
    embeddings instead of a vector, so for it a description is only embedded. The covariance is
    the mapping's leave-one-task-out error, computed only for a posterior factorizer.
    """
    from fennec_core.task.placement import DESCRIPTION_NOTE, describe_placement

    zoo = engine.check_is_fitted()
    known = engine.check_request(request)
    card = task_card(zoo, request)
    if request.task_vector_cov is not None and request.task_vector is None:
        raise InputError("task_vector_cov is the covariance of a given task_vector: give task_vector too")
    factorizer, for_ranker = engine.components.factorizer, engine.components.ranker is not None
    posterior = supports(factorizer, PosteriorFactorizer)
    vector, cov, embeddings = request.task_vector, request.task_vector_cov, request.task_embeddings
    if request.images is not None:
        from fennec_core.task.proxies import embed_new_task_images

        embeddings = embed_new_task_images(zoo, request.images, encoders=engine.encoders,
                                           images_per_task=request.images_per_task, device=engine.device,
                                           progress=request.progress)
    if request.description is not None:
        if not request.description.strip():
            raise InputError("description: give some words describing the task")
        text = description_encoder(engine, progress=request.progress)
        if for_ranker:  # a learned ranker reads the description's embedding
            return PlacedTask(card, known, None, None, text.embed(request.description), (DESCRIPTION_NOTE,))
        vector, cov, notes = engine.encoders.memo(zoo, ("description", request.description), lambda: describe_placement(
            zoo, factorizer, request.description, mapping=engine.task_mapping, seed=engine.seed, proxy=text))
        return PlacedTask(card, known, vector, cov, None, notes)
    if embeddings is None:
        return PlacedTask(card, known, vector, cov, None, ())
    notes = (f"task vector from {len(embeddings)} item embeddings ({engine.task_mapping} mapping)",)
    if not for_ranker:
        fitted = engine.task_mapper()
        vector, cov = fitted.predict(embeddings), fitted.residual_cov() if posterior else None
    return PlacedTask(card, known, vector, cov, embeddings, notes)


def as_request(task: TaskRequest | TaskCard | str | None, **given: Any) -> TaskRequest:
    """``task`` when it is a :class:`TaskRequest` already (then no keyword may say more), else the
    request made of ``task`` and the keywords (the fields of :class:`TaskRequest`)."""
    if not isinstance(task, TaskRequest):
        return TaskRequest(task, **given)
    defaults = attrs.fields_dict(TaskRequest)
    extra = [k for k, v in given.items() if v is not (d := defaults[k].default) and not (v == d and type(v) is type(d))]
    if extra:
        raise InputError(f"give {', '.join(extra)} in the TaskRequest, or give a task id or card with keywords; "
                         "not both")
    return task
