"""The BFF's idempotency store on its own table: a key claimed once, its answer
replayed, and a claim whose holder died (or an answer past its time) claimed anew,
with nothing of the old answer left."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bff.idempotency import IDEMPOTENCY_KEYS, IdempotencyStore, StoredAnswer
from shared.persistence.database import Database
from tests.support.databases import migrated_database

BFF_HOME = Path(__file__).resolve().parents[3] / "bff"
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class Clock:
    """The store's wall clock, set by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with migrated_database(database_url, "bff", BFF_HOME) as database:
        yield database


async def _row(db: Database) -> dict[str, object]:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(IDEMPOTENCY_KEYS))).one()
    return dict(row._mapping)


async def test_a_key_is_claimed_once_and_its_answer_replayed(db: Database) -> None:
    store = IdempotencyStore(db, now=Clock())

    assert await store.begin("checkout:u1", "k1", "digest") is None
    await store.complete("checkout:u1", "k1", StoredAnswer(202, {"orderId": "o-1"}))

    assert await store.begin("checkout:u1", "k1", "digest") == StoredAnswer(202, {"orderId": "o-1"})


@pytest.mark.parametrize(
    ("done", "later"),
    [(False, timedelta(seconds=61)), (True, timedelta(hours=24, seconds=1))],
    ids=["holder-died", "answer-expired"],
)
async def test_an_abandoned_key_is_claimed_anew_without_its_old_answer(
    db: Database, done: bool, later: timedelta
) -> None:
    clock = Clock()
    store = IdempotencyStore(db, now=clock)
    assert await store.begin("checkout:u1", "k1", "first") is None
    if done:
        await store.complete("checkout:u1", "k1", StoredAnswer(202, {"orderId": "o-1"}))

    clock.now = T0 + later
    assert await store.begin("checkout:u1", "k1", "second") is None

    row = await _row(db)
    assert (row["fingerprint"], row["state"], row["status_code"], row["body"]) == (
        "second",
        "in_progress",
        None,
        None,
    )
    assert row["created_at"] == row["updated_at"] == T0 + later
