"""The durable runtime around the pure order saga.

Per input, in one transaction: the inbox check (messages), load the saga row,
``react``, then store the new state (guarded by its version), the history, the
input and its decision (replay's tape), the deadline, and the commands through
the outbox.  A version conflict (another saga process changed the row first)
rolls the transaction back and runs it again from the top, so nothing is lost.

Deadlines are rows; :meth:`SagaRuntime.fire_due_deadlines` claims due ones with
``FOR UPDATE SKIP LOCKED`` so any number of saga processes share them and a
restart loses none.  An event for an order whose saga does not exist yet is
parked and applied right after ``order.created`` creates the saga.

Every transaction that reads or writes one saga first takes that saga's lock
(:meth:`SagaRuntime._lock`), held until it commits.  Without it, an input
arriving while ``order.created`` is still creating the saga in an uncommitted
transaction sees no saga, parks itself, and commits after the creator has
already looked for parked inputs: an accepted cancel would be lost.  With it,
the input waits for the creator's commit and then finds the saga.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import col, select

from saga.definition import (
    DeadlineFired,
    Decision,
    Input,
    OperatorAbort,
    OperatorRetry,
    OrderSaga,
    RecordedDecision,
    SagaNotStarted,
    SagaState,
    input_from_json,
    input_to_json,
)
from saga.models import ParkedMessageRow, SagaDeadlineRow, SagaHistoryRow, SagaInputRow, SagaRow
from shared.clock import utcnow
from shared.logging import get_logger
from shared.messages import Message
from shared.messaging.envelope import Envelope
from shared.messaging.transport import Incoming, PoisonMessage
from shared.persistence.database import Database
from shared.persistence.outbox import OutboxRelay, UnitOfWork, claim_inbox

log = get_logger(__name__)
T = TypeVar("T")
CONSUMER = "saga"
LOCK_NAMESPACE = 5_020
"""First key of the saga locks (PostgreSQL's two-key advisory locks), so they never
meet another use of advisory locks; the second key is a hash of the saga id."""


class ConcurrencyConflict(Exception):
    """The saga row changed since it was read; the transaction is run again."""


class SagaNotFound(LookupError):
    pass


class SagaRuntime:
    def __init__(
        self,
        db: Database,
        relay: OutboxRelay,
        definition: OrderSaga,
        *,
        clock: Callable[[], datetime] = utcnow,
        app_id: str = "saga",
        poll_seconds: float = 0.25,
        attempts: int = 20,
    ) -> None:
        self.db = db
        self.relay = relay
        self.definition = definition
        self.clock = clock
        self.app_id = app_id
        self.poll_seconds = poll_seconds
        self.attempts = attempts
        self._poller: asyncio.Task[None] | None = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, app_id=self.app_id, relay=self.relay)

    async def _retrying(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction, again on a version conflict or a lost race
        to create the same saga, with a short jittered pause between tries."""
        for attempt in range(1, self.attempts + 1):
            try:
                async with self.uow() as uow:
                    return await work(uow)
            except (ConcurrencyConflict, IntegrityError, OperationalError) as exc:
                if attempt == self.attempts:
                    raise
                log.info("saga.conflict_retry", attempt=attempt, error=type(exc).__name__)
                await asyncio.sleep(random.uniform(0, 0.005 * attempt))
        raise AssertionError("unreachable")

    # --- messages ------------------------------------------------------------------

    async def handle(self, incoming: Incoming) -> None:
        """The ``saga.events`` consumer."""
        message = incoming.message
        saga_id = getattr(message, "order_id", None)
        if not isinstance(saga_id, str):
            raise PoisonMessage(f"{incoming.envelope.type} carries no orderId")

        async def work(uow: UnitOfWork) -> None:
            await self._lock(uow, saga_id)
            if not await claim_inbox(uow.session, CONSUMER, incoming.envelope.message_id):
                log.info("saga.duplicate_message", type=incoming.envelope.type)
                return
            await self._apply(uow, saga_id, message, incoming.envelope)

        await self._retrying(work)

    async def _lock(self, uow: UnitOfWork, saga_id: str) -> None:
        """Hold ``saga_id``'s lock until ``uow`` ends: one transaction per saga at a time,
        across every saga process.

        On PostgreSQL a transaction-scoped advisory lock (two ids hashing alike
        merely wait for each other).  SQLite takes its write lock at ``BEGIN
        IMMEDIATE``, so starting the transaction is the lock."""
        connection = await uow.session.connection()
        if self.db.is_postgres:
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:saga_id))"),
                {"namespace": LOCK_NAMESPACE, "saga_id": saga_id},
            )

    async def _apply(
        self, uow: UnitOfWork, saga_id: str, input: Input, envelope: Envelope | None
    ) -> Decision | None:
        """React to ``input`` inside ``uow``, whose caller holds the saga's lock."""
        row = await self._load(uow, saga_id)
        state = SagaState.from_json(row.state) if row is not None else None
        try:
            decision = self.definition.react(state, input)
        except SagaNotStarted:
            if not isinstance(input, Message) or envelope is None:
                return None
            uow.session.add(
                ParkedMessageRow(
                    saga_id=saga_id, message_id=envelope.message_id, input=input_to_json(input)
                )
            )
            log.info("saga.parked", type=envelope.type)
            return None
        row = await self._store(uow, row, decision, input, envelope)
        if state is None:
            await self._apply_parked(uow, row)
        return decision

    async def _apply_parked(self, uow: UnitOfWork, row: SagaRow) -> None:
        parked = (
            await uow.session.exec(
                select(ParkedMessageRow)
                .where(ParkedMessageRow.saga_id == row.id)
                .order_by(col(ParkedMessageRow.id))
            )
        ).all()
        for item in parked:
            state = SagaState.from_json(row.state)
            input = input_from_json(item.input)
            decision = self.definition.react(state, input)
            row = await self._store(uow, row, decision, input, None, message_id=item.message_id)
            await uow.session.delete(item)

    async def _load(self, uow: UnitOfWork, saga_id: str) -> SagaRow | None:
        return (await uow.session.exec(select(SagaRow).where(SagaRow.id == saga_id))).first()

    async def _store(
        self,
        uow: UnitOfWork,
        row: SagaRow | None,
        decision: Decision,
        input: Input,
        envelope: Envelope | None,
        *,
        message_id: str | None = None,
    ) -> SagaRow:
        now = self.clock()
        state = decision.state
        version = self.definition.version
        deadline_at = row.deadline_at if row is not None else None
        if decision.armed is not None:
            deadline_at = now + timedelta(seconds=decision.armed.after_seconds)
        elif state.deadline is None:
            deadline_at = None
        values: dict[str, Any] = {
            "status": state.status.value,
            "state": state.to_json(),
            "updated_at": now,
            "deadline_at": deadline_at,
        }
        if row is None:
            row = SagaRow(
                id=state.saga_id,
                user_id=state.order.user_id,
                definition_version=version,
                created_at=now,
                version=1,
                **values,
            )
            uow.session.add(row)
            await uow.session.flush()
        else:
            result = await uow.session.exec(
                update(SagaRow)
                .where(col(SagaRow.id) == row.id, col(SagaRow.version) == row.version)
                .values(version=row.version + 1, **values)
            )
            if result.rowcount != 1:
                raise ConcurrencyConflict(f"saga {row.id} changed since version {row.version}")
            row = SagaRow.model_validate({**row.model_dump(), **values, "version": row.version + 1})
        causation = envelope.message_id if envelope is not None else message_id
        for entry in decision.history:
            uow.session.add(
                SagaHistoryRow(
                    saga_id=row.id,
                    at=now,
                    kind=entry.kind,
                    detail=entry.detail,
                    message_id=causation,
                    definition_version=version,
                )
            )
        uow.session.add(
            SagaInputRow(
                saga_id=row.id,
                at=now,
                input=input_to_json(input),
                decision=RecordedDecision.of(decision).to_json(),
                definition_version=version,
            )
        )
        for command in decision.commands:
            uow.send(command, correlation_id=row.id, causation_id=causation)
        await self._schedule(uow, row.id, decision, deadline_at)
        return row

    async def _schedule(
        self, uow: UnitOfWork, saga_id: str, decision: Decision, due: datetime | None
    ) -> None:
        if decision.armed is not None and due is not None:
            await uow.session.exec(
                delete(SagaDeadlineRow).where(col(SagaDeadlineRow.saga_id) == saga_id)
            )
            uow.session.add(
                SagaDeadlineRow(
                    saga_id=saga_id,
                    command=decision.armed.command,
                    attempt=decision.armed.attempt,
                    due_at=due,
                )
            )
        elif decision.state.deadline is None:
            await uow.session.exec(
                delete(SagaDeadlineRow).where(col(SagaDeadlineRow.saga_id) == saga_id)
            )

    # --- deadlines -----------------------------------------------------------------

    async def fire_due_deadlines(self, limit: int = 100) -> int:
        """Fire every deadline due now; returns how many fired."""
        now = self.clock()
        async with self.db.sessions() as session:
            due = (
                await session.exec(
                    select(SagaDeadlineRow.saga_id)
                    .where(col(SagaDeadlineRow.due_at) <= now)
                    .order_by(col(SagaDeadlineRow.due_at))
                    .limit(limit)
                )
            ).all()
        fired = 0
        for saga_id in due:
            if await self._retrying(functools.partial(self._fire, saga_id=saga_id, now=now)):
                fired += 1
        return fired

    async def _fire(self, uow: UnitOfWork, *, saga_id: str, now: datetime) -> bool:
        # The saga's lock before the deadline's row lock, as every other transaction
        # takes them (storing a decision replaces the deadline row): no deadlock.
        await self._lock(uow, saga_id)
        stmt = select(SagaDeadlineRow).where(
            SagaDeadlineRow.saga_id == saga_id, col(SagaDeadlineRow.due_at) <= now
        )
        if self.db.is_postgres:
            # Another saga process holding this deadline is firing it: skip it.
            stmt = stmt.with_for_update(skip_locked=True)
        deadline = (await uow.session.exec(stmt)).first()
        if deadline is None:
            return False
        await uow.session.delete(deadline)
        await uow.session.flush()
        input = DeadlineFired(command=deadline.command, attempt=deadline.attempt)
        await self._apply(uow, saga_id, input, None)
        return True

    async def _poll(self) -> None:
        while True:
            try:
                await self.fire_due_deadlines()
            except Exception as exc:  # the next tick tries again
                log.error("saga.deadline_poll_failed", error=repr(exc))
            await asyncio.sleep(self.poll_seconds)

    def start(self) -> None:
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll(), name="saga-deadlines")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    # --- operators -----------------------------------------------------------------

    async def operate(self, saga_id: str, action: OperatorRetry | OperatorAbort) -> Decision:
        """Apply an operator's retry or abort; recorded with who and why."""

        async def work(uow: UnitOfWork) -> Decision:
            await self._lock(uow, saga_id)
            row = await self._load(uow, saga_id)
            if row is None:
                raise SagaNotFound(saga_id)
            decision = await self._apply(uow, saga_id, action, None)
            assert decision is not None
            return decision

        return await self._retrying(work)
