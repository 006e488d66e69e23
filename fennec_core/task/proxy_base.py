"""What every image task proxy shares: reading inputs, batching on the chosen device, half
precision on CUDA, a progress bar, the embedding cache, and resolving weights offline.

Weights are never downloaded by these code paths: a ``pretrained`` value is a local file, a
local folder, or a tag looked up in the local Hugging Face cache only
(``huggingface_hub.try_to_load_from_cache``); anything missing is a
:class:`~fennec_core.errors.MissingDependencyError` that says how to provide it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fennec_core.errors import MissingDependencyError

WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "model.safetensors",
                "pytorch_model.bin")


def weights_in_folder(folder: Path, names: Sequence[str] = WEIGHT_FILES) -> Path | None:
    """The first weights file of ``names`` in ``folder``, else its only ``.safetensors``/``.pt``/``.bin``."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".pt", ".pth", ".bin"))
    return found[0] if len(found) == 1 else None


def cached_hub_file(repo_id: str, filenames: Sequence[str]) -> Path | None:
    """A file of ``repo_id`` already in the local Hugging Face cache (never downloads)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for name in filenames:
        hit = try_to_load_from_cache(repo_id, name)
        if isinstance(hit, str):
            return Path(hit)
    return None


def resolve_weights(pretrained: str | None, *, what: str, hub_repo: str | None, hint: str) -> Path | None:
    """A local weights path for ``pretrained`` (file, folder, or a tag found in the HF cache).

    ``None``/``"none"``/``"random"`` mean random weights (returns None; for benchmarks and
    tests, never a silent fallback). ``hint`` is appended to the error: how to get weights.
    """
    if pretrained is None or str(pretrained).lower() in ("none", "random"):
        return None
    path = Path(str(pretrained)).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        found = weights_in_folder(path)
        if found is None:
            raise MissingDependencyError(f"{what}: no weights file in {path} (looked for {', '.join(WEIGHT_FILES)} "
                                         "or a single .safetensors/.pt/.bin)")
        return found
    if any(sep in str(pretrained) for sep in ("/", "\\")) or str(pretrained).endswith((".pt", ".bin", ".safetensors")):
        raise MissingDependencyError(f"{what}: weights file {pretrained} does not exist. {hint}")
    if hub_repo:
        hit = cached_hub_file(hub_repo, WEIGHT_FILES)
        if hit is not None:
            return hit
    raise MissingDependencyError(f"{what}: weights {pretrained!r} are not in the local Hugging Face cache"
                                 f"{f' (repo {hub_repo})' if hub_repo else ''} and are never downloaded at run time. "
                                 f"{hint}")


def embed_images(encode: Callable[[Any], Any], preprocess: Callable[[Any], Any], images: Sequence[Any], *,
                 device: str, batch_size: int = 32, half: bool = False, progress: bool = False,
                 desc: str = "embedding") -> np.ndarray:
    """Run ``encode`` over preprocessed ``images`` in batches: L2-normalised float32 [n, d]."""
    import torch
    from tqdm.auto import tqdm

    out = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(images), batch_size), desc=desc, disable=not progress, leave=False):
            batch = torch.stack([preprocess(im) for im in images[start:start + batch_size]]).to(device)
            if half:
                batch = batch.half()
            feats = encode(batch).float()
            out.append(torch.nn.functional.normalize(feats, dim=-1).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


class ImageProxyBase:
    """Shared ``embed``: inputs -> sampled images -> (cache) -> embeddings. Subclasses load the model."""

    name = "image-proxy"

    def __init__(self, *, device: str = "auto", batch_size: int = 32, half: str | bool = "auto",
                 images_per_task: int = 100, seed: int = 0, progress: bool = False, cache: bool = True) -> None:
        from fennec_core.device import resolve_device

        self.device = str(resolve_device(device))
        self.batch_size, self.images_per_task, self.seed = int(batch_size), int(images_per_task), int(seed)
        self.half = self.device.startswith("cuda") if half == "auto" else bool(half)
        self.progress, self.cache = bool(progress), bool(cache)
        self._loaded: tuple[Any, Any] | None = None

    def spec(self) -> dict[str, Any]:
        """Name and configuration: what the zoo records, and what the cache key hashes."""
        raise NotImplementedError

    def _load(self) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
        raise NotImplementedError

    def embed(self, inputs: Any) -> np.ndarray:
        """Per-image embeddings [n, d] of a task's images (a folder, paths, an array, a Dataset)."""
        from fennec_core.task.embeddings import EmbeddingCache, images_hash
        from fennec_core.task.inputs import TaskImages, load_task_images

        task = inputs if isinstance(inputs, TaskImages) else load_task_images(inputs, n=self.images_per_task,
                                                                              seed=self.seed)
        cache = EmbeddingCache() if self.cache else None
        key = images_hash(task.images, self.spec()) if cache is not None else ""
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                return hit
        if self._loaded is None:
            self._loaded = self._load()
        encode, preprocess = self._loaded
        emb = embed_images(encode, preprocess, task.images, device=self.device, batch_size=self.batch_size,
                           half=self.half, progress=self.progress, desc=self.name)
        if cache is not None:
            cache.put(key, emb)
        return emb
