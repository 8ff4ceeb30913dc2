"""Watching what a service publishes: a test queue bound to its event exchange."""

from __future__ import annotations

import asyncio

from shared.messages import Message
from shared.messaging.envelope import Envelope
from shared.messaging.topology import Binding, QueueSpec, standard_topology
from shared.messaging.transport import Incoming, Transport
from tests.support.infra import eventually


class Replies:
    """Every message published on ``exchange``, in arrival order."""

    def __init__(self) -> None:
        self.seen: list[Envelope] = []

    @classmethod
    async def listen(cls, transport: Transport, exchange: str) -> Replies:
        queue = QueueSpec(f"test.{exchange}", (Binding(exchange, "#"),))
        await transport.declare(standard_topology(transport.delivery_limit).with_queues(queue))
        replies = cls()
        await transport.consume(queue.name, replies)
        return replies

    async def __call__(self, incoming: Incoming) -> None:
        self.seen.append(incoming.envelope)

    def about(self, correlation_id: str) -> list[Envelope]:
        """What was published about one order (or product) so far."""
        return [e for e in self.seen if e.correlation_id == correlation_id]

    async def wait(
        self,
        correlation_id: str,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - a polling budget, not a cancellation scope
    ) -> list[Envelope]:
        """The first ``count`` messages about ``correlation_id``, waiting for them."""
        found = await eventually(
            lambda: asyncio.sleep(0, self.about(correlation_id)),
            until=lambda seen: len(seen) >= count,
            timeout=timeout,
            what=f"{count} message(s) about {correlation_id}",
        )
        return found[:count]

    async def one(self, correlation_id: str) -> tuple[Envelope, Message]:
        """The first message about ``correlation_id``, decoded."""
        [envelope] = await self.wait(correlation_id)
        return envelope, envelope.decode()
