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

import contextlib
import glob
import hashlib
import json
import os
import re
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fennec_core.errors import FennecError, StoreError, one_line
from fennec_core.io.store_limits import check_sizes
from fennec_core.io.store_paths import (  # noqa: F401 -- FORMAT, local_path and check_store_target are public here too
    FORMAT,
    _check_target,
    _is_our_store,
    _is_url,
    _manifest_of,
    check_store_target,
    local_path,
)

SCHEMA_VERSION = 2
PREVIOUS_SUFFIX = ".fennec-previous"
#: While this file exists beside a store, a swap is under way (a crash inside it leaves it).
SWAP_SUFFIX = ".fennec-swap"
LOCK_SUFFIX = ".fennec-lock"
#: Seconds a writer waits for another writer of the same store (``FENNEC_LOCK_TIMEOUT``).
LOCK_TIMEOUT = 120.0
#: Largest manifest (zarr.json) read.
MAX_MANIFEST_BYTES = 64 << 20
#: Readers retry this often when a writer swapped the store under them.
READ_ATTEMPTS = 10


_tls = threading.local()


@contextlib.contextmanager
def store_lock(path: str | os.PathLike[str], *, timeout: float | None = None) -> Iterator[None]:
    """Hold the exclusive writer lock of the store at ``path`` (re-entrant in one thread).

    An ``flock`` on ``<path>.fennec-lock`` (created beside the store and left there; the kernel
    releases it when its holder dies, even by kill -9), holding the writer's pid. A second writer
    waits up to ``timeout`` seconds, then fails naming that pid. Hold it around a whole
    load-change-save (``fennec update``) so concurrent updates are serialised, none lost.
    Remote (non-``file://``) URLs have no lock.
    """
    import fcntl

    local = local_path(path)
    if local is None:
        yield
        return
    key = str(local.absolute())
    held = getattr(_tls, "held", None)
    if held is None:
        held = _tls.held = set()
    if key in held:
        yield
        return
    lockfile = local.with_name(local.name + LOCK_SUFFIX)
    fd = _open_lock(path, local, lockfile)
    wait = float(os.environ.get("FENNEC_LOCK_TIMEOUT", LOCK_TIMEOUT)) if timeout is None else timeout
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise StoreError(f"{path}: the zoo is being updated by pid {owner}; waited {wait:g} s. Wait for "
                                     "it to finish (or set FENNEC_LOCK_TIMEOUT) and run again") from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock(path: str | os.PathLike[str], local: Path, lockfile: Path) -> int:
    """The writer lock's file descriptor: never through a symbolic link (O_NOFOLLOW), never a FIFO,
    a device or a folder someone put there (refused, nothing written)."""
    try:
        local.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lockfile, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if os.path.islink(lockfile) or lockfile.is_dir():
            raise StoreError(f"{path}: {lockfile.name} beside it is a symbolic link or a folder, not Fennec's lock "
                             "file; remove it (it is not Fennec's) or write the zoo elsewhere") from None
        raise StoreError(f"{path}: cannot write here ({exc.strerror or exc}); choose a writable folder") from None
    info = os.fstat(fd)
    why = ("is not a regular file (a FIFO or a device)" if not stat.S_ISREG(info.st_mode)
           else "is a hard link to another file" if info.st_nlink > 1
           else "holds something else than a writer's pid" if not re.fullmatch(rb"(\d+\n?)?", os.pread(fd, 64, 0))
           else None)
    if why:
        os.close(fd)
        raise StoreError(f"{path}: {lockfile.name} beside it {why}, so it is not Fennec's lock file; move it away "
                         "or write the zoo elsewhere")
    return fd


