"""Scale benchmark: factorize a large sparse history, score and order a million models, and
add one task incrementally versus refitting.

Prints one table; every ratio is against a baseline measured in the same run:

- fit: a synthetic 100,000 models x 1,000 tasks history with 2% observed cells (rank-5
  non-negative ground truth plus noise), ``nmf`` (float32, 200 iterations) and ``pmf``
  (k=5); target under 60 s on the 2-core CPU.
- score + order: what ``Fennec.rank`` does for one task over 1,000,000 models x k=32:
  ``transfer_scores(U, v)`` (float64, on the device) then ``order`` (a stable sort, best
  first; the top 32 are its head); target under 50 ms on the CPU; achieved GB/s (bytes of U
  read per second) beside the machine's memory bandwidth, measured here as a large numpy
  copy, and the same work in plain numpy (matvec + stable argsort).
- update: ``Fennec.update`` adding one task to the fitted 100k-model zoo, versus the full
  refit it avoids; target under 1% of the refit's time.

Runs on CUDA too (``--device cuda``) when present. Run:

    python benchmarks/bench_scale.py [--device auto] [--models 100000] [--tasks 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def memory_bandwidth_gbs(n_bytes: int = 1 << 30) -> float:
    """Copy bandwidth of this machine (read + write bytes per second), best of 3."""
    a = np.ones(n_bytes // 8)
    b = np.empty_like(a)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t0)
    return 2 * a.nbytes / best / 1e9


def synthetic(m: int, n: int, density: float, k: int = 5, seed: int = 0):
    """A rank-k non-negative history with ``density`` observed cells (dense arrays)."""
    rng = np.random.default_rng(seed)
    nnz = int(m * n * density)
    cells = np.unique(rng.integers(0, m * n, nnz))
    rows, cols = cells // n, cells % n
    U, V = rng.random((m, k)), rng.random((n, k))
    vals = np.abs(np.einsum("ij,ij->i", U[rows], V[cols]) + 0.01 * rng.standard_normal(cells.size))
    P = np.zeros((m, n))
    M = np.zeros((m, n), dtype=bool)
    P[rows, cols] = vals
    M[rows, cols] = True
    return P, M


def timed(fn, repeat: int = 1):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", type=int, default=100_000)
    ap.add_argument("--tasks", type=int, default=1_000)
    ap.add_argument("--density", type=float, default=0.02)
    ap.add_argument("--score-models", type=int, default=1_000_000)
    args = ap.parse_args()

    from fennec_plugins.factorizers.nmf import MaskedNMF
    from fennec_plugins.factorizers.pmf import VariationalPMF

    from fennec_core import Fennec
    from fennec_core.device import resolve_device
    from fennec_core.records import History
    from fennec_core.scoring.transfer import order, transfer_scores

    dev = resolve_device(args.device)
    rows = []
    print(f"device: {dev}; torch threads: {torch.get_num_threads()}")

    P, M = synthetic(args.models, args.tasks, args.density)
    nnz = int(M.sum())
    t_nmf, f_nmf = timed(lambda: MaskedNMF(k=5, max_iter=200, dtype="float32", device=str(dev)).fit(P, M))
    rows.append(("fit nmf (200 it, float32)", f"{args.models} x {args.tasks}, {nnz} cells", t_nmf,
                 f"rmse {f_nmf.info['rmse']:.4f} (noise 0.01)", "< 60 s"))
    t_pmf, f_pmf = timed(lambda: VariationalPMF(k=5, max_iter=30, device=str(dev)).fit(P, M))
    rows.append(("fit pmf (k=5, 30 sweeps)", f"{args.models} x {args.tasks}, {nnz} cells", t_pmf,
                 f"rmse {f_pmf.info['rmse']:.4f}", "< 60 s"))

    # score + order for one task over a million models, as ranking does it: float64 model
    # vectors (numpy, like a zoo's factors), scored on the device, ordered on the host
    rng = np.random.default_rng(1)
    U = rng.random((args.score_models, 32))
    v = rng.random((1, 32))

    def score_and_order():
        s = transfer_scores(U, v, device=dev)[0]
        return s, order(s)

    score_and_order()  # warm-up
    t_score, _ = timed(lambda: transfer_scores(U, v, device=dev), repeat=20)
    t_rank, (s, idx) = timed(score_and_order, repeat=20)
    ref = U @ v[0]
    assert np.allclose(s, ref, rtol=1e-12, atol=0)
    assert np.all(np.diff(s[idx]) <= 0), "order is not best first"
    assert set(idx[:32].tolist()) == set(np.argpartition(-ref, 32)[:32].tolist())
    t_order, _ = timed(lambda: order(s), repeat=20)
    gbs = U.nbytes / t_score / 1e9
    bw = memory_bandwidth_gbs()
    t_np, _ = timed(lambda: np.argsort(-(U @ v[0]), kind="stable"), repeat=5)
    rows.append(("score + order (top-32 = its head)", f"{args.score_models} models x k=32, float64", t_rank,
                 f"score {t_score * 1e3:.1f} ms ({gbs:.1f} GB/s of U; machine copy bandwidth {bw:.1f} GB/s), "
                 f"order {t_order * 1e3:.1f} ms; numpy matvec + stable argsort "
                 f"{t_np * 1e3:.1f} ms ({t_np / t_rank:.1f}x)", "< 50 ms"))

    # incremental update vs refit on the 100k-model zoo (nmf, float32)
    cfg = {"k": 5, "max_iter": 200, "dtype": "float32"}
    ids_m = [f"m{i}" for i in range(args.models)]
    ids_t = [f"t{j}" for j in range(args.tasks)]
    hist = History(ids_m, ids_t, P, M)
    base = History(ids_m, ids_t[:-1], P[:, :-1], M[:, :-1])
    new = History(ids_m, ids_t[-1:], P[:, -1:], M[:, -1:])
    eng = Fennec("nmf", factorizer_config=cfg, device=str(dev), use_meta=False).fit(base)
    t_update, report = timed(lambda: eng.update(new, refit_threshold=1e9))
    t_refit, refit = timed(lambda: Fennec("nmf", factorizer_config=cfg, device=str(dev), use_meta=False).fit(hist))
    a = eng.zoo_.factors.U @ eng.zoo_.factors.V[-1]
    b = refit.zoo_.factors.U @ refit.zoo_.factors.V[-1]
    corr = float(np.corrcoef(a, b)[0, 1])
    rows.append(("update: add one task", f"{args.models} models", t_update,
                 f"{100 * t_update / t_refit:.2f}% of the refit ({t_refit:.1f} s); refit={report['refit']}; "
                 f"corr with refit's column {corr:.3f}", "< 1% of refit"))

    print()
    print("| step | size | seconds | notes | target |")
    print("|---|---|---|---|---|")
    for name, size, t, note, target in rows:
        shown = f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"
        print(f"| {name} | {size} | {shown} | {note} | {target} |")


if __name__ == "__main__":
    main()
