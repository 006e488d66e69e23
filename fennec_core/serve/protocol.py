"""uvicorn's HTTP/1.1 protocol with ``TCP_NODELAY`` on every connection.

With ``--workers`` above 1 uvicorn opens the shared listening socket itself, without the TCP
protocol number, so asyncio does not turn Nagle's algorithm off on accepted connections; h11
writes a response's headers and body separately, and each small answer then waits for the
client's delayed ACK (about 40 ms on Linux). Setting ``TCP_NODELAY`` here removes that wait
(benchmarks/bench_serve.py measured 44 ms -> 0.3 ms per cached ranking at one client).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    """H11Protocol that sends each write at once (``TCP_NODELAY``)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Turn Nagle's algorithm off on the connection's socket, then proceed as uvicorn does."""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
