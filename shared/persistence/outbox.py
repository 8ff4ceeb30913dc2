"""Transactional outbox, inbox, and the unit of work that ties them together.

A handler changes state and records the messages it wants sent in one
transaction (:class:`UnitOfWork`).  After the commit the unit of work hands
what it recorded to the :class:`OutboxRelay`, which publishes it with publisher
confirms straight away, in the order the transactions committed, without reading
it back, and deletes the published rows in batches.  The relay also sweeps on a timer, so rows left behind by a crash
between commit and publish, or by a publish the broker refused, go out when the
process (or any other process sharing the database) runs again.  A sweep takes
only rows that have waited longer than ``stale_after_seconds`` (those of other
processes, or of this one that were never published); on PostgreSQL rows are
claimed with ``FOR UPDATE SKIP LOCKED`` so several relays can sweep at once
without publishing a row twice.

The inbox records which message ids a consumer has processed, in the same
transaction as the effect, so a redelivered message has no second effect.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import (
    String,
    Table,
    TextClause,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    text,
)
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.clock import utcnow
from shared.logging import get_logger
from shared.messages import COMMANDS_EXCHANGE, Message
from shared.messaging.envelope import Envelope
from shared.messaging.transport import PublishError, Transport
from shared.persistence.arrays import Part
from shared.persistence.database import Database
from shared.persistence.messaging_tables import InboxRow, OutboxRow

log = get_logger(__name__)


_COLUMNS = {
    "message_id": "message_id",
    "type": "type",
    "exchange": "exchange",
    "routing_key": "routing_key",
    "correlation_id": "correlation_id",
    "causation_id": "causation_id",
    "app_id": "app_id",
    "headers": "headers",
    "body": "body",
    "created_at": "timestamp",
}
"""Each outbox column and the envelope field it keeps, for both directions."""


def outbox_values(envelope: Envelope) -> dict[str, Any]:
    """The outbox row of ``envelope``, as column values."""
    return {column: getattr(envelope, field) for column, field in _COLUMNS.items()}


def outbox_row(envelope: Envelope) -> OutboxRow:
    return OutboxRow(**outbox_values(envelope))


def row_envelope(row: OutboxRow) -> Envelope:
    """The envelope an outbox row keeps (what :func:`outbox_values` stored)."""
    return Envelope(**{field: getattr(row, column) for column, field in _COLUMNS.items()})


OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
OUTBOX_COLUMNS = tuple(_COLUMNS)
"""The outbox's columns, for statements that write its rows from arrays
(:mod:`shared.persistence.arrays`, their types from :data:`OUTBOX`)."""
RECORD_OUTBOX = insert(OUTBOX)
DELETE_PUBLISHED = {
    # One statement text whatever the count (an array), so it is prepared once.
    "postgresql": delete(OUTBOX).where(
        OUTBOX.c.message_id == any_(bindparam("ids", type_=postgresql.ARRAY(String)))
    ),
    "sqlite": delete(OUTBOX).where(OUTBOX.c.message_id.in_(bindparam("ids", expanding=True))),
}

CLAIM_INBOX = {
    "postgresql": postgresql.insert(InboxRow.__table__).on_conflict_do_nothing(),  # type: ignore[attr-defined]
    "sqlite": sqlite.insert(InboxRow.__table__).on_conflict_do_nothing(),  # type: ignore[attr-defined]
}
"""Per dialect: record a message as processed, unless it already was (built once)."""

ANY_STALE = (
    select_columns(literal(1))
    .select_from(OUTBOX)
    .where(OUTBOX.c.created_at < bindparam("cutoff", type_=OUTBOX.c.created_at.type))
    .limit(1)
)
"""Whether any outbox row was written before ``cutoff``: what a timer sweep asks
first, in one statement without a transaction, before it claims rows in one."""


def inbox_values(consumer: str, message_id: str) -> dict[str, Any]:
    return {"consumer": consumer, "message_id": message_id, "processed_at": utcnow()}


CLAIM_INBOX_BATCH = {
    dialect: statement.returning(InboxRow.__table__.c.message_id)  # type: ignore[attr-defined]
    for dialect, statement in CLAIM_INBOX.items()
}
"""Per dialect: :data:`CLAIM_INBOX` answering which ids it recorded."""

_RECORDED = Part.of(OUTBOX, OUTBOX_COLUMNS, name="recorded")


def claim_all_sql(*, after: str = "") -> str:
    """PostgreSQL's insert claiming ``:message_ids`` for ``:consumer`` at
    ``:processed_at``, returning the ids claimed now (the others were handled
    already).  The claims go in a fixed order, so two transactions claiming some of
    the same ids wait for each other rather than deadlock.  ``after`` names a
    relation the insert reads first (the saga's locks)."""
    source = f"{after}, " if after else ""
    return (
        "INSERT INTO inbox (consumer, message_id, processed_at) "
        f"SELECT :consumer, m, :processed_at FROM {source}"
        "unnest(CAST(:message_ids AS text[])) AS m ORDER BY m "
        "ON CONFLICT DO NOTHING RETURNING message_id"
    )


@functools.cache
def _at_commit(claiming: bool, parts: tuple[tuple[Part, str], ...]) -> TextClause:
    """On PostgreSQL, what a unit of work writes with its commit in one statement:
    the inbox claims (if ``claiming``, :func:`claim_all_sql`), the rows of ``parts``
    (each with its table) and the outbox rows."""
    written = [part.insert(table) for part, table in parts] + [_RECORDED.insert("outbox")]
    if not claiming:
        return text(f"WITH {', '.join(written)} SELECT 1")
    claimed = f"claimed_rows AS ({claim_all_sql()})"
    return text(f"WITH {', '.join([claimed, *written])} SELECT message_id FROM claimed_rows")


@functools.cache
def _inserted(table: Table, columns: tuple[str, ...], n: int) -> Part:
    """The ``n``-th part of a commit's statement: ``columns`` of ``table`` (built once)."""
    return Part.of(table, columns, name=f"{table.name}_{n}")


async def _claim_now(
    connection: AsyncConnection, consumer: str, message_ids: Sequence[str]
) -> set[str]:
    """Record ``message_ids`` as handled by ``consumer`` in one statement, in a fixed
    order; returns those it had not handled yet."""
    claims = [inbox_values(consumer, message_id) for message_id in sorted(set(message_ids))]
    result = await connection.execute(CLAIM_INBOX_BATCH[connection.dialect.name], claims)
    return {str(message_id) for message_id in result.scalars()}


class AlreadyHandled(Exception):
    """The commit of a unit of work found message ids it claimed handled already by
    its consumer: it rolled back, and nothing it did is kept."""

    def __init__(self, ids: set[str]) -> None:
        super().__init__(f"handled already: {', '.join(sorted(ids))}")
        self.ids = ids


class UnitOfWork:
    r"""One transaction: the session for state changes and :meth:`send` for messages.

    Use as ``async with UnitOfWork(db, app_id=…, relay=…) as uow:``; it commits when
    the block ends without an error, rolls back otherwise, and wakes the relay
    after a commit that recorded messages.  What it sends goes to the outbox with
    the commit, and so do the message ids it :meth:`claim`\ s and the rows it
    :meth:`insert`\ s: on PostgreSQL all in one statement.

    A unit of work that only inserts (``inserts_only``: no session, nothing read)
    is on PostgreSQL that one statement alone, committed as it runs: one round
    trip."""

    def __init__(
        self,
        db: Database,
        *,
        app_id: str,
        relay: OutboxRelay | None = None,
        inserts_only: bool = False,
    ) -> None:
        self._db = db
        self._app_id = app_id
        self._relay = relay
        self._inserts_only = inserts_only
        self._sent: list[Envelope] = []
        self._claim: tuple[str, list[str]] | None = None
        self._inserts: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
        """Rows to insert with the commit, by table and columns, in the order given."""
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        if not self._inserts_only:
            self.session = self._db.sessions()
            await self.session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._inserts_only:
            if exc_type is None:
                await self._insert_only()
        else:
            await self._commit_or_roll_back(failed=exc_type is not None)
        if exc_type is None and self._sent and self._relay is not None:
            self._relay.hand_over(self._sent)

    async def _commit_or_roll_back(self, *, failed: bool) -> None:
        try:
            if failed:
                await self.session.rollback()
                return
            handled = await self._write(await self.session.connection())
            if handled:
                await self.session.rollback()
                raise AlreadyHandled(handled)
            await self.session.commit()
        finally:
            await self.session.close()

    async def _insert_only(self) -> None:
        if self._db.is_postgres:
            async with self._db.engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await self._write(autocommit)
            return
        async with self._db.engine.begin() as connection:
            await self._write(connection)

    def claim(self, consumer: str, message_ids: Sequence[str]) -> None:
        """Record ``message_ids`` as handled by ``consumer`` with the commit: if it
        had handled any of them already, the commit raises :class:`AlreadyHandled`
        and keeps nothing of this unit of work.  (What a handler does to the
        database is undone with it; what it does elsewhere must bear repeating, as
        a handler run that fails and is delivered again must.)"""
        self._claim = (consumer, sorted(set(message_ids)))

    async def claim_first(self, consumer: str, message_ids: Sequence[str]) -> set[str]:
        """Record ``message_ids`` as handled by ``consumer`` now, before anything else
        runs in this unit of work, in a fixed order; returns those it had not handled
        yet.  For a batch: a redelivery found at its commit would roll back its
        neighbours' work, and their handlers' calls outside the database (a card
        provider's) would be made a second time on the run after."""
        return await _claim_now(await self.session.connection(), consumer, message_ids)

    def insert(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows`` (column values by name, the same columns in each, in the
        order given) into ``table`` with the commit, before the outbox rows: for rows
        nothing in this unit of work reads again."""
        for row in rows:
            self._inserts.setdefault((table, tuple(row)), []).append(row)

    async def _write(self, connection: AsyncConnection) -> set[str]:
        """Write the claims, the inserts and the outbox's rows; returns the ids
        claimed that were handled already."""
        rows = [outbox_values(e) for e in self._sent]
        if connection.dialect.name == "postgresql":
            if not (rows or self._inserts or self._claim):
                return set()
            values: dict[str, Any] = _RECORDED.parameters(rows)
            parts: list[tuple[Part, str]] = []
            for n, ((table, columns), given) in enumerate(self._inserts.items()):
                part = _inserted(table, columns, n)
                values |= part.parameters(given)
                parts.append((part, table.name))
            statement = _at_commit(self._claim is not None, tuple(parts))
            if self._claim is None:
                await connection.execute(statement, values)
                return set()
            consumer, ids = self._claim
            values |= {"consumer": consumer, "message_ids": ids, "processed_at": utcnow()}
            result = await connection.execute(statement, values)
            return set(ids) - {str(message_id) for message_id in result.scalars()}
        handled: set[str] = set()
        if self._claim is not None:
            consumer, ids = self._claim
            handled = set(ids) - await _claim_now(connection, consumer, ids)
            if handled:
                return handled
        for (table, _), given in self._inserts.items():
            await connection.execute(insert(table), given)
        if rows:
            await connection.execute(RECORD_OUTBOX, rows)
        return handled

    def send(
        self,
        message: Message,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Envelope:
        """Record ``message`` for publication when this transaction commits (written to
        the outbox with the commit, all of the transaction's messages in one statement)."""
        envelope = Envelope.wrap(
            message, app_id=self._app_id, correlation_id=correlation_id, causation_id=causation_id
        )
        self._sent.append(envelope)
        return envelope

    @property
    def sent(self) -> tuple[Envelope, ...]:
        return tuple(self._sent)


class OutboxRelay:
    """Publishes committed outbox rows: those handed over by a commit at once, the
    rest on a timer."""

    def __init__(
        self,
        db: Database,
        transport: Transport,
        *,
        sweep_seconds: float = 1.0,
        stale_after_seconds: float | None = None,
        batch: int = 200,
        delete_gather_seconds: float = 0.1,
    ) -> None:
        self._db = db
        self._transport = transport
        self._sweep_seconds = sweep_seconds
        self._stale_after = timedelta(
            seconds=5 * sweep_seconds if stale_after_seconds is None else stale_after_seconds
        )
        self._batch = batch
        self._delete_gather = delete_gather_seconds
        """How long the published ids gather before they are deleted in one statement."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._handed_over: collections.deque[Envelope] = collections.deque()
        """Committed and not yet published, in the order of the commits."""
        self._handed = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None
        self._mine: set[str] = set()
        """Message ids handed over and not yet deleted: no sweep of this relay takes them."""
        self._to_delete: list[str] = []
        self._deleter: asyncio.Task[None] | None = None
        self.published = 0

    def notify(self) -> None:
        """Sweep now rather than at the next tick."""
        self._wake.set()

    def hand_over(self, envelopes: Sequence[Envelope]) -> None:
        """Publish what a commit just recorded.  Only while the relay runs; otherwise
        the rows wait for a sweep."""
        if self._task is None or self._stopping:
            return
        self._mine.update(e.message_id for e in envelopes)
        self._handed_over.extend(envelopes)
        self._handed.set()

    async def _publish_in_commit_order(self) -> None:
        """Publish what was handed over, all that gathered at once, a gathering only
        after the one before it was confirmed: a process's messages reach the broker
        in the order their transactions committed, as a sweep publishes them."""
        while True:
            if not self._handed_over:
                if self._stopping:
                    return
                await self._handed.wait()
                self._handed.clear()
                continue
            batch = tuple(self._handed_over)
            self._handed_over.clear()
            try:
                await self._publish_handed_over(batch)
            except Exception as exc:  # keep publishing; these rows are the sweep's now
                self._mine.difference_update(e.message_id for e in batch)
                log.error("outbox.publisher_error", count=len(batch), error=repr(exc))

    async def _publish_handed_over(self, envelopes: tuple[Envelope, ...]) -> None:
        results = await asyncio.gather(
            *(self._publish(envelope) for envelope in envelopes), return_exceptions=True
        )
        done = [e.message_id for e, res in zip(envelopes, results, strict=True) if res is None]
        failed = [res for res in results if isinstance(res, BaseException)]
        self.published += len(done)
        self._to_delete.extend(done)
        if self._deleter is None or self._deleter.done():
            self._deleter = asyncio.create_task(self._delete_published())
        if failed:
            # Left for a sweep, which may take them once they are stale.
            self._mine.difference_update(
                e.message_id for e, res in zip(envelopes, results, strict=True) if res is not None
            )
            log.warning("outbox.publish_failed", count=len(failed), error=repr(failed[0]))

    async def _delete_published(self) -> None:
        """Delete published rows, all that have gathered in one statement: ids gather
        for ``delete_gather_seconds`` first, so a busy relay deletes a few times a
        second rather than once per publish (a published row left by a crash in
        between goes out again with a sweep, and its consumer's inbox drops it)."""
        while self._to_delete:
            if not self._stopping and self._delete_gather:
                await asyncio.sleep(self._delete_gather)
            ids, self._to_delete = self._to_delete, []
            try:
                # One statement on its own: on PostgreSQL without BEGIN and COMMIT.
                async with self._db.read_engine.begin() as connection:
                    await connection.execute(DELETE_PUBLISHED[self._db.dialect], {"ids": ids})
            except Exception as exc:  # published already: a sweep may publish them again
                log.error("outbox.delete_failed", count=len(ids), error=repr(exc))
            self._mine.difference_update(ids)

    def _publish(self, envelope: Envelope) -> Awaitable[None]:
        # A command must reach its consumer's queue; an event is a broadcast that
        # may have no subscriber (``product.created``), and refusing it would leave
        # it at the head of the outbox for ever.
        return self._transport.publish(envelope, mandatory=envelope.exchange == COMMANDS_EXCHANGE)

    async def publish_pending(self) -> int:
        """Publish what is pending now (one claimed batch at a time), except what was
        handed over to this relay and is on its way; returns the count."""
        return await self._sweep(stale_only=False)

    async def _sweep(self, *, stale_only: bool) -> int:
        if stale_only and not await self._any_stale():
            return 0
        total = 0
        while True:
            count, more = await self._publish_batch(stale_only=stale_only)
            total += count
            if not more:
                return total

    async def _any_stale(self) -> bool:
        """Whether a timer sweep has anything to take: one statement, no transaction
        (on PostgreSQL), where claiming rows takes a transaction and three round trips."""
        async with self._db.read_engine.connect() as connection:
            found = await connection.execute(ANY_STALE, {"cutoff": utcnow() - self._stale_after})
            return found.first() is not None

    async def _publish_batch(self, *, stale_only: bool) -> tuple[int, bool]:
        async with self._db.sessions() as session, session.begin():
            stmt = select(OutboxRow).order_by(col(OutboxRow.id)).limit(self._batch)
            if stale_only:
                stmt = stmt.where(col(OutboxRow.created_at) < utcnow() - self._stale_after)
            if self._mine:
                stmt = stmt.where(col(OutboxRow.message_id).not_in(self._mine))
            if self._db.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list((await session.exec(stmt)).all())
            if not rows:
                return 0, False
            # Concurrent publishes on one confirming channel are confirmed in
            # batches by the broker: much faster than one round trip each.
            results = await asyncio.gather(
                *(self._publish(row_envelope(r)) for r in rows), return_exceptions=True
            )
            done = [r.id for r, res in zip(rows, results, strict=True) if res is None]
            failed = [res for res in results if isinstance(res, BaseException)]
            if done:
                await session.exec(delete(OutboxRow).where(col(OutboxRow.id).in_(done)))
            self.published += len(done)
        if failed:
            log.warning("outbox.publish_failed", count=len(failed), error=repr(failed[0]))
            if not isinstance(failed[0], PublishError):
                raise failed[0]
            return len(done), False
        return len(done), len(rows) == self._batch

    async def _run(self) -> None:
        while not self._stopping:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
            # cancellation that lands just as the event is set (a commit right
            # before shutdown), and stop() would then wait for ever.
            woken = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sweep_seconds):
                    await self._wake.wait()
                    woken = True
            self._wake.clear()
            try:
                await self._sweep(stale_only=not woken)
            except Exception as exc:  # keep relaying: the rows stay for the next sweep
                log.error("outbox.relay_error", error=repr(exc))

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="outbox-relay")
            self._publisher = asyncio.create_task(
                self._publish_in_commit_order(), name="outbox-publisher"
            )

    async def stop(self, *, grace_seconds: float = 10.0) -> None:
        """Stop after the pass in progress, with one last pass for what was
        committed just before.  The relay is asked, not cancelled: a pass
        cancelled mid-transaction could leave SQLite's write lock held."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            self._handed.set()
            try:
                async with asyncio.timeout(grace_seconds):
                    await self._task
                    if self._publisher is not None:
                        await self._publisher
                    if self._deleter is not None:
                        await self._deleter
            except TimeoutError:  # a broker that no longer answers: give up the pass
                for task in (self._task, self._publisher, self._deleter):
                    if task is not None:
                        task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = self._publisher = None
            self._handed_over.clear()  # still in the outbox: the last pass below takes them
            self._mine.clear()
            with contextlib.suppress(Exception):
                await self.publish_pending()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[OutboxRelay]:
        self.start()
        try:
            yield self
        finally:
            await self.stop()


async def pending_count(db: Database) -> int:
    async with db.sessions() as session:
        result = await session.exec(select(func.count()).select_from(OutboxRow))
        return int(result.one())


__all__ = ["AlreadyHandled", "OutboxRelay", "UnitOfWork", "pending_count"]
