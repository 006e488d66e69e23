"""Leave-one-task-out coverage of the 90% intervals on hidden cells, per table and mode.

Tables: the three published tables copied in ``tests/data`` (converted as in ``tests/conftest.py``;
``tests/data/SOURCES.md`` credits each) fitted with the default engine (pmf), and the bundled zoos with
their own settings. Modes: ``loo`` (cold: nothing known of the hidden task but its card; a
zoo's hidden task is placed by its own embedding where the zoo has one) and ``loo-warm:K``
(K seeded known results of it). For each: the share of hidden true scores inside the interval
(the issue's goal: 80-97%), its mean width in the task's units, the share of tasks whose own
coverage is in 80-97%, and mean weighted tau beside the static baseline's.

Run from the repository root: ``python benchmarks/interval_coverage.py [--tables fennec105,parc]
[--zoos pytorchcv105,hf-nlp] [--protocols loo,loo-warm:1,loo-warm:3] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fennec_core import Fennec  # noqa: E402
from fennec_core.evaluation import evaluate  # noqa: E402
from fennec_core.io import catalog  # noqa: E402
from fennec_core.io.tables import convert_table  # noqa: E402

DATA = ROOT / "tests" / "data"  # the published tables, copied in the repository
TABLES = {
    "fennec105": ("fennec_105x7_oracle.csv", {"model": ["Architecture"], "task": "Target Dataset", "score": "Oracle"}),
    "parc": ("parc_controlled_oracle.csv",
             {"model": ["Architecture", "Source Dataset"], "task": "Target Dataset", "score": "Oracle"}),
    "modelspider": ("modelspider_single_source_finetune.csv", {"wide": True}),
}


def table_case(name: str):
    """(engine, evaluate kwargs) for a published table."""
    fname, kwargs = TABLES[name]
    return Fennec(), {"history": convert_table(DATA / fname, **kwargs)}


def zoo_case(name: str):
    """(engine, evaluate kwargs) for a bundled zoo, on its own tables and embeddings."""
    loaded = Fennec.load(catalog.get(name).path, device="cpu")
    zoo = loaded.zoo_
    history = zoo.history.select_models(zoo.history.mask.any(axis=1))
    return loaded.clone(), {"history": history, "models": [zoo.models[m] for m in history.model_ids],
                            "tasks": list(zoo.tasks.values()), "task_embeddings": dict(zoo.task_embeddings) or None}


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", default=",".join(TABLES))
    p.add_argument("--zoos", default="pytorchcv105")
    p.add_argument("--protocols", default="loo,loo-warm:1,loo-warm:3")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    cases = [(n, lambda n=n: table_case(n)) for n in filter(None, args.tables.split(","))]
    cases += [(f"zoo {n}", lambda n=n: zoo_case(n)) for n in filter(None, args.zoos.split(","))]
    print("| table | protocol | cells | coverage | mean width | tasks in 80-97% | w-tau fennec / static | s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, make in cases:
        engine, kwargs = make()
        for protocol in args.protocols.split(","):
            t0 = time.perf_counter()
            report = evaluate(engine, protocol=protocol, repeats=args.repeats, **kwargs)
            s = report.interval_summary()
            m, st = report.mean("method"), report.mean("static")
            cov = "no intervals" if s is None else f"{s['coverage']:.1%} | {s['width']:.4g} | {s['tasks_in_80_97']:.0%}"
            cells = "" if s is None else s["cells"]
            print(f"| {name} | {protocol} | {cells} | {cov} | {m['weighted_tau']:.3f} / {st['weighted_tau']:.3f} "
                  f"| {time.perf_counter() - t0:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
