"""Counts by state kept by triggers (saga.statecounts), on SQLite and PostgreSQL:
right under concurrent transitions and folds, right for sagas stored before the
migration, and the stuck filter read from the index over sagas not at rest."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import column, delete, func, insert, select, table, text, update

from saga.models import SagaRow
from saga.statecounts import counts_by_state, fold_changes
from saga.stuck import StuckRule
from shared.clock import utcnow
from shared.persistence.database import Database
from shared.persistence.migrations import upgrade

MIGRATIONS = Path(__file__).parents[3] / "saga" / "migrations"
SAGAS = SagaRow.__table__  # type: ignore[attr-defined]
PATH = ["reserving_inventory", "charging_payment", "confirming_order", "completed"]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, schema="saga")
    yield database
    await database.dispose()


def saga(saga_id: str, status: str = PATH[0]) -> dict[str, object]:
    now = utcnow()
    return {
        "id": saga_id,
        "status": status,
        "state": {},
        "version": 1,
        "definition_version": 4,
        "user_id": "u-1",
        "created_at": now,
        "updated_at": now,
        "deadline_at": None,
    }


async def counted(db: Database) -> dict[str, int]:
    """The sagas by state, counted the slow way."""
    async with db.engine.connect() as connection:
        rows = await connection.execute(
            select(SAGAS.c.status, func.count()).group_by(SAGAS.c.status)
        )
        return {str(status): int(n) for status, n in rows.all()}


async def test_counts_stay_right_under_concurrent_transitions_and_folds(db: Database) -> None:
    await upgrade(db, MIGRATIONS)

    async def one_saga_life(saga_id: str) -> None:
        async with db.engine.begin() as connection:
            await connection.execute(insert(SAGAS), saga(saga_id))
        ending = random.choice(["completed", "cancelled", "failed", None, "deleted"])
        for status in PATH[1:-1] + ([ending] if ending not in (None, "deleted") else []):
            async with db.engine.begin() as connection:
                await connection.execute(
                    update(SAGAS).where(SAGAS.c.id == saga_id).values(status=status)
                )
            await asyncio.sleep(0)
        if ending == "deleted":
            async with db.engine.begin() as connection:
                await connection.execute(delete(SAGAS).where(SAGAS.c.id == saga_id))

    stop = asyncio.Event()

    async def folding() -> None:
        while not stop.is_set():
            await fold_changes(db)
            await asyncio.sleep(0.01)

    folder = asyncio.create_task(folding())
    for wave in range(4):
        await asyncio.gather(*(one_saga_life(f"s-{wave}-{i}") for i in range(25)))
        assert await counts_by_state(db) == await counted(db)
    stop.set()
    await folder
    await fold_changes(db)
    expected = await counted(db)
    assert sum(expected.values()) > 0
    assert await counts_by_state(db) == expected
    async with db.engine.connect() as connection:
        left = await connection.execute(text("SELECT count(*) FROM saga_state_count_changes"))
        assert left.scalar_one() == 0


async def test_sagas_stored_before_the_counts_existed_are_counted(db: Database) -> None:
    await upgrade(db, MIGRATIONS, "0001")
    first = table("sagas", *(column(name) for name in saga("any")))  # as 0001 made it
    async with db.engine.begin() as connection:
        await connection.execute(
            insert(first),
            [
                {**saga(f"old-{i}", "completed" if i % 3 else "failed"), "state": "{}"}
                for i in range(30)
            ],
        )
    await upgrade(db, MIGRATIONS)
    assert await counts_by_state(db) == {"completed": 20, "failed": 10}
    async with db.engine.begin() as connection:
        await connection.execute(insert(SAGAS), saga("new-1"))
    assert await counts_by_state(db) == {"completed": 20, "failed": 10, PATH[0]: 1}


@pytest.mark.postgres
async def test_the_stuck_filter_reads_the_index_over_sagas_not_at_rest(
    postgres_url: str,
) -> None:
    db = Database(postgres_url, schema="saga")
    try:
        await upgrade(db, MIGRATIONS)
        async with db.engine.begin() as connection:
            await connection.execute(
                insert(SAGAS), [saga(f"done-{i}", "completed") for i in range(5000)]
            )
            await connection.execute(insert(SAGAS), [saga(f"busy-{i}") for i in range(20)])
            await connection.execute(text("ANALYZE sagas"))
        stuck = select(SAGAS.c.id).where(StuckRule(2.0).where(utcnow() + timedelta(hours=1)))
        async with db.engine.connect() as connection:
            ids = (await connection.execute(stuck)).scalars().all()
            compiled = stuck.compile(
                connection.sync_connection, compile_kwargs={"literal_binds": True}
            )  # type: ignore[union-attr]
            plan = "\n".join(
                (await connection.execute(text(f"EXPLAIN {compiled}"))).scalars().all()
            )
        assert sorted(ids) == sorted(f"busy-{i}" for i in range(20))
        assert "ix_sagas_not_at_rest" in plan
    finally:
        await db.dispose()
