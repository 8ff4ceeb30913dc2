"""RabbitMQ drops every connection in the middle of a stream: nothing is lost and
nothing takes effect twice."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
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
    # The management API lists connections with a lag: know the first one before the stream.
    first = await eventually(
        lambda: asyncio.to_thread(rabbit_vhost.connection_names), what="the connection listed"
    )
    async with UnitOfWork(db, app_id="test") as uow:
        for _ in range(MESSAGES):
            uow.send(OrderConfirmed(order_id=str(uuid.uuid4())))

    try:
        async with relay.running():
            relay.notify()
            await eventually(
                lambda: ledger_counts(db), until=lambda c: c[0] >= 100, what="stream under way"
            )
            before_close, _ = await ledger_counts(db)
            closed = await asyncio.to_thread(rabbit_vhost.close_connections)
            assert closed == first, f"closed {closed}, the transport's connection was {first}"
            assert 0 < before_close < MESSAGES, f"closed after {before_close} messages"

            counts = await eventually(
                lambda: ledger_counts(db),
                until=lambda c: c[1] == MESSAGES,
                timeout=60,
                what="all messages processed after the reconnect",
            )
            assert counts == (MESSAGES, MESSAGES), "a message took effect twice"
            # The broker lists a new connection, none of the closed ones (the listing lags
            # the broker by a few seconds, so it is not counted: it may still show a
            # connection the client tried and dropped while reconnecting).
            await eventually(
                lambda: asyncio.to_thread(rabbit_vhost.connection_names),
                until=lambda names: bool(names) and not set(names) & set(closed),
                what="a new connection in place of the closed one",
            )
            # Redeliveries of what was unacknowledged at the close would show up as
            # duplicates. Wait until the queue holds nothing ready, stop consuming (the
            # close waits for handlers in flight), then ask the broker itself: anything
            # still unacknowledged went back to the queue with the consumer. (The
            # management API's ack counter is no witness: acks a channel made after its
            # last statistics report are not counted once the broker closed it.)
            await eventually(
                lambda: ready_messages(rabbit_vhost.url, queue.name),
                until=lambda ready: ready == 0,
                timeout=30,
                what="nothing ready in the queue",
            )
            await transport.close()
            assert await ready_messages(rabbit_vhost.url, queue.name) == 0, (
                "a delivery was never acknowledged"
            )
            assert await ledger_counts(db) == (MESSAGES, MESSAGES)
    finally:
        await transport.close()
        await db.dispose()


async def ready_messages(url: str, queue: str) -> int:
    """How many messages ``queue`` holds ready, from the broker (a passive declare on
    a connection of its own; the management API lags)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


async def test_readiness_says_the_broker_is_gone_as_soon_as_it_closed_the_connection(
    rabbit_vhost: RabbitVhost,
) -> None:
    """``healthy`` (what ``/health/ready`` asks) turns false when the broker closes the
    connection, not once the client gives up reconnecting; and true again after."""
    transport = AmqpTransport(rabbit_vhost.url, reconnect_interval=10.0)
    await transport.connect()
    try:
        assert await transport.healthy()
        await eventually(
            lambda: asyncio.to_thread(rabbit_vhost.connection_names), what="the connection listed"
        )
        await asyncio.to_thread(rabbit_vhost.close_connections)
        # Well before the reconnect (10 s) is even tried.
        await eventually(
            transport.healthy, until=lambda up: not up, timeout=5, what="readiness to drop"
        )
        await eventually(transport.healthy, timeout=30, what="readiness back after the reconnect")
    finally:
        await transport.close()
