"""Architecture features for model cards: meta features and archi2vec vectors from each
model's ``architecture`` reference (``pytorchcv:NAME``, ``timm:NAME``, ``py:MODULE:CALLABLE``).

Every architecture is built on the meta device (no weights), captured as a graph and described
(:func:`fennec_core.architecture.features.describe_model`: log10 parameters, conv + linear layers, depth,
log10 FLOPs, input size); captures are cached on disk by a hash of the architecture
(:class:`fennec_core.architecture.graph_io.ArchCache`), so re-encoding a zoo only captures what is new.
A graph encoder plugin (``graph2vec`` by default) embeds the graphs, and the vectors enter the
cards either as their first ``dims`` principal components (``arch_pc_<i>``; 128 raw dimensions
would swamp a linear meta model fitted on a few dozen models) or, as in the paper, as a one-hot
KMeans cluster id (``arch_cluster_<i>``).

The meta features are computed whenever models come with an ``architecture`` (``fit`` and
``evaluate``, with or without a graph encoder: :func:`architecture_features`); a models table's
own columns of the same names win, and a card that has all of them is not built at all (the
bundled zoo's table has them). A graph encoder (``--archi``) adds the archi2vec vectors.

:class:`ArchiEncoding` keeps what a zoo needs to give a *new* model the same features later:
the zoo's graphs, their vectors, the projection (PCA or KMeans) and the encoder's state when it
has one as arrays (``dgl-gin``); encoders without one (``graph2vec``: a gensim model) are refit
on the stored graphs, deterministically, and must reproduce the stored vectors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from fennec_core.errors import FennecError, InputError, StoreError
from fennec_core.records import ArchGraph, ModelCard

#: The meta features :func:`fennec_core.architecture.features.describe_model` computes.
ARCH_FEATURES = ("log10_params", "conv_linear_layers", "depth", "log10_flops", "input_size")
#: Card features that come from an archi2vec encoding (replaced when a new encoding is fitted).
ARCHI2VEC_PREFIXES = ("arch_pc_", "arch_cluster_")


def describe_architecture(reference: str, model_id: str | None = None, *,
                          cache: Any = None) -> tuple[ArchGraph, dict[str, float]]:
    """(graph, meta features) of an architecture reference, from ``cache`` when it has it."""
    from fennec_core.architecture.features import describe_model
    from fennec_core.architecture.sources import build_architecture, check_runnable

    check_runnable(reference)  # before the cache: a store naming code is refused whether or not it was captured
    if cache is not None:
        hit = cache.get(reference)
        if hit is not None:
            graph, feats = hit
            return ArchGraph(model_id or reference, graph.graph, reference), feats
    graph, feats = describe_model(build_architecture(reference), model_id=model_id or reference, source=reference)
    if cache is not None:
        cache.put(reference, graph, feats)
    return graph, feats


@attrs.define(eq=False)
class ArchiEncoding:
    """A fitted architecture encoding of a zoo: graphs, vectors, projection, encoder state."""

    encoder: str
    encoder_config: dict[str, Any]
    dims: int | None
    clusters: int | None
    graphs: Sequence[ArchGraph]  # a list, or PackedGraphs read from a store (unpacked on first use)
    vectors: np.ndarray
    projection: dict[str, np.ndarray]
    encoder_state: dict[str, np.ndarray] = attrs.field(factory=dict)

    @property
    def model_ids(self) -> list[str]:
        """Models whose graphs the encoder was fitted on."""
        return list(getattr(self.graphs, "model_ids", None) or [g.model_id for g in self.graphs])

    def features(self, vectors: np.ndarray) -> list[dict[str, float]]:
        """archi2vec card features of encoder vectors: principal components or a one-hot cluster."""
        vectors = np.atleast_2d(vectors)
        if "centers" in self.projection:
            centers = self.projection["centers"]
            labels = np.argmin(((vectors[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
            return [{f"arch_cluster_{k}": float(lab == k) for k in range(len(centers))} for lab in labels]
        pcs = (vectors - self.projection["mean"]) @ self.projection["components"].T
        return [{f"arch_pc_{j}": float(row[j]) for j in range(pcs.shape[1])} for row in pcs]

    def _encoder(self, registry: Any = None) -> Any:
        from fennec_core.plugin.contracts import EncoderState, supports
        from fennec_core.plugin.registry import default_registry

        enc = (registry or default_registry()).build("graph_encoder", self.encoder, dict(self.encoder_config))
        if self.encoder_state and supports(enc, EncoderState):
            return enc.load_state(self.encoder_state)
        graphs = list(self.graphs)
        enc.fit(graphs)
        again = enc.transform(graphs)
        if not np.allclose(again, self.vectors, atol=1e-5):
            raise FennecError(
                f"{self.encoder}: refitting on the zoo's stored graphs does not reproduce its stored vectors "
                f"(max difference {np.abs(again - self.vectors).max():.3g}; a different version of the encoder's "
                "libraries?); refit the zoo with `fennec fit --archi ...` in this environment")
        return enc

    def encode_new(self, graphs: Sequence[ArchGraph], *, registry: Any = None) -> list[dict[str, float]]:
        """archi2vec features of architectures outside the zoo, in the zoo's own basis (the
        encoder built by ``registry``: an engine's; default: the process's)."""
        return self.features(self._encoder(registry).transform(graphs))

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays to store (graphs packed, vectors, projection, encoder state)."""
        from fennec_core.architecture.graph_io import pack_graphs

        packed, _ = pack_graphs(self.graphs)
        out = {f"graphs/{k}": v for k, v in packed.items()}
        out["vectors"] = self.vectors
        out.update({f"projection/{k}": v for k, v in self.projection.items()})
        out.update({f"encoder_state/{k}": v for k, v in self.encoder_state.items()})
        return out

    def attributes(self) -> dict[str, Any]:
        """JSON part for the store manifest."""
        from fennec_core.architecture.graph_io import graph_hash, pack_graphs

        _, meta = pack_graphs(self.graphs)
        hashes = getattr(self.graphs, "sha256", None) or [graph_hash(g) for g in self.graphs]
        return {"encoder": self.encoder, "encoder_config": self.encoder_config, "dims": self.dims,
                "clusters": self.clusters, "graphs": meta, "graph_sha256": hashes}

    @classmethod
    def from_stored(cls, arrays: Mapping[str, np.ndarray], attributes: Mapping[str, Any]) -> ArchiEncoding:
        """Rebuild from :meth:`arrays` and :meth:`attributes` (arrays and JSON only)."""
        from fennec_core.architecture.graph_io import PackedGraphs

        def sub(prefix: str) -> dict[str, np.ndarray]:
            return {k.removeprefix(prefix): np.asarray(v) for k, v in arrays.items() if k.startswith(prefix)}

        try:
            return cls(attributes["encoder"], dict(attributes["encoder_config"]), attributes["dims"],
                       attributes["clusters"], PackedGraphs(sub("graphs/"), attributes["graphs"],
                                                            attributes.get("graph_sha256")),
                       np.asarray(arrays["vectors"]), sub("projection/"), sub("encoder_state/"))
        except KeyError as exc:
            raise StoreError(f"stored architecture encoding is incomplete (missing {exc})") from None

    def to_document(self) -> dict[str, Any]:
        """The whole encoding as one JSON document (arrays as nested lists with their dtype)."""
        arrays = {k: {"dtype": str(v.dtype), "shape": list(v.shape), "data": v.ravel().tolist()}
                  for k, v in self.arrays().items()}
        return {"fennec_archi_encoding": 1, "attributes": self.attributes(), "arrays": arrays}

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> ArchiEncoding:
        """Inverse of :meth:`to_document`."""
        if not isinstance(doc, Mapping) or doc.get("fennec_archi_encoding") != 1:
            raise StoreError("not a Fennec architecture encoding document (fennec_archi_encoding: 1 missing)")
        try:
            arrays = {k: np.asarray(v["data"], dtype=v["dtype"]).reshape(v["shape"]) for k, v in doc["arrays"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"architecture encoding document is malformed ({exc})") from None
        return cls.from_stored(arrays, doc["attributes"])


def encode_graphs(
    graphs: Sequence[ArchGraph],
    *,
    encoder: str = "graph2vec",
    encoder_config: dict[str, Any] | None = None,
    dims: int = 4,
    clusters: int | None = None,
    seed: int = 0,
    progress: bool = False,
    registry: Any = None,
) -> tuple[list[dict[str, float]], ArchiEncoding]:
    """Fit a graph encoder on a zoo's graphs: (archi2vec features per graph, the encoding).
    ``progress`` goes to an encoder that takes it (``dgl-gin``: a bar over its epochs); the
    encoder is built by ``registry`` (an engine's; default: the process's)."""
    from fennec_core.plugin.contracts import Configured, EncoderState, supports
    from fennec_core.plugin.registry import default_registry

    if len(graphs) < 2:
        raise InputError("architecture features need at least 2 architectures")
    enc = (registry or default_registry()).build("graph_encoder", encoder, dict(encoder_config or {}),
                                                  progress=progress)
    vectors = np.asarray(enc.fit(graphs).transform(graphs), dtype=np.float64)
    if clusters:
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=clusters, random_state=seed, n_init=10).fit(vectors)
        projection = {"centers": km.cluster_centers_}
    else:
        from sklearn.decomposition import PCA

        k = min(dims, len(graphs) - 1, vectors.shape[1])
        pca = PCA(n_components=k, random_state=seed).fit(vectors)
        projection = {"mean": pca.mean_, "components": pca.components_}
    config = enc.config() if supports(enc, Configured) else dict(encoder_config or {})
    state = enc.state() if supports(enc, EncoderState) else {}
    encoding = ArchiEncoding(encoder, config, None if clusters else dims, clusters, list(graphs), vectors,
                             projection, state)
    return encoding.features(vectors), encoding


