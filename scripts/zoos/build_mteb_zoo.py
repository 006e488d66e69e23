"""Build the bundled ``mteb`` zoo from the MTEB leaderboard's published results.

Data: embeddings-benchmark/results (commit f4cc6c8; CC0-1.0), aggregated with the ``mteb``
package's own scoring (``TaskResult.get_score()``: the task's main score averaged over its
evaluation splits and language subsets): 673 embedding models x 1,545 MTEB tasks, 99,736
scores (fractions), 9.6% observed; task metadata from ``mteb`` and model metadata from each
result folder's ``model_meta.json``. Credit: the MTEB authors (Muennighoff et al., "MTEB:
Massive Text Embedding Benchmark", arXiv 2210.07316; Enevoldsen et al., "MMTEB", arXiv 2502.13595).

Three steps, each re-runnable on its own (``--step``; default: all three in order):

1. ``tables``: writes, into ``--out`` (default ``fennec_core/data/mteb``),

   - ``history.csv.gz``: long ``model,task,score``, every observed cell, sorted.
   - ``models.csv.gz``: ``model``; numeric meta features ``log10_params``, ``log10_embed_dim``,
     ``log2_max_tokens``, ``year`` (release date as a fractional year); categorical card
     values ``license``, ``open_weights`` (``true``/``false``), ``framework``, ``adapted_from``,
     ``modalities``, ``languages``, ``org``. Several values are comma-separated (the source uses
     ``|``). A missing, zero or unbounded (``inf`` max tokens) number is left empty: unknown.
   - ``tasks.csv``: ``task``, ``description`` and categorical values ``type``, ``category``,
     ``modalities``, ``languages``, ``domains``, ``main_score``.

2. ``embed``: embeds each task's "type. languages. domains. description" with the ``text`` task
   proxy, through the plugin registry (so a rebuild uses whatever backend is its default), into
   ``--cache`` (default ``build/zoos/mteb_task_embeddings.npz``, not shipped).

3. ``fit``: fits the zoo on the tables and those embeddings and saves ``--out/zoo.zarr``.

Run from the repository root: ``python scripts/zoos/build_mteb_zoo.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from zoo_tables import gz_csv, read_scores, rows_by, write_history  # noqa: E402

MODEL_TEXT = ("license", "open_weights", "framework", "adapted_from", "modalities", "languages", "org")
TASK_TEXT = ("type", "category", "modalities", "languages", "domains", "main_score")

#: Settings chosen by cross-validation over the targets (docs/zoos.md; benchmarks/bench_mteb_quality.py).
SETTINGS = {"normalization": "zscore", "factorizer_config": {"k": 8, "max_iter": 30}, "task_mapping": "knn"}


def _number(value: str) -> float | None:
    """A positive finite number, or None for an empty, zero, negative or infinite cell."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and x > 0 else None


def _year(stamp: str) -> float | None:
    """``2024-03-17`` as a fractional year, or None."""
    try:
        d = date.fromisoformat(stamp.strip()[:10])
    except ValueError:
        return None
    start = date(d.year, 1, 1)
    return d.year + (d - start).days / (date(d.year + 1, 1, 1) - start).days


def _values(cell: str) -> str:
    """``a|b`` as ``a,b`` (the card convention); empty stays empty."""
    return ",".join(v.strip() for v in (cell or "").split("|") if v.strip())


