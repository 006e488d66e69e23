"""Cold start for new models: vectors predicted from features, ranked with the rest;
the loo-model protocol beside the feature-regression baseline; `fennec add-model`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import require

from fennec_core import Fennec
from fennec_core.errors import InputError
from fennec_core.evaluation import evaluate
from fennec_core.records import History, ModelCard, TaskCard


def _zoo(m=40, n=6, seed=0):
    """Scores driven by two model features, so a model's row is predictable from them."""
    rng = np.random.default_rng(seed)
    size, depth = rng.random(m), rng.random(m)
    w = rng.random((2, n))
    P = np.stack([size, depth], axis=1) @ w + 0.02 * rng.standard_normal((m, n))
    h = History([f"m{i}" for i in range(m)], [f"t{j}" for j in range(n)], P, np.ones((m, n), bool))
    cards = [ModelCard(f"m{i}", meta={"size": float(size[i]), "depth": float(depth[i])}) for i in range(m)]
    return h, cards, w


@pytest.mark.parametrize("factorizer", ["pmf", "nmf"])
@pytest.mark.slow
def test_new_model_is_ranked_from_its_features(factorizer):
    h, cards, w = _zoo()
    eng = Fennec(factorizer, device="cpu").fit(h, cards)
    best = ModelCard("brand-new", meta={"size": 1.5, "depth": 1.5})  # beyond every model on both
    worst = ModelCard("tiny-new", meta={"size": -0.5, "depth": -0.5})
    assert eng.add_models([best, worst]) == ["brand-new", "tiny-new"]
    cells = eng.predict_cells(["brand-new", "tiny-new"], h.task_ids)
    assert np.all(cells[0] > cells[1])
    r = eng.rank(TaskCard("new-task"))
    assert r.model_ids[0] == "brand-new" and r.model_ids[-1] == "tiny-new"
    assert set(r.info["predicted_models"]) == {"brand-new", "tiny-new"}
    if factorizer == "pmf":  # predicted models are less certain than fitted ones
        sd = dict(zip(r.model_ids, r.parts["sd"], strict=True))
        assert sd["brand-new"] > np.median(list(sd.values()))


def test_add_models_errors_and_persistence(tmp_path):
    h, cards, _ = _zoo()
    eng = Fennec(device="cpu").fit(h, cards)
    with pytest.raises(InputError, match="already in the zoo"):
        eng.add_models([ModelCard("m0", meta={"size": 0.1})])
    with pytest.raises(InputError, match="none of the zoo's model features"):
        eng.add_models([ModelCard("x", meta={"other": 1.0})])
    eng.add_models([ModelCard("new", meta={"size": 0.5, "depth": 0.5})])
    eng.save(tmp_path / "zoo")
    back = Fennec.load(tmp_path / "zoo")
    assert back.zoo_.predicted_models == ("new",) and back.rank().model_ids == eng.rank().model_ids
    with pytest.raises(InputError, match="needs model meta features"):
        Fennec(device="cpu").fit(h).add_models([ModelCard("y", meta={"size": 1.0})])


@pytest.mark.slow
def test_loo_model_protocol():
    h, cards, _ = _zoo(m=25, n=5)
    report = evaluate(Fennec(device="cpu"), h, protocol="loo-model", models=cards)
    assert report.protocol == "loo-model" and report.baseline == "feature regression"
    assert len(report.predictions) == 25 * 5
    assert report.mean()["pearson"] > 90 and report.mean("static")["pearson"] > 90
    with pytest.raises(InputError, match="models table with meta features"):
        evaluate(Fennec(device="cpu"), h, protocol="loo-model")


@pytest.mark.slow
def test_add_model_cli_builds_the_architecture(cli, tmp_path):
    require("pytorchcv.model_provider")
    from fennec_core.io.bundled import data_path

    code, _, err = cli("fit", "--history", data_path("zoo105_history.csv"), "--models", data_path("zoo105_models.csv"),
                       "--tasks", data_path("zoo105_tasks.csv"), "--out", tmp_path / "zoo", "-q")
    assert code == 0, err
    code, _, err = cli("add-model", "--zoo", tmp_path / "zoo", "--model", "pytorchcv:resnet18", "--name", "my-resnet18")
    assert code == 0, err
    code, out, err = cli("rank", "--zoo", tmp_path / "zoo", "--top", "200", "--json")
    doc = json.loads(out)
    assert doc["info"]["predicted_models"] == ["my-resnet18"]
    assert Fennec.load(tmp_path / "zoo").zoo_.models["my-resnet18"].meta["log10_params"] == pytest.approx(7.07, abs=0.01)


@pytest.mark.slow
def test_architecture_features_from_the_models_table(cli, tmp_path):
    """--archi graph2vec captures each model's architecture (pytorchcv, no weights) and adds
    meta features and archi2vec components (or KMeans one-hot) to the models table."""
    require("pytorchcv.model_provider")
    require("karateclub")
    from fennec_core.architecture.encoding import fit_architectures
    from fennec_core.records import ModelCard

    names = ["resnet18", "resnet34", "mobilenet_w1", "vgg11", "densenet121", "alexnet"]
    cards = [ModelCard(n, f"pytorchcv:{n}") for n in names] + [ModelCard("no-arch", None, {"log10_params": 6.0})]
    out = fit_architectures(cards, encoder_config={"epochs": 20}, dims=2)[0]
    assert {"log10_params", "depth", "log10_flops", "arch_pc_0", "arch_pc_1"} <= set(out[0].meta)
    assert out[-1].meta == {"log10_params": 6.0}
    onehot = fit_architectures(cards[:-1], encoder_config={"epochs": 20}, clusters=2)[0]
    assert all(sum(v for k, v in c.meta.items() if k.startswith("arch_cluster_")) == 1.0 for c in onehot)
    rows = ["model,task,score"] + [f"{n},t{j},{0.5 + 0.05 * i + 0.01 * j}" for i, n in enumerate(names) for j in range(3)]
    (tmp_path / "h.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "m.csv").write_text("model,architecture\n" + "".join(f"{n},pytorchcv:{n}\n" for n in names))
    code, _, err = cli("fit", "--history", tmp_path / "h.csv", "--models", tmp_path / "m.csv", "--archi", "graph2vec",
                       "--out", tmp_path / "zoo", "-q")
    assert code == 0, err
    assert "arch_pc_0" in Fennec.load(tmp_path / "zoo").zoo_.models["resnet18"].meta
    code, _, err = cli("fit", "--history", tmp_path / "h.csv", "--archi", "graph2vec", "--out", tmp_path / "z2")
    assert code == 2 and "--archi needs --models" in err
