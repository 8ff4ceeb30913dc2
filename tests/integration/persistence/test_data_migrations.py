"""Revisions that move data, on both databases: the users' 0002 splits existing
names into first and last name (and its downgrade joins them again); the
inventory's 0002 readdresses waiting events to the ``products`` exchange."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from shared.persistence.database import Database
from shared.persistence.migrations import downgrade, upgrade

ROOT = Path(__file__).resolve().parents[3]
MIGRATIONS = ROOT / "services/users/migrations"
INVENTORY_MIGRATIONS = ROOT / "services/inventory/migrations"
NAMES = {
    "u-1": "Ada King Lovelace",
    "u-2": "Plato",
    "u-3": "  Grace   Hopper ",
    "u-4": None,
}


@pytest.fixture
async def users_db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, schema="users")
    yield db
    await db.dispose()


@pytest.fixture
async def inventory_db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, schema="inventory")
    yield db
    await db.dispose()


async def _rows(db: Database, columns: str, table: str = "users") -> dict[str, tuple[object, ...]]:
    async with db.engine.connect() as connection:
        result = await connection.execute(sa.text(f"SELECT {columns} FROM {table}"))
        return {row[0]: tuple(row[1:]) for row in result}


async def test_existing_names_become_first_and_last_names_and_come_back_on_downgrade(
    users_db: Database,
) -> None:
    await upgrade(users_db, MIGRATIONS, "0001")
    async with users_db.engine.begin() as connection:
        for user_id, name in NAMES.items():
            await connection.execute(
                sa.text(
                    "INSERT INTO users (id, email, email_key, name, password_hash, created_at)"
                    " VALUES (:id, :email, :email, :name, 'hash', CURRENT_TIMESTAMP)"
                ),
                {"id": user_id, "email": f"{user_id}@example.com", "name": name},
            )
        # An address refers to a user: the column change must not touch that.
        await connection.execute(
            sa.text(
                "INSERT INTO user_addresses"
                " (id, user_id, line1, city, postal_code, country, created_at)"
                " VALUES ('a-1', 'u-1', '1 Main St', 'Berlin', '10115', 'DE', CURRENT_TIMESTAMP)"
            )
        )

    await upgrade(users_db, MIGRATIONS)

    assert await _rows(users_db, "id, first_name, last_name") == {
        "u-1": ("Ada", "King Lovelace"),
        "u-2": ("Plato", None),
        "u-3": ("Grace", "Hopper"),
        "u-4": (None, None),
    }

    await downgrade(users_db, MIGRATIONS, "0001")

    assert await _rows(users_db, "id, name") == {
        "u-1": ("Ada King Lovelace",),
        "u-2": ("Plato",),
        "u-3": ("Grace Hopper",),
        "u-4": (None,),
    }


async def test_events_waiting_in_the_inventory_outbox_move_to_the_products_exchange(
    inventory_db: Database,
) -> None:
    await upgrade(inventory_db, INVENTORY_MIGRATIONS, "0001")
    async with inventory_db.engine.begin() as connection:
        for message_id, exchange in (("m-1", "inventory"), ("m-2", "commands")):
            await connection.execute(
                sa.text(
                    "INSERT INTO outbox (message_id, type, exchange, routing_key, correlation_id,"
                    " app_id, headers, body, created_at) VALUES (:id, 'inventory.reserved',"
                    " :exchange, 'inventory.reserved', 'o-1', 'inventory', '{}', :body,"
                    " CURRENT_TIMESTAMP)"
                ),
                {"id": message_id, "exchange": exchange, "body": b"{}"},
            )

    await upgrade(inventory_db, INVENTORY_MIGRATIONS)
    upgraded = await _rows(inventory_db, "message_id, exchange", "outbox")
    await downgrade(inventory_db, INVENTORY_MIGRATIONS, "0001")
    downgraded = await _rows(inventory_db, "message_id, exchange", "outbox")

    assert upgraded == {"m-1": ("products",), "m-2": ("commands",)}
    assert downgraded == {"m-1": ("inventory",), "m-2": ("commands",)}
