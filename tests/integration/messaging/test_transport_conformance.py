"""One suite, both transports: what OMS relies on from a message broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared.messages import OrderConfirmed
from shared.messaging.envelope import HEADER_DEAD_LETTER_REASON, Envelope
from shared.messaging.topology import Binding, QueueSpec, Topology
from shared.messaging.transport import Incoming, PublishError, Transport
from tests.support.infra import eventually

EXCHANGE = "conformance"


def envelope(
    routing_key: str, *, type_: str = "order.confirmed", body: bytes | None = None
) -> Envelope:
    order_id = str(uuid.uuid4())
    return Envelope(
        message_id=str(uuid.uuid4()),
        type=type_,
        correlation_id=order_id,
        app_id="test",
        body=body
        if body is not None
        else OrderConfirmed(order_id=order_id).model_dump_json(by_alias=True).encode(),
        exchange=EXCHANGE,
        routing_key=routing_key,
    )


def topology(*queues: QueueSpec, delivery_limit: int = 3) -> Topology:
    return Topology(exchanges=(EXCHANGE,), queues=queues, delivery_limit=delivery_limit)


class Letters:
    def __init__(self) -> None:
        self.seen: list[Envelope] = []

    async def __call__(self, envelope: Envelope) -> None:
        self.seen.append(envelope)


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Incoming] = []

    async def __call__(self, incoming: Incoming) -> None:
        self.seen.append(incoming)

    def keys(self) -> list[str]:
        return sorted(i.envelope.routing_key for i in self.seen)


async def test_topic_routing_honours_star_and_hash(transport: Transport) -> None:
    await transport.declare(
        topology(
            QueueSpec("star", (Binding(EXCHANGE, "order.*"),)),
            QueueSpec("hash", (Binding(EXCHANGE, "order.#"),)),
            QueueSpec("middle", (Binding(EXCHANGE, "*.paid.*"),)),
        )
    )
    star, hash_, middle = Recorder(), Recorder(), Recorder()
    await transport.consume("star", star)
    await transport.consume("hash", hash_)
    await transport.consume("middle", middle)

    for key in ["order", "order.created", "order.paid.eu", "invoice.paid.eu", "orders.created"]:
        await transport.publish(envelope(key), mandatory=False)

    await eventually(
        lambda: asyncio.sleep(0, hash_.keys()), until=lambda k: len(k) == 3, what="hash deliveries"
    )
    await eventually(
        lambda: asyncio.sleep(0, middle.keys()), until=lambda k: len(k) == 2, what="middle"
    )
    await eventually(
        lambda: asyncio.sleep(0, star.keys()), until=lambda k: len(k) == 1, what="star"
    )
    assert star.keys() == ["order.created"]
    assert hash_.keys() == ["order", "order.created", "order.paid.eu"]
    assert middle.keys() == ["invoice.paid.eu", "order.paid.eu"]


async def test_failing_handler_is_redelivered_then_dead_lettered_with_reason(
    transport: Transport,
) -> None:
    await transport.declare(
        topology(QueueSpec("work", (Binding(EXCHANGE, "job"),)), delivery_limit=3)
    )
    attempts: list[int] = []

    async def failing(incoming: Incoming) -> None:
        attempts.append(incoming.attempt)
        raise RuntimeError("warehouse unreachable")

    dead = Letters()
    await transport.consume("work", failing)
    await transport.consume_envelopes("work.dlq", dead)
    sent = envelope("job")
    await transport.publish(sent)

    await eventually(lambda: asyncio.sleep(0, dead.seen), what="dead letter")
    assert attempts == [1, 2, 3]
    [letter] = dead.seen
    assert letter.message_id == sent.message_id
    reason = letter.headers[HEADER_DEAD_LETTER_REASON]
    assert "warehouse unreachable" in reason
    assert "3 times" in reason


@pytest.mark.parametrize(
    ("type_", "body", "reason"),
    [
        ("order.confirmed", b"{not json", "not JSON"),
        ("order.confirmed", b'{"orderId": 42}', "orderId"),
        ("order.teleported", b"{}", "unknown message type"),
    ],
    ids=["malformed-json", "fails-validation", "unknown-type"],
)
async def test_unprocessable_message_is_dead_lettered_at_once_and_consumer_goes_on(
    transport: Transport, type_: str, body: bytes, reason: str
) -> None:
    await transport.declare(topology(QueueSpec("work", (Binding(EXCHANGE, "job"),))))
    good, dead = Recorder(), Letters()
    await transport.consume("work", good)
    await transport.consume_envelopes("work.dlq", dead)

    bad = envelope("job", type_=type_, body=body)
    await transport.publish(bad)
    follow_up = envelope("job")
    await transport.publish(follow_up)

    await eventually(lambda: asyncio.sleep(0, good.seen), what="the next good message")
    await eventually(lambda: asyncio.sleep(0, dead.seen), what="the dead letter")
    assert [i.envelope.message_id for i in good.seen] == [follow_up.message_id]
    assert [d.message_id for d in dead.seen] == [bad.message_id]
    assert reason in dead.seen[0].headers[HEADER_DEAD_LETTER_REASON]


async def test_publish_refused_by_broker_raises(transport: Transport) -> None:
    await transport.declare(topology(QueueSpec("tiny", (Binding(EXCHANGE, "job"),), max_length=1)))
    outcomes = []
    for _ in range(3):  # RabbitMQ's quorum queues enforce the limit one message late
        try:
            await transport.publish(envelope("job"))
            outcomes.append("confirmed")
        except PublishError:
            outcomes.append("refused")
    assert outcomes[0] == "confirmed"
    assert outcomes[-1] == "refused"


async def test_unroutable_mandatory_publish_raises(transport: Transport) -> None:
    await transport.declare(topology(QueueSpec("work", (Binding(EXCHANGE, "job"),))))
    with pytest.raises(PublishError, match="unroutable"):
        await transport.publish(envelope("nobody.listens"))
