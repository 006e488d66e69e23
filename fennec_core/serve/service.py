"""What each endpoint answers, as plain data, independent of the web framework.

:class:`Service` turns validated requests (:mod:`fennec_core.serve.schemas`) into the same
Python API calls ``fennec rank`` and ``fennec next`` make (:mod:`fennec_core.cli.task_inputs`),
with two differences that keep a long-lived process fast: the text proxy is loaded once
(:data:`fennec_core.serve.state.TEXT`) and a description's task vector is computed once per
zoo generation; and answers are cached by (zoo, generation, request), so a write, which
changes the generation, is reflected by the very next request.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from fennec_core import __version__
from fennec_core.errors import InputError
from fennec_core.serve.errors import UnauthorizedError, WritesDisabledError
from fennec_core.serve.schemas import NextRequest, RankRequest, ResultsRequest, TaskRequest
from fennec_core.serve.settings import ServeSettings, read_token
from fennec_core.serve.state import LRU, TEXT, ServedZoo, ZooSet
from fennec_core.task.placement import DESCRIPTION_NOTE

#: Requests whose canonical JSON is longer than this are not cached (embeddings, long known lists).
CACHE_KEY_CHARS = 8192


def jsonable(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays as Python values and non-finite floats as None."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(doc: Any) -> bytes:
    """Compact JSON bytes of ``doc`` (strict: no NaN)."""
    return json.dumps(jsonable(doc), allow_nan=False, separators=(",", ":")).encode()


class Service:
    """The zoos of one process and the answers of every endpoint."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.token = read_token(settings.token_file)
        self.zoos = ZooSet(settings.zoos, device=settings.device)
        self.answers = LRU(4096)
        self.vectors = LRU(1024)

    # -- reading ----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        return {"status": "ok", "version": __version__, "pid": os.getpid(), "zoos": self.zoos.names(),
                "writes": self.token is not None}

    def summary(self, served: ServedZoo) -> dict[str, Any]:
        """One zoo's entry in ``GET /zoos``."""
        from fennec_core.io import catalog
        from fennec_core.task.proxies import described_tasks

        zoo = served.engine.zoo_
        entry = catalog.get(served.spec.bundled) if served.spec.bundled else None
        return {"name": served.name, "models": len(zoo.history.model_ids), "tasks": len(zoo.history.task_ids),
                "observed": zoo.history.nnz, "generation": served.generation,
                "bundled": served.spec.bundled, "title": entry.title if entry else None,
                "writable": self.token is not None and catalog.bundled_entry(served.spec.path) is None,
                "describable": len(described_tasks(zoo)) >= 2}

    def zoo_list(self) -> dict[str, Any]:
        """``GET /zoos``."""
        return {"default": self.settings.default_zoo,
                "zoos": [self.summary(self.zoos.get(name)) for name in self.zoos.names()]}

    def zoo_detail(self, name: str, offset: int, limit: int) -> dict[str, Any]:
        """``GET /zoos/{zoo}``: settings, a page of tasks and a page of models (same window)."""
        served = self.zoos.get(name)
        engine = served.engine
        zoo = engine.zoo_
        hist = zoo.history
        per_task, per_model = hist.task_counts(), hist.model_counts()
        window = slice(offset, offset + limit)
        tasks = []
        for j, t in list(enumerate(hist.task_ids))[window]:
            card = zoo.tasks.get(t)
            tasks.append({"task": t, "observed_models": int(per_task[j]),
                          "num_classes": card.num_classes if card else None,
                          "train_size": card.train_size if card else None,
                          "description": card.description if card else None})
        models = []
        for i, m in list(enumerate(hist.model_ids))[window]:
            card = zoo.models.get(m)
            models.append({"model": m, "observed_tasks": int(per_model[i]),
                           "architecture": card.architecture if card else None,
                           "predicted": m in zoo.predicted_models,
                           "meta": {k: v for k, v in (card.meta if card else {}).items() if math.isfinite(v)}})
        return {**self.summary(served), "factorizer": engine.factorizer, "score_merger": engine.score_merger,
                "ranker": engine.ranker, "normalization": engine.resolved_normalization,
                "model_features": zoo.model_feature_names(), "task_proxy": (zoo.proxy or {}).get("name"),
                "task_table": {"total": len(hist.task_ids), "offset": offset, "limit": limit, "items": tasks},
                "model_table": {"total": len(hist.model_ids), "offset": offset, "limit": limit, "items": models}}

    # -- ranking ----------------------------------------------------------------------------------

    def zoo_name(self, req: TaskRequest) -> str:
        """The zoo a request names, or the default one."""
        return req.zoo or self.settings.default_zoo

    def cache_key(self, kind: str, served: ServedZoo, req: TaskRequest) -> tuple[str, ...] | None:
        """The answer cache's key of a request on a snapshot, or None when it is not cached."""
        text = req.model_dump_json(exclude={"zoo"})
        return None if len(text) > CACHE_KEY_CHARS else (kind, served.name, str(served.generation), text)

    def _placing(self, served: ServedZoo, req: TaskRequest) -> tuple[Any, dict[str, Any], list[str]]:
        """(task card or None, keyword arguments placing the task, notes) of a request, as
        :func:`fennec_core.cli.task_inputs.task_request` reads them from the command line."""
        from fennec_core.records import TaskCard

        engine = served.engine
        card = engine.zoo_.tasks.get(req.task) if req.task else None
        if req.task and card is None or req.num_classes is not None or req.train_size is not None:
            base = card or TaskCard(req.task or "new-task")
            card = TaskCard(base.id, base.num_classes if req.num_classes is None else req.num_classes,
                            base.train_size if req.train_size is None else req.train_size, base.description,
                            base.meta, attributes=base.attributes)
        if req.card:
            from fennec_core.task.cards import with_card_values

            card = with_card_values(card, req.card)
        if req.description is not None and req.embeddings is not None:
            raise InputError("give one of description, embeddings (got both)")
        if req.embeddings is not None:
            if len({len(row) for row in req.embeddings}) > 1:
                raise InputError("embeddings: every row must have the same length (an [n_items, d] array)")
            return card, {"task_embeddings": np.asarray(req.embeddings, dtype=np.float32)}, []
        if req.description is None:
            return card, {}, []
        if not req.description.strip():
            raise InputError("description: give some words describing the task")
        from fennec_core.task.proxies import described_tasks

        if len(described_tasks(engine.zoo_)) < 2 and engine.components.ranker is None:
            raise InputError(f"zoo {served.name!r} cannot place a description: fewer than 2 of its tasks have one "
                             "(a `description` column in the tasks table given to `fennec fit`); give known results")
        if engine.components.ranker is not None:  # a learned ranker reads the description's embedding
            return card, {"task_embeddings": TEXT.embed(req.description)}, [DESCRIPTION_NOTE]
        key = (served.name, str(served.generation), req.description)
        placed = self.vectors.get(key)
        if placed is None:
            placed = TEXT.place(engine, req.description)
            self.vectors.put(key, placed)
        return card, {"task_vector": placed[0], "task_vector_cov": placed[1]}, list(placed[2])

    def rank(self, served: ServedZoo, req: RankRequest) -> dict[str, Any]:
        """``POST /rank``: the ranking as ``fennec rank --json`` prints it, with the zoo."""
        card, placing, notes = self._placing(served, req)
        engine = served.engine
        known = dict(req.known) if req.known is not None else None
        from fennec_core.scoring.filters import from_options

        where = from_options(max_params=req.max_params, license=req.license, open_weights=req.open_weights,
                             min_max_tokens=req.min_max_tokens, where=req.where) or None
        ranking = engine.rank(card, known=known, top=req.top, explore=req.explore, where=where, probes=req.probes,
                              **placing)
        doc = ranking.to_dict()
        doc["info"]["notes"] = [*doc["info"].get("notes", []), *notes]  # where Fennec.rank puts its own
        return {"zoo": served.name, "generation": served.generation, "task": doc["task"], "info": doc["info"],
                "notes": list(doc["info"].get("notes", [])), "models": doc["models"]}

    def next(self, served: ServedZoo, req: NextRequest) -> dict[str, Any]:
        """``POST /next``: the proposals as ``fennec next --json`` prints them, with the zoo."""
        card, placing, notes = self._placing(served, req)
        result = served.engine.suggest(card, known=dict(req.known) if req.known is not None else None,
                                       strategy=req.strategy, batch=req.batch, seed=req.seed, probes=req.probes,
                                       **placing)
        doc = result.to_dict()
        doc["notes"] = [*doc["notes"], *notes]
        return {"zoo": served.name, "generation": served.generation, **doc}

    def answer(self, kind: str, req: TaskRequest, served: ServedZoo | None = None) -> bytes:
        """The JSON answer of ``rank`` or ``next`` to ``req``, from the cache when it holds it."""
        served = served or self.zoos.get(self.zoo_name(req))
        key = self.cache_key(kind, served, req)
        cached = self.answers.get(key) if key else None
        if cached is not None:
            return cached
        body = dumps(self.rank(served, req) if kind == "rank" else self.next(served, req))  # type: ignore[arg-type]
        if key:
            self.answers.put(key, body)
        return body

    # -- writing ----------------------------------------------------------------------------------

    def check_token(self, authorization: str | None) -> None:
        """Refuse a write without ``Authorization: Bearer <token>`` (or when writes are off)."""
        import hmac

        if self.token is None:
            raise WritesDisabledError("writes are off on this server: start `fennec serve` with --token-file F "
                                      "(or $FENNEC_SERVE_TOKEN) to accept results")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise UnauthorizedError("send the server's token as `Authorization: Bearer <token>`")

    def add_results(self, name: str, req: ResultsRequest) -> dict[str, Any]:
        """``POST /zoos/{zoo}/results``: fold the results in, save, swap; what the update did."""
        from fennec_core.records import TaskCard

        cards = [TaskCard(c.task, c.num_classes, c.train_size, c.description) for c in req.tasks]
        if len({c.id for c in cards}) < len(cards):
            raise InputError("tasks: a task is described twice; give one card per task")
        rows = [(r.model, r.task, r.score) for r in req.results]
        report, served = self.zoos.add_results(name, rows, cards, refit_threshold=req.refit_threshold)
        return {"zoo": name, "generation": served.generation, "cells": len(rows),
                "new_tasks": list(report["new_tasks"]), "new_models": list(report["new_models"]),
                "refit": bool(report["refit"]), "reason": report.get("reason")}
