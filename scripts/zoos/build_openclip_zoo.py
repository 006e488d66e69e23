"""Build the bundled ``openclip`` zoo from OpenCLIP's published zero-shot results.

Data: mlfoundations/open_clip, ``docs/openclip_results.csv`` and ``docs/model_profile.csv``
(commit 89fb801; open_clip's MIT-style license; Ilharco et al., OpenCLIP): 121 CLIP models
(``architecture:pretrained``) evaluated zero-shot on the 38 sets of the DataComp evaluation
suite (Gadre et al., arXiv 2304.14108), fully observed.

Steps (``--step``; default all, in order), as in ``build_mteb_zoo.py``:

1. ``tables``: into ``--out`` (default ``fennec_core/data/openclip``):
   ``history.csv.gz`` (``model,task,score``, the suite's main metric as a fraction);
   ``models.csv.gz``: numeric meta ``log10_params``, ``log10_gflops``, ``image_size``,
   ``log2_embed_dim``, ``log10_image_params``, ``log10_text_params`` and categorical
   ``clip_architecture``, ``pretrained``, ``family`` (the profile's ``avg_38``, the mean over the
   very targets, is left out: it would leak every target into the model features);
   ``tasks.csv``: ``scripts/zoos/openclip_tasks.csv`` (class counts and a one-line description
   of each public dataset, written for Fennec) with the source's ``group`` and ``type``
   (``zero-shot classification`` / ``zero-shot retrieval``).
2. ``embed``: the ``text`` task proxy embeds "type. description" of each set into ``--cache``.
3. ``fit``: fits and saves ``--out/zoo.zarr``.

Run from the repository root: ``python scripts/zoos/build_openclip_zoo.py``.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import build_mteb_zoo as common  # noqa: E402
from zoo_tables import gz_csv, read_scores, rows_by, write_history  # noqa: E402

#: Settings chosen by cross-validation over the targets (docs/zoos.md).
SETTINGS = {"normalization": "zscore-clip", "factorizer_config": {"k": 3, "max_iter": 30}, "task_mapping": "kernel-ridge"}


def _log(value: str, base: float = 10.0, scale: float = 1.0) -> str:
    x = common._number(value)
    return "" if x is None else f"{math.log(x * scale, base):.6f}"


def build_tables(data: Path, out: Path) -> dict[str, int]:
    """Write ``history.csv.gz``, ``models.csv.gz`` and ``tasks.csv`` into ``out``; counts."""
    out.mkdir(parents=True, exist_ok=True)
    scores = read_scores(data / "results.csv")
    profile, source_tasks = rows_by(data / "models.csv", "model"), rows_by(data / "tasks.csv", "task")
    written = rows_by(HERE / "openclip_tasks.csv", "task")
    models = sorted(scores)
    tasks = list(source_tasks)
    if set(written) != set(tasks) or any(set(s) != set(tasks) for s in scores.values()):
        raise ValueError("openclip_tasks.csv, tasks.csv and the results disagree on the tasks")
    missing = [m for m in models if m not in profile]
    if missing:
        raise ValueError(f"models without a profile row: {missing[:5]}")
    cells = write_history(out / "history.csv.gz", models, tasks, scores)
    fh, w = gz_csv(out / "models.csv.gz")
    with fh:
        w.writerow(["model", "log10_params", "log10_gflops", "image_size", "log2_embed_dim", "log10_image_params",
                    "log10_text_params", "clip_architecture", "pretrained", "family"])
        for m in models:
            r = profile[m]
            w.writerow([m, _log(r["params_M"], scale=1e6), _log(r["gflops"]), r["image_size"],
                        _log(r["embed_dim"], 2), _log(r["image_mparams"], scale=1e6),
                        _log(r["text_mparams"], scale=1e6), r["architecture"], r["pretrained"], r["family"]])
    with open(out / "tasks.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["task", "num_classes", "description", "type", "group"])
        for t in tasks:
            w.writerow([t, written[t]["num_classes"], written[t]["description"], source_tasks[t]["setting"],
                        source_tasks[t]["group"]])
    return {"models": len(models), "tasks": len(tasks), "cells": cells}


def main(argv: list[str] | None = None) -> int:
    """Command line: run the chosen step(s) and print a one-line summary."""
    return common.run_steps(__doc__, "openclip", build_tables, argv, settings=SETTINGS)


if __name__ == "__main__":
    sys.exit(main())
