"""What a loaded zoo holds, as one JSON-ready document: ``fennec zoo info`` prints it and the
server's ``GET /zoos/{zoo}`` sends it (each adds only where the zoo comes from)."""

from __future__ import annotations

import math
from typing import Any


def zoo_summary(engine: Any, *, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    """Counts, settings (factorizer, latent size ``k``, normalisation, merger, ranker), the task
    proxy, and a window (``offset``, ``limit``; None: all) of the tasks with their cards and of
    the models with their features, of ``engine``'s fitted zoo."""
    from fennec_core.plugin.contracts import latent_size

    zoo = engine.check_is_fitted()
    hist = zoo.history
    per_task, per_model = hist.task_counts(), hist.model_counts()
    stop = None if limit is None else offset + limit
    tasks = []
    for j, t in list(enumerate(hist.task_ids))[offset:stop]:
        card = zoo.tasks.get(t)
        tasks.append({"task": t, "observed_models": int(per_task[j]),
                      "num_classes": card.num_classes if card else None,
                      "train_size": card.train_size if card else None,
                      "description": card.description if card else None,
                      "meta": dict(card.meta) if card else {}})
    models = []
    for i, m in list(enumerate(hist.model_ids))[offset:stop]:
        card = zoo.models.get(m)
        models.append({"model": m, "observed_tasks": int(per_model[i]),
                       "architecture": card.architecture if card else None,
                       "predicted": m in zoo.predicted_models,
                       "meta": {k: v for k, v in (card.meta if card else {}).items() if math.isfinite(v)}})
    described = [t for t in hist.task_ids if zoo.tasks.get(t) is not None and zoo.tasks[t].description]
    return {
        "models": len(hist.model_ids), "tasks": len(hist.task_ids), "observed": hist.nnz,
        "models_without_history": len(zoo.predicted_models),
        "factorizer": engine.factorizer, "k": latent_size(zoo.factors, engine.components.factorizer),
        "normalization": engine.resolved_normalization, "score_merger": engine.score_merger, "ranker": engine.ranker,
        "model_features": zoo.model_feature_names(),
        "task_proxy": (zoo.proxy or {}).get("name"), "tasks_with_embeddings": sorted(zoo.task_embeddings),
        "describable": len(described) >= 2,
        "described_tasks": [t for t in zoo.tasks if t not in hist.task_ids],
        "task_table": {"total": len(hist.task_ids), "offset": offset,
                       "limit": len(hist.task_ids) if limit is None else limit, "items": tasks},
        "model_table": {"total": len(hist.model_ids), "offset": offset,
                        "limit": len(hist.model_ids) if limit is None else limit, "items": models},
    }
