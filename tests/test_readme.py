"""The README runs as written: every option of its CLI reference exists, every CLI line whose
inputs a user has runs through the real `fennec` entry point, and its Python API example and
its third-party plugin run as pasted.

The CLI reference writes optional parts in ``[...]`` and alternatives with ``|``; a line is run
with its optional parts dropped and the first alternative of each choice, in a folder holding
the files its placeholders name (``H.csv``, ``zoo.zarr``, ``K.csv``, ...), made from the
published tables in tests/data. The few lines that cannot run here say why in ``NOT_RUN``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()

#: CLI lines that are not run, with the reason (matched by substring).
NOT_RUN = {
    "fennec serve": "starts a server that runs until stopped (tests/test_serve.py runs it)",
    "--proxy clip": "needs OpenCLIP weights, which are downloaded (tests/test_task_proxies.py uses a tiny model)",
    "--images new_task/": "needs a fitted image proxy (tests/test_task_proxies.py)",
    "--probe-top": "needs a zoo of models with local weights (tests/test_real_weights.py runs it)",
    "fennec fit ... --ranker": "an elided command (`...`); tests/test_model_spider.py trains Model Spider",
    "fennec build-history": "an elided model list (`...`); tests/test_build_history.py runs it",
}


def fenced(text: str, lang: str) -> list[str]:
    """The bodies of the fenced blocks of one language, in order."""
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def cli_lines() -> list[str]:
    """The README's CLI reference: one string per command, continuations joined, comments dropped."""
    block = next(b for b in fenced(README, "bash") if "fennec plugins" in b)
    lines, current = [], ""
    for raw in block.splitlines():
        code = re.sub(r"\s+#.*$", "", raw) if not raw.lstrip().startswith("#") else ""
        current += " " + code.strip().rstrip("\\").strip() if code.strip() else ""
        if not raw.rstrip().endswith("\\") and current.strip():
            lines.append(current.strip())
            current = ""
    return [line for line in lines if line.startswith("fennec ")]


def drop_optional(line: str) -> str:
    """The line without its ``[...]`` parts (nested ones included)."""
    while True:
        shorter = re.sub(r"\s*\[[^\[\]]*\]", "", line)
        if shorter == line:
            return line
        line = shorter


def first_choice(line: str) -> list[str]:
    """The argv of the line's first alternative: ``a|b`` tokens become ``a``; a lone ``|`` ends the line."""
    argv = []
    for token in shlex.split(line):
        if token == "|":
            break
        argv.append(token.split("|")[0] if " " not in token else token)
    return argv


def options_of(line: str) -> tuple[list[str], set[str]]:
    """The subcommand words and every ``--option`` the line names, optional parts included."""
    words = shlex.split(line.replace("[", " ").replace("]", " ").replace("|", " "))
    command = words[1:3] if words[1] == "zoo" else words[1:2]
    return command, {w.split("=")[0] for w in words if w.startswith("--")}


def test_every_option_in_the_cli_reference_exists():
    from fennec_core.cli.parser import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    lines = cli_lines()
    assert len(lines) >= 25
    for line in lines:
        command, options = options_of(line)
        p = sub.choices[command[0]]
        nested = [a for a in p._actions if a.__class__.__name__ == "_SubParsersAction"]
        if nested and len(command) > 1:
            p = nested[0].choices[command[1]]
        known = {s for a in p._actions for s in a.option_strings}
        assert options <= known, (line, sorted(options - known))


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory):
    """A folder holding every file the README's placeholders name, made from tests/data and the
    bundled zoos."""
    from fennec_core import Fennec
    from fennec_core.io import catalog

    work = tmp_path_factory.mktemp("readme")
    bundled = ROOT / "fennec_core" / "data"  # the bundled zoo's own tables (tests/data/SOURCES.md)
    for src, dst in (("zoo105_history.csv", "H.csv"), ("zoo105_models.csv", "M.csv"), ("zoo105_tasks.csv", "T.csv")):
        (work / dst).write_bytes((bundled / src).read_bytes())
    history = pd.read_csv(work / "H.csv")
    models, tasks = sorted(history["model"].unique()), sorted(history["task"].unique())
    pd.DataFrame({"model": models[:3], "score": [0.91, 0.78, 0.85]}).to_csv(work / "K.csv", index=False)
    new = history[history["task"] == tasks[0]].head(12).assign(task="my-new-task")
    new.to_csv(work / "NEW.csv", index=False)
    wide = history.pivot(index="model", columns="task", values="score").reset_index()
    wide.to_csv(work / "table.csv", index=False)
    (work / "parc.csv").write_bytes((DATA / "parc_controlled_oracle.csv").read_bytes())
    nlp = Fennec.load(catalog.get("hf-nlp").path, device="cpu").zoo_.history
    lp, seen = nlp.column("mnli_lp")
    (work / "P.csv").write_text("model,estimator,score\n" + "".join(
        f"{nlp.model_ids[i]},mnli_lp,{float(lp[i])!r}\n" for i in np.flatnonzero(seen)[:5]))
    (work / "S.csv").write_bytes((DATA / "modelspider_baseline_scores.csv").read_bytes())
    (work / "FINETUNED.csv").write_bytes((DATA / "modelspider_single_source_finetune.csv").read_bytes())
    # the Python example's file names
    for src, dst in (("H.csv", "history.csv"), ("M.csv", "models.csv"), ("T.csv", "tasks.csv"),
                     ("NEW.csv", "new_results.csv")):
        (work / dst).write_bytes((work / src).read_bytes())
    return work


