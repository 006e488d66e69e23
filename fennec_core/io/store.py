"""The Zarr store of a fitted zoo: arrays and JSON only, schema-versioned, checksummed.

Layout (Zarr v3 group; see docs/store.md): the root group's attribute ``fennec`` holds the
JSON manifest (schema version, package version, format marker, ids, component names and
configs, and a SHA-256 of every array); arrays live at paths such as ``history/scores``,
``factors/U``. Loading reads arrays and JSON and never runs code: nothing is unpickled.

Writes are atomic for local paths: the store is written to a sibling temporary folder and
swapped in with renames, so a crash mid-write leaves the previous store readable (a crash
inside the swap itself leaves it at ``<path>.fennec-previous``, which :func:`read_store`
finds and uses). Paths may also be fsspec URLs (``memory://``, ``s3://`` ...); there the
manifest is written last, so a half-written store is refused rather than misread.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from fennec_core.errors import StoreError

FORMAT = "fennec-zoo"
SCHEMA_VERSION = 1
PREVIOUS_SUFFIX = ".fennec-previous"


def _is_url(path: str | os.PathLike[str]) -> bool:
    return "://" in str(path)


def array_digest(a: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and C-order bytes."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}|{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def _write_group(target: str, arrays: dict[str, np.ndarray], manifest: dict[str, Any]) -> None:
    import zarr

    root = zarr.open_group(target, mode="w")
    digests = {}
    for name, arr in sorted(arrays.items()):
        arr = np.ascontiguousarray(arr)
        if arr.dtype == object:
            raise StoreError(f"array {name!r} has dtype object; stores hold numeric arrays only")
        root.create_array(name=name, data=arr, overwrite=True)
        digests[name] = array_digest(arr)
    manifest = dict(manifest, format=FORMAT, schema_version=SCHEMA_VERSION, arrays=digests)
    json.dumps(manifest)  # fail before writing the marker if anything is not JSON
    root.attrs["fennec"] = manifest  # the manifest is the commit marker: written last


def write_store(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], manifest: dict[str, Any]) -> None:
    """Write ``arrays`` and the JSON ``manifest`` as a zoo store at ``path`` (atomically when local)."""
    if _is_url(path):
        _write_group(str(path), arrays, manifest)
        return
    dest = Path(path)
    if dest.exists() and not dest.is_dir():
        raise StoreError(f"{dest} exists and is a file, not a zoo store; choose another path")
    if dest.exists() and not _looks_like_store(dest):
        raise StoreError(f"{dest} exists and is not a Fennec zoo store; refusing to overwrite it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        _write_group(str(tmp), arrays, manifest)
        if dest.exists():
            previous = dest.with_name(dest.name + PREVIOUS_SUFFIX)
            if previous.exists():
                shutil.rmtree(previous)
            os.replace(dest, previous)
            os.replace(tmp, dest)
            shutil.rmtree(previous)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _looks_like_store(p: Path) -> bool:
    meta = p / "zarr.json"
    if not meta.is_file():
        return not any(p.iterdir())  # an empty folder may be written into
    try:
        doc = json.loads(meta.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc.get("attributes", {}).get("fennec"), dict)


def read_store(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and verify a zoo store: returns (arrays, manifest).

    Refuses, with a message saying what to do, a missing path, a foreign Zarr store, a store
    of a newer schema, and a truncated or corrupt one (a missing array or a checksum mismatch).
    """
    import zarr

    target = str(path)
    if not _is_url(path):
        p = Path(path)
        if not p.exists() and Path(str(p) + PREVIOUS_SUFFIX).exists():
            p = Path(str(p) + PREVIOUS_SUFFIX)  # a crash happened inside the swap
        if not p.exists():
            raise StoreError(f"{path}: no zoo store here; create one with `fennec fit --history H.csv --out {path}`")
        if not p.is_dir() or not (p / "zarr.json").is_file():
            raise StoreError(f"{path}: not a Zarr store (no zarr.json); give the folder `fennec fit --out` wrote")
        target = str(p)
    try:
        root = zarr.open_group(target, mode="r")
        manifest = root.attrs.get("fennec")
    except Exception as exc:
        raise StoreError(f"{path}: cannot be opened as a Zarr group ({type(exc).__name__}: {exc}); "
                         "it is corrupt or not a Fennec store: refit with `fennec fit`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StoreError(f"{path}: a Zarr store but not a Fennec zoo (no 'fennec' manifest); "
                         "give a store written by `fennec fit` or Fennec.save")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise StoreError(f"{path}: written with store schema {version!r} by fennec "
                         f"{manifest.get('package_version', '?')}; this fennec reads schema <= {SCHEMA_VERSION}: "
                         "upgrade fennec")
    arrays: dict[str, np.ndarray] = {}
    for name, digest in manifest.get("arrays", {}).items():
        try:
            arr = np.asarray(root[name][...])
        except Exception as exc:
            raise StoreError(f"{path}: array {name!r} is missing or unreadable ({type(exc).__name__}); "
                             "the store is truncated or corrupt: refit with `fennec fit`") from None
        if array_digest(arr) != digest:
            raise StoreError(f"{path}: array {name!r} fails its checksum; the store is corrupt: "
                             "refit with `fennec fit`")
        arrays[name] = arr
    return arrays, manifest
