"""``oms bench saga --beside job,retention``: fresh checkouts' latency without and
with ops work running beside them, in one run of one system.

Before the saga process starts, its database gets the sagas the work needs,
copied by SQL from real ones (:mod:`oms.bench.ops`): ``job_sagas`` failed sagas
for a bulk retry, and ``day_sagas`` completed ones from a day 31 days ago for
retention.  Orders are then placed at a steady rate (``--rate``, open loop) in
windows of ``--sagas`` each, alternating without and with the work beside (A B
A B per kind), each window's latencies kept apart:

* ``job``: a bulk retry of every failed saga (``POST /saga-jobs``, as the
  dashboard and ``oms saga jobs`` start one) at ``job_rate`` sagas a second, run
  by the saga process; cancelled when the window ends, a fresh one for the next;
* ``retention``: ``oms saga prune --older-than 30d`` in a process of its own (what
  the saga's housekeeping does with ``OMS_SAGA_RETENTION_DAYS``), stopped when the
  window ends.

Each "with" window starts once the work is seen running (a saga retried or
pruned), and reports how much it did meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from rich.table import Table

from oms.bench.ops.fill import COMPACTED, SCHEMA, Mix, fill
from oms.bench.ops.templates import play_templates, saga_component, template_id
from oms.bench.processes import component_env
from oms.bench.report import console, percentiles
from oms.bench.saga.load import Driver, Ends, Load, Measured
from oms.bench.saga.systems import Target
from saga.records import compact_sagas
from shared.auth import mint_token
from shared.clock import utcnow
from shared.settings import CLIENT_KEEP_ALIVE_SECONDS
from shared.web.app import API_PREFIX

KINDS = ("job", "retention")
RETENTION = timedelta(days=30)
STARTING_SECONDS = 60.0
"""How long the work beside may take to be seen running."""


@dataclass(frozen=True)
class Beside:
    """The work run beside the checkouts, and the sagas stored for it."""

    kinds: tuple[str, ...]
    job_rate: float = 50.0
    job_sagas: int = 15_000
    day_sagas: int = 200_000


def dsn_of(database_url: str) -> str:
    """An SQLAlchemy asyncpg URL as asyncpg's own DSN."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def seeder(beside: Beside) -> Callable[[str], Awaitable[None]]:
    """Fills the saga's database (before a saga process starts on it)."""

    async def seed(database_url: str) -> None:
        async with saga_component(database_url) as (app, player, settings):
            token = mint_token(settings.jwt_key, sub="bench-beside", roles=["ops"])
            await play_templates(app, player, token)
            async with app.state.runtime.db.engine.begin() as connection:
                await compact_sagas(connection, [template_id(kind) for kind in COMPACTED])
        mix = Mix(
            completed=beside.day_sagas if "retention" in beside.kinds else 0,
            cancelled=0,
            failed=beside.job_sagas if "job" in beside.kinds else 0,
            stuck=0,
            waiting=0,
        )
        console.print(
            f"the saga's database: {mix.failed:,} failed sagas, {mix.completed:,} completed "
            f"over a day {RETENTION.days + 1} days ago …"
        )
        connection = await asyncpg.connect(dsn_of(database_url))
        try:
            until = utcnow() - RETENTION - timedelta(days=1)
            await fill(connection, mix, days=1, until=until, progress=lambda _: None)
        finally:
            await connection.close()

    return seed


async def _until(what: str, seen: Callable[[], Awaitable[bool]]) -> None:
    give_up = time.monotonic() + STARTING_SECONDS
    while not await seen():
        if time.monotonic() > give_up:
            raise RuntimeError(f"{what} was not seen running after {STARTING_SECONDS:.0f} s")
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def _job(target: Target, beside: Beside) -> AsyncIterator[Callable[[], Awaitable[int]]]:
    """A bulk retry of every failed saga running; yields how many it has done so far."""
    assert target.saga_url is not None
    token = mint_token(target.jwt_secret, sub="bench-beside", roles=["ops"])
    async with httpx.AsyncClient(
        base_url=f"{target.saga_url}{API_PREFIX}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as ops:
        started = await ops.post(
            "/saga-jobs",
            json={
                "action": "retry",
                "filter": {"state": "failed"},
                "rate": beside.job_rate,
                "reason": "bench: a bulk retry beside fresh checkouts",
            },
        )
        started.raise_for_status()
        job_id = started.json()["id"]

        async def done() -> int:
            answer = await ops.get(f"/saga-jobs/{job_id}")
            answer.raise_for_status()
            return int(answer.json()["done"])

        await _until("the job", lambda: _positive(done))
        try:
            yield done
        finally:
            (await ops.post(f"/saga-jobs/{job_id}/cancel")).raise_for_status()


@contextlib.asynccontextmanager
async def _retention(target: Target) -> AsyncIterator[Callable[[], Awaitable[int]]]:
    """``oms saga prune`` running; yields how many sagas have been pruned so far."""
    assert target.saga_database_url is not None
    connection = await asyncpg.connect(dsn_of(target.saga_database_url))
    counted = f"SELECT count(*) FROM {SCHEMA}.saga_pruned"
    before = int(await connection.fetchval(counted))

    async def pruned() -> int:
        return int(await connection.fetchval(counted)) - before

    env = component_env(saga_database_url=target.saga_database_url, jwt_secret=target.jwt_secret)
    older_than = f"{RETENTION.days}d"
    with tempfile.TemporaryFile() as said:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "oms.cli", "saga", "prune", "--older-than", older_than),
            env=env,
            stdout=said,
            stderr=asyncio.subprocess.STDOUT,
        )

        async def seen() -> bool:
            if process.returncode is not None:
                said.seek(0)
                raise RuntimeError(
                    f"oms saga prune ended ({process.returncode}) before pruning: "
                    f"{said.read()[-2000:].decode(errors='replace')}"
                )
            return await _positive(pruned)

        try:
            await _until("retention", seen)
            yield pruned
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()
            await connection.close()


