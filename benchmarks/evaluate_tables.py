"""Leave-one-task-out on every published table, the default engine beside the static baseline.

Prints one Markdown table (mean over targets) per configuration. Run:

    python benchmarks/evaluate_tables.py

The tables are the published ones in tests/data (credits in README). On the 105-model table
the bundled models table supplies meta features; the others have none, so there the meta
score is off and Fennec's cold ranking is the NMF mean-task-vector ranking.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import DATA, PUBLISHED  # noqa: E402

from fennec_core import Fennec  # noqa: E402
from fennec_core.bundled import data_path  # noqa: E402
from fennec_core.records import History  # noqa: E402
from fennec_core.tables import convert_table, read_models, read_tasks  # noqa: E402


def tables():
    for name, (fname, kwargs) in sorted(PUBLISHED.items()):
        h = convert_table(DATA / fname, **kwargs)
        yield name, h, None, None
        if name == "modelspider":
            cls = History(h.model_ids, h.task_ids[:8], h.scores[:, :8], h.mask[:, :8])
            yield "modelspider (8 classification)", cls, None, None
        if name == "fennec105":
            yield ("fennec105 + meta features", h, read_models(data_path("zoo105_models.csv")),
                   read_tasks(data_path("zoo105_tasks.csv")))


def main() -> None:
    print("| table | models x tasks | Pearson fennec / static | w-tau fennec / static | rel@1 fennec / static | seconds |")
    print("|---|---|---|---|---|---|")
    for name, h, models, tasks in tables():
        t0 = time.perf_counter()
        rep = Fennec(device="cpu").evaluate(h, protocol="loo", models=models, tasks=tasks)
        dt = time.perf_counter() - t0
        f, s = rep.mean("method"), rep.mean("static")
        print(f"| {name} | {h.shape[0]} x {h.shape[1]} | {f['pearson']:.1f} / {s['pearson']:.1f} | "
              f"{f['weighted_tau']:.3f} / {s['weighted_tau']:.3f} | {f['rel@1']:.3f} / {s['rel@1']:.3f} | {dt:.1f} |")


if __name__ == "__main__":
    main()
