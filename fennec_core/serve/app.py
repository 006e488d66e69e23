"""The FastAPI application of ``fennec serve`` (see docs/serve.md).

``create_app(settings)`` loads the zoos and returns the ASGI app; ``app_from_env()`` is the
factory uvicorn calls in each worker process. Every error is JSON ``{"error", "detail"}``:
422 for a request that does not match the schema (400 for malformed JSON), 400 for a request
Fennec refuses, 404 for an unknown zoo or path, 413 for a body over the limit, 401/403 for
writes; 503 for a request over the time limit. No traceback is ever sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

import anyio
from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fennec_core import __version__
from fennec_core.errors import FennecError, one_line
from fennec_core.serve.errors import NotFoundError, RequestTimeoutError, status_of
from fennec_core.serve.pages import CSP, asset
from fennec_core.serve.schemas import (
    ErrorBody,
    Health,
    NextRequest,
    NextResponse,
    RankRequest,
    RankResponse,
    ResultsRequest,
    ResultsResponse,
    ZooDetail,
    ZooList,
)
from fennec_core.serve.service import Service, dumps
from fennec_core.serve.settings import ServeSettings, settings_from_env

log = logging.getLogger("fennec.serve")
JSON = "application/json"
ZooPath = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                              description="a served zoo (GET /zoos)")]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error every failure answers: ``{"error": ..., "detail": ...}``."""
    return JSONResponse({"error": error, "detail": one_line(detail, 2000)}, status_code=status, headers=headers)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413 before the app reads it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        too_large = error_response(413, "request too large", f"the request body is over the limit of {self.limit:,} "
                                   "bytes; send fewer results per request")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await too_large(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False
        try:  # JSON must be UTF-8 (RFC 8259); json.loads would guess UTF-16 or UTF-32 from the bytes
            body.decode("utf-8")
            ok = b"\x00" not in body
        except UnicodeDecodeError:
            ok = False
        if not ok:
            await error_response(400, "bad request", "the request body is not UTF-8 text; send JSON encoded as "
                                 "UTF-8")(scope, receive, send)
            return

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class HostCheck:
    """ASGI middleware: a request whose ``Host`` header is not one of the served names is answered
    400 (as Starlette's TrustedHostMiddleware does, with our JSON error), so a page on another site
    cannot reach a server on loopback by rebinding its DNS name to 127.0.0.1."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.any = "*" in allowed
        self.names = {a for a in allowed if not a.startswith("*")}
        self.suffixes = tuple(a[1:] for a in allowed if a.startswith("*."))

    def host_ok(self, header: str) -> bool:
        """Whether a ``Host`` header (``name``, ``name:port``, ``[v6]:port``) names this server."""
        host = header.strip().lower()
        host = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return self.any or host in self.names or (bool(self.suffixes) and host.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.any:
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if not self.host_ok(header):
                await error_response(400, "bad request", f"the Host header {header[:100]!r} is not a name this server "
                                     "answers; start it with --allowed-host NAME to serve that name")(scope, receive,
                                                                                                      send)
                return
        await self.app(scope, receive, send)


def _validation_detail(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "the request body is not valid JSON"
    parts = []
    for e in errors[:5]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return 422, "; ".join(parts) + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else "")


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, detail = _validation_detail(exc)
        return error_response(status, "bad request" if status == 400 else "invalid request", detail)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            detail = f"no such endpoint: {request.method} {request.url.path}; see /docs"
        else:
            detail = str(exc.detail)
        return error_response(exc.status_code, "not found" if exc.status_code == 404 else "http error", detail,
                              getattr(exc, "headers", None))

    @app.exception_handler(FennecError)
    async def refused(request: Request, exc: FennecError) -> JSONResponse:
        status, kind = status_of(exc)
        if kind == "internal error":  # a plugin's failure
            log.error("plugin error answering %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(status, kind, str(exc), {"WWW-Authenticate": "Bearer"} if status == 401 else None)

    @app.exception_handler(Exception)  # Starlette sends this answer, then logs the traceback
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "internal error", f"{type(exc).__name__}: {exc} (a bug; the server's log has "
                              "the traceback)")


async def _in_thread(fn: Callable[[], Any], timeout: float) -> Any:
    """Run ``fn`` in a worker thread; a RequestTimeoutError after ``timeout`` seconds (the thread
    is left to finish: its result is dropped, a write it makes still lands whole)."""
    try:
        with anyio.fail_after(timeout):
            return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)
    except TimeoutError:
        raise RequestTimeoutError(f"the request took longer than the server's limit of {timeout:g} s; ask for "
                                  "less (a smaller top or batch) or start the server with a larger --timeout") from None


def create_app(settings: ServeSettings, *, service: Service | None = None) -> FastAPI:
    """The ASGI app serving ``settings.zoos`` (loaded now, unless a ``service`` is given)."""
    service = service or Service(settings)
    app = FastAPI(title="Fennec", version=__version__, docs_url=None, redoc_url=None,
                  description="Rank pre-trained models for a new task (docs/serve.md). Errors are "
                              "`{\"error\": ..., \"detail\": ...}`.")
    app.state.service = service
    _install_errors(app)
    reads = _errors(400, 404, 413, 422, 503)

    @app.get("/health", response_model=Health, tags=["service"])
    async def health() -> Any:
        """Liveness, version, the served zoos and whether writes are on."""
        return service.health()

    @app.get("/zoos", response_model=ZooList, tags=["zoos"])
    async def zoos() -> Response:
        """Every served zoo with its counts and generation."""
        return Response(dumps(await _in_thread(service.zoo_list, settings.timeout)), media_type=JSON)

    @app.get("/zoos/{zoo}", response_model=ZooDetail, responses=_errors(404, 422, 503), tags=["zoos"])
    async def zoo(zoo: ZooPath, offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
        """A zoo's settings, then ``limit`` of its tasks and of its models from ``offset``."""
        doc = await _in_thread(lambda: service.zoo_detail(zoo, offset, limit), settings.timeout)
        return Response(dumps(doc), media_type=JSON)

    async def answer(kind: str, req: RankRequest | NextRequest) -> Response:
        served = service.zoos.fresh(service.zoo_name(req))
        key = service.cache_key(kind, served, req) if served is not None else None
        body = service.answers.get(key) if key else None  # a cached answer needs no thread
        if body is None:
            body = await _in_thread(lambda: service.answer(kind, req), settings.timeout)
        return Response(body, media_type=JSON)

    @app.post("/rank", response_model=RankResponse, responses=reads, tags=["ranking"])
    async def rank(req: RankRequest) -> Response:
        """Rank the zoo's models for a task: predicted scores, 90% intervals, the CLI's notes."""
        return await answer("rank", req)

    @app.post("/next", response_model=NextResponse, responses=reads, tags=["ranking"])
    async def next_(req: NextRequest) -> Response:
        """Which model(s) to fine-tune next, given the results measured so far (``fennec next``)."""
        return await answer("next", req)

    @app.post("/zoos/{zoo}/results", response_model=ResultsResponse, tags=["zoos"],
              responses=_errors(400, 401, 403, 404, 413, 422, 503))
    async def results(zoo: ZooPath, req: ResultsRequest,
                      authorization: Annotated[str | None, Header(description="Bearer <token>")] = None) -> Response:
        """Add measured results to a zoo by fold-in; the store is rewritten atomically and the zoo
        swapped in memory (requests in flight finish on the zoo as it was). Needs the bearer token."""
        service.check_token(authorization)
        service.zoos.spec(zoo)
        doc = await _in_thread(lambda: service.add_results(zoo, req), settings.write_timeout)
        return Response(dumps(doc), media_type=JSON)

    def page(name: str) -> Response:
        found = asset(name)
        if found is None:
            raise NotFoundError(f"no such file: /static/{name}")
        content, media = found
        return Response(content, media_type=media, headers={"Content-Security-Policy": CSP,
                                                            "X-Content-Type-Options": "nosniff"})

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return page("index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return page("docs.html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        return page(name)

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(BodyLimit, limit=settings.max_body)
    app.add_middleware(HostCheck, allowed=tuple(settings.allowed_hosts))
    return app


def app_from_env() -> FastAPI:
    """The app of one worker process: settings from ``$FENNEC_SERVE_SETTINGS``, the text proxy
    loaded before the first request when a served zoo can be described."""
    settings = settings_from_env()
    app = create_app(settings)
    if settings.preload_text and any(z["describable"] for z in app.state.service.zoo_list()["zoos"]):
        try:
            app.state.service.zoos.load_text()
        except Exception as exc:  # described requests will say what is missing; the rest works
            log.warning("text proxy not loaded: %s", one_line(exc))
    return app
