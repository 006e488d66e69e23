"""How large a zoo store may be, checked before a byte of it is decompressed.

Three bounds: each array's declared bytes against its files on disk (compression has limits),
each chunk file against one chunk's bytes (a zstd frame states its decompressed size in its
header, which is read before zarr decodes it), and the total against what a zoo with the
manifest's models and tasks can need (:func:`shape_budget`). Only the data types and codecs
Fennec writes are accepted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from fennec_core.errors import StoreError

#: Largest total of declared array bytes (``FENNEC_MAX_STORE_BYTES``), whatever the zoo's shape.
MAX_ARRAY_BYTES = 16 << 30
#: A declared array may be at most this many times larger than its files on disk (compression).
MAX_EXPANSION = 5000


def check_sizes(path: str | os.PathLike[str], root: Any, digests: dict[str, str], shapes: Any,
                 sizes: dict[str, int] | None, manifest: dict[str, Any], local_root: Path | None) -> dict[str, int]:
    """Declared bytes of every array, refused when absurd: before anything is decompressed.
    ``sizes``: the local store's file sizes by relative path (None for a remote store), whose
    chunks are checked one by one (:func:`_check_chunks`); the total is bounded by what the
    zoo's shape implies (:func:`shape_budget`)."""
    total, out = 0, {}
    for name in digests:
        if sizes is not None and f"{name}/zarr.json" in sizes:
            _check_chunks(path, local_root, name, sizes)  # before zarr decodes a byte of it
        try:
            arr = root[name]
            nbytes = int(np.prod(arr.shape, dtype=np.int64)) * np.dtype(arr.dtype).itemsize
        except Exception:
            continue  # reported as missing or unreadable when read
        if isinstance(shapes, dict) and name in shapes and list(arr.shape) != list(shapes[name].get("shape", [])):
            raise StoreError(f"{path}: array {name!r} has shape {list(arr.shape)} but the manifest says "
                             f"{shapes[name].get('shape')}; the store is corrupt: refit with `fennec fit`")
        if sizes is not None:
            disk = sum(size for rel, size in sizes.items() if rel.startswith(f"{name}/"))
            if nbytes > max(64 << 20, MAX_EXPANSION * disk):
                raise StoreError(f"{path}: array {name!r} declares {nbytes:,} bytes but its files hold {disk:,}; "
                                 "not a store Fennec wrote: refit with `fennec fit`")
        total += nbytes
        out[name] = nbytes
    if total > int(os.environ.get("FENNEC_MAX_STORE_BYTES", MAX_ARRAY_BYTES)):
        raise StoreError(f"{path}: its arrays declare {total:,} bytes, more than the limit "
                         f"(FENNEC_MAX_STORE_BYTES={int(os.environ.get('FENNEC_MAX_STORE_BYTES', MAX_ARRAY_BYTES)):,})")
    implied = shape_budget(manifest)
    if total > implied:
        raise StoreError(f"{path}: its arrays declare {total:,} bytes, more than a zoo of its shape needs "
                         f"({implied:,} bytes for its models and tasks); not a store Fennec wrote: refit with "
                         "`fennec fit`")
    return out


#: What a zoo's arrays may hold at most: a fixed part (components such as a trained ranker), a part
#: per model (factors, features, architecture graphs), per task (proxy embeddings) and per cell.
BUDGET_BASE, BUDGET_MODEL, BUDGET_TASK, BUDGET_CELL = 64 << 20, 1 << 20, 4 << 20, 24


def shape_budget(manifest: dict[str, Any]) -> int:
    """The most bytes the arrays of a zoo with the manifest's models and tasks can need (the
    bundled zoos use under a tenth of it): a small store cannot declare gigabytes of arrays."""
    def count(key: str) -> int:
        value = manifest.get(key)
        return len(value) if isinstance(value, list) else 0

    m, n = count("model_ids"), max(count("task_ids"), count("tasks"))
    return BUDGET_BASE + BUDGET_MODEL * m + BUDGET_TASK * n + BUDGET_CELL * m * n


#: The array data types and codecs Fennec writes; anything else is not a Fennec store.
_DATA_TYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
               "float32", "float64"}
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _check_chunks(path: str | os.PathLike[str], p: Path, name: str, sizes: dict[str, int]) -> None:
    """Refuse an array whose chunks could decompress to more than its metadata declares: only the
    data types and codecs Fennec writes (``bytes``, then optionally ``zstd``), and every chunk file
    checked before it is decoded: a zstd frame must state its decompressed size, at most one chunk's
    bytes; an uncompressed chunk may not be larger than one chunk."""
    def bad(why: str) -> StoreError:
        return StoreError(f"{path}: array {name!r} {why}; not a store Fennec wrote: refit with `fennec fit`")

    if sizes[f"{name}/zarr.json"] > 1 << 20:
        raise bad("has metadata over 1 MiB")
    try:
        meta = json.loads((p / name / "zarr.json").read_text())
        shape, chunk = meta["shape"], meta["chunk_grid"]["configuration"]["chunk_shape"]
        codecs = [c["name"] for c in meta["codecs"]]
        dtype = meta["data_type"]
        ok = (isinstance(shape, list) and isinstance(chunk, list) and len(shape) == len(chunk)
              and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in shape)
              and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in chunk))
    except (OSError, ValueError, KeyError, TypeError):
        raise bad("has unreadable metadata") from None
    if not ok:
        raise bad("has a malformed shape or chunk shape")
    if dtype not in _DATA_TYPES:
        raise bad(f"has data type {dtype!r} (numbers only)")
    if codecs not in (["bytes"], ["bytes", "zstd"]):
        raise bad(f"uses codecs {codecs} (Fennec writes bytes and zstd only)")
    chunk_bytes = int(np.prod(chunk, dtype=np.int64)) * np.dtype(dtype).itemsize
    n_chunks = int(np.prod([-(-s // c) for s, c in zip(shape, chunk, strict=True)], dtype=np.int64))
    files = [rel for rel in sizes if rel.startswith(f"{name}/c/")]
    if len(files) > n_chunks:
        raise bad(f"has {len(files)} chunk files for {n_chunks} chunks")
    for rel in files:
        if codecs == ["bytes"]:
            if sizes[rel] > chunk_bytes:
                raise bad(f"has a chunk of {sizes[rel]:,} bytes where a chunk holds {chunk_bytes:,}")
            continue
        with open(p / rel, "rb") as fh:
            content = _zstd_content_size(fh.read(18))
        if content is None or content > chunk_bytes:
            raise bad("has a compressed chunk that would inflate to "
                      + ("an unstated size" if content is None else f"{content:,} bytes")
                      + f" where a chunk holds {chunk_bytes:,}")


def _zstd_content_size(head: bytes) -> int | None:
    """The decompressed size a zstd frame header states (RFC 8878, 3.1.1.1), or None when absent."""
    if len(head) < 6 or head[:4] != _ZSTD_MAGIC:
        return None
    descriptor = head[4]
    fcs_flag, single, dict_flag = descriptor >> 6, (descriptor >> 5) & 1, descriptor & 3
    size = (1 if single else 0) if fcs_flag == 0 else (1, 2, 4, 8)[fcs_flag]
    if size == 0:
        return None
    start = 5 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag]
    field = head[start:start + size]
    if len(field) < size:
        return None
    value = int.from_bytes(field, "little")
    return value + 256 if size == 2 else value
