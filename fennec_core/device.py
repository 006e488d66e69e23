"""One place that turns a device setting (``"auto"``, ``"cpu"``, ``"cuda:1"``) into a torch device.

torch is imported on first use, not at ``import fennec_core``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fennec_core.errors import FennecError

if TYPE_CHECKING:  # pragma: no cover
    import torch


def resolve_device(device: str | Any = "auto") -> torch.device:
    """``"auto"`` means CUDA when available, else CPU; other values go to ``torch.device``.

    A CUDA device on a machine without CUDA fails with one line saying what to use instead.
    """
    import torch

    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FennecError(f"device {device!r} requested but CUDA is not available here; use device='cpu' or 'auto'")
    return dev