def fit_architectures(
    cards: Sequence[ModelCard],
    *,
    encoder: str = "graph2vec",
    encoder_config: dict[str, Any] | None = None,
    dims: int = 4,
    clusters: int | None = None,
    seed: int = 0,
    progress: bool = False,
    cache: Any = None,
    registry: Any = None,
) -> tuple[list[ModelCard], ArchiEncoding]:
    """Cards with architecture meta features and archi2vec features added, and the encoding."""
    from tqdm.auto import tqdm

    with_arch = [c for c in cards if c.architecture]
    if len(with_arch) < 2:
        raise InputError("architecture features need at least 2 models with an `architecture` column "
                         "(e.g. pytorchcv:resnet50) in the models table")
    graphs, feats = [], []
    for card in tqdm(with_arch, desc="architectures", disable=not progress, leave=False):
        graph, f = describe_architecture(card.architecture, card.id, cache=cache)
        graphs.append(graph)
        feats.append(f)
    extra, encoding = encode_graphs(graphs, encoder=encoder, encoder_config=encoder_config, dims=dims,
                                    clusters=clusters, seed=seed, progress=progress, registry=registry)
    by_id = {c.id: (f, e) for c, f, e in zip(with_arch, feats, extra, strict=True)}
    out = []
    for card in cards:
        if card.id in by_id:
            f, e = by_id[card.id]
            own = {k: v for k, v in card.meta.items() if not k.startswith(ARCHI2VEC_PREFIXES)}
            out.append(attrs.evolve(card, meta={**f, **own, **e}))
        else:
            out.append(card)
    return out, encoding


