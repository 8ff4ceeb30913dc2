from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from bff.downstream import DownstreamClient, DownstreamConfig
from shared.clock import Clock
from tests.unit.bff.downstream.fakes import ClientFactory

# Fast backoff so retry tests spend their time on behaviour, not sleeping.
FAST_RETRIES: dict[str, Any] = {"backoff_initial": 0.001, "backoff_max": 0.005, "timeout": 1.0}


@pytest.fixture
def router() -> respx.MockRouter:
    """Mocked downstreams; each client ``NAME`` lives at ``http://NAME.test``."""
    return respx.MockRouter(assert_all_called=False)


@pytest.fixture
async def make_client(router: respx.MockRouter) -> AsyncIterator[ClientFactory]:
    """Build clients talking to ``router``; all are closed after the test."""
    clients: list[DownstreamClient] = []

    def make(
        name: str = "inventory", *, clock: Clock | None = None, **config: Any
    ) -> DownstreamClient:
        settings = DownstreamConfig(base_url=f"http://{name}.test", **{**FAST_RETRIES, **config})
        transport = httpx.MockTransport(router.async_handler)
        client = (
            DownstreamClient(name, settings, transport=transport, clock=clock)
            if clock is not None
            else DownstreamClient(name, settings, transport=transport)
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
