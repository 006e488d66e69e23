"""dgl-gin: a Graph Isomorphism Network over architecture graphs, trained without labels
(graph contrastive learning) or, when model transfer vectors exist, supervised on them.

Xu et al., "How Powerful are Graph Neural Networks?" (ICLR 2019, https://arxiv.org/abs/1810.00826)
for the GIN layers and the per-layer sum-readout concatenation; You et al., "Graph Contrastive
Learning with Augmentations" (NeurIPS 2020, https://arxiv.org/abs/2010.13902) for the
self-supervised objective: two views of each graph (node dropping + attribute masking), an
NT-Xent loss that pulls the two views of one architecture together and pushes other
architectures away.

Why two objectives. graph2vec and the contrastive GIN learn what makes architectures *look*
alike; the supervised GIN (``fit(graphs, targets=U)``) learns what makes them *transfer*
alike, from the model vectors of a fitted zoo, so a new architecture's vector lands where
models that transfer like it sit. The supervised encoder must only ever see the targets of
models whose rows are not being evaluated (the benchmark trains it inside each fold).
Measured against graph2vec in docs/archi2vec.md.

Node inputs: a one-hot over the normalised op vocabulary of :mod:`fennec_core.architecture.graph`
(unknown ops share one ``other`` slot), plus log-scaled kernel area, stride, groups, a
depthwise flag, output channels/features and the op's parameter count. Edges are used in both
directions. dgl 1.1.3 (pinned in pyproject.toml's ``archi`` extra) imports beside the torch 2.14.1
that ``noxfile.py`` installs for it; the
state is a torch ``state_dict`` kept as arrays, so a fitted encoder is stored without pickle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fennec_core import hookimpl
from fennec_core.errors import FennecError, MissingDependencyError
from fennec_core.plugin_api import OP_VOCABULARY
from fennec_core.records import ArchGraph

OPS: tuple[str, ...] = (*sorted(set(OP_VOCABULARY.values())), "other")
_OP_INDEX = {op: i for i, op in enumerate(OPS)}
NUMERIC = ("kernel_area", "stride", "groups", "depthwise", "out_channels", "params")


def _import_dgl() -> Any:
    import os

    os.environ.setdefault("DGLBACKEND", "pytorch")  # else dgl prints a notice on every first import
    try:
        import dgl
    except ImportError as exc:
        raise MissingDependencyError(f"dgl-gin needs dgl: pip install dgl==1.1.3 ({exc})") from None
    return dgl


def _first(value: Any) -> float:
    if isinstance(value, list | tuple):
        return float(np.prod([float(v) for v in value])) if value else 1.0
    return float(value)


def node_inputs(graph: ArchGraph) -> np.ndarray:
    """Input features of each node (op one-hot + log-scaled attributes), float32 [n, len(OPS)+6]."""
    nodes = sorted(graph.graph.nodes(data=True))
    x = np.zeros((len(nodes), len(OPS) + len(NUMERIC)), dtype=np.float32)
    for i, (_, d) in enumerate(nodes):
        x[i, _OP_INDEX.get(d.get("op", "other"), _OP_INDEX["other"])] = 1.0
        k = len(OPS)
        kernel = _first(d.get("kernel", 1))
        stride = _first(d.get("stride", 1))
        groups = float(d.get("groups", 1))
        out = float(d.get("out_channels", d.get("out_features", 0)))
        x[i, k:] = (math.log2(max(kernel, 1.0)), math.log2(max(stride, 1.0)), math.log2(max(groups, 1.0)),
                    float(groups > 1 and groups == d.get("in_channels")), math.log2(1 + out) / 8,
                    math.log10(1 + float(d.get("params", 0))) / 4)
    return x


class _GIN:
    """The network: GIN layers with MLPs, batch-free (LayerNorm), sum readout of every layer."""

    def __new__(cls, in_dim: int, hidden: int, layers: int, out_dim: int, targets: int) -> Any:
        import torch
        from dgl.nn import GINConv, SumPooling

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.inp = torch.nn.Linear(in_dim, hidden)
                self.convs = torch.nn.ModuleList(
                    GINConv(torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                                                torch.nn.Linear(hidden, hidden)), learn_eps=True)
                    for _ in range(layers))
                self.norms = torch.nn.ModuleList(torch.nn.LayerNorm(hidden) for _ in range(layers))
                self.pool = SumPooling()
                self.out = torch.nn.Linear(hidden * (layers + 1), out_dim)
                self.head = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(out_dim, targets or out_dim))

            def embed(self, g: Any, x: Any) -> Any:
                h = self.inp(x)
                reads = [self.pool(g, h)]
                for conv, norm in zip(self.convs, self.norms, strict=True):
                    h = torch.relu(norm(conv(g, h)))
                    reads.append(self.pool(g, h))
                # log-scale the sums so huge graphs do not dominate (sizes span 30x on the benchmark)
                z = torch.cat(reads, dim=1)
                return self.out(torch.sign(z) * torch.log1p(z.abs()))

        return Net()


class DglGinEncoder:
    """GIN graph encoder; ``fit(graphs)`` is contrastive, ``fit(graphs, targets=...)`` supervised."""

    requires = ('dgl', 'torch')  # what `fennec plugins` checks (plugin.requirements)
    install = "pip install 'fennec[archi]' (dgl==1.1.3)"

    name = "dgl-gin"

    def __init__(self, *, dimensions: int = 64, hidden: int = 64, layers: int = 3, epochs: int = 100,
                 learning_rate: float = 1e-3, temperature: float = 0.5, drop_nodes: float = 0.2,
                 mask_features: float = 0.2, seed: int = 0, device: str = "cpu", progress: bool = False) -> None:
        self.dimensions, self.hidden, self.layers, self.epochs = int(dimensions), int(hidden), int(layers), int(epochs)
        self.learning_rate, self.temperature = float(learning_rate), float(temperature)
        self.drop_nodes, self.mask_features, self.seed, self.device = float(drop_nodes), float(mask_features), \
            int(seed), device
        self.progress = bool(progress)  # a bar over the training epochs (not part of the config)
        self._net: Any = None
        self._targets = 0
        self.objective = ""

    def config(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {"dimensions": self.dimensions, "hidden": self.hidden, "layers": self.layers, "epochs": self.epochs,
                "learning_rate": self.learning_rate, "temperature": self.temperature, "drop_nodes": self.drop_nodes,
                "mask_features": self.mask_features, "seed": self.seed}

    def _batch(self, graphs: Sequence[ArchGraph]) -> tuple[Any, Any]:
        dgl = _import_dgl()
        import torch

        gs, xs = [], []
        for graph in graphs:
            n = graph.graph.number_of_nodes()
            edges = np.asarray(list(graph.graph.edges()), dtype=np.int64).reshape(-1, 2)
            src = np.concatenate([edges[:, 0], edges[:, 1]])
            dst = np.concatenate([edges[:, 1], edges[:, 0]])
            gs.append(dgl.graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=n))
            xs.append(torch.from_numpy(node_inputs(graph)))
        return dgl.batch(gs).to(self.device), torch.cat(xs).to(self.device)

    def _augment(self, g: Any, x: Any, gen: Any) -> tuple[Any, Any]:
        """One random view: drop a fraction of nodes (never all of a graph) and mask attributes."""
        import dgl
        import torch

        keep = torch.rand(g.num_nodes(), generator=gen) >= self.drop_nodes
        # keep each graph's first node so no graph vanishes from the batch
        starts = torch.cumsum(g.batch_num_nodes(), 0) - g.batch_num_nodes()
        keep[starts] = True
        sub = dgl.node_subgraph(g, torch.nonzero(keep).squeeze(1), store_ids=True)
        # a subgraph of a batch forgets the batch: give each graph its kept nodes and edges back
        graph_of_node = torch.repeat_interleave(torch.arange(g.batch_size), g.batch_num_nodes())
        graph_of_edge = graph_of_node[g.edges()[0][sub.edata[dgl.EID]]]
        sub.set_batch_num_nodes(torch.bincount(graph_of_node[keep], minlength=g.batch_size))
        sub.set_batch_num_edges(torch.bincount(graph_of_edge, minlength=g.batch_size))
        xv = x[keep].clone()
        xv[torch.rand(xv.shape, generator=gen) < self.mask_features] = 0.0
        return sub, xv

    def fit(self, graphs: Sequence[ArchGraph], targets: np.ndarray | None = None) -> DglGinEncoder:
        """Train on a zoo of graphs: contrastive, or regression onto ``targets`` (one row per graph)."""
        import torch
        from tqdm.auto import tqdm

        if len(graphs) < 2:
            raise FennecError("dgl-gin: fit needs at least 2 graphs")
        if targets is not None:
            targets = np.asarray(targets, dtype=np.float32)
            if targets.ndim != 2 or len(targets) != len(graphs) or not np.isfinite(targets).all():
                raise FennecError(f"dgl-gin: targets must be a finite [graphs={len(graphs)}, k] array, "
                                  f"got shape {targets.shape}")
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        g, x = self._batch(graphs)
        _import_dgl()
        self._targets = 0 if targets is None else targets.shape[1]
        net = _GIN(x.shape[1], self.hidden, self.layers, self.dimensions, self._targets).to(self.device)
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        n = len(graphs)
        if targets is not None:
            mu, sd = targets.mean(0), targets.std(0) + 1e-6
            y = torch.from_numpy((targets - mu) / sd).to(self.device)
        for _ in tqdm(range(self.epochs), desc="dgl-gin", disable=not self.progress, leave=False):
            opt.zero_grad()
            if targets is not None:
                loss = torch.nn.functional.mse_loss(net.head(net.embed(*self._augment(g, x, gen))), y)
            else:
                z1 = torch.nn.functional.normalize(net.head(net.embed(*self._augment(g, x, gen))), dim=1)
                z2 = torch.nn.functional.normalize(net.head(net.embed(*self._augment(g, x, gen))), dim=1)
                z = torch.cat([z1, z2])
                sim = z @ z.T / self.temperature
                sim.fill_diagonal_(float("-inf"))
                pos = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(self.device)
                loss = torch.nn.functional.cross_entropy(sim, pos)
            loss.backward()
            opt.step()
        net.eval()
        self._net = net
        self.objective = "contrastive" if targets is None else "supervised"
        return self

    def transform(self, graphs: Sequence[ArchGraph]) -> np.ndarray:
        """One vector per graph (the readout before the training head); deterministic.

        Graphs are embedded one at a time, so a graph's vector never depends on which other
        graphs share the call (batched float sums would differ in the last bits).
        """
        import torch

        if self._net is None:
            raise FennecError("dgl-gin: call fit on a zoo of graphs before transform")
        out = np.zeros((len(graphs), self.dimensions))
        with torch.no_grad():
            for i, graph in enumerate(graphs):
                out[i] = self._net.embed(*self._batch([graph]))[0].cpu().numpy()
        return out

    def state(self) -> dict[str, np.ndarray]:
        """The fitted network as named arrays (stored in a zoo without pickle)."""
        if self._net is None:
            raise FennecError("dgl-gin: nothing fitted to save")
        arrays = {k: v.detach().cpu().numpy() for k, v in self._net.state_dict().items()}
        arrays["_targets"] = np.asarray([self._targets])
        return arrays

    def load_state(self, arrays: Mapping[str, np.ndarray]) -> DglGinEncoder:
        """Restore a network saved by :meth:`state` (arrays only)."""
        import torch

        _import_dgl()
        self._targets = int(np.asarray(arrays["_targets"])[0])
        in_dim = len(OPS) + len(NUMERIC)
        net = _GIN(in_dim, self.hidden, self.layers, self.dimensions, self._targets)
        try:
            net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k != "_targets"})
        except RuntimeError as exc:
            raise FennecError(f"dgl-gin: stored weights do not fit this configuration ({exc})") from None
        net.eval()
        self._net = net.to(self.device)
        return self


@hookimpl
def fennec_register_graph_encoders(register):
    """Register the DGL GIN encoder as ``dgl-gin``."""
    register("dgl-gin", DglGinEncoder)
