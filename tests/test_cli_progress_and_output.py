"""The CLI as a person waits on it and reads it (issue 13, items 9 and 10): a fast start that
imports no heavy library for `rank`, progress for the slow steps, `-q` silent, warnings as
notes, units beside the metrics, no citation of a file the repository does not have.
Start-up times are measured by benchmarks/bench_cli_start.py, not asserted here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import require

from fennec_core.io.tables import write_history

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "scipy", "sklearn", "networkx", "pandas", "transformers")


def _run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fennec_core.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)


def test_rank_on_the_bundled_zoo_imports_no_heavy_library():
    code = ("import sys\nfrom fennec_core.cli import main\ncode = main(['rank', '--top', '10', '-q'])\n"
            f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules), code)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "HEAVY [] 0"


def test_small_products_on_numpy_equal_torch():
    import numpy as np

    from fennec_core.scoring import transfer

    rng = np.random.default_rng(0)
    U, V = rng.normal(size=(300, 5)), rng.normal(size=(3, 5))
    require("torch")
    import torch

    on_torch = transfer.transfer_scores(torch.as_tensor(U), torch.as_tensor(V), device="cpu")
    np.testing.assert_allclose(transfer.transfer_scores(U, V, chunk=64), on_torch, rtol=1e-12, atol=1e-12)


def test_quiet_hides_the_text_proxys_loading_bar():
    require("onnxruntime")
    res = _run("rank", "--describe", "photos of flowers", "-q")
    assert res.returncode == 0 and res.stdout and res.stderr == "", res.stderr


def test_fit_shows_its_stages_unless_quiet(cli, tmp_path, small_history, monkeypatch):
    from fennec_core.history import fitting

    write_history(small_history, tmp_path / "h.csv")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # bars are drawn on a terminal only
    monkeypatch.setattr(fitting, "PROGRESS_DELAY", 1e6)  # a wait shorter than the delay draws no bar
    code, _, err = cli("fit", "--history", tmp_path / "h.csv", "--out", tmp_path / "a")
    assert code == 0 and "fit:" not in err
    monkeypatch.setattr(fitting, "PROGRESS_DELAY", 0.0)  # one longer than it does
    code, _, err = cli("fit", "--history", tmp_path / "h.csv", "--out", tmp_path / "b")
    assert code == 0 and "fit: factorize" in err
    code, _, err = cli("fit", "--history", tmp_path / "h.csv", "--out", tmp_path / "c", "-q")
    assert code == 0 and err == ""


def test_no_progress_bar_floods_a_log(tmp_path, small_history):
    """stderr to a file or a pipe (a CI log, `2> log`): notes yes, bars no."""
    write_history(small_history, tmp_path / "h.csv")
    res = subprocess.run([sys.executable, "-m", "fennec_core.cli", "evaluate", "--history", tmp_path / "h.csv"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stderr and "it/s" not in res.stderr and "loo:" not in res.stderr


def test_the_demo_shows_its_fit_and_labels_pearson(cli, monkeypatch):
    from fennec_core.history import fitting

    monkeypatch.setattr(fitting, "PROGRESS_DELAY", 0.0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = cli("demo", "--task", "yoga", "--top", "3")
    assert code == 0, err
    assert "fit: factorize" in err and "fit: meta model" in err
    rows = {ln.split("  ")[0]: ln for ln in out.splitlines()}
    assert "pearson x100" in rows and "pearson" not in {k.strip() for k in rows}
    value = rows["pearson x100"].split()[2]
    assert len(value.split(".")[1]) == 1  # one decimal, like the evaluation table


def test_dgl_gin_training_shows_progress(capsys, tmp_path, monkeypatch):
    require("dgl")
    from test_archi_encoding import MODELS, _graphs

    from fennec_core import registry

    (tmp_path / "fennec_tiny_archs.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    graphs = _graphs([f"py:fennec_tiny_archs:{n}" for n in "abc"])
    registry.default_registry().build("graph_encoder", "dgl-gin", {"epochs": 3}, progress=True).fit(graphs)
    assert "dgl-gin" in capsys.readouterr().err
    quiet = registry.create("graph_encoder", "dgl-gin", epochs=3)
    quiet.fit(graphs)
    assert capsys.readouterr().err == "" and "progress" not in quiet.config()


def test_warnings_are_one_line_notes_that_quiet_hides(cli, tmp_path, monkeypatch):
    """add-model of an architecture that lacks a feature of the zoo warns: a note, no file path."""
    require("torch")
    from test_archi_encoding import MODELS

    (tmp_path / "fennec_tiny_archs.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    rows = ["model,task,score"] + [f"{n},t{j},{0.5 + 0.05 * i + 0.02 * j * (i % 2)}"
                                   for i, n in enumerate("abcde") for j in range(3)]
    (tmp_path / "h.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "m.csv").write_text("model,architecture,year\n" + "".join(
        f"{n},py:fennec_tiny_archs:{n},{2015 + i}\n" for i, n in enumerate("abcde")))
    assert cli("fit", "--history", tmp_path / "h.csv", "--models", tmp_path / "m.csv", "--allow-code",
               "--out", tmp_path / "zoo", "-q")[0] == 0
    code, _, err = cli("add-model", "--zoo", tmp_path / "zoo", "--model", "py:fennec_tiny_archs:f", "--name", "f")
    notes = [ln for ln in err.splitlines() if ln.startswith("fennec: ")]
    assert code == 0 and len(notes) == 1 and notes[0].startswith("fennec: note: model 'f' lacks the zoo features year")
    assert "Warning" not in err and ".py:" not in err
    code, out, err = cli("add-model", "--zoo", tmp_path / "zoo", "--model", "py:fennec_tiny_archs:f", "--name", "g",
                         "-q")
    assert code == 0 and err == ""


def test_the_evaluation_table_labels_pearson(small_history):
    from fennec_core import Fennec
    from fennec_core.evaluation import evaluate

    report = evaluate(Fennec(device="cpu"), small_history)
    head = report.format_table().splitlines()[0]
    # each column compares Fennec with that metric's best baseline on the table
    assert f"pearson x100 (fennec/{report.best('pearson')})" in head
    assert f"weighted_tau (fennec/{report.best('weighted_tau')})" in head


def test_no_file_cites_a_design_document_the_repository_lacks():
    name = "DESIGN" + ".md"
    assert not (ROOT / name).exists()
    citing = [str(p.relative_to(ROOT)) for folder in ("fennec_core", "plugins", "docs", "benchmarks", "scripts",
                                                       "tests")
              for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md") and name in p.read_text()]
    citing += [n for n in ("README.md", "noxfile.py", "pyproject.toml") if name in (ROOT / n).read_text()]
    assert citing == []
