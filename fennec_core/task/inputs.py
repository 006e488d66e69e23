"""A new task's unlabeled inputs, read and sampled: the images a task proxy embeds.

Accepted: a folder of images (flat, or one subfolder per class: the subfolder names become
labels), a list of image paths, an array or tensor ``[n, H, W]``, ``[n, H, W, C]`` or
``[n, C, H, W]``, or a torch ``Dataset`` yielding images or ``(image, label)`` pairs. At most
``n`` items are sampled (default 100; seeded; class-balanced when labels are visible), so the
cost of ranking does not grow with the dataset. Files that are not images or cannot be
decoded are skipped and counted in one warning; an input with no usable image is an error.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from fennec_core.errors import InputError
from fennec_core.images import pil as _pil
from fennec_core.images import read_rgb

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


@attrs.frozen(eq=False)
class TaskImages:
    """Sampled images of one task (PIL RGB images), their labels when known, and what was skipped."""

    images: list[Any]
    labels: list[str] | None
    skipped: int = 0
    source: str = ""

    def __len__(self) -> int:
        return len(self.images)


def balanced_order(labels: Sequence[str] | None, total: int, seed: int) -> np.ndarray:
    """All indices in a seeded order that takes classes in turn (any prefix is class-balanced)."""
    rng = np.random.default_rng(seed)
    if not labels:
        return rng.permutation(total)
    groups: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(lab, []).append(i)
    queues = [list(rng.permutation(idx)) for _, idx in sorted(groups.items())]
    order: list[int] = []
    while len(order) < total:
        for q in queues:
            if q:
                order.append(int(q.pop()))
    return np.asarray(order, dtype=int)


def _balanced_sample(labels: Sequence[str] | None, total: int, n: int, seed: int) -> np.ndarray:
    """Indices of at most ``n`` items, balanced over labels when given, seeded, sorted."""
    return np.sort(balanced_order(labels, total, seed)[:n])


def _to_pil(item: Any) -> Any:
    Image = _pil().Image

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    arr = item.detach().cpu().numpy() if hasattr(item, "detach") else np.asarray(item)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.transpose(arr, (1, 2, 0))  # CHW -> HWC
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise InputError(f"an image array must be [H, W], [H, W, C] or [C, H, W], got shape {arr.shape}")
    if arr.dtype != np.uint8:
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scale = 255.0 if hi <= 1.0 and lo >= 0.0 else 255.0 / max(hi - lo, 1e-12)
        arr = ((arr - (0.0 if hi <= 1.0 and lo >= 0.0 else lo)) * scale).clip(0, 255).astype(np.uint8)
    return Image.fromarray(arr).convert("RGB")


def _list_folder(folder: Path) -> tuple[list[Path], list[str] | None, int]:
    entries = sorted(folder.iterdir())
    subdirs = [e for e in entries if e.is_dir() and not e.name.startswith(".")]
    if subdirs:
        paths, labels = [], []
        for d in subdirs:
            for p in sorted(d.rglob("*")):
                if p.is_file():
                    paths.append(p)
                    labels.append(d.name)
        skipped = sum(1 for e in entries if e.is_file())  # loose files beside class folders
        return paths, labels, skipped
    return [e for e in entries if e.is_file()], None, 0


def load_task_images(source: Any, *, n: int = 100, seed: int = 0) -> TaskImages:
    """Read and sample a task's images from a folder, paths, an array/tensor or a Dataset."""
    UnidentifiedImageError = _pil().UnidentifiedImageError

    if n < 1:
        raise InputError(f"number of images per task must be at least 1, got {n}")
    if isinstance(source, str | os.PathLike):
        folder = Path(source)
        if not folder.is_dir():
            raise InputError(f"{folder}: not a folder of images (give a folder, one subfolder per class or flat)")
        paths, labels, skipped = _list_folder(folder)
        name = str(folder)
    elif isinstance(source, list | tuple) and all(isinstance(p, str | os.PathLike) for p in source):
        paths, labels, skipped, name = [Path(p) for p in source], None, 0, f"{len(source)} paths"
    else:
        return _from_items(source, n=n, seed=seed)
    non_images = [i for i, p in enumerate(paths) if p.suffix.lower() not in IMAGE_SUFFIXES]
    keep = [i for i in range(len(paths)) if i not in set(non_images)]
    skipped += len(non_images)
    paths = [paths[i] for i in keep]
    labels = [labels[i] for i in keep] if labels is not None else None
    images, got_labels = [], []
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i in range(len(paths)):
        groups.setdefault(labels[i] if labels is not None else "", []).append(i)
    queues = [list(rng.permutation(idx)) for _, idx in sorted(groups.items())]
    while len(images) < n and any(queues):
        for q in queues:  # classes take turns; an unreadable file is replaced from its own class
            while q and len(images) < n:
                i = int(q.pop())
                try:
                    images.append(read_rgb(paths[i]))  # bounded: fennec_core.images.MAX_IMAGE_PIXELS
                except InputError:  # too large: say so, do not skip it silently
                    raise
                except (OSError, UnidentifiedImageError, ValueError, EOFError):
                    skipped += 1
                    continue
                if labels is not None:
                    got_labels.append(labels[i])
                break
    if not images:
        unreadable = f"; {skipped} file(s) were not readable images" if skipped else ""
        raise InputError(f"{name}: no readable images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
                         f"{unreadable}")
    if skipped:
        warnings.warn(f"{name}: skipped {skipped} file(s) that are not readable images", stacklevel=2)
    return TaskImages(images, got_labels if labels is not None else None, skipped, name)


def _from_items(source: Any, *, n: int, seed: int) -> TaskImages:
    """Arrays, tensors and torch Datasets."""
    if hasattr(source, "__len__") and hasattr(source, "__getitem__") and not isinstance(source, np.ndarray) \
            and not hasattr(source, "detach"):
        total = len(source)
        if total == 0:
            raise InputError("the dataset is empty")
        first = source[0]
        has_labels = isinstance(first, tuple | list) and len(first) >= 2
        labels = [str(source[i][1]) for i in range(total)] if has_labels and total <= 100_000 else None
        idx = _balanced_sample(labels, total, n, seed)
        items = [source[int(i)] for i in idx]
        images = [_to_pil(it[0] if has_labels else it) for it in items]
        labs = [str(it[1]) for it in items] if has_labels else None
        return TaskImages(images, labs, 0, type(source).__name__)
    arr = source.detach().cpu().numpy() if hasattr(source, "detach") else np.asarray(source)
    if arr.ndim not in (3, 4) or len(arr) == 0:
        raise InputError(f"an image batch must be a non-empty [n, H, W(, C)] or [n, C, H, W] array, got {arr.shape}")
    idx = _balanced_sample(None, len(arr), n, seed)
    return TaskImages([_to_pil(arr[i]) for i in idx], None, 0, f"array {tuple(arr.shape)}")
