"""Where a zoo store may be written, and what inside a store folder is Fennec's.

A write never deletes or alters what Fennec did not write: :func:`check_store_target` refuses,
before any lock or folder is created, a path with no folder name, a symbolic link, a folder
inside another Zarr store, a file, a folder that is not a Fennec store, and a store holding
files its manifest does not account for (:func:`_foreign_entries`: a user's own file in a
subgroup, a user's own Zarr array).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fennec_core.errors import StoreError, one_line

FORMAT = "fennec-zoo"


def _is_url(path: str | os.PathLike[str]) -> bool:
    return "://" in str(path)


def local_path(path: str | os.PathLike[str]) -> Path | None:
    """The local folder of ``path`` (a plain path or a ``file://`` URL), or None for a remote URL."""
    text = str(path)
    if text.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(text).path))
    return None if _is_url(text) else Path(path)


def _foreign_entries(p: Path, manifest: dict[str, Any]) -> list[str]:
    """Files and folders inside store ``p`` that its manifest does not account for (relative
    paths): the root and group ``zarr.json`` files on the way to each listed array, the array's
    ``zarr.json`` and its chunks under ``<array>/c/``. A user's own file or Zarr array put inside
    the store is foreign, so a write never deletes it."""
    arrays = manifest.get("arrays")
    names = [n for n in arrays if isinstance(n, str)] if isinstance(arrays, dict) else []
    groups, owned = {""}, set()
    for name in names:
        parts = name.split("/")
        groups.update("/".join(parts[:i]) for i in range(1, len(parts)))
        owned.add(name)
    foreign: list[str] = []
    for folder, dirs, files in os.walk(p):
        rel = Path(os.path.relpath(folder, p)).as_posix()
        rel = "" if rel == "." else rel
        if rel in owned:
            foreign += [f"{rel}/{f}" for f in files if f != "zarr.json"]
            foreign += [f"{rel}/{d}" for d in dirs if d != "c"]
            dirs[:] = [d for d in dirs if d == "c"]
            continue
        if any(rel == f"{a}/c" or rel.startswith(f"{a}/c/") for a in owned):  # chunk keys: numbers only
            foreign += [f"{rel}/{e}" for e in (*dirs, *files) if not e.isdigit()]
            dirs[:] = [d for d in dirs if d.isdigit()]
            continue
        foreign += [f"{rel}/{f}".lstrip("/") for f in files if f != "zarr.json"]
        keep = [d for d in dirs if f"{rel}/{d}".lstrip("/") in groups | owned]
        foreign += [f"{rel}/{d}".lstrip("/") for d in dirs if d not in keep]
        dirs[:] = keep
    return sorted(foreign)


def _manifest_of(p: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((p / "zarr.json").read_text())
    except (OSError, ValueError):
        return None
    man = doc.get("attributes", {}).get("fennec") if isinstance(doc, dict) else None
    return man if isinstance(man, dict) else None


def check_store_target(path: str | os.PathLike[str]) -> None:
    """Refuse, before anything is created (no lock, no folder), a local path a zoo may not be
    written to: no folder name (``.``, ``/``, an empty ``file://``), a symbolic link, a folder
    inside another Zarr store (``zoo.zarr/sub.zarr``, ``zoo.zarr/factors``), a file, a folder
    that is not a Fennec store, or a store holding files it does not account for."""
    text = str(path)
    if text.startswith("file://") and not text[len("file://"):].strip("/"):
        raise StoreError(f"{text}: names no folder; give the path of the store to write, e.g. file:///data/zoo.zarr")
    local = local_path(path)
    if local is None:
        _check_remote_target(text)
        return
    dest = Path(os.path.abspath(local))
    if not text.strip() or dest == dest.parent or local.name in ("", ".", "..") or os.path.basename(text) in ("", ".", ".."):
        raise StoreError(f"{text}: not a folder name a store can be written to; give a new folder, e.g. zoo.zarr")
    if dest.is_symlink():
        raise StoreError(f"{text} is a symbolic link; give the real path of the store (a write replaces the "
                         "folder, and Fennec does not write through links)")
    for parent in dest.parents:
        if (parent / "zarr.json").is_file():
            raise StoreError(f"{text} is inside the Zarr store {parent}; writing there would change that store: "
                             "choose a path outside it")
    _check_target(dest)


def _check_remote_target(url: str) -> None:
    """A URL a store can be written to: a known, writable fsspec protocol whose package is installed."""
    import fsspec

    from fennec_core.errors import MissingDependencyError

    scheme = url.split("://", 1)[0].lower()
    if scheme in ("http", "https"):
        raise StoreError(f"{url}: http(s) URLs can be read but not written; write the store to a local path or an "
                         "object store URL (s3://, gs://, memory://)")
    try:
        fsspec.core.url_to_fs(url)
    except ImportError as exc:
        raise MissingDependencyError(f"{url}: writing to {scheme}:// needs a package that is not installed "
                                     f"({one_line(exc, 200)}); install it, or write to a local path") from None
    except Exception as exc:
        raise StoreError(f"{url}: not a location a store can be written to ({type(exc).__name__}: "
                         f"{one_line(exc, 200)}); give a local path or a URL such as s3://bucket/zoo.zarr") from None


def _check_target(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise StoreError(f"{dest} exists and is a file, not a zoo store; choose another path")
    if dest.is_dir() and any(dest.iterdir()):
        manifest = _manifest_of(dest)
        if manifest is None or manifest.get("format") != FORMAT:
            raise StoreError(f"{dest} exists and is not a Fennec zoo store; refusing to overwrite it")
        foreign = _foreign_entries(dest, manifest)
        if foreign:
            raise StoreError(f"{dest} holds files that are not part of the zoo ({', '.join(foreign[:3])}); "
                             "move them out first, or write the zoo elsewhere")


def _is_our_store(p: Path) -> bool:
    """Whether ``p`` is a real folder holding a Fennec store and nothing else (safe to delete)."""
    if p.is_symlink() or not p.is_dir():
        return False
    manifest = _manifest_of(p)
    return manifest is not None and manifest.get("format") == FORMAT and not _foreign_entries(p, manifest)


