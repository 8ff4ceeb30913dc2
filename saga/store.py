"""The saga's tables as one transaction sees them, in SQL built once.

Every input the saga takes runs a transaction of the same few statements: lock
the saga, claim the message in the inbox, read the saga, write its new state,
its history, the input with its decision, the commands (through the outbox)
and its deadline.  They are SQLAlchemy Core statements compiled once, executed
on the transaction's connection: the ORM's unit of work (identity map, flush
ordering, one object per row) costs several times what the statements do, and
this is the path every saga takes four times or more.

The ops API and the dead-letter collector read and write the same tables through
the ORM models of :mod:`saga.models`; the statements here use those models'
tables, so both agree on every column and type.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from saga.models import (
    DeadLetterRow,
    ParkedMessageRow,
    SagaDeadlineRow,
    SagaHistoryRow,
    SagaInputRow,
    SagaRow,
)
from shared.clock import utcnow
from shared.messages import CATALOGUE, Message
from shared.messaging.envelope import Envelope
from shared.persistence.database import Database
from shared.persistence.outbox import CLAIM_INBOX, RECORD_OUTBOX, inbox_values, outbox_values

LOCK_NAMESPACE = 5_020
"""First key of the saga locks (PostgreSQL's two-key advisory locks), so they never
meet another use of advisory locks; the second key is a hash of the saga id."""

SAGAS = SagaRow.__table__  # type: ignore[attr-defined]
HISTORY = SagaHistoryRow.__table__  # type: ignore[attr-defined]
INPUTS = SagaInputRow.__table__  # type: ignore[attr-defined]
DEADLINES = SagaDeadlineRow.__table__  # type: ignore[attr-defined]
PARKED = ParkedMessageRow.__table__  # type: ignore[attr-defined]
DEAD_LETTERS = DeadLetterRow.__table__  # type: ignore[attr-defined]

_LOCK = text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:saga_id))")
_LOCK_AND_CLAIM = text(
    # One round trip: the insert reads the lock's row, so the lock comes first.
    "WITH locked AS (SELECT pg_advisory_xact_lock(:namespace, hashtext(:saga_id))) "
    "INSERT INTO inbox (consumer, message_id, processed_at) "
    "SELECT :consumer, :message_id, :processed_at FROM locked ON CONFLICT DO NOTHING"
)
_LOAD = select(
    SAGAS.c.id,
    SAGAS.c.status,
    SAGAS.c.state,
    SAGAS.c.version,
    SAGAS.c.deadline_at,
    SAGAS.c.created_at,
    SAGAS.c.definition_version,
    SAGAS.c.kind,
).where(SAGAS.c.id == bindparam("saga_id"))
_CREATE = insert(SAGAS)
_UPDATE = (
    update(SAGAS)
    .where(SAGAS.c.id == bindparam("saga_id"), SAGAS.c.version == bindparam("expected"))
    .values(
        version=bindparam("expected") + 1,
        status=bindparam("status"),
        state=bindparam("state", type_=SAGAS.c.state.type),
        updated_at=bindparam("updated_at", type_=SAGAS.c.updated_at.type),
        deadline_at=bindparam("deadline_at", type_=SAGAS.c.deadline_at.type),
    )
)
_HISTORY = insert(HISTORY)
_INPUT = insert(INPUTS)
_CLEAR_DEADLINE = delete(DEADLINES).where(DEADLINES.c.saga_id == bindparam("saga_id"))


def _set_deadline(dialect: Any) -> Any:
    """Insert a saga's deadline, or replace the one it has."""
    stmt = dialect.insert(DEADLINES)
    replaced = {column: stmt.excluded[column] for column in ("step", "attempt", "due_at")}
    return stmt.on_conflict_do_update(index_elements=[DEADLINES.c.saga_id], set_=replaced)


_SET_DEADLINE = {"postgresql": _set_deadline(postgresql), "sqlite": _set_deadline(sqlite)}
_DUE_DEADLINE = select(DEADLINES.c.step, DEADLINES.c.attempt).where(
    DEADLINES.c.saga_id == bindparam("saga_id"), DEADLINES.c.due_at <= bindparam("now")
)
_DUE_SAGAS = (
    select(DEADLINES.c.saga_id)
    .where(DEADLINES.c.due_at <= bindparam("now"))
    .order_by(DEADLINES.c.due_at)
    .limit(bindparam("limit"))
)
_PARK = insert(PARKED)
_PARKED = (
    select(PARKED.c.id, PARKED.c.message_id, PARKED.c.input)
    .where(PARKED.c.saga_id == bindparam("saga_id"))
    .order_by(PARKED.c.id)
)
_UNPARK = delete(PARKED).where(PARKED.c.id.in_(bindparam("ids", expanding=True)))
_EXPIRED = (
    select(PARKED.c.id, PARKED.c.saga_id, PARKED.c.message_id, PARKED.c.input, PARKED.c.received_at)
    .where(PARKED.c.received_at < bindparam("cutoff"))
    .order_by(PARKED.c.id)
    .limit(bindparam("limit"))
)
_DEAD_LETTER = insert(DEAD_LETTERS)


async def due_sagas(db: Database, now: datetime, limit: int) -> list[str]:
    """The sagas whose deadline has passed, the longest overdue first."""
    async with db.read_engine.connect() as connection:
        rows = await connection.execute(_DUE_SAGAS, {"now": now, "limit": limit})
        return [str(saga_id) for saga_id in rows.scalars()]


@dataclass(frozen=True)
class StoredSaga:
    """A saga row as the runtime needs it."""

    id: str
    status: str
    state: dict[str, Any]
    version: int
    deadline_at: datetime | None
    created_at: datetime | None = None
    """When the saga started (None for one created in this very transaction)."""
    definition_version: int | None = None
    """The definition version that started it (None for one created in this transaction)."""
    kind: str = "order"
    """Which definition runs it (``saga/kinds.py``)."""


@dataclass(frozen=True)
class ParkedInput:
    id: int
    message_id: str
    input: dict[str, Any]


class VersionConflict(Exception):
    """The saga row changed since it was read; the transaction is run again."""


class SagaTransaction:
    """One open transaction on the saga's tables, and the commands it sends."""

    def __init__(self, connection: AsyncConnection, *, app_id: str) -> None:
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        self._app_id = app_id
        self.sent: list[Envelope] = []
        """The commands recorded in the outbox, handed to the relay after the commit."""
        self.committed: list[Callable[[], None]] = []
        """Called after the commit, never after a rollback (:meth:`after_commit`)."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this transaction has committed: what it did may be
        counted only then, as a transaction rolled back is run again."""
        self.committed.append(callback)

    async def lock(self, saga_id: str, *, claim: tuple[str, str] | None = None) -> bool:
        """Hold ``saga_id``'s lock until the transaction ends: one transaction per
        saga at a time, across every saga process.  With ``claim`` (a consumer and
        a message id), record the message in the inbox too: False if the consumer
        already had it.

        On PostgreSQL a transaction-scoped advisory lock (two ids hashing alike
        merely wait for each other).  SQLite takes its write lock at ``BEGIN
        IMMEDIATE``, so starting the transaction is the lock."""
        lock = {"namespace": LOCK_NAMESPACE, "saga_id": saga_id}
        if claim is None:
            if self.postgres:
                await self.connection.execute(_LOCK, lock)
            return True
        claimed = inbox_values(*claim)
        if self.postgres:
            result = await self.connection.execute(_LOCK_AND_CLAIM, {**lock, **claimed})
        else:
            result = await self.connection.execute(CLAIM_INBOX["sqlite"], claimed)
        return bool(result.rowcount == 1)

    async def load(self, saga_id: str) -> StoredSaga | None:
        row = (await self.connection.execute(_LOAD, {"saga_id": saga_id})).first()
        return None if row is None else StoredSaga(*row)

    async def create(
        self, saga: StoredSaga, *, at: datetime, user_id: str, definition: int
    ) -> None:
        await self.connection.execute(
            _CREATE,
            {
                "id": saga.id,
                "kind": saga.kind,
                "status": saga.status,
                "state": saga.state,
                "version": saga.version,
                "definition_version": definition,
                "user_id": user_id,
                "created_at": at,
                "updated_at": at,
                "deadline_at": saga.deadline_at,
            },
        )

    async def update(self, saga: StoredSaga, *, expected: int, at: datetime) -> None:
        """Store ``saga`` if its row is still at version ``expected``."""
        result = await self.connection.execute(
            _UPDATE,
            {
                "saga_id": saga.id,
                "expected": expected,
                "status": saga.status,
                "state": saga.state,
                "updated_at": at,
                "deadline_at": saga.deadline_at,
            },
        )
        if result.rowcount != 1:
            raise VersionConflict(f"saga {saga.id} changed since version {expected}")

    async def record(
        self,
        saga_id: str,
        *,
        at: datetime,
        definition: int,
        history: Sequence[tuple[str, dict[str, Any]]],
        input: dict[str, Any],
        decision: dict[str, Any],
        message_id: str | None,
    ) -> None:
        """Append the history entries and the input with its decision (replay's tape)."""
        await self.note(
            saga_id, at=at, definition=definition, history=history, message_id=message_id
        )
        await self.connection.execute(
            _INPUT,
            {
                "saga_id": saga_id,
                "at": at,
                "input": input,
                "decision": decision,
                "definition_version": definition,
            },
        )

    async def note(
        self,
        saga_id: str,
        *,
        at: datetime,
        definition: int,
        history: Sequence[tuple[str, dict[str, Any]]],
        message_id: str | None,
    ) -> None:
        """Append history entries only: what happened to an input the definition was
        not given (a reply refused by the runtime), which replay must not see."""
        if history:
            await self.connection.execute(
                _HISTORY,
                [
                    {
                        "saga_id": saga_id,
                        "at": at,
                        "kind": kind,
                        "detail": detail,
                        "message_id": message_id,
                        "definition_version": definition,
                    }
                    for kind, detail in history
                ],
            )

    async def send(
        self,
        commands: Sequence[Message],
        *,
        correlation_id: str,
        causation_id: str | None,
        message_ids: Sequence[str],
    ) -> None:
        """Record ``commands`` in the outbox under ``message_ids``, to be published
        after the commit."""
        if not commands:
            return
        envelopes = [
            Envelope.wrap(
                command,
                app_id=self._app_id,
                correlation_id=correlation_id,
                causation_id=causation_id,
                message_id=message_id,
            )
            for command, message_id in zip(commands, message_ids, strict=True)
        ]
        await self.connection.execute(RECORD_OUTBOX, [outbox_values(e) for e in envelopes])
        self.sent.extend(envelopes)

    async def set_deadline(
        self, saga_id: str, *, command: str, attempt: int, due: datetime
    ) -> None:
        await self.connection.execute(
            _SET_DEADLINE[self.connection.dialect.name],
            {"saga_id": saga_id, "step": command, "attempt": attempt, "due_at": due},
        )

    async def clear_deadline(self, saga_id: str) -> None:
        await self.connection.execute(_CLEAR_DEADLINE, {"saga_id": saga_id})

    async def take_due_deadline(self, saga_id: str, now: datetime) -> tuple[str, int] | None:
        """The saga's deadline if it is due, deleted; on PostgreSQL one that another
        saga process is firing right now is skipped."""
        stmt = _DUE_DEADLINE.with_for_update(skip_locked=True) if self.postgres else _DUE_DEADLINE
        row = (await self.connection.execute(stmt, {"saga_id": saga_id, "now": now})).first()
        if row is None:
            return None
        await self.clear_deadline(saga_id)
        return str(row.step), int(row.attempt)

    async def park(self, saga_id: str, *, message_id: str, input: dict[str, Any]) -> None:
        """Keep an input for a saga that does not exist yet."""
        await self.connection.execute(
            _PARK,
            {"saga_id": saga_id, "message_id": message_id, "input": input, "received_at": utcnow()},
        )

    async def unpark(self, saga_id: str) -> list[ParkedInput]:
        """The inputs parked for ``saga_id``, oldest first, taken out of the table."""
        rows = (await self.connection.execute(_PARKED, {"saga_id": saga_id})).all()
        if rows:
            await self.connection.execute(_UNPARK, {"ids": [row.id for row in rows]})
        return [ParkedInput(*row) for row in rows]

    async def expire_parked(self, *, cutoff: datetime, queue: str, limit: int) -> int:
        """Move inputs parked before ``cutoff`` (at most ``limit``) into the dead
        letters of ``queue``, each with why; returns how many.  On PostgreSQL rows
        another saga process is expiring right now are skipped."""
        stmt = _EXPIRED.with_for_update(skip_locked=True) if self.postgres else _EXPIRED
        rows = (await self.connection.execute(stmt, {"cutoff": cutoff, "limit": limit})).all()
        if not rows:
            return 0
        now = utcnow()
        letters = []
        for row in rows:
            kind = str(row.input.get("type", ""))
            model = CATALOGUE.get(kind)
            letters.append(
                {
                    "queue": queue,
                    "message_id": row.message_id,
                    "type": kind,
                    "correlation_id": row.saga_id,
                    "reason": (
                        f"parked since {row.received_at.isoformat()} for saga {row.saga_id}, "
                        "which never started: expired"
                    ),
                    "exchange": model.exchange if model is not None else "",
                    "routing_key": kind,
                    "headers": {},
                    "body": json.dumps(row.input.get("body", {}), separators=(",", ":")).encode(),
                    "received_at": now,
                    "requeued_at": None,
                }
            )
        await self.connection.execute(_DEAD_LETTER, letters)
        await self.connection.execute(_UNPARK, {"ids": [row.id for row in rows]})
        return len(rows)
