"""The engine: fit, rank (cold, proxy vector, warm start), uncertainty, updates, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from fennec_core import Fennec
from fennec_core.errors import FennecError, InputError, UnknownComponentError
from fennec_core.records import History, ModelCard, TaskCard


def test_unknown_components_fail_early():
    with pytest.raises(UnknownComponentError, match="known: nmf, pmf"):
        Fennec(factorizer="svd")
    with pytest.raises(InputError, match="unknown normalization"):
        Fennec(normalization="log")
    with pytest.raises(InputError, match="warm_strength"):
        Fennec(warm_strength=-1)


def test_auto_normalization_follows_factorizer():
    assert Fennec("nmf").resolved_normalization == "minmax"
    assert Fennec("pmf").resolved_normalization == "zscore"


def test_unfitted_engine_says_so():
    with pytest.raises(FennecError, match="not fitted yet"):
        Fennec().rank()


@pytest.mark.parametrize("factorizer", ["nmf", "pmf"])
def test_cold_rank_flagged_and_deterministic(small_history, factorizer):
    a = Fennec(factorizer, device="cpu").fit(small_history).rank()
    b = Fennec(factorizer, device="cpu").fit(small_history).rank()
    assert a.cold and "mean task vector" in " ".join(a.info["notes"])
    assert a.model_ids == b.model_ids
    np.testing.assert_array_equal(a.scores, b.scores)
    assert list(a.scores) == sorted(a.scores, reverse=True)
    assert set(a.model_ids) == set(small_history.model_ids)


@pytest.mark.parametrize("factorizer", ["nmf", "pmf"])
def test_task_vector_ranking_and_batch(small_history, factorizer):
    eng = Fennec(factorizer, device="cpu").fit(small_history)
    V = eng.zoo_.factors.V
    single = [eng.rank(TaskCard(f"new{i}"), task_vector=V[i]) for i in range(3)]
    batch = eng.rank_many([TaskCard(f"new{i}") for i in range(3)], task_vectors=V[:3])
    for s, b in zip(single, batch, strict=True):
        assert not s.cold and s.info["task_vector_source"] == "proxy" and s.model_ids == b.model_ids
        np.testing.assert_allclose(s.scores, b.scores)
    col = eng.zoo_.factors.U @ V[0]
    assert single[0].model_ids[0] == small_history.model_ids[int(np.argmax(col))]
    with pytest.raises(InputError, match="task vector must have shape"):
        eng.rank(task_vector=np.ones(eng.zoo_.factors.k + 1))
    with pytest.raises(InputError, match="NaN"):
        eng.rank(task_vector=np.full(eng.zoo_.factors.k, np.nan))
    assert len(eng.rank(top=4)) == 4


def test_meta_score_used_when_features_given(small_history):
    rng = np.random.default_rng(0)
    models = [ModelCard(m, meta={"size": float(rng.random())}) for m in small_history.model_ids]
    tasks = [TaskCard(t, num_classes=int(c)) for t, c in zip(small_history.task_ids, [2, 5, 10, 20, 50], strict=True)]
    eng = Fennec(device="cpu").fit(small_history, models, tasks)
    r = eng.rank(TaskCard("new", num_classes=7))
    assert {"transfer", "meta"} <= set(r.parts)
    np.testing.assert_allclose(r.scores, 0.5 * r.parts["transfer"] + 0.5 * r.parts["meta"])
    r2 = Fennec(device="cpu", use_meta=False).fit(small_history, models, tasks).rank()
    assert "meta" not in r2.parts
    assert "fitted without one (use_meta=false), although its models have features" in " ".join(r2.info["notes"])
    no_meta = Fennec(device="cpu").fit(small_history).rank()
    assert "no model meta features" in " ".join(no_meta.info["notes"])


def test_models_table_with_unknown_model(small_history):
    with pytest.raises(InputError, match="not in the history"):
        Fennec(device="cpu").fit(small_history, [ModelCard("zz")])


def test_merger_config(small_history):
    eng = Fennec(device="cpu", score_merger_config={"w": 0.0}).fit(small_history)
    r = eng.rank()
    np.testing.assert_allclose(r.scores, r.parts["transfer"])
    with pytest.raises(InputError, match=r"w must lie in \[0, 1\]"):
        Fennec(score_merger_config={"w": 2})


def test_pmf_interval_and_explore(small_history):
    eng = Fennec("pmf", device="cpu").fit(small_history)
    r = eng.rank()
    assert {"sd", "predicted", "low", "high"} <= set(r.parts)
    assert np.all(r.parts["low"] <= r.parts["predicted"]) and np.all(r.parts["predicted"] <= r.parts["high"])
    x = eng.rank(explore=True)
    upper = x.parts["final"] + 1.6448536269514722 * x.parts["sd"]
    np.testing.assert_allclose(x.scores, upper)
    with pytest.raises(InputError, match="explore needs a factorizer with uncertainty"):
        Fennec("nmf", device="cpu").fit(small_history).rank(explore=True)


def _low_rank_history(m=40, n=8, k=2, seed=0, scale=None):
    rng = np.random.default_rng(seed)
    U, V = rng.random((m, k)), rng.random((n, k))
    P = U @ V.T + 0.005 * rng.standard_normal((m, n))
    if scale is not None:
        P = P * scale[None, :]
    return History([f"m{i}" for i in range(m)], [f"t{j}" for j in range(n)], P, np.ones((m, n), bool))


@pytest.mark.parametrize("factorizer", ["nmf", "pmf"])
def test_warm_start_recovers_a_task(factorizer):
    """With many known scores of a task that follows the history's structure, the fold-in
    ranking matches the truth far better than the cold one."""
    from fennec_core.metrics import weighted_tau

    h = _low_rank_history(scale=np.linspace(0.5, 2.0, 8))
    train = h.without_task("t3")
    truth, _ = h.column("t3")
    eng = Fennec(factorizer, device="cpu", warm_strength=0.0 if factorizer == "nmf" else 1.0).fit(train)
    known = {h.model_ids[i]: float(truth[i]) for i in range(0, 40, 3)}
    warm = eng.rank(known=known)
    cold = eng.rank()
    rest = [i for i in range(40) if i % 3]
    pos_w = {m: s for m, s in zip(warm.model_ids, warm.scores, strict=True)}
    pos_c = {m: s for m, s in zip(cold.model_ids, cold.scores, strict=True)}
    tau_w = weighted_tau(truth[rest], np.array([pos_w[h.model_ids[i]] for i in rest]))
    tau_c = weighted_tau(truth[rest], np.array([pos_c[h.model_ids[i]] for i in rest]))
    assert not warm.cold and warm.info["task_vector_source"] == "known"
    assert tau_w > 0.9 and tau_w > tau_c
    with pytest.raises(InputError, match="unknown model"):
        eng.rank(known={"nope": 0.5})


def test_warm_strength_auto_is_resolved_and_stored(tmp_path, small_history):
    eng = Fennec(device="cpu").fit(small_history)
    s = eng.resolved_warm_strength()
    assert s >= 1.0
    eng.save(tmp_path / "zoo")
    assert Fennec.load(tmp_path / "zoo").zoo_.warm_strength == s


@pytest.mark.slow
def test_k_auto_is_cross_validated(small_history, tmp_path):
    eng = Fennec("nmf", device="cpu", factorizer_config={"k": "auto"}).fit(small_history)
    assert eng.zoo_.k_selection["k"] in (1, 2, 3, 4, 5)
    assert eng.zoo_.factors.k == eng.zoo_.k_selection["k"]
    eng.save(tmp_path / "zoo")
    back = Fennec.load(tmp_path / "zoo")
    assert back.zoo_.factors.k == eng.zoo_.factors.k and back.rank().model_ids == eng.rank().model_ids
    assert back.zoo_.k_selection == eng.zoo_.k_selection and back.factorizer_config == {"k": eng.zoo_.factors.k}


@pytest.mark.parametrize("factorizer", ["nmf", "pmf"])
def test_update_adds_task_like_refit(factorizer):
    h = _low_rank_history()
    base = h.without_task("t7")
    eng = Fennec(factorizer, device="cpu").fit(base)
    new = History(h.model_ids, ["t7"], h.scores[:, [7]], h.mask[:, [7]])
    report = eng.update(new)
    assert report["new_tasks"] == ["t7"] and not report["refit"]
    refit = Fennec(factorizer, device="cpu").fit(h)
    j = refit.zoo_.history.task_index("t7")
    col_update = eng.zoo_.factors.U @ eng.zoo_.factors.V[-1]
    col_refit = refit.zoo_.factors.U @ refit.zoo_.factors.V[j]
    assert np.corrcoef(col_update, col_refit)[0, 1] > 0.99
    assert eng.zoo_.history.shape == (40, 8)


@pytest.mark.slow
def test_update_new_model_and_refit_triggers(small_history):
    eng = Fennec("nmf", device="cpu").fit(small_history)
    row = History(["brand-new"], small_history.task_ids, small_history.scores[[0]], small_history.mask[[0]])
    report = eng.update(row)
    assert report["new_models"] == ["brand-new"] and not report["refit"]
    assert "brand-new" in eng.rank().model_ids
    changed = History(["m00"], ["t0"], [[0.1]], [[True]])
    assert eng.update(changed)["refit"] is True
    assert eng.update(changed, force_refit=True)["reason"] == "forced"


def test_bundled_zoo_loads_and_ranks():
    from fennec_core.bundled_zoo import load_bundled

    eng = load_bundled(device="cpu")
    assert eng.zoo_.history.shape == (105, 7)
    r = eng.rank(eng.zoo_.tasks["sport"], top=10)
    assert len(r) == 10 and {"transfer", "meta", "predicted", "low", "high"} <= set(r.parts)


@pytest.mark.slow
def test_bundled_zoo_is_reproducible(tmp_path):
    """The shipped store equals what `python -m fennec_core.bundled_zoo` builds now; its Model
    Spider (trained on the text proxy's embeddings of the task descriptions, float32) to
    within what float32 kernels of another processor may change."""
    from conftest import require

    from fennec_core.bundled_zoo import build, bundled_zoo_path, load_bundled

    require("onnxruntime")
    fresh = build(str(tmp_path / "zoo"))
    shipped = load_bundled(device="cpu")
    np.testing.assert_allclose(fresh.zoo_.factors.U, shipped.zoo_.factors.U, rtol=1e-9, atol=1e-12)
    assert fresh.rank("sport").model_ids == shipped.rank("sport").model_ids
    for t, e in shipped.zoo_.task_embeddings.items():
        np.testing.assert_allclose(fresh.zoo_.task_embeddings[t], e, atol=1e-5)
    new = Fennec.load(tmp_path / "zoo", device="cpu", ranker="model-spider").rank("sport")
    old = Fennec.load(bundled_zoo_path(), device="cpu", ranker="model-spider").rank("sport")
    new_score = dict(zip(new.model_ids, new.scores, strict=True))
    assert np.corrcoef(old.scores, [new_score[m] for m in old.model_ids])[0, 1] > 0.99


def test_known_scores_combine_with_a_proxy_vector():
    """A proxy vector becomes the prior mean of the fold-in: with no real evidence (a single,
    heavily tempered known cell) the ranking follows the proxy; the source says both."""
    h = _low_rank_history()
    eng = Fennec("pmf", device="cpu", warm_strength=1e8).fit(h.without_task("t2"))
    proxy = eng.zoo_.factors.V[0]
    both = eng.rank(known={"m0": float(h.scores[0, 2])}, task_vector=proxy)
    only_proxy = eng.rank(task_vector=proxy)
    assert both.info["task_vector_source"] == "known+proxy"
    assert both.model_ids[:10] == only_proxy.model_ids[:10]
