"""Proxy embeddings of tasks: packed for a store, read from a file, cached by content hash.

A zoo keeps, per historical task, the proxy embeddings of that task's sampled items (so the
mapping to task vectors can be learned again after a refit or an update). They come from
``fennec fit --task-images DIR`` (embedded here) or ``--task-embeddings FILE`` (embedded
elsewhere, so private images never have to move): an ``.npz`` file with one ``[n_items, d]``
array per task id, read with ``allow_pickle=False``.

Embedding images is the expensive step, so results are cached on disk
(``$FENNEC_CACHE_DIR/embeddings``) under a hash of the proxy (name and configuration) and of
the sampled images' pixels: refitting a zoo on the same folders embeds nothing again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fennec_core.errors import InputError, StoreError


def clean_task_embeddings(embeddings: Mapping[str, np.ndarray], proxy: Mapping[str, Any] | None,
                          ) -> tuple[dict[str, np.ndarray], dict[str, Any] | None]:
    """(validated float32 embeddings per task, the proxy spec) for a zoo.

    Every task's embeddings must be a finite, non-empty ``[n_items, d]`` array of one width;
    embeddings without a proxy spec are recorded as ``{"name": "external"}``.
    """
    clean: dict[str, np.ndarray] = {}
    for t, e in embeddings.items():
        arr = np.atleast_2d(np.asarray(e, dtype=np.float32))
        if arr.ndim != 2 or len(arr) == 0 or not np.isfinite(arr).all():
            raise InputError(f"task embeddings of {t!r} must be a finite, non-empty [n_items, d] array, "
                             f"got shape {arr.shape}")
        clean[str(t)] = arr
    if len({a.shape[1] for a in clean.values()}) > 1:
        raise InputError("task embeddings differ in width; embed every task with the same proxy")
    return clean, dict(proxy) if proxy else ({"name": "external", "config": {}} if clean else None)


def pack_embeddings(embeddings: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, Any]]:
    """All tasks' embeddings as one float32 array plus a JSON part (task ids, counts, SHA-256s)."""
    tasks = list(embeddings)
    arrays = [np.asarray(embeddings[t], dtype=np.float32) for t in tasks]
    return np.concatenate(arrays), {
        "task_ids": tasks,
        "counts": [len(a) for a in arrays],
        "sha256": [hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() for a in arrays],
    }


def unpack_embeddings(packed: np.ndarray, meta: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_embeddings`; a damaged block is an error naming its task."""
    try:
        offsets = np.concatenate([[0], np.cumsum(meta["counts"])]).astype(int)
        if offsets[-1] != len(packed):
            raise ValueError(f"counts sum to {offsets[-1]} rows, the array has {len(packed)}")
        out = {}
        for i, t in enumerate(meta["task_ids"]):
            block = np.asarray(packed[offsets[i]:offsets[i + 1]], dtype=np.float32)
            if hashlib.sha256(np.ascontiguousarray(block).tobytes()).hexdigest() != meta["sha256"][i]:
                raise ValueError(f"embeddings of task {t!r} do not match their checksum")
            out[str(t)] = block
        return out
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise StoreError(f"stored task embeddings are damaged ({exc}); refit the zoo") from None


def read_embeddings_file(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Task embeddings computed elsewhere: an ``.npz`` with one [n_items, d] array per task id."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            out = {k: np.asarray(data[k], dtype=np.float32) for k in data.files}
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except ValueError as exc:
        raise InputError(f"{p}: not a plain .npz of numeric arrays ({exc}); save it with "
                         "numpy.savez(path, **{task_id: embeddings})") from None
    except OSError as exc:
        raise InputError(f"{p}: not an .npz file ({exc}); save it with numpy.savez(path, **{{task_id: array}})") \
            from None
    if not out:
        raise InputError(f"{p}: holds no arrays; expected one [n_items, d] array per task id")
    bad = [k for k, v in out.items() if v.ndim != 2 or len(v) == 0 or not np.isfinite(v).all()]
    if bad:
        raise InputError(f"{p}: task {bad[0]!r} is not a finite, non-empty [n_items, d] array")
    return out


def images_hash(images: Any, proxy_spec: Mapping[str, Any]) -> str:
    """Content hash of sampled images (their pixels, in order) under one proxy configuration."""
    h = hashlib.sha256(json.dumps(proxy_spec, sort_keys=True, default=str).encode())
    for im in images:
        h.update(f"{im.size}{im.mode}".encode())
        h.update(im.tobytes())
    return h.hexdigest()


class EmbeddingCache:
    """Embeddings on disk (``.npy``, loaded without pickle), keyed by :func:`images_hash`."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        from fennec_core.architecture.graph_io import default_cache_dir

        self.directory = Path(directory) if directory is not None else default_cache_dir() / "embeddings"
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> np.ndarray | None:
        """Cached embeddings of ``key``, or None (a damaged file counts as a miss)."""
        try:
            arr = np.load(self.directory / f"{key}.npy", allow_pickle=False)
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return arr

    def put(self, key: str, embeddings: np.ndarray) -> None:
        """Store embeddings atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f"{key}.tmp{os.getpid()}.npy"
        np.save(tmp, np.asarray(embeddings, dtype=np.float32), allow_pickle=False)
        os.replace(tmp, self.directory / f"{key}.npy")
