"""Batched scoring and top-k in torch, on the chosen device.

The online cost of ranking is one matrix product ``U v`` (m models x k) per task plus a
top-k; here it runs in chunks of models so a zoo of millions fits in memory, on CUDA when
there is one. torch is imported on first use, not at ``import fennec_core``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from fennec_core.errors import FennecError

if TYPE_CHECKING:  # pragma: no cover
    import torch


def resolve_device(device: str | Any = "auto") -> torch.device:
    """``"auto"`` means CUDA when available, else CPU; other values go to ``torch.device``."""
    import torch

    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FennecError(f"device {device!r} requested but CUDA is not available here; use device='cpu' or 'auto'")
    return dev


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
    """Scores ``V @ U.T``: (t tasks, m models) for task vectors ``V`` (t, k), model vectors ``U`` (m, k)."""
    import torch

    dev = resolve_device(device)
    Vt = as_tensor(np.atleast_2d(V) if isinstance(V, np.ndarray) else V, dev, torch.float64)
    out = []
    m = U.shape[0]
    with torch.inference_mode():
        for start in range(0, m, chunk):
            Ut = as_tensor(U[start : start + chunk], dev, torch.float64)
            out.append((Vt @ Ut.T).cpu().numpy())
    return np.concatenate(out, axis=1) if out else np.zeros((Vt.shape[0], 0))


def topk(
    U: np.ndarray | torch.Tensor,
    V: np.ndarray | torch.Tensor,
    k: int,
    *,
    device: str | Any = "auto",
    chunk: int = 1 << 20,
    dtype: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` models per task by ``U @ v``, computed chunk by chunk on ``device``.

    Returns (values, indices), each (t, k), best first. Keeps only k candidates per chunk,
    so memory is O(t * (chunk + k)) however many models there are.
    """
    import torch

    dev = resolve_device(device)
    dtype = dtype or torch.float32
    Vt = as_tensor(np.atleast_2d(V) if isinstance(V, np.ndarray) else V, dev, dtype)
    m = U.shape[0]
    k = min(k, m)
    best_v = best_i = None
    with torch.inference_mode():
        for start in range(0, m, chunk):
            Ut = as_tensor(U[start : start + chunk], dev, dtype)
            s = Vt @ Ut.T
            v, i = torch.topk(s, min(k, s.shape[1]), dim=1)
            i = i + start
            if best_v is None:
                best_v, best_i = v, i
            else:
                v = torch.cat([best_v, v], dim=1)
                i = torch.cat([best_i, i], dim=1)
                best_v, sel = torch.topk(v, k, dim=1)
                best_i = torch.gather(i, 1, sel)
    if best_v is None:
        return np.zeros((Vt.shape[0], 0)), np.zeros((Vt.shape[0], 0), dtype=np.int64)
    return best_v.cpu().numpy(), best_i.cpu().numpy()


def order(scores: np.ndarray) -> np.ndarray:
    """Indices sorting ``scores`` best first; ties keep input order (deterministic)."""
    s = np.where(np.isfinite(scores), scores, -np.inf)
    return np.argsort(-s, kind="stable")
