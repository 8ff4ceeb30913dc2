"""The FastAPI app factory every component uses.

It adds what every service answers the same way: ``/health/live``,
``/health/ready`` (the component's own checks: its database, its broker),
``/metrics`` for Prometheus, ``X-Correlation-ID`` in and out of every request,
and RFC 9457 problem responses for every error: a request that fails because
the database cannot be had right now (no free connection, too many clients,
refused or dropped) answers 503 with ``Retry-After``.  It also keeps the OpenAPI
document honest about what every route shares: input no database can store is
refused before any route runs (:class:`StorableInputGuard`) and every text
parameter says so, every route documents the common problem answers, and a
405 lists in ``Allow`` every method of the path.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.context import CORRELATION_HEADER, bind_context, new_correlation_id
from shared.logging import get_logger
from shared.metrics import Refresh
from shared.persistence.database import unavailable_reason
from shared.telemetry import instrument_app
from shared.web.problems import (
    PROBLEM_JSON,
    install_problem_handlers,
    problem_response,
    problem_responses,
)
from shared.web.schemas import NO_NUL, unstorable

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


_JSON_TYPES = (b"application/json", b"+json")
_MAX_NAMED = 20
"""How many offending fields one answer lists at most."""


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


class StorableInputGuard:
    """Refuses, before any route runs, input no database can store: a NUL in the
    path or the query (``%00``), a NUL or a lone surrogate (``"\\ud800"``) in a
    JSON body.  PostgreSQL cannot hold either, so letting one through would be a
    500 deep in a query; here it is a 422 naming the field, the same answer a
    validation error gets, on every route of every component."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        errors = [*_path_errors(scope), *_query_errors(scope["query_string"])]
        if not errors and _is_json(scope):
            body, receive = await _buffered(receive)
            errors = _body_errors(body)
        if errors:
            errors = errors[:_MAX_NAMED]
            names = ", ".join(sorted({e["field"] for e in errors}))
            response = problem_response(
                422,
                "Unprocessable Content",
                f"invalid input: {names}",
                Request(scope),
                errors=errors,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _path_errors(scope: Scope) -> list[dict[str, str]]:
    problem = unstorable(scope["path"])
    if problem is None:
        return []
    # Name the path parameter that holds it, as a validation error would.
    for template, _ in _documented_paths(scope["app"]):
        match = template.match(scope["path"])
        if match:
            named = [_error(k, problem) for k, v in match.groupdict().items() if unstorable(v)]
            if named:
                return named
    return [_error("path", problem)]


_TEMPLATE_PARAMETER = re.compile(r"\\\{([A-Za-z_][A-Za-z0-9_]*)\\\}")


def _documented_paths(app: FastAPI) -> list[tuple[re.Pattern[str], set[str]]]:
    """Each path of the app's OpenAPI document as a regex, with its methods."""
    paths = []
    for path, item in app.openapi().get("paths", {}).items():
        regex = _TEMPLATE_PARAMETER.sub(r"(?P<\1>[^/]+)", re.escape(path))
        methods = {m.upper() for m in item if m in _HTTP_METHODS}
        paths.append((re.compile(f"^{regex}$", re.DOTALL), methods))
    return paths


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message, "type": "unstorable_text"}


def _query_errors(query_string: bytes) -> list[dict[str, str]]:
    if not query_string:
        return []
    # Decoded as Starlette decodes it, so the guard sees what the route would.
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    errors = []
    for name, value in pairs:
        problem = unstorable(name) or unstorable(value)
        if problem is not None:
            errors.append(_error(name if unstorable(name) is None else "query", problem))
    return errors


def _is_json(scope: Scope) -> bool:
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type.startswith(b"application/") and media_type.endswith(_JSON_TYPES)


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a ``receive`` that hands it to the app as if unread."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _body_errors(body: bytes) -> list[dict[str, str]]:
    if b"\\u" not in body and b"\xed" not in body:
        # A NUL or a lone surrogate in a JSON string is an escape (``\u0000``,
        # ``\ud800``) or, for a surrogate, raw bytes that start with 0xED (which
        # Python's JSON decoder lets through); a body with neither holds none, and
        # is not parsed twice.
        return []
    try:
        document = json.loads(body) if body else None
    except ValueError:
        return []  # not JSON at all: the route's own validation names the body
    return [_error(field, problem) for field, problem in _unstorable_in(document, ())]


