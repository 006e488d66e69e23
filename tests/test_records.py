"""Records validate on construction and serialise to JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fennec_core.errors import InputError
from fennec_core.records import Factors, History, ModelCard, Ranking, TaskCard


def test_history_validation():
    with pytest.raises(InputError, match="duplicate model id"):
        History(["a", "a"], ["t"], [[1], [2]], [[1], [1]])
    with pytest.raises(InputError, match="shapes"):
        History(["a"], ["t"], [[1, 2]], [[1, 1]])
    with pytest.raises(InputError, match="must be finite"):
        History(["a"], ["t"], [[np.nan]], [[True]])
    with pytest.raises(InputError, match="empty"):
        History([], ["t"], np.zeros((0, 1)), np.zeros((0, 1)))


def test_history_long_round_trip_and_views():
    h = History.from_long([("a", "t1", 0.5), ("b", "t1", 0.7), ("a", "t2", 0.2)])
    assert h.to_long() == [("a", "t1", 0.5), ("a", "t2", 0.2), ("b", "t1", 0.7)]
    w = h.without_task("t1")
    assert w.task_ids == ("t2",) and w.shape == (2, 1)
    with pytest.raises(InputError, match="unknown task 'zz'; tasks include: t1, t2"):
        h.column("zz")
    with pytest.raises(InputError, match="unknown model"):
        h.model_index("zz")
    with pytest.raises(ValueError):
        h.scores[0, 0] = 1.0  # read-only


def test_cards_validate():
    with pytest.raises(InputError, match="not a finite number"):
        ModelCard("a", meta={"p": float("nan")})
    with pytest.raises(InputError, match="num_classes must be >= 1"):
        TaskCard("t", num_classes=0)
    assert TaskCard("t", num_classes=10).features() == {"log_num_classes": pytest.approx(np.log(10))}


def test_factors_validate():
    with pytest.raises(InputError, match="same k"):
        Factors(np.ones((3, 2)), np.ones((4, 3)))
    with pytest.raises(InputError, match="non-finite"):
        Factors(np.full((3, 2), np.nan), np.ones((4, 2)))


def test_ranking_json():
    r = Ranking(["b", "a"], [0.9, np.nan], {"transfer": np.array([0.8, 0.1])}, task="t", info={"cold": True})
    doc = json.loads(r.to_json())
    assert doc["models"][0] == {"rank": 1, "model": "b", "score": 0.9, "transfer": 0.8}
    assert doc["models"][1]["score"] is None  # NaN is not valid JSON: null
    assert r.cold and len(r.top(1)) == 1
    with pytest.raises(InputError, match="part 'x'"):
        Ranking(["a"], [1.0], {"x": np.ones(2)})


def test_extended_appends_without_touching_the_original():
    h = History.from_long([("a", "t1", 0.5), ("b", "t1", 0.7)])
    add = History.from_long([("a", "t2", 0.1), ("c", "t1", 0.3)])
    h2, overlap = h.extended(add)
    assert overlap == 0 and h2.model_ids == ("a", "b", "c") and h2.task_ids == ("t1", "t2")
    assert h2.scores[0, 1] == 0.1 and h2.scores[2, 0] == 0.3 and not h2.mask[1, 1] and np.isnan(h2.scores[1, 1])
    assert h.shape == (2, 1) and h.scores[:, 0].tolist() == [0.5, 0.7]
    h3, _ = h.extended(History.from_long([("a", "t9", 0.9)]))  # a second branch from the old one
    assert h2.scores[0, 1] == 0.1 and h3.scores[0, 1] == 0.9
    h4, overlap = h2.extended(History.from_long([("a", "t1", 0.0), ("b", "t1", 0.7)]))
    assert overlap == 1 and h4.scores[0, 0] == 0.0 and h4.nnz == h2.nnz  # changed cell replaced; equal one no change
