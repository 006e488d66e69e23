"""Architecture graphs as plain arrays + JSON (for stores and the on-disk cache), their
content hash, and a cache of captured architectures keyed by a hash of the architecture.

A graph is reduced to what the graph encoders read: per node the op, the ``feature`` label
graph2vec hashes, and the numeric attributes the GIN reads (kernel area, stride product,
groups, in/out channels, out features, parameters), plus the edge list. Packing and unpacking
is lossless for those, so an encoder gives the same vector for a graph before and after a
round trip through a store (tested). Nothing is pickled.

The cache (:class:`ArchCache`) saves building and capturing an architecture again: its key
hashes the architecture reference together with the versions of torch and of the library
that builds it (pytorchcv, timm, or the module of a ``py:`` reference), so an upgrade that may
change the architecture misses the cache instead of serving a stale graph.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fennec_core.errors import StoreError
from fennec_core.records import ArchGraph

NUMERIC_ATTRS = ("kernel", "stride", "groups", "in_channels", "out_channels", "out_features", "params")
CACHE_VERSION = 2


def _scalar(value: Any) -> int:
    if isinstance(value, list | tuple):
        return int(np.prod([int(v) for v in value])) if value else 1
    return int(value)


def graph_table(graph: ArchGraph) -> dict[str, Any]:
    """One graph as JSON-ready lists: ``op``, ``feature``, numeric attribute columns, ``edges``."""
    nodes = sorted(graph.graph.nodes(data=True))
    if [n for n, _ in nodes] != list(range(len(nodes))):
        raise StoreError(f"{graph.model_id}: graph nodes must be numbered 0..n-1")
    table: dict[str, Any] = {
        "model_id": graph.model_id,
        "source": graph.source,
        "op": [str(d.get("op", "unknown")) for _, d in nodes],
        "feature": [str(d.get("feature", d.get("op", "unknown"))) for _, d in nodes],
        "edges": [[int(a), int(b)] for a, b in sorted(graph.graph.edges())],
    }
    for key in NUMERIC_ATTRS:
        table[key] = [_scalar(d[key]) if key in d else -1 for _, d in nodes]
    return table


def graph_from_table(table: Mapping[str, Any]) -> ArchGraph:
    """Rebuild an ArchGraph from :func:`graph_table` output (absent attributes stay absent)."""
    import networkx as nx

    try:
        g = nx.DiGraph()
        n = len(table["op"])
        for i in range(n):
            attrs = {"op": table["op"][i], "feature": table["feature"][i]}
            attrs.update({k: int(table[k][i]) for k in NUMERIC_ATTRS if int(table[k][i]) >= 0})
            g.add_node(i, **attrs)
        g.add_edges_from((int(a), int(b)) for a, b in table["edges"])
        if g.number_of_nodes() != n:
            raise ValueError("edges name nodes outside 0..n-1")
        return ArchGraph(str(table["model_id"]), g, str(table.get("source", "unknown")))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise StoreError(f"stored architecture graph is malformed ({type(exc).__name__}: {exc})") from None


def graph_hash(graph: ArchGraph) -> str:
    """SHA-256 of a graph's content (ops, labels, attributes, edges), independent of its model id."""
    table = graph_table(graph)
    table.pop("model_id")
    table.pop("source")
    return hashlib.sha256(json.dumps(table, sort_keys=True).encode()).hexdigest()


