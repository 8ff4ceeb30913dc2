"""PostgreSQL connections: pinged after idling and replaced only if dead; reads hold no
transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import func, select

from shared.persistence.database import Database

pytestmark = pytest.mark.postgres
PING_AFTER = 0.0
"""Seconds idle before a ping: here, every checkout pings."""


async def _backend_pid(db: Database) -> int:
    async with db.engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_pooled_connection_killed_while_idle_is_replaced_before_use(
    postgres_url: str,
) -> None:
    db = Database(postgres_url, schema="public", pool_size=1, ping_after_idle=PING_AFTER)
    admin = Database(postgres_url, schema="public")
    try:
        killed = await _backend_pid(db)
        async with admin.engine.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})

        replaced = await _backend_pid(db)

        assert replaced != killed
    finally:
        await db.dispose()
        await admin.dispose()


async def test_a_pooled_connection_alive_after_idling_is_used_again(postgres_url: str) -> None:
    db = Database(postgres_url, schema="public", pool_size=1, ping_after_idle=PING_AFTER)
    try:
        pids = [await _backend_pid(db) for _ in range(3)]

        assert len(set(pids)) == 1
    finally:
        await db.dispose()


async def test_a_read_session_holds_no_transaction_open_between_its_queries(
    postgres_url: str,
) -> None:
    db = Database(postgres_url, schema="public")
    admin = Database(postgres_url, schema="public")
    state = text("SELECT state FROM pg_stat_activity WHERE pid = :pid")
    try:
        async with db.reads() as reading, db.sessions() as transacting:
            reader = (await reading.exec(select(func.pg_backend_pid()))).one()
            writer = (await transacting.exec(select(func.pg_backend_pid()))).one()
            async with admin.engine.connect() as connection:
                states = [
                    (await connection.execute(state, {"pid": pid})).scalar_one()
                    for pid in (reader, writer)
                ]

        assert states == ["idle", "idle in transaction"]
    finally:
        await db.dispose()
        await admin.dispose()
