"""Every component's revisions, run on an empty database, give exactly its models'
schema, on SQLite and PostgreSQL; and a model change shipped with an ordinary
revision migrates a new database cleanly."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import bff.idempotency
import card_provider.tables
import saga.models
import services.inventory.models
import services.orders.models
import services.payments.models
import services.users.models
import shared.persistence.messaging_tables
from shared.persistence.database import Database
from shared.persistence.migrations import downgrade, upgrade

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Component:
    """A migrations folder and the models whose schema its revisions must produce."""

    migrations: Path
    models: tuple[ModuleType, ...]
    probed_table: str
    """Where the schema-change probe adds its column."""

    def tables(self) -> list[sa.Table]:
        """The tables of the models defined in ``models`` (SQLModel classes or Core tables)."""
        found: list[sa.Table] = []
        for module in self.models:
            for value in vars(module).values():
                if isinstance(value, sa.Table):
                    found.append(value)
                elif (
                    isinstance(value, type)
                    and issubclass(value, SQLModel)
                    and value.__module__ == module.__name__
                    and hasattr(value, "__table__")
                ):
                    found.append(value.__table__)
        return found

    def metadata(self) -> sa.MetaData:
        """The component's tables alone (``SQLModel.metadata`` holds every service's)."""
        metadata = sa.MetaData()
        for table in self.tables():
            table.to_metadata(metadata)
        return metadata


MESSAGING = shared.persistence.messaging_tables
COMPONENTS = {
    "orders": Component(
        ROOT / "services/orders/migrations", (services.orders.models, MESSAGING), "orders"
    ),
    "inventory": Component(
        ROOT / "services/inventory/migrations", (services.inventory.models, MESSAGING), "products"
    ),
    "users": Component(
        ROOT / "services/users/migrations", (services.users.models, MESSAGING), "users"
    ),
    "payments": Component(
        ROOT / "services/payments/migrations", (services.payments.models, MESSAGING), "payments"
    ),
    "saga": Component(ROOT / "saga/migrations", (saga.models, MESSAGING), "sagas"),
    "bff": Component(ROOT / "bff/migrations", (bff.idempotency,), "idempotency_keys"),
    "card-provider": Component(
        ROOT / "card_provider/migrations", (card_provider.tables,), "charges"
    ),
}


@pytest.fixture(params=sorted(COMPONENTS))
def component(request: pytest.FixtureRequest) -> tuple[str, Component]:
    return str(request.param), COMPONENTS[str(request.param)]


@pytest.fixture
async def empty_db(database_url: str, component: tuple[str, Component]) -> AsyncIterator[Database]:
    """An empty database laid out as in production (PostgreSQL: a schema per component)."""
    db = Database(database_url, schema=component[0])
    yield db
    await db.dispose()


def _differences(connection: sa.Connection, metadata: sa.MetaData) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            # Alembic's own type comparison.  SQLite has no timezone-aware timestamp:
            # a ``DateTime(timezone=True)`` column (what ``UtcDateTime`` stores in) is a
            # plain ``DATETIME`` there, which Alembic accepts as the same type; the
            # timezone flag itself is checked on PostgreSQL (``timestamptz``).
            "compare_type": True,
            # The models declare no server defaults, so any default found in the
            # database is a difference.  (PostgreSQL's SERIAL ``nextval`` on integer
            # primary keys is not reported: Alembic knows it comes with the type.)
            "compare_server_default": True,
        },
    )
    diffs: list[Any] = compare_metadata(context, metadata)
    inspector = sa.inspect(connection)
    # Alembic does not compare CHECK constraints: their names are compared here.
    for table in metadata.tables.values():
        modelled = {str(c.name) for c in table.constraints if isinstance(c, sa.CheckConstraint)}
        found = {str(c["name"]) for c in inspector.get_check_constraints(table.name)}
        if modelled != found:
            diffs.append(("check_constraints", table.name, sorted(found), sorted(modelled)))
    return diffs


async def _schema_differences(db: Database, metadata: sa.MetaData) -> list[Any]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(_differences, metadata)


async def _table_names(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    return set(names)


async def test_migrating_an_empty_database_to_head_gives_exactly_the_models_schema(
    empty_db: Database, component: tuple[str, Component]
) -> None:
    _, spec = component

    await upgrade(empty_db, spec.migrations)

    assert await _schema_differences(empty_db, spec.metadata()) == []


async def test_every_revision_is_undone_by_its_downgrade(
    empty_db: Database, component: tuple[str, Component]
) -> None:
    _, spec = component
    await upgrade(empty_db, spec.migrations)

    await downgrade(empty_db, spec.migrations, "base")

    assert await _table_names(empty_db) == {"alembic_version"}
    await upgrade(empty_db, spec.migrations)
    assert await _schema_differences(empty_db, spec.metadata()) == []


PROBE_REVISION = '''"""A column added to {table} (written by the test).

Revision ID: probe
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

revision = "probe"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("{table}", sa.Column("{column}", sa.String(40), nullable=True))


def downgrade() -> None:
    op.drop_column("{table}", "{column}")
'''


@contextmanager
def _model_column(table: sa.Table, column: sa.Column[Any]) -> Iterator[None]:
    """``column`` added to a model's table for the duration, as a developer adding a
    field would.  SQLAlchemy has no public way to remove a column again; the table's
    own collection does it, so later tests see the model unchanged."""
    table.append_column(column)
    try:
        yield
    finally:
        table._columns.remove(column)


async def test_a_model_change_with_an_add_column_revision_migrates_a_new_database(
    empty_db: Database, component: tuple[str, Component], tmp_path: Path
) -> None:
    _, spec = component
    migrations = tmp_path / "migrations"
    shutil.copytree(spec.migrations, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    head = ScriptDirectory(str(migrations)).get_current_head()
    column = "gift_note"
    (migrations / "versions" / "9999_probe.py").write_text(
        PROBE_REVISION.format(table=spec.probed_table, head=head, column=column)
    )
    model_table = next(t for t in spec.tables() if t.name == spec.probed_table)

    with _model_column(model_table, sa.Column(column, sa.String(40), nullable=True)):
        await upgrade(empty_db, migrations)
        differences = await _schema_differences(empty_db, spec.metadata())

    assert differences == []
    assert column not in model_table.c
