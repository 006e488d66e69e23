"""Rankers: the ranker kind and hook, Model Spider trained listwise on historical tasks, stored
as arrays and reloaded to rank identically, new models ranked from their initialised tokens,
a third-party ranker behind the same calls, and the CLI flag."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import proxy_zoo

from fennec_core import Fennec, hookimpl, registry
from fennec_core.errors import InputError
from fennec_core.evaluation import evaluate
from fennec_core.io.tables import write_history
from fennec_core.records import ModelCard

FAST = {"epochs": 40, "patience": 10, "dim": 16}


def _zoo(n_tasks=14, n_models=18, seed=0):
    """Task embeddings are a noisy linear image of the tasks' true vectors; models carry a feature."""
    return proxy_zoo(n_tasks, n_models, seed, items=12)


def test_plackett_luce_loss_prefers_the_true_order():
    import torch
    from fennec_plugins.rankers.model_spider import plackett_luce_loss

    truth = torch.tensor([3.0, 2.0, 1.0, 0.0])
    good = plackett_luce_loss(torch.tensor([3.0, 2.0, 1.0, 0.0]), truth)
    bad = plackett_luce_loss(torch.tensor([0.0, 1.0, 2.0, 3.0]), truth)
    assert good < bad
    # hand-derived: for two items scored (a, b) in the true order, -log(e^a / (e^a + e^b)) / 2
    two = plackett_luce_loss(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.0]))
    assert float(two) == pytest.approx(float(np.log1p(np.exp(-1.0)) / 2), rel=1e-6)


def test_task_tokens_prototypes_or_samples():
    from fennec_plugins.rankers.model_spider import task_tokens

    E = np.arange(20, dtype=np.float32).reshape(10, 2)
    protos = task_tokens(E, ["a"] * 5 + ["b"] * 5, 16, None)
    np.testing.assert_allclose(protos, [[4, 5], [14, 15]])
    assert task_tokens(E, None, 4, None, seed=1).shape == (4, 2)
    np.testing.assert_array_equal(task_tokens(E, None, 4, None, seed=1), task_tokens(E, None, 4, None, seed=1))
    assert task_tokens(E, None, 16, None).shape == (10, 2)


@pytest.mark.slow
def test_model_spider_learns_saves_reloads_and_ranks_new_models(tmp_path):
    h, emb, cards = _zoo()
    hidden = "t0"
    train_emb = {t: e for t, e in emb.items() if t != hidden}
    eng = Fennec(device="cpu", ranker="model-spider", ranker_config=FAST).fit(h.without_task(hidden), cards,
                                                                             task_embeddings=train_emb)
    info = eng.components.ranker._fit_info
    assert info["val_tasks"] and info["epochs_run"] <= FAST["epochs"]
    r = eng.rank(task_embeddings=emb[hidden])
    assert r.info["ranker"] == "model-spider" and len(r) == 18
    from fennec_core.metrics import weighted_tau

    truth = h.column(hidden)[0]
    pos = {m: i for i, m in enumerate(r.model_ids)}
    tau = weighted_tau(truth, np.array([r.scores[pos[m]] for m in h.model_ids]))
    assert tau > 0.5  # learned: static ranking of this zoo is near 0 (tasks differ by construction)
    eng.save(tmp_path / "zoo")
    back = Fennec.load(tmp_path / "zoo")
    assert back.ranker == "model-spider"
    again = back.rank(task_embeddings=emb[hidden])
    assert again.model_ids == r.model_ids
    np.testing.assert_allclose(again.scores, r.scores, rtol=1e-6)
    # a model added after training is ranked from its initialised token (predicted vector + features)
    back.add_models([ModelCard("newcomer", None, {"f0": 2.0, "f1": 0.0})])
    ranked = back.rank(task_embeddings=emb[hidden])
    assert "newcomer" in ranked.model_ids and ranked.info["predicted_models"] == ["newcomer"]
    assert np.isfinite(ranked.scores).all()


@pytest.mark.slow
def test_model_spider_is_seeded_and_evaluates_in_the_same_harness():
    h, emb, cards = _zoo(n_tasks=8, n_models=10)
    cfg = {**FAST, "epochs": 20}
    a = Fennec(device="cpu", ranker="model-spider", ranker_config=cfg).fit(h, cards, task_embeddings=emb)
    b = Fennec(device="cpu", ranker="model-spider", ranker_config=cfg).fit(h, cards, task_embeddings=emb)
    np.testing.assert_array_equal(a.rank(task_embeddings=emb["t1"]).scores, b.rank(task_embeddings=emb["t1"]).scores)
    report = evaluate(Fennec(device="cpu", ranker="model-spider", ranker_config=cfg), h, models=cards,
                                                                                    task_embeddings=emb)
    assert len(report.tasks) == 8


