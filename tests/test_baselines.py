"""The baseline suite: each member's numbers against an independent computation (pandas and
scipy, written from the definitions), and how reports choose and show ``best``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import weightedtau

from fennec_core import Fennec
from fennec_core.errors import InputError
from fennec_core.evaluation import evaluate
from fennec_core.evaluation.baselines import (
    Static,
    available_baselines,
    get_baseline,
    matching_tasks,
    nearest_task,
    register_baseline,
    suite_scores,
)
from fennec_core.evaluation.search import evaluate_search
from fennec_core.records import History, ModelCard, TaskCard


def _frame(history: History) -> pd.DataFrame:
    """The history as a models x tasks DataFrame (NaN where unobserved)."""
    return pd.DataFrame(np.where(history.mask, history.scores, np.nan), index=list(history.model_ids),
                        columns=list(history.task_ids))


def _normalised(df: pd.DataFrame, method: str) -> pd.DataFrame:
    """Per-task normalisation written from its definition (population std)."""
    if method == "minmax":
        return (df - df.min()) / (df.max() - df.min())
    if method == "none":
        return df
    z = (df - df.mean()) / df.std(ddof=0)
    return z.clip(lower=0.0) if method == "zscore-clip" else z


def _tau(truth: pd.Series, scores: pd.Series) -> float:
    ok = truth.notna() & scores.notna()
    return float(weightedtau(truth[ok].to_numpy(), scores[ok].to_numpy(), rank=None)[0])


@pytest.fixture
def table(published):
    return published[1]


def test_static_members_match_pandas(table):
    df = _frame(table)
    for task in table.task_ids:
        train = table.without_task(task)
        suite = suite_scores(train, task=TaskCard(task))
        for method, name in (("zscore", "static"), ("minmax", "static-minmax"), ("zscore-clip", "static-zscore-clip"),
                             ("none", "static-none")):
            expected = _normalised(df.drop(columns=task), method).mean(axis=1)
            np.testing.assert_allclose(suite[name], expected.to_numpy(), rtol=1e-12, atol=1e-12)


def test_report_baselines_are_their_metrics_on_the_hidden_cells(small_history):
    report = evaluate(Fennec(device="cpu"), small_history)
    df = _frame(small_history)
    for t in report.tasks:
        train = df.drop(columns=t.task)
        for method, name in (("zscore", "static"), ("zscore-clip", "static-zscore-clip")):
            expected = _tau(df[t.task], _normalised(train, method).mean(axis=1))
            assert t.baselines[name]["weighted_tau"] == pytest.approx(expected, abs=1e-12)
        assert t.baselines["static"] == t.static  # the classic field is the suite's static
    means = {b: report.mean(b)["weighted_tau"] for b in report.suite()}
    assert report.best("weighted_tau") == max(means, key=lambda b: (means[b], -report.suite().index(b)))
    regrets = {b: report.mean(b)["regret@3"] for b in report.suite()}
    assert report.mean(report.best("regret@3"))["regret@3"] == min(regrets.values())
    doc = report.to_dict()
    assert set(doc["mean"]["baselines"]) == set(report.suite()) and "size" not in doc["mean"]["baselines"]
    best = report.best("weighted_tau")
    assert doc["gain"]["weighted_tau"] == pytest.approx(report.mean()["weighted_tau"] - means[best])
    text = report.format_table()
    assert f"weighted_tau (fennec/{best})" in text and "baseline suite (mean)" in text
    fixed = report.with_compare("static").to_dict()
    assert fixed["reference"]["weighted_tau"] == "static"
    with pytest.raises(InputError, match="not in this report's suite"):
        report.with_compare("nearest")


def test_size_ranks_the_largest_first():
    h = History(["a", "b", "c"], ["x", "y"], [[0.5, 0.6], [0.7, 0.2], [0.1, 0.9]], np.ones((3, 2), bool))
    models = {"a": ModelCard("a", meta={"log10_params": 8.0}), "b": ModelCard("b", meta={"log10_params": 9.5}),
              "c": ModelCard("c")}
    s = suite_scores(h, models=models, task=TaskCard("z"))
    assert list(np.argsort(-s["size"])) == [1, 0, 2]  # b (10^9.5) > a > c (no count: last)
    assert "size" not in suite_scores(h, models={"a": ModelCard("a", meta={"depth": 3.0})}, task=TaskCard("z"))


def _card_history():
    rng = np.random.default_rng(3)
    scores = rng.random((6, 5))
    h = History([f"m{i}" for i in range(6)], ["r1", "r2", "c1", "c2", "s1"], scores, np.ones((6, 5), bool))
    tasks = {"r1": TaskCard("r1", attributes={"type": "Retrieval", "languages": "eng"}),
             "r2": TaskCard("r2", attributes={"type": "Retrieval", "languages": "deu,fra"}),
             "c1": TaskCard("c1", attributes={"type": "Classification", "languages": "eng"}),
             "c2": TaskCard("c2", attributes={"type": "Classification", "languages": "deu"}),
             "s1": TaskCard("s1", attributes={"type": "STS", "languages": "eng"})}
    return h, tasks


def test_card_is_the_mean_over_tasks_sharing_the_card_values():
    h, tasks = _card_history()
    df = _normalised(_frame(h), "zscore")
    new = TaskCard("new", attributes={"type": "Retrieval", "languages": "fra,ita"})
    s = suite_scores(h, tasks=tasks, task=new)["card"]
    np.testing.assert_allclose(s, df[["r2"]].mean(axis=1).to_numpy())  # type and a shared language: r2 only
    # no task shares both: the last field is dropped -> every Classification task
    s = suite_scores(h, tasks=tasks, task=TaskCard("new", attributes={"type": "Classification", "languages": "jpn"}))
    np.testing.assert_allclose(s["card"], df[["c1", "c2"]].mean(axis=1).to_numpy())
    # nothing matches even the first field: static
    s = suite_scores(h, tasks=tasks, task=TaskCard("new", attributes={"type": "Clustering"}))
    np.testing.assert_allclose(s["card"], s["static"])
    assert "card" not in suite_scores(h, tasks=tasks, task=TaskCard("new"))  # no attributes: does not apply
    clip = suite_scores(h, tasks=tasks, task=new, normalization="zscore-clip")["card"]
    np.testing.assert_allclose(clip, _normalised(_frame(h), "zscore-clip")[["r2"]].mean(axis=1).to_numpy())
    assert matching_tasks(h, {}, new) is None


def test_nearest_blends_the_best_correlated_column_with_static(table):
    df = _frame(table)
    task = table.task_ids[0]
    train_df = df.drop(columns=task)
    train = table.without_task(task)
    observed = np.flatnonzero(table.column(task)[1])
    rows = observed[[0, 3, 5]]
    known = {int(r): float(df[task].iloc[r]) for r in rows}
    z = _normalised(train_df, "zscore")
    filled = z.apply(lambda col: col.fillna(z.mean(axis=1)))
    corr = filled.iloc[rows].corrwith(pd.Series(list(known.values()), index=filled.index[rows]))
    assert nearest_task(train, known) == int(np.nanargmax(corr.to_numpy()))
    best = train_df.columns[int(np.nanargmax(corr.to_numpy()))]
    for method in ("zscore", "zscore-clip"):
        zz = _normalised(train_df, method)
        static = zz.mean(axis=1)
        expected = 0.5 * zz[best].fillna(static) + 0.5 * static
        got = suite_scores(train, task=TaskCard(task), known=known, normalization=method, warm=True)["nearest"]
        np.testing.assert_allclose(got, expected.to_numpy(), rtol=1e-12)
    assert "nearest" not in suite_scores(train, task=TaskCard(task), known=dict(list(known.items())[:1]))


def test_warm_report_has_nearest(small_history):
    report = evaluate(Fennec(device="cpu"), small_history, protocol="loo-warm:3", repeats=2)
    assert "nearest" in report.suite()
    cold = evaluate(Fennec(device="cpu"), small_history)
    assert "nearest" not in cold.suite()


def test_register_refuses_duplicates_and_bad_names(monkeypatch):
    from fennec_core.evaluation import baselines

    monkeypatch.setattr(baselines, "_REGISTRY", dict(baselines._REGISTRY))
    with pytest.raises(InputError, match="registered already"):
        register_baseline(Static("static", "zscore"))
    with pytest.raises(InputError, match="invalid baseline name"):
        register_baseline(Static("best", "zscore"))
    with pytest.raises(InputError, match="unknown baseline 'nope'; available: best, static"):
        get_baseline("nope")

    class Reverse:  # a third party's rule: the alphabetically first model first
        name = "alphabetical"

        def scores(self, *, history, **_):
            return -np.arange(history.shape[0], dtype=float)

    register_baseline(Reverse())
    assert available_baselines()[-1] == "alphabetical"
    h = History(["a", "b", "c"], ["x", "y", "z"], np.random.default_rng(0).random((3, 3)), np.ones((3, 3), bool))
    report = evaluate(Fennec(device="cpu", factorizer_config={"k": 1}), h)
    assert "alphabetical" in report.suite()


def test_search_reports_each_cold_member_top_k(small_history):
    report = evaluate_search(Fennec(device="cpu"), small_history, 2, random_draws=2)
    assert report.baselines[0] == "static" and "static-zscore-clip" in report.baselines
    df = _frame(small_history)
    for task, per in report.tasks.items():
        z = _normalised(df.drop(columns=task), "zscore-clip").mean(axis=1)
        truth = df[task].dropna()
        top = z[truth.index].sort_values(ascending=False, kind="stable").index[:2]
        assert per["static-zscore-clip"]["regret"][-1] == pytest.approx(truth.max() - truth[top].max())
    doc = report.to_dict()
    assert doc["best"] == min(report.baselines, key=lambda b: report.mean(b, "regret")[-1])
    assert set(doc["mean"]) == {"fennec", "static", "random"} and set(doc["baselines"]) == set(report.baselines)
    assert "baseline suite" in report.format_table()


def test_cli_baseline_option(cli, small_history_csv):
    code, out, err = cli("evaluate", "--history", small_history_csv, "--json", "-q", "--baseline", "static")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["compare"] == "static" and set(doc["reference"].values()) == {"static"}
    assert "static-zscore-clip" in doc["mean"]["baselines"]
    code, out, err = cli("evaluate", "--history", small_history_csv, "-q", "--baseline", "nope")
    assert code == 2 and "unknown baseline 'nope'" in err and len(err.strip().splitlines()) == 1
