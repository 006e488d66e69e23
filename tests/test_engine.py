"""The engine: fit, rank (cold and with a task vector), determinism, batching, meta score."""

from __future__ import annotations

import numpy as np
import pytest

from fennec_core import Fennec
from fennec_core.errors import FennecError, InputError, UnknownComponentError
from fennec_core.records import ModelCard, TaskCard


def test_unknown_components_fail_early():
    with pytest.raises(UnknownComponentError, match="known: nmf"):
        Fennec(factorizer="svd")
    with pytest.raises(InputError, match="unknown normalization"):
        Fennec(normalization="log")


def test_unfitted_engine_says_so():
    with pytest.raises(FennecError, match="not fitted yet"):
        Fennec().rank()


def test_cold_rank_flagged_and_deterministic(small_history):
    a = Fennec(device="cpu").fit(small_history).rank()
    b = Fennec(device="cpu").fit(small_history).rank()
    assert a.cold and "mean task vector" in " ".join(a.info["notes"])
    assert a.model_ids == b.model_ids
    np.testing.assert_array_equal(a.scores, b.scores)
    assert list(a.scores) == sorted(a.scores, reverse=True)
    assert set(a.model_ids) == set(small_history.model_ids)


def test_task_vector_ranking_and_batch(small_history):
    eng = Fennec(device="cpu").fit(small_history)
    V = eng.factors.V
    single = [eng.rank(TaskCard(f"new{i}"), task_vector=V[i]) for i in range(3)]
    batch = eng.rank_many([TaskCard(f"new{i}") for i in range(3)], task_vectors=V[:3])
    for s, b in zip(single, batch, strict=True):
        assert not s.cold and s.model_ids == b.model_ids
        np.testing.assert_allclose(s.scores, b.scores)
    # a task's own vector reproduces its fitted column's order
    col = eng.factors.U @ V[0]
    assert single[0].model_ids[0] == small_history.model_ids[int(np.argmax(col))]
    with pytest.raises(InputError, match="task_vectors must have shape"):
        eng.rank(task_vector=np.ones(eng.factors.k + 1))
    with pytest.raises(InputError, match="NaN"):
        eng.rank(task_vector=np.full(eng.factors.k, np.nan))
    assert len(eng.rank(top=4)) == 4


def test_meta_score_used_when_features_given(small_history):
    rng = np.random.default_rng(0)
    models = [ModelCard(m, meta={"size": float(rng.random())}) for m in small_history.model_ids]
    tasks = [TaskCard(t, num_classes=int(c)) for t, c in zip(small_history.task_ids, [2, 5, 10, 20, 50], strict=True)]
    eng = Fennec(device="cpu").fit(small_history, models, tasks)
    r = eng.rank(TaskCard("new", num_classes=7))
    assert set(r.parts) == {"transfer", "meta"}
    np.testing.assert_allclose(r.scores, 0.5 * r.parts["transfer"] + 0.5 * r.parts["meta"])
    r2 = Fennec(device="cpu", use_meta=False).fit(small_history, models, tasks).rank()
    assert set(r2.parts) == {"transfer"}
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


def test_bundled_zoo_loads_and_ranks():
    from fennec_core.bundled import load_bundled

    eng = load_bundled(device="cpu")
    assert eng.history.shape == (105, 7)
    r = eng.rank(eng.tasks["sport"], top=10)
    assert len(r) == 10 and set(r.parts) == {"transfer", "meta"}


def test_bundled_zoo_is_reproducible(tmp_path):
    """The shipped store equals what `python -m fennec_core.bundled` builds now."""
    from fennec_core.bundled import build, load_bundled

    fresh = build(str(tmp_path / "zoo"))
    shipped = load_bundled(device="cpu")
    np.testing.assert_allclose(fresh.factors.U, shipped.factors.U, rtol=1e-9, atol=1e-12)
    assert fresh.rank("sport").model_ids == shipped.rank("sport").model_ids
