"""How well the ``mteb`` (or ``openclip``) zoo ranks models for a task it has not seen, beside
the simple rules a practitioner would use, on the same cells.

Protocol: grouped cross-validation over targets. Every task with at least ``--min-models``
observed models is a target; the targets are split (seeded) into ``--folds`` groups; each group
is hidden at once (its columns, cards and embeddings), the engine is fitted on the rest, and each
hidden target is ranked from its own description embedding (the zoo's ``text`` proxy output,
mapped by the other tasks only). With ``--folds`` 10 each target is hidden together with a tenth of
the others: stricter than leave-one-task-out (fewer training tasks), and 85x cheaper here.

Beside Fennec, on every target's observed models (weighted tau against the raw scores):

- ``static``: each model's mean z-score over the training tasks (``fennec evaluate``'s baseline);
- ``type``: the mean z-score over training tasks of the same ``type``;
- ``type+lang``: over training tasks of the same type and the same ``languages`` value;
- ``nearest10``: over the 10 training tasks nearest by cosine of the description embeddings;
  (each falls back to the previous rule where a model has no cell in its group).

Run from the repository root, e.g.
``python benchmarks/bench_mteb_quality.py --zoo mteb --folds 10 --k 8 --normalization zscore-clip``.
Prints per-type tables (mean weighted tau, and the share of targets where Fennec beats the best
rule) and writes nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fennec_core import Fennec  # noqa: E402
from fennec_core.history.normalize import TaskNormalizer  # noqa: E402
from fennec_core.io import catalog  # noqa: E402
from fennec_core.metrics import weighted_tau  # noqa: E402
from fennec_core.task.mapping import TaskMapper  # noqa: E402

RULES = ("static", "type", "type+lang", "nearest10")


def _zscores(history) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, z) of every observed cell, z-scored per task."""
    z = TaskNormalizer.fit_history(history, "zscore").transform_cells(history.cols, history.values)
    return history.rows, history.cols, z


