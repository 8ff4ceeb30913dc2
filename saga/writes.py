"""What a saga transaction writes at its end, and how it is written.

Nothing in a saga transaction reads again what it writes (the sagas' rows once
read, their history, inputs, commands and deadlines), so it is all kept in
:class:`Pending` until the commit and then written at once: on PostgreSQL in one
statement (:data:`~saga.statements.WRITE_ALL`) whatever the number of sagas and
inputs, on SQLite in a statement per table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from saga.statements import (
    ADD_HISTORY,
    ADD_INPUT,
    CLEAR_DEADLINES,
    CREATE,
    SET_DEADLINE,
    UPDATE,
    WRITE_ALL,
    update_values,
    write_all_values,
)
from shared.persistence.outbox import RECORD_OUTBOX


class VersionConflict(Exception):
    """The saga row changed since it was read; the transaction is run again."""


@dataclass
class Pending:
    """The rows a saga transaction has recorded and not written yet."""

    updates: dict[str, tuple[int, Any, datetime]] = field(default_factory=dict)
    """Sagas to store, each with the version its row must still be at, and when."""
    creates: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Sagas to insert, as their rows' values (stored again: their last state)."""
    history: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    """Outbox rows."""
    deadlines: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    """Deadlines to set (or clear: None), the last word per saga."""

    def update(self, saga: Any, *, expected: int, at: datetime) -> None:
        """Store ``saga`` over version ``expected``: stored twice, the row goes from
        the first expected version to the last one stored; one created in this
        transaction is inserted as it was stored last."""
        created = self.creates.get(saga.id)
        if created is not None:
            created.update(
                status=saga.status,
                state=saga.state,
                version=saga.version,
                updated_at=at,
                deadline_at=saga.deadline_at,
            )
            return
        before = self.updates.get(saga.id)
        self.updates[saga.id] = (before[0] if before else expected, saga, at)

    def __bool__(self) -> bool:
        parts = (self.updates, self.creates, self.history, self.inputs, self.commands)
        return any(parts) or bool(self.deadlines)


async def write(connection: AsyncConnection, pending: Pending) -> None:
    """Write ``pending``: any saga no longer at the version it was read at is a
    :class:`VersionConflict` (the transaction is run again)."""
    if not pending:
        return
    if connection.dialect.name == "postgresql":
        await _write_all(connection, pending)
    else:
        await _write_each(connection, pending)


async def _write_all(connection: AsyncConnection, pending: Pending) -> None:
    updates = list(pending.updates.values())
    deadlines = pending.deadlines
    values = write_all_values(
        updated=[
            {**update_values(saga, expected, at), "id": saga.id} for expected, saga, at in updates
        ],
        created=list(pending.creates.values()),
        history=pending.history,
        inputs=pending.inputs,
        commands=pending.commands,
        armed=[row for row in deadlines.values() if row is not None],
        cleared=[saga_id for saga_id, row in deadlines.items() if row is None],
    )
    result = await connection.execute(WRITE_ALL, values)
    stale = {saga.id for _, saga, _ in updates} - {str(i) for i in result.scalars()}
    if stale:
        raise VersionConflict(f"sagas {sorted(stale)} changed since they were read")


async def _write_each(connection: AsyncConnection, pending: Pending) -> None:
    """A statement per table (and per saga stored: SQLite's update cannot say which
    rows it changed)."""
    if pending.creates:
        await connection.execute(CREATE, list(pending.creates.values()))
    for expected, saga, at in pending.updates.values():
        result = await connection.execute(UPDATE, update_values(saga, expected, at))
        if result.rowcount != 1:
            raise VersionConflict(f"saga {saga.id} changed since version {expected}")
    cleared = [saga_id for saga_id, row in pending.deadlines.items() if row is None]
    armed = [row for row in pending.deadlines.values() if row is not None]
    if cleared:
        await connection.execute(CLEAR_DEADLINES, {"ids": cleared})
    if armed:
        await connection.execute(SET_DEADLINE["sqlite"], armed)
    for statement, rows in (
        (ADD_HISTORY, pending.history),
        (ADD_INPUT, pending.inputs),
        (RECORD_OUTBOX, pending.commands),
    ):
        if rows:
            await connection.execute(statement, rows)
