"""The FastAPI app factory every component uses.

It adds what every service answers the same way: ``/health/live``,
``/health/ready`` (the component's own checks: its database, its broker),
``/metrics`` for Prometheus, ``X-Correlation-ID`` in and out of every request,
and RFC 9457 problem responses for every error: a body larger than its route
takes is refused before it is read (:mod:`shared.web.limits`); a request that fails because
the database cannot be had right now (no free connection, too many clients,
refused or dropped) answers 503 with ``Retry-After``.  It also keeps the OpenAPI
document honest about what every route shares: input no database can store is
refused before any route runs (:class:`StorableInputGuard`) and every text
parameter says so, every route documents the common problem answers, and a
405 lists in ``Allow`` every method of the path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from shared.context import CORRELATION_HEADER, bind_context, new_correlation_id
from shared.logging import get_logger
from shared.metrics import Refresh
from shared.persistence.database import unavailable_reason
from shared.telemetry import instrument_app
from shared.web.limits import BodyLimits, BodySizeLimit, document_body_limits, route_limits
from shared.web.middleware import HttpMiddleware
from shared.web.openapi import (
    document_common_problems,
    document_storable_text,
    documented_paths,
)
from shared.web.problems import (
    install_problem_handlers,
    problem_response,
)
from shared.web.storable import StorableInputGuard

ReadyCheck = Callable[[], Awaitable[bool]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

_CORRELATION = CORRELATION_HEADER.lower().encode()
"""The header as ASGI spells header names: lower-case bytes."""

DATABASE_RETRY_AFTER_SECONDS = 2
"""``Retry-After`` of a 503 for a database that cannot be had right now."""

log = get_logger(__name__)


class CorrelationMiddleware(HttpMiddleware):
    """Takes ``X-Correlation-ID`` from the request (or makes one), binds it for logs,
    outgoing calls and messages, and returns it on the response."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = next((v for k, v in scope["headers"] if k == _CORRELATION), b"")
        value = incoming.decode("latin-1").strip()[:128]
        correlation_id = value or new_correlation_id()
        bind_context(correlation_id=correlation_id)

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((_CORRELATION, correlation_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_header)


class DatabaseUnavailableMiddleware(HttpMiddleware):
    """Answers 503 problem+json with ``Retry-After`` for a request that failed
    because the database cannot be had right now (see
    :func:`shared.persistence.database.unavailable_reason`), where it would
    otherwise be a 500.  It sees what no exception handler took, whichever
    layer of SQLAlchemy or the driver raised it."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            reason = unavailable_reason(error)
            if reason is None or started:
                raise
            request = Request(scope)
            log.warning("http.database_unavailable", path=request.url.path, reason=reason)
            response = problem_response(
                503,
                "Service Unavailable",
                f"{reason}; try again shortly",
                request,
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            )
            await response(scope, receive, send)


def _allowed_methods(request: Request, exc: StarletteHTTPException) -> str:
    """Every method the resource at this path serves.  Starlette names only those
    of the first route that matched, so two routes on one path (``GET`` and
    ``POST /orders``) would each deny the other's method.  Of the documented
    paths that match, the most specific win (``/users/login`` over
    ``/users/{user_id}``), as they name the resource."""
    allowed = {m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()}
    matching = [
        (template.groupindex, methods)
        for template, methods in documented_paths(request.app)
        if template.match(request.url.path)
    ]
    if matching:
        fewest = min(len(parameters) for parameters, _ in matching)
        allowed = set().union(*(m for parameters, m in matching if len(parameters) == fewest))
    if "GET" in allowed:
        allowed.add("HEAD")
    return ", ".join(sorted(allowed))


API_PREFIX = "/api/v1"
"""Where every component mounts its API; the health paths and ``/metrics`` sit at the root."""


def create_app(
    name: str,
    *,
    version: str = "0.1.0",
    description: str = "",
    lifespan: Lifespan | None = None,
    ready_checks: Mapping[str, ReadyCheck] | None = None,
    api_prefix: str = API_PREFIX,
    routers: list[Any] | None = None,
    body_limits: BodyLimits | None = None,
) -> FastAPI:
    checks = dict(ready_checks or {})
    limits = body_limits or BodyLimits()

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        if lifespan is None:
            yield
        else:
            async with lifespan(app):
                yield

    app = FastAPI(title=f"OMS {name}", version=version, description=description, lifespan=_lifespan)
    app.state.ready_checks = checks
    install_problem_handlers(app)

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        allow = _allowed_methods(request, exc)
        return problem_response(
            405, "Method Not Allowed", str(exc.detail), request, headers={"Allow": allow}
        )

    app.add_middleware(DatabaseUnavailableMiddleware)
    app.add_middleware(StorableInputGuard)
    # Outside the guard, which reads JSON bodies: nothing reads past the limit.
    app.add_middleware(
        BodySizeLimit,
        limits=limits,
        routes=route_limits(routers or [], api_prefix, limits),
    )
    app.add_middleware(CorrelationMiddleware)
    instrument_app(app)

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/health/ready", tags=["health"], response_model=None)
    async def ready(request: Request) -> JSONResponse | dict[str, Any]:
        results = {key: await check() for key, check in request.app.state.ready_checks.items()}
        if all(results.values()):
            return {"status": "ok", "service": name, "checks": results}
        failing = ", ".join(k for k, ok in results.items() if not ok)
        return problem_response(
            503, "Service Unavailable", f"not ready: {failing}", request, checks=results
        )

    # A registry per app: several components in one process (``oms up``) each count
    # their own requests, instead of all sharing the first one's collectors.
    registry = CollectorRegistry()
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=registry)
    Instrumentator(excluded_handlers=["/metrics", "/health/.*"], registry=registry).instrument(app)
    # A component adds its own families to the registry, and what it reads from its
    # tables at scrape time to the refreshes awaited first (see shared.metrics).
    refreshes: list[Refresh] = []
    app.state.metrics_registry = registry
    app.state.metrics_refreshes = refreshes

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        for refresh in refreshes:
            await refresh()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    for router in routers or []:
        app.include_router(router, prefix=api_prefix)

    generate = app.openapi
    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        # FastAPI caches the document until a route is added (fault injection is,
        # after the factory returns): what every route shares is added to each
        # document it builds, once.
        document = generate()
        if not completed or completed[0] is not document:
            document_common_problems(document)
            document_body_limits(document, limits)
            document_storable_text(document)
            completed[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    return app