def _run(argv, cwd, env=None):
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_every_cli_line_whose_inputs_exist_runs(user_folder):
    ran = []
    fitted = False
    for line in cli_lines():
        reason = next((why for key, why in NOT_RUN.items() if key in line), None)
        if reason:
            continue
        argv = first_choice(drop_optional(line))
        if "zoo.zarr" in argv and not fitted:  # the user's own zoo, fitted first as the README's fit line does
            res = _run([sys.executable, "-m", "fennec_core.cli", "fit", "--history", "H.csv", "--models", "M.csv",
                        "--tasks", "T.csv", "--out", "zoo.zarr", "-q"], user_folder)
            assert res.returncode == 0, res.stderr
            fitted = True
        if argv[1] == "fit":
            argv = [a if a != "zoo.zarr" else f"fit{len(ran)}.zarr" for a in argv]
        if argv[1] == "convert":
            argv = [a if a != "H.csv" else f"converted{len(ran)}.csv" for a in argv]
        if argv[1] in ("update", "add-model") and "--out" not in argv:
            argv += ["--out", f"out{len(ran)}.zarr"]
        res = _run([sys.executable, "-m", "fennec_core.cli", *argv[1:], "-q"], user_folder)
        assert res.returncode == 0, (line, argv, res.stderr[-2000:])
        assert "Traceback" not in res.stderr, res.stderr
        ran.append(line)
    assert len(ran) >= 20, ran


@pytest.mark.slow
def test_the_python_api_example_runs_as_pasted(user_folder):
    (code,) = [b for b in fenced(README, "python") if "from fennec_core import Fennec" in b]
    res = _run([sys.executable, "-c", code], user_folder)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (user_folder / "zoo.zarr" / "zarr.json").is_file()
    assert "baseline suite" in res.stdout and "weighted_tau" in res.stdout


@pytest.mark.slow
def test_the_third_party_plugin_example_works_as_written(tmp_path, user_folder):
    """The plugin module and its pyproject's entry point, as the README writes them, installed
    the way pip would (a dist-info with the entry point), then listed and used."""
    plugin = next(b for b in fenced(README, "python") if "fennec_register_factorizers" in b)
    toml = next(b for b in fenced(README, "toml") if "entry-points.fennec" in b)
    name = re.search(r'^name = "(.+)"', toml, re.M).group(1)
    version = re.search(r'^version = "(.+)"', toml, re.M).group(1)
    entry = re.search(r"\[project\.entry-points\.fennec\]\n(\w+) = \"(\w+)\"", toml)
    (tmp_path / f"{entry.group(2)}.py").write_text(plugin)
    dist = tmp_path / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(f"[fennec]\n{entry.group(1)} = {entry.group(2)}\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = _run([sys.executable, "-m", "fennec_core.cli", "plugins", "--json"], user_folder, env)
    assert res.returncode == 0, res.stderr
    origins = {c["name"]: c["origin"] for c in json.loads(res.stdout)["components"]["factorizer"]}
    said = re.search(r"with the origin\s+`(.+?)`", README, re.S).group(1)
    assert origins["row-mean"] == said
    res = _run([sys.executable, "-m", "fennec_core.cli", "fit", "--factorizer", "row-mean", "--history", "H.csv",
                "--out", str(tmp_path / "z.zarr"), "-q"], user_folder, env)
    assert res.returncode == 0, res.stderr
