"""One place that turns a device setting (``"auto"``, ``"cpu"``, ``"cuda:1"``) into a torch device.

torch is imported on first use, not at ``import fennec_core``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fennec_core.errors import FennecError, InputError

if TYPE_CHECKING:  # pragma: no cover
    import torch


_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:[0-9]+)?)")


def check_device(device: str | Any = "auto", what: str = "device") -> str | Any:
    """``device`` itself when it is a valid device setting, else one InputError naming ``what``.

    Valid: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``, None (auto), or a ``torch.device``.
    Only the spelling is checked (without importing torch); whether CUDA is present is checked
    when the device is used.
    """
    if device is None or (type(device).__name__ == "device" and type(device).__module__.startswith("torch")):
        return device
    if isinstance(device, str) and _DEVICE.fullmatch(device):
        return device
    raise InputError(f"{what} {device!r} is not a device; use auto, cpu, cuda, cuda:N (e.g. cuda:1) or mps")


def resolve_device(device: str | Any = "auto") -> torch.device:
    """``"auto"`` means CUDA when available, else CPU; other values go to ``torch.device``.

    A CUDA device on a machine without CUDA fails with one line saying what to use instead.
    """
    import torch

    if isinstance(device, torch.device):
        return device
    check_device(device)
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FennecError(f"device {device!r} requested but CUDA is not available here; use device='cpu' or 'auto'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise FennecError(f"device {device!r} requested but this machine has {torch.cuda.device_count()} CUDA "
                          "device(s), numbered from 0; use device='cuda' or 'auto'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise FennecError(f"device {device!r} requested but MPS is not available here; use device='cpu' or 'auto'")
    return dev
