"""Build the source tables of the bundled ``hf-nlp`` zoo from the model-recycling results.

Data: IBM/model-recycling, ``results/models_tested.csv`` (Apache-2.0; Choshen et al., "Where to
start? Analyzing the potential value of intermediate models", arXiv 2211.00107): 2,703 rows of
Hugging Face checkpoints derived from six base models, each fine-tuned on 36 English
classification targets, plus ``mnli_lp``, a linear probe on MNLI of the frozen checkpoint.

Writes, into ``--out`` (default ``fennec_core/data/nlp``):

- ``history.csv.gz``: long ``model,task,score`` (accuracy as a fraction; stsb: Spearman). Every
  observed cell of the 36 targets and of ``mnli_lp``. A probe of exactly 0.0 is a failed run
  (chance on a 3-class task is 0.33; 242 rows), so it is left out, not recorded as a score.
- ``models.csv.gz``: ``model`` plus numeric meta features: log10 parameters, layers, one
  indicator per base model, ``from_flax``/``from_tf``, and the checkpoint's last modification
  as a fractional year.
- ``models_info.csv.gz``: what a person reads: base model, model type, parameters, date.
- ``zoo.zarr``: the fitted store (:func:`fit_store`), unless ``--tables-only``.
- ``tasks.csv``: copied from ``scripts/zoos/nlp_tasks.csv`` (descriptions written for Fennec,
  class counts and training-set sizes of the public datasets; ``probe=1`` marks ``mnli_lp``).

Seven model names occur twice; the two rows agree on every target, and one of them has a failed
probe (0.0): the rows are merged, keeping each cell's observed value.

Run from the repository root: ``python scripts/zoos/build_nlp_zoo.py``.
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from zoo_tables import gz_csv, write_history  # noqa: E402

META = ("model_name", "base_model", "size", "tokenizer", "model_type", "classification", "layers", "from_flax",
        "from_tf", "last_modified")
PROBE = "mnli_lp"


def _year(stamp: str) -> float:
    """``2022-08-04T10:36:41.000Z`` as a fractional year (2022.59)."""
    t = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
    start = datetime(t.year, 1, 1)
    return t.year + (t - start).total_seconds() / (datetime(t.year + 1, 1, 1) - start).total_seconds()


def _slug(base: str) -> str:
    return base.replace("/", "_").replace("-", "_").replace(".", "_")


def read_rows(path: Path) -> tuple[list[str], dict[str, dict[str, str]], dict[str, dict[str, float]]]:
    """(targets, metadata per model, observed scores per model) from ``models_tested.csv``."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        tasks = [h for h in reader.fieldnames or [] if h not in META]
        meta: dict[str, dict[str, str]] = {}
        scores: dict[str, dict[str, float]] = {}
        for row in reader:
            name = row["model_name"].strip()
            cells = {}
            for t in tasks:
                v = (row[t] or "").strip()
                if not v:
                    continue
                x = float(v)
                if t == PROBE and x == 0.0:  # a failed probe, not a score
                    continue
                if not math.isfinite(x):
                    raise ValueError(f"{path}: {name}/{t}: not a finite score: {v!r}")
                cells[t] = x
            if name in scores:  # a duplicated row: the same results, one with a failed probe
                for t, x in cells.items():
                    if t in scores[name] and abs(scores[name][t] - x) > 1e-9:
                        raise ValueError(f"{path}: {name} appears twice with different {t}: {scores[name][t]} vs {x}")
                    scores[name][t] = x
                continue
            meta[name] = {k: row[k] for k in META}
            scores[name] = cells
    return tasks, meta, scores


