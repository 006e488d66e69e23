"""What each endpoint answers, as plain data, independent of the web framework.

:class:`Service` turns validated requests (:mod:`fennec_core.serve.schemas`) into the
:class:`fennec_core.task.request.TaskRequest` that ``fennec rank`` and ``fennec next`` make too,
hands it to the engine (which places it: :func:`fennec_core.task.request.place`) and serialises
the answer. What keeps a long-lived process fast lives where the CLI has it as well: the engine
builds its text proxy once and places a description once per zoo generation; the service only
caches answers by (zoo, generation, request), so a write, which changes the generation, is
reflected by the very next request.
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
from fennec_core.serve.state import LRU, ServedZoo, ZooSet

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

    # -- reading ----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        return {"status": "ok", "version": __version__, "pid": os.getpid(), "zoos": self.zoos.names(),
                "writes": self.token is not None}

    def summary(self, served: ServedZoo) -> dict[str, Any]:
        """One zoo's entry in ``GET /zoos``."""
        from fennec_core.io import catalog
        from fennec_core.io.summary import zoo_summary

        doc = zoo_summary(served.engine, limit=0)
        entry = catalog.get(served.spec.bundled) if served.spec.bundled else None
        return {"name": served.name, "models": doc["models"], "tasks": doc["tasks"], "observed": doc["observed"],
                "generation": served.generation, "bundled": served.spec.bundled, "title": entry.title if entry else None,
                "writable": self.token is not None and catalog.bundled_entry(served.spec.path) is None,
                "describable": doc["describable"]}

    def zoo_list(self) -> dict[str, Any]:
        """``GET /zoos``."""
        return {"default": self.settings.default_zoo,
                "zoos": [self.summary(self.zoos.get(name)) for name in self.zoos.names()]}

    def zoo_detail(self, name: str, offset: int, limit: int) -> dict[str, Any]:
        """``GET /zoos/{zoo}``: what ``fennec zoo info`` shows (:func:`fennec_core.io.summary.zoo_summary`),
        a page of tasks and a page of models (same window)."""
        from fennec_core.io.summary import zoo_summary

        served = self.zoos.get(name)
        return {**self.summary(served), **zoo_summary(served.engine, offset=offset, limit=limit)}

    # -- ranking ----------------------------------------------------------------------------------

    def zoo_name(self, req: TaskRequest) -> str:
        """The zoo a request names, or the default one."""
        return req.zoo or self.settings.default_zoo

    def cache_key(self, kind: str, served: ServedZoo, req: TaskRequest) -> tuple[str, ...] | None:
        """The answer cache's key of a request on a snapshot, or None when it is not cached."""
        text = req.model_dump_json(exclude={"zoo"})
        return None if len(text) > CACHE_KEY_CHARS else (kind, served.name, str(served.generation), text)

    def request(self, req: TaskRequest) -> Any:
        """The :class:`fennec_core.task.request.TaskRequest` of a parsed request (what places the
        task is :func:`fennec_core.task.request.place`'s job, as for the CLI and the Python API)."""
        from fennec_core.task.request import TaskRequest as Request

        if req.description is not None and req.embeddings is not None:
            raise InputError("give one of description, embeddings (got both)")
        embeddings = None
        if req.embeddings is not None:
            if len({len(row) for row in req.embeddings}) > 1:
                raise InputError("embeddings: every row must have the same length (an [n_items, d] array)")
            embeddings = np.asarray(req.embeddings, dtype=np.float32)
        return Request(req.task, num_classes=req.num_classes, train_size=req.train_size, card=req.card or None,
                       known=dict(req.known) if req.known is not None else None, task_embeddings=embeddings,
                       description=req.description,
                       probes={m: dict(v) for m, v in req.probes.items()} if req.probes else None)

    def rank(self, served: ServedZoo, req: RankRequest) -> dict[str, Any]:
        """``POST /rank``: the ranking as ``fennec rank --json`` prints it, with the zoo."""
        from fennec_core.scoring.filters import from_options

        where = from_options(max_params=req.max_params, license=req.license, open_weights=req.open_weights,
                             min_max_tokens=req.min_max_tokens, where=req.where) or None
        doc = served.engine.rank(self.request(req), top=req.top, explore=req.explore, where=where).to_dict()
        return {"zoo": served.name, "generation": served.generation, "task": doc["task"], "info": doc["info"],
                "notes": list(doc["info"].get("notes", [])), "models": doc["models"]}

    def next(self, served: ServedZoo, req: NextRequest) -> dict[str, Any]:
        """``POST /next``: the proposals as ``fennec next --json`` prints them, with the zoo."""
        result = served.engine.suggest(self.request(req), strategy=req.strategy, batch=req.batch, seed=req.seed)
        return {"zoo": served.name, "generation": served.generation, **result.to_dict()}

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
