"""The ops reads timed over HTTP, as the dashboard and ``oms saga`` make them, on
the saga component's own app (in this process: the figures are the component's
and its database's, no network between)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from oms.bench.report import percentiles

API = "/api/v1"
DASHBOARD_PAGE = 100
"""Sagas the dashboard asks for on its first load."""


@dataclass(frozen=True)
class Picks:
    """What the filtered reads ask for: a customer with sagas, one saga."""

    user_id: str
    saga_id: str


async def pick(connection: asyncpg.Connection) -> Picks:
    row = await connection.fetchrow(
        "SELECT id, user_id FROM sagas WHERE status = 'completed' "
        "ORDER BY created_at DESC OFFSET 1000 LIMIT 1"
    )
    if row is None:
        row = await connection.fetchrow("SELECT id, user_id FROM sagas LIMIT 1")
    assert row is not None
    return Picks(user_id=row["user_id"], saga_id=row["id"])


def reads(picks: Picks) -> dict[str, Callable[[httpx.AsyncClient], Awaitable[Any]]]:
    """Each read by name: one call (or the dashboard's calls on a first load)."""

    def get(path: str) -> Callable[[httpx.AsyncClient], Awaitable[Any]]:
        async def call(client: httpx.AsyncClient) -> Any:
            answer = await client.get(path)
            answer.raise_for_status()
            return answer

        return call

    async def dashboard(client: httpx.AsyncClient) -> None:
        # The page, its first rows, then the counts, the dead letters and the diagram.
        for path in ("/ops", f"{API}/sagas?limit={DASHBOARD_PAGE}"):
            (await client.get(path)).raise_for_status()
        answers = await asyncio.gather(
            *(
                client.get(f"{API}{p}")
                for p in ("/sagas/summary", "/dead-letters", "/sagas/diagram")
            )
        )
        for answer in answers:
            answer.raise_for_status()

    async def count_failed(client: httpx.AsyncClient) -> None:
        answer = await client.post(
            f"{API}/sagas/retry/dry-run", json={"filter": {"state": "failed"}}
        )
        answer.raise_for_status()

    month = 30 * 24 * 3600
    return {
        "list newest": get(f"{API}/sagas?limit=50"),
        "list by state": get(f"{API}/sagas?state=failed&limit=50"),
        "list by user": get(f"{API}/sagas?userId={picks.user_id}&limit=50"),
        "list by order": get(f"{API}/sagas?orderId={picks.saga_id}"),
        "list older than": get(f"{API}/sagas?olderThan={month}&limit=50"),
        "one saga": get(f"{API}/sagas/{picks.saga_id}"),
        "stuck": get(f"{API}/sagas?stuck=true&limit=50"),
        "summary": get(f"{API}/sagas/summary"),
        "bulk dry run (state=failed)": count_failed,
        "metrics scrape": get("/metrics"),
        "dashboard first load": dashboard,
    }


async def time_reads(
    client: httpx.AsyncClient, picks: Picks, *, repeats: int, warmup: int
) -> dict[str, dict[str, float]]:
    """p50, p95 and max (ms) of every read, each made ``warmup`` times unmeasured first."""
    measured: dict[str, dict[str, float]] = {}
    for name, read in reads(picks).items():
        for _ in range(warmup):
            await read(client)
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            await read(client)
            seconds.append(time.perf_counter() - started)
        measured[name] = {**percentiles(seconds, 50, 95), "max": round(max(seconds) * 1000, 3)}
    return measured


_BYTES = """
SELECT
  (SELECT pg_column_size(s.*) FROM sagas s WHERE id = $1) AS saga,
  (SELECT coalesce(sum(pg_column_size(h.*)), 0) FROM saga_history h WHERE saga_id = $1) AS history,
  (SELECT coalesce(sum(pg_column_size(i.*)), 0) FROM saga_inputs i WHERE saga_id = $1) AS inputs,
  (SELECT coalesce(sum(pg_column_size(r.*)), 0) FROM saga_records r WHERE saga_id = $1) AS record
"""
_TABLES = ("sagas", "saga_history", "saga_inputs", "saga_records", "saga_deadlines")


async def stored_bytes(connection: asyncpg.Connection, saga_id: str) -> dict[str, Any]:
    """Bytes one finished saga stores (its row, its history, its inputs and, once
    compacted, its record), and each table's size on disk (indexes and TOAST
    included) per saga."""
    row = await connection.fetchrow(_BYTES, saga_id)
    assert row is not None
    sagas = await connection.fetchval("SELECT count(*) FROM sagas")
    tables = {
        table: int(await connection.fetchval("SELECT pg_total_relation_size($1)", table))
        for table in _TABLES
    }
    per_saga = {name: int(row[name]) for name in ("saga", "history", "inputs", "record")}
    return {
        "finished_saga": {**per_saga, "total": sum(per_saga.values())},
        "tables": tables,
        "on_disk_per_saga": round(sum(tables.values()) / max(1, sagas)),
    }
