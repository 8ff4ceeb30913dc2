"""One suite, both transports: what OMS relies on from a message broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from structlog.testing import capture_logs

from shared.messages import OrderConfirmed
from shared.messaging.batching import Batching
from shared.messaging.envelope import (
    HEADER_CAUSATION,
    HEADER_DEAD_LETTER_REASON,
    HEADER_ORIGINAL_QUEUE,
    HEADER_SCHEMA_VERSION,
    MAX_BODY_BYTES,
    Envelope,
    RawMessage,
)
from shared.messaging.inprocess import InProcessTransport
from shared.messaging.topology import Binding, QueueSpec, Topology
from shared.messaging.transport import Incoming, PublishError, Transport
from tests.support.infra import RabbitVhost, eventually

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


class RawLetters:
    def __init__(self) -> None:
        self.seen: list[RawMessage] = []

    async def __call__(self, raw: RawMessage) -> None:
        self.seen.append(raw)


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


async def test_a_publisher_set_delivery_count_does_not_count_as_deliveries(
    transport: Transport,
) -> None:
    """Attempts count what the broker saw, not an ``x-delivery-count`` the publisher
    wrote: a first failure is retried, whatever the header says."""
    await transport.declare(
        topology(QueueSpec("work", (Binding(EXCHANGE, "job"),)), delivery_limit=3)
    )
    attempts: list[int] = []

    async def fails_once(incoming: Incoming) -> None:
        attempts.append(incoming.attempt)
        if len(attempts) == 1:
            raise RuntimeError("first try fails")

    dead = Letters()
    await transport.consume("work", fails_once)
    await transport.consume_envelopes("work.dlq", dead)
    sent = envelope("job").to_raw()
    forged = RawMessage(**{**sent.__dict__, "headers": {**sent.headers, "x-delivery-count": 99}})
    await transport.publish_raw(forged)  # type: ignore[attr-defined]

    await eventually(lambda: asyncio.sleep(0, attempts), until=lambda a: len(a) == 2)
    assert attempts == [1, 2]
    assert dead.seen == []


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


# --- deliveries no consumer can turn into a message ----------------------------

Change = dict[str, Any]
"""Envelope fields to replace on the wire; ``headers`` are merged into the good ones."""


def hand_made(routing_key: str, change: Change, **headers: str) -> RawMessage:
    """A good message as the wire carries it, with ``headers`` added and ``change`` applied."""
    good = envelope(routing_key).to_raw()
    fields: dict[str, Any] = {
        "body": good.body,
        "headers": {HEADER_CAUSATION: str(uuid.uuid4()), **good.headers, **headers},
        "message_id": good.message_id,
        "type": good.type,
        "correlation_id": good.correlation_id,
        "app_id": good.app_id,
        "timestamp": good.timestamp,
        "exchange": good.exchange,
        "routing_key": good.routing_key,
    }
    for key, value in change.items():
        if key == "headers" and isinstance(value, dict):
            fields["headers"].update(value)
        elif key == "drop_header":
            del fields["headers"][value]
        else:
            fields[key] = value
    return RawMessage(**fields)


# What both transports can carry: AMQP properties are strings on the wire, headers
# may hold any AMQP field type.
POISON_ON_ANY_WIRE: dict[str, tuple[Change, str]] = {
    "message_id-missing": ({"message_id": None}, "message_id: missing"),
    "message_id-empty": ({"message_id": ""}, "message_id: missing"),
    "message_id-too-long": ({"message_id": "m" * 65}, "message_id: String should have at most"),
    "message_id-nul": ({"message_id": "a\x00b"}, "message_id: String should match"),
    "type-missing": ({"type": None}, "type: missing"),
    "type-too-long": ({"type": "t" * 101}, "type: String should have at most"),
    "correlation_id-too-long": ({"correlation_id": "c" * 65}, "correlation_id: String"),
    "causation-int": ({"headers": {HEADER_CAUSATION: 5}}, "x-causation-id: Input should be"),
    "causation-bool": ({"headers": {HEADER_CAUSATION: True}}, "x-causation-id: Input should"),
    "causation-float": ({"headers": {HEADER_CAUSATION: 1.5}}, "x-causation-id: Input should"),
    "causation-not-utf8": ({"headers": {HEADER_CAUSATION: b"\xff\xfe"}}, "x-causation-id"),
    "causation-list": ({"headers": {HEADER_CAUSATION: ["a"]}}, "x-causation-id: Input should"),
    "causation-table": ({"headers": {HEADER_CAUSATION: {"a": "b"}}}, "x-causation-id: Input"),
    "causation-too-long": ({"headers": {HEADER_CAUSATION: "c" * 65}}, "x-causation-id: String"),
    "app_id-too-long": ({"app_id": "a" * 51}, "app_id: String should have at most"),
    "schema-version-text": ({"headers": {HEADER_SCHEMA_VERSION: "1"}}, "x-schema-version: Input"),
    "schema-version-bool": ({"headers": {HEADER_SCHEMA_VERSION: True}}, "x-schema-version"),
    "schema-version-zero": ({"headers": {HEADER_SCHEMA_VERSION: 0}}, "x-schema-version"),
    "schema-version-newer": ({"headers": {HEADER_SCHEMA_VERSION: 2}}, "x-schema-version"),
    "body-empty": ({"body": b""}, "body: missing"),
    "body-too-large": ({"body": b" " * (MAX_BODY_BYTES + 1)}, "body: Data should have at most"),
    "body-not-json": ({"body": b"\xff{"}, "body is not JSON"),
}

# Only a hand-made in-process message can hold these: AMQP coerces or refuses them.
POISON_IN_PROCESS_ONLY: dict[str, tuple[Change, str]] = {
    "message_id-int": ({"message_id": 5}, "message_id: Input should be a valid string"),
    "message_id-bytes": ({"message_id": b"\xff"}, "message_id: Input should be a valid string"),
    "type-int": ({"type": 7}, "type: Input should be a valid string"),
    "correlation_id-list": ({"correlation_id": ["x"]}, "correlation_id: Input should be"),
    "app_id-int": ({"app_id": 3}, "app_id: Input should be a valid string"),
    "timestamp-text": ({"timestamp": "yesterday"}, "timestamp: Input should be a valid datetime"),
    "timestamp-naive": ({"timestamp": datetime(2024, 1, 1)}, "timestamp: Input should have"),
    "timestamp-int": ({"timestamp": 1700000000}, "timestamp: Input should be a valid datetime"),
    "headers-not-a-table": ({"headers": ["traceparent"]}, "headers are not a table"),
    "body-text": ({"body": "{}"}, "body: Input should be a valid bytes"),
    "body-none": ({"body": None}, "body: missing"),
}

# Fields a message may leave out, or carry in a type nobody reads: processed.
USABLE: dict[str, Change] = {
    "correlation_id-missing": {"correlation_id": None},
    "causation-missing": {"drop_header": HEADER_CAUSATION},
    "app_id-missing": {"app_id": None},
    "timestamp-missing": {"timestamp": None},
    "schema-version-missing": {"drop_header": HEADER_SCHEMA_VERSION},
    "traceparent-int": {"headers": {"traceparent": 5, "x-extra": [1, 2]}},
}


Send = Callable[[RawMessage], Awaitable[None]]


@pytest.fixture
def send_raw(request: pytest.FixtureRequest, broker: str, transport: Transport) -> Send:
    """Put a hand-made message on the wire of ``transport``."""
    if broker == "inprocess":
        return transport.publish_raw
    vhost: RabbitVhost = request.getfixturevalue("rabbit_vhost")

    async def send(raw: RawMessage) -> None:
        if raw.message_id:
            await transport.publish_raw(raw)
            return
        # Without a message_id: only the management API sends one as it is.
        properties = {
            "type": raw.type,
            "correlation_id": raw.correlation_id,
            "app_id": raw.app_id,
            "headers": raw.headers,
            "delivery_mode": 2,
        }
        properties = {k: v for k, v in properties.items() if v is not None}
        vhost.publish(raw.exchange, raw.routing_key, raw.body, properties)

    return send


async def prove_poison_is_dead_lettered_and_consumer_goes_on(
    transport: Transport, send: Send, change: Change, reason: str
) -> None:
    await transport.declare(topology(QueueSpec("work", (Binding(EXCHANGE, "job"),))))
    good, dead = Recorder(), RawLetters()
    await transport.consume("work", good)
    await transport.consume_raw("work.dlq", dead)

    with capture_logs() as logs:
        await send(hand_made("job", change, x_poison="yes"))
        follow_up = envelope("job")
        await transport.publish(follow_up)
        await eventually(lambda: asyncio.sleep(0, good.seen), what="the next good message")
        await eventually(lambda: asyncio.sleep(0, dead.seen), what="the dead letter")

    assert [i.envelope.message_id for i in good.seen] == [follow_up.message_id]
    [letter] = dead.seen
    if isinstance(letter.headers, dict) and "headers" not in change:
        assert letter.headers["x_poison"] == "yes"
    assert letter.headers[HEADER_ORIGINAL_QUEUE] == "work"
    assert reason in letter.headers[HEADER_DEAD_LETTER_REASON]
    rejected = [e for e in logs if e["event"] == "message.rejected"]
    assert [(e["queue"], reason in e["reason"]) for e in rejected] == [("work", True)]


@pytest.mark.parametrize(
    ("change", "reason"), list(POISON_ON_ANY_WIRE.values()), ids=list(POISON_ON_ANY_WIRE)
)
async def test_a_delivery_with_an_unusable_envelope_field_is_dead_lettered_at_once(
    transport: Transport, send_raw: Send, change: Change, reason: str
) -> None:
    await prove_poison_is_dead_lettered_and_consumer_goes_on(transport, send_raw, change, reason)


@pytest.mark.parametrize(
    ("change", "reason"), list(POISON_IN_PROCESS_ONLY.values()), ids=list(POISON_IN_PROCESS_ONLY)
)
async def test_a_hand_made_in_process_message_of_wrong_types_is_dead_lettered_at_once(
    change: Change, reason: str
) -> None:
    transport = InProcessTransport()
    await transport.connect()
    try:
        await prove_poison_is_dead_lettered_and_consumer_goes_on(
            transport, transport.publish_raw, change, reason
        )
    finally:
        await transport.close()


@pytest.mark.parametrize("change", list(USABLE.values()), ids=list(USABLE))
async def test_a_message_without_optional_fields_is_processed(
    transport: Transport, send_raw: Send, change: Change
) -> None:
    await transport.declare(topology(QueueSpec("work", (Binding(EXCHANGE, "job"),))))
    good = Recorder()
    await transport.consume("work", good)
    sent = hand_made("job", change)
    await send_raw(sent)

    [incoming] = await eventually_one(good)
    assert incoming.envelope.message_id == sent.message_id
    assert incoming.envelope.correlation_id == (sent.correlation_id or sent.message_id)
    assert incoming.envelope.timestamp.tzinfo is not None
    assert incoming.envelope.timestamp <= datetime.now(UTC)
    assert "traceparent" not in incoming.envelope.headers or isinstance(
        incoming.envelope.headers["traceparent"], str
    )


async def eventually_one(recorder: Recorder) -> list[Incoming]:
    return await eventually(lambda: asyncio.sleep(0, recorder.seen), what="the message")


async def test_forty_poison_messages_do_not_fill_the_prefetch_window(
    transport: Transport,
) -> None:
    """More poison than the prefetch window holds: each is dead-lettered, and the
    good message behind them is still processed."""
    await transport.declare(topology(QueueSpec("work", (Binding(EXCHANGE, "job"),))))
    good, dead = Recorder(), RawLetters()
    poison = [hand_made("job", {"headers": {HEADER_CAUSATION: 5}}) for _ in range(40)]
    for raw in poison:
        await transport.publish_raw(raw)
    follow_up = envelope("job")
    await transport.publish(follow_up)
    await transport.consume("work", good, prefetch=32)
    await transport.consume_raw("work.dlq", dead)

    await eventually(lambda: asyncio.sleep(0, good.seen), what="the good message")
    await eventually(
        lambda: asyncio.sleep(0, dead.seen), until=lambda d: len(d) == 40, what="40 dead letters"
    )
    assert [i.envelope.message_id for i in good.seen] == [follow_up.message_id]
    assert sorted(d.message_id for d in dead.seen) == sorted(p.message_id for p in poison)


async def test_waiting_deliveries_come_as_one_batch_acked_together_and_a_failed_batch_goes_one_by_one(
    transport: Transport,
) -> None:
    await transport.declare(topology(QueueSpec("work", (Binding(EXCHANGE, "job"),))))
    sent = [envelope("job") for _ in range(5)]
    for letter in sent:  # waiting before the consumer starts
        await transport.publish(letter)
    batches: list[list[str]] = []
    alone = Recorder()

    async def batch(incomings: Sequence[Incoming]) -> None:
        batches.append([i.envelope.message_id for i in incomings])
        if len(batches) == 1:
            raise RuntimeError("the first batch fails")

    subscription = await transport.consume(
        "work", alone, prefetch=8, batch=batch, batching=Batching(size=8, linger=0.002, lanes=1)
    )
    await eventually(
        lambda: asyncio.sleep(0, alone.seen), until=lambda s: len(s) >= 5, what="one by one"
    )
    await eventually(
        lambda: asyncio.sleep(0, subscription.progress.in_flight),
        until=lambda n: n == 0,
        what="every delivery settled",
    )
    assert len(batches[0]) > 1  # they came together
    # The failed batch's deliveries, each handled alone, in the order they came.
    assert [i.envelope.message_id for i in alone.seen][: len(batches[0])] == batches[0]
    assert sorted(i.envelope.message_id for i in alone.seen) == sorted(e.message_id for e in sent)

    later = [envelope("job") for _ in range(3)]
    for letter in later:
        await transport.publish(letter)

    async def handled_later() -> list[str]:
        # A batch of one is handled as one delivery is, by the handler for one.
        in_batches = [i for b in batches[1:] for i in b]
        return sorted(in_batches + [i.envelope.message_id for i in alone.seen[len(sent) :]])

    await eventually(
        handled_later,
        until=lambda ids: ids == sorted(e.message_id for e in later),
        what="the next deliveries handled, once each",
    )
    await eventually(
        lambda: asyncio.sleep(0, subscription.progress.in_flight),
        until=lambda n: n == 0,
        what="the next deliveries acked",
    )
    assert subscription.batch_sizes is not None
    sizes = subscription.batch_sizes.counts
    assert sum(size * n for size, n in sizes.items()) == len(sent) + len(later)
