"""Reading and checking the files a user names: only regular files are read, compressed ones are
streamed with a cap, and an output path is checked before any work is done."""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path
from typing import Any

from fennec_core.errors import InputError

#: Largest table read, after decompression (``FENNEC_MAX_TABLE_BYTES``): a gzip bomb stops here.
MAX_TABLE_BYTES = 256 << 20


def read_bounded(path: str | Path) -> bytes:
    """The bytes of the regular file at ``path``, gunzipped when it is gzip, read in pieces and
    refused past ``FENNEC_MAX_TABLE_BYTES`` (a FIFO, a device such as /dev/zero or a folder is
    refused before anything is read: it could hang or never end)."""
    import stat

    p = Path(path)
    limit = int(os.environ.get("FENNEC_MAX_TABLE_BYTES", MAX_TABLE_BYTES))
    try:  # non-blocking: opening a FIFO for reading would otherwise wait for a writer
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(f"{p}: no such file; give the path of a CSV file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a folder, expected a CSV file") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise InputError(f"{p}: is a folder, expected a CSV file")
        raise InputError(f"{p}: not a regular file (a FIFO, a device or a socket); give the path of a CSV file")
    with os.fdopen(fd, "rb", buffering=0) as fh:
        head = fh.read(2)
        fh.seek(0)
        stream: Any = gzip.GzipFile(fileobj=fh) if head == b"\x1f\x8b" else fh  # e.g. history.csv.gz
        pieces, total = [], 0
        while piece := stream.read(min(1 << 20, limit + 1 - total)):
            pieces.append(piece)
            total += len(piece)
            if total > limit:
                what = "decompresses to" if stream is not fh else "holds"
                raise InputError(f"{p}: {what} more than {limit:,} bytes, the limit for a table; split it, or raise "
                                 "FENNEC_MAX_TABLE_BYTES if it is really this large")
    return b"".join(pieces)


def check_output_path(path: str | os.PathLike[str], what: str = "output", *, folder: bool = False) -> None:
    """One InputError naming ``what`` unless something can be written at ``path``: checked before
    any work is done. ``folder``: ``path`` is a folder to create (a zoo store; missing parent
    folders are created by the writer), else a file in an existing folder.

    The nearest existing folder must be a folder (not a file) where a file can be created: a
    probe file is made there and removed at once (permission bits alone say nothing to root,
    nor about /proc). Remote URLs (``s3://...``) are left to their writer.
    """
    text = str(path)
    if "://" in text and not text.startswith("file://"):
        return
    p = Path(text[len("file://"):] if text.startswith("file://") else text)
    if not text:
        raise InputError(f"{what}: the path is empty")
    if not folder and p.is_dir():
        raise InputError(f"{what} {p}: is a folder; give a file path")
    if folder and p.exists() and not p.is_dir():
        raise InputError(f"{what} {p}: exists and is a file, not a zoo store (a folder); choose another path")
    if p.exists() and not folder:
        if not p.is_file() or not os.access(p, os.W_OK):
            raise InputError(f"{what} {p}: exists and cannot be overwritten; give another path")
        return
    base = p.parent if str(p.parent) else Path(".")
    if not folder and not base.is_dir():
        why = "does not exist" if not base.exists() and not _under_file(base) else "is a file, not a folder"
        raise InputError(f"{what} {p}: its folder {base} {why}; give a path in an existing folder")
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise InputError(f"{what} {p}: {base} is a file, not a folder; give a path in a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".fennec-probe-", dir=base)
    except OSError as exc:
        raise InputError(f"{what} {p}: cannot write in {base} ({exc.strerror or exc}); give a writable "
                         "folder") from None
    os.close(fd)
    os.unlink(probe)


def _under_file(p: Path) -> bool:
    """Whether some existing ancestor of ``p`` is a file (so ``p`` can never be created)."""
    return any(a.is_file() for a in p.parents)
