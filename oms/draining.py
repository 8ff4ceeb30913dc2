"""Requests in flight when a component stops: they finish, or answer 503.

:class:`Draining` wraps a component's ASGI app.  Once :meth:`Draining.drain`
is called, a request still running when its budget is up is cancelled and
answered ``503`` (problem+json, ``Retry-After``) if nothing was sent yet; one
whose answer is already streaming (server-sent events) is ended soon after,
since it would never end by itself; a request arriving meanwhile on a
kept-alive connection is answered 503 at once.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import get_logger
from shared.web.problems import PROBLEM_JSON

log = get_logger(__name__)

STREAM_CUTOFF_SECONDS = 0.5
"""How long an answer already being streamed may go on once draining begins."""
RETRY_AFTER_SECONDS = 2
"""What a 503 answered while stopping tells the caller: another instance, or
this one restarted, will answer by then."""


class Draining:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._draining = False
        self._in_flight: dict[asyncio.Timeout, bool] = {}
        """Each running request's timeout, and whether its answer has started."""

    def drain(self, seconds: float) -> None:
        """From now on, new requests answer 503 and running ones have ``seconds`` left."""
        self._draining = True
        loop = asyncio.get_running_loop()
        for timeout, started in self._in_flight.items():
            cutoff = min(seconds, STREAM_CUTOFF_SECONDS) if started else seconds
            timeout.reschedule(loop.time() + cutoff)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._draining:
            await _unavailable(send, "the service is stopping")
            return
        started = False
        timeout = asyncio.timeout(None)

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                self._in_flight[timeout] = True
            await send(message)

        try:
            async with timeout:
                self._in_flight[timeout] = False
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            # Only draining sets a deadline on the timeout: the component is stopping.
            log.warning("http.cut_short_by_shutdown", path=scope.get("path"), answered=started)
            if not started:
                await _unavailable(send, "the service stopped before it could answer")
        finally:
            self._in_flight.pop(timeout, None)


async def _unavailable(send: Send, detail: str) -> None:
    body = json.dumps(
        {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": detail}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
