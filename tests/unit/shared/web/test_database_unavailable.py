"""A request that cannot have its database right now answers 503 with
``Retry-After`` (a problem), never a 500, and names no password."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import text

from shared.persistence.database import Database
from shared.web.app import create_app
from shared.web.problems import PROBLEM_JSON


def _closed_port() -> int:
    """A port nothing listens on: bound for a moment, then let go."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def refused() -> AsyncIterator[httpx.AsyncClient]:
    db = Database(
        f"postgresql+asyncpg://oms:s3cret-password@127.0.0.1:{_closed_port()}/oms",
        schema="orders",
    )
    router = APIRouter()

    @router.get("/things")
    async def things() -> dict[str, int]:
        async with db.reads() as session:
            return {"one": int((await session.exec(text("SELECT 1"))).one()[0])}  # type: ignore[call-overload]

    app = create_app("things", routers=[router])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://test",
    ) as client:
        yield client
    await db.dispose()


async def test_a_refused_database_connection_answers_503_with_retry_after(
    refused: httpx.AsyncClient,
) -> None:
    response = await refused.get("/api/v1/things", headers={"X-Correlation-ID": "c-1"})

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-Correlation-ID"] == "c-1"
    body = response.json()
    assert body["status"] == 503
    assert "database cannot be reached" in body["detail"]
    assert "s3cret" not in response.text
