"""Checkouts in flight through BFF-Web while a fault strikes, and what became of them.

:class:`Shoppers` registers a few shoppers and products once; :func:`checkouts`
sends a batch of checkouts at once, each retried with its own
``Idempotency-Key`` until it is accepted (a replica lost, a request shed, the
database between primaries: the same key answers the first acceptance or places
the order once); :func:`settle` then follows every saga in the saga's database
until each is at rest, and :func:`recovery` reads from their end times how long
the sagas stopped flowing after the fault.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import httpx

from oms.cluster.layout import DATABASE, Layout
from oms.seed import numbered_products
from saga.definition.statuses import TERMINAL
from shared.settings import CLIENT_KEEP_ALIVE_SECONDS
from shared.web.app import API_PREFIX

SHOPPERS = 20
PRODUCTS = 5
ACCEPT_SECONDS = 180.0
RETRY_PAUSE_SECONDS = 0.5
AGAIN = (408, 409, 429)
"""Refusals below 500 a client sends again: the head came too slowly (408), the
key's first request is still running (409), too many at once (429)."""
ADDRESS = {"line1": "1 Cluster Street", "city": "Berlin", "postalCode": "10115", "country": "DE"}


@dataclass
class Shoppers:
    tokens: list[str]
    product_ids: list[str]

    @classmethod
    async def register(cls, layout: Layout, secret: str, count: int = SHOPPERS) -> Shoppers:
        run = uuid.uuid4().hex[:8]
        web = layout.public_url("bff-web")
        async with httpx.AsyncClient(timeout=60) as http:
            products = await numbered_products(
                http,
                layout.public_url("inventory"),
                secret,
                label="cluster",
                prices=[500 + n for n in range(PRODUCTS)],
                stock=1_000_000,
            )
            tokens = []
            for n in range(count):
                session = await http.post(
                    f"{web}{API_PREFIX}/auth/register",
                    json={"email": f"shopper-{run}-{n}@example.com", "password": f"pw-{run}-{n}-x"},
                )
                session.raise_for_status()
                tokens.append(session.json()["token"])
        return cls(tokens, products)


@dataclass
class Batch:
    """What a batch of checkouts came to."""

    order_ids: list[str] = field(default_factory=list)
    retries: int = 0
    refused: list[str] = field(default_factory=list)
    """Checkouts never accepted within the deadline (with the last answer)."""


async def checkouts(layout: Layout, shoppers: Shoppers, count: int) -> Batch:
    """``count`` checkouts at once through BFF-Web, each retried until accepted."""
    batch = Batch()
    web = f"{layout.public_url('bff-web')}{API_PREFIX}/checkout"
    limits = httpx.Limits(
        max_connections=count,
        max_keepalive_connections=count,
        keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS,
    )
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def one(n: int) -> None:
            token = shoppers.tokens[n % len(shoppers.tokens)]
            product = shoppers.product_ids[n % len(shoppers.product_ids)]
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
            body = {
                "items": [{"productId": product, "quantity": 1}],
                "shippingAddress": ADDRESS,
                "paymentMethodId": "pm_card_ok",
            }
            deadline = time.monotonic() + ACCEPT_SECONDS
            last = ""
            while time.monotonic() < deadline:
                try:
                    answer = await http.post(web, json=body, headers=headers)
                    if answer.status_code in (200, 202):
                        batch.order_ids.append(answer.json()["orderId"])
                        return
                    last = f"{answer.status_code} {answer.text[:200]}"
                    if answer.status_code < 500 and answer.status_code not in AGAIN:
                        break
                except httpx.HTTPError as error:
                    last = repr(error)
                batch.retries += 1
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
            batch.refused.append(last)

        await asyncio.gather(*(one(n) for n in range(count)))
    return batch


@dataclass
class Outcome:
    statuses: dict[str, str]
    ended_at: dict[str, datetime]

    @property
    def unsettled(self) -> list[str]:
        return [saga for saga, status in self.statuses.items() if status not in TERMINAL]


async def read_sagas(dsn: str, ids: Sequence[str]) -> Outcome:
    conn = await asyncpg.connect(dsn, target_session_attrs="read-write")
    try:
        rows = await conn.fetch(
            "SELECT id, status, updated_at FROM saga.sagas WHERE id = ANY($1::text[])", list(ids)
        )
    finally:
        await conn.close()
    statuses = dict.fromkeys(ids, "missing")
    ended: dict[str, datetime] = {}
    for row in rows:
        statuses[row["id"]] = row["status"]
        if row["status"] in TERMINAL:
            ended[row["id"]] = row["updated_at"]
    return Outcome(statuses, ended)


def database_dsn(layout: Layout) -> str:
    hosts = f"127.0.0.1:{layout.primary_port},127.0.0.1:{layout.standby_port}"
    return f"postgresql://postgres@{hosts}/{DATABASE}"


async def settle(layout: Layout, ids: Sequence[str], patience: float = 240) -> Outcome:
    """Poll the sagas of ``ids`` until every one is at rest, or ``patience`` runs out."""
    deadline = time.monotonic() + patience
    while True:
        try:
            outcome = await read_sagas(database_dsn(layout), ids)
        except (OSError, asyncpg.PostgresError):  # between primaries
            outcome = None
        if outcome is not None and (not outcome.unsettled or time.monotonic() > deadline):
            return outcome
        if time.monotonic() > deadline:
            raise RuntimeError("the saga database could not be read")
        await asyncio.sleep(1.0)


def recovery(fault_at: datetime, outcome: Outcome) -> float:
    """Seconds from the fault to the end of the longest pause in saga completions
    that follows it: how long the sagas stopped flowing.  (0 when none stopped.)"""
    ends = sorted(at for at in outcome.ended_at.values() if at >= fault_at)
    marks = [fault_at, *ends]
    longest, until = 0.0, fault_at
    for before, after in itertools.pairwise(marks):
        gap = (after - before).total_seconds()
        if gap > longest:
            longest, until = gap, after
    return (until - fault_at).total_seconds()


async def completed_since(layout: Layout, since: datetime) -> int:
    """Sagas at rest whose last change came after ``since`` (0 while no primary answers)."""
    try:
        conn = await asyncpg.connect(database_dsn(layout), target_session_attrs="read-write")
    except (OSError, asyncpg.PostgresError):
        return 0
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM saga.sagas WHERE status = ANY($1::text[]) AND updated_at >= $2",
            sorted(TERMINAL),
            since,
        )
    finally:
        await conn.close()
    return int(count)
