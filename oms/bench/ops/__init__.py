"""``oms bench ops``: the ops reads with many stored sagas.

A fresh PostgreSQL database gets the saga component's tables (its migrations),
one real saga of each kind run through the component
(:mod:`~oms.bench.ops.templates`), then ``--sagas`` copies of them by SQL
(:mod:`~oms.bench.ops.fill`): most finished, some failed, some stuck.  Every ops
read is then timed over HTTP on the component's app (:mod:`~oms.bench.ops.reads`):
the list (newest, by state, by customer, by order, older than), one saga, the
stuck filter, the summary, a bulk dry run's count, the metrics scrape and the
dashboard's first load; and the bytes a finished saga stores, before and after
housekeeping compacts it.  The database is
dropped at the end unless ``--keep`` is given.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from rich.table import Table

from oms.bench.ops.fill import COMPACTED, SCHEMA, Mix, fill
from oms.bench.ops.reads import pick, stored_bytes, time_reads
from oms.bench.ops.templates import play_templates, saga_component, template_id
from oms.bench.processes import Infrastructure
from oms.bench.report import console, machine, now
from saga.records import compact, compact_sagas
from saga.retention import prune
from shared.auth import mint_token
from shared.clock import utcnow
from shared.persistence.database import Database

__all__ = ["bench", "print_result"]


@contextlib.asynccontextmanager
async def _database(infra: Infrastructure, keep: bool, reuse: str | None) -> AsyncIterator[str]:
    """A fresh database (its name), dropped at the end unless ``keep``; or the
    database ``reuse``, filled by an earlier run, left as it is."""
    if reuse is not None:
        yield reuse
        return
    if not keep:
        async with infra.databases(["ops"]) as made:
            yield made["ops"]
        return
    name = f"oms_bench_ops_{now().replace(':', '').replace('-', '').replace('+', '')[:15]}"
    admin = await asyncpg.connect(infra.postgres)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    console.print(f"kept database: {name}")
    yield name


def _dsn(infra: Infrastructure, database: str) -> str:
    """The admin DSN pointed at ``database``."""
    parts = urlsplit(infra.postgres)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


async def _housekeeping(db: Database, sample: int) -> dict[str, Any]:
    """How fast housekeeping compacts finished sagas and retention removes them, in
    its batches (pauses included), over ``sample`` sagas each."""
    started = time.monotonic()
    compacted = 0
    while compacted < sample:
        looked = await compact(db, utcnow())
        if looked == 0:
            break
        compacted += looked
    compacting = time.monotonic() - started
    started = time.monotonic()
    removed = await prune(db, utcnow() - timedelta(days=30), most=sample)
    pruning = time.monotonic() - started
    return {
        "compacted": compacted,
        "compacted_per_second": round(compacted / compacting, 1) if compacting else None,
        "pruned": removed,
        "pruned_per_second": round(removed / pruning, 1) if pruning else None,
    }


async def bench(
    infra: Infrastructure,
    sagas: int,
    *,
    days: float,
    repeats: int,
    warmup: int,
    keep: bool,
    sample: int = 5_000,
    reuse: str | None = None,
) -> dict[str, Any]:
    """Fill a fresh database with ``sagas`` sagas (or take ``reuse``, filled by an
    earlier run), time the ops reads; the results."""
    mix = Mix.of(sagas)
    async with _database(infra, keep, reuse) as database:
        url = infra.database_url(database)
        async with saga_component(url) as (app, player, settings):
            token = mint_token(settings.jwt_key, sub="bench-ops", roles=["ops"])
            connection = await asyncpg.connect(_dsn(infra, database))
            try:
                await connection.execute(f"SET search_path TO {SCHEMA}")
                finished = template_id("completed")
                filled = 0.0
                if reuse is None:
                    console.print("templates: one saga of each kind, run through the saga …")
                    await play_templates(app, player, token)
                    as_rows = (await stored_bytes(connection, finished))["finished_saga"]
                    # The finished templates as housekeeping leaves them: the copies
                    # of a year's sagas are stored so.
                    async with app.state.runtime.db.engine.begin() as compacting:
                        await compact_sagas(compacting, [template_id(kind) for kind in COMPACTED])
                    console.print(f"filling {sagas:,} sagas by SQL …")
                    filled = await fill(
                        connection, mix, days=days, progress=lambda line: console.print(f"  {line}")
                    )
                picks = await pick(connection)
                storage = await stored_bytes(connection, finished)
                storage["compacted"] = storage["finished_saga"]
                if reuse is None:
                    storage["finished_saga"] = as_rows
                sagas = await connection.fetchval("SELECT count(*) FROM sagas")
            finally:
                await connection.close()
            console.print(f"timing the ops reads ({repeats} each) …")
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://bench",
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            ) as client:
                measured = await time_reads(client, picks, repeats=repeats, warmup=warmup)
            housekeeping = await _housekeeping(app.state.runtime.db, sample)
    return {
        "benchmark": "ops",
        "at": now(),
        "machine": machine(),
        "sagas": sagas,
        "mix": vars(mix),
        "reused": reuse,
        "days": days,
        "fill_seconds": round(filled, 1),
        "repeats": repeats,
        "reads_ms": measured,
        "storage_bytes": storage,
        "housekeeping": housekeeping,
    }


def print_result(result: dict[str, Any]) -> None:
    table = Table(title=f"ops reads with {result['sagas']:,} sagas (ms)")
    for column in ("read", "p50", "p95", "max"):
        table.add_column(column, justify="left" if column == "read" else "right")
    for name, figures in result["reads_ms"].items():
        table.add_row(name, *(f"{figures[k]:.1f}" for k in ("p50", "p95", "max")))
    console.print(table)
    stored = result["storage_bytes"]
    saga = stored["finished_saga"]
    console.print(
        f"a finished saga stores {saga['total']:,} bytes: row {saga['saga']:,}, "
        f"history {saga['history']:,}, inputs {saga['inputs']:,}; "
        f"on disk (indexes included) {stored['on_disk_per_saga']:,} bytes per saga; "
        f"compacted: {stored['compacted']['total']:,} bytes (record "
        f"{stored['compacted']['record']:,}); "
        f"housekeeping compacts {result['housekeeping']['compacted_per_second']} and prunes "
        f"{result['housekeeping']['pruned_per_second']} sagas a second; "
        f"filled in {result['fill_seconds']} s"
    )
