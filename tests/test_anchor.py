"""The new-task anchor: the known-results blend against an independent ridge regression, the
weight chosen by leave-one-task-out, and the engine's rankings blended with it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from fennec_core import Fennec
from fennec_core.records import History, TaskCard
from fennec_core.task import anchor as anchor_mod
from fennec_core.task.anchor import anchor_of, blend, fit_anchor, normalised_columns, task_anchors


def _history(seed: int = 0, m: int = 40, n: int = 8) -> History:
    rng = np.random.default_rng(seed)
    U, V = rng.normal(size=(m, 2)), rng.normal(size=(n, 2)) + [2.0, 0.0]  # tasks share a direction
    P = 0.6 + 0.05 * (U @ V.T) + 0.01 * rng.normal(size=(m, n))
    return History([f"m{i:02d}" for i in range(m)], [f"t{j}" for j in range(n)], P, np.ones((m, n), bool))


def test_blend_is_a_ridge_regression_with_an_intercept():
    rng = np.random.default_rng(1)
    mean, dev = rng.normal(size=30), rng.normal(size=(30, 6))
    known = {3: 0.7, 8: 0.2, 11: 0.5, 20: 0.9}
    rows = np.array(list(known))
    y = np.array(list(known.values())) / 0.1
    for ridge in (0.5, 10.0):
        fit = Ridge(alpha=ridge, fit_intercept=True).fit(dev[rows], y - mean[rows])
        np.testing.assert_allclose(blend(mean, dev, 0.1, known, ridge), mean + dev @ fit.coef_, atol=1e-9)
    assert blend(mean, dev, 0.1, known, math.inf) is mean
    assert blend(mean, dev, 0.1, {3: 0.7}, 1.0) is mean  # one known cell: its offset is all it tells


def test_the_weight_follows_leave_one_task_out():
    h = _history()
    zoo = Fennec(device="cpu", factorizer_config={"k": 2}).fit(h).zoo_
    cols = normalised_columns(zoo)
    targets = list(range(h.shape[1]))
    noise = np.random.default_rng(2).normal(size=h.shape[0])
    assert fit_anchor(zoo, lambda j, card: noise, seed=0, targets=targets).weight == 1.0
    truth = fit_anchor(zoo, lambda j, card: cols[:, j], seed=0, targets=targets)  # an engine that knows the task
    assert truth.weight == 0.0 and truth.trials["weight 0"] == pytest.approx(1.0)
    np.testing.assert_allclose(truth.mean, np.nanmean(normalised_columns(zoo, truth.method), axis=1))


def test_new_tasks_get_the_anchor_of_their_zoo(monkeypatch):
    monkeypatch.setattr(anchor_mod, "WEIGHTS", (1.0,))  # the anchor alone
    h = _history(3)
    engine = Fennec(device="cpu", factorizer_config={"k": 2}).fit(h)
    anchor = anchor_of(engine)
    assert anchor.weight == 1.0
    ((weight, cold, note),) = task_anchors(engine, [TaskCard("new")], None)
    assert weight == 1.0 and "anchor" in note
    np.testing.assert_allclose(cold, anchor.scores())
    a, b = anchor.affine
    assert b > 0 and list(np.argsort(-anchor.mean, kind="stable")) == list(np.argsort(-anchor.scores(), kind="stable"))
    statics = {k: v for k, v in anchor.trials.items() if k.startswith("static-")}
    assert f"static-{anchor.method}" == max(statics, key=statics.get)  # the best static rule, leave-one-task-out
    assert anchor.trials["honest engine"] == 1.0  # a small zoo: the engine refit without each task
    known = {"m01": 0.7, "m05": 0.5, "m09": 0.62}
    ((_, warm, _),) = task_anchors(engine, [TaskCard("new")], [known])
    rows = {h.model_index(m): v for m, v in known.items()}
    np.testing.assert_allclose(warm, anchor.scores(rows, anchor.ridges[3]))
    assert task_anchors(engine, [TaskCard("t0")], None) == [None]  # a task of the zoo keeps its own vector


def test_no_anchor_for_rank_fusion():
    engine = Fennec(device="cpu", score_merger="rank-fusion", factorizer_config={"k": 2}).fit(_history())
    assert anchor_of(engine) is None
    assert "anchor" not in engine.rank(TaskCard("new")).parts
