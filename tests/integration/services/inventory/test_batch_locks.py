"""Two inventory replicas' batches over the same products, in opposite orders, wait
for each other instead of deadlocking: a batch locks every reservation and product
it will touch first, in id order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy import text

from shared.messages import Message, ReservedItem, ReserveInventory
from shared.messaging.envelope import Envelope
from shared.messaging.transport import Incoming
from shared.persistence.database import Database
from tests.integration.services.inventory.conftest import running_inventory
from tests.support.infra import eventually
from tests.support.stack import Stack


def command(message: Message) -> Incoming:
    envelope = Envelope.wrap(message, app_id="saga", correlation_id=str(uuid.uuid4()))
    return Incoming(envelope=envelope, message=message, queue="inventory.commands", attempt=1)


def reserves(products: Sequence[str]) -> list[Incoming]:
    """One order per product, in the order given."""
    return [
        command(
            ReserveInventory(
                order_id=str(uuid.uuid4()), items=[ReservedItem(product_id=p, quantity=1)]
            )
        )
        for p in products
    ]


async def scalar(db: Database, sql: str, **params: object) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(text(sql), params) or 0)


async def test_overlapping_batches_of_two_replicas_never_deadlock(stack: Stack) -> None:
    if stack.kind != "real":
        pytest.skip("row locks are PostgreSQL's: SQLite has one writer at a time")
    async with running_inventory(stack) as inventory:
        products = sorted([await inventory.add_product(stock=5) for _ in range(6)])
        endpoint = inventory.service.endpoint
        assert endpoint is not None
        db = inventory.service.db
        before = await scalar(
            db, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        )
        forwards, backwards = reserves(products), reserves(products[::-1])
        async with db.engine.connect() as third, asyncio.timeout(30):
            # A product in the middle held by a third transaction: both batches are
            # stopped half-way through their locks, in opposite orders.
            await third.execute(
                text("SELECT id FROM inventory.products WHERE id = :id FOR UPDATE"),
                {"id": products[3]},
            )
            both = asyncio.gather(endpoint.handle_batch(forwards), endpoint.handle_batch(backwards))
            await eventually(
                lambda: scalar(db, "SELECT count(*) FROM pg_locks WHERE NOT granted"),
                until=lambda n: n >= 2,
                what="both batches waiting on a lock",
            )
            await third.rollback()
            await both
        assert (
            await scalar(
                db, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
            )
            == before
        )
        for product in products:
            row = await inventory.product_row(product)
            assert (row.reserved, row.available) == (2, 3)  # one order from each batch
