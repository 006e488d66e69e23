"""Architecture features for model cards: meta features and archi2vec vectors from each
model's ``architecture`` reference (``pytorchcv:NAME``, ``timm:NAME``, ``py:MODULE:CALLABLE``).

Every architecture is built on the meta device (no weights), captured as a graph and described
(:func:`fennec_core.model_meta.describe_model`: log10 parameters, conv + linear layers, depth,
log10 FLOPs, input size); a graph encoder plugin (``graph2vec`` by default) embeds the graphs,
and the vectors enter the cards either as their first ``dims`` principal components
(``arch_pc_<i>``; 128 raw dimensions would swamp a linear meta model fitted on a few dozen
models) or, as in the paper, as a one-hot KMeans cluster id (``arch_cluster_<i>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fennec_core.errors import InputError
from fennec_core.records import ModelCard


def encode_architectures(
    cards: Sequence[ModelCard],
    *,
    encoder: str = "graph2vec",
    encoder_config: dict[str, Any] | None = None,
    dims: int = 4,
    clusters: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> list[ModelCard]:
    """Cards with architecture meta features and archi2vec features added (others unchanged)."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from tqdm.auto import tqdm

    from fennec_core import registry
    from fennec_core.model_meta import describe_model
    from fennec_core.model_sources import build_architecture

    with_arch = [c for c in cards if c.architecture]
    if len(with_arch) < 2:
        raise InputError("architecture features need at least 2 models with an `architecture` column "
                         "(e.g. pytorchcv:resnet50) in the models table")
    graphs, feats = [], []
    for card in tqdm(with_arch, desc="architectures", disable=not progress, leave=False):
        graph, f = describe_model(build_architecture(card.architecture), model_id=card.id, source=card.architecture)
        graphs.append(graph)
        feats.append(f)
    enc = registry.create("graph_encoder", encoder, **(encoder_config or {}))
    vectors = enc.fit(graphs).transform(graphs)
    if clusters:
        labels = KMeans(n_clusters=clusters, random_state=seed, n_init=10).fit_predict(vectors)
        extra = [{f"arch_cluster_{k}": float(labels[i] == k) for k in range(clusters)} for i in range(len(graphs))]
    else:
        k = min(dims, len(graphs) - 1, vectors.shape[1])
        pcs = PCA(n_components=k, random_state=seed).fit_transform(vectors)
        extra = [{f"arch_pc_{j}": float(pcs[i, j]) for j in range(k)} for i in range(len(graphs))]
    by_id = {c.id: (f, e) for c, f, e in zip(with_arch, feats, extra, strict=True)}
    out = []
    for card in cards:
        if card.id in by_id:
            f, e = by_id[card.id]
            out.append(ModelCard(card.id, card.architecture, {**card.meta, **f, **e}))
        else:
            out.append(card)
    return out

