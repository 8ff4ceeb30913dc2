"""Running components in tests: the embedded stack (in-process transport and
SQLite) and the real one (RabbitMQ and PostgreSQL), with one fixture for both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from shared.auth import mint_token
from shared.messaging.transport import Transport
from shared.service import Transports
from shared.settings import Settings

TEST_JWT_SECRET = "test-secret-with-enough-bytes-for-hs256"
TEST_PATIENCE = {"bff_call_timeout_seconds": 5.0, "bff_request_deadline_seconds": 5.0}
"""A BFF's call to a service in tests, and a whole read, may take the write deadline
(5 s), not 2 s and 1.5 s: on two cores shared by four test workers a sign-up or a
listing can take longer.  The scenario library keeps the BFFs' own read deadline
(``tests/support/scenarios.py``): its scenarios are about it."""
ON_POSTGRES_ONLY = pytest.mark.parametrize(
    "stack",
    [pytest.param("real", marks=[pytest.mark.rabbitmq, pytest.mark.postgres])],
    indirect=True,
)
"""For a test whose subject is what people read (a page's wording, the CLI's output,
a report's layout), which both stacks render alike: it runs on RabbitMQ and
PostgreSQL only, and the tests of the stacks' behaviour keep running on both."""

TEST_POOLS = {
    "db_pool_size": 5,
    "saga_db_pool_size": 6,
    "bff_db_pool_size": 2,
    "card_provider_db_pool_size": 2,
}
"""PostgreSQL pools of a test stack: at most 32 connections a stack (four services,
the saga, both BFFs, the provider) where the settings' defaults would open 54, so
four test workers stay near a server allowing 100 (pools open connections only as
they are needed; three a service made a burst of concurrent sagas wait past the
pool timeout on a busy machine)."""


@dataclass
class Stack:
    kind: str
    """``embedded`` (in-process + SQLite) or ``real`` (RabbitMQ + PostgreSQL)."""
    settings: Settings
    transport: Transport
    """The tests' own: publishing by hand, listening (the administrator's on RabbitMQ)."""
    transports: Transports | None = None
    """The components' (:meth:`for_component`)."""

    def for_component(self, name: str) -> Transport:
        """The transport ``name`` runs on: its own broker user on RabbitMQ, a view of
        the in-process transport as a user named after it in embedded mode."""
        if self.transports is None:
            return self.transport
        return self.transports.for_component(name)

    def token(self, sub: str, *roles: str) -> str:
        return mint_token(self.settings.jwt_key, sub=sub, roles=list(roles) or ["customer"])

    def auth(self, sub: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, *roles)}"}

    def ops(self) -> dict[str, str]:
        return self.auth("ops-user", "ops")


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan (migrations, relay, consumers) and talk to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@asynccontextmanager
async def on_socket(app: FastAPI, settings: Settings | None = None) -> AsyncIterator[str]:
    """Serve an app whose lifespan already runs (see :func:`serve`) on a real
    socket too, for clients that need one (a browser, a CLI); yields its URL.
    With ``settings`` uvicorn is configured as ``oms up`` configures it."""
    from oms.serving import server_config, serving

    if settings is None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None)
    else:
        local = settings.model_copy(update={"host": "127.0.0.1"})
        config = server_config(app, local, 0, lifespan="off")
    async with serving(config) as url:
        yield url
