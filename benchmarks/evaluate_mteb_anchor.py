"""MTEB (embedding models x tasks): the baseline suite and the new-task anchor, leave-one-task-out.

Reads the MTEB results table (``results.csv.gz``: model,task,score; ``tasks.csv``: type,
languages, ...; ``models.csv``: n_parameters) from ``--data`` and, for a seeded sample of
targets with at least 30 observed models, hides each target and compares on its cells
(weighted tau against the true scores):

- the baseline suite (:mod:`fennec_core.evaluation.baselines`): ``static``, every
  ``static-<normalisation>``, ``card`` (tasks sharing the target's type and languages),
  ``size`` (parameter count), and with known cells ``nearest``;
- the engine's anchor (:mod:`fennec_core.task.anchor`) as a new task gets it: cold from its
  card values, and with K known results moved by the ridge blend, the ridge chosen by
  leave-one-task-out on the other tasks only.

The full engine (a factorization per fold) is not run here: on 673 models x 1,544 tasks a fold
costs a fit; ``fennec evaluate`` does that where MTEB is a bundled zoo.

Run from the repository root: ``python benchmarks/evaluate_mteb_anchor.py --data DIR [--targets 100]``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import math
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fennec_core.evaluation.baselines import suite_scores  # noqa: E402
from fennec_core.history.normalize import TaskNormalizer  # noqa: E402
from fennec_core.metrics import weighted_tau  # noqa: E402
from fennec_core.records import History, ModelCard, TaskCard  # noqa: E402
from fennec_core.task.anchor import Anchor, choose_ridge, normalised_columns  # noqa: E402


def load(data: Path) -> tuple[History, dict[str, TaskCard], dict[str, ModelCard]]:
    """The history, task cards (type and languages as card values) and model cards (log10 params)."""
    with gzip.open(data / "results.csv.gz", "rt", encoding="utf-8") as fh:
        rows = [(r["model"], r["task"], float(r["score"])) for r in csv.DictReader(fh)]
    history = History.from_long(rows)
    tasks = {}
    with open(data / "tasks.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            tasks[r["task"]] = TaskCard(r["task"], attributes={"type": r["type"],
                                                               "languages": r["languages"].replace("|", ",")})
    models = {}
    with open(data / "models.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            try:
                n = float(r.get("n_parameters") or "nan")
            except ValueError:
                n = math.nan
            if r.get("model") and n > 0:
                models[r["model"]] = ModelCard(r["model"], meta={"log10_params": math.log10(n)})
    return history, tasks, models


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder with results.csv.gz, tasks.csv, models.csv")
    p.add_argument("--targets", type=int, default=100, help="seeded sample of targets (default 100)")
    p.add_argument("--known", default="3,10", help="numbers of known cells (default 3,10)")
    p.add_argument("--draws", type=int, default=3, help="draws of known cells per target (default 3)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    history, tasks, models = load(Path(args.data))
    counts = history.task_counts()
    rng = np.random.default_rng(0)
    eligible = np.flatnonzero(counts >= 30)
    targets = np.sort(rng.choice(eligible, min(args.targets, eligible.size), replace=False))
    ks = [int(k) for k in args.known.split(",") if k]
    results: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    for n_done, j in enumerate(targets):
        task = history.task_ids[j]
        train = history.without_task(task)
        truth, observed = history.column(task)
        card = tasks.get(task, TaskCard(task))
        suite = suite_scores(train, models=models, tasks=tasks, task=card, normalization="zscore", warm=False)
        for name, s in suite.items():
            add(name, weighted_tau(truth[observed], s[observed]))
        zoo = types.SimpleNamespace(history=train, normalizer=TaskNormalizer.fit_history(train, "zscore"),
                                    task_ids=train.task_ids, tasks=tasks)
        columns = normalised_columns(zoo)
        seen = np.isfinite(columns)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(seen.any(axis=1), np.where(seen, columns, 0).sum(axis=1) / seen.sum(axis=1), np.nan)
        anchor = Anchor(columns, mean, np.nan_to_num(columns - mean[:, None]), 1.0,
                        float(np.median(zoo.normalizer.scale)), use_card=True)
        base = anchor.base(card, tasks, train.task_ids)
        add("anchor (card), cold", weighted_tau(truth[observed], base[observed]))
        targets_train = list(range(len(train.task_ids)))
        obs = np.flatnonzero(observed)
        for k in ks:
            ridge = choose_ridge(zoo, anchor, k, seed=0, targets=targets_train)
            for d in range(args.draws):
                pick = np.random.default_rng([0, int(j), d]).choice(obs, k, replace=False)
                rest = np.setdiff1d(obs, pick)
                known = {int(i): float(truth[i]) for i in pick}
                warm = anchor.scores(known, ridge, base)
                add(f"anchor (card), warm:{k}", weighted_tau(truth[rest], warm[rest]))
                ws = suite_scores(train, models=models, tasks=tasks, task=card, known=known, normalization="zscore")
                for name in ("static", "card", "nearest"):
                    if name in ws:
                        add(f"{name}, warm:{k} cells", weighted_tau(truth[rest], ws[name][rest]))
        print(f"{n_done + 1}/{len(targets)} {task} {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    print(f"MTEB: {history.shape[0]} models x {history.shape[1]} tasks, {len(targets)} seeded targets with >= 30 "
          f"models, {args.draws} draws of known cells; {time.perf_counter() - t0:.0f} s\n")
    print("| rule | mean weighted tau |\n|---|---|")
    for name, vals in results.items():
        print(f"| {name} | {np.nanmean(vals):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