def array_digest(a: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and C-order bytes."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}|{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def _write_group(target: str, arrays: dict[str, np.ndarray], manifest: dict[str, Any], *, generation: str,
                 fresh: bool) -> None:
    """Write arrays, then the manifest (the commit marker) into the group at ``target``.

    ``fresh``: ``target`` is a new temporary folder of ours (mode ``w``); otherwise (a remote
    URL) the group is opened for appending, first marked incomplete, and only arrays of its
    previous manifest that the new one drops are removed -- nothing else is deleted.
    """
    import zarr

    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise StoreError(f"array {name!r} has dtype object; stores hold numeric arrays only")
    full = dict(manifest, format=FORMAT, schema_version=SCHEMA_VERSION, generation=generation)
    json.dumps(full)  # fail before writing anything if the manifest is not JSON
    root = zarr.open_group(target, mode="w" if fresh else "a")
    old = {} if fresh else dict((root.attrs.get("fennec") or {}).get("arrays") or {})
    if not fresh:
        root.attrs["fennec"] = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "incomplete": True,
                                "generation": generation}
    digests, shapes = {}, {}
    for name, arr in sorted(arrays.items()):
        arr = np.ascontiguousarray(arr)
        root.create_array(name=name, data=arr, overwrite=True)
        digests[name] = array_digest(arr)
        shapes[name] = {"shape": list(arr.shape), "dtype": arr.dtype.str}
    for name in sorted(set(old) - set(arrays)):
        with contextlib.suppress(KeyError, FileNotFoundError):
            del root[name]
    from fennec_core.io.manifest import manifest_digest

    doc = json.loads(json.dumps(dict(full, arrays=digests, shapes=shapes)))  # as it will be read back
    root.attrs["fennec"] = dict(doc, manifest_digest=manifest_digest(doc))  # the commit marker: written last


def _recover(dest: Path) -> None:
    """Under the writer lock: finish or undo a swap a killed writer left, drop its temp folders."""
    previous, marker = dest.with_name(dest.name + PREVIOUS_SUFFIX), dest.with_name(dest.name + SWAP_SUFFIX)
    ours = marker.is_file() and not marker.is_symlink()
    if ours:
        if not dest.exists() and _is_our_store(previous):
            os.replace(previous, dest)  # killed between the two renames: the old store comes back
        marker.unlink()
    if dest.exists() and _is_our_store(previous):
        shutil.rmtree(previous)  # killed after the swap: the new store is complete
    pattern = re.compile(rf"\.{re.escape(dest.name)}\.tmp-[0-9a-f]{{8}}")
    for tmp in dest.parent.glob(f".{glob.escape(dest.name)}.tmp-*"):
        if pattern.fullmatch(tmp.name) and tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)  # only writers of this store make these, and none runs


def current_generation(path: str | os.PathLike[str]) -> str | None:
    """The generation (a token changed by every write) of the store at ``path``, or None."""
    local = local_path(path)
    if local is not None:
        man = _manifest_of(local) if local.is_dir() else None
        return None if man is None else man.get("generation")
    import zarr

    try:
        return (zarr.open_group(str(path), mode="r").attrs.get("fennec") or {}).get("generation")
    except Exception:
        return None


