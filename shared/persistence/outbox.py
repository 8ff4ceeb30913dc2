"""Transactional outbox, inbox, and the unit of work that ties them together.

A handler changes state and records the messages it wants sent in one
transaction (:class:`UnitOfWork`).  After the commit the :class:`OutboxRelay` is
woken and publishes the new rows with publisher confirms; it also sweeps on a
timer, so rows left behind by a crash between commit and publish go out when the
process (or any other process sharing the database) runs again.  On PostgreSQL
rows are claimed with ``FOR UPDATE SKIP LOCKED`` so several relays can run at
once without publishing a row twice.

The inbox records which message ids a consumer has processed, in the same
transaction as the effect, so a redelivered message has no second effect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import TracebackType

from sqlalchemy import delete, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.clock import utcnow
from shared.logging import get_logger
from shared.messages import COMMANDS_EXCHANGE, Message
from shared.messaging.envelope import Envelope
from shared.messaging.transport import PublishError, Transport
from shared.persistence.database import Database
from shared.persistence.messaging_tables import InboxRow, OutboxRow

log = get_logger(__name__)


def outbox_row(envelope: Envelope) -> OutboxRow:
    return OutboxRow(
        message_id=envelope.message_id,
        type=envelope.type,
        exchange=envelope.exchange,
        routing_key=envelope.routing_key,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        app_id=envelope.app_id,
        headers=envelope.headers,
        body=envelope.body,
        created_at=envelope.timestamp,
    )


def row_envelope(row: OutboxRow) -> Envelope:
    return Envelope(
        message_id=row.message_id,
        type=row.type,
        correlation_id=row.correlation_id,
        causation_id=row.causation_id,
        timestamp=row.created_at,
        app_id=row.app_id,
        headers=row.headers,
        body=row.body,
        exchange=row.exchange,
        routing_key=row.routing_key,
    )


async def claim_inbox(session: AsyncSession, consumer: str, message_id: str) -> bool:
    """Record ``message_id`` as processed by ``consumer``; False if it already was."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    values = {"consumer": consumer, "message_id": message_id, "processed_at": utcnow()}
    table = InboxRow.__table__  # type: ignore[attr-defined]
    stmt = (
        postgresql.insert(table).values(**values).on_conflict_do_nothing()
        if dialect == "postgresql"
        else sqlite.insert(table).values(**values).on_conflict_do_nothing()
    )
    result = await session.exec(stmt)
    return bool(result.rowcount == 1)


class UnitOfWork:
    """One transaction: the session for state changes and :meth:`send` for messages.

    Use as ``async with UnitOfWork(db, app_id=…, relay=…) as uow:``; it commits when
    the block ends without an error, rolls back otherwise, and wakes the relay
    after a commit that recorded messages."""

    def __init__(self, db: Database, *, app_id: str, relay: OutboxRelay | None = None) -> None:
        self._db = db
        self._app_id = app_id
        self._relay = relay
        self._sent: list[Envelope] = []
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._db.sessions()
        await self.session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.session.commit()
            else:
                await self.session.rollback()
        finally:
            await self.session.close()
        if exc_type is None and self._sent and self._relay is not None:
            self._relay.notify()

    def send(
        self,
        message: Message,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Envelope:
        """Record ``message`` for publication when this transaction commits."""
        envelope = Envelope.wrap(
            message, app_id=self._app_id, correlation_id=correlation_id, causation_id=causation_id
        )
        self.session.add(outbox_row(envelope))
        self._sent.append(envelope)
        return envelope

    @property
    def sent(self) -> tuple[Envelope, ...]:
        return tuple(self._sent)


class OutboxRelay:
    """Publishes committed outbox rows: woken after each commit, and on a timer."""

    def __init__(
        self, db: Database, transport: Transport, *, sweep_seconds: float = 1.0, batch: int = 200
    ) -> None:
        self._db = db
        self._transport = transport
        self._sweep_seconds = sweep_seconds
        self._batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.published = 0

    def notify(self) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish what is pending now (one claimed batch at a time); returns the count."""
        total = 0
        while True:
            count, more = await self._publish_batch()
            total += count
            if not more:
                return total

    async def _publish_batch(self) -> tuple[int, bool]:
        async with self._db.sessions() as session, session.begin():
            stmt = select(OutboxRow).order_by(col(OutboxRow.id)).limit(self._batch)
            if self._db.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list((await session.exec(stmt)).all())
            if not rows:
                return 0, False
            # Concurrent publishes on one confirming channel are confirmed in
            # batches by the broker: much faster than one round trip each.  A
            # command must reach its consumer's queue; an event is a broadcast
            # that may have no subscriber (``product.created``), and refusing it
            # would leave it at the head of the outbox for ever.
            results = await asyncio.gather(
                *(
                    self._transport.publish(
                        row_envelope(r), mandatory=r.exchange == COMMANDS_EXCHANGE
                    )
                    for r in rows
                ),
                return_exceptions=True,
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
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sweep_seconds):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.publish_pending()
            except Exception as exc:  # keep relaying: the rows stay for the next sweep
                log.error("outbox.relay_error", error=repr(exc))

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, *, grace_seconds: float = 10.0) -> None:
        """Stop after the pass in progress, with one last pass for what was
        committed just before.  The relay is asked, not cancelled: a pass
        cancelled mid-transaction could leave SQLite's write lock held."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            try:
                async with asyncio.timeout(grace_seconds):
                    await self._task
            except TimeoutError:  # a broker that no longer answers: give up the pass
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
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


__all__ = ["OutboxRelay", "UnitOfWork", "claim_inbox", "pending_count"]