def group_means(rows: np.ndarray, cols: np.ndarray, z: np.ndarray, m: int, keep: np.ndarray) -> np.ndarray:
    """Each model's mean z-score over the task columns where ``keep`` is True (NaN without any)."""
    sel = keep[cols]
    sums = np.bincount(rows[sel], weights=z[sel], minlength=m)
    counts = np.bincount(rows[sel], minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _fill(primary: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(primary), primary, fallback)


def run(zoo_name: str, *, folds: int, min_models: int, k: int, normalization: str, mappings: list[str],
        max_iter: int, seed: int, limit_folds: int | None) -> dict[str, list]:
    """Per target: (task, type, {method: weighted tau}). See the module docstring."""
    zoo = Fennec.load(catalog.get(zoo_name).path, device="cpu").zoo_
    history, cards, emb = zoo.history, zoo.tasks, dict(zoo.task_embeddings)
    m, n = history.shape
    counts = history.task_counts()
    targets = [j for j in range(n) if counts[j] >= min_models and history.task_ids[j] in emb]
    rng = np.random.default_rng(seed)
    order = rng.permutation(targets)
    groups = [sorted(order[i::folds].tolist()) for i in range(folds)][:limit_folds]
    ids = list(history.task_ids)
    attr = [cards[t].attributes if t in cards else {} for t in ids]
    types = np.array([a.get("type", "") for a in attr])
    langs = np.array([a.get("languages", "") for a in attr])
    unit = {t: e[0] / np.linalg.norm(e[0]) for t, e in emb.items()}
    out: list[tuple[str, str, dict[str, float]]] = []
    for g, group in enumerate(groups):
        t0 = time.perf_counter()
        hidden = np.zeros(n, bool)
        hidden[group] = True
        train_cols = np.flatnonzero(~hidden)
        train = history.select_tasks(train_cols)
        train_ids = [ids[j] for j in train_cols]
        engine = Fennec(normalization=normalization, factorizer_config={"k": k, "max_iter": max_iter},
                        seed=seed, device="cpu")
        engine.fit(train, list(zoo.models.values()), [cards[t] for t in train_ids if t in cards],
                   task_embeddings={t: emb[t] for t in train_ids if t in emb}, proxy=zoo.proxy)
        vectors = {t: engine.zoo_.factors.V[train.task_index(t)] for t in train_ids if t in emb}
        mappers = {method: TaskMapper(method, seed=seed).fit({t: emb[t] for t in vectors}, vectors)
                   for method in mappings}
        rows, cols, z = _zscores(train)
        tm = train.shape[0]
        pos = {mid: i for i, mid in enumerate(train.model_ids)}
        static_t = group_means(rows, cols, z, tm, np.ones(len(train_ids), bool))
        train_types, train_langs = types[train_cols], langs[train_cols]
        train_unit = np.vstack([unit.get(t, np.zeros_like(next(iter(unit.values())))) for t in train_ids])
        for j in group:
            task = ids[j]
            truth, observed = history.column_at(j)
            idx = np.flatnonzero(observed)
            fennec = {}
            for method, mapper in mappers.items():  # what rank(task_embeddings=...) places, without intervals
                ranking = engine.rank_many([cards.get(task)], task_vectors=[mapper.predict(emb[task])])[0]
                score = dict(zip(ranking.model_ids, ranking.scores, strict=True))
                fennec[f"fennec/{method}"] = np.array([score.get(x, np.nan) for x in history.model_ids])
            same_type = train_types == types[j]
            type_t = _fill(group_means(rows, cols, z, tm, same_type), static_t)
            lang_t = _fill(group_means(rows, cols, z, tm, same_type & (train_langs == langs[j])), type_t)
            near = np.argsort(-(train_unit @ unit[task]))[:10]
            keep = np.zeros(len(train_ids), bool)
            keep[near] = True
            near_t = _fill(group_means(rows, cols, z, tm, keep), static_t)
            mids = [history.model_ids[i] for i in idx]
            at = np.array([pos.get(x, -1) for x in mids])

            def take(v: np.ndarray, at: np.ndarray = at) -> np.ndarray:
                return np.where(at >= 0, v[np.maximum(at, 0)], np.nan)

            preds = {**{k_: v[idx] for k_, v in fennec.items()}, "static": take(static_t),
                     "type": take(type_t), "type+lang": take(lang_t), "nearest10": take(near_t)}
            out.append((task, str(types[j]), {k_: weighted_tau(truth[idx], p) for k_, p in preds.items()}))
        print(f"fold {g + 1}/{len(groups)}: {len(group)} targets, {time.perf_counter() - t0:.0f} s", file=sys.stderr,
              flush=True)
    return {"rows": out}


def table(rows: list[tuple[str, str, dict[str, float]]]) -> str:
    """Per-type markdown table: targets, mean weighted tau per method, share where Fennec beats the best rule."""
    by: dict[str, list] = defaultdict(list)
    for r in rows:
        by[r[1]].append(r)
    methods = (*[k for k in rows[0][2] if k.startswith("fennec")], *RULES)
    lead = methods[0]
    lines = ["| type | targets | " + " | ".join(methods) + f" | best rule | {lead} > best rule |",
             "|---|---|" + "---|" * (len(methods) + 2)]

    def line(name: str, rs: list) -> str:
        means = {mm: float(np.nanmean([r[2][mm] for r in rs])) for mm in methods}
        best = max(RULES, key=lambda mm: means[mm])
        wins = np.mean([r[2][lead] > max(r[2][mm] for mm in RULES) for r in rs])
        return (f"| {name} | {len(rs)} | " + " | ".join(f"{means[mm]:.3f}" for mm in methods)
                + f" | {best} | {wins:.0%} |")

    for name in sorted(by, key=lambda t: -len(by[t])):
        lines.append(line(name, by[name]))
    lines.append(line("**all**", rows))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: run the cross-validation and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoo", default="mteb")
    p.add_argument("--folds", type=int, default=10)
    p.add_argument("--limit-folds", type=int, help="run only the first N groups (quick looks)")
    p.add_argument("--min-models", type=int, default=30)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--max-iter", type=int, default=30)
    p.add_argument("--normalization", default="zscore-clip")
    p.add_argument("--mapping", default="knn,kernel-ridge", help="task mappings compared (comma-separated)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    res = run(a.zoo, folds=a.folds, min_models=a.min_models, k=a.k, normalization=a.normalization,
              mappings=a.mapping.split(","), max_iter=a.max_iter, seed=a.seed, limit_folds=a.limit_folds)
    print(f"{a.zoo}: {a.folds}-fold CV over targets with >= {a.min_models} models; k={a.k}, max_iter={a.max_iter}, "
          f"{a.normalization}, {a.mapping}; {time.perf_counter() - t0:.0f} s")
    print(table(res["rows"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