def _fmt(x: float | None, digits: int = 6) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def build_tables(data: Path, out: Path) -> dict[str, int]:
    """Write ``history.csv.gz``, ``models.csv.gz`` and ``tasks.csv`` into ``out``; counts."""
    out.mkdir(parents=True, exist_ok=True)
    scores = read_scores(data / "results.csv.gz")
    task_rows, model_rows = rows_by(data / "tasks.csv", "task"), rows_by(data / "models.csv", "model")
    models = sorted(scores)
    tasks = sorted({t for s in scores.values() for t in s})
    missing = [t for t in tasks if t not in task_rows] + [m for m in models if m not in model_rows]
    if missing:
        raise ValueError(f"results name tasks/models absent from tasks.csv/models.csv: {missing[:5]}")
    cells = write_history(out / "history.csv.gz", models, tasks, scores)
    fh, w = gz_csv(out / "models.csv.gz")
    with fh:
        w.writerow(["model", "log10_params", "log10_embed_dim", "log2_max_tokens", "year", *MODEL_TEXT])
        for m in models:
            r = model_rows[m]
            params, dim, tokens = (_number(r[c]) for c in ("n_parameters", "embed_dim", "max_tokens"))
            ow = (r["open_weights"] or "").strip().lower()
            w.writerow([m, _fmt(params and math.log10(params)), _fmt(dim and math.log10(dim)),
                        _fmt(tokens and math.log2(tokens)), _fmt(_year(r["release_date"]), 4),
                        *[ow if c == "open_weights" and ow in ("true", "false") else
                          "" if c == "open_weights" else _values(r[c]) for c in MODEL_TEXT]])
    with open(out / "tasks.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["task", "description", *TASK_TEXT])
        for t in tasks:
            r = task_rows[t]
            w.writerow([t, " ".join((r["description"] or "").split()), *[_values(r[c]) for c in TASK_TEXT]])
    return {"models": len(models), "tasks": len(tasks), "cells": cells}


def embedding_text(card) -> str:  # card: TaskCard
    """What the text proxy embeds for a task: ``type. languages. domains. description``."""
    a = card.attributes
    parts = [a.get("type", ""), a.get("languages", "").replace(",", ", "), a.get("domains", "").replace(",", ", "),
             card.description or ""]
    return ". ".join(p for p in parts if p)


def embed(out: Path, cache: Path, proxy: str = "text") -> dict[str, object]:
    """Embed every task's :func:`embedding_text` with the ``proxy`` task proxy (from the plugin
    registry, its default backend) and write ``cache`` (.npz: ``ids``, ``embeddings``, ``spec``)."""
    import attrs
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from fennec_core.io.tables import read_tasks
    from fennec_core.task.proxies import description_embeddings

    cards = [attrs.evolve(c, description=embedding_text(c)) for c in read_tasks(out / "tasks.csv")]
    emb, spec = description_embeddings(cards, proxy)
    ids = [c.id for c in cards if c.id in emb]
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp-write.npz")
    np.savez_compressed(tmp, ids=np.array(ids), embeddings=np.vstack([emb[t] for t in ids]).astype(np.float32),
                        spec=np.array(json.dumps(spec)))
    tmp.replace(cache)
    return spec


def read_embeddings(cache: Path) -> tuple[dict[str, object], dict[str, object]]:
    """(``{task: [1, d] array}``, proxy spec) from the ``embed`` step's cache."""
    import numpy as np

    if not cache.exists():
        raise SystemExit(f"{cache} is missing: run `python scripts/zoos/build_mteb_zoo.py --step embed` first")
    with np.load(cache, allow_pickle=False) as z:
        ids, emb, spec = [str(t) for t in z["ids"]], z["embeddings"], json.loads(str(z["spec"]))
    return {t: emb[i:i + 1].astype(np.float64) for i, t in enumerate(ids)}, spec


def engine(settings: dict | None = None, **changes):  # -> Fennec
    """An unfitted engine with ``settings`` (default :data:`SETTINGS`), ``changes`` replacing some."""
    sys.path.insert(0, str(ROOT))
    from fennec_core import Fennec

    return Fennec(**{**(SETTINGS if settings is None else settings), "seed": 0, "device": "cpu", **changes})


def fit(out: Path, cache: Path, *, settings: dict | None = None, progress: bool = True):  # -> Fennec
    """Fit the zoo on ``out``'s tables and the cached description embeddings; save ``out/zoo.zarr``."""
    sys.path.insert(0, str(ROOT))
    from fennec_core.io.tables import read_history, read_models, read_tasks

    history = read_history(out / "history.csv.gz")
    embeddings, spec = read_embeddings(cache)
    fitted = engine(settings).fit(history, read_models(out / "models.csv.gz"), read_tasks(out / "tasks.csv"),
                          task_embeddings=embeddings, proxy=spec, progress=progress)
    fitted.save(out / "zoo.zarr")
    return fitted


def run_steps(doc: str, name: str, build_tables, argv: list[str] | None = None, *,
              settings: dict | None = None) -> int:
    """The command line every zoo built this way shares: ``--step tables|embed|fit|all`` over
    ``--data`` (the source tables), ``--out`` (fennec_core/data/NAME) and ``--cache`` (the
    embeddings); ``build_tables(data, out)`` is the zoo's own step, ``settings`` its fit settings."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--data", type=Path, required=True,
                   help="folder with the source tables (not in this repository: the module doc says where they come "
                        "from)")
    p.add_argument("--out", type=Path, default=ROOT / "fennec_core" / "data" / name, help="output folder")
    p.add_argument("--cache", type=Path, default=ROOT / "build" / "zoos" / f"{name}_task_embeddings.npz",
                   help="where the embed step writes the task embeddings")
    p.add_argument("--step", choices=("all", "tables", "embed", "fit"), default="all")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    if args.step in ("all", "tables"):
        n = build_tables(args.data, args.out)
        print(f"{n['models']} models x {n['tasks']} tasks, {n['cells']} observed cells", file=sys.stderr)
    if args.step in ("all", "embed"):
        spec = embed(args.out, args.cache)
        print(f"task descriptions embedded by {spec.get('name')} -> {args.cache}", file=sys.stderr)
    if args.step in ("all", "fit"):
        fit(args.out, args.cache, settings=settings)
    print(f"done in {time.perf_counter() - t0:.1f} s ({args.out})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: run the chosen step(s) and print a one-line summary."""
    return run_steps(__doc__, "mteb", build_tables, argv)


if __name__ == "__main__":
    sys.exit(main())
