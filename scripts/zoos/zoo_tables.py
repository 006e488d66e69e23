"""What the zoo build scripts (``build_nlp_zoo.py``, ``build_timm_zoo.py``, ``build_mteb_zoo.py``,
``build_openclip_zoo.py``) read and write the same way: long result tables and keyed CSV rows
in, gzip CSV tables that a rebuild reproduces byte for byte and the long history out."""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path


def read_scores(path: Path) -> dict[str, dict[str, float]]:
    """``{model: {task: score}}`` of a long CSV ``model,task,score`` (gzipped when it ends in
    ``.gz``); a score that is not a finite number is an error naming its cell."""
    opener = gzip.open if path.suffix == ".gz" else open
    scores: dict[str, dict[str, float]] = {}
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            x = float(row["score"])
            if not math.isfinite(x):
                raise ValueError(f"{row['model']}/{row['task']}: not a finite score {row['score']!r}")
            scores.setdefault(row["model"], {})[row["task"]] = x
    return scores


def rows_by(path: Path, key: str) -> dict[str, dict[str, str]]:
    """The rows of a CSV, by the value of their ``key`` column."""
    with open(path, newline="", encoding="utf-8") as fh:
        return {r[key]: r for r in csv.DictReader(fh)}


def gz_text(path: Path) -> io.TextIOWrapper:
    """A gzip text file for writing with no timestamp in its header: rebuilds are byte-identical."""
    return io.TextIOWrapper(gzip.GzipFile(path, "wb", mtime=0), encoding="utf-8", newline="")


def gz_csv(path: Path) -> tuple[io.TextIOWrapper, csv.writer]:
    """(the open gzip file, a CSV writer on it with ``\\n`` line ends)."""
    fh = gz_text(path)
    return fh, csv.writer(fh, lineterminator="\n")


def write_history(path: Path, models: Sequence[str], tasks: Sequence[str],
                  scores: Mapping[str, Mapping[str, float]]) -> int:
    """Write the long ``model,task,score`` table of every observed cell (models, then tasks, in
    the order given; ``repr`` keeps each float exact); returns the number of cells."""
    cells = 0
    fh, w = gz_csv(path)
    with fh:
        w.writerow(["model", "task", "score"])
        for m in models:
            for t in tasks:
                if t in scores[m]:
                    w.writerow([m, t, repr(scores[m][t])])
                    cells += 1
    return cells