def _unstorable_in(value: Any, path: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """``(field, problem)`` for every string in a JSON document no database could
    store; a bad object key is blamed on its object."""
    if isinstance(value, str):
        problem = unstorable(value)
        if problem is not None:
            yield ".".join(path) or "body", problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable_in(item, (*path, str(index)))
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = unstorable(key)
            if problem is not None:
                yield ".".join(path) or "body", problem
                continue
            yield from _unstorable_in(item, (*path, key))


def _allowed_methods(request: Request, exc: StarletteHTTPException) -> str:
    """Every method the resource at this path serves.  Starlette names only those
    of the first route that matched, so two routes on one path (``GET`` and
    ``POST /orders``) would each deny the other's method.  Of the documented
    paths that match, the most specific win (``/users/login`` over
    ``/users/{user_id}``), as they name the resource."""
    allowed = {m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()}
    matching = [
        (template.groupindex, methods)
        for template, methods in _documented_paths(request.app)
        if template.match(request.url.path)
    ]
    if matching:
        fewest = min(len(parameters) for parameters, _ in matching)
        allowed = set().union(*(m for parameters, m in matching if len(parameters) == fewest))
    if "GET" in allowed:
        allowed.add("HEAD")
    return ", ".join(sorted(allowed))


COMMON_PROBLEMS = (400, 401, 403, 404, 409, 422, 429, 503)
"""Problem answers any route may give: bad input, authentication and ownership,
conflicts, rate limits, a dependency down.  Routes add their own (502, 504)."""


def _document_common_problems(document: dict[str, Any]) -> None:
    """Every operation documents the common problem answers (as problem+json,
    also for 422, which FastAPI would otherwise document as its own JSON)."""
    common = {str(k): v for k, v in problem_responses(*COMMON_PROBLEMS).items()}
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in _HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, response in common.items():
                declared = responses.get(status)
                if declared is None or PROBLEM_JSON not in declared.get("content", {}):
                    responses[status] = response
    # FastAPI's own 422 shapes are no longer referred to by any operation.
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


_VALIDATED_FORMATS_EXEMPT = {None, "password"}
"""String formats that constrain nothing, so the NUL pattern can join them."""


def _document_storable_text(document: dict[str, Any]) -> None:
    """Say in the document what :class:`StorableInputGuard` refuses: every text
    parameter and request-body string without a pattern of its own gets one that
    excludes NUL (a lone surrogate is not text a client can send)."""
    components = document.get("components", {}).get("schemas", {})
    seen: set[int] = set()

    def walk(schema: Any) -> None:
        if not isinstance(schema, dict) or id(schema) in seen:
            return
        seen.add(id(schema))
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            walk(components.get(ref.rsplit("/", 1)[1]))
        if (
            schema.get("type") == "string"
            and not {"pattern", "enum", "const"} & schema.keys()
            and schema.get("format") in _VALIDATED_FORMATS_EXEMPT
        ):
            schema["pattern"] = NO_NUL
        for key in ("properties", "$defs"):
            for child in (schema.get(key) or {}).values():
                walk(child)
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for child in schema.get(key) or ():
                walk(child)
        for key in ("items", "additionalProperties"):
            walk(schema.get(key))

    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", ()):
                walk(parameter.get("schema"))
            for media in operation.get("requestBody", {}).get("content", {}).values():
                walk(media.get("schema"))


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

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        allow = _allowed_methods(request, exc)
        return problem_response(
            405, "Method Not Allowed", str(exc.detail), request, headers={"Allow": allow}
        )

    app.add_middleware(DatabaseUnavailableMiddleware)
    app.add_middleware(StorableInputGuard)
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
            _document_common_problems(document)
            _document_storable_text(document)
            completed[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    return app
