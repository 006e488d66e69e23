"""Score mergers: the paper's weighted merge, reciprocal rank fusion, the learned weight."""

from __future__ import annotations

import numpy as np
import pytest

from fennec_core import Fennec, registry
from fennec_core.errors import InputError
from fennec_core.records import ModelCard, TaskCard


def test_weighted():
    w = registry.create("score_merger", "weighted", w=0.25)
    t, m = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    np.testing.assert_allclose(w.merge({"transfer": t, "meta": m}), [0.75, 0.25])
    np.testing.assert_allclose(w.merge({"transfer": t}), t)
    with pytest.raises(InputError, match="needs at least one of the parts"):
        w.merge({})


def test_rank_fusion():
    rrf = registry.create("score_merger", "rank-fusion", c=0)
    out = rrf.merge({"transfer": np.array([3.0, 2.0, 1.0]), "meta": np.array([1.0, 2.0, 3.0])})
    np.testing.assert_allclose(out, [1 + 1 / 3, 1.0, 1 / 3 + 1])
    one = rrf.merge({"transfer": np.array([0.1, 0.9])})
    assert one[1] > one[0]
    with pytest.raises(InputError, match="c must be"):
        registry.create("score_merger", "rank-fusion", c=-1)


@pytest.mark.slow
def test_learned_picks_the_informative_part():
    """Tasks alternate between favouring high-q and low-q models, and the number of classes
    says which: the cold transfer part (an average over the other tasks) gets held-out
    tasks backwards, the meta model's q x classes interaction gets them right. LOO must find
    that the transfer part alone fails and give meta a real weight; with a meta feature that
    is pure noise, meta alone must score worse than the chosen mix."""
    from fennec_core.records import History

    rng = np.random.default_rng(0)
    m, n = 30, 8
    q = rng.random(m)
    sign = np.array([1.0 if j % 2 == 0 else -1.0 for j in range(n)])
    P = 1.0 + np.outer(q, sign) + 0.01 * rng.standard_normal((m, n))
    h = History([f"m{i}" for i in range(m)], [f"t{j}" for j in range(n)], P, np.ones((m, n), bool))
    tasks = [TaskCard(f"t{j}", num_classes=2 if sign[j] > 0 else 50) for j in range(n)]
    informative = [ModelCard(f"m{i}", meta={"q": float(q[i])}) for i in range(m)]
    noise = [ModelCard(f"m{i}", meta={"q": float(rng.random())}) for i in range(m)]
    good = Fennec("pmf", "learned", device="cpu").fit(h, informative, tasks)
    bad = Fennec("pmf", "learned", device="cpu").fit(h, noise, tasks)
    sg, sb = good.components.merger.scores, bad.components.merger.scores
    assert sg[f"{good.components.merger.w:.2f}"] == max(sg.values()) > 0.9
    assert sg["0.00"] < 0 and good.components.merger.w >= 0.2
    assert sb["1.00"] < 0.5 and sb[f"{bad.components.merger.w:.2f}"] == max(sb.values())
    no_meta = Fennec("pmf", "learned", device="cpu").fit(h)
    assert no_meta.components.merger.w == 0.0
