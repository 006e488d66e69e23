"""What the zoo build scripts (``build_nlp_zoo.py``, ``build_timm_zoo.py``) write the same way:
gzip CSV tables that a rebuild reproduces byte for byte, and the long history."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Mapping, Sequence
from pathlib import Path


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
