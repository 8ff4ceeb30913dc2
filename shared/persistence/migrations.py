"""Alembic, driven from code: one migration folder per service.

Each service keeps ``migrations/`` beside its models with an ``env.py`` that calls
:func:`run_env`.  ``oms migrate`` and every component's start-up call
:func:`upgrade`, which creates the service's schema on PostgreSQL and runs the
service's revisions up to head inside it.

Revisions are written out in full (``op.create_table`` with every column, ``op.add_column``
...) and never read the models: a revision must create the same schema on a new
database years later, whatever the models say by then.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, text

from shared.persistence.database import Database


def _config(script_location: Path, db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    # The option is read with ConfigParser's interpolation: a "%" (an escaped ":" of a
    # host listed in the query, or in a password) is written doubled.
    url = db.url.render_as_string(hide_password=False).replace("%", "%%")
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["schema"] = db.schema if db.is_postgres else None
    return cfg


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)
"""Alembic's ``context`` is a process-wide proxy: two services migrating at once in
one process (``oms up``) would run each other's revisions, so they take turns
(one lock per event loop, as an asyncio lock belongs to one loop)."""


async def upgrade(db: Database, script_location: Path, revision: str = "head") -> None:
    """Run the service's revisions up to ``revision`` (by default all of them)."""
    await _migrate(db, script_location, command.upgrade, revision)


async def downgrade(db: Database, script_location: Path, revision: str) -> None:
    """Undo the service's revisions down to ``revision`` (``"base"``: all of them)."""
    await _migrate(db, script_location, command.downgrade, revision)


async def _migrate(
    db: Database, script_location: Path, direction: Callable[[Config, str], None], revision: str
) -> None:
    cfg = _config(script_location, db)
    turn = _turns.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with turn, db.engine.begin() as conn:
        if db.is_postgres:
            # Two processes starting at once may both try to create the schema and
            # run the revisions: a transaction-level advisory lock serialises them.
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": db.schema})
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"'))
        await conn.run_sync(_migrate_sync, cfg, direction, revision)


def _migrate_sync(
    connection: Connection, cfg: Config, direction: Callable[[Config, str], None], revision: str
) -> None:
    cfg.attributes["connection"] = connection
    direction(cfg, revision)


def run_env(target_metadata: Any = None) -> None:
    """The body of every service's ``migrations/env.py`` (online mode only)."""
    connection: Connection = context.config.attributes["connection"]
    schema: str | None = context.config.attributes.get("schema")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
