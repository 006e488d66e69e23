"""``fennec serve``: the zoos as an HTTP service (JSON API, a web page, docs; see docs/serve.md).

Every option is checked, and bundled zoos that may be written are copied to the data
directory, before the server starts; then uvicorn runs ``--workers`` processes, each loading
the zoos (:func:`fennec_core.serve.app.app_from_env`). FastAPI and uvicorn are imported here
only, when the command runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import socket

from fennec_core.cli.format import say
from fennec_core.errors import InputError, MissingDependencyError


def _check_installed() -> None:
    missing = [m for m in ("fastapi", "uvicorn", "pydantic") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependencyError(f"fennec serve needs {', '.join(missing)}: pip install \"fennec[serve]\"")


def _check_port(host: str, port: int) -> None:
    """Fail now, with one line, when ``host:port`` cannot be listened on (in use, no such address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InputError(f"--host {host}: not an address of this machine ({exc.strerror}); e.g. 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise InputError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror or exc}); choose another "
                             "--port or stop the server using it") from None


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the zoos over HTTP until interrupted (Ctrl-C)."""
    _check_installed()
    from fennec_core.serve.settings import ENV_SETTINGS, resolve_settings

    settings = resolve_settings(zoos=args.zoo or (), host=args.host, port=args.port, workers=args.workers,
                                token_file=args.token_file, data_dir=args.data_dir,
                                cors_origins=args.cors_origin or (), timeout=args.timeout, device=args.device,
                                allowed_hosts=args.allowed_host or ())
    _check_port(args.host, args.port)
    import uvicorn

    os.environ[ENV_SETTINGS] = settings.to_json()  # what each worker process reads
    writes = "writes on (bearer token)" if args.token_file or os.environ.get("FENNEC_SERVE_TOKEN") else "writes off"
    say(args, f"fennec: serving {', '.join(z.name for z in settings.zoos)} on http://{args.host}:{args.port}/ "
              f"({args.workers} worker(s), {writes}); Ctrl-C stops it")
    if not _loopback(args.host):
        say(args, f"fennec: note: listening on {args.host}, reachable from other machines")
    try:
        uvicorn.run("fennec_core.serve.app:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level="warning" if args.quiet else "info", access_log=args.access_log,
                    http="fennec_core.serve.protocol:NoDelayH11Protocol",
                    backlog=4096, timeout_graceful_shutdown=10)
    except SystemExit as exc:  # uvicorn exits by itself when a worker cannot start
        raise InputError(f"the server stopped at start (exit {exc.code}); its log above says why") from None
    return 0
