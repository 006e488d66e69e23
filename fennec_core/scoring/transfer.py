"""Batched transfer scoring in torch, on the chosen device, and a deterministic order.

The online cost of ranking is one matrix product ``U v`` (m models x k) per task plus a
sort; here the product runs in chunks of models so a zoo of millions fits in memory, on CUDA when
there is one. torch is imported on first use, not at ``import fennec_core``; a small product on
the CPU (``device="cpu"``, or ``"auto"`` below :data:`SMALL`) runs in NumPy without importing
torch at all: importing it takes longer than ranking a zoo of a thousand models (float64 in
both, so the scores agree to rounding).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from fennec_core.device import resolve_device

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: Multiply-adds (models x tasks x k) under which ``device="auto"`` computes on the CPU in NumPy:
#: a device would not pay back torch's import (~1 s) and the copies.
SMALL = 1 << 24


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
    if _on_numpy(U, V, device):
        Vn = np.atleast_2d(np.asarray(V, dtype=np.float64))
        out = [Vn @ np.asarray(U[start : start + chunk], dtype=np.float64).T for start in range(0, U.shape[0], chunk)]
        return np.concatenate(out, axis=1) if out else np.zeros((Vn.shape[0], 0))
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


def _on_numpy(U: Any, V: Any, device: Any) -> bool:
    """Whether ``U V^T`` runs in NumPy: NumPy inputs, and the CPU asked for or a small product on ``auto``."""
    if not (isinstance(U, np.ndarray) and isinstance(V, np.ndarray)):
        return False
    if device == "cpu":
        return True
    size = U.shape[0] * max(np.atleast_2d(V).shape[0], 1) * max(U.shape[1] if U.ndim == 2 else 1, 1)
    return device in (None, "auto") and size < SMALL


def order(scores: np.ndarray) -> np.ndarray:
    """Indices sorting ``scores`` best first; ties keep input order (deterministic)."""
    s = np.where(np.isfinite(scores), scores, -np.inf)
    return np.argsort(-s, kind="stable")
