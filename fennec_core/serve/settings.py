"""What a ``fennec serve`` process serves and its limits, resolved once in the parent process.

No web library is imported here: :func:`resolve_settings` checks every option before anything
starts (one :class:`fennec_core.errors.InputError` per problem, shown by the CLI as one line),
and copies each bundled zoo that may be written to the data directory first (a bundled zoo is
never changed inside the package). Worker processes read the same settings back from the
``FENNEC_SERVE_SETTINGS`` environment variable (:func:`settings_from_env`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from fennec_core.errors import InputError

ENV_SETTINGS = "FENNEC_SERVE_SETTINGS"
#: The bearer token of the write endpoints when no ``--token-file`` is given.
ENV_TOKEN = "FENNEC_SERVE_TOKEN"
ENV_DATA_DIR = "FENNEC_DATA_DIR"
MIN_TOKEN_CHARS = 16
#: Largest request body accepted (bytes), largest ``top``, largest proposal batch.
MAX_BODY = 1 << 20
MAX_TOP = 1000
MAX_BATCH = 20
#: Seconds a read request (rank, next) may take; a results write gets ``WRITE_TIMEOUT``.
TIMEOUT = 30.0
WRITE_TIMEOUT = 300.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@attrs.frozen
class ZooSpec:
    """One served zoo: its name in URLs, its store, and the bundled zoo it was copied from, if any."""

    name: str
    path: str
    bundled: str | None = None


@attrs.frozen
class ServeSettings:
    """Everything a server process needs; JSON-ready (:meth:`to_json`)."""

    zoos: tuple[ZooSpec, ...]
    data_dir: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    token_file: str | None = None
    cors_origins: tuple[str, ...] = ()
    timeout: float = TIMEOUT
    write_timeout: float = WRITE_TIMEOUT
    max_body: int = MAX_BODY
    device: str = "cpu"
    preload_text: bool = True
    #: Host header names answered (``*`` any; ``*.example.com`` a domain's subdomains): DNS rebinding
    #: cannot reach a server bound to loopback through another name.
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")

    def to_json(self) -> str:
        """These settings as JSON (what the parent hands its worker processes)."""
        return json.dumps(attrs.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        """Settings written by :meth:`to_json`."""
        doc: dict[str, Any] = json.loads(text)
        doc["zoos"] = tuple(ZooSpec(**z) for z in doc["zoos"])
        doc["cors_origins"] = tuple(doc.get("cors_origins") or ())
        doc["allowed_hosts"] = tuple(doc.get("allowed_hosts") or ServeSettings.allowed_hosts)
        return cls(**doc)

    @property
    def default_zoo(self) -> str:
        """The zoo a request without ``zoo`` uses: the catalog's default when served, else the first."""
        from fennec_core.io.catalog import DEFAULT_ZOO

        names = [z.name for z in self.zoos]
        return DEFAULT_ZOO if DEFAULT_ZOO in names else names[0]


def default_data_dir() -> str:
    """Where copies of bundled zoos live: ``$FENNEC_DATA_DIR``, else ``$XDG_DATA_HOME/fennec``,
    else ``~/.local/share/fennec``."""
    if os.environ.get(ENV_DATA_DIR):
        return os.environ[ENV_DATA_DIR]
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "fennec")


def read_token(token_file: str | None) -> str | None:
    """The bearer token of the write endpoints: the first line of ``token_file``, else
    ``$FENNEC_SERVE_TOKEN``, else None (writes are off)."""
    if token_file is None:
        token = os.environ.get(ENV_TOKEN, "").strip()
        source = f"${ENV_TOKEN}"
        if not token:
            return None
    else:
        try:
            lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"--token-file {token_file}: cannot be read ({getattr(exc, 'strerror', None) or exc}); "
                             "give a file holding the token on its first line") from None
        token, source = (lines[0].strip() if lines else ""), f"--token-file {token_file}"
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise InputError(f"{source}: the token must be at least {MIN_TOKEN_CHARS} characters without spaces (e.g. "
                         "`python -c \"import secrets; print(secrets.token_urlsafe(32))\"`)")
    return token


def _copy_bundled(source: str, dest: Path) -> None:
    """Copy a bundled store to ``dest`` once (under the store's writer lock; atomic by rename)."""
    from fennec_core.io.store import store_lock

    with store_lock(dest):
        if dest.exists():
            return
        tmp = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            shutil.copytree(source, tmp)
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _check_data_dir(data_dir: str) -> Path:
    path = Path(data_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--data-dir {data_dir}: cannot be created ({exc.strerror or exc}); give a writable "
                         "folder") from None
    if not os.access(path, os.W_OK):
        raise InputError(f"--data-dir {data_dir}: not writable; give a writable folder")
    return path