def write_store(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], manifest: dict[str, Any], *,
                expect_generation: str | None = None) -> str:
    """Write ``arrays`` and the JSON ``manifest`` as a zoo store at ``path``; returns its new generation.

    Local paths (and ``file://`` URLs): under the writer lock, into a sibling temporary folder,
    then swapped in by renames, so readers see the old store or the new one, and a crash leaves
    one of them. A folder that is not a Fennec store, or a store holding other files, is never
    overwritten. ``expect_generation``: refuse to write when the store changed since it was
    read (another writer got there first; nothing is lost, the caller loads again).
    """
    generation = uuid.uuid4().hex
    local = local_path(path)
    if local is None:
        check_store_target(path)
        try:
            _write_remote(str(path), arrays, manifest, generation, expect_generation)
        except FennecError:
            raise
        except Exception as exc:  # no network, no credentials, a read-only bucket: one line, not a traceback
            raise StoreError(f"{path}: cannot write the store there ({type(exc).__name__}: {one_line(exc, 200)}); "
                             "check the URL, your credentials and the network, or write to a local path") from None
        return generation
    check_store_target(path)  # before the lock: a refused write creates nothing
    dest = local
    with store_lock(dest):
        _recover(dest)
        _check_target(dest)
        _check_generation(path, expect_generation)
        tmp = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            _write_group(str(tmp), arrays, manifest, generation=generation, fresh=True)
            if dest.exists():
                previous, marker = dest.with_name(dest.name + PREVIOUS_SUFFIX), dest.with_name(dest.name + SWAP_SUFFIX)
                marker.write_text(f"{os.getpid()}\n")
                os.replace(dest, previous)
                os.replace(tmp, dest)
                marker.unlink()
                shutil.rmtree(previous)
            else:
                os.replace(tmp, dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return generation


def _check_generation(path: str | os.PathLike[str], expected: str | None) -> None:
    if expected is not None and current_generation(path) not in (None, expected):
        raise StoreError(f"{path}: the zoo was changed by another writer since it was loaded; load it again "
                         "and redo the change (nothing was written)")


def _write_remote(url: str, arrays: dict[str, np.ndarray], manifest: dict[str, Any], generation: str,
                  expected: str | None) -> None:
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    if fs.exists(root):
        if fs.isfile(root):
            raise StoreError(f"{url} exists and is a file, not a zoo store; choose another path")
        if fs.ls(root, detail=False) and _remote_manifest(url) is None:  # no zarr.json, or not a Fennec one
            raise StoreError(f"{url} exists and is not a Fennec zoo store; refusing to overwrite it")
    _check_generation(url, expected)
    _write_group(url, arrays, manifest, generation=generation, fresh=False)


def _remote_manifest(url: str) -> dict[str, Any] | None:
    import zarr

    try:
        man = zarr.open_group(url, mode="r").attrs.get("fennec")
    except Exception:
        return None
    return man if isinstance(man, dict) and man.get("format") == FORMAT else None


class _TornRead(Exception):
    """A writer replaced the store while it was being read: read again."""


def read_store(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and verify a zoo store: returns (arrays, manifest).

    Refuses, with a message saying what to do, a missing path, a foreign Zarr store, a store
    of a newer (or invalid) schema, a store with symlinks, arrays larger than their files and
    the limits allow, and a truncated or corrupt one (a missing array or a checksum mismatch).
    Needs no lock: when a writer swaps the store during the read (its generation changes),
    the read starts again.
    """
    for attempt in range(READ_ATTEMPTS):
        before = _snapshot(path)
        try:
            return _read_once(path)
        except _TornRead:
            pass
        except (StoreError, OSError):  # e.g. the folder swapped away between two steps of the walk
            if _snapshot(path) == before and not _swapping(path):
                raise
        time.sleep(0.02 * (attempt + 1))
    return _read_once(path, final=True)


def _snapshot(path: str | os.PathLike[str]) -> Any:
    """What a swap changes, read cheaply: a local store's folder identity (a swap renames a new
    folder into place; a stat, where parsing a large manifest takes milliseconds), a remote
    store's generation."""
    local = local_path(path)
    if local is None:
        return current_generation(path)
    try:
        info = os.stat(local)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _swapping(path: str | os.PathLike[str]) -> bool:
    """Whether a writer is between the two renames of its swap at ``path`` (its marker is there)."""
    local = local_path(path)
    return local is not None and Path(str(local) + SWAP_SUFFIX).exists()


def _local_target(path: str | os.PathLike[str], p: Path) -> tuple[Path, dict[str, int]]:
    """(the folder to read, the size of each of its files by relative path), walked once: the
    walk refuses symbolic links, and the sizes bound what each array may declare."""
    previous, marker = Path(str(p) + PREVIOUS_SUFFIX), Path(str(p) + SWAP_SUFFIX)
    if not p.exists() and previous.is_dir() and marker.exists():
        p = previous  # a swap is under way, or its writer was killed inside it
    if not p.exists():
        stale = f" (a leftover {previous.name} is there and is not read)" if previous.exists() else ""
        raise StoreError(f"{path}: no zoo store here{stale}; create one with "
                         f"`fennec fit --history H.csv --out {path}`")
    if p.is_symlink() or not p.is_dir() or not (p / "zarr.json").is_file():
        raise StoreError(f"{path}: not a Zarr store (no zarr.json); give the folder `fennec fit --out` wrote")
    sizes: dict[str, int] = {}
    for folder, dirs, files in os.walk(p):
        for name in (*dirs, *files):
            full = os.path.join(folder, name)
            if os.path.islink(full):
                raise StoreError(f"{path}: holds a symbolic link ({os.path.relpath(full, p)}); "
                                 "a zoo store holds plain files only: refit with `fennec fit`")
        for name in files:
            full = os.path.join(folder, name)
            info = os.lstat(full)
            if not stat.S_ISREG(info.st_mode):  # a FIFO would hang the read, a device never end it
                raise StoreError(f"{path}: {os.path.relpath(full, p)} is not a regular file (a FIFO, a device or a "
                                 "socket); a zoo store holds plain files only: refit with `fennec fit`")
            sizes[Path(os.path.relpath(full, p)).as_posix()] = info.st_size
    if sizes.get("zarr.json", 0) > MAX_MANIFEST_BYTES:
        raise StoreError(f"{path}: its manifest is larger than {MAX_MANIFEST_BYTES >> 20} MiB; not a store "
                         "Fennec wrote: refit with `fennec fit`")
    return p, sizes


def _read_once(path: str | os.PathLike[str], *, final: bool = False) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    import zarr

    local = local_path(path)
    target, sizes = (str(path), None) if local is None else _local_target(path, local)
    target = str(target)
    try:
        root = zarr.open_group(target, mode="r")
        manifest = root.attrs.get("fennec")
    except Exception as exc:
        raise StoreError(f"{path}: cannot be opened as a Zarr group ({type(exc).__name__}: {exc}); "
                         "it is corrupt or not a Fennec store: refit with `fennec fit`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StoreError(f"{path}: a Zarr store but not a Fennec zoo (no 'fennec' manifest); "
                         "give a store written by `fennec fit` or Fennec.save")
    if manifest.get("incomplete"):
        if not final:
            raise _TornRead
        raise StoreError(f"{path}: the store is being written, or its writer was interrupted; retry, or write it "
                         "again with `fennec fit`")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= SCHEMA_VERSION:
        raise StoreError(f"{path}: written with store schema {version!r} by fennec "
                         f"{manifest.get('package_version', '?')}; this fennec reads schema 1 to {SCHEMA_VERSION}: "
                         "upgrade fennec, or refit with `fennec fit`")
    from fennec_core.io.manifest import validate_manifest

    generation = manifest.get("generation")
    try:
        validate_manifest(str(path), manifest)
    except StoreError:
        if not final and current_generation(path) != generation:
            raise _TornRead from None
        raise
    digests = manifest["arrays"]
    try:
        declared = check_sizes(path, root, digests, manifest.get("shapes"), sizes, manifest,
                                None if local is None else Path(target))
    except StoreError:
        if not final and current_generation(path) != generation:
            raise _TornRead from None  # arrays of the next store beside this one's manifest
        raise
    arrays: dict[str, np.ndarray] = {}
    for name, digest in digests.items():
        try:
            arr = np.asarray(root[name][...])
            if arr.nbytes > declared.get(name, arr.nbytes):
                raise ValueError("more data than declared")
            ok = array_digest(arr) == digest
        except Exception as exc:
            if not final and current_generation(path) != generation:
                raise _TornRead from None
            raise StoreError(f"{path}: array {name!r} is missing or unreadable ({type(exc).__name__}); "
                             "the store is truncated or corrupt: refit with `fennec fit`") from None
        if not ok:
            if current_generation(path) != generation:
                if not final:
                    raise _TornRead
                raise StoreError(f"{path}: the store was rewritten {READ_ATTEMPTS} times while it was being read; "
                                 "retry once its writer is done")
            raise StoreError(f"{path}: array {name!r} fails its checksum; the store is corrupt: "
                             "refit with `fennec fit`")
        arrays[name] = arr
    return arrays, manifest
