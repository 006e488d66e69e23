"""Batched transfer scoring, on the chosen device, a deterministic order, and its top k.

The online cost of ranking is one matrix product ``U v`` (m models x k) per task plus a
sort. On the CPU the product runs in NumPy, in chunks of models small enough that each chunk's
scores are still in cache when they are used (:data:`CPU_CHUNK_BYTES`); on CUDA it runs in torch,
in chunks of models so a zoo of millions fits in device memory. torch is imported on first use,
not at ``import fennec_core``: a small product on ``device="auto"`` (below :data:`SMALL`) runs in
NumPy without asking whether there is a GPU, as importing torch takes longer than ranking a zoo
of a thousand models. Scores are float64 on every path, so they agree to rounding.

The product is bound by memory bandwidth (each model's k floats are read once and used for k
multiply-adds), so the best a ranking can do is read ``U`` once. :func:`transfer_top_k` does
that and keeps the k best models while each chunk's scores are in cache, instead of writing a
million scores and sorting them all; :func:`top_k` is the same selection for scores already
computed. Both return exactly the first k entries of :func:`order`, ties and NaN included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from fennec_core.device import resolve_device

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: Multiply-adds (models x tasks x k) under which ``device="auto"`` computes on the CPU in NumPy:
#: a device would not pay back torch's import (~1 s) and the copies.
SMALL = 1 << 24

#: Bytes of ``U`` per chunk of the NumPy product (8,192 models at k=32). Small enough that a chunk
#: (and its float64 copy, when ``U`` is float32) and its scores stay in the core's L2 cache, and
#: that OpenBLAS runs each chunk's product on one thread: one core already reads memory as fast as
#: the machine delivers it, and waking BLAS threads per chunk costs more than it saves (on a
#: busy 2-core machine, much more).
CPU_CHUNK_BYTES = 1 << 21

#: NumPy chunks whose scores :func:`transfer_top_k` filters at once (4 x 8,192 float64 scores,
#: 256 KiB, still in L2): one filtering call per chunk would cost ~5% of the pass in Python overhead.
TOP_K_CHUNKS = 4

#: Scores per chunk of :func:`top_k`: the first chunk is partitioned, the rest mostly compared
#: against the running k-th best (fastest of 2**13 to 2**17 over a million random scores here).
TOP_K_STEP = 1 << 15


def as_tensor(a: np.ndarray | torch.Tensor, device: torch.device, dtype: Any = None) -> torch.Tensor:
    """A tensor on ``device`` (float32 by default), without copying when it is already there."""
    import torch

    dtype = dtype or torch.float32
    if isinstance(a, torch.Tensor):
        return a.to(device=device, dtype=dtype)
    return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)


def transfer_scores(
    U: np.ndarray | torch.Tensor,
    V: np.ndarray | torch.Tensor,
    *,
    device: str | Any = "auto",
    chunk: int = 1 << 20,
) -> np.ndarray:
    """Scores ``V @ U.T``: (t tasks, m models) for task vectors ``V`` (t, k), model vectors ``U`` (m, k).

    ``chunk`` bounds the models per device transfer; on the CPU the chunks are also capped at
    :data:`CPU_CHUNK_BYTES`, and the scores are written in place (no concatenation).
    """
    if _on_numpy(U, V, device):
        Vn = np.atleast_2d(np.asarray(V, dtype=np.float64))
        out = np.empty((Vn.shape[0], U.shape[0]))
        for start, Uc in _cpu_chunks(U, chunk):
            np.matmul(Vn, Uc.T, out=out[:, start : start + Uc.shape[0]])
        return out
    import torch

    Vt, chunks = _device_chunks(U, V, device, chunk)
    out = []
    with torch.inference_mode():
        for _, Ut in chunks:
            out.append((Vt @ Ut.T).cpu().numpy())
    return np.concatenate(out, axis=1) if out else np.zeros((Vt.shape[0], 0))


def transfer_top_k(
    U: np.ndarray | torch.Tensor,
    V: np.ndarray | torch.Tensor,
    k: int,
    *,
    device: str | Any = "auto",
    chunk: int = 1 << 20,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best models of each task and their scores: (t, min(k, m)) indices and float64 scores.

    Row ``i`` equals ``order(transfer_scores(U, V)[i])[:k]`` exactly (ties keep model order; NaN
    and infinite scores rank last, as in :func:`order`), with the scores at those models; but
    ``U`` is read once, in chunks, and each chunk's scores are reduced to candidates while they are
    in cache (on the device, before they are copied back), so ranking the top of a large zoo
    costs one pass over ``U`` and no full sort.
    """
    k = _check_k(k)
    if _on_numpy(U, V, device):
        Vn = np.atleast_2d(np.asarray(V, dtype=np.float64))
        best = [_RunningTopK(k) for _ in range(Vn.shape[0])]
        block = _cpu_rows(U) * TOP_K_CHUNKS
        buf = np.empty((Vn.shape[0], block))
        for start in range(0, U.shape[0], block):
            for at, Uc in _cpu_chunks(U[start : start + block], chunk):
                np.matmul(Vn, Uc.T, out=buf[:, at : at + Uc.shape[0]])
            for b, s in zip(best, buf[:, : min(block, U.shape[0] - start)], strict=True):
                b.push(s, start)
    else:
        best = _device_top_k(U, V, k, device, chunk)
    if not best:
        return np.empty((0, min(k, U.shape[0])), dtype=np.intp), np.empty((0, min(k, U.shape[0])))
    kept = [b.merge() for b in best]
    return np.stack([i for i, _ in kept]), np.stack([s for _, s in kept])