def zoo_specs(refs: Sequence[str], data_dir: str, *, writable: bool) -> tuple[ZooSpec, ...]:
    """The zoos to serve from ``--zoo`` references (none: every bundled zoo). A bundled zoo is
    served from its copy in ``data_dir`` when there is one, and copied there first when writes
    are on; a store path is served (and written) where it is, named after its folder."""
    from fennec_core.io import catalog

    specs: list[ZooSpec] = []
    for ref in list(refs) or catalog.names():
        entry = catalog.bundled_entry(catalog.resolve(ref))
        if entry is not None:
            copy = Path(data_dir) / f"{entry.name}.zarr"
            if writable and not copy.exists():
                _copy_bundled(entry.path, copy)
            spec = ZooSpec(entry.name, str(copy) if copy.exists() else entry.path, entry.name)
        else:
            path = Path(catalog.resolve(ref))
            if not path.is_dir():
                raise InputError(f"--zoo {ref}: no zoo store there; give a bundled zoo's name (see `fennec zoos`) "
                                 "or the folder `fennec fit --out` wrote")
            name = path.name[:-5] if path.name.endswith(".zarr") else path.name
            if not _NAME.match(name):
                raise InputError(f"--zoo {ref}: its folder name {name!r} cannot name a zoo in URLs; rename the "
                                 "folder (letters, digits, '.', '_', '-')")
            spec = ZooSpec(name, str(path.absolute()))
        if any(s.name == spec.name for s in specs):
            raise InputError(f"--zoo {ref}: two served zoos would be called {spec.name!r}; rename one store's folder")
        specs.append(spec)
    if not specs:
        raise InputError("no zoo to serve: this installation has no bundled zoo; give --zoo PATH")
    return tuple(specs)


def resolve_settings(*, zoos: Sequence[str] = (), host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
                     token_file: str | None = None, data_dir: str | None = None,
                     cors_origins: Sequence[str] = (), timeout: float = TIMEOUT, device: str = "cpu",
                     preload_text: bool = True, allowed_hosts: Sequence[str] = ()) -> ServeSettings:
    """Check every option of ``fennec serve`` and resolve the zoos (copying bundled ones that
    may be written); an InputError names the first bad one."""
    from fennec_core.device import check_device

    check_device(device, "--device")
    if not 0 <= port <= 65535:
        raise InputError(f"--port {port}: must be between 0 and 65535")
    if workers < 1:
        raise InputError(f"--workers {workers}: must be at least 1")
    if not timeout > 0:
        raise InputError(f"--timeout {timeout}: must be a number of seconds > 0")
    for origin in cors_origins:
        if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
            raise InputError(f"--cors-origin {origin}: expected an origin such as http://localhost:3000 (scheme and "
                             "host, no path) or *")
    writable = read_token(token_file) is not None
    folder = data_dir or default_data_dir()
    if writable:
        _check_data_dir(folder)
    return ServeSettings(zoo_specs(zoos, folder, writable=writable), folder, host, port, workers, token_file,
                         tuple(cors_origins), float(timeout), max(WRITE_TIMEOUT, float(timeout)), MAX_BODY, device,
                         preload_text, host_names(host, allowed_hosts))


def host_names(host: str, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """The Host header names a server listening on ``host`` answers: loopback names for a loopback
    address, the address itself otherwise, plus ``extra`` (``--allowed-host``: a name, ``*.domain``
    or ``*``). A server bound to every address (0.0.0.0) answers only the names given, and
    loopback ones, unless ``*`` is given."""
    import ipaddress

    for name in extra:
        if not re.fullmatch(r"\*|(\*\.)?[A-Za-z0-9._:\[\]-]+", name):
            raise InputError(f"--allowed-host {name}: expected a host name (api.example.com), *.example.com or *")
    names = ["127.0.0.1", "localhost", "::1"]
    try:
        unspecified = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        unspecified = False
    if host not in names and not unspecified:
        names.append(host)
    return tuple(dict.fromkeys([*names, *(n.strip("[]").lower() for n in extra)]))


def settings_from_env() -> ServeSettings:
    """The settings the parent ``fennec serve`` process put in ``$FENNEC_SERVE_SETTINGS``."""
    text = os.environ.get(ENV_SETTINGS)
    if not text:
        raise InputError(f"${ENV_SETTINGS} is not set: start the server with `fennec serve`")
    return ServeSettings.from_json(text)
