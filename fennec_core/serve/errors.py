"""The service's errors: each a :class:`fennec_core.errors.FennecError` with its HTTP status.

Every error answers ``{"error": <kind>, "detail": <one line saying what to do>}``;
:func:`status_of` maps any exception to (status, kind). Client faults are 4xx; 5xx only for
a timeout, a missing optional dependency, a busy store, or a bug (never with a traceback).
"""

from __future__ import annotations

from fennec_core.errors import FennecError, MissingDependencyError, PluginError, StoreError


class NotFoundError(FennecError):
    """No such zoo (or page)."""


class UnauthorizedError(FennecError):
    """A write without the right bearer token."""


class WritesDisabledError(FennecError):
    """A write to a server started without a token."""


class TooLargeError(FennecError):
    """A request body over the size limit."""


class RequestTimeoutError(FennecError):
    """A request that took longer than the per-request timeout."""


#: (exception class, HTTP status, the ``error`` field), first match wins.
STATUS: tuple[tuple[type[BaseException], int, str], ...] = (
    (NotFoundError, 404, "not found"),
    (UnauthorizedError, 401, "unauthorized"),
    (WritesDisabledError, 403, "writes disabled"),
    (TooLargeError, 413, "request too large"),
    (RequestTimeoutError, 503, "timeout"),
    (MissingDependencyError, 503, "unavailable"),
    (StoreError, 503, "store unavailable"),
    (PluginError, 500, "internal error"),
    (FennecError, 400, "bad request"),
)


def status_of(exc: BaseException) -> tuple[int, str]:
    """(HTTP status, error kind) of an exception raised while answering a request."""
    for cls, status, kind in STATUS:
        if isinstance(exc, cls):
            return status, kind
    return 500, "internal error"
