"""Architecture meta features come from a models table's `architecture` column without `--archi`
(issue 13, item 4): fit and evaluate compute them, the table's own columns win, and add-model
works on such a zoo. `--archi` adds the graph vectors on top."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require
from test_archi_encoding import MODELS

from fennec_core import Fennec
from fennec_core.architecture.encoding import ARCH_FEATURES
from fennec_core.records import ModelCard

NAMES = "abcde"


@pytest.fixture()
def tables(tmp_path, monkeypatch):
    """A history of five tiny conv nets (``py:fennec_tiny_archs:<a..e>``) and a models table
    that names only their architectures."""
    require("torch")
    (tmp_path / "fennec_tiny_archs.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    rows = ["model,task,score"] + [f"{n},t{j},{0.5 + 0.05 * i + 0.02 * j * (i % 2)}"
                                   for i, n in enumerate(NAMES) for j in range(3)]
    (tmp_path / "h.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "m.csv").write_text("model,architecture\n" + "".join(f"{n},py:fennec_tiny_archs:{n}\n" for n in NAMES))
    return tmp_path


def test_fit_without_archi_computes_architecture_features_and_add_model_works(cli, tables):
    code, _, err = cli("fit", "--history", tables / "h.csv", "--models", tables / "m.csv", "--allow-code",
                       "--out", tables / "zoo", "-q")
    assert code == 0, err
    zoo = Fennec.load(tables / "zoo").zoo_
    assert set(zoo.models["a"].meta) == set(ARCH_FEATURES) and zoo.meta_model is not None
    assert zoo.archi is None  # no graph encoder without --archi
    code, _, err = cli("add-model", "--zoo", tables / "zoo", "--model", "py:fennec_tiny_archs:f", "--name", "f")
    assert code == 0, err  # before: "cold start for new models needs model meta features"
    zoo = Fennec.load(tables / "zoo").zoo_
    assert zoo.predicted_models == ("f",) and set(zoo.models["f"].meta) == set(ARCH_FEATURES)


def test_a_models_tables_own_columns_win_and_complete_rows_are_not_built(tables, monkeypatch):
    from fennec_core.architecture import encoding

    cards = [ModelCard(n, f"py:fennec_tiny_archs:{n}", {"input_size": 32.0} if n == "a" else {}) for n in NAMES]
    eng = Fennec(device="cpu").fit(str(tables / "h.csv"), cards)
    a = eng.zoo_.models["a"].meta
    assert a["input_size"] == 32.0 and set(a) == set(ARCH_FEATURES)
    assert eng.zoo_.models["b"].meta["input_size"] == 224.0  # computed: the nominal size

    def no_build(*args, **kwargs):
        raise AssertionError("an architecture whose features the table gives was built")

    monkeypatch.setattr(encoding, "describe_architecture", no_build)
    full = [ModelCard(c.id, c.architecture, dict(eng.zoo_.models[c.id].meta)) for c in cards]
    again = Fennec(device="cpu").fit(str(tables / "h.csv"), full)
    np.testing.assert_array_equal(again.zoo_.model_features(), eng.zoo_.model_features())


def test_evaluate_computes_them_once_for_every_fold(tables):
    """loo-model predicts each model from its features: from architectures alone it now can."""
    from fennec_core.evaluation import evaluate
    from fennec_core.io.tables import read_history

    cards = [ModelCard(n, f"py:fennec_tiny_archs:{n}") for n in NAMES]
    report = evaluate(Fennec(device="cpu"), read_history(tables / "h.csv"), protocol="loo-model", models=cards)
    assert set(report.config["features"]) == set(ARCH_FEATURES) and len(report.predictions) == 15


@pytest.mark.slow
def test_the_bundled_table_keeps_its_own_numbers():
    """The bundled models table has every architecture feature: fitting from it builds nothing
    and gives the features it holds (to the CSV's 6 decimals)."""
    from fennec_core.io.bundled import data_path
    from fennec_core.io.tables import read_history, read_models

    cards = read_models(data_path("zoo105_models.csv"))
    assert all(set(ARCH_FEATURES) <= set(c.meta) for c in cards)
    eng = Fennec(device="cpu").fit(read_history(data_path("zoo105_history.csv")), cards)
    assert all(eng.zoo_.models[c.id].meta == c.meta for c in cards)


def test_update_computes_the_features_of_new_models_architectures(tables):
    from fennec_core.records import History

    cards = [ModelCard(n, f"py:fennec_tiny_archs:{n}") for n in NAMES]
    engine = Fennec(factorizer_config={"k": 2}).fit(tables / "h.csv", cards)
    new = History(["f"], ["t0", "t1"], np.array([[0.6, 0.62]]), np.ones((1, 2), bool))
    engine.update(new, models=[ModelCard("f", "py:fennec_tiny_archs:f")])
    assert set(engine.zoo_.models["f"].meta) == set(ARCH_FEATURES)  # before: no features at all
