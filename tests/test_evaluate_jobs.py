"""Evaluation folds in parallel (``jobs``): the same report for any number of workers, and the
fast parts of a fold's refit giving the numbers of the slow ones."""

from __future__ import annotations

import numpy as np
import pytest
from checks import same_report as _same
from conftest import proxy_zoo

from fennec_core import Fennec
from fennec_core.errors import InputError
from fennec_core.evaluation import evaluate, evaluate_search
from fennec_core.evaluation.folds import check_jobs, run_folds, single_threaded


@pytest.mark.parametrize("protocol", ["loo", "loo-warm:3"])
@pytest.mark.slow
def test_one_job_and_two_give_the_same_report(protocol):
    """Folds in two worker processes: every number and every prediction as in one process (each
    fold's draws come from the seed and its index only, and every fold runs on one thread)."""
    history, embeddings, cards = proxy_zoo(6, 12, 0, items=5)
    engine = Fennec(factorizer_config={"k": 2}, task_mapping="kernel-ridge-cv", device="cpu")
    kw = {"protocol": protocol, "models": cards, "task_embeddings": embeddings, "repeats": 2}
    one = evaluate(engine, history, jobs=1, **kw)
    two = evaluate(engine, history, jobs=2, **kw)
    assert len(one.tasks) == 6 and one.predictions
    _same(one, two)


def test_search_with_two_jobs_is_the_same():
    history, _, cards = proxy_zoo(4, 10, 1)
    engine = Fennec(factorizer_config={"k": 2}, device="cpu")
    one = evaluate_search(engine, history, 2, models=cards, random_draws=3, jobs=1)
    two = evaluate_search(engine, history, 2, models=cards, random_draws=3, jobs=2)
    assert one.to_dict() == two.to_dict() and one.predictions == two.predictions


@pytest.mark.parametrize("jobs", [0, 1.5, True, "2", None])
def test_bad_jobs(small_history, jobs):
    with pytest.raises(InputError, match="jobs"):
        evaluate(Fennec(factorizer_config={"k": 2}), small_history, jobs=jobs)


def test_jobs_need_arguments_that_pickle(small_history):
    from fennec_core.plugin.registry import default_registry

    engine = Fennec(factorizer_config={"k": 2}, registry=default_registry())  # a registry holds a lock
    with pytest.raises(InputError, match="worker processes"):
        evaluate(engine, small_history, jobs=2)


def test_negative_jobs_count_back_from_the_cores(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert (check_jobs(3), check_jobs(-1), check_jobs(-2), check_jobs(-20)) == (3, 8, 7, 1)


def test_cli_jobs(cli, small_history_csv):
    code, _, err = cli("evaluate", "--history", small_history_csv, "--jobs", "0", "-q")
    assert code != 0 and "jobs" in err
    code, out, _ = cli("evaluate", "--history", small_history_csv, "--config", "factorizer.k=2", "--jobs", "1",
                       "-q", "--json")
    assert code == 0 and '"per_task"' in out


def _threads() -> tuple[int, int]:
    import torch
    from threadpoolctl import threadpool_info

    blas = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return torch.get_num_threads(), max(blas, default=1)


def test_a_fold_runs_on_one_thread_and_the_threads_come_back():
    import torch
    from threadpoolctl import threadpool_limits

    # the suite runs one thread per process (conftest): start from two, or this could not fail
    outer = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with threadpool_limits(limits=2, user_api="blas"):
            assert _threads() == (2, 2)
            assert single_threaded(_threads) == (1, 1)
            assert _threads() == (2, 2)
    finally:
        torch.set_num_threads(outer)
    assert run_folds(divmod, [(7, 2), (9, 4)], shared=()) == [(3, 1), (2, 1)]
    assert run_folds(pow, [(2,), (3,)], shared=(10,)) == [100, 1000]  # shared arguments come first


@pytest.mark.parametrize("shape", [(400, 7), (5, 9)])
def test_ridge_gcv_gives_ridgecv_numbers(shape):
    """The meta model's ridge (refit in every fold) chooses RidgeCV's alpha and its coefficients,
    with more samples than features (its own path) and fewer (RidgeCV's)."""
    from sklearn.linear_model import RidgeCV

    from fennec_core.scoring.meta_score import ALPHAS, ridge_gcv

    rng = np.random.default_rng(3)
    X = rng.normal(size=shape) * rng.uniform(0.1, 10, size=shape[1])
    y = X @ rng.normal(size=shape[1]) + rng.normal(size=shape[0])
    for noise in (0.1, 3.0, 30.0):  # different alphas win
        target = y + noise * rng.normal(size=shape[0])
        reg = RidgeCV(alphas=ALPHAS).fit(X, target)
        coef, intercept, alpha = ridge_gcv(X, target, ALPHAS)
        assert alpha == reg.alpha_
        np.testing.assert_allclose(coef, reg.coef_, rtol=1e-10, atol=1e-12)
        assert intercept == pytest.approx(reg.intercept_, rel=1e-10, abs=1e-12)
