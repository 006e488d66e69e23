"""Typed protocols, one per component kind: what a plugin's factory must return.

They are deliberately small. Components return numpy arrays (or torch tensors where noted),
never pickles, so that a fitted zoo can be stored as plain arrays and JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from fennec_core.records import ArchGraph, Factors


@runtime_checkable
class Factorizer(Protocol):
    """Splits a masked history matrix ``P`` (m models x n tasks) into ``U V^T``."""

    def fit(self, P: np.ndarray, mask: np.ndarray) -> Factors:
        """Factorize ``P`` using only cells where ``mask`` is True."""
        ...

    def fold_in(self, factors: Factors, observed: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Return the vector (k,) of a new task from its observed scores (m,) under ``mask``."""
        ...


@runtime_checkable
class ScoreMerger(Protocol):
    """Combines per-model score parts (``transfer``, ``meta``, ...) into one final score."""

    def merge(self, parts: Mapping[str, np.ndarray]) -> np.ndarray:
        """Merge arrays of equal shape (..., m) into the final score (..., m)."""
        ...


@runtime_checkable
class GraphEncoder(Protocol):
    """Maps architecture graphs to fixed-size vectors."""

    def fit(self, graphs: Sequence[ArchGraph]) -> GraphEncoder:
        """Learn the encoding from a zoo of graphs."""
        ...

    def transform(self, graphs: Sequence[ArchGraph]) -> np.ndarray:
        """Return one vector per graph, shape (len(graphs), d)."""
        ...


@runtime_checkable
class TaskProxy(Protocol):
    """Embeds a task's unlabeled inputs (images, text) with a large pretrained model."""

    def embed(self, inputs: Any) -> np.ndarray:
        """Return per-item embeddings, shape (n_items, d)."""
        ...


@runtime_checkable
class Estimator(Protocol):
    """A forward-pass transferability score (LogME, LEEP, ...): higher transfers better."""

    def score(self, *, features: np.ndarray, labels: np.ndarray, probs: np.ndarray | None = None) -> float:
        """Score penultimate-layer ``features`` [n, d] against integer ``labels`` [n]."""
        ...


PROTOCOLS: dict[str, type] = {
    "graph_encoder": GraphEncoder,
    "task_proxy": TaskProxy,
    "factorizer": Factorizer,
    "score_merger": ScoreMerger,
    "estimator": Estimator,
}


@runtime_checkable
class Ranker(Protocol):
    """A whole ranking method behind ``Fennec(ranker=NAME)``: fitted on a fitted engine."""

    def fit(self, engine: Any) -> Ranker:
        """Learn from the engine's history, model vectors and features, and task embeddings."""
        ...

    def scores(self, engine: Any, task_embeddings: np.ndarray) -> np.ndarray:
        """One score per model of ``engine`` (higher is better) for a task given by its embeddings."""
        ...
