"""Plugins written only against the documented contracts work in fit, rank, save/load and evaluate.

The merger and ranker below are what an outside package would ship: they import nothing from
Fennec but ``hookimpl`` and read the fitted zoo only through :class:`fennec_core.zoo.FittedZoo`'s
documented fields and methods. A contract violation fails when the component is built.
"""

from __future__ import annotations

import numpy as np
import pytest

from fennec_core import Fennec, hookimpl
from fennec_core.errors import UnknownComponentError
from fennec_core.evaluation import evaluate
from fennec_core.plugin.contracts import (
    FittableMerger,
    ModelFoldIn,
    NonNegative,
    PosteriorFactorizer,
    PriorFoldIn,
    Ranker,
    ScoreLike,
    Stateful,
    supports,
)
from fennec_core.plugin.registry import Registry
from fennec_core.records import ModelCard

CALLS: dict[str, int] = {}


class ShrunkMeanMerger:
    """Score-like, fittable, stateful: ``final = transfer + b * meta`` with ``b`` fitted as the
    correlation of the meta part with the normalised history on the zoo's observed cells."""

    score_like = True
    transfer_weight = 1.0

    def __init__(self, floor: float = 0.0) -> None:
        self.floor, self.b = float(floor), 0.0

    def fit(self, zoo):
        CALLS["merger.fit"] = CALLS.get("merger.fit", 0) + 1
        if zoo.meta_model is None:
            self.b = 0.0
            return self
        X = zoo.model_features(zoo.meta_model.model_features)
        Z, mask = zoo.normalized(), zoo.history.mask
        pred = np.stack([zoo.meta_model.predict_for_task(X, zoo.tasks[t].features())[0] for t in zoo.task_ids], 1)
        self.b = max(self.floor, float(np.corrcoef(pred[mask], Z[mask])[0, 1]))
        return self

    def merge(self, parts):
        return parts["transfer"] + self.b * parts.get("meta", 0.0)

    def state(self):
        return {"b": np.array([self.b])}, {"floor": self.floor}

    def load_state(self, arrays, attributes):
        self.b, self.floor = float(arrays["b"][0]), float(attributes["floor"])
        return self


class CentroidRanker:
    """Stateful ranker: each model's mean z-score on the k historical tasks whose mean embedding
    is closest to the new task's (the task embeddings come with the zoo record)."""

    def __init__(self, k: int = 2, seed: int = 0) -> None:
        self.k, self.seed = int(k), seed
        self.centroids: np.ndarray | None = None
        self.table: np.ndarray | None = None

    def fit(self, zoo):
        CALLS["ranker.fit"] = CALLS.get("ranker.fit", 0) + 1
        tasks = [t for t in zoo.task_ids if t in zoo.task_embeddings]
        self.centroids = np.stack([zoo.task_embeddings[t].mean(0) for t in tasks])
        cols = [zoo.history.task_index(t) for t in tasks]
        self.table = np.where(zoo.history.mask[:, cols], zoo.normalized()[:, cols], np.nan)
        return self

    def scores(self, zoo, task_embeddings):
        d = ((self.centroids - np.asarray(task_embeddings).mean(0)) ** 2).sum(1)
        near = np.argsort(d, kind="stable")[: self.k]
        out = np.nanmean(self.table[:, near], axis=1)
        return np.concatenate([out, np.zeros(len(zoo.model_ids) - len(out))])

    def state(self):
        return {"centroids": self.centroids, "table": self.table}, {"k": self.k}

    def load_state(self, arrays, attributes):
        self.centroids, self.table, self.k = arrays["centroids"], arrays["table"], int(attributes["k"])
        return self


class ThirdParty:
    """What an outside distribution's plugin module looks like."""

    @hookimpl
    def fennec_register_score_mergers(self, register):
        register("shrunk-mean", ShrunkMeanMerger)

    @hookimpl
    def fennec_register_rankers(self, register):
        register("centroid", CentroidRanker)


@pytest.fixture
def reg():
    r = Registry()
    r.register_plugin(ThirdParty(), name="third-party", origin="third-party-dist 1.0")
    CALLS.clear()
    return r


