"""graph2vec: whole-graph embeddings from Weisfeiler-Lehman subtree features (doc2vec).

Narayanan et al., "graph2vec: Learning Distributed Representations of Graphs", 2017
(https://arxiv.org/abs/1707.05005), through karateclub's ``Graph2Vec`` with the Fennec
paper's settings: attributed WL features (each node's ``feature`` label: op plus kernel,
stride, groups, dilation), ``wl_iterations=2``, ``dimensions=128``, ``epochs=100``;
deterministic with one worker and a seed. ``transform`` returns the fitted vectors for
graphs seen at ``fit`` (matched by model id and structure) and infers vectors for new ones
(doc2vec inference), so a new model gets a vector without refitting.

karateclub 1.3.3 pins old numpy/networkx/pandas; installed with ``--no-deps`` beside its real
dependencies it works on numpy 2 / networkx 3 (see the noxfile). It mutates the graphs it is
given (adds self-loops), so it only ever sees copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fennec_core import hookimpl
from fennec_core.errors import FennecError, MissingDependencyError
from fennec_core.records import ArchGraph


def _plain(graph: ArchGraph) -> Any:
    """A copy of the graph holding only what graph2vec hashes (node ``feature`` labels)."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from((n, {"feature": d.get("feature", d.get("op", "unknown"))}) for n, d in graph.graph.nodes(data=True))
    g.add_edges_from(graph.graph.edges())
    return g


def _key(graph: ArchGraph) -> tuple[Any, ...]:
    g = graph.graph
    return (tuple(d.get("feature") for _, d in sorted(g.nodes(data=True))), tuple(sorted(g.edges())))


class Graph2VecEncoder:
    """karateclub Graph2Vec with the paper's settings; ``transform`` infers unseen graphs."""

    requires = ('karateclub', 'gensim', 'networkx')  # what `fennec plugins` checks (plugin.requirements)
    install = "pip install 'fennec[archi]' && pip install --no-deps karateclub==1.3.3"

    name = "graph2vec"

    def __init__(self, *, dimensions: int = 128, wl_iterations: int = 2, epochs: int = 100, min_count: int = 5,
                 learning_rate: float = 0.025, seed: int = 0) -> None:
        self.dimensions, self.wl_iterations, self.epochs = int(dimensions), int(wl_iterations), int(epochs)
        self.min_count, self.learning_rate, self.seed = int(min_count), float(learning_rate), int(seed)
        self._model: Any = None
        self._seen: dict[tuple[Any, ...], np.ndarray] = {}

    def config(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {"dimensions": self.dimensions, "wl_iterations": self.wl_iterations, "epochs": self.epochs,
                "min_count": self.min_count, "learning_rate": self.learning_rate, "seed": self.seed}

    def fit(self, graphs: Sequence[ArchGraph]) -> Graph2VecEncoder:
        """Learn embeddings for a zoo of architecture graphs."""
        try:
            from karateclub import Graph2Vec
        except ImportError as exc:
            raise MissingDependencyError(
                "graph2vec needs karateclub: pip install --no-deps karateclub==1.3.3 gensim python-louvain "
                f"pygsp pandas six ({exc})") from None
        if len(graphs) < 2:
            raise FennecError("graph2vec: fit needs at least 2 graphs")
        model = Graph2Vec(wl_iterations=self.wl_iterations, attributed=True, dimensions=self.dimensions, workers=1,
                          epochs=self.epochs, min_count=self.min_count, learning_rate=self.learning_rate,
                          seed=self.seed)
        model.fit([_plain(g) for g in graphs])
        emb = np.asarray(model.get_embedding(), dtype=np.float64)
        self._model = model
        self._seen = {_key(g): emb[i] for i, g in enumerate(graphs)}
        return self

    def transform(self, graphs: Sequence[ArchGraph]) -> np.ndarray:
        """One vector per graph: the fitted one for a graph seen at fit, else inferred."""
        if self._model is None:
            raise FennecError("graph2vec: call fit on a zoo of graphs before transform")
        out = np.zeros((len(graphs), self.dimensions))
        new = [i for i, g in enumerate(graphs) if _key(g) not in self._seen]
        for i, g in enumerate(graphs):
            if i not in new:
                out[i] = self._seen[_key(g)]
        if new:
            out[new] = np.asarray(self._model.infer([_plain(graphs[i]) for i in new]), dtype=np.float64)
        return out


@hookimpl
def fennec_register_graph_encoders(register):
    """Register karateclub's Graph2Vec as ``graph2vec``."""
    register("graph2vec", Graph2VecEncoder)
