"""Leave-one-task-out on every bundled zoo with its own settings, beside the static baseline.

For each zoo (``fennec zoos``) and each mode, mean weighted tau and Pearson over the hidden
targets (probe tasks such as ``mnli_lp`` stay in every fold and are never hidden):

- ``cold``: nothing known about the hidden target but its card (classes, size);
- ``description``: the target's description, embedded by the zoo's text proxy and mapped by
  the other targets only (zoos fitted with a text proxy);
- ``loo-warm:3``: three known results of the target (5 seeded draws), cold otherwise;
- ``zscore`` (the Fennec method as published: plain z-scores) beside the zoo's own
  normalisation, where they differ.

Run from the repository root: ``python benchmarks/evaluate_zoos.py [--zoo hf-nlp] [--modes cold,description]``.
Prints one table; per-target numbers with ``--per-target``.
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

MODES = ("cold", "description", "loo-warm:3", "zscore cold")


def run(loaded: Fennec, mode: str):
    """The evaluation report of a loaded zoo in one mode (None when the mode does not apply)."""
    zoo = loaded.zoo_
    engine = loaded.clone()
    embeddings = None
    protocol = "loo"
    if mode == "description":
        if (zoo.proxy or {}).get("name") != "text":
            return None
        embeddings = dict(zoo.task_embeddings)
    elif mode == "loo-warm:3":
        protocol = mode
    elif mode == "zscore cold":
        if engine.resolved_normalization == "zscore":
            return None
        engine = loaded.clone(normalization="zscore")
    history = zoo.history.select_models(zoo.history.mask.any(axis=1))  # models added without history: in no fold
    models = [zoo.models[m] for m in history.model_ids if m in zoo.models]
    return evaluate(engine, history, protocol=protocol, models=models, tasks=list(zoo.tasks.values()),
                    task_embeddings=embeddings, repeats=5)


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoo", action="append", help="zoo name (default: every bundled zoo)")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    p.add_argument("--per-target", action="store_true", help="also print each target's weighted tau")
    args = p.parse_args(argv)
    rows, per = [], {}
    for name in args.zoo or catalog.names():
        loaded = Fennec.load(catalog.get(name).path, device="cpu")
        for mode in args.modes.split(","):
            t0 = time.perf_counter()
            report = run(loaded, mode)
            if report is None:
                continue
            m, s = report.mean(), report.mean("static")
            rows.append([name, mode, f"{m['weighted_tau']:.3f}", f"{s['weighted_tau']:.3f}",
                         f"{m['weighted_tau'] - s['weighted_tau']:+.3f}", f"{m['pearson']:.1f}", f"{s['pearson']:.1f}",
                         str(len(report.tasks)), f"{time.perf_counter() - t0:.0f}"])
            per[(name, mode)] = {t.task: (t.method["weighted_tau"], t.static["weighted_tau"]) for t in report.tasks}
            print("  ".join(rows[-1]), file=sys.stderr, flush=True)
    head = ["zoo", "mode", "w-tau", "static", "gain", "pearson x100", "static", "targets", "seconds"]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    if args.per_target:
        for (name, mode), tasks in per.items():
            print(f"\n{name}, {mode}: target  w-tau  static")
            for t, (a, b) in tasks.items():
                print(f"  {t:24s} {a:.3f}  {b:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
