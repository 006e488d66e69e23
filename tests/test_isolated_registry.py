"""An engine's registry is the only one it uses: with the process-wide registry poisoned (any
lookup fails the test), an engine on an isolated registry fits, ranks from a description (text
proxy), ranks with a ranker plugin, saves and loads; graph encoders and estimators come from the
registry handed to them. Every kind of component is built, none from the global registry."""

from __future__ import annotations

from collections import Counter

import networkx as nx
import numpy as np
import pytest

from fennec_core import Fennec, hookimpl
from fennec_core.plugin import registry as registry_module
from fennec_core.plugin.registry import Registry
from fennec_core.records import ArchGraph, TaskCard

BUILT: Counter[str] = Counter()


class ToyText:
    """A text proxy: letter counts of each text, L2-normalised."""

    modality = "text"

    def __init__(self, *, progress: bool = False, device: str = "auto") -> None:
        BUILT["task_proxy"] += 1

    def spec(self) -> dict:
        return {"name": "toy-text", "config": {}}

    def embed(self, inputs):
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        rows = np.array([[t.lower().count(c) + 0.1 for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts])
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


class OtherText(ToyText):
    """A second text proxy, with which a zoo's tasks may have been embedded."""

    def __init__(self, **config) -> None:
        BUILT["other-text"] += 1

    def spec(self) -> dict:
        return {"name": "other-text", "config": {}}


class ToyRanker:
    """A ranker: each model's mean observed score, whatever the task."""

    def __init__(self, **_) -> None:
        BUILT["ranker"] += 1
        self.mean = None

    def fit(self, zoo):
        h = zoo.history
        self.mean = np.nanmean(np.where(h.mask, h.scores, np.nan), axis=1)
        return self

    def scores(self, zoo, task_embeddings):
        return self.mean


class ToyGraph:
    """A graph encoder: (nodes, edges) of each graph."""

    def __init__(self, **_) -> None:
        BUILT["graph_encoder"] += 1

    def fit(self, graphs):
        return self

    def transform(self, graphs):
        return np.array([[g.graph.number_of_nodes(), g.graph.number_of_edges(), len(g.model_id)] for g in graphs],
                        dtype=float)


class Toys:
    @hookimpl
    def fennec_register_task_proxies(self, register):
        register("text", ToyText)
        register("other-text", OtherText)

    @hookimpl
    def fennec_register_rankers(self, register):
        register("toy-ranker", ToyRanker)

    @hookimpl
    def fennec_register_graph_encoders(self, register):
        register("toy-graph", ToyGraph)


class Poisoned(Registry):
    """The process-wide registry in these tests: any lookup in it fails the test."""

    def load(self) -> None:
        raise AssertionError("a component came from the global registry")


@pytest.fixture
def iso(monkeypatch):
    BUILT.clear()
    reg = Registry(("fennec_plugins.factorizers.pmf", "fennec_plugins.mergers.merges", "fennec_plugins.estimators"),
                   entry_points=False)
    reg.register_plugin(Toys(), name="toys")
    original = reg.build

    def counting(kind, name, config=None, **defaults):
        BUILT[f"build:{kind}"] += 1
        return original(kind, name, config, **defaults)

    monkeypatch.setattr(reg, "build", counting)
    monkeypatch.setattr(registry_module, "_default", Poisoned(()))
    return reg


DESCRIPTIONS = ["photos of cats", "photos of dogs and cats", "x-ray scans of lungs", "handwritten digits",
                "satellite images of fields"]


def _cards(history):
    return [TaskCard(t, description=d) for t, d in zip(history.task_ids, DESCRIPTIONS, strict=True)]


def test_no_component_of_any_kind_comes_from_the_global_registry(iso, small_history, tmp_path):
    with pytest.raises(AssertionError, match="global registry"):  # the poison works
        Fennec(device="cpu")
    eng = Fennec(device="cpu", registry=iso).fit(small_history, tasks=_cards(small_history))
    first = eng.rank(description="photos of kittens")
    again = eng.rank(description="drawings of cats", known={"m00": 0.7})
    assert len(first) == len(again) == 12 and BUILT["task_proxy"] == 1  # built once, from iso
    eng.save(tmp_path / "zoo")
    back = Fennec.load(tmp_path / "zoo", registry=iso)
    np.testing.assert_allclose(back.rank(description="photos of kittens").scores, first.scores)

    text = ToyText()
    emb = {t: text.embed(d) for t, d in zip(small_history.task_ids, DESCRIPTIONS, strict=True)}
    ranked = Fennec(device="cpu", ranker="toy-ranker", registry=iso).fit(small_history, task_embeddings=emb)
    assert ranked.rank(description="photos of kittens").info["ranker"] == "toy-ranker"

    from fennec_core.architecture.encoding import encode_graphs

    graphs = [ArchGraph(f"g{i}", nx.path_graph(i + 2, create_using=nx.DiGraph)) for i in range(4)]
    _, encoding = encode_graphs(graphs, encoder="toy-graph", dims=2, registry=iso)
    assert len(encoding.encode_new(graphs[:1], registry=iso)) == 1

    from fennec_plugins.rankers.model_spider import rerank_top_k

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20)
    feats = {m: rng.normal(size=(40, 4)) + labels[:, None] * (i == 1) for i, m in enumerate("ab")}
    assert sorted(rerank_top_k(["a", "b"], feats, labels, k=2, estimator="logme", registry=iso)) == ["a", "b"]

    kinds = {k.removeprefix("build:") for k in BUILT if k.startswith("build:")}
    assert kinds == {"factorizer", "score_merger", "task_proxy", "ranker", "graph_encoder", "estimator"}
    assert BUILT["graph_encoder"] >= 2 and BUILT["ranker"] >= 1


def test_the_zoo_says_which_proxy_places_a_description(iso, small_history):
    """A zoo whose tasks a text proxy embedded places a described task with that proxy (its
    ``modality``, read from the built proxy, says it embeds text); any other zoo with ``text``."""
    other = OtherText()
    emb = {t: other.embed(d) for t, d in zip(small_history.task_ids, DESCRIPTIONS, strict=True)}
    BUILT.clear()
    eng = Fennec(device="cpu", registry=iso).fit(small_history, tasks=_cards(small_history), task_embeddings=emb,
                                                proxy="other-text")
    eng.rank(description="photos of kittens")
    assert BUILT["other-text"] == 1 and BUILT["task_proxy"] == 0
    plain = Fennec(device="cpu", registry=iso).fit(small_history, tasks=_cards(small_history))
    plain.rank(description="photos of kittens")
    assert BUILT["task_proxy"] == 1
