"""Probe scores fused with the history, leave-one-task-out, beside the history alone, the
estimator alone and the baseline suite (``fennec evaluate --protocol loo-probe:EST[:N]``).

    python benchmarks/evaluate_probes.py              # Model Spider table: logme, nce, hscore (about 1 min)
    python benchmarks/evaluate_probes.py --hf-nlp     # also hf-nlp's mnli_lp probe column (long: 36 refits)

Model Spider table (10 ImageNet models x 8 classification targets; fine-tuning accuracy and
the published estimator scores of zhangyikaii/Model-Spider, copied in tests/data): each target
hidden in turn, the engine and the probe mapping fitted on the other 7. Two fusions that are
not the method are measured on the same folds for comparison (numpy, here):

``blend 75/25``  a fixed blend of the static ranking (0.75) and the z-scored estimator (0.25);
``joint k=K``    the probes folded in as noisy known results of the task vector (rank-K SVD of the
                 7 training columns, Gaussian prior from their task vectors) instead of per model.

Weighted tau is ``scipy.stats.weightedtau(truth, scores, rank=None)`` (Model Spider's convention).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
HISTORY = DATA / "modelspider_classification_history.csv"
PROBES = DATA / "modelspider_probe_scores.csv"
#: Model Spider's own result on this table (its paper, Table 1, mean over the 8 targets).
MODEL_SPIDER = 0.800


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / x.std()


def numpy_variants(history, table, estimator: str) -> dict[str, float]:
    """Mean weighted tau of the fixed blend and of the joint task-vector posterior (k = 1..4)."""
    from fennec_core.metrics import weighted_tau

    truth = history.scores
    Z = np.column_stack([_z(truth[:, j]) for j in range(truth.shape[1])])
    P = np.column_stack([_z(np.array([table[t][estimator][m] for m in history.model_ids]))
                         for t in history.task_ids])
    out: dict[str, list[float]] = {}
    for j in range(Z.shape[1]):
        Ztr, Ptr = np.delete(Z, j, 1), np.delete(P, j, 1)
        static = Ztr.mean(1)
        out.setdefault("blend 75/25", []).append(weighted_tau(truth[:, j], 0.75 * static + 0.25 * P[:, j]))
        b = float((Ptr * Ztr).sum() / (Ptr * Ptr).sum())
        s2 = float(np.mean((Ztr - b * Ptr) ** 2))
        Uf, S, Vt = np.linalg.svd(Ztr, full_matrices=False)
        for k in (1, 2, 3, 4):
            U, V = Uf[:, :k] * np.sqrt(S[:k]), Vt[:k].T * np.sqrt(S[:k])
            mu, C = V.mean(0), np.cov(V.T, bias=True).reshape(k, k) + 1e-6 * np.eye(k)
            A = np.linalg.inv(C) + U.T @ U / s2
            v = np.linalg.solve(A, np.linalg.solve(C, mu) + U.T @ (b * P[:, j]) / s2)
            out.setdefault(f"joint k={k}", []).append(weighted_tau(truth[:, j], U @ v))
    return {name: float(np.mean(v)) for name, v in out.items()}


def run(engine_args: dict, history, table, protocol: str, tasks=None) -> tuple[dict[str, float], float]:
    """(mean weighted tau of the fusion and of every suite member, seconds) of one protocol."""
    from fennec_core import Fennec
    from fennec_core.evaluation.probe_protocol import evaluate_probes

    t0 = time.perf_counter()
    report = evaluate_probes(Fennec(**engine_args), history, table, protocol, tasks=tasks)
    means = {"fusion": report.mean()["weighted_tau"]}
    means.update({name: report.mean(name)["weighted_tau"] for name in report.suite()})
    return means, time.perf_counter() - t0


def main() -> int:
    """Print the tables of docs/probes.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hf-nlp", action="store_true", help="also the bundled hf-nlp zoo's mnli_lp probe column")
    args = parser.parse_args()
    from fennec_core.io.probe_tables import read_probe_table
    from fennec_core.io.tables import read_history

    history, table = read_history(HISTORY), read_probe_table(PROBES)
    print("Model Spider table, 8 classification targets, mean weighted tau (leave-one-task-out)\n")
    print("| protocol | fusion | history | estimator alone | static | best other suite member | "
          "fusion - max(history, estimator) | blend 75/25 | joint k=1/2/3/4 | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for est, n in (("logme", None), ("nce", None), ("hscore", None), ("logme", 3), ("logme", 5), ("nce", 5),
                   ("hscore", 5)):
        protocol = f"loo-probe:{est}" + (f":{n}" if n else "")
        means, secs = run({"seed": 0}, history, table, protocol)
        other = {k: v for k, v in means.items() if k not in ("fusion", "history", f"{est} alone")}
        best = max(other, key=other.get)
        var = numpy_variants(history, table, est)
        joint = "/".join(f"{var[f'joint k={k}']:.3f}" for k in (1, 2, 3, 4)) if n is None else "-"
        blend = f"{var['blend 75/25']:.3f}" if n is None else "-"
        print(f"| {protocol} | **{means['fusion']:.3f}** | {means['history']:.3f} | {means[f'{est} alone']:.3f} | "
              f"{means['static']:.3f} | {best} {other[best]:.3f} | "
              f"{means['fusion'] - max(means['history'], means[f'{est} alone']):+.3f} | {blend} | {joint} | {secs:.1f} |")
    print(f"\nModel Spider (the paper's learned ranker, its own number): {MODEL_SPIDER:.3f}")
    if args.hf_nlp:
        from fennec_core import Fennec
        from fennec_core.io.catalog import resolve

        zoo = Fennec.load(resolve("hf-nlp"))
        z = zoo.zoo_
        params = {k: v for k, v in zoo.get_params().items() if k not in ("device",)}
        means, secs = run(params, z.history, None, "loo-probe:mnli_lp", tasks=list(z.tasks.values()))
        print("\nhf-nlp (bundled zoo, its own settings; mnli_lp = the probe column), mean weighted tau\n")
        print("| protocol | fusion | history | mnli_lp alone | static | static-zscore-clip | seconds |")
        print("|---|---|---|---|---|---|---|")
        print(f"| loo-probe:mnli_lp | **{means['fusion']:.3f}** | {means['history']:.3f} | "
              f"{means['mnli_lp alone']:.3f} | {means['static']:.3f} | {means.get('static-zscore-clip', float('nan')):.3f}"
              f" | {secs:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
