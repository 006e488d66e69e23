"""Evaluation folds on a Dask cluster (``--scheduler``): the same report, bit for bit, as in
one process, and one clear line when the cluster cannot be used."""

from __future__ import annotations

import json

import pytest
from checks import same_report as _same
from conftest import proxy_zoo

from fennec_core import Fennec
from fennec_core.errors import InputError
from fennec_core.evaluation import evaluate, evaluate_search
from fennec_core.evaluation.folds import dask_scheduler, run_folds

distributed = pytest.importorskip("distributed", reason="the Dask backend needs dask[distributed] (the test extra)")


@pytest.fixture(scope="module")
def scheduler():
    """The address of a local two-worker Dask cluster (one thread per worker process)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


@pytest.mark.parametrize("protocol", ["loo", "loo-warm:3"])
def test_folds_on_dask_equal_one_process(scheduler, protocol):
    history, embeddings, cards = proxy_zoo(6, 12, 0, items=5)
    engine = Fennec(factorizer_config={"k": 2}, task_mapping="kernel-ridge-cv", device="cpu")
    kw = {"protocol": protocol, "models": cards, "task_embeddings": embeddings, "repeats": 2}
    one = evaluate(engine, history, jobs=1, **kw)
    with dask_scheduler(scheduler):
        two = evaluate(engine, history, jobs=2, **kw)
    assert len(one.tasks) == 6 and one.predictions
    _same(one, two)


def test_search_on_dask_is_the_same(scheduler):
    history, _, cards = proxy_zoo(4, 10, 1)
    engine = Fennec(factorizer_config={"k": 2}, device="cpu")
    one = evaluate_search(engine, history, 2, models=cards, random_draws=3, jobs=1)
    with dask_scheduler(scheduler):
        two = evaluate_search(engine, history, 2, models=cards, random_draws=3, jobs=-1)
    assert one.to_dict() == two.to_dict() and one.predictions == two.predictions


def test_cli_scheduler_is_bit_identical(cli, scheduler, small_history_csv):
    """`fennec evaluate --jobs 2 --scheduler ADDRESS` prints what `--jobs 1` prints."""
    base = ["evaluate", "--history", small_history_csv, "--config", "factorizer.k=2", "--json", "-q"]
    code1, out1, _ = cli(*base, "--jobs", "1")
    code2, out2, err2 = cli(*base, "--jobs", "2", "--scheduler", scheduler)
    assert code1 == code2 == 0, err2
    assert json.loads(out1) == json.loads(out2)


def test_order_kept_with_fewer_slots_than_folds(scheduler):
    """One fold in flight at a time still returns every fold, in order."""
    folds = [(i,) for i in range(5)]
    assert run_folds(abs, [(-i,) for i, in folds], jobs=1, scheduler=scheduler) == list(range(5))


def test_unreachable_scheduler_one_line_exit_2(cli, monkeypatch, small_history_csv):
    from fennec_core.evaluation import folds

    monkeypatch.setattr(folds, "CONNECT_TIMEOUT", 2)
    code, _, err = cli("evaluate", "--history", small_history_csv, "--config", "factorizer.k=2", "--jobs", "2",
                       "--scheduler", "tcp://127.0.0.1:9", "-q")
    assert code == 2
    assert err.count("\n") == 1 and "no Dask scheduler answers" in err and "dask scheduler" in err


@pytest.mark.parametrize("address", ["", "nowhere", 8786])
def test_bad_scheduler_address(small_history, address):
    with pytest.raises(InputError, match="scheduler must be a Dask scheduler address"), dask_scheduler(address):
        pass
