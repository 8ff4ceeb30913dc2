"""The five services a BFF calls, one resilient client each.

Built once in a BFF's lifespan from :meth:`Settings.url_for`, closed on shutdown.
``on_hedge`` hears of every hedged read (see :class:`DownstreamClient`).
``transports`` replaces the network for chosen services: tests hand in
``httpx.ASGITransport(app=service_app)`` to run a service in-process, or a
respx/``MockTransport`` to play one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import httpx

from bff.downstream import (
    DownstreamClient,
    DownstreamConfig,
    DownstreamError,
    request_deadline,
)
from shared.settings import SERVICES, Settings
from shared.web.app import ReadyCheck

READY_PROBE_SECONDS = 1.0
"""How long a readiness probe waits for one service's ``/health/live``."""


class Downstreams:
    """One :class:`DownstreamClient` per service, reachable as attributes or by name."""

    def __init__(
        self,
        settings: Settings,
        *,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        on_hedge: Callable[[str, str], None] | None = None,
    ) -> None:
        unknown = set(transports or {}) - set(SERVICES)
        if unknown:
            raise ValueError(f"no such downstream service: {', '.join(sorted(unknown))}")
        wired = dict(transports or {})
        self._clients = {
            name: DownstreamClient(
                name,
                DownstreamConfig(
                    base_url=settings.url_for(name),
                    timeout=settings.bff_call_timeout_seconds,
                    hedge_budget=settings.bff_hedge_budget,
                    coalesce_reads=settings.bff_coalesce_reads,
                ),
                transport=wired.get(name),
                on_hedge=on_hedge,
            )
            for name in SERVICES
        }
        self.orders = self._clients["orders"]
        self.inventory = self._clients["inventory"]
        self.users = self._clients["users"]
        self.payments = self._clients["payments"]
        self.saga = self._clients["saga"]

    def __getitem__(self, name: str) -> DownstreamClient:
        return self._clients[name]

    def __iter__(self) -> Iterator[DownstreamClient]:
        return iter(self._clients.values())

    def ready_checks(self) -> dict[str, ReadyCheck]:
        """A readiness check per service: does its ``/health/live`` answer?"""
        return {name: _live_probe(client) for name, client in self._clients.items()}

    async def aclose(self) -> None:
        """Close every connection pool."""
        for client in self._clients.values():
            await client.aclose()


def _live_probe(client: DownstreamClient) -> ReadyCheck:
    async def probe() -> bool:
        try:
            async with request_deadline(READY_PROBE_SECONDS):
                await client.get_json("/health/live")
        except (DownstreamError, TimeoutError):
            return False
        return True

    return probe
