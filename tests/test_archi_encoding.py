"""Architecture graphs as arrays (round trip, hash), the on-disk capture cache, the dgl-gin
encoder, and the archi2vec encoding a zoo stores so new models are encoded in its basis."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import require
from hypothesis import given, settings
from hypothesis import strategies as st

from fennec_core.architecture.graph_io import (
    ArchCache,
    architecture_key,
    graph_from_table,
    graph_hash,
    graph_table,
    pack_graphs,
    unpack_graphs,
)
from fennec_core.errors import FennecError, StoreError
from fennec_core.records import ArchGraph

MODELS = '''
from torch import nn


def _net(width, depth, kernel):
    layers = [nn.Conv2d(3, width, kernel, padding=kernel // 2), nn.ReLU()]
    for _ in range(depth):
        layers += [nn.Conv2d(width, width, kernel, padding=kernel // 2, groups=width), nn.BatchNorm2d(width), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


def a(): return _net(8, 1, 3)
def b(): return _net(16, 2, 3)
def c(): return _net(8, 3, 5)
def d(): return _net(32, 1, 1)
def e(): return _net(16, 4, 3)
def f(): return _net(24, 2, 5)
'''


@pytest.fixture()
def tiny_models(tmp_path, monkeypatch):
    """Six small conv nets importable as ``py:fennec_tiny_archs:<a..f>``."""
    (tmp_path / "fennec_tiny_archs.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return [f"py:fennec_tiny_archs:{n}" for n in "abcdef"]


def _graphs(refs):
    from fennec_core.architecture.encoding import describe_architecture

    return [describe_architecture(r, r.rsplit(":", 1)[1])[0] for r in refs]


@st.composite
def random_graphs(draw):
    import networkx as nx

    n = draw(st.integers(1, 12))
    g = nx.DiGraph()
    for i in range(n):
        attrs = {"op": draw(st.sampled_from(["conv", "relu", "add", "weird_op"]))}
        attrs["feature"] = attrs["op"] + draw(st.sampled_from(["", "[kernel=(3, 3)]"]))
        if draw(st.booleans()):
            attrs["kernel"] = draw(st.integers(1, 7))
        if draw(st.booleans()):
            attrs["params"] = draw(st.integers(0, 10**9))
        g.add_node(i, **attrs)
    for a in range(n):
        for b in range(a + 1, n):
            if draw(st.booleans()):
                g.add_edge(a, b)
    return ArchGraph(draw(st.text(min_size=1, max_size=8)), g, "test")


@settings(max_examples=60, deadline=None)
@given(st.lists(random_graphs(), min_size=1, max_size=4))
def test_pack_unpack_is_lossless(graphs):
    arrays, meta = pack_graphs(graphs)
    meta = json.loads(json.dumps(meta))  # the JSON part survives a real round trip
    back = unpack_graphs(arrays, meta)
    assert [graph_table(g) for g in back] == [graph_table(g) for g in graphs]
    assert [graph_hash(g) for g in back] == [graph_hash(g) for g in graphs]


def test_malformed_stored_graphs_fail_clearly():
    with pytest.raises(StoreError, match="malformed"):
        graph_from_table({"op": ["conv"], "feature": ["conv"]})
    arrays, meta = pack_graphs([graph_from_table({"model_id": "m", "op": ["conv", "relu"], "feature": ["c", "r"],
                                                  "edges": [[0, 1]], **{k: [-1, -1] for k in (
                                                      "kernel", "stride", "groups", "in_channels", "out_channels",
                                                      "out_features", "params")}})])
    meta["node_counts"] = [5]
    with pytest.raises(StoreError, match="do not match"):
        unpack_graphs(arrays, meta)


def test_capture_cache_hits_misses_and_survives_damage(tmp_path, tiny_models):
    from fennec_core.architecture.encoding import describe_architecture

    cache = ArchCache(tmp_path / "cache")
    g1, f1 = describe_architecture(tiny_models[0], "a", cache=cache)
    g2, f2 = describe_architecture(tiny_models[0], "renamed", cache=cache)
    assert (cache.misses, cache.hits) == (1, 1)
    assert graph_hash(g1) == graph_hash(g2) and f1 == f2 and g2.model_id == "renamed"
    assert architecture_key(tiny_models[0]) != architecture_key(tiny_models[1])
    assert architecture_key(tiny_models[0]) != architecture_key(tiny_models[0], input_size=64)
    for path in (tmp_path / "cache").iterdir():
        path.write_text("{not json")
    describe_architecture(tiny_models[0], "a", cache=cache)  # a damaged entry is captured again
    assert cache.misses == 2
    assert describe_architecture(tiny_models[0], "a", cache=cache)[1] == f1 and cache.hits == 2


def test_dgl_gin_is_deterministic_and_its_state_round_trips(tiny_models):
    require("dgl")
    from fennec_core import registry

    graphs = _graphs(tiny_models)
    enc = registry.create("graph_encoder", "dgl-gin", epochs=15)
    v = enc.fit(graphs).transform(graphs)
    assert v.shape == (6, 64) and np.isfinite(v).all() and enc.objective == "contrastive"
    again = registry.create("graph_encoder", "dgl-gin", epochs=15).fit(graphs).transform(graphs)
    np.testing.assert_array_equal(v, again)
    restored = registry.create("graph_encoder", "dgl-gin", epochs=15).load_state(enc.state())
    np.testing.assert_allclose(restored.transform(graphs), v, rtol=1e-6, atol=1e-6)
    # the same architecture captured twice gives the same vector
    np.testing.assert_array_equal(enc.transform(_graphs(tiny_models[:1])), v[:1])
    with pytest.raises(FennecError, match="do not fit"):
        registry.create("graph_encoder", "dgl-gin", hidden=32).load_state(enc.state())


@pytest.mark.slow
def test_dgl_gin_supervised_learns_its_targets(tiny_models):
    """Trained on targets (a zoo's transfer vectors), the vectors carry them: a linear read-out
    of the embedding recovers a target that follows the width of the nets."""
    require("dgl")
    from fennec_core import registry

    graphs = _graphs(tiny_models)
    widths = np.array([[8.0], [16.0], [8.0], [32.0], [16.0], [24.0]])
    enc = registry.create("graph_encoder", "dgl-gin", epochs=150, drop_nodes=0.0, mask_features=0.0)
    v = enc.fit(graphs, targets=widths).transform(graphs)
    assert enc.objective == "supervised"
    X = np.column_stack([v, np.ones(len(v))])
    coef, *_ = np.linalg.lstsq(X, widths, rcond=None)
    assert np.corrcoef((X @ coef).ravel(), widths.ravel())[0, 1] > 0.95
    with pytest.raises(FennecError, match="targets must be"):
        enc.fit(graphs, targets=np.ones((3, 1)))
    with pytest.raises(FennecError, match="call fit"):
        registry.create("graph_encoder", "dgl-gin").transform(graphs)


@pytest.mark.parametrize("encoder", ["dgl-gin", "graph2vec"])
@pytest.mark.slow
def test_zoo_stores_its_encoding_and_add_model_uses_it(cli, tmp_path, tiny_models, encoder):
    """`fit --archi` stores graphs, vectors, projection (and GIN weights); `add-model` encodes
    the new architecture in the zoo's basis: a copy of a zoo architecture gets its features."""
    require({"dgl-gin": "dgl", "graph2vec": "karateclub"}[encoder])
    from fennec_core.engine import Fennec

    zoo_refs = tiny_models[:5]
    rows = ["model,task,score"] + [f"{r.rsplit(':', 1)[1]},t{j},{0.5 + 0.05 * i + 0.02 * j * (i % 2)}"
                                   for i, r in enumerate(zoo_refs) for j in range(3)]
    (tmp_path / "h.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "m.csv").write_text("model,architecture\n" + "".join(f"{r.rsplit(':', 1)[1]},{r}\n" for r in zoo_refs))
    code, _, err = cli("fit", "--history", tmp_path / "h.csv", "--models", tmp_path / "m.csv", "--archi", encoder,
                       "--archi-config", "epochs=10", "--archi-dims", "2", "--allow-code", "--out", tmp_path / "zoo", "-q")
    assert code == 0, err
    zoo = Fennec.load(tmp_path / "zoo")
    assert zoo.zoo_.archi.encoder == encoder and zoo.zoo_.archi.model_ids == ["a", "b", "c", "d", "e"]
    assert bool(zoo.zoo_.archi.encoder_state) == (encoder == "dgl-gin")
    code, _, err = cli("add-model", "--zoo", tmp_path / "zoo", "--model", tiny_models[1], "--name", "b-copy",
                       "--model", tiny_models[5], "--name", "f")
    assert code == 0, err
    zoo = Fennec.load(tmp_path / "zoo")
    for key in ("arch_pc_0", "arch_pc_1", "depth", "log10_flops"):
        assert zoo.zoo_.models["b-copy"].meta[key] == pytest.approx(zoo.zoo_.models["b"].meta[key], abs=1e-4)
    assert "arch_pc_1" in zoo.zoo_.models["f"].meta and zoo.zoo_.predicted_models == ("b-copy", "f")


def test_encoding_document_round_trip_and_foreign_document(tiny_models):
    require("dgl")
    from fennec_core.architecture.encoding import ArchiEncoding, encode_graphs

    graphs = _graphs(tiny_models)
    feats, enc = encode_graphs(graphs, encoder="dgl-gin", encoder_config={"epochs": 5}, dims=3)
    back = ArchiEncoding.from_document(json.loads(json.dumps(enc.to_document())))
    assert back.features(back.vectors) == feats
    for new, old in zip(back.encode_new(graphs[:2]), feats[:2], strict=True):
        assert new == pytest.approx(old, abs=1e-9)
    with pytest.raises(StoreError, match="not a Fennec architecture encoding"):
        ArchiEncoding.from_document({"something": "else"})


def test_bundled_zoo_ships_its_architecture_encoding():
    from fennec_core.bundled_zoo import load_bundled

    zoo = load_bundled(device="cpu")
    assert zoo.zoo_.archi is not None and len(zoo.zoo_.archi.model_ids) == 105 and zoo.zoo_.archi.encoder == "dgl-gin"
    assert {"depth", "log10_flops", "arch_pc_0", "arch_pc_3"} <= set(zoo.zoo_.meta_model.model_features)
    np.testing.assert_allclose(zoo.zoo_.archi.features(zoo.zoo_.archi.vectors[:1])[0]["arch_pc_0"],
                               zoo.zoo_.models[zoo.zoo_.archi.model_ids[0]].meta["arch_pc_0"], rtol=1e-9)
