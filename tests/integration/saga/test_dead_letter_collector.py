"""The dead-letter collector stores whatever a dead-letter queue holds, on SQLite and
PostgreSQL: values no column could take are kept as text, with an id of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from saga.deadletters import (
    BARE_NOTE,
    HEADER_ASSIGNED_ID,
    HEADER_BODY_TRUNCATED,
    HEADER_ORIGINAL_MESSAGE_ID,
    DeadLetters,
    NotRequeueable,
)
from saga.models import DeadLetterRow
from shared.messaging.envelope import (
    HEADER_DEAD_LETTER_REASON,
    HEADER_ORIGINAL_QUEUE,
    HEADER_UNUSABLE_ENVELOPE,
    MAX_BODY_BYTES,
    RawMessage,
)
from shared.messaging.inprocess import InProcessTransport
from shared.persistence.database import Database
from shared.persistence.migrations import upgrade
from shared.persistence.outbox import OutboxRelay

MIGRATIONS = Path(__file__).parents[3] / "saga" / "migrations"


@pytest.fixture
async def letters(database_url: str) -> AsyncIterator[DeadLetters]:
    db = Database(database_url, schema="saga")
    await upgrade(db, MIGRATIONS)
    yield DeadLetters(db, OutboxRelay(db, InProcessTransport()))
    await db.dispose()


def dead(**fields: Any) -> RawMessage:
    base: dict[str, Any] = {
        "body": b"{}",
        "headers": {HEADER_DEAD_LETTER_REASON: "test", HEADER_ORIGINAL_QUEUE: "work"},
        "routing_key": "work",
        "exchange": "dlx",
    }
    return RawMessage(**{**base, **fields})


HOSTILE: dict[str, RawMessage] = {
    "headers-not-a-table": dead(headers=["x"], message_id="m1", type="order.confirmed"),
    "message_id-too-long": dead(message_id="m" * 200, type="order.confirmed"),
    "message_id-nul": dead(message_id="a\x00b", type="order.confirmed"),
    "message_id-int": dead(message_id=5, type=7),
    "type-nul-and-surrogate": dead(
        message_id="m2\ud800", type="\x00\ud800", correlation_id="\ud800"
    ),
    "body-text": dead(body="not bytes"),
    "body-not-utf8": dead(body=b"\xff\xfe\x00"),
    "body-huge": dead(body=b"x" * (MAX_BODY_BYTES + 10)),
    "headers-nul-surrogate-nested": dead(
        headers={
            HEADER_DEAD_LETTER_REASON: "why\x00",
            "k\ud800": "v\x00\ud800",
            "x-death": [{"time": datetime.now(UTC), "raw": bytearray(b"\xff"), "n": 1.5}],
            "x-big": "h" * 100_000,
        }
    ),
    "broker-dead-lettered": dead(
        headers={
            "x-first-death-reason": "delivery_limit",
            "x-death": [{"exchange": "orders", "routing-keys": ["order.created"], "count": 5}],
        },
        message_id=str(uuid.uuid4()),
        type="order.created",
        timestamp=datetime.now(UTC),
        app_id="orders",
    ),
}


async def stored(letters: DeadLetters) -> list[DeadLetterRow]:
    async with letters.db.sessions() as session:
        return list((await session.exec(select(DeadLetterRow))).all())


@pytest.mark.parametrize("raw", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_the_collector_stores_whatever_arrives(letters: DeadLetters, raw: RawMessage) -> None:
    await letters.collect(raw)
    [row] = await stored(letters)
    # Stored as it came, not as the bare last resort, which keeps no headers.
    assert row.headers.get(HEADER_UNUSABLE_ENVELOPE) != BARE_NOTE
    assert row.queue == "work"
    assert 0 < len(row.message_id) <= 64
    assert "\x00" not in row.message_id + row.type + row.correlation_id + row.reason
    if isinstance(raw.body, bytes):
        assert row.body == raw.body[:MAX_BODY_BYTES]
    if isinstance(raw.message_id, str) and row.message_id != raw.message_id:
        assert row.headers[HEADER_ASSIGNED_ID] == "true"
        assert HEADER_ORIGINAL_MESSAGE_ID in row.headers


async def test_a_huge_body_is_kept_truncated_and_says_so(letters: DeadLetters) -> None:
    await letters.collect(HOSTILE["body-huge"])
    [row] = await stored(letters)
    assert len(row.body) == MAX_BODY_BYTES
    assert row.headers[HEADER_BODY_TRUNCATED] == str(MAX_BODY_BYTES + 10)


async def test_a_letter_the_broker_dead_lettered_is_requeued_where_it_was_first_sent(
    letters: DeadLetters,
) -> None:
    await letters.collect(HOSTILE["broker-dead-lettered"])
    [row] = await stored(letters)
    assert row.reason == "dead-lettered by the broker: delivery_limit"
    assert (row.exchange, row.routing_key) == ("orders", "order.created")
    assert row.id is not None
    requeued = await letters.requeue(row.id)
    assert requeued is not None
    assert requeued.requeued_at is not None


async def test_a_letter_without_a_usable_envelope_is_not_requeued(letters: DeadLetters) -> None:
    await letters.collect(HOSTILE["message_id-int"])
    [row] = await stored(letters)
    assert "message_id" in row.headers[HEADER_UNUSABLE_ENVELOPE]
    assert row.id is not None
    with pytest.raises(NotRequeueable, match="no usable envelope"):
        await letters.requeue(row.id)
    [after] = await stored(letters)
    assert after.requeued_at is None
