"""Test doubles for the downstream toolkit: a hand-driven clock and a slow service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from bff.downstream import DownstreamClient

ClientFactory = Callable[..., DownstreamClient]
"""The ``make_client`` fixture: ``make_client(name="inventory", *, clock=None, **config)``."""


class SlowService:
    """A respx side effect that answers after a delay.

    It counts requests as they *arrive*: respx itself only records calls that
    got an answer, not those cancelled while the service was still "working".
    ``delays`` gives each request's delay in turn, the last one repeating; with a
    ``gate``, it also holds every answer until the gate is set.
    It also records the most requests it was ever serving at once.
    """

    def __init__(
        self,
        delays: float | Sequence[float],
        *,
        status: int = 200,
        json: Any = None,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.delays = [delays] if isinstance(delays, int | float) else list(delays)
        self.status = status
        self.json = json
        self.gate = gate
        self.received: list[httpx.Request] = []
        self.in_flight = 0
        self.peak_in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        delay = self.delays[min(len(self.received), len(self.delays) - 1)]
        self.received.append(request)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(delay)
            if self.gate is not None:
                await self.gate.wait()
        finally:
            self.in_flight -= 1
        body = self.json if self.json is not None else {"path": request.url.path}
        return httpx.Response(self.status, json=body)

    async def arrived(self) -> int:
        """How many requests have arrived so far (a probe for ``eventually``)."""
        return len(self.received)
