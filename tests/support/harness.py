"""One domain service running in a test, on either stack: the harness every
service's conftest builds its own test view on.

:func:`running` starts the app with its lifespan (migrations, relay, consumers),
listens on the service's event exchange, and hands the test a
:class:`ServiceUnderTest` subclass holding the HTTP client, the service (its
database) and what it published.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from sqlmodel import func, select

from shared.messages import Command
from shared.messaging.envelope import Envelope
from shared.messaging.transport import Transport
from shared.persistence.messaging_tables import InboxRow
from shared.service import Service
from shared.settings import Settings
from shared.web.app import API_PREFIX
from tests.support.replies import Replies
from tests.support.stack import Stack, serve


def new_order() -> str:
    """A fresh order id, as the orders service would mint one."""
    return str(uuid.uuid4())


Build = Callable[[Settings, Transport], FastAPI]
"""A service's ``build_app`` (with any test-only arguments bound)."""


@dataclass
class ServiceUnderTest:
    """A service under test: its HTTP client, its database and what it published."""

    stack: Stack
    client: httpx.AsyncClient
    service: Service
    replies: Replies

    async def send(self, command: Command, *, message_id: str | None = None) -> Envelope:
        """Publish a command as the saga would, correlated by its order id."""
        order_id: str = getattr(command, "order_id")  # noqa: B009 - every command has one
        envelope = Envelope.wrap(
            command, app_id="test", correlation_id=order_id, message_id=message_id
        )
        await self.stack.transport.publish(envelope)
        return envelope

    async def inbox_count(self, message_id: str) -> int:
        """How often the service recorded ``message_id`` as processed (0 or 1)."""
        async with self.service.db.sessions() as session:
            count = await session.exec(
                select(func.count()).select_from(InboxRow).where(InboxRow.message_id == message_id)
            )
            return int(count.one())

    async def add_fault(self, message: str, mode: str, **options: Any) -> dict[str, Any]:
        """Add a fault rule on ``message`` as ops (``options``: ``times``, ``delayMs``, …)."""
        response = await self.client.post(
            f"{API_PREFIX}/_faults",
            json={"message": message, "mode": mode, **options},
            headers=self.stack.ops(),
        )
        assert response.status_code == 201, response.text
        rule: dict[str, Any] = response.json()
        return rule

    async def fault_rules(self) -> list[dict[str, Any]]:
        """The fault rules in force, as ops lists them."""
        response = await self.client.get(f"{API_PREFIX}/_faults", headers=self.stack.ops())
        assert response.status_code == 200, response.text
        rules: list[dict[str, Any]] = response.json()
        return rules


Harness = TypeVar("Harness", bound=ServiceUnderTest)


@asynccontextmanager
async def running(
    kind: type[Harness],
    stack: Stack,
    build: Build,
    exchange: str,
    *,
    extra: dict[str, Any] | None = None,
    **settings: Any,
) -> AsyncIterator[Harness]:
    """The app ``build`` makes on ``stack`` with ``settings`` overridden, its
    lifespan running, seen as ``kind`` (given ``extra`` fields too), with every
    message published on ``exchange`` recorded from before it starts."""
    app = build(stack.settings.model_copy(update=settings), stack.transport)
    replies = await Replies.listen(stack.transport, exchange)
    async with serve(app) as client:
        yield kind(
            stack=stack, client=client, service=app.state.service, replies=replies, **(extra or {})
        )
