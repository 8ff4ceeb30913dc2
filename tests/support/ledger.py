"""A tiny test-only table with an effect per message, to observe exactly-once effects."""

from __future__ import annotations

from sqlalchemy import func, text
from sqlmodel import Field, SQLModel, col, select

from shared.persistence.database import Database
from shared.persistence.messaging_tables import MESSAGING_TABLES


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "test_ledger"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True)


async def create_schema(db: Database) -> None:
    async with db.engine.begin() as conn:
        if db.is_postgres:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"'))
        tables = [*MESSAGING_TABLES, LedgerEntry.__table__]  # type: ignore[attr-defined]
        await conn.run_sync(lambda sync: SQLModel.metadata.create_all(sync, tables=tables))


async def ledger_counts(db: Database) -> tuple[int, int]:
    """(entries, distinct keys), read in one statement so both count the same rows."""
    async with db.sessions() as session:
        total, distinct = (
            await session.exec(
                select(func.count(col(LedgerEntry.id)), func.count(func.distinct(LedgerEntry.key)))
            )
        ).one()
    return int(total), int(distinct)
