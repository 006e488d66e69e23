"""Probe tables read from CSV: a long table ``model,task,estimator,score`` (scores on the
history's tasks, for ``fennec fit --probes`` and ``fennec evaluate --protocol loo-probe``) and one
new task's ``model,estimator,score`` (``fennec rank --probes``). See :mod:`fennec_core.scoring.probes`."""

from __future__ import annotations

from typing import Any

from fennec_core.errors import InputError


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
