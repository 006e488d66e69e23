"""Scale benchmark: factorize a large sparse history, score and order a million models, and
add one task incrementally versus refitting.

Prints one table; every ratio is against a baseline measured in the same run:

- fit: a synthetic 100,000 models x 1,000 tasks history with 2% observed cells (rank-5
  non-negative ground truth plus noise), ``nmf`` (float32, 200 iterations) and ``pmf``
  (k=5); target under 60 s on the 2-core CPU.
- score + top-32 for one task over 1,000,000 models x k=32 (float64, on the device):
  ``transfer_top_k`` (fused: one chunked pass over U), ``transfer_scores`` + ``top_k``, and
  ``transfer_scores`` + ``order`` (the full stable sort ``Fennec.rank`` does today), each beside
  plain numpy (``U @ v`` + ``argpartition``) timed in the same interleaved rounds; achieved GB/s
  (bytes of U read per second) beside two measures of this machine's memory bandwidth: reading
  U (``U.sum()``, the best of one and two threads) and a 1 GiB copy (read + write bytes).
  Target: the fused way faster than numpy and at >= 60% of the bandwidth. ``--only-score``
  runs these rows alone.
- update: ``Fennec.update`` adding one task to the fitted 100k-model zoo, versus the full
  refit it avoids; target under 1% of the refit's time.

Runs on CUDA too (``--device cuda``) when present. Run:

    python benchmarks/bench_scale.py [--device auto] [--models 100000] [--tasks 1000] [--only-score]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch


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


def score_rows(dev, m: int, repeat: int, k: int = 32) -> list[tuple]:
    """Score + top-k for one task over ``m`` models x 32 float64 factors, three ways, beside a
    plain numpy baseline and the machine's memory bandwidth, all timed in the same interleaved
    rounds (best of ``repeat``), so a busy neighbour slows each alike.

    - fused: ``transfer_top_k`` (one chunked pass over U, the top k kept while each chunk's
      scores are in cache);
    - ``transfer_scores`` + ``top_k``: every score kept, then the top k selected;
    - ``transfer_scores`` + ``order``: the full stable sort that ranking does today;
    - baseline: plain numpy ``U @ v`` + ``np.argpartition(-s, k)[:k]`` (the top k, unsorted);
    - read bandwidth: bytes of U per second of ``U.sum()``, on one thread and on two (each
      summing half), the least work that reads U; copy bandwidth: read + write bytes per second
      of a 1 GiB ``np.copyto``.

    Checked first: scores within rtol 1e-12 of ``U @ v``, every way's top k equal to
    ``order(U @ v)[:k]`` (the baseline's as a set).
    """
    from fennec_core.scoring.transfer import order, top_k, transfer_scores, transfer_top_k

    rng = np.random.default_rng(1)
    U = rng.random((m, 32))
    v = rng.random((1, 32))
    src, dst = np.ones(1 << 27), np.empty(1 << 27)
    half = m // 2
    pool = ThreadPoolExecutor(2)
    ways = {
        "numpy": lambda: np.argpartition(-(U @ v[0]), k)[:k],
        "fused": lambda: transfer_top_k(U, v, k, device=dev)[0][0],
        "scores + top_k": lambda: top_k(transfer_scores(U, v, device=dev)[0], k),
        "scores + order": lambda: order(transfer_scores(U, v, device=dev)[0])[:k],
        "transfer_scores": lambda: transfer_scores(U, v, device=dev),
        "read 1": U.sum,
        "read 2": lambda: list(pool.map(np.sum, (U[:half], U[half:]))),
        "copy": lambda: np.copyto(dst, src),
    }
    ref = U @ v[0]
    want = order(ref)[:k]
    idx, sc = transfer_top_k(U, v, k, device=dev)
    assert np.allclose(sc[0], ref[idx[0]], rtol=1e-12, atol=0)
    assert np.allclose(transfer_scores(U, v, device=dev)[0], ref, rtol=1e-12, atol=0)
    assert set(ways["numpy"]().tolist()) == set(want.tolist())
    assert all(np.array_equal(ways[name](), want) for name in ("fused", "scores + top_k", "scores + order"))
    best = dict.fromkeys(ways, np.inf)
    for r in range(repeat):
        for name in list(ways)[:: 1 if r % 2 else -1]:
            t0 = time.perf_counter()
            ways[name]()
            best[name] = min(best[name], time.perf_counter() - t0)
    pool.shutdown()
    read1, read2 = U.nbytes / best["read 1"] / 1e9, U.nbytes / best["read 2"] / 1e9
    read, copy = max(read1, read2), 2 * src.nbytes / best["copy"] / 1e9
    base = best["numpy"]
    rows = []
    for name in ("fused", "scores + top_k", "scores + order"):
        gbs = U.nbytes / best[name] / 1e9
        note = f"{gbs:.1f} GB/s of U: {100 * gbs / read:.0f}% of read bandwidth, {100 * gbs / copy:.0f}% of copy bandwidth"
        if name == "fused":
            note += (f" (read: U.sum(), {read:.1f} GB/s, the best of 1 thread {read1:.1f} and 2 threads {read2:.1f}; "
                     f"copy: read + write bytes of a 1 GiB np.copyto, {copy:.1f} GB/s)")
        note += f"; numpy matvec + argpartition {base * 1e3:.1f} ms: {base / best[name]:.2f}x"
        if name == "scores + top_k":
            note += f"; transfer_scores alone {best['transfer_scores'] * 1e3:.1f} ms"
        target = "faster than numpy, >= 60% of bandwidth" if name == "fused" else ""
        rows.append((f"score + top-{k}: {name}", f"{m} models x k=32, float64", best[name], note, target))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", type=int, default=100_000)
    ap.add_argument("--tasks", type=int, default=1_000)
    ap.add_argument("--density", type=float, default=0.02)
    ap.add_argument("--score-models", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=30, help="interleaved rounds of the scoring rows (best of)")
    ap.add_argument("--only-score", action="store_true", help="only the score + top-k rows (no fits, no update)")
    args = ap.parse_args()

    from fennec_core.device import resolve_device

    dev = resolve_device(args.device)
    print(f"device: {dev}; torch threads: {torch.get_num_threads()}")
    if args.only_score:  # imports nothing of the fits and the update
        print_table(score_rows(dev, args.score_models, args.repeat))
        return

    from fennec_plugins.factorizers.nmf import MaskedNMF
    from fennec_plugins.factorizers.pmf import VariationalPMF

    from fennec_core import Fennec
    from fennec_core.records import History

    rows = []
    P, M = synthetic(args.models, args.tasks, args.density)
    nnz = int(M.sum())
    t_nmf, f_nmf = timed(lambda: MaskedNMF(k=5, max_iter=200, dtype="float32", device=str(dev)).fit(P, M))
    rows.append(("fit nmf (200 it, float32)", f"{args.models} x {args.tasks}, {nnz} cells", t_nmf,
                 f"rmse {f_nmf.info['rmse']:.4f} (noise 0.01)", "< 60 s"))
    t_pmf, f_pmf = timed(lambda: VariationalPMF(k=5, max_iter=30, device=str(dev)).fit(P, M))
    rows.append(("fit pmf (k=5, 30 sweeps)", f"{args.models} x {args.tasks}, {nnz} cells", t_pmf,
                 f"rmse {f_pmf.info['rmse']:.4f}", "< 60 s"))

    rows += score_rows(dev, args.score_models, args.repeat)

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

    print_table(rows)


def print_table(rows) -> None:
    """The markdown table of ``rows`` (name, size, seconds, notes, target)."""
    print()
    print("| step | size | time | notes | target |")
    print("|---|---|---|---|---|")
    for name, size, t, note, target in rows:
        shown = f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"
        print(f"| {name} | {size} | {shown} | {note} | {target} |")


if __name__ == "__main__":
    main()
