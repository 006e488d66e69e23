"""Reading a large history: the strict csv-module reader against the columnar (pyarrow) one.

Writes a seeded ``--models`` x ``--tasks`` long history (default 50,000 x 32 = 1.6M rows) as CSV,
CSV.gz and Parquet in a temporary folder, then reads each ``--repeats`` times in fresh
subprocesses (imports included, as a user's ``fennec fit`` pays them) and prints the median
wall time with its ratio to the strict reader measured in the same run.

    python benchmarks/bench_history_io.py [--models 50000] [--tasks 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

READ = {
    "strict csv reader (csv module)": "from fennec_core.io.tables import parse_history, _open_text; "
                                      "parse_history(_open_text({path!r}))",
    "read_history, CSV": "from fennec_core.io.tables import read_history; read_history({path!r})",
    "read_history, CSV.gz": "from fennec_core.io.tables import read_history; read_history({path!r} + '.gz')",
    "read_history, Parquet": "from fennec_core.io.tables import read_history; read_history({parquet!r})",
    "yardstick: python -c 'import numpy'": "import numpy",
}


def write_tables(folder: Path, models: int, tasks: int) -> tuple[Path, Path]:
    """The seeded history as h.csv, h.csv.gz and h.parquet."""
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    m = np.repeat(np.arange(models), tasks)
    t = np.tile(np.arange(tasks), models)
    s = rng.random(models * tasks)
    model_ids = np.char.add("model_", m.astype(str))
    task_ids = np.char.add("task_", t.astype(str))
    csv = folder / "h.csv"
    text = "model,task,score\n" + "\n".join(f"{a},{b},{c:.6f}" for a, b, c in zip(model_ids, task_ids, s, strict=True))
    csv.write_text(text + "\n")
    with gzip.open(str(csv) + ".gz", "wt") as fh:
        fh.write(text + "\n")
    parquet = folder / "h.parquet"
    pq.write_table(pa.table({"model": model_ids, "task": task_ids, "score": s}), parquet)
    return csv, parquet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50_000)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv, parquet = write_tables(Path(tmp), args.models, args.tasks)
        print(f"{args.models * args.tasks:,} rows; CSV {csv.stat().st_size / 1e6:.1f} MB, "
              f"Parquet {parquet.stat().st_size / 1e6:.1f} MB; median of {args.repeats} fresh processes")
        times = {}
        for name, code in READ.items():
            runs = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", code.format(path=str(csv), parquet=str(parquet))], check=True)
                runs.append(time.perf_counter() - t0)
            times[name] = statistics.median(runs)
    strict = times["strict csv reader (csv module)"]
    print(f"{'reader':<38}{'median s':>10}{'vs strict':>12}")
    for name, t in times.items():
        print(f"{name:<38}{t:>10.2f}{t / strict:>11.2f}x")


if __name__ == "__main__":
    main()
