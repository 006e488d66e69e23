"""Fennec against the best simple baseline on every shared table and bundled zoo.

For each table and protocol, ``evaluate`` (or ``evaluate_search``) reports the baseline suite
(:mod:`fennec_core.evaluation.baselines`) on the same hidden cells; this prints Fennec's
weighted tau and regret@3 beside the best member's (chosen per table and metric over the
whole table, never per task) and the gain. Tables: the three published tables in tests/data
with the default engine, and every bundled zoo with its own settings (``description``: the
zoo's text-proxy embeddings of each task's description, mapped by the other tasks only).

Reports are cached as JSON in ``--cache`` (one file per table and mode; delete one to rerun
it), since hf-nlp takes minutes a protocol. Run from the repository root:
``python benchmarks/evaluate_against_best.py [--tables parc,hf-nlp] [--modes loo,loo-warm:3] [--jobs 2]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fennec_core import Fennec  # noqa: E402
from fennec_core.evaluation import evaluate, evaluate_search  # noqa: E402
from fennec_core.io import catalog  # noqa: E402
from fennec_core.io.tables import convert_table  # noqa: E402

DATA = ROOT / "tests" / "data"
TABLES = {
    "fennec105": ("fennec_105x7_oracle.csv", {"model": ["Architecture"], "task": "Target Dataset", "score": "Oracle"}),
    "parc": ("parc_controlled_oracle.csv",
             {"model": ["Architecture", "Source Dataset"], "task": "Target Dataset", "score": "Oracle"}),
    "modelspider": ("modelspider_single_source_finetune.csv", {"wide": True}),
}
MODES = ("loo", "description", "loo-warm:3", "loo-warm:10", "search:3")


def setup(name: str):
    """(engine, history, models, tasks, task embeddings) of a table or bundled zoo."""
    if name in TABLES:
        fname, kwargs = TABLES[name]
        return Fennec(device="cpu"), convert_table(DATA / fname, **kwargs), None, None, None
    loaded = Fennec.load(catalog.get(name).path, device="cpu")
    zoo = loaded.zoo_
    history = zoo.history.select_models(zoo.history.mask.any(axis=1))  # models added without history: in no fold
    models = [zoo.models[m] for m in history.model_ids if m in zoo.models]
    embeddings = dict(zoo.task_embeddings) if (zoo.proxy or {}).get("name") == "text" else None
    return loaded.clone(), history, models, list(zoo.tasks.values()), embeddings


def run(name: str, mode: str, jobs: int) -> dict | None:
    """The JSON report of one table and mode (None when the mode does not apply)."""
    engine, history, models, tasks, embeddings = setup(name)
    if mode == "description":
        if embeddings is None:
            return None
        return evaluate(engine, history, models=models, tasks=tasks, task_embeddings=embeddings, jobs=jobs).to_dict()
    if mode.startswith("search:"):
        return evaluate_search(engine, history, int(mode.split(":")[1]), models=models, tasks=tasks,
                               jobs=jobs).to_dict()
    if mode.startswith("loo-warm:") and int(history.task_counts().max()) < int(mode.split(":")[1]) + 2:
        return None
    return evaluate(engine, history, protocol=mode, models=models, tasks=tasks, repeats=5, jobs=jobs).to_dict()


def row(name: str, mode: str, doc: dict) -> str:
    """One Markdown row: fennec / best (gain) for weighted tau and regret@3 (search: regret after K)."""
    if mode.startswith("search:"):
        best = doc["best"]
        f, b = doc["mean"]["fennec"]["regret_share"][-1], doc["baselines"][best]["regret_share"][-1]
        ratio = f"{f / b:.2f}x" if b > 0 else "n/a"
        return f"| {name} | {mode} | regret share {f:.3f} / {b:.3f} ({best}) | {ratio} | |"
    cells = []
    for metric in ("weighted_tau", "regret@3"):
        ref = doc["reference"][metric]
        f = doc["mean"]["method"][metric]
        b = doc["mean"]["baselines"][ref][metric]
        cells.append(f"{f:.3f} / {b:.3f} ({ref}, {f - b:+.3f})")
    cov = doc.get("intervals") or {}
    return f"| {name} | {mode} | {cells[0]} | {cells[1]} | {cov.get('coverage', float('nan')):.1%} |"


def main(argv: list[str] | None = None) -> int:
    """Print the Markdown table (and cache each report)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", default=",".join([*TABLES, *catalog.names()]), help="comma-separated tables / zoos")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    p.add_argument("--cache", default="benchmarks/results/against_best", help="folder of cached JSON reports")
    p.add_argument("--jobs", type=int, default=1, help="fold workers (the numbers are the same for any)")
    p.add_argument("--cached-only", action="store_true", help="print the cached reports only; run nothing")
    args = p.parse_args(argv)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    lines = ["| table | protocol | weighted tau: fennec / best (which, gain) | regret@3: fennec / best (which, gain) "
             "| 90% coverage |", "|---|---|---|---|---|"]
    for name in args.tables.split(","):
        for mode in args.modes.split(","):
            path = cache / f"{name}_{mode.replace(':', '')}.json"
            if path.exists():
                doc = json.loads(path.read_text())
            elif args.cached_only:
                continue
            else:
                t0 = time.perf_counter()
                doc = run(name, mode, args.jobs)
                if doc is None:
                    continue
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(doc))
                tmp.replace(path)
                print(f"{name} {mode}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            lines.append(row(name, mode, doc))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
