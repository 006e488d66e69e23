"""The CLI: the main commands end to end, and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from fennec_core import Fennec


def test_fit_rank_matches_in_memory(cli, tmp_path, small_history, small_history_csv):
    code, _, err = cli("fit", "--history", small_history_csv, "--out", tmp_path / "zoo", "--quiet")
    assert code == 0, err
    code, out, err = cli("rank", "--zoo", tmp_path / "zoo", "--json", "--top", "12")
    assert code == 0, err
    cli_ranking = [m["model"] for m in json.loads(out)["models"]]
    mem = Fennec().fit(small_history).rank(top=12)
    assert cli_ranking == list(mem.model_ids)
    code, out, err = cli("rank", "--zoo", tmp_path / "zoo", "--top", "3")
    assert code == 0, err
    assert out.count("\n") == 5  # header, rule, 3 rows


def test_fit_with_config(cli, tmp_path, small_history_csv):
    code, _, err = cli("fit", "--history", small_history_csv, "--out", tmp_path / "zoo", "--factorizer", "nmf",
                       "--config", "factorizer.k=2", "--config", "score_merger.w=0.2", "--config", "normalization=zscore",
                       "--config", "use_meta=false")
    # zscore makes negative values, which NMF refuses with a clear error
    assert code == 2 and "non-negative" in err and err.count("\n") == 1
    code, _, err = cli("fit", "--history", small_history_csv, "--out", tmp_path / "zoo", "--factorizer", "nmf",
                       "--config", "factorizer.k=2", "--config", "score_merger.w=0.2")
    assert code == 0, err
    z = Fennec.load(tmp_path / "zoo")
    assert z.zoo_.factors.k == 2 and z.components.merger.w == 0.2


def test_evaluate_writes_every_hidden_cell(cli, tmp_path, published):
    from fennec_core.io.tables import write_history

    name, history = published
    path = tmp_path / f"{name}.csv"
    write_history(history, path)
    preds = tmp_path / "p.csv"
    code, out, err = cli("evaluate", "--history", path, "--protocol", "loo", "--predictions", preds, "--json", "-q")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc["per_task"]) == set(history.task_ids)
    with open(preds) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == int(history.mask.sum())
    assert set(rows[0]) == {"model", "task", "predicted", "truth", "low", "high", "score", "static"}
    # predicted and its interval in the task's units (the truth's), not normalised
    assert all(float(r["low"]) <= float(r["predicted"]) <= float(r["high"]) for r in rows)
    assert doc["intervals"]["cells"] == len(rows) and 0 < doc["intervals"]["coverage"] <= 1
    cells = {(r["model"], r["task"]) for r in rows}
    assert len(cells) == len(rows)
    r0 = rows[0]
    assert float(r0["truth"]) == history.scores[history.model_index(r0["model"]), history.task_index(r0["task"])]


@pytest.mark.slow
def test_demo_runs_offline(cli):
    code, out, err = cli("demo", "--quiet")
    assert code == 0, err
    assert "Hidden target: 'flower'" in out and "weighted_tau" in out
    header = next(line.split() for line in out.splitlines() if line.startswith("metric "))
    assert header[:3] == ["metric", "fennec", "static"] and "static-zscore-clip" in header  # the suite beside it
    assert "the best of them by weighted tau is" in out


def test_plugins_text_and_json(cli):
    code, out, _ = cli("plugins")
    assert code == 0 and "nmf" in out and "built-in (fennec_plugins.factorizers.nmf)" in out
    code, out, _ = cli("plugins", "--json")
    doc = json.loads(out)
    assert [c["name"] for c in doc["components"]["factorizer"]] == ["nmf", "pmf", "spark-als"]
    assert set(doc["components"]) == {"graph_encoder", "task_proxy", "factorizer", "score_merger", "estimator",
                                      "ranker", "protocol", "backbone"}
    assert [c["name"] for c in doc["components"]["ranker"]] == ["model-spider"]
    assert {c["name"] for c in doc["components"]["task_proxy"]} == {"clip", "dinov2", "efficientnet-lite", "text"}


def test_convert(cli, tmp_path):
    from conftest import DATA

    code, _, err = cli("convert", DATA / "parc_controlled_oracle.csv", "--out", tmp_path / "parc.csv",
                       "--model", "Architecture", "--model", "Source Dataset", "--task", "Target Dataset",
                       "--score", "Oracle")
    assert code == 0, err
    code, _, err = cli("evaluate", "--history", tmp_path / "parc.csv", "-q")
    assert code == 0, err


BAD_HISTORIES = {
    "duplicate": ("model,task,score\na,t,1\na,t,2\n", "line 3: duplicate row"),
    "nan": ("model,task,score\na,t,NaN\n", "line 2: score is NaN"),
    "inf": ("model,task,score\na,t,inf\n", "line 2: score is inf"),
    "empty": ("", "file is empty"),
    "missing-column": ("model,score\na,1\n", "missing column(s) task"),
    "not-a-number": ("model,task,score\na,t,x\n", "line 2: score 'x' is not a number"),
}


@pytest.mark.parametrize("case", sorted(BAD_HISTORIES))
@pytest.mark.parametrize("command", ["fit", "evaluate"])
def test_bad_history_one_line_exit_2(cli, tmp_path, case, command):
    text, message = BAD_HISTORIES[case]
    path = tmp_path / "h.csv"
    path.write_text(text)
    args = ["fit", "--history", path, "--out", tmp_path / "zoo"] if command == "fit" else ["evaluate", "--history", path]
    code, out, err = cli(*args)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("fennec: error:") and message in err
    assert "Traceback" not in err
    assert not (tmp_path / "zoo").exists()  # nothing half-written


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rank", "--zoo", "{tmp}/missing"], "no zoo store here"),
        (["rank", "--zoo", "{tmp}"], "not a Zarr store"),
        (["fit", "--history", "{csv}", "--out", "{tmp}/z", "--factorizer", "svd"], "unknown factorizer 'svd'; known: nmf, pmf"),
        (["fit", "--history", "{csv}", "--out", "{tmp}/z", "--config", "oops"], "expected KEY=VALUE"),
        (["fit", "--history", "{csv}", "--out", "{tmp}/z", "--config", "factorizer.nope=1"], "bad config for factorizer"),
        (["evaluate", "--history", "{csv}", "--protocol", "kfold"], "unknown protocol 'kfold'"),
        (["demo", "--task", "cars"], "unknown task 'cars'"),
        (["fit", "--history", "{tmp}/none.csv", "--out", "{tmp}/z"], "no such file"),
        (["rank", "--top"], "expected one argument"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_arguments_one_line_exit_2(cli, capsys, tmp_path, small_history_csv, argv, message):
    argv = [a.format(tmp=tmp_path, csv=small_history_csv) for a in argv]
    try:
        code, _, err = cli(*argv)
    except SystemExit as exc:  # argparse usage errors exit from the parser
        code, err = exc.code, capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err, err


def test_debug_shows_traceback(cli, tmp_path):
    from fennec_core.errors import StoreError

    with pytest.raises(StoreError):
        cli("rank", "--zoo", tmp_path / "missing", "--debug")


def test_corrupt_store_via_cli(cli, tmp_path, small_history_csv):
    cli("fit", "--history", small_history_csv, "--out", tmp_path / "zoo", "-q")
    chunk = next(p for p in (tmp_path / "zoo" / "factors" / "U").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(b"\x00" * 3)
    code, _, err = cli("rank", "--zoo", tmp_path / "zoo")
    assert code == 2 and "corrupt" in err and err.count("\n") == 1
    assert np.isfinite(0)


def test_rank_known_and_explore(cli, tmp_path):
    known = tmp_path / "k.csv"
    known.write_text("model,score\nresnet50,0.95\nalexnet,0.80\n")
    code, out, err = cli("rank", "--known", known, "--json", "--top", "5")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["info"]["task_vector_source"] == "known" and not doc["info"]["cold"]
    assert {"predicted", "low", "high"} <= set(doc["models"][0])
    code, out, err = cli("rank", "--explore", "--top", "3")
    assert code == 0 and "90% interval" in out, err
    known.write_text("model,score\nno-such-model,0.9\n")
    code, _, err = cli("rank", "--known", known)
    assert code == 2 and "unknown model 'no-such-model'" in err and err.count("\n") == 1


def test_update_adds_task(cli, tmp_path):
    from test_engine import _low_rank_history

    from fennec_core.io.tables import write_history
    from fennec_core.records import History

    h = _low_rank_history()
    base = h.without_task("t4")
    write_history(base, tmp_path / "base.csv")
    new = History(h.model_ids, ["t4"], h.scores[:, [4]], h.mask[:, [4]])
    write_history(new, tmp_path / "new.csv")
    cli("fit", "--history", tmp_path / "base.csv", "--out", tmp_path / "zoo", "-q")
    code, out, err = cli("update", "--zoo", tmp_path / "zoo", "--history", tmp_path / "new.csv", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["new_tasks"] == ["t4"] and doc["refit"] is False
    assert Fennec.load(tmp_path / "zoo").zoo_.history.task_ids[-1] == "t4"
