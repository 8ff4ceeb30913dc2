"""Databases tests set up by hand (the saga's migrated, a ledger beside a queue),
the message that starts a saga, and the statements a database runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from saga.app import HERE as SAGA_HOME
from shared.messages import OrderCreated, OrderItem
from shared.messaging.topology import QueueSpec, standard_topology
from shared.persistence.database import Database
from shared.persistence.migrations import upgrade
from tests.support.ledger import create_schema
from tests.support.stack import Stack


@asynccontextmanager
async def migrated_database(url: str, schema: str, home: Path) -> AsyncIterator[Database]:
    """The component's schema at ``url``, migrated by the revisions in ``home/migrations``
    to the latest."""
    db = Database(url, schema=schema)
    await upgrade(db, home / "migrations")
    try:
        yield db
    finally:
        await db.dispose()


def saga_database(url: str) -> AbstractAsyncContextManager[Database]:
    """The saga's schema at ``url``, migrated to the latest revision."""
    return migrated_database(url, "saga", Path(SAGA_HOME))


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


@contextmanager
def statements_of(db: Database) -> Iterator[list[str]]:
    """The statements ``db`` runs inside the block, as their texts."""
    seen: list[str] = []

    def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", executed)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", executed)