async def _positive(count: Callable[[], Awaitable[int]]) -> bool:
    return await count() > 0


def _window(kind: str, beside: Beside, target: Target) -> Any:
    return _job(target, beside) if kind == "job" else _retention(target)


def _figures(measured: Measured) -> dict[str, Any]:
    return {
        "sagas": measured.sagas,
        "errors": measured.errors,
        "lost": measured.lost,
        "first_error": measured.first_error,
        "elapsed_seconds": round(measured.elapsed, 2),
        "latency_ms": percentiles(measured.latencies, 50, 95, 99),
    }


async def compare(target: Target, load: Load, beside: Beside) -> dict[str, Any]:
    """Per kind of work, two pairs of windows (without, with), each ``load.sagas``
    checkouts at ``load.rate`` a second."""
    assert load.rate is not None
    user = str(uuid.uuid4())
    token = mint_token(target.jwt_secret, sub=user, roles=["customer"], ttl_seconds=86_400)
    ends = Ends(target.broker_url)
    await ends.open()
    kinds: dict[str, list[dict[str, Any]]] = {}
    try:
        async with httpx.AsyncClient(
            base_url=f"{target.orders_url}{API_PREFIX}",
            headers={"Authorization": f"Bearer {token}"},
            limits=httpx.Limits(max_connections=100, keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS),
            timeout=60,
        ) as http:
            driver = Driver(target, http, ends, user=user, items=load.items)
            console.print(f"warm-up: {load.warmup} checkouts …")
            await driver.open_loop(load.warmup, load.rate, lambda: None)
            for kind in beside.kinds:
                pairs = kinds.setdefault(kind, [])
                for round_ in (1, 2):
                    console.print(f"{kind}, pair {round_}: without …")
                    without = await driver.open_loop(load.sagas, load.rate, lambda: None)
                    console.print(f"{kind}, pair {round_}: with …")
                    async with _window(kind, beside, target) as progress:
                        before = await progress()
                        with_ = await driver.open_loop(load.sagas, load.rate, lambda: None)
                        worked = await progress() - before
                    pairs.append(
                        {
                            "without": _figures(without),
                            "with": _figures(with_),
                            "beside_sagas": worked,
                            "beside_per_second": round(worked / with_.elapsed, 1),
                            "p99_change": _change(without, with_),
                        }
                    )
    finally:
        await ends.close()
    return kinds


def _change(without: Measured, with_: Measured) -> float | None:
    """How much the p99 rose with the work beside (0.2: by 20 %)."""
    before = percentiles(without.latencies, 99).get("p99")
    after = percentiles(with_.latencies, 99).get("p99")
    if not before or after is None:
        return None
    return round(after / before - 1, 3)


def print_beside(result: dict[str, Any]) -> None:
    rate = result["rate"]
    table = Table(title=f"checkouts at {rate:g}/s, {result['sagas']} a window: latency (ms)")
    for column in ("beside", "pair", "window", "p50", "p95", "p99", "errors", "work beside"):
        table.add_column(column, justify="left" if column in ("beside", "window") else "right")
    for kind, pairs in result["beside"].items():
        for n, pair in enumerate(pairs, 1):
            for window in ("without", "with"):
                figures = pair[window]
                latency = figures["latency_ms"]
                work = ""
                if window == "with":
                    work = (
                        f"{pair['beside_sagas']:,} sagas ({pair['beside_per_second']}/s); "
                        f"p99 {pair['p99_change']:+.0%}"
                        if pair["p99_change"] is not None
                        else f"{pair['beside_sagas']:,} sagas"
                    )
                table.add_row(
                    kind,
                    str(n),
                    window,
                    *(f"{latency.get(p, 0):.1f}" for p in ("p50", "p95", "p99")),
                    str(figures["errors"] + figures["lost"]),
                    work,
                )
    console.print(table)
