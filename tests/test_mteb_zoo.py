"""The bundled ``mteb`` and ``openclip`` zoos, task card values on the request path (``--card``,
``Fennec.rank(card=...)``, POST /rank ``card``) and model filters on the bundled mteb cards."""

from __future__ import annotations

import csv
import gzip
import json
import math

import pytest

from fennec_core import Fennec
from fennec_core.io import catalog
from fennec_core.records import TaskCard


@pytest.fixture(scope="module")
def mteb() -> Fennec:
    return Fennec.load(catalog.get("mteb").path, device="cpu")


def _model_rows() -> dict[str, dict[str, str]]:
    path = catalog.get("mteb").path.replace("zoo.zarr", "models.csv.gz")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        return {r["model"]: r for r in csv.DictReader(fh)}


def test_both_zoos_are_listed_with_counts_licence_and_credit(cli):
    code, out, err = cli("zoos", "--json")
    assert code == 0, err
    zoos = {z["name"]: z for z in json.loads(out)}
    m = zoos["mteb"]
    assert (m["models"], m["tasks"], m["observed"], m["licence"]) == (673, 1545, 99736, "CC0-1.0")
    assert "2210.07316" in m["credit"] and "embeddings-benchmark/results" in m["source"]
    o = zoos["openclip"]
    assert (o["models"], o["tasks"], o["observed"]) == (121, 38, 121 * 38) and "open_clip" in o["source"]
    code, out, err = cli("zoo", "info", "--zoo", "mteb")
    assert code == 0 and "673 models x 1545 tasks" in out and "task proxy text" in out, err


def test_mteb_cards_carry_the_source_columns(mteb):
    zoo = mteb.zoo_
    task = zoo.tasks["STS17"]
    assert task.attributes["type"] == "STS" and "deu" in task.attributes["languages"].split(",")
    assert task.attributes["main_score"] == "cosine_spearman" and task.description
    assert {c.attributes.get("type") for c in zoo.tasks.values()} >= {"Retrieval", "Classification", "Clustering"}
    rows = _model_rows()
    card = zoo.models["BAAI/bge-m3"]
    assert card.attributes["license"] == rows["BAAI/bge-m3"]["license"] == "mit"
    assert card.attributes["open_weights"] == "true"
    assert math.isclose(10 ** card.meta["log10_params"], 568e6, rel_tol=1e-5)
    assert set(zoo.task_embeddings) == set(zoo.task_ids)  # every task placed by its description
    assert zoo.proxy["name"] == "text"


def test_store_holds_exactly_the_shipped_history(mteb):
    path = catalog.get("mteb").path.replace("zoo.zarr", "history.csv.gz")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        rows = [(r["model"], r["task"], float(r["score"])) for r in csv.DictReader(fh)]
    assert len(rows) == mteb.zoo_.history.nnz == 99736
    h = mteb.zoo_.history
    for m, t, s in rows[:: 997]:
        truth, observed = h.column(t)
        i = h.model_index(m)
        assert observed[i] and truth[i] == s


@pytest.fixture
def seen(monkeypatch):
    """The task cards every ``Fennec.rank_many`` call receives, in order (rank goes through it)."""
    cards = []
    real = Fennec.rank_many

    def spy(self, tasks, **kw):
        cards.extend(tasks)
        return real(self, tasks, **kw)

    monkeypatch.setattr(Fennec, "rank_many", spy)
    return cards


def test_card_values_reach_the_task_card_given_to_rank(mteb, seen):
    mteb.rank(card={"type": "Retrieval", "languages": "deu"}, top=3)
    mteb.rank(TaskCard("mine", attributes={"domains": "Legal"}), card={"type": "Retrieval"}, top=3)
    assert seen[0].attributes == {"type": "Retrieval", "languages": "deu"} and seen[0].id == "new-task"
    assert seen[1].id == "mine" and seen[1].attributes == {"domains": "Legal", "type": "Retrieval"}


