"""RabbitMQ drops every connection in the middle of a stream: nothing is lost and
nothing takes effect twice."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared.messages import OrderConfirmed
from shared.messaging.amqp import AmqpTransport
from shared.messaging.endpoint import Endpoint
from shared.messaging.envelope import Envelope
from shared.messaging.topology import Binding, QueueSpec, standard_topology
from shared.persistence.database import Database
from shared.persistence.outbox import OutboxRelay, UnitOfWork
from tests.support.infra import RabbitVhost, eventually
from tests.support.ledger import LedgerEntry, create_schema, ledger_counts

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]
MESSAGES = 1000


async def test_consumer_survives_closed_connections_mid_stream(
    rabbit_vhost: RabbitVhost, postgres_url: str
) -> None:
    transport = AmqpTransport(rabbit_vhost.url)
    await transport.connect()
    queue = QueueSpec("test.stream", (Binding("orders", "order.confirmed"),))
    await transport.declare(standard_topology().with_queues(queue))
    db = Database(postgres_url, schema="stream")
    await create_schema(db)
    relay = OutboxRelay(db, transport, sweep_seconds=0.2)
    endpoint = Endpoint("stream", queue=queue.name, db=db, relay=relay)

    @endpoint.handles(OrderConfirmed)
    async def record(uow: UnitOfWork, message: OrderConfirmed, envelope: Envelope) -> None:
        uow.session.add(LedgerEntry(key=envelope.message_id))

    await endpoint.start(transport, prefetch=50)
    async with UnitOfWork(db, app_id="test") as uow:
        for _ in range(MESSAGES):
            uow.send(OrderConfirmed(order_id=str(uuid.uuid4())))

    try:
        async with relay.running():
            relay.notify()
            await eventually(
                lambda: ledger_counts(db), until=lambda c: c[0] >= 100, what="stream under way"
            )
            await asyncio.to_thread(rabbit_vhost.close_connections)
            counts = await eventually(
                lambda: ledger_counts(db),
                until=lambda c: c[1] == MESSAGES,
                timeout=60,
                what="all messages processed after the reconnect",
            )
            assert counts == (MESSAGES, MESSAGES), "a message took effect twice"
            # Redeliveries still queued would show up as duplicates; let them drain.
            await asyncio.sleep(0)
            assert await ledger_counts(db) == (MESSAGES, MESSAGES)
    finally:
        await transport.close()
        await db.dispose()
