"""Does a description move the ranking toward the described task? A user's check on hf-nlp.

Ranks the bundled NLP zoo for a new task given only a description (as ``fennec rank --zoo
hf-nlp --describe TEXT`` does) and with nothing (cold), and looks up where each top-5 model
stands on a task of the zoo the description paraphrases (default: qqp, duplicate questions).
Prints both top 5s with their positions on that task's observed results (1 = best), how many
of the top 10 the two rankings share, and the Ranking's notes.

Run from the repository root: ``python benchmarks/description_check.py [--task qqp] [--text "..."]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fennec_core import Fennec  # noqa: E402
from fennec_core.io import catalog  # noqa: E402
from fennec_core.records import TaskCard  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Print both top 5s and their positions on the task."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoo", default="hf-nlp")
    p.add_argument("--task", default="qqp", help="the zoo task the description paraphrases")
    p.add_argument("--text", default="decide whether two questions ask the same thing")
    args = p.parse_args(argv)
    engine = Fennec.load(catalog.get(args.zoo).path, device="cpu")
    truth, observed = engine.zoo_.history.column(args.task)
    order = np.argsort(-np.where(observed, truth, -np.inf), kind="stable")
    position = {engine.zoo_.model_ids[i]: r + 1 for r, i in enumerate(order[: int(observed.sum())])}
    n = int(observed.sum())
    card = TaskCard("described-task")  # a new task: only its words are known
    described = engine.rank(card, description=args.text)
    cold = engine.rank(card)
    for name, r in (("described", described), ("no information", cold)):
        top = list(r.model_ids[:5])
        ranks = [position.get(m) for m in top]
        shown = ", ".join(f"{m} ({'-' if x is None else f'{x}/{n}'})" for m, x in zip(top, ranks, strict=True))
        seen = [x for x in ranks if x is not None]
        print(f"{name}: mean position on {args.task} {np.mean(seen):.0f} of {n}: {shown}")
    shared = len(set(described.model_ids[:10]) & set(cold.model_ids[:10]))
    print(f"top 10 shared: {shared} of 10")
    print("notes: " + " | ".join(described.info["notes"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