def _device_top_k(U: Any, V: Any, k: int, device: Any, chunk: int) -> list[_RunningTopK]:
    """:func:`transfer_top_k` in torch: each chunk's candidates (its k best keys and all ties with
    the k-th, in model order) are found on the device, and only they are copied to the host."""
    import torch

    Vt, chunks = _device_chunks(U, V, device, chunk)
    best = [_RunningTopK(k) for _ in range(Vt.shape[0])]
    with torch.inference_mode():
        for start, Ut in chunks:
            S = Vt @ Ut.T
            if k == 0:
                continue
            key = torch.where(torch.isfinite(S), S, -torch.inf)
            kth = torch.topk(key, min(k, S.shape[1]), dim=1).values[:, -1:]
            for b, s, cand in zip(best, S, key >= kth, strict=True):
                pos = torch.nonzero(cand).squeeze(1)
                b.push(s[pos].cpu().numpy(), start, pos.cpu().numpy())
    return best


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best of 1-D ``scores``, best first: exactly ``order(scores)[:k]``, without a full sort.

    For ranking's ``top=N``: a stable sort of a million scores costs ~100 ms; selecting the k
    best in cache-sized chunks with a running threshold, then sorting those, costs a few.
    """
    k = _check_k(k)
    s = np.asarray(scores)
    if s.ndim != 1:
        raise ValueError(f"top_k ranks one task's scores (1-D), got shape {s.shape}")
    best = _RunningTopK(k)
    for start in range(0, s.size, TOP_K_STEP):
        best.push(s[start : start + TOP_K_STEP], start)
    return best.merge()[0]


def order(scores: np.ndarray) -> np.ndarray:
    """Indices sorting ``scores`` best first; ties keep input order (deterministic)."""
    return np.argsort(-_key(scores), kind="stable")


class _RunningTopK:
    """The ``k`` best (score, model) pairs offered so far, ranked as :func:`order` ranks them.

    Models are offered in increasing order, so among equal sort keys the earlier (already kept)
    model wins: once ``k`` are kept, only a score strictly above the k-th key can enter, and one
    pass over a chunk (a max, then a comparison when the max passes) discards the rest. Entrants
    wait in a list and are merged once there are ``k`` of them (the threshold is then stale,
    which only lets more candidates wait), so a merge is rare, not one per chunk.
    """

    def __init__(self, k: int) -> None:
        self.k = k
        self.idx = np.empty(0, dtype=np.intp)
        self.score = np.empty(0)
        self.worst = -np.inf  # the k-th sort key, once k are kept
        self.waiting: list[tuple[np.ndarray, np.ndarray]] = []
        self.n_waiting = 0

    def push(self, scores: np.ndarray, offset: int = 0, idx: np.ndarray | None = None) -> None:
        """Offer ``scores`` of models ``offset + idx`` (``idx`` increasing, default ``arange``), all after earlier ones."""
        if self.idx.size < self.k:
            pos = np.arange(scores.size)
        elif self.k and scores.size and np.fmax.reduce(scores) > self.worst:  # fmax: NaN never enters
            pos = np.flatnonzero(scores > self.worst)
        else:
            return
        self.waiting.append((offset + (pos if idx is None else idx[pos]), scores[pos]))
        self.n_waiting += pos.size
        if self.idx.size < self.k or self.n_waiting >= self.k:
            self.merge()

    def merge(self) -> tuple[np.ndarray, np.ndarray]:
        """Merge the waiting entrants; the kept (models, scores), best first."""
        if self.waiting:
            ids = np.concatenate([w[0] for w in self.waiting])
            sc = np.concatenate([w[1] for w in self.waiting]).astype(np.float64, copy=False)
            self.waiting, self.n_waiting = [], 0
            if ids.size > self.k:  # entrants are in model order, as _head's ties need
                head = _head(_key(sc), self.k)
                ids, sc = ids[head], sc[head]
            ids, sc = np.concatenate([self.idx, ids]), np.concatenate([self.score, sc])
            keep = np.lexsort((ids, -_key(sc)))[: self.k]
            self.idx, self.score = ids[keep], sc[keep]
            if self.k and self.idx.size == self.k:
                self.worst = _key(self.score[-1:])[0]
        return self.idx, self.score


def _head(key: np.ndarray, k: int) -> np.ndarray:
    """Positions of the first ``k`` of a stable descending sort of ``key`` (no NaN), best first."""
    if k >= key.size:
        return np.argsort(-key, kind="stable")
    neg = -key
    kth = np.partition(neg, k - 1)[k - 1]
    above = np.flatnonzero(neg < kth)
    head = np.concatenate([above, np.flatnonzero(neg == kth)[: k - above.size]])
    return head[np.argsort(neg[head], kind="stable")]  # equal keys are all in one part, in order


def _key(scores: np.ndarray) -> np.ndarray:
    """The sort key of :func:`order`: the score, with NaN and +-inf ranked last (as -inf)."""
    return np.where(np.isfinite(scores), scores, -np.inf)


def _check_k(k: int) -> int:
    """``k`` as an int, or a ValueError when it is negative (``order(s)[:k]`` would drop from the end)."""
    if int(k) != k or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    return int(k)


def _cpu_rows(U: np.ndarray) -> int:
    """Models per NumPy chunk: :data:`CPU_CHUNK_BYTES` of float64 rows (at least one)."""
    width = U.shape[1] if U.ndim == 2 else 1
    return max(CPU_CHUNK_BYTES // (8 * max(width, 1)), 1)


def _cpu_chunks(U: np.ndarray, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
    """(start, float64 rows) chunks of ``U``; a view (no copy) when ``U`` is already float64."""
    step = max(min(chunk, _cpu_rows(U)), 1)
    for start in range(0, U.shape[0], step):
        yield start, np.asarray(U[start : start + step], dtype=np.float64)


def _device_chunks(U: Any, V: Any, device: Any, chunk: int) -> tuple[torch.Tensor, Iterator[tuple[int, torch.Tensor]]]:
    """``V`` as a float64 tensor on the device, and (start, float64 tensor) chunks of ``U`` there."""
    import torch

    dev = resolve_device(device)
    Vt = as_tensor(np.atleast_2d(V) if isinstance(V, np.ndarray) else V, dev, torch.float64)
    if Vt.ndim == 1:
        Vt = Vt[None, :]
    return Vt, ((start, as_tensor(U[start : start + chunk], dev, torch.float64)) for start in range(0, U.shape[0], chunk))


def _on_numpy(U: Any, V: Any, device: Any) -> bool:
    """Whether ``U V^T`` runs in NumPy: NumPy inputs, and the CPU asked for (or found, on ``auto``)."""
    if not (isinstance(U, np.ndarray) and isinstance(V, np.ndarray)):
        return False
    if str(device) == "cpu":  # "cpu" or torch.device("cpu")
        return True
    if device not in (None, "auto"):
        return False
    size = U.shape[0] * max(np.atleast_2d(V).shape[0], 1) * max(U.shape[1] if U.ndim == 2 else 1, 1)
    return size < SMALL or resolve_device(device).type == "cpu"
