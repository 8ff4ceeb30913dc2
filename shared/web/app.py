"""The FastAPI app factory every component uses.

It adds what every service answers the same way: ``/health/live``,
``/health/ready`` (the component's own checks: its database, its broker),
``/metrics`` for Prometheus, ``X-Correlation-ID`` in and out of every request,
and RFC 9457 problem responses for every error: a request that fails because
the database cannot be had right now (no free connection, too many clients,
refused or dropped) answers 503 with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.context import CORRELATION_HEADER, bind_context, new_correlation_id
from shared.logging import get_logger
from shared.persistence.database import unavailable_reason
from shared.web.problems import install_problem_handlers, problem_response

ReadyCheck = Callable[[], Awaitable[bool]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

_CORRELATION = CORRELATION_HEADER.lower().encode()
"""The header as ASGI spells header names: lower-case bytes."""

DATABASE_RETRY_AFTER_SECONDS = 2
"""``Retry-After`` of a 503 for a database that cannot be had right now."""

log = get_logger(__name__)


class CorrelationMiddleware:
    """Takes ``X-Correlation-ID`` from the request (or makes one), binds it for logs,
    outgoing calls and messages, and returns it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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


class DatabaseUnavailableMiddleware:
    """Answers 503 problem+json with ``Retry-After`` for a request that failed
    because the database cannot be had right now (see
    :func:`shared.persistence.database.unavailable_reason`), where it would
    otherwise be a 500.  It sees what no exception handler took, whichever
    layer of SQLAlchemy or the driver raised it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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


def create_app(
    name: str,
    *,
    version: str = "0.1.0",
    description: str = "",
    lifespan: Lifespan | None = None,
    ready_checks: Mapping[str, ReadyCheck] | None = None,
    api_prefix: str = "/api/v1",
    routers: list[Any] | None = None,
) -> FastAPI:
    checks = dict(ready_checks or {})

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
    app.add_middleware(DatabaseUnavailableMiddleware)
    app.add_middleware(CorrelationMiddleware)

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
    Instrumentator(excluded_handlers=["/metrics", "/health/.*"], registry=registry).instrument(
        app
    ).expose(app, endpoint="/metrics", include_in_schema=False)
    for router in routers or []:
        app.include_router(router, prefix=api_prefix)
    return app