def build(data: Path, out: Path) -> dict[str, int]:
    """Write the zoo's tables into ``out``; returns counts for the summary line."""
    tasks, meta, scores = read_rows(data / "models_tested.csv")
    out.mkdir(parents=True, exist_ok=True)
    models = sorted(scores)
    cells = write_history(out / "history.csv.gz", models, tasks, scores)
    bases = sorted({meta[m]["base_model"] for m in models})
    header = ["model", "log10_params", "layers", *[f"base_{_slug(b)}" for b in bases], "from_flax", "from_tf", "year"]
    fh, w = gz_csv(out / "models.csv.gz")
    with fh:
        w.writerow(header)
        for m in models:
            r = meta[m]
            w.writerow([m, f"{math.log10(float(r['size'])):.6f}", int(float(r["layers"])),
                        *[int(r["base_model"] == b) for b in bases], int(r["from_flax"] == "True"),
                        int(r["from_tf"] == "True"), f"{_year(r['last_modified']):.4f}"])
    fh, w = gz_csv(out / "models_info.csv.gz")
    with fh:
        w.writerow(["model", "base_model", "model_type", "params", "layers", "last_modified"])
        for m in models:
            r = meta[m]
            w.writerow([m, r["base_model"], r["model_type"], int(float(r["size"])), int(float(r["layers"])),
                        r["last_modified"][:10]])
    shutil.copyfile(HERE / "nlp_tasks.csv", out / "tasks.csv")
    with open(HERE / "nlp_tasks.csv", newline="", encoding="utf-8") as fh:
        described = {r["task"] for r in csv.DictReader(fh)}
    if described != set(tasks):
        raise ValueError(f"nlp_tasks.csv and the history disagree on tasks: {sorted(described ^ set(tasks))}")
    full = sum(all(t in scores[m] for t in tasks if t != PROBE) for m in models)
    return {"models": len(models), "tasks": len(tasks), "cells": cells, "full": full, "base_models": len(bases)}


def fit_store(folder: Path, *, progress: bool = True):  # -> Fennec
    """Fit the zoo on the tables in ``folder`` and save it as ``folder/zoo.zarr``.

    The tasks' descriptions are embedded by the ``text`` proxy (MiniLM, offline) and stored as
    the zoo's task embeddings, so ``rank --describe`` and ``evaluate --zoo hf-nlp`` map a
    description among them. Checkpoints whose only result was a failed probe have no history:
    they are added with vectors predicted from their metadata.

    Settings, measured leave-one-task-out (docs/zoos.md): ``zscore-clip`` normalisation (fine-tuning
    collapses no longer drag a model down: weighted tau 0.60 against the static baseline's 0.44)
    and ``kernel-ridge-cv`` task mapping (the descriptions' shrinkage chosen on the tasks).
    """
    sys.path.insert(0, str(ROOT))
    from fennec_core import Fennec
    from fennec_core.io.tables import read_history, read_models, read_tasks
    from fennec_core.task.proxies import description_embeddings

    history = read_history(folder / "history.csv.gz")
    cards = read_models(folder / "models.csv.gz")
    tasks = read_tasks(folder / "tasks.csv")
    with_history = [c for c in cards if history.has_model(c.id)]
    without = [c for c in cards if not history.has_model(c.id)]
    embeddings, spec = description_embeddings(tasks, "text")
    engine = Fennec(normalization="zscore-clip", task_mapping="kernel-ridge-cv", seed=0, device="cpu").fit(history, with_history, tasks, task_embeddings=embeddings, proxy=spec,
                                              progress=progress)
    engine.add_models(without)
    engine.save(folder / "zoo.zarr")
    return engine


def main(argv: list[str] | None = None) -> int:
    """Command line: build the tables and print a one-line summary."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True,
                   help="folder with IBM/model-recycling's results/models_tested.csv (not in this repository)")
    p.add_argument("--out", type=Path, default=ROOT / "fennec_core" / "data" / "nlp", help="output folder")
    p.add_argument("--tables-only", action="store_true", help="write the tables, do not fit the store")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    n = build(args.data, args.out)
    if not args.tables_only:
        fit_store(args.out)
    print(f"{n['models']} models ({n['full']} with every target, {n['base_models']} base models) x {n['tasks']} tasks, "
          f"{n['cells']} observed cells; written to {args.out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
