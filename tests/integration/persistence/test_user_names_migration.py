"""The users' revision 0002 on both databases: existing accounts keep their name,
split into first and last name, and the downgrade joins them again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from shared.persistence.database import Database
from shared.persistence.migrations import downgrade, upgrade

MIGRATIONS = Path(__file__).resolve().parents[3] / "services/users/migrations"
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


async def _rows(db: Database, columns: str) -> dict[str, tuple[object, ...]]:
    async with db.engine.connect() as connection:
        result = await connection.execute(sa.text(f"SELECT id, {columns} FROM users"))
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

    assert await _rows(users_db, "first_name, last_name") == {
        "u-1": ("Ada", "King Lovelace"),
        "u-2": ("Plato", None),
        "u-3": ("Grace", "Hopper"),
        "u-4": (None, None),
    }

    await downgrade(users_db, MIGRATIONS, "0001")

    assert await _rows(users_db, "name") == {
        "u-1": ("Ada King Lovelace",),
        "u-2": ("Plato",),
        "u-3": ("Grace Hopper",),
        "u-4": (None,),
    }