def test_ranker_errors_are_clear():
    h, emb, cards = _zoo(n_tasks=8, n_models=10)
    with pytest.raises(InputError, match="at least 3 historical tasks"):
        Fennec(device="cpu", ranker="model-spider").fit(h, task_embeddings={"t0": emb["t0"]})
    eng = Fennec(device="cpu", ranker="model-spider", ranker_config={**FAST, "epochs": 5}).fit(h, task_embeddings=emb)
    with pytest.raises(InputError, match="needs the task's embeddings"):
        eng.rank()
    with pytest.raises(InputError, match="embeddings only"):
        eng.rank(known={"m0": 0.5}, task_embeddings=emb["t0"])
    with pytest.raises(InputError, match=r"\[n, 24\]"):
        eng.rank(task_embeddings=np.ones((3, 5)))
    from fennec_core.errors import UnknownComponentError

    with pytest.raises(UnknownComponentError):
        Fennec(device="cpu", ranker="no-such-ranker")


def test_a_third_party_ranker_plugs_in_through_the_hook():
    class NearestTask:
        """Copy the scores of the historical task whose mean embedding is closest."""

        def __init__(self, **_):
            pass

        def fit(self, zoo):
            self.means = {t: e.mean(0) for t, e in zoo.task_embeddings.items()}
            return self

        def scores(self, zoo, task_embeddings):
            m = task_embeddings.mean(0)
            best = min(self.means, key=lambda t: float(np.sum((self.means[t] - m) ** 2)))
            return zoo.history.column(best)[0]

    class Plugin:
        @hookimpl
        def fennec_register_rankers(self, register):
            register("nearest-task", NearestTask)

    registry.default_registry().register_plugin(Plugin(), name="nearest-task-plugin")
    h, emb, _ = _zoo(n_tasks=6, n_models=8)
    eng = Fennec(device="cpu", ranker="nearest-task").fit(h.without_task("t0"),
                                                          task_embeddings={t: e for t, e in emb.items() if t != "t0"})
    assert eng.rank(task_embeddings=emb["t0"]).info["ranker"] == "nearest-task"
    assert {c.name for c in registry.components() if c.kind == "ranker"} >= {"model-spider", "nearest-task"}


def test_rerank_top_k_with_forward_pass_features():
    from fennec_plugins.rankers.model_spider import rerank_top_k

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    good = np.eye(3)[labels] * 5 + rng.normal(size=(60, 3)) * 0.1
    noise = rng.normal(size=(60, 3))
    order = rerank_top_k(["a", "b", "c"], {"a": noise, "b": good}, labels, k=2)
    assert order == ["b", "a", "c"]
    with pytest.raises(InputError, match="missing 'b'"):
        rerank_top_k(["a", "b"], {"a": noise}, labels, k=2)


@pytest.mark.slow
def test_cli_ranker_flag(cli, tmp_path):
    h, emb, _ = _zoo(n_tasks=6, n_models=8)
    write_history(h, tmp_path / "h.csv")
    np.savez(tmp_path / "emb.npz", **emb)
    code, _, err = cli("fit", "--history", tmp_path / "h.csv", "--task-embeddings", tmp_path / "emb.npz",
                       "--ranker", "model-spider", "--config", "ranker.epochs=10", "--config", "ranker.dim=16",
                       "--out", tmp_path / "zoo", "-q")
    assert code == 0, err
    np.save(tmp_path / "new.npy", emb["t2"])
    code, out, err = cli("rank", "--zoo", tmp_path / "zoo", "--embeddings", tmp_path / "new.npy", "--json")
    assert code == 0, err
    assert json.loads(out)["info"]["ranker"] == "model-spider"
    code, out, err = cli("evaluate", "--history", tmp_path / "h.csv", "--task-embeddings", tmp_path / "emb.npz",
                         "--ranker", "model-spider", "--config", "ranker.epochs=5", "--json", "-q")
    assert code == 0, err
    assert len(json.loads(out)["per_task"]) == 6
    code, _, err = cli("rank", "--zoo", tmp_path / "zoo")
    assert code == 2 and "needs the task's embeddings" in err
