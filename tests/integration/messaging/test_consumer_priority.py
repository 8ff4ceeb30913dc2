"""Replicas at different consumer priorities: the broker hands a queue's deliveries
to the higher one until its prefetch window is full, and only the overflow to the
lower, so the first replica's batches stay as full as a lone consumer's."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from shared.messaging.amqp import AmqpTransport
from shared.messaging.envelope import RawMessage
from shared.messaging.topology import Binding, QueueSpec, standard_topology
from tests.support.infra import RabbitVhost, eventually

pytestmark = pytest.mark.rabbitmq
QUEUE = QueueSpec("test.priority", (Binding("orders", "test.priority"),), dead_letter=False)
WINDOW = 4


async def test_the_higher_priority_takes_deliveries_until_its_window_is_full(
    rabbit_vhost: RabbitVhost,
) -> None:
    release = asyncio.Event()
    taken: Counter[str] = Counter()
    handled: list[str] = []
    high = AmqpTransport(rabbit_vhost.url, consumer_priority=10)
    low = AmqpTransport(rabbit_vhost.url, consumer_priority=1)

    def holding(name: str) -> Callable[[RawMessage], Awaitable[None]]:
        async def handle(raw: RawMessage) -> None:
            taken[name] += 1
            await release.wait()
            handled.append(str(raw.message_id))

        return handle

    async def taken_in_all() -> int:
        return sum(taken.values())

    async def handled_in_all() -> int:
        return len(handled)

    async def send(first: int, count: int) -> None:
        for n in range(first, first + count):
            raw = RawMessage(
                body=b"{}", message_id=str(n), exchange="orders", routing_key=QUEUE.name
            )
            await high.publish_raw(raw)

    await high.connect()
    await low.connect()
    try:
        await high.declare(standard_topology().with_queues(QUEUE))
        # The lower one subscribes first: order of subscription does not decide.
        await low.consume_raw(QUEUE.name, holding("low"), prefetch=WINDOW)
        await high.consume_raw(QUEUE.name, holding("high"), prefetch=WINDOW)

        await send(0, WINDOW - 1)
        await eventually(taken_in_all, until=lambda n: n == WINDOW - 1)
        assert taken == {"high": WINDOW - 1}

        await send(WINDOW - 1, 3)
        await eventually(taken_in_all, until=lambda n: n == WINDOW + 2)
        assert taken == {"high": WINDOW, "low": 2}

        release.set()
        await eventually(handled_in_all, until=lambda n: n == WINDOW + 2)
        assert sorted(handled, key=int) == [str(n) for n in range(WINDOW + 2)]
    finally:
        release.set()
        await low.close()
        await high.close()
