"""Probe scores fused with the history (fennec_core.scoring.probes, the loo-probe protocol, the CLI).

Real data: the Model Spider table (tests/data/modelspider_*.csv, credited in tests/data/SOURCES.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import numpy as np
import pytest

from fennec_core import Fennec
from fennec_core.errors import FennecError
from fennec_core.io.probe_tables import read_probe_table
from fennec_core.records import History
from fennec_core.scoring.probes import (
    ProbeFit,
    ProbeMapping,
    check_probes,
    fit_estimator,
    fit_probes,
    fuse_scores,
)

DATA = Path(__file__).parent / "data"
HISTORY = DATA / "modelspider_classification_history.csv"
PROBES = DATA / "modelspider_probe_scores.csv"


@pytest.fixture(scope="module")
def table():
    return read_probe_table(PROBES)


@pytest.fixture(scope="module")
def fitted(table):
    return fit_probes(Fennec(seed=0).fit(str(HISTORY)), table, estimators=["logme", "nce"])


def _task_probes(table, task, estimator):
    return {m: {estimator: s} for m, s in table[task][estimator].items()}


def test_the_mapping_recovers_a_known_slope_offsets_and_noise():
    rng = np.random.default_rng(0)
    m, n, slope, noise = 40, 16, 0.6, 0.09
    offsets = rng.normal(0, 0.5, m)
    models, tasks = [f"m{i}" for i in range(m)], [f"t{j}" for j in range(n)]
    probe = rng.normal(size=(m, n))
    probe = (probe - probe.mean(0)) / probe.std(0)
    y = slope * probe + offsets[:, None] + rng.normal(0, np.sqrt(noise), (m, n))
    history = History(models, tasks, y, np.ones((m, n), dtype=bool))
    table = {t: {"est": {mid: 3.0 + 2.0 * probe[i, j] for i, mid in enumerate(models)}} for j, t in enumerate(tasks)}
    fit = fit_estimator(history, y, table, "est", tasks, seed=0)
    assert fit.slope == pytest.approx(slope, abs=0.05)
    assert fit.noise / fit.temper == pytest.approx(noise, rel=0.25)
    assert np.corrcoef(fit.offsets, offsets)[0, 1] > 0.9
    assert fit.n_tasks == n and fit.n_pairs == m * n


def _fit(noise: float, slope: float = 1.0, m: int = 6) -> ProbeMapping:
    return ProbeMapping([f"m{i}" for i in range(m)], {"est": ProbeFit("est", slope, noise, 0.5, 1e9, 1.0, 3, 18,
                                                                      np.zeros(m))})


def test_a_probe_with_infinite_noise_leaves_the_prior_and_one_without_noise_is_followed():
    prior = np.array([0.9, 0.5, 0.1, -0.2, -0.4, -0.9])
    probes = {f"m{i}": {"est": float(s)} for i, s in enumerate([1.0, 4.0, 2.0, 6.0, 3.0, 5.0])}
    post, _, shrink = fuse_scores(_fit(1e300), prior, probes)
    np.testing.assert_allclose(post, prior)
    np.testing.assert_allclose(shrink, 1.0)
    post, shown, _ = fuse_scores(_fit(1e-12), prior, probes)
    np.testing.assert_allclose(post, shown, atol=1e-9)
    assert list(np.argsort(-post)) == [3, 5, 1, 4, 2, 0]  # the probe's order


def test_probes_of_a_subset_are_placed_on_the_history_level_of_that_subset():
    prior = np.array([0.9, 0.5, 0.1, -0.2, -0.4, -0.9])
    post, shown, _ = fuse_scores(_fit(1e-12), prior, {"m0": {"est": 1.0}, "m1": {"est": 3.0}, "m2": {"est": 2.0}})
    assert np.isnan(shown[3:]).all() and shown[:3].mean() == pytest.approx(prior[:3].mean())
    np.testing.assert_allclose(post[3:], prior[3:])  # unprobed models keep their prior
    assert list(np.argsort(-post[:3])) == [1, 2, 0]


def test_engine_rank_with_noiseless_probes_follows_them_and_with_infinite_noise_equals_no_probes(fitted, table):
    probes = _task_probes(table, "Aircraft", "logme")
    base = fitted.rank("new-task")
    loud = attrs.evolve(fitted.zoo_.probe_mapping.fits["logme"], noise=1e300)
    fitted_loud = fitted.clone()
    fitted_loud.zoo_ = fitted.zoo_.with_changes(probe_mapping=ProbeMapping(fitted.zoo_.model_ids, {"logme": loud}))
    same = fitted_loud.rank("new-task", probes=probes)
    assert same.model_ids == base.model_ids
    np.testing.assert_allclose(same.scores, base.scores)
    exact = attrs.evolve(loud, noise=1e-12, slope=1.0, offsets=np.zeros(len(fitted.zoo_.model_ids)))
    fitted_loud.zoo_ = fitted.zoo_.with_changes(probe_mapping=ProbeMapping(fitted.zoo_.model_ids, {"logme": exact}))
    followed = fitted_loud.rank("new-task", probes=probes)
    by_probe = sorted(probes, key=lambda m: -probes[m]["logme"])
    assert list(followed.model_ids) == by_probe
    fused = fitted.rank("new-task", probes=probes, top=3)
    assert len(fused) == 3 and "history" in fused.parts and "probe" in fused.parts
    assert fused.info["task_vector_source"].endswith("+probes") and not fused.cold


def test_the_mapping_is_stored_with_the_zoo(fitted, table, tmp_path):
    fitted.save(tmp_path / "zoo")
    loaded = Fennec.load(tmp_path / "zoo")
    a, b = fitted.zoo_.probe_mapping, loaded.zoo_.probe_mapping
    assert sorted(b.fits) == ["logme", "nce"] and a.model_ids == b.model_ids
    for est in a.fits:
        assert a.fits[est].slope == b.fits[est].slope and a.fits[est].noise == b.fits[est].noise
        np.testing.assert_array_equal(a.fits[est].offsets, b.fits[est].offsets)
    probes = _task_probes(table, "DTD", "nce")
    assert loaded.rank("x", probes=probes).model_ids == fitted.rank("x", probes=probes).model_ids


def test_bad_probes_raise_errors_naming_the_argument(fitted, table):
    with pytest.raises(FennecError, match="no probe mapping"):
        Fennec(seed=0).fit(str(HISTORY)).rank("x", probes=_task_probes(table, "DTD", "logme"))
    with pytest.raises(FennecError, match="'hscore' has no mapping"):
        fitted.rank("x", probes=_task_probes(table, "DTD", "hscore"))
    with pytest.raises(FennecError, match="not a model"):
        check_probes({"nope": {"logme": 1.0}}, fitted.zoo_.probe_mapping)
    with pytest.raises(FennecError, match="finite number"):
        check_probes({"resnet50": {"logme": float("nan")}}, fitted.zoo_.probe_mapping)
    with pytest.raises(FennecError, match="fewer than 3"):
        fitted.rank("x", probes={"resnet50": {"logme": 1.0}, "googlenet": {"logme": 2.0}})
    with pytest.raises(FennecError, match="all equal"):
        fitted.rank("x", probes={m: {"logme": 1.0} for m in ("resnet50", "googlenet", "densenet121")})


def test_the_protocol_fits_the_mapping_on_the_training_tasks_only(table):
    from fennec_core.evaluation.probe_protocol import fold_engine
    from fennec_core.io.tables import read_history

    history = read_history(HISTORY)
    changed = {t: {e: dict(s) for e, s in v.items()} for t, v in table.items()}
    changed["Pet"]["logme"] = {m: -s * 7.0 for m, s in changed["Pet"]["logme"].items()}
    a = fold_engine(Fennec(seed=0), history, table, "logme", "Pet").zoo_.probe_mapping.fits["logme"]
    b = fold_engine(Fennec(seed=0), history, changed, "logme", "Pet").zoo_.probe_mapping.fits["logme"]
    assert (a.slope, a.noise, a.ridge, a.temper, a.n_tasks) == (b.slope, b.noise, b.ridge, b.temper, b.n_tasks)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    c = fold_engine(Fennec(seed=0), history, changed, "logme", "DTD").zoo_.probe_mapping.fits["logme"]
    assert c.slope != a.slope  # the changed scores do count where Pet is a training task
    assert a.n_tasks == 7


@pytest.mark.slow
def test_loo_probe_on_the_model_spider_table_beats_the_history_and_the_estimator_alone(table):
    from fennec_core.evaluation.probe_protocol import evaluate_probes
    from fennec_core.io.tables import read_history

    report = evaluate_probes(Fennec(seed=0), read_history(HISTORY), table, "loo-probe:nce")
    method = report.mean()["weighted_tau"]
    suite = {name: report.mean(name)["weighted_tau"] for name in ("history", "nce alone", "static")}
    assert len(report.tasks) == 8
    assert method > suite["history"] + 0.02 and method > suite["nce alone"] + 0.05 and method > suite["static"]


def test_protocol_names_are_checked():
    from fennec_core.evaluation.probe_protocol import parse_probe_protocol

    assert parse_probe_protocol("loo-probe:logme") == ("logme", None)
    assert parse_probe_protocol("loo-probe:logme:5") == ("logme", 5)
    for bad in ("loo-probe:", "loo-probe:logme:1", "loo-probe:logme:x", "loo-probe:a:2:3"):
        with pytest.raises(FennecError, match="loo-probe"):
            parse_probe_protocol(bad)


def _cli(*argv):
    from fennec_core.cli import main

    return main(list(argv))


def test_cli_fit_and_rank_with_probes_and_bad_probe_files_exit_2(tmp_path, capsys):
    store = str(tmp_path / "zoo")
    assert _cli("fit", "--history", str(HISTORY), "--probes", str(PROBES), "--out", store, "-q") == 0
    good = tmp_path / "p.csv"
    good.write_text("model,estimator,score\n" + "".join(
        f"{m},logme,{s}\n" for m, s in read_probe_table(PROBES)["Pet"]["logme"].items()))
    capsys.readouterr()
    assert _cli("rank", "--zoo", store, "--new-task", "--task", "x", "--probes", str(good), "--json", "-q") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["info"]["task_vector_source"] == "cold+probes"
    assert _cli("next", "--zoo", store, "--new-task", "--task", "x", "--probes", str(good), "--json", "-q") == 0
    capsys.readouterr()
    bad = {"nocol.csv": "model,score\nresnet50,1\n",
           "dup.csv": "model,estimator,score\nresnet50,logme,1\nresnet50,logme,2\n",
           "nan.csv": "model,estimator,score\nresnet50,logme,abc\n",
           "unknown.csv": "model,estimator,score\nresnet50,mystery,1\ngooglenet,mystery,2\ndensenet121,mystery,3\n"}
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        assert _cli("rank", "--zoo", store, "--new-task", "--task", "x", "--probes", str(tmp_path / name)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("probes" in err[0] or name in err[0]), err
    (tmp_path / "long.csv").write_text("model,task,estimator,score\nresnet50,Pet,logme,1\nresnet50,Pet,logme,2\n")
    assert _cli("evaluate", "--history", str(HISTORY), "--probes", str(tmp_path / "long.csv"),
                "--protocol", "loo-probe:logme", "-q") == 2
    assert "repeats line" in capsys.readouterr().err
    assert _cli("evaluate", "--history", str(HISTORY), "--probes", str(PROBES), "--protocol", "loo", "-q") == 2


def test_post_rank_and_next_take_probes_as_the_python_api_does(fitted, table, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from fennec_core.serve.app import create_app
    from fennec_core.serve.settings import resolve_settings

    fitted.save(tmp_path / "ms.zarr")
    settings = resolve_settings(zoos=[str(tmp_path / "ms.zarr")], data_dir=str(tmp_path / "data"), preload_text=False)
    api = TestClient(create_app(settings), raise_server_exceptions=False, base_url="http://localhost")
    probes = _task_probes(table, "Cars", "nce")
    want = Fennec.load(tmp_path / "ms.zarr").rank("new", probes=probes, top=5)
    doc = api.post("/rank", json={"task": "new", "probes": probes, "top": 5}).json()
    assert [m["model"] for m in doc["models"]] == list(want.model_ids)
    assert doc["info"]["task_vector_source"] == "cold+probes"
    assert api.post("/next", json={"task": "new", "probes": probes}).status_code == 200
    bad = api.post("/rank", json={"task": "new", "probes": {"resnet50": {"hscore": 1.0}}})
    assert bad.status_code in (400, 422) and "hscore" in bad.json()["detail"]


def test_a_probe_task_of_the_zoo_maps_itself_when_ranked_with_its_scores():
    from fennec_core.io.catalog import resolve

    engine = Fennec.load(resolve("hf-nlp"))
    assert engine.zoo_.probe_mapping is None
    col, observed = engine.zoo_.history.column("mnli_lp")
    ids = [m for m, seen in zip(engine.zoo_.model_ids, observed, strict=True) if seen][:200]
    probes = {m: {"mnli_lp": float(col[engine.zoo_.history.model_index(m)])} for m in ids}
    ranking = engine.rank("new", probes=probes, top=5)
    fit = engine.zoo_._derived["probe-task-mapping", ("mnli_lp",)].fits["mnli_lp"]
    assert fit.n_tasks == 36 and fit.slope > 0
    assert ranking.info["task_vector_source"] == "cold+probes" and len(ranking) == 5
    with pytest.raises(FennecError, match="no probe mapping"):
        Fennec.load(resolve("hf-nlp")).rank("new", probes={m: {"logme": 1.0 + i} for i, m in enumerate(ids[:3])})


def test_a_damaged_stored_mapping_is_one_store_error():
    from fennec_core.errors import StoreError
    from fennec_core.io.zoo_codec import _decode_probes

    good = {"model_ids": ["a", "b"], "estimators": [{"estimator": "logme", "slope": 0.5, "noise": 0.1,
                                                    "prior_var": 0.3, "ridge": 1.0, "temper": 1.0, "n_tasks": 3,
                                                    "n_pairs": 6}]}
    assert _decode_probes({"probes/offsets/0": np.zeros(2)}, good).fits["logme"].slope == 0.5
    for arrays, attributes in [({"probes/offsets/0": np.zeros(3)}, good), ({}, good),
                               ({"probes/offsets/0": np.array([0.0, np.nan])}, good),
                               ({"probes/offsets/0": np.zeros(2)}, {**good, "estimators": [{"slope": "x"}]}),
                               ({"probes/offsets/0": np.zeros(2)}, {"model_ids": 3, "estimators": []})]:
        with pytest.raises(StoreError, match="probe mapping is damaged"):
            _decode_probes(arrays, attributes)