def architecture_features(cards: Sequence[ModelCard], *, progress: bool = False,
                          cache: Any = None) -> list[ModelCard]:
    """``cards`` with the architecture meta features (:data:`ARCH_FEATURES`) of their
    ``architecture`` added: a card's own values win, and a card that has them all (or has no
    architecture) is left as it is, its architecture never built."""
    todo = [c for c in cards if c.architecture and not all(f in c.meta for f in ARCH_FEATURES)]
    if not todo:
        return list(cards)
    from tqdm.auto import tqdm

    computed = {c.id: describe_architecture(c.architecture, c.id, cache=cache)[1]
                for c in tqdm(todo, desc="architectures", disable=not progress, leave=False)}
    return [attrs.evolve(c, meta={**computed[c.id], **c.meta}) if c.id in computed else c for c in cards]


@attrs.frozen
class ArchiSpec:
    """How ``Fennec.fit(archi=...)`` turns the models' ``architecture`` references into features.

    ``encoder``: a graph encoder name (``graph2vec``, ``dgl-gin``, a third party's) with
    ``encoder_config``; its vectors enter the cards as ``dims`` principal components, or as a
    one-hot of ``clusters`` KMeans clusters. ``encoder=None``: the architecture meta features
    only (what ``archi=None`` does). ``cache``: reuse captured architectures from
    ``$FENNEC_CACHE_DIR``.
    """

    encoder: str | None = "graph2vec"
    encoder_config: dict[str, Any] = attrs.field(factory=dict)
    dims: int = 4
    clusters: int | None = None
    cache: bool = True

    def apply(self, cards: Sequence[ModelCard], *, progress: bool = False,
              registry: Any = None) -> tuple[list[ModelCard], ArchiEncoding | None]:
        """(cards with architecture and archi2vec features, the encoding the zoo keeps: None
        without an encoder); the encoder built by ``registry`` (default: the process's)."""
        from fennec_core.architecture.graph_io import ArchCache

        if self.encoder is None:
            return architecture_features(cards, progress=progress, cache=ArchCache() if self.cache else None), None
        return fit_architectures(cards, encoder=self.encoder, encoder_config=dict(self.encoder_config),
                                 dims=self.dims, clusters=self.clusters, progress=progress,
                                 cache=ArchCache() if self.cache else None, registry=registry)