def test_cli_card_reaches_rank_and_bad_pairs_exit_2(cli, seen):
    code, out, err = cli("rank", "--zoo", "mteb", "--card", "type=Retrieval", "--card", "languages=deu,eng",
                         "--top", "3", "--json", "-q")
    assert code == 0, err
    assert seen[-1].attributes == {"type": "Retrieval", "languages": "deu,eng"}
    for bad, message in ((("--card", "Retrieval"), "NAME=VALUE"),
                         (("--card", "type=STS", "--card", "type=Retrieval"), "given twice")):
        code, out, err = cli("rank", "--zoo", "mteb", *bad, "-q")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and not out


def test_cli_filters_rank_only_models_that_fit(cli):
    code, out, err = cli("rank", "--zoo", "mteb", "--max-params", "1e9", "--license", "apache-2.0,mit",
                         "--open-weights", "--min-max-tokens", "8192", "--top", "500", "--json", "-q")
    assert code == 0, err
    doc = json.loads(out)
    rows = _model_rows()
    models = [m["model"] for m in doc["models"]]
    assert models and len(models) == doc["info"]["models_fitting"] < 673
    for m in models:
        r = rows[m]
        assert 10 ** float(r["log10_params"]) <= 1e9 * (1 + 1e-9) and r["license"] in ("apache-2.0", "mit")
        assert r["open_weights"] == "true" and 2 ** float(r["log2_max_tokens"]) >= 8192 * (1 - 1e-9)
    expected = [m for m, r in rows.items() if r["log10_params"] and 10 ** float(r["log10_params"]) <= 1e9
                and r["license"] in ("apache-2.0", "mit") and r["open_weights"] == "true"
                and r["log2_max_tokens"] and 2 ** float(r["log2_max_tokens"]) >= 8192]
    assert sorted(models) == sorted(expected)
    code, out, err = cli("rank", "--zoo", "mteb", "--where", "params<=1e9 & license!=mit", "--top", "5", "--json", "-q")
    assert code == 0, err
    assert all(rows[m["model"]]["license"] != "mit" for m in json.loads(out)["models"])


@pytest.mark.parametrize("args, message", [
    (("--max-params", "1"), "no model of the zoo fits"),
    (("--where", "flops<3"), "no model card of this zoo has a column 'flops'"),
    (("--where", "license<3"), "holds text"),
    (("--where", "params<=lots"), "not a number"),
    (("--where", "import os"), "COLUMN OP VALUE"),
    (("--max-params", "inf"), "finite"),
])
def test_cli_impossible_or_unknown_filters_exit_2_with_one_line(cli, args, message):
    code, out, err = cli("rank", "--zoo", "mteb", *args, "-q")
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and not out


def test_api_where_and_options(mteb):
    from fennec_core.scoring.filters import FilterError, from_options

    r = mteb.rank(top=5, where=from_options(license="apache-2.0", open_weights=True))
    assert len(r) == 5 and all(mteb.zoo_.models[m].attributes["license"] == "apache-2.0" for m in r.model_ids)
    with pytest.raises(FilterError, match="embed"):
        mteb.rank(where="embed<3")


def test_post_rank_takes_card_and_filters(tmp_path, seen):
    pytest.importorskip("fastapi")
    from test_serve import assert_error, client

    api = client(["mteb"], tmp_path)
    res = api.post("/rank", json={"zoo": "mteb", "card": {"type": "Clustering"}, "max_params": 1e9,
                                  "license": ["mit"], "where": "embed_dim>=768", "top": 5})
    assert res.status_code == 200, res.text
    doc = res.json()
    zoo = Fennec.load(catalog.get("mteb").path, device="cpu").zoo_
    for m in doc["models"]:
        card = zoo.models[m["model"]]
        assert card.attributes["license"] == "mit" and 10 ** card.meta["log10_params"] <= 1e9
        assert 10 ** card.meta["log10_embed_dim"] >= 768 - 1e-6
    assert seen[-1].attributes == {"type": "Clustering"}
    assert_error(api.post("/rank", json={"zoo": "mteb", "max_params": 1}), 400)
    assert api.post("/rank", json={"zoo": "mteb", "card": {"type": 3}}).status_code == 422
