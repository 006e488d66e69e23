"""fennec: the Fennec pipeline itself as a ranker (transfer space + proxy mapping + meta score).

``Fennec(ranker="fennec")`` (the default) ranks through the engine's own path, which also gives
intervals, warm start and the score parts; this registration makes the pipeline one ranker
among others (``fennec plugins`` lists it beside ``model-spider`` and third-party rankers) and
lets code that only knows the Ranker protocol score with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fennec_core import hookimpl


class FennecPipelineRanker:
    """Scores of the engine's own pipeline for a task given by its proxy embeddings."""

    name = "fennec"

    def __init__(self, **_: Any) -> None:
        pass

    def fit(self, engine: Any) -> FennecPipelineRanker:
        """Nothing to learn beyond what the engine fitted."""
        return self

    def scores(self, engine: Any, task_embeddings: np.ndarray) -> np.ndarray:
        """Merged pipeline scores in the zoo's model order."""
        r = engine.rank(task_embeddings=task_embeddings)
        pos = {m: i for i, m in enumerate(r.model_ids)}
        return np.array([r.scores[pos[m]] for m in engine.history.model_ids])


@hookimpl
def fennec_register_rankers(register):
    """Register the Fennec pipeline as ``fennec``."""
    register("fennec", FennecPipelineRanker)
