"""Probe tables read from CSV: a long table ``model,task,estimator,score`` (scores on the
history's tasks, for ``fennec fit --probes`` and ``fennec evaluate --protocol loo-probe``) and one
new task's ``model,estimator,score`` (``fennec rank --probes``, written by ``fennec probe``), and a
labelled text sample ``text,label`` for probing. See :mod:`fennec_core.scoring.probes`."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fennec_core.errors import InputError
from fennec_core.io.files import check_output_path, read_bounded

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.task.probing import ProbeSample, ProbeScore


def read_probe_table(path: Any) -> dict[str, dict[str, dict[str, float]]]:
    """A probe table from a CSV ``model,task,estimator,score`` (published or computed estimator
    scores on tasks): ``{task: {estimator: {model: score}}}``. A repeated (model, task, estimator)
    is an error naming both lines."""
    from fennec_core.io.tables import _float, _open_text, _rows

    source = str(path)
    _, rows = _rows(_open_text(path, "model,task,estimator,score"), source, ("model", "task", "estimator", "score"))
    out: dict[str, dict[str, dict[str, float]]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    for line, row in rows:
        key = tuple((row[c] or "").strip() for c in ("model", "task", "estimator"))
        for col, value in zip(("model", "task", "estimator"), key, strict=True):
            if not value:
                raise InputError(f"{source}: line {line}: {col} is empty; fill it in or drop the row")
        if key in seen:
            raise InputError(f"{source}: line {line}: {key[0]} on {key[1]} by {key[2]} repeats line {seen[key]}; "
                             "keep one score per model, task and estimator")
        seen[key] = line
        out.setdefault(key[1], {}).setdefault(key[2], {})[key[0]] = _float(row["score"], "score", source, line)
    if not out:
        raise InputError(f"{source}: no rows; expected model,task,estimator,score lines")
    return out


def read_probes(path: Any) -> dict[str, dict[str, float]]:
    """One new task's probe scores from a CSV ``model,estimator,score``: ``{model: {estimator: score}}``."""
    from fennec_core.io.tables import _float, _open_text, _rows

    source = str(path)
    _, rows = _rows(_open_text(path, "model,estimator,score"), source, ("model", "estimator", "score"))
    out: dict[str, dict[str, float]] = {}
    for line, row in rows:
        model, est = (row["model"] or "").strip(), (row["estimator"] or "").strip()
        if not model or not est:
            raise InputError(f"{source}: line {line}: {'model' if not model else 'estimator'} is empty; fill it in "
                             "or drop the row")
        if est in out.get(model, {}):
            raise InputError(f"{source}: line {line}: {model} by {est} is given twice; keep one score")
        out.setdefault(model, {})[est] = _float(row["score"], "score", source, line)
    if not out:
        raise InputError(f"{source}: no rows; expected model,estimator,score lines")
    return out


def read_text_sample(path: str | os.PathLike[str], *, n: int = 200, seed: int = 0) -> ProbeSample:
    """A class-balanced, seeded sample of at most ``n`` rows of a CSV with columns ``text,label``."""
    from fennec_core.task.inputs import balanced_order
    from fennec_core.task.probing import labelled_sample

    p = Path(path)
    if not p.is_file():
        raise InputError(f"--texts {p}: no such file; give a CSV with columns text,label")
    rows = list(csv.DictReader(read_bounded(p).decode("utf-8-sig").splitlines()))
    if not rows or not {"text", "label"} <= set(rows[0]):
        raise InputError(f"--texts {p}: needs a header with columns text,label")
    rows = [r for r in rows if (r["text"] or "").strip() and (r["label"] or "").strip()]
    labels = [r["label"].strip() for r in rows]
    order = balanced_order(labels, len(rows), seed)[:n]
    return labelled_sample([rows[i]["text"] for i in order], [labels[i] for i in order], "text", str(p))


def write_probes(scores: Sequence[ProbeScore], path: str | os.PathLike[str]) -> None:
    """Write ``model,estimator,score`` rows to ``path`` atomically (a temporary file, then a rename)."""
    from fennec_core.task.probing import PROBE_COLUMNS

    check_output_path(path, "-o")
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(PROBE_COLUMNS)
            for s in scores:
                w.writerow([s.model, s.estimator, repr(s.score)])
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"-o {target}: cannot write the probe scores here ({exc.strerror or exc})") from None
