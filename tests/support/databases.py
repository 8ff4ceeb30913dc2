"""Databases tests set up by hand (the saga's migrated, a ledger beside a queue),
and the message that starts a saga."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from saga.app import HERE as SAGA_HOME
from shared.messages import OrderCreated, OrderItem
from shared.messaging.topology import QueueSpec, standard_topology
from shared.persistence.database import Database
from shared.persistence.migrations import upgrade
from tests.support.ledger import create_schema
from tests.support.stack import Stack


@asynccontextmanager
async def saga_database(url: str) -> AsyncIterator[Database]:
    """The saga's schema at ``url``, migrated to the latest revision."""
    db = Database(url, schema="saga")
    await upgrade(db, Path(SAGA_HOME) / "migrations")
    try:
        yield db
    finally:
        await db.dispose()


@asynccontextmanager
async def ledger_database(stack: Stack, queue: QueueSpec) -> AsyncIterator[Database]:
    """The orders' database with the messaging tables and the ledger, and ``queue``
    declared on the stack's broker."""
    database = Database(stack.settings.database_url_for("orders"), schema="orders")
    await create_schema(database)
    await stack.transport.declare(standard_topology().with_queues(queue))
    try:
        yield database
    finally:
        await database.dispose()


def order_created(order_id: str) -> OrderCreated:
    """An order of one item, as Orders announces it: what starts a saga."""
    return OrderCreated(
        order_id=order_id,
        user_id="user-1",
        items=[OrderItem(product_id="p1", quantity=1, unit_price=1299)],
        total_amount=1299,
        currency="EUR",
        payment_method_id="pm_card_ok",
    )
