"""Readiness tells the truth about consumers: a component whose consumer has work in
flight and settles none of it for ``consumer_stall_seconds`` answers 503 at
``/health/ready`` and names the queue; once it moves again it is ready again."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from saga.app import HERE as SAGA_HOME
from shared.messages import OrderConfirmed
from shared.messaging.envelope import Envelope
from shared.messaging.topology import Binding, QueueSpec, Topology
from shared.messaging.transport import Incoming
from shared.service import Service
from tests.support.infra import eventually
from tests.support.stack import Stack, serve
from tests.support.system import problem_of

EXCHANGE = "readiness"
QUEUE = "readiness.work"
STALL_SECONDS = 0.5
SAGA_MIGRATIONS = SAGA_HOME / "migrations"


def job() -> Envelope:
    order_id = str(uuid.uuid4())
    return Envelope(
        message_id=str(uuid.uuid4()),
        type="order.confirmed",
        correlation_id=order_id,
        app_id="test",
        body=OrderConfirmed(order_id=order_id).model_dump_json(by_alias=True).encode(),
        exchange=EXCHANGE,
        routing_key="job",
    )


async def test_a_stalled_consumer_makes_its_component_not_ready_naming_the_queue(
    stack: Stack,
) -> None:
    settings = stack.settings.model_copy(update={"consumer_stall_seconds": STALL_SECONDS})
    # Any component's tables will do: its outbox relay has something to sweep.
    service = Service("readiness", settings, stack.transport, migrations=SAGA_MIGRATIONS)
    release = asyncio.Event()
    handled: list[str] = []

    async def blocking(incoming: Incoming) -> None:
        await release.wait()
        handled.append(incoming.envelope.message_id)

    async def consume() -> None:
        await stack.transport.declare(
            Topology(exchanges=(EXCHANGE,), queues=(QueueSpec(QUEUE, (Binding(EXCHANGE, "job"),)),))
        )
        service.subscriptions.append(await stack.transport.consume(QUEUE, blocking, prefetch=2))

    service.on_start.append(consume)
    async with serve(service.app(routers=[])) as client:

        async def ready() -> Any:
            return await client.get("/health/ready")

        idle = await ready()
        assert idle.status_code == 200, idle.text
        assert idle.json()["checks"][f"consumer {QUEUE}"] is True

        sent = [job() for _ in range(3)]  # two in flight, one waiting behind them
        for envelope in sent:
            await stack.transport.publish(envelope)
        stalled = await eventually(
            ready, until=lambda r: r.status_code == 503, what="readiness to report the stall"
        )
        problem = problem_of(stalled, 503)
        assert QUEUE in problem["detail"]
        assert problem["checks"] == {
            "database": True,
            "broker": True,
            f"consumer {QUEUE}": False,
        }
        assert handled == []

        release.set()
        await eventually(
            lambda: asyncio.sleep(0, handled), until=lambda h: len(h) == 3, what="all handled"
        )
        recovered = await ready()
        assert recovered.status_code == 200, recovered.text
        assert sorted(handled) == sorted(e.message_id for e in sent)
