"""HTTP faults for QA: make a component's routes slow, failing, hanging or cut off.

Off unless ``OMS_FAULTS_ENABLED=true``.  An ops user posts a rule naming a
``route`` (a path as the OpenAPI document spells it, ``/api/v1/users/{user_id}``,
or ``*`` for every API route) to ``/_faults``, beside the rules for messages
(:mod:`shared.faults`).  Modes:

``latency``
    answer after a wait: ``delayMs`` (fixed), or drawn per call from a
    log-normal distribution fitted to ``p50Ms`` and ``p99Ms``;
``error``
    answer ``status`` (503 by default) with a problem body, without running the route;
``hang``
    never answer, until the client gives up (closes the connection, or, in
    process, cancels the call);
``reset``
    close the connection with no answer (a TCP reset).  In process, where there
    is no connection, the call fails as an unexpected error does.

Each rule applies to a share of the matching calls (``ratio``, drawn per call)
and to ``times`` calls in all, then it is gone.  Rules are tried in the order
they were added; the first whose route matches and whose ratio picks the call
applies, so a rare spike goes before the everyday latency::

    {"route": "*", "mode": "latency", "delayMs": 500, "ratio": 0.01, "times": 1000000}
    {"route": "*", "mode": "latency", "p50Ms": 20, "p99Ms": 100, "times": 1000000}

The layer wraps the whole app, outside Starlette's error handling, so that a
reset reaches the connection itself and no route, middleware or metric runs for
a call that fails or hangs on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import re
import socket
import struct
from http import HTTPStatus
from statistics import NormalDist
from typing import Annotated, Literal, Self

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import Field, model_validator
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.context import CORRELATION_HEADER
from shared.logging import get_logger
from shared.web.middleware import HttpMiddleware
from shared.web.problems import PROBLEM_JSON
from shared.web.schemas import JsonInteger, RequestBody

log = get_logger(__name__)

RouteFaultMode = Literal["latency", "error", "hang", "reset"]
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
EVERY_ROUTE = "*"

_Z99 = NormalDist().inv_cdf(0.99)
"""How many standard deviations the 99th percentile lies above the median."""


class RouteFaultRule(RequestBody):
    """A fault for calls to one route (or every route) of the component."""

    route: str = Field(
        description="a path as this document spells it (`/api/v1/users/{user_id}`), "
        "or `*` for every API route"
    )
    method: HttpMethod | None = Field(default=None, description="only calls with this method")
    mode: RouteFaultMode
    ratio: Annotated[
        float, Field(gt=0, le=1, description="the share of matching calls it applies to")
    ] = 1.0
    times: Annotated[
        int,
        Field(ge=1, le=1_000_000, description="calls it applies to, then it is gone"),
        JsonInteger,
    ] = 1
    delay_ms: Annotated[
        int, Field(ge=0, le=600_000, description="latency: a fixed wait"), JsonInteger
    ] = 0
    p50_ms: Annotated[
        float | None, Field(gt=0, le=600_000, description="latency: the median of the wait")
    ] = None
    p99_ms: Annotated[
        float | None,
        Field(gt=0, le=600_000, description="latency: the 99th percentile of the wait"),
    ] = None
    status: Annotated[
        int, Field(ge=400, le=599, description="error: the status answered"), JsonInteger
    ] = 503

    @model_validator(mode="after")
    def _one_latency(self) -> Self:
        distribution = (self.p50_ms, self.p99_ms)
        if None in distribution and distribution != (None, None):
            raise ValueError("p50Ms and p99Ms go together")
        if self.p50_ms is not None and self.p99_ms is not None:
            if self.p99_ms < self.p50_ms:
                raise ValueError("p99Ms must not be below p50Ms")
            if self.delay_ms:
                raise ValueError("give delayMs or p50Ms and p99Ms, not both")
        if self.mode != "latency" and (self.delay_ms or self.p50_ms is not None):
            raise ValueError(f"a {self.mode} fault takes no latency")
        return self

    def matches(self, method: str, template: str) -> bool:
        return (self.route in (EVERY_ROUTE, template)) and self.method in (None, method)

    def wait(self, draw: random.Random) -> float:
        """Seconds a ``latency`` fault waits this time."""
        if self.p50_ms is None or self.p99_ms is None:
            return self.delay_ms / 1000
        sigma = math.log(self.p99_ms / self.p50_ms) / _Z99
        return draw.lognormvariate(math.log(self.p50_ms), sigma) / 1000


class RouteFaults:
    """The route rules of one component, and the choice of the one a call meets."""

    def __init__(self, routes: tuple[str, ...] = (), *, draw: random.Random | None = None) -> None:
        self.routes = routes
        """The paths rules may name (besides ``*``)."""
        # The most specific first (``/users/login`` before ``/users/{user_id}``),
        # as the router would choose.
        self._patterns = sorted(
            ((_pattern(path), path) for path in routes), key=lambda p: p[1].count("{")
        )
        self.rules: list[RouteFaultRule] = []
        self._draw = draw or random.Random()

    def add(self, rule: RouteFaultRule) -> None:
        self.rules.append(rule)

    def clear(self) -> None:
        self.rules.clear()

    def take(self, method: str, template: str) -> RouteFaultRule | None:
        """The rule this call meets, counted; ``None`` when it goes through untouched."""
        for index, rule in enumerate(self.rules):
            if not rule.matches(method, template):
                continue
            if rule.ratio < 1 and self._draw.random() >= rule.ratio:
                continue
            if rule.times > 1:
                self.rules[index] = rule.model_copy(update={"times": rule.times - 1})
            else:
                del self.rules[index]
            return rule
        return None

    def wait(self, rule: RouteFaultRule) -> float:
        return rule.wait(self._draw)

    def template_of(self, path: str) -> str | None:
        """The API path template ``path`` belongs to, if any."""
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        return None


def api_routes(app: FastAPI, prefix: str) -> tuple[str, ...]:
    """The documented paths under ``prefix`` that faults may name (not ``/_faults`` itself).

    Read from the routes the OpenAPI document is made of, not from the document:
    making it costs a component's start-up a second, and it is made anew once the
    ``/_faults`` routes are added anyway."""
    documented = {
        str(context.path_format)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and context.include_in_schema
    }
    return tuple(
        sorted(
            path for path in documented if path.startswith(prefix) and not path.endswith("/_faults")
        )
    )


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + _PARAMETER.sub(r"[^/]+", re.escape(template)) + "$", re.DOTALL)


_PARAMETER = re.compile(r"\\\{[^}]*\\\}")
"""A ``{name}`` of a path template, once :func:`re.escape` went over it."""


class RouteFaultsMiddleware(HttpMiddleware):
    """Applies :class:`RouteFaults` to the calls of ``app`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, faults: RouteFaults) -> None:
        super().__init__(app)
        self.faults = faults

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.faults.rules:
            await self.app(scope, receive, send)
            return
        template = self.faults.template_of(scope["path"])
        rule = self.faults.take(scope["method"], template) if template else None
        if rule is None or template is None:
            await self.app(scope, receive, send)
            return
        log.warning("fault.injected", mode=rule.mode, route=template, method=scope["method"])
        if rule.mode == "latency":
            await asyncio.sleep(self.faults.wait(rule))
            await self.app(scope, receive, send)
        elif rule.mode == "error":
            await _answer_problem(scope, send, rule.status, template)
        elif rule.mode == "hang":
            await _until_disconnected(receive)
        else:
            await _reset(send, receive)


async def _answer_problem(scope: Scope, send: Send, status: int, template: str) -> None:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = json.dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": f"injected fault: HTTP {status} on {scope['method']} {template}",
            "instance": scope["path"],
        }
    ).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    correlation = CORRELATION_HEADER.lower().encode()
    headers += [(k, v) for k, v in scope["headers"] if k == correlation]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _until_disconnected(receive: Receive) -> None:
    """Read (and drop) the request until the client goes away."""
    while (await receive())["type"] != "http.disconnect":
        pass


_LINGER_ZERO = struct.pack("ii", 1, 0)
"""``SO_LINGER`` on, for no time: closing the socket sends a reset, not a goodbye."""


async def _reset(send: Send, receive: Receive) -> None:
    """Reset the connection under the call.  The server's own ``send`` leads to its
    connection (uvicorn's request cycle holds it as ``transport``); with no
    connection to reach (in process) the call fails instead."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.Transport):
        raise ConnectionResetError("injected fault: connection reset")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # a plain close then: still no answer
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    transport.abort()
    # The server learns the connection is gone and stops expecting an answer.
    await _until_disconnected(receive)


def install_route_faults(app: FastAPI, faults: RouteFaults) -> None:
    """Wrap ``app`` (outside its error handling) with the layer applying ``faults``."""
    build = app.build_middleware_stack

    def build_with_faults() -> ASGIApp:
        return RouteFaultsMiddleware(build(), faults=faults)

    app.build_middleware_stack = build_with_faults  # type: ignore[method-assign]