def architecture_cards(references: Sequence[str], names: Sequence[str] | None = None, *,
                       encoding: ArchiEncoding | None = None, cache: bool = True,
                       registry: Any = None) -> list[ModelCard]:
    """Cards of new models from their architecture references alone: architecture meta
    features, plus archi2vec features in ``encoding``'s basis when the zoo has one."""
    from fennec_core.architecture.graph_io import ArchCache

    names = list(names) if names is not None else list(references)
    if len(names) != len(references):
        raise InputError(f"give one name per architecture ({len(references)} references, {len(names)} names)")
    store = ArchCache() if cache else None
    graphs, cards = [], []
    for ref, name in zip(references, names, strict=True):
        graph, feats = describe_architecture(ref, name, cache=store)
        graphs.append(graph)
        cards.append(ModelCard(name, ref, feats))
    if encoding is not None:
        extra = encoding.encode_new(graphs, registry=registry)
        cards = [attrs.evolve(c, meta={**c.meta, **e}) for c, e in zip(cards, extra, strict=True)]
    return cards


def apply_archi(archi: ArchiSpec | ArchiEncoding | str | None, cards: Sequence[ModelCard], *,
                progress: bool = False, registry: Any = None) -> tuple[list[ModelCard], ArchiEncoding | None]:
    """(cards, encoding) for ``Fennec.fit(archi=...)``: None adds the architecture meta
    features of cards with an ``architecture`` (:func:`architecture_features`); an ArchiSpec
    (or an encoder name) adds archi2vec features too; a fitted ArchiEncoding is kept as it is
    (its features are already in the cards)."""
    if isinstance(archi, ArchiEncoding):
        return list(cards), archi
    spec = ArchiSpec(None) if archi is None else ArchiSpec(archi) if isinstance(archi, str) else archi
    return spec.apply(cards, progress=progress, registry=registry)


def fit_model_cards(history: Any, models: Sequence[ModelCard], archi: ArchiSpec | ArchiEncoding | str | None, *,
                    progress: bool = False, registry: Any = None,
                    ) -> tuple[dict[str, ModelCard], ArchiEncoding | None]:
    """(model cards by id, the architecture encoding) for ``Fennec.fit``: ``models`` (cards, read
    from a table by the caller) checked against the history's models, with architecture features
    (:func:`apply_archi`)."""
    cards = list(models)
    unknown = [c.id for c in cards if not history.has_model(c.id)]
    if unknown:
        raise InputError(f"models table lists {len(unknown)} model(s) not in the history, e.g. {unknown[0]!r}; "
                         "add their scores to the history, or leave them out of the models table")
    cards, encoding = apply_archi(archi, cards, progress=progress, registry=registry)
    return {c.id: c for c in cards}, encoding
