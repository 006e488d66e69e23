"""Which model to fine-tune next: acquisition functions, `fennec next`, `Fennec.suggest`, search:K."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fennec_core import Fennec
from fennec_core.errors import FennecError, InputError
from fennec_core.scoring.acquisition import (
    Z90,
    acquisition,
    expected_improvement,
    normal_cdf,
    probability_of_best,
    sd_from_interval,
    upper_confidence_bound,
)


def _phi(z):
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _Phi(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def test_expected_improvement_matches_the_formula_by_hand():
    # mean 0.9, sd 0.05, best 0.88: z = 0.4, EI = 0.02 Phi(0.4) + 0.05 phi(0.4) = 0.03152
    expected = 0.02 * _Phi(0.4) + 0.05 * _phi(0.4)
    assert expected == pytest.approx(0.02 * 0.65542 + 0.05 * 0.36827, abs=1e-5)  # table values
    ei = expected_improvement(np.array([0.9, 0.8, 0.95, 0.7]), np.array([0.05, 0.1, 0.0, 0.0]), 0.88)
    assert ei[0] == pytest.approx(expected, rel=1e-12)
    assert ei[1] == pytest.approx(-0.08 * _Phi(-0.8) + 0.1 * _phi(-0.8), rel=1e-12)
    assert ei[2] == pytest.approx(0.07) and ei[3] == 0.0  # sd 0: max(mean - best, 0)
    assert list(expected_improvement(np.array([0.5, 0.7]), np.array([0.1, 0.1]), None)) == [0.5, 0.7]


def test_other_acquisitions_and_interval_sd():
    assert normal_cdf(np.array([0.0]))[0] == pytest.approx(0.5)
    sd = sd_from_interval(np.array([0.8]), np.array([0.9]))
    assert sd[0] == pytest.approx(0.1 / (2 * Z90))
    assert upper_confidence_bound(np.array([0.85]), sd)[0] == pytest.approx(0.9)
    assert list(acquisition("greedy", np.array([0.1, 0.3]), np.array([1.0, 0.0]))) == [0.1, 0.3]
    a = acquisition("thompson", np.zeros(3), np.ones(3), rng=np.random.default_rng(1))
    b = acquisition("thompson", np.zeros(3), np.ones(3), rng=np.random.default_rng(1))
    assert np.array_equal(a, b) and not np.all(a == 0)
    with pytest.raises(InputError, match="unknown strategy 'best'"):
        acquisition("best", np.zeros(1), np.zeros(1))


def test_probability_of_best_sums_to_one_and_is_seeded():
    mean, sd = np.array([0.9, 0.88, 0.5, 0.91]), np.array([0.02, 0.05, 0.01, 0.0])
    p = probability_of_best(mean, sd, draws=3000, seed=3)
    assert p.sum() == pytest.approx(1.0) and p[2] == 0.0
    assert np.array_equal(p, probability_of_best(mean, sd, draws=3000, seed=3))
    assert probability_of_best(np.array([1.0, 0.0]), np.zeros(2))[0] == 1.0


@pytest.fixture(scope="module")
def bundled():
    from fennec_core.io.catalog import resolve

    return Fennec.load(resolve(None), device="cpu")


def test_suggest_in_python_never_proposes_known_models(bundled):
    ids = bundled.zoo_.model_ids
    known = {ids[0]: 0.9, ids[2]: 0.8}
    s = bundled.suggest(known=known, batch=3)
    assert len(set(s.models)) == 3 and not set(s.models) & set(known)
    first = s.proposals[0]
    assert first.low <= first.predicted <= first.high and 0 <= first.p_best <= 1 and first.acquisition >= 0
    assert s.best_known == (ids[0], 0.9)
    again = bundled.suggest(known=known, batch=3)
    assert again.to_dict() == s.to_dict()  # deterministic
    for strategy in ("ucb", "thompson", "greedy"):
        assert bundled.suggest(known=known, strategy=strategy).models[0] not in known
    with pytest.raises(FennecError):
        bundled.suggest(known={"no-such-model": 0.5})


def test_fennec_next_text_and_json(cli, tmp_path):
    known = tmp_path / "known.csv"
    known.write_text("model,score\nbninception,0.90\nalexnet,0.78\n")
    code, out, err = cli("-q", "next", "--known", known)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("2 known result(s), best 0.9 (bninception)")
    model = lines[1].split()[1]
    assert model not in ("bninception", "alexnet")
    assert "predicted" in lines[1] and "[" in lines[1] and "P(best)" in lines[1]
    assert "chance of being the best model" in lines[2]
    code, out, err = cli("-q", "next", "--known", known, "--json")
    assert code == 0, err
    doc = json.loads(out)
    (p,) = doc["proposals"]
    assert p["model"] == model and p["low"] <= p["predicted"] <= p["high"] and 0 <= p["p_best"] <= 1
    assert doc["strategy"] == "ei" and set(doc["known"]) == {"bninception", "alexnet"}


def test_fennec_next_batch_of_three(cli, tmp_path):
    known = tmp_path / "known.csv"
    known.write_text("model,score\nbninception,0.90\nalexnet,0.78\n")
    code, out, err = cli("-q", "next", "--known", known, "--batch", "3", "--json", "--strategy", "thompson",
                         "--seed", "4")
    assert code == 0, err
    models = [p["model"] for p in json.loads(out)["proposals"]]
    assert len(set(models)) == 3 and not set(models) & {"bninception", "alexnet"}


@pytest.mark.parametrize("argv, message", [
    (["--strategy", "best"], "unknown strategy 'best'"),
    (["--known", "{bad}"], "unknown model 'nope'"),
])
def test_fennec_next_bad_input_is_one_line_exit_2(cli, tmp_path, argv, message):
    bad = tmp_path / "bad.csv"
    bad.write_text("model,score\nnope,0.5\n")
    code, out, err = cli("next", *[str(bad) if a == "{bad}" else a for a in argv])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


#: a quick factorizer for the search tests (each fold refits)
FAST = ("--config", "factorizer.k=2", "--config", "factorizer.max_iter=15", "--config", "warm_strength=10")


def test_search_protocol_regret_per_step(cli, small_history_csv, tmp_path):
    preds = tmp_path / "picks.csv"
    code, out, err = cli("-q", "evaluate", "--history", small_history_csv, "--protocol", "search:3", "--json",
                         "--predictions", preds, *FAST)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["protocol"] == "search:3" and set(doc["mean"]) == {"fennec", "static", "random"}
    for method in ("fennec", "static", "random"):
        regret = doc["mean"][method]["regret"]
        assert len(regret) == 3 and all(b <= a + 1e-12 for a, b in zip(regret, regret[1:], strict=False))
        assert all(0 <= s <= 1 for s in doc["mean"][method]["regret_share"])
    for task in doc["per_task"].values():
        r = task["fennec"]["regret"]
        assert all(b <= a for a, b in zip(r, r[1:], strict=False))
    rows = preds.read_text().splitlines()
    assert rows[0] == "task,step,model,truth" and len(rows) == 1 + 3 * len(doc["per_task"])
    picked = {}
    for row in rows[1:]:
        task, step, model, _ = row.split(",")
        picked.setdefault(task, []).append(model)
    assert all(len(set(m)) == 3 for m in picked.values())  # never the same model twice
    code, out, err = cli("-q", "evaluate", "--history", small_history_csv, "--protocol", "search:3",
                         *FAST)
    assert code == 0 and "fennec regret" in out and "static regret" in out and "random regret" in out


def test_search_protocol_bad_k_and_python_api(cli, small_history_csv, small_history):
    code, _, err = cli("evaluate", "--history", small_history_csv, "--protocol", "search:0")
    assert code == 2 and "search:K with K >= 1" in err
    code, _, err = cli("evaluate", "--history", small_history_csv, "--strategy", "ucb")
    assert code == 2 and "--strategy goes with --protocol search:K" in err
    from fennec_core.evaluation import evaluate, evaluate_search

    with pytest.raises(InputError, match="option 'repeats' goes with loo or loo-model or loo-warm:K, not search:2"):
        evaluate(Fennec(device="cpu"), small_history, protocol="search:2", repeats=3)
    engine = Fennec(device="cpu", factorizer_config={"k": 2, "max_iter": 15}, warm_strength=10)
    report = evaluate_search(engine, small_history, 2, strategy="greedy")
    assert len(report.mean("fennec", "regret")) == 2 and len(report.predictions) == 2 * len(report.tasks)
    same = evaluate(engine, small_history, protocol="search:2", strategy="greedy")  # one entry point for both
    assert same.to_dict() == report.to_dict() and same.predictions == report.predictions


def test_suggest_without_an_interval_says_so(bundled):
    """A task vector from elsewhere has no posterior: the mean alone, P(best) unknown, JSON null."""
    v = bundled.zoo_.factors.V.mean(axis=0)
    s = bundled.suggest(task_vector=v, candidates=list(bundled.zoo_.model_ids[:20]))
    (p,) = s.proposals
    assert p.model in bundled.zoo_.model_ids[:20] and math.isnan(p.p_best)
    assert json.loads(json.dumps(s.to_dict()))["proposals"][0]["p_best"] is None
    assert "(no interval)" in s.format_lines()[0] and "P(best) ?" in s.format_lines()[0]


def test_ucb_batch_reasons_say_what_each_value_assumed(bundled):
    """A batch pick's acquisition value comes from the ranking with the earlier picks believed
    measured; its reason says so, and ucb's label does not claim to be the printed interval's
    end (it leaves out the task's shared units, which the interval includes)."""
    s = bundled.suggest(known={"resnet50": 0.91, "alexnet": 0.78, "mobilenet_w1": 0.85}, strategy="ucb", batch=3)
    first, second, third = (p.reason for p in s.proposals)
    assert "believed" not in first
    assert "with pick 1 believed measured" in second and "with picks 1-2 believed measured" in third
    assert "shared units left out" in first
    for p in s.proposals:
        assert p.acquisition <= p.high + 1e-12 or p.high == 1.0  # never above the interval unless clipped
