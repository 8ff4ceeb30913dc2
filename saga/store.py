"""The saga's tables as one transaction sees them, in SQL built once.

Every input the saga takes runs a transaction of the same few statements: lock
the saga, claim the message in the inbox, read the saga, write its new state,
its history, the input with its decision, the commands (through the outbox)
and its deadline.  A batch of inputs runs them in one transaction: every saga
locked and every message claimed in one statement, every saga read in one, the
history, inputs and commands of all written with one statement per table.  They
are SQLAlchemy Core statements (:mod:`saga.statements`) compiled once, executed
on the transaction's connection: the ORM's unit of work (identity map, flush
ordering, one object per row) costs several times what the statements do, and
this is the path every saga takes four times or more.

The ops API and the dead-letter collector read and write the same tables through
the ORM models of :mod:`saga.models`; the statements here use those models'
tables, so both agree on every column and type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from saga.statements import (
    DEAD_LETTER,
    DUE_DEADLINE,
    DUE_SAGAS,
    EXPIRED,
    LOAD,
    LOAD_ALL,
    LOAD_ALL_PARKED,
    LOCK,
    LOCK_ALL_AND_CLAIM,
    LOCK_AND_CLAIM,
    LOCK_NAMESPACE,
    PARK,
    PARKED_OF,
    UNPARK,
    expired_letter,
)
from saga.writes import Pending, write
from saga.writes import VersionConflict as VersionConflict
from shared.clock import utcnow
from shared.messages import Message
from shared.messaging.envelope import Envelope
from shared.persistence.database import Database
from shared.persistence.outbox import (
    CLAIM_INBOX,
    CLAIM_INBOX_BATCH,
    inbox_values,
    outbox_values,
)


async def due_sagas(db: Database, now: datetime, limit: int) -> list[str]:
    """The sagas whose deadline has passed, the longest overdue first."""
    async with db.read_engine.connect() as connection:
        rows = await connection.execute(DUE_SAGAS, {"now": now, "limit": limit})
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


class SagaTransaction:
    """One open transaction on the saga's tables, and the commands it sends.

    What nothing in the transaction reads again (the sagas' rows once read, their
    deadlines, history, inputs, the outbox's commands) is written by :meth:`flush`
    before the commit, all at once (:mod:`saga.writes`)."""

    def __init__(self, connection: AsyncConnection, *, app_id: str) -> None:
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        self._app_id = app_id
        self.sent: list[Envelope] = []
        """The commands recorded in the outbox, handed to the relay after the commit."""
        self._pending = Pending()
        """What :meth:`flush` writes."""
        self._known: dict[str, StoredSaga | None] = {}
        """Sagas read by :meth:`load_all`, as this transaction left them."""
        self._parked: set[str] | None = None
        """Of the sagas :meth:`load_all` read, those with inputs parked (PostgreSQL;
        None: not known, :meth:`unpark` asks)."""
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
                await self.connection.execute(LOCK, lock)
            return True
        claimed = inbox_values(*claim)
        if self.postgres:
            result = await self.connection.execute(LOCK_AND_CLAIM, {**lock, **claimed})
        else:
            result = await self.connection.execute(CLAIM_INBOX["sqlite"], claimed)
        return bool(result.rowcount == 1)

    async def lock_all(
        self, saga_ids: Sequence[str], *, consumer: str, message_ids: Sequence[str]
    ) -> set[str]:
        """Hold the locks of every saga of ``saga_ids`` until the transaction ends,
        taken in one fixed order (see :meth:`lock`), and claim ``message_ids`` in the
        inbox: returns the ids ``consumer`` did not have yet."""
        ids = sorted(set(message_ids))
        if self.postgres:
            claimed = inbox_values(consumer, "")
            result = await self.connection.execute(
                LOCK_ALL_AND_CLAIM,
                {
                    "namespace": LOCK_NAMESPACE,
                    "saga_ids": sorted(set(saga_ids)),
                    "consumer": consumer,
                    "message_ids": ids,
                    "processed_at": claimed["processed_at"],
                },
            )
        else:
            params = [inbox_values(consumer, message_id) for message_id in ids]
            result = await self.connection.execute(CLAIM_INBOX_BATCH["sqlite"], params)
        return {str(message_id) for message_id in result.scalars()}

    async def load_all(self, saga_ids: Sequence[str]) -> None:
        """Read every saga of ``saga_ids`` in one statement: :meth:`load` answers from
        what was read (and what this transaction stored since) without a statement.
        The caller holds their locks."""
        ids = sorted(set(saga_ids))
        self._known = dict.fromkeys(ids)
        if not self.postgres:
            rows = (await self.connection.execute(LOAD_ALL, {"saga_ids": ids})).all()
            self._known.update({str(row.id): StoredSaga(*row) for row in rows})
            return
        rows = (await self.connection.execute(LOAD_ALL_PARKED, {"saga_ids": ids})).all()
        self._known.update({str(row.id): StoredSaga(*row[:-2]) for row in rows if row.id})
        self._parked = {str(row.asked) for row in rows if row.parked}

    async def load(self, saga_id: str) -> StoredSaga | None:
        if saga_id in self._known:
            return self._known[saga_id]
        row = (await self.connection.execute(LOAD, {"saga_id": saga_id})).first()
        return None if row is None else StoredSaga(*row)

    def _stored(self, saga: StoredSaga, *, definition: int | None = None) -> None:
        """What :meth:`load` answers for ``saga`` from now on, when it was read by
        :meth:`load_all`: the row as this transaction wrote it."""
        if saga.id in self._known:
            before = self._known[saga.id]
            self._known[saga.id] = replace(
                saga,
                created_at=before.created_at if before is not None else None,
                definition_version=(
                    before.definition_version if before is not None else definition
                ),
            )

    async def create(
        self, saga: StoredSaga, *, at: datetime, user_id: str, definition: int
    ) -> None:
        """Insert ``saga`` (by :meth:`flush`: a race lost to another transaction
        creating it fails there, and the transaction is run again)."""
        self._pending.creates[saga.id] = {
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
        }
        self._stored(saga, definition=definition)

    async def update(self, saga: StoredSaga, *, expected: int, at: datetime) -> None:
        """Store ``saga`` (by :meth:`flush`) if its row is still at version
        ``expected``; stored twice in one transaction, the row goes from the first
        expected version to the last one stored.  One created in this transaction
        is inserted as it was stored last."""
        self._pending.update(saga, expected=expected, at=at)
        self._stored(saga)

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
        """Append the history entries and the input with its decision (replay's
        tape), written by :meth:`flush`."""
        await self.note(
            saga_id, at=at, definition=definition, history=history, message_id=message_id
        )
        self._pending.inputs.append(
            {
                "saga_id": saga_id,
                "at": at,
                "input": input,
                "decision": decision,
                "definition_version": definition,
            }
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
        """Append history entries only (by :meth:`flush`): what happened to an input
        the definition was not given (a reply refused by the runtime), which replay
        must not see."""
        self._pending.history.extend(
            {
                "saga_id": saga_id,
                "at": at,
                "kind": kind,
                "detail": detail,
                "message_id": message_id,
                "definition_version": definition,
            }
            for kind, detail in history
        )

    async def send(
        self,
        commands: Sequence[Message],
        *,
        correlation_id: str,
        causation_id: str | None,
        message_ids: Sequence[str],
    ) -> None:
        """Record ``commands`` in the outbox under ``message_ids`` (by :meth:`flush`),
        to be published after the commit."""
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
        self.sent.extend(envelopes)
        self._pending.commands.extend(outbox_values(envelope) for envelope in envelopes)

    async def flush(self) -> None:
        """Write what was recorded so far (:func:`saga.writes.write`). Called before
        the commit."""
        pending, self._pending = self._pending, Pending()
        await write(self.connection, pending)

    async def set_deadline(
        self, saga_id: str, *, command: str, attempt: int, due: datetime
    ) -> None:
        """Give the saga this deadline (by :meth:`flush`), replacing any it has."""
        self._pending.deadlines[saga_id] = {
            "saga_id": saga_id,
            "step": command,
            "attempt": attempt,
            "due_at": due,
        }

    async def clear_deadline(self, saga_id: str) -> None:
        """Take the saga's deadline away (by :meth:`flush`)."""
        self._pending.deadlines[saga_id] = None

    async def take_due_deadline(self, saga_id: str, now: datetime) -> tuple[str, int] | None:
        """The saga's deadline if it is due, deleted; on PostgreSQL one that another
        saga process is firing right now is skipped."""
        stmt = DUE_DEADLINE.with_for_update(skip_locked=True) if self.postgres else DUE_DEADLINE
        row = (await self.connection.execute(stmt, {"saga_id": saga_id, "now": now})).first()
        if row is None:
            return None
        await self.clear_deadline(saga_id)
        return str(row.step), int(row.attempt)

    async def park(self, saga_id: str, *, message_id: str, input: dict[str, Any]) -> None:
        """Keep an input for a saga that does not exist yet."""
        if self._parked is not None:
            self._parked.add(saga_id)
        await self.connection.execute(
            PARK,
            {"saga_id": saga_id, "message_id": message_id, "input": input, "received_at": utcnow()},
        )

    async def unpark(self, saga_id: str) -> list[ParkedInput]:
        """The inputs parked for ``saga_id``, oldest first, taken out of the table
        (no statement for a saga :meth:`load_all` found none for)."""
        if self._parked is not None and saga_id in self._known and saga_id not in self._parked:
            return []
        rows = (await self.connection.execute(PARKED_OF, {"saga_id": saga_id})).all()
        if rows:
            await self.connection.execute(UNPARK, {"ids": [row.id for row in rows]})
        return [ParkedInput(*row) for row in rows]

    async def expire_parked(self, *, cutoff: datetime, queue: str, limit: int) -> int:
        """Move inputs parked before ``cutoff`` (at most ``limit``) into the dead
        letters of ``queue``, each with why; returns how many.  On PostgreSQL rows
        another saga process is expiring right now are skipped."""
        stmt = EXPIRED.with_for_update(skip_locked=True) if self.postgres else EXPIRED
        rows = (await self.connection.execute(stmt, {"cutoff": cutoff, "limit": limit})).all()
        if not rows:
            return 0
        letters = [expired_letter(row, queue=queue, now=utcnow()) for row in rows]
        await self.connection.execute(DEAD_LETTER, letters)
        await self.connection.execute(UNPARK, {"ids": [row.id for row in rows]})
        return len(rows)
