"""The bundled-zoo catalog: `fennec zoos`, `fennec zoo info`, `--zoo NAME` everywhere, and a
bundled zoo that is never rewritten in place."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from fennec_core.io import catalog


def _digest(folder: str) -> str:
    h = hashlib.sha256()
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_zoos_json_lists_every_bundled_zoo_with_counts_and_credit(cli):
    code, out, err = cli("zoos", "--json")
    assert code == 0, err
    zoos = {z["name"]: z for z in json.loads(out)}
    assert {"pytorchcv105", "hf-nlp"} <= set(zoos)
    assert zoos["pytorchcv105"]["models"] == 105 and zoos["pytorchcv105"]["tasks"] == 7
    assert zoos["pytorchcv105"]["observed"] == 735 and zoos["pytorchcv105"]["default"]
    nlp = zoos["hf-nlp"]
    assert nlp["models"] >= 2500 and nlp["tasks"] == 37 and nlp["licence"] == "Apache-2.0"
    assert "2211.00107" in nlp["credit"] and "model-recycling" in nlp["source"]
    timm = zoos["timm"]
    assert timm["models"] >= 1500 and timm["tasks"] == 6 and timm["licence"] == "Apache-2.0"
    for z in zoos.values():
        assert z["observed"] <= z["models"] * z["tasks"] and z["build"]


def test_zoos_table_names_source_and_licence(cli):
    code, out, err = cli("zoos")
    assert code == 0, err
    assert "hf-nlp" in out and "Apache-2.0" in out and "pytorchcv105 (default)" in out


def test_zoo_info_lists_tasks_with_descriptions_and_models(cli):
    code, out, err = cli("zoo", "info", "--zoo", "hf-nlp", "--json")
    assert code == 0, err
    doc = json.loads(out)
    tasks = {t["task"]: t for t in doc["task_table"]}
    assert len(tasks) == 37 and tasks["mnli_lp"]["meta"] == {"probe": 1.0}
    assert all(t["description"] for t in tasks.values())
    assert tasks["trec_fine"]["num_classes"] == 50
    assert len(doc["model_table"]) == 10 and not doc["model_table_complete"]
    assert "log10_params" in doc["model_features"]
    code, out, err = cli("zoo", "info")  # the default zoo, as text
    assert code == 0, err
    assert "zoo pytorchcv105: 105 models x 7 tasks" in out and "yoga" in out
    code, out, err = cli("zoo", "info", "--models", "--json")
    assert code == 0 and len(json.loads(out)["model_table"]) == 105


def test_unknown_zoo_name_is_one_line_listing_the_names(cli):
    code, _, err = cli("rank", "--zoo", "hf-nlpp")
    assert code == 2 and err.count("\n") == 1
    assert "hf-nlp" in err and "fennec zoos" in err


def test_rank_by_bundled_name_equals_rank_by_path(cli):
    code, by_name, err = cli("rank", "--zoo", "pytorchcv105", "--json", "--top", "5")
    assert code == 0, err
    code, by_path, err = cli("rank", "--zoo", catalog.get("pytorchcv105").path, "--json", "--top", "5")
    assert code == 0, err
    assert json.loads(by_name)["models"] == json.loads(by_path)["models"]


def test_update_and_add_model_never_rewrite_a_bundled_zoo(cli, tmp_path):
    zoo = catalog.get("pytorchcv105")
    before = _digest(zoo.path)
    hist = tmp_path / "new.csv"
    with open(hist, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "task", "score"])
        w.writerow(["resnet18", "my-task", "0.8"])
        w.writerow(["resnet50", "my-task", "0.85"])
    code, _, err = cli("update", "--zoo", "pytorchcv105", "--history", hist)
    assert code == 2 and "--out" in err and err.count("\n") == 1
    code, _, err = cli("update", "--zoo", zoo.path, "--history", hist)  # by path too
    assert code == 2 and "--out" in err
    code, _, err = cli("add-model", "--zoo", "pytorchcv105", "--model", "pytorchcv:resnet10")
    assert code == 2 and "--out" in err
    code, out, err = cli("update", "--zoo", "pytorchcv105", "--history", hist, "--out", tmp_path / "mine", "--json")
    assert code == 0, err
    assert json.loads(out)["new_tasks"] == ["my-task"]
    assert _digest(zoo.path) == before
    code, out, err = cli("zoo", "info", "--zoo", tmp_path / "mine", "--json")
    assert code == 0 and json.loads(out)["tasks"] == 8


@pytest.mark.slow
def test_evaluate_on_a_zoo_uses_its_own_tables(cli):
    code, out, err = cli("evaluate", "--zoo", "pytorchcv105", "--json", "-q")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc["per_task"]) == {"sport", "yoga", "flower", "intel", "weather", "germ", "nature"}
    code, _, err = cli("evaluate", "--zoo", "pytorchcv105", "--history", "x.csv")
    assert code == 2 and "not both" in err
    code, _, err = cli("evaluate")
    assert code == 2 and "--history" in err and "--zoo" in err


def test_probe_tasks_are_never_hidden_targets(small_history):
    from fennec_core import Fennec
    from fennec_core.evaluation import evaluate
    from fennec_core.records import TaskCard

    probe = small_history.task_ids[0]
    cards = [TaskCard(probe, meta={"probe": 1.0})]
    report = evaluate(Fennec(factorizer_config={"k": 2}), small_history, tasks=cards)
    hidden = {t.task for t in report.tasks}
    assert probe not in hidden and hidden == set(small_history.task_ids[1:])
    assert TaskCard(probe, meta={"probe": 1.0, "x": 2.0}).features() == {"x": 2.0}


@pytest.mark.parametrize("command", [["demo"], ["convert"], ["fit"], ["build-history"], ["add-model"], ["zoos"],
                                     ["zoo", "info"], ["evaluate"], ["rank"], ["update"], ["plugins"]])
def test_every_command_takes_json(cli, capsys, command):
    with pytest.raises(SystemExit) as exc:
        cli(*command, "--help")
    assert exc.value.code == 0 and "--json" in capsys.readouterr().out


def test_rank_on_the_real_zoos_works_offline(cli):
    code, out, err = cli("rank", "--zoo", "timm", "--top", "3", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["models"]) == 3 and all(m["model"].partition(".")[2] for m in doc["models"])
    code, out, err = cli("rank", "--zoo", "hf-nlp", "--describe", "detect whether a tweet is sarcastic", "--top", "5",
                         "--json", "-q")
    assert code == 0, err
    assert len(json.loads(out)["models"]) == 5


def test_demo_json(cli):
    code, out, err = cli("demo", "--task", "yoga", "--json", "--top", "3", "-q")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["task"] == "yoga" and len(doc["ranking"]["models"]) == 3
    assert {"fennec", "static", "static-zscore-clip", "size"} <= set(doc["metrics"]) and doc["best"]["model"] in doc["truth"]
    from fennec_core.evaluation.baselines import available_baselines

    assert set(doc["metrics"]) - {"fennec"} <= set(available_baselines())  # the suite, no stray key
