"""PostgreSQL connections: pinged after idling and replaced only if dead; reads hold no
transaction."""

from __future__ import annotations

import socket
import uuid

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import func, select

from shared.persistence.database import Database
from shared.web.app import create_app
from shared.web.problems import PROBLEM_JSON

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


async def test_a_server_refusing_more_clients_answers_503_with_retry_after(
    postgres_url: str,
) -> None:
    """PostgreSQL's "too many clients" (SQLSTATE 53300), here from a role allowed none."""
    role = f"oms_full_{uuid.uuid4().hex[:8]}"
    admin = Database(postgres_url, schema="public")
    async with admin.engine.connect() as connection:
        await connection.execute(text(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0'))
        await connection.commit()
    as_role = make_url(postgres_url).set(username=role, password="its-password")
    full = Database(as_role.render_as_string(hide_password=False), schema="public")
    router = APIRouter()

    @router.get("/things")
    async def things() -> dict[str, int]:
        async with full.reads() as session:
            return {"one": (await session.exec(select(func.count()))).one()}

    app = create_app("things", routers=[router])
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://test",
        ) as client:
            response = await client.get("/api/v1/things")

        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert int(response.headers["Retry-After"]) >= 1
        assert "refused the connection" in response.json()["detail"]
        assert "its-password" not in response.text
    finally:
        await full.dispose()
        async with admin.engine.connect() as connection:
            await connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
            await connection.commit()
        await admin.dispose()


async def test_a_url_listing_several_hosts_connects_to_the_one_that_takes_writes(
    postgres_url: str,
) -> None:
    """A host that does not answer is passed over; with ``target_session_attrs`` the
    one connected to accepts writes."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    base, _, name = postgres_url.rpartition("/")
    scheme, _, authority = base.partition("://")
    user, _, host = authority.rpartition("@")
    url = f"{scheme}://{user}@127.0.0.1:{closed},{host}/{name}?target_session_attrs=read-write"
    db = Database(url, schema="public")
    try:
        async with db.engine.connect() as conn:
            read_only = (await conn.execute(text("SHOW transaction_read_only"))).scalar_one()
        assert read_only == "off"
        assert str(closed) in db.where
    finally:
        await db.dispose()
