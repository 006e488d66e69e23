"""Intervals for a task the zoo has not seen: the uncertainty of its
unknown units is in them, known scores set the units, and accuracies stay in [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest

from fennec_core import Fennec
from fennec_core.evaluation import fit_without_task
from fennec_core.io import catalog


def test_cold_intervals_cover_most_hidden_cells_of_the_bundled_zoo():
    # before: 112 of 735 hidden cells (15%) inside the "90%" interval; now 614 (84%)
    zoo_engine = Fennec.load(catalog.get("pytorchcv105").path, device="cpu")
    zoo = zoo_engine.zoo_
    inside = total = 0
    for task in zoo.task_ids:
        engine = fit_without_task(zoo_engine, zoo.history, task, models=list(zoo.models.values()),
                                  tasks=list(zoo.tasks.values()))
        ranking = engine.rank(zoo.tasks[task])
        truth, observed = zoo.history.column(task)
        pos = {m: i for i, m in enumerate(ranking.model_ids)}
        for i, m in enumerate(zoo.history.model_ids):
            if observed[i]:
                k = pos[m]
                inside += ranking.parts["low"][k] <= truth[i] <= ranking.parts["high"][k]
                total += 1
    assert 0.8 <= inside / total <= 0.97


def test_known_scores_set_the_units_and_accuracy_is_bounded():
    engine = Fennec.load(catalog.get("pytorchcv105").path, device="cpu")
    # a new task scored far below the zoo's tasks: its units come from the known scores
    ranking = engine.rank(known={"resnet50": 0.60, "regnety006": 0.65, "mobilenet_w1": 0.55})
    pred = dict(zip(ranking.model_ids, ranking.parts["predicted"], strict=True))
    assert abs(pred["resnet50"] - 0.60) < 0.06 and np.median(ranking.parts["predicted"]) < 0.75
    # a task of the zoo with scores above its range: accuracies stay in [0, 1]
    p = engine.rank(engine.zoo_.tasks["sport"], known={"resnet50": 0.999, "regnety006": 0.9995}).parts
    assert np.all((p["low"] >= 0) & (p["high"] <= 1) & (p["low"] <= p["predicted"]) & (p["predicted"] <= p["high"]))


def _coverage(report):
    summary = report.interval_summary()
    assert summary is not None, "the rankings carried no intervals"
    return summary["coverage"]


@pytest.mark.slow
def test_intervals_of_tasks_placed_by_their_embeddings_cover_most_hidden_cells():
    # before: a task placed by its proxy embeddings had no interval at all
    from fennec_core.evaluation import evaluate

    loaded = Fennec.load(catalog.get("pytorchcv105").path, device="cpu")
    zoo = loaded.zoo_
    report = evaluate(loaded.clone(), zoo.history, models=list(zoo.models.values()), tasks=list(zoo.tasks.values()),
                      task_embeddings=dict(zoo.task_embeddings))
    assert 0.8 <= _coverage(report) <= 0.97
    assert report.to_dict()["intervals"]["cells"] == int(zoo.history.mask.sum())


def test_the_mapping_error_is_its_leave_one_task_out_residual_covariance():
    from fennec_core.task.mapping import TaskMapper

    rng = np.random.default_rng(0)
    emb = {f"t{i}": rng.normal(size=(3, 8)) for i in range(6)}
    vec = {t: rng.normal(size=2) for t in emb}
    cov = TaskMapper("kernel-ridge").fit(emb, vec).residual_cov()
    resid = []
    for t in emb:
        rest = [u for u in emb if u != t]
        sub = TaskMapper("kernel-ridge").fit({u: emb[u] for u in rest}, {u: vec[u] for u in rest})
        resid.append(vec[t] - sub.predict(emb[t]))
    R = np.array(resid)
    np.testing.assert_allclose(cov, R.T @ R / 5 + 1e-9 * np.eye(2), rtol=1e-10)


def test_the_new_task_inflation_is_the_student_t_prediction_interval():
    from scipy.special import stdtrit

    from fennec_core.scoring.ranking import Z90, new_draw_inflation

    for n in (2, 4, 6, 7, 12, 37, 200):
        exact = (stdtrit(n - 1, 0.95) / Z90) ** 2 * (1 + 1 / n) * n / (n - 1)
        assert abs(new_draw_inflation(n) - exact) < 2e-3 * exact


def test_units_inferred_from_known_scores_carry_their_uncertainty():
    from fennec_core.task.vector import infer_units

    engine = Fennec.load(catalog.get("pytorchcv105").path, device="cpu")
    zoo = engine.zoo_
    col, _ = zoo.history.column("flower")
    few = {m: float(col[zoo.history.model_index(m)]) for m in zoo.history.model_ids[:2]}
    many = {m: float(col[zoo.history.model_index(m)]) for m in zoo.history.model_ids[:30]}
    u_few, u_many = (infer_units(zoo, engine.components.factorizer, k) for k in (few, many))
    assert u_few.var_offset > u_many.var_offset > 0 and u_few.var_log_scale > 0
    # the interval of a new task with two known results is wider than the spread models share
    r = engine.rank(known=few)
    half = (r.parts["high"] - r.parts["low"]) / 2
    assert np.all(r.parts["sd_relative"] * 1.6448536 <= half + 1e-12)


@pytest.mark.slow
def test_warm_start_coverage_is_measured_in_the_report():
    from fennec_core.evaluation import evaluate

    engine = Fennec.load(catalog.get("pytorchcv105").path, device="cpu")
    report = evaluate(engine.clone(), engine.zoo_.history, protocol="loo-warm:3", repeats=1)
    per_task = [t.intervals for t in report.tasks]
    assert all(t["cells"] == int(engine.zoo_.history.mask[:, 0].sum()) - 3 for t in per_task)
    # measured 76.9% over 5 repeats (docs/results.md): below the 80% goal, reported, not hidden
    assert 0.6 <= _coverage(report) <= 0.97
    assert "90% intervals:" in report.format_table()


def test_a_given_task_vector_with_its_covariance_ranks_as_its_embeddings_do():
    import pytest

    from fennec_core.errors import InputError

    engine = Fennec.load(catalog.get("pytorchcv105").path, device="cpu")
    emb = engine.zoo_.task_embeddings["flower"]
    by_embeddings = engine.rank(task_embeddings=emb)
    from fennec_core.task.mapping import TaskMapper

    mapper = TaskMapper.for_zoo(engine.zoo_, engine.task_mapping, seed=engine.seed)
    given = engine.rank(task_vector=mapper.predict(emb), task_vector_cov=mapper.residual_cov())
    assert given.model_ids == by_embeddings.model_ids
    np.testing.assert_allclose(given.parts["low"], by_embeddings.parts["low"])
    assert "low" not in engine.rank(task_vector=mapper.predict(emb)).parts  # no covariance: no interval
    k = engine.zoo_.factors.k
    with pytest.raises(InputError, match="give task_vector too"):
        engine.rank(task_vector_cov=np.eye(k))
    with pytest.raises(InputError, match=r"task_vector_cov must be a finite"):
        engine.rank(task_vector=mapper.predict(emb), task_vector_cov=np.eye(k + 1))


def test_a_history_with_a_slightly_negative_correlation_task_still_bounds_accuracies_by_one():
    """hf-nlp holds one stsb correlation of -0.013 beside accuracies: intervals used to reach 1.07."""
    engine = Fennec.load(catalog.get("hf-nlp").path, device="cpu")
    assert engine.zoo_.history.values.min() < 0
    p = engine.rank(known={m: 0.93 for m in engine.zoo_.model_ids[:3]}).parts
    assert p["high"].max() <= 1.0 and p["predicted"].max() <= 1.0
    assert p["low"].min() >= engine.zoo_.history.values.min()


def test_models_observed_on_a_zoo_task_show_their_score_not_a_prediction(cli):
    code, out, _ = cli("rank", "--task", "flower", "--top", "4")
    assert code == 0
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [r[2:4] for r in rows] == [["-", "observed"]] * 4