def pack_graphs(graphs: Sequence[ArchGraph]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Many graphs as concatenated int arrays plus a JSON part (vocabularies, ids, offsets)."""
    if isinstance(graphs, PackedGraphs):
        return dict(graphs.arrays), dict(graphs.meta)
    tables = [graph_table(g) for g in graphs]
    ops = sorted({o for t in tables for o in t["op"]})
    feats = sorted({f for t in tables for f in t["feature"]})
    op_id, feat_id = {o: i for i, o in enumerate(ops)}, {f: i for i, f in enumerate(feats)}
    node_counts = [len(t["op"]) for t in tables]
    edge_counts = [len(t["edges"]) for t in tables]
    cols = [np.concatenate([[op_id[o] for o in t["op"]] for t in tables]).astype(np.int64),
            np.concatenate([[feat_id[f] for f in t["feature"]] for t in tables]).astype(np.int64)]
    cols += [np.concatenate([t[k] for t in tables]).astype(np.int64) for k in NUMERIC_ATTRS]
    edges = np.concatenate([np.asarray(t["edges"], dtype=np.int64).reshape(-1, 2) for t in tables])
    arrays = {"nodes": np.stack(cols, axis=1), "edges": edges}
    meta = {"model_ids": [t["model_id"] for t in tables], "sources": [t["source"] for t in tables],
            "ops": ops, "features": feats, "node_counts": node_counts, "edge_counts": edge_counts,
            "columns": ["op", "feature", *NUMERIC_ATTRS]}
    return arrays, meta


def _offsets(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> tuple[np.ndarray, ...]:
    """(nodes, edges, node offsets, edge offsets) of packed graphs, checked against each other."""
    nodes, edges = np.asarray(arrays["nodes"]), np.asarray(arrays["edges"])
    n_off = np.concatenate([[0], np.cumsum(meta["node_counts"])]).astype(int)
    e_off = np.concatenate([[0], np.cumsum(meta["edge_counts"])]).astype(int)
    if n_off[-1] != len(nodes) or e_off[-1] != len(edges) or len(meta["node_counts"]) != len(meta["model_ids"]):
        raise ValueError("node/edge counts do not match the arrays")
    return nodes, edges, n_off, e_off


def unpack_graphs(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> list[ArchGraph]:
    """Inverse of :func:`pack_graphs`."""
    try:
        nodes, edges, n_off, e_off = _offsets(arrays, meta)
        out = []
        for i, mid in enumerate(meta["model_ids"]):
            block = nodes[n_off[i]:n_off[i + 1]]
            table: dict[str, Any] = {"model_id": mid, "source": meta["sources"][i],
                                     "op": [meta["ops"][j] for j in block[:, 0]],
                                     "feature": [meta["features"][j] for j in block[:, 1]],
                                     "edges": edges[e_off[i]:e_off[i + 1]].tolist()}
            for c, key in enumerate(NUMERIC_ATTRS):
                table[key] = block[:, 2 + c].tolist()
            out.append(graph_from_table(table))
        return out
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise StoreError(f"stored architecture graphs are malformed ({type(exc).__name__}: {exc})") from None


class PackedGraphs(Sequence[ArchGraph]):
    """Graphs as a store keeps them (:func:`pack_graphs`), unpacked on first use.

    Loading a zoo then neither imports networkx nor builds graphs that ranking never reads;
    saving it again writes the packed arrays back as they are. The counts are checked now
    (a malformed store fails at load), each graph's content when it is unpacked.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
                 sha256: Sequence[str] | None = None) -> None:
        try:
            _offsets(arrays, meta)
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"stored architecture graphs are malformed ({type(exc).__name__}: {exc})") from None
        self.arrays, self.meta = dict(arrays), dict(meta)
        self.sha256 = list(sha256) if sha256 is not None and len(sha256) == len(meta["model_ids"]) else None
        self._graphs: list[ArchGraph] | None = None

    @property
    def model_ids(self) -> list[str]:
        """The graphs' model ids, without unpacking them."""
        return [str(m) for m in self.meta["model_ids"]]

    def unpacked(self) -> list[ArchGraph]:
        """The graphs (unpacked once)."""
        if self._graphs is None:
            self._graphs = unpack_graphs(self.arrays, self.meta)
        return self._graphs

    def __len__(self) -> int:
        return len(self.meta["model_ids"])

    def __getitem__(self, index: Any) -> Any:
        return self.unpacked()[index]


def _library_version(reference: str) -> str:
    import importlib.metadata as md

    scheme, _, rest = reference.partition(":")
    dist = {"pytorchcv": "pytorchcv", "timm": "timm"}.get(scheme)
    if dist is None and scheme == "py":
        dist = rest.split(":", 1)[0].split(".", 1)[0]
    try:
        return f"{dist}=={md.version(dist)}" if dist else ""
    except md.PackageNotFoundError:
        return f"{dist}==local"


def architecture_key(reference: str, input_size: int | None = None) -> str:
    """Cache key of an architecture: hash of the reference, input size, torch and builder versions."""
    import torch

    text = json.dumps([CACHE_VERSION, reference, input_size, torch.__version__, _library_version(reference)])
    return hashlib.sha256(text.encode()).hexdigest()


def default_cache_dir() -> Path:
    """``$FENNEC_CACHE_DIR``, else ``$XDG_CACHE_HOME/fennec``, else ``~/.cache/fennec``."""
    if os.environ.get("FENNEC_CACHE_DIR"):
        return Path(os.environ["FENNEC_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fennec"


class ArchCache:
    """Captured architectures (graph + meta features) on disk, one JSON file per architecture key."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir() / "architectures"
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, reference: str, input_size: int | None = None) -> tuple[ArchGraph, dict[str, float]] | None:
        """The cached (graph, features) of ``reference``, or None (a damaged entry counts as a miss)."""
        path = self._path(architecture_key(reference, input_size))
        try:
            entry = json.loads(path.read_text())
            graph = graph_from_table(entry["graph"])
            feats = {str(k): float(v) for k, v in entry["features"].items()}
        except (OSError, ValueError, KeyError, TypeError, StoreError):  # missing or damaged: a miss
            self.misses += 1
            return None
        self.hits += 1
        return graph, feats

    def put(self, reference: str, graph: ArchGraph, features: Mapping[str, float],
            input_size: int | None = None) -> None:
        """Store an architecture's graph and features (atomic: a partial file is never read)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(architecture_key(reference, input_size))
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"reference": reference, "graph": graph_table(graph),
                                   "features": dict(features), "graph_sha256": graph_hash(graph)}))
        os.replace(tmp, path)
