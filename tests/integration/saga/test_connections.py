"""The saga service under a short supply of database connections, on both stacks:
a request that finds none free answers 503 with ``Retry-After``, idle
``/sagas/stream`` clients hold none, and a stream outlives a poll that got none."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection
from structlog.testing import capture_logs

from saga.app import build_app
from shared.messaging.envelope import Envelope
from shared.persistence.database import Database
from shared.web.problems import PROBLEM_JSON
from tests.integration.saga.test_runtime import created
from tests.support.infra import eventually
from tests.support.stack import Stack, on_socket, serve

API = "/api/v1"
ONE_CONNECTION: dict[str, Any] = {
    "saga_db_pool_size": 1,
    "saga_db_max_overflow": 0,
    "db_pool_timeout_seconds": 0.3,
}
"""A saga process with a single database connection, not waited for long."""


@asynccontextmanager
async def saga_on_socket(stack: Stack) -> AsyncIterator[tuple[FastAPI, str]]:
    app = build_app(stack.settings.model_copy(update=ONE_CONNECTION), stack.transport)
    async with serve(app), on_socket(app) as url:
        yield app, url


async def take_connection(db: Database) -> AsyncConnection | None:
    try:
        return await db.engine.connect()
    except exc.TimeoutError:  # the pool's one connection is out
        return None


def database(app: FastAPI) -> Database:
    db: Database = app.state.runtime.db
    return db


async def listen(url: str, stack: Stack, events: list[dict[str, Any]]) -> None:
    """Read ``/sagas/stream`` into ``events`` until cancelled."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=None) as http,
        http.stream("GET", f"{API}/sagas/stream", headers=stack.ops()) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("retry:"):
                events.append({"connected": True})
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))


async def test_a_request_finding_no_free_connection_answers_503_with_retry_after(
    stack: Stack,
) -> None:
    async with saga_on_socket(stack) as (app, url), httpx.AsyncClient(base_url=url) as http:
        held = await database(app).engine.connect()
        try:
            refused = await http.get(f"{API}/sagas", headers=stack.ops())
        finally:
            await held.close()
        answered = await http.get(f"{API}/sagas", headers=stack.ops())

    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert int(refused.headers["Retry-After"]) >= 1
    assert "no free database connection" in refused.json()["detail"]
    assert answered.status_code == 200, answered.text


async def test_idle_stream_clients_hold_no_database_connection(stack: Stack) -> None:
    clients = 5
    async with saga_on_socket(stack) as (app, url), httpx.AsyncClient(base_url=url) as http:
        streams = [[] for _ in range(clients)]  # type: list[list[dict[str, Any]]]
        listeners = [asyncio.create_task(listen(url, stack, events)) for events in streams]
        try:
            await eventually(
                lambda: asyncio.sleep(0, [len(events) for events in streams]),
                until=lambda counts: all(counts),
                what="every stream to connect",
            )
            pool = database(app).engine.pool
            checked_out = []
            for _ in range(50):
                checked_out.append(pool.checkedout())  # type: ignore[attr-defined]
                await asyncio.sleep(0.02)
            # The one connection there still serves an ordinary request: at once, or
            # after the 503 with Retry-After a request meeting the pollers may get.
            listed = await eventually(
                lambda: http.get(f"{API}/sagas", headers=stack.ops()),
                until=lambda answer: answer.status_code != 503,
                what="the list served beside the streams",
            )
        finally:
            for listener in listeners:
                listener.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)

    assert listed.status_code == 200, listed.text
    # Between their polls the streams hold nothing: five streams holding one each would
    # never leave the pool empty-handed, yet it often is (not most of the time on a
    # machine busy with other test workers, where each poll takes longer).
    assert checked_out.count(0) >= len(checked_out) // 5, checked_out


async def test_a_stream_outlives_polls_that_find_no_free_connection(stack: Stack) -> None:
    events: list[dict[str, Any]] = []
    async with saga_on_socket(stack) as (app, url):
        listener = asyncio.create_task(listen(url, stack, events))
        try:
            await eventually(lambda: asyncio.sleep(0, events), what="the stream to connect")
            # The one connection is the saga process's to share (its pollers take it
            # now and then): taken as soon as it is free.
            held = await eventually(
                lambda: take_connection(database(app)), until=lambda c: c is not None
            )
            assert held is not None
            try:
                with capture_logs() as logs:
                    await eventually(
                        lambda: asyncio.sleep(
                            0, [e for e in logs if e["event"] == "sagas.stream_poll_failed"]
                        ),
                        until=lambda failed: len(failed) >= 2,
                        what="two polls of the stream to find no connection",
                    )
            finally:
                await held.close()
            assert not listener.done(), "the stream ended while the connection was held"

            order_id = str(uuid.uuid4())
            await stack.transport.publish(
                Envelope.wrap(created(order_id), app_id="orders", correlation_id=order_id)
            )
            await eventually(
                lambda: asyncio.sleep(0, [e for e in events if e.get("id") == order_id]),
                what="the stream to report the new saga",
            )
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
