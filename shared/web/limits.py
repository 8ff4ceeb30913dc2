"""How large a request body may be, per route, enforced before the body is read.

A route names the class of body it takes in its ``openapi_extra``
(:data:`SIGN_IN`, :data:`CHECKOUT`); every other route gets the default.  The
limits come from the settings (:meth:`BodyLimits.from_settings`).
:class:`BodySizeLimit` answers 413 problem+json at once when ``Content-Length``
says the body is larger, and otherwise counts the chunks as the route reads
them: the one past the limit ends the request with the same 413, so a body
sent without a length (chunked) is never held in full either.

Headers are bounded by the server, before any ASGI app sees them (see
:mod:`oms.protocol`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.settings import CHECKOUT_BYTES, DEFAULT_BYTES, SIGN_IN_BYTES, Settings
from shared.web.openapi import HTTP_METHODS
from shared.web.problems import problem_response, problem_responses

BODY_CLASS: Final = "x-body-class"
"""The OpenAPI extension naming a route's class of body."""

SIGN_IN: Final = {BODY_CLASS: "sign-in"}
"""``openapi_extra`` of a route taking credentials: small, and open to anyone."""
CHECKOUT: Final = {BODY_CLASS: "checkout"}
"""``openapi_extra`` of a route taking a basket: the largest body a customer sends."""


@dataclass(frozen=True)
class BodyLimits:
    """The most bytes a body may have: ``default`` for a route naming no class."""

    default: int = DEFAULT_BYTES
    classes: Mapping[str, int] = field(
        default_factory=lambda: {"sign-in": SIGN_IN_BYTES, "checkout": CHECKOUT_BYTES}
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(
            default=settings.http_max_body_bytes,
            classes={
                "sign-in": settings.http_max_sign_in_body_bytes,
                "checkout": settings.http_max_checkout_body_bytes,
            },
        )

    def of(self, operation: Mapping[str, Any]) -> int:
        """The limit of the body of ``operation`` (as the OpenAPI document has it)."""
        named = operation.get(BODY_CLASS)
        return self.classes.get(named, self.default) if isinstance(named, str) else self.default


RouteLimits = list[tuple[re.Pattern[str], set[str], int]]
"""The routes naming a class of body: path, methods, limit."""


def route_limits(routers: Iterable[APIRouter], prefix: str, limits: BodyLimits) -> RouteLimits:
    """The limits of the routes of ``routers`` (included under ``prefix``) naming a class.

    Read from the routers as they are given to the app, so no request waits for
    the app's OpenAPI document to be built."""
    table: RouteLimits = []
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            extra = route.openapi_extra
            if extra and BODY_CLASS in extra:
                template, _, _ = compile_path(prefix + route.path)
                table.append((template, set(route.methods or ()), limits.of(extra)))
    return table


class _TooLarge(Exception):
    """Raised into the route reading a body past its limit, to stop it reading."""


class BodySizeLimit:
    """Answers 413 problem+json to a body larger than its route's limit, before
    reading it when ``Content-Length`` tells, else as soon as the count passes it."""

    def __init__(self, app: ASGIApp, *, limits: BodyLimits, routes: RouteLimits) -> None:
        self.app = app
        self.limits = limits
        self.routes = routes

    def limit_for(self, scope: Scope) -> int:
        """The limit of the route ``scope`` asks for, the default if none names one."""
        for template, methods, limit in self.routes:
            if scope["method"] in methods and template.match(scope["path"]):
                return limit
        return self.limits.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        exceeded = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def send_unless_exceeded(message: Message) -> None:
            # Whatever the route made of the interrupted read, the answer is the 413.
            if not exceeded:
                await send(message)

        try:
            await self.app(scope, counting_receive, send_unless_exceeded)
        except Exception:
            if not exceeded:
                raise
        if exceeded:
            await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(
            413,
            "Content Too Large",
            f"the request body is larger than this route takes ({limit} bytes)",
            Request(scope),
            # The rest of the body is not read: the connection cannot carry another request.
            headers={"Connection": "close"},
            limit=limit,
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses it before any app runs
    return None


def document_body_limits(document: dict[str, Any], limits: BodyLimits) -> None:
    """Every operation taking a body documents its 413, with its limit."""
    [(_, too_large)] = problem_responses(413).items()
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in HTTP_METHODS or "requestBody" not in operation:
                continue
            described = f"The body is larger than this route takes: {limits.of(operation)} bytes"
            operation.setdefault("responses", {})["413"] = {**too_large, "description": described}
