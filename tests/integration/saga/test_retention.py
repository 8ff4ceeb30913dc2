"""Compaction of finished sagas' rows and retention, on SQLite and PostgreSQL:
what goes is exactly the finished sagas older than the cutoff (never one not at
rest, never one that moved meanwhile), the archive reads back, and a compacted
saga's history and tape read as before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text, update

from saga.archive import find_archived
from saga.housekeeping import Housekeeping, Retention
from saga.models import SagaDeadlineRow, SagaRow
from saga.records import COMPACT_AFTER, RECORDS, compact, history_of, tape_of
from saga.retention import prune, would_prune
from saga.statecounts import counts_by_state
from saga.statements import HISTORY, INPUTS, LOCK_NAMESPACE
from shared.clock import utcnow
from shared.persistence.database import Database
from shared.persistence.migrations import upgrade
from tests.support.infra import eventually

MIGRATIONS = Path(__file__).parents[3] / "saga" / "migrations"
SAGAS = SagaRow.__table__  # type: ignore[attr-defined]
DEADLINES = SagaDeadlineRow.__table__  # type: ignore[attr-defined]
NOW = utcnow()
OLD = NOW - timedelta(days=40)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, schema="saga")
    await upgrade(database, MIGRATIONS)
    yield database
    await database.dispose()


async def store(db: Database, saga_id: str, status: str, at: datetime) -> None:
    """A saga with three history entries, two inputs and, not at rest, a deadline."""
    async with db.engine.begin() as connection:
        await connection.execute(
            insert(SAGAS),
            {
                "id": saga_id,
                "status": status,
                "state": {"sagaId": saga_id, "status": status},
                "version": 3,
                "definition_version": 4,
                "user_id": "u-1",
                "created_at": at - timedelta(seconds=5),
                "updated_at": at,
                "deadline_at": None,
            },
        )
        await connection.execute(
            insert(HISTORY),
            [
                {
                    "saga_id": saga_id,
                    "at": at - timedelta(seconds=5 - i),
                    "kind": "transition",
                    "detail": {"from": None if i == 0 else f"s{i}", "to": f"s{i + 1}"},
                    "message_id": f"{saga_id}-m{i}",
                    "definition_version": 4,
                }
                for i in range(3)
            ],
        )
        await connection.execute(
            insert(INPUTS),
            [
                {
                    "saga_id": saga_id,
                    "at": at - timedelta(seconds=5 - i),
                    "input": {"kind": "message", "type": "order.created", "body": {"n": i}},
                    "decision": {"status": status, "commands": []},
                    "definition_version": 4,
                }
                for i in range(2)
            ],
        )
        if status not in ("completed", "cancelled", "failed"):
            await connection.execute(
                insert(DEADLINES),
                {"saga_id": saga_id, "step": "payment.charge", "attempt": 1, "due_at": at},
            )


async def ids(db: Database, table: Any, column: str = "saga_id") -> set[str]:
    async with db.engine.connect() as connection:
        return set((await connection.execute(select(table.c[column]))).scalars())


async def test_retention_removes_exactly_the_finished_sagas_older_than_it(
    db: Database, tmp_path: Path
) -> None:
    for saga_id, status, at in [
        ("old-completed", "completed", OLD),
        ("old-cancelled", "cancelled", OLD),
        ("old-failed", "failed", OLD),
        ("old-charging", "charging_payment", OLD),
        ("old-refunding", "refunding_payment", OLD),
        ("new-completed", "completed", NOW),
    ]:
        await store(db, saga_id, status, at)
    cutoff = NOW - timedelta(days=30)
    assert (await would_prune(db, cutoff, failed=False)).sagas == 2

    removed = await prune(db, cutoff, archive=tmp_path, limit=1, pause=0)

    assert removed == 2
    kept = {"old-failed", "old-charging", "old-refunding", "new-completed"}
    assert await ids(db, SAGAS, "id") == kept
    assert await ids(db, HISTORY) == kept
    assert await ids(db, INPUTS) == kept
    assert await ids(db, DEADLINES) == {"old-charging", "old-refunding"}
    assert await counts_by_state(db) == {
        "failed": 1,
        "charging_payment": 1,
        "refunding_payment": 1,
        "completed": 1,
    }

    assert await prune(db, cutoff, failed=True, pause=0) == 1
    assert await ids(db, SAGAS, "id") == kept - {"old-failed"}


async def test_retention_keeps_to_its_rate(db: Database) -> None:
    """Twelve sagas four at a time at twenty a second: three pauses of at least
    0.2 s each, less what each batch took."""
    for n in range(12):
        await store(db, f"old-{n:02}", "completed", OLD)
    started = asyncio.get_running_loop().time()

    removed = await prune(db, NOW - timedelta(days=30), limit=4, rate=20.0)

    assert removed == 12
    assert asyncio.get_running_loop().time() - started >= 3 * 4 / 20.0


async def test_the_archive_reads_back_what_was_removed(db: Database, tmp_path: Path) -> None:
    await store(db, "gone", "completed", OLD)
    async with db.engine.connect() as connection:
        history = await history_of(connection, "gone")
        tape = await tape_of(connection, "gone")

    await prune(db, NOW - timedelta(days=30), archive=tmp_path / "archive", pause=0)

    archived = find_archived(tmp_path / "archive", "gone")
    assert archived is not None
    assert archived["state"] == "completed"
    assert archived["stored"] == {"sagaId": "gone", "status": "completed"}
    assert [h["detail"] for h in archived["history"]] == [e.detail for e in history]
    assert [h["messageId"] for h in archived["history"]] == ["gone-m0", "gone-m1", "gone-m2"]
    assert all(h["text"] for h in archived["history"])
    assert [i["input"] for i in archived["inputs"]] == [t.input for t in tape]
    day = (OLD - timedelta(seconds=5)).date().isoformat()
    assert [p.name for p in (tmp_path / "archive").iterdir()] == [f"sagas-{day}.jsonl.gz"]
    assert find_archived(tmp_path / "archive", "never-there") is None


async def test_compaction_keeps_history_and_tape_and_merges_what_follows(db: Database) -> None:
    at = NOW - COMPACT_AFTER - timedelta(minutes=1)
    await store(db, "rested", "completed", at)
    await store(db, "running", "charging_payment", at)
    await store(db, "fresh", "completed", NOW)
    async with db.engine.connect() as connection:
        before = (await history_of(connection, "rested"), await tape_of(connection, "rested"))

    assert await compact(db, NOW) == 1
    assert await compact(db, NOW) == 0

    assert await ids(db, RECORDS) == {"rested"}
    assert await ids(db, HISTORY) == {"running", "fresh"}
    async with db.engine.connect() as connection:
        assert (
            await history_of(connection, "rested"),
            await tape_of(connection, "rested"),
        ) == before
    # It moves again (a cancel after completion): new rows follow the record, and a
    # later compaction merges them.
    later = NOW + timedelta(minutes=1)
    async with db.engine.begin() as connection:
        await connection.execute(
            insert(HISTORY),
            {
                "saga_id": "rested",
                "at": later,
                "kind": "transition",
                "detail": {"from": "completed", "to": "cancelled"},
                "message_id": None,
                "definition_version": 4,
            },
        )
        await connection.execute(
            update(SAGAS).where(SAGAS.c.id == "rested").values(status="cancelled", updated_at=later)
        )
    async with db.engine.connect() as connection:
        moved = await history_of(connection, "rested")
    assert moved[:3] == before[0]
    assert moved[3].detail == {"from": "completed", "to": "cancelled"}
    assert await compact(db, later + COMPACT_AFTER + timedelta(seconds=1)) == 2
    async with db.engine.connect() as connection:
        assert await history_of(connection, "rested") == moved
    assert await ids(db, HISTORY) == {"running"}


async def test_housekeeping_compacts_and_prunes_in_one_round(db: Database, tmp_path: Path) -> None:
    await store(db, "old", "completed", OLD)
    await store(db, "recent", "cancelled", NOW - timedelta(hours=1))
    await store(db, "busy", "reserving_inventory", OLD)
    keeper = Housekeeping(db, retention=Retention(days=30, archive=tmp_path), clock=lambda: NOW)
    compacted, removed = await keeper.round()
    assert (compacted, removed) == (2, 1)
    assert await ids(db, SAGAS, "id") == {"recent", "busy"}
    assert await ids(db, RECORDS) == {"recent"}
    assert find_archived(tmp_path, "old") is not None


@pytest.mark.postgres
async def test_a_saga_that_moves_while_being_pruned_stays(postgres_url: str) -> None:
    db = Database(postgres_url, schema="saga")
    try:
        await upgrade(db, MIGRATIONS)
        await store(db, "moving", "completed", OLD)
        await store(db, "resting", "completed", OLD)
        lock = text("SELECT pg_advisory_xact_lock(:n, hashtext(:id))")
        async with db.engine.connect() as holder:
            # The saga's own transaction holds its lock: pruning waits for it.
            await holder.execute(lock, {"n": LOCK_NAMESPACE, "id": "moving"})
            pruning = asyncio.create_task(prune(db, NOW - timedelta(days=30), pause=0))
            waiting = text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )

            async def blocked() -> int:
                async with db.engine.connect() as probe:
                    return int((await probe.execute(waiting)).scalar_one())

            await eventually(blocked, until=lambda n: n >= 1, what="pruning to wait for the lock")
            assert not pruning.done()
            await holder.execute(
                update(SAGAS)
                .where(SAGAS.c.id == "moving")
                .values(status="refunding_payment", updated_at=utcnow())
            )
            await holder.commit()
        assert await asyncio.wait_for(pruning, 30) == 1
        assert await ids(db, SAGAS, "id") == {"moving"}
        assert await ids(db, HISTORY) == {"moving"}
    finally:
        await db.dispose()