@pytest.mark.slow
def test_third_party_merger_in_fit_rank_save_load_evaluate(reg, tmp_path):
    from conftest import proxy_zoo

    h, _, cards = proxy_zoo(8, 14, seed=3)
    eng = Fennec("pmf", "shrunk-mean", device="cpu", registry=reg).fit(h, cards)
    assert CALLS["merger.fit"] == 1 and eng.zoo_.merger_state.arrays["b"][0] == eng.components.merger.b
    r = eng.rank(known={"m0": float(h.scores[0, 0]), "m1": float(h.scores[1, 0])})
    assert "predicted" in r.parts and "low" in r.parts  # score-like: intervals in the task's units
    eng.save(tmp_path / "zoo")
    back = Fennec.load(tmp_path / "zoo", registry=reg)
    assert CALLS["merger.fit"] == 1  # loading restored the state, fitted nothing
    assert back.components.merger.b == eng.components.merger.b
    np.testing.assert_allclose(back.rank().scores, eng.rank().scores)
    report = evaluate(Fennec("pmf", "shrunk-mean", device="cpu", registry=reg), h, models=cards)
    assert len(report.tasks) == 8 and CALLS["merger.fit"] == 1 + 8  # one fit per fold


@pytest.mark.slow
def test_third_party_ranker_in_fit_rank_save_load_evaluate(reg, tmp_path):
    from conftest import proxy_zoo

    h, emb, cards = proxy_zoo(8, 14, seed=4)
    train = {t: e for t, e in emb.items() if t != "t0"}
    eng = Fennec(device="cpu", ranker="centroid", ranker_config={"k": 3}, registry=reg).fit(
        h.without_task("t0"), cards, task_embeddings=train)
    r = eng.rank(task_embeddings=emb["t0"])
    assert r.info["ranker"] == "centroid" and len(r) == 14
    eng.save(tmp_path / "zoo")
    back = Fennec.load(tmp_path / "zoo", registry=reg)
    assert CALLS["ranker.fit"] == 1 and back.components.ranker.k == 3
    assert back.rank(task_embeddings=emb["t0"]).model_ids == r.model_ids
    report = evaluate(Fennec(device="cpu", ranker="centroid", registry=reg), h, models=cards, task_embeddings=emb)
    assert len(report.tasks) == 8 and not np.isnan(report.mean()["weighted_tau"])


def test_a_component_breaking_its_contract_fails_when_built():
    class NoMerge:
        def __init__(self, **_):
            pass

    class Bad:
        @hookimpl
        def fennec_register_score_mergers(self, register):
            register("no-merge", NoMerge)

    r = Registry()
    r.register_plugin(Bad(), name="bad", origin="bad-dist")
    with pytest.raises(UnknownComponentError, match="ScoreMerger contract.*merge"):
        Fennec(score_merger="no-merge", registry=r)


def test_capabilities_of_the_built_ins():
    pmf, nmf = Fennec("pmf").components.factorizer, Fennec("nmf").components.factorizer
    assert supports(pmf, PosteriorFactorizer) and supports(pmf, ModelFoldIn) and not supports(pmf, NonNegative)
    assert supports(nmf, NonNegative) and supports(nmf, PriorFoldIn) and not supports(nmf, PosteriorFactorizer)
    weighted, learned = Fennec().components.merger, Fennec(score_merger="learned").components.merger
    fusion = Fennec(score_merger="rank-fusion").components.merger
    assert supports(weighted, ScoreLike) and not supports(weighted, FittableMerger)
    assert supports(learned, FittableMerger) and supports(learned, Stateful)
    assert not supports(fusion, ScoreLike)
    spider = Fennec(ranker="model-spider").components.ranker
    assert supports(spider, Ranker) and supports(spider, Stateful)


def test_plugins_never_see_the_engine():
    """No built-in plugin touches the engine: every fit/scores call gets the zoo record."""
    import re
    from pathlib import Path

    import fennec_plugins

    root = Path(fennec_plugins.__file__).parent
    offenders = [f"{p.relative_to(root)}:{i + 1}" for p in root.rglob("*.py")
                 for i, line in enumerate(p.read_text().splitlines()) if re.search(r"\bengine(\.|\s*=|\s*:|\))", line)]
    assert offenders == []


def test_new_models_join_a_third_party_ranked_zoo(reg):
    from conftest import proxy_zoo

    h, emb, cards = proxy_zoo(8, 14, seed=5)
    eng = Fennec("pmf", "shrunk-mean", device="cpu", registry=reg).fit(h, cards)
    eng.add_models([ModelCard("new", None, {"f0": 0.1, "f1": -0.2})])
    assert "new" in eng.rank().model_ids and eng.zoo_.predicted_models == ("new",)
