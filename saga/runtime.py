"""The durable runtime around the pure order saga.

Per input, in one transaction: the inbox check (messages), load the saga row,
``react``, then store the new state (guarded by its version), the history, the
input and its decision (replay's tape), the deadline, and the commands through
the outbox.  A version conflict (another saga process changed the row first)
rolls the transaction back and runs it again from the top, so nothing is lost.

Deadlines are rows; :meth:`SagaRuntime.fire_due_deadlines` claims due ones with
``FOR UPDATE SKIP LOCKED`` so any number of saga processes share them and a
restart loses none.  An event for an order whose saga does not exist yet is
parked and applied right after ``order.created`` creates the saga; one parked
longer than ``OMS_SAGA_PARKED_TTL_SECONDS`` is expired into the dead letters,
saying why.  A reply that answers no command the saga sent is refused
(``saga/answers.py``).

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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError

from saga.answers import CHECKED_SINCE
from saga.definition import (
    DeadlineFired,
    Decision,
    HistoryKind,
    Input,
    OperatorAbort,
    OperatorRetry,
    OrderSaga,
    RecordedDecision,
    SagaNotStarted,
    input_from_json,
    input_to_json,
)
from saga.kinds import Kinds, SagaKind, order_kind
from saga.metrics import SagaMetrics
from saga.store import SagaTransaction, StoredSaga, VersionConflict, due_sagas
from shared.clock import utcnow
from shared.logging import get_logger
from shared.messages import Message
from shared.messaging.batching import one_of_batch
from shared.messaging.envelope import Envelope
from shared.messaging.transport import Incoming, PoisonMessage
from shared.persistence.database import Database
from shared.persistence.outbox import OutboxRelay

log = get_logger(__name__)
T = TypeVar("T")
CONSUMER = "saga"
QUEUE = "saga.events"


class SagaNotFound(LookupError):
    pass


class SagaRuntime:
    observer: SagaMetrics | None = None
    """Told of every decision stored and every conflict, when the saga is measured."""

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
        parked_ttl_seconds: float = 3600.0,
        kinds: Sequence[SagaKind] = (),
    ) -> None:
        """``definition`` is the order saga; ``kinds`` the other definitions served
        (``saga/kinds.py``)."""
        self.db = db
        self.relay = relay
        self.definition = definition
        self.kinds = Kinds([order_kind(definition), *(k for k in kinds if k.name != "order")])
        self.clock = clock
        self.app_id = app_id
        self.poll_seconds = poll_seconds
        self.attempts = attempts
        self.parked_ttl_seconds = parked_ttl_seconds
        self._poller: asyncio.Task[None] | None = None
        self._parked_swept_at: datetime | None = None

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[SagaTransaction]:
        """One transaction: committed when the block ends without an error, and then
        the commands it recorded are handed to the relay."""
        # Begun by the first statement: on SQLite that is where ``BEGIN IMMEDIATE``
        # waits for the write lock, which is the saga's lock there.
        async with self.db.engine.connect() as connection:
            tx = SagaTransaction(connection, app_id=self.app_id)
            yield tx
            await tx.flush()
            await connection.commit()
        if tx.sent:
            self.relay.hand_over(tx.sent)
        for callback in tx.committed:
            callback()

    async def _retrying(self, work: Callable[[SagaTransaction], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction, again on a version conflict or a lost race
        to create the same saga, with a short jittered pause between tries."""
        for attempt in range(1, self.attempts + 1):
            try:
                async with self._transaction() as tx:
                    return await work(tx)
            except (VersionConflict, IntegrityError, OperationalError) as exc:
                if attempt == self.attempts:
                    raise
                log.info("saga.conflict_retry", attempt=attempt, error=type(exc).__name__)
                if self.observer is not None:
                    self.observer.conflict()
                await asyncio.sleep(random.uniform(0, 0.005 * attempt))
        raise AssertionError("unreachable")

    # --- messages ------------------------------------------------------------------

    async def handle(self, incoming: Incoming) -> None:
        """The ``saga.events`` consumer."""
        message = incoming.message
        kind, saga_id = self.kinds.route(incoming.envelope.type, incoming.message)

        async def work(tx: SagaTransaction) -> None:
            if not await self._lock(tx, saga_id, claim=(CONSUMER, incoming.envelope.message_id)):
                log.info("saga.duplicate_message", type=incoming.envelope.type)
                return
            await self._apply(tx, saga_id, message, incoming.envelope, kind)

        await self._retrying(work)

    async def handle_batch(self, batch: Sequence[Incoming]) -> None:
        """The ``saga.events`` consumer, a batch at a time: one transaction holding
        every saga's lock (taken in a fixed order), the messages claimed in the inbox
        together, the sagas read together, each message applied in the order it came.
        Any failure rolls the whole batch back (it is then handled one at a time)."""
        inputs = [
            (*self.kinds.route(incoming.envelope.type, incoming.message), incoming)
            for incoming in batch
        ]
        saga_ids = [saga_id for _, saga_id, _ in inputs]

        async def work(tx: SagaTransaction) -> None:
            claimed = await tx.lock_all(
                saga_ids,
                consumer=CONSUMER,
                message_ids=[incoming.envelope.message_id for _, _, incoming in inputs],
            )
            await tx.load_all(saga_ids)
            for kind, saga_id, incoming in inputs:
                with one_of_batch(incoming):
                    if incoming.envelope.message_id not in claimed:
                        log.info("saga.duplicate_message", type=incoming.envelope.type)
                        continue
                    claimed.discard(incoming.envelope.message_id)  # once, if it came twice
                    await self._apply(tx, saga_id, incoming.message, incoming.envelope, kind)

        await self._retrying(work)

    async def _lock(
        self, tx: SagaTransaction, saga_id: str, *, claim: tuple[str, str] | None = None
    ) -> bool:
        """Hold ``saga_id``'s lock until ``tx`` ends, and claim a message in the inbox
        (:meth:`SagaTransaction.lock`)."""
        return await tx.lock(saga_id, claim=claim)

    async def _apply(
        self,
        tx: SagaTransaction,
        saga_id: str,
        input: Input,
        envelope: Envelope | None,
        kind: SagaKind | None = None,
    ) -> Decision | None:
        """React to ``input`` inside ``tx``, whose caller holds the saga's lock; a
        stored saga is handed to its own kind's definition, a new one to ``kind``'s."""
        stored = await tx.load(saga_id)
        if stored is not None and stored.kind in self.kinds:
            kind = self.kinds[stored.kind]
        elif kind is None:
            kind = self.kinds["order"]
        state = kind.load(stored.state) if stored is not None else None
        checked = stored is None or (stored.definition_version or 0) >= CHECKED_SINCE
        if kind.name != "order":
            checked = True  # every other kind names its commands since its first version
        if isinstance(input, Message) and envelope is not None and checked:
            why = kind.unanswered(state, input.type_name, envelope.causation_id)
            if why is not None:
                await self._refuse(
                    tx, saga_id, input, envelope, why, exists=state is not None, kind=kind
                )
                return None
        try:
            decision: Decision = kind.definition.react(state, input)
        except SagaNotStarted:
            if not isinstance(input, Message) or envelope is None:
                return None
            await tx.park(saga_id, message_id=envelope.message_id, input=input_to_json(input))
            log.info("saga.parked", type=envelope.type)
            return None
        causation = envelope.message_id if envelope is not None else None
        stored = await self._store(tx, stored, decision, input, causation, kind)
        if state is None:
            for parked in await tx.unpark(saga_id):
                input = input_from_json(parked.input)
                decision = kind.definition.react(kind.load(stored.state), input)
                stored = await self._store(tx, stored, decision, input, parked.message_id, kind)
        return decision

    async def _refuse(
        self,
        tx: SagaTransaction,
        saga_id: str,
        reply: Message,
        envelope: Envelope,
        why: str,
        *,
        exists: bool,
        kind: SagaKind,
    ) -> None:
        """A reply that answers no command the saga sent: recorded in the saga's
        history as ignored, with why, and never given to the definition.  For a saga
        that does not exist there is no history: dead-lettered with the reason."""
        log.warning("saga.reply_refused", type=envelope.type, reason=why)
        if not exists:
            raise PoisonMessage(why)
        await tx.note(
            saga_id,
            at=self.clock(),
            definition=kind.version,
            history=[
                (HistoryKind.message_in.value, {"type": reply.type_name, "body": reply.dump()}),
                (HistoryKind.ignored.value, {"why": why, "causationId": envelope.causation_id}),
            ],
            message_id=envelope.message_id,
        )

    async def _store(
        self,
        tx: SagaTransaction,
        stored: StoredSaga | None,
        decision: Decision,
        input: Input,
        causation: str | None,
        kind: SagaKind,
    ) -> StoredSaga:
        now = self.clock()
        if self.observer is not None:
            self.observer.decided(tx, stored, decision, input, now, kind=kind.name)
        state = decision.state
        version = kind.version
        deadline_at = stored.deadline_at if stored is not None else None
        if decision.armed is not None:
            deadline_at = now + timedelta(seconds=decision.armed.after_seconds)
        elif state.deadline is None:
            deadline_at = None
        new = StoredSaga(
            id=state.saga_id,
            status=state.status.value,
            state=state.to_json(),
            version=1 if stored is None else stored.version + 1,
            deadline_at=deadline_at,
            kind=kind.name,
        )
        if stored is None:
            await tx.create(new, at=now, user_id=kind.user_of(state), definition=version)
        else:
            await tx.update(new, expected=stored.version, at=now)
        await tx.record(
            new.id,
            at=now,
            definition=version,
            history=[(entry.kind, entry.detail) for entry in decision.history],
            input=input_to_json(input),
            decision=RecordedDecision.of(decision).to_json(),
            message_id=causation,
        )
        await tx.send(
            decision.commands,
            correlation_id=new.id,
            causation_id=causation,
            message_ids=kind.command_ids(state, decision.commands),
        )
        if decision.armed is not None and deadline_at is not None:
            await tx.set_deadline(
                new.id,
                command=decision.armed.command,
                attempt=decision.armed.attempt,
                due=deadline_at,
            )
        elif state.deadline is None and stored is not None and stored.deadline_at is not None:
            # Only a saga with a deadline at has a deadline row to clear.
            await tx.clear_deadline(new.id)
        return new

    # --- deadlines -----------------------------------------------------------------

    async def fire_due_deadlines(self, limit: int = 100) -> int:
        """Fire every deadline due now; returns how many fired."""
        now = self.clock()
        fired = 0
        for saga_id in await due_sagas(self.db, now, limit):
            if await self._retrying(functools.partial(self._fire, saga_id=saga_id, now=now)):
                fired += 1
        return fired

    async def _fire(self, tx: SagaTransaction, *, saga_id: str, now: datetime) -> bool:
        # The saga's lock before the deadline's row lock, as every other transaction
        # takes them (storing a decision replaces the deadline row): no deadlock.
        await self._lock(tx, saga_id)
        due = await tx.take_due_deadline(saga_id, now)
        if due is None:
            return False
        command, attempt = due
        await self._apply(tx, saga_id, DeadlineFired(command=command, attempt=attempt), None)
        return True

    async def expire_parked(self, limit: int = 500) -> int:
        """Expire the inputs parked longer than ``parked_ttl_seconds`` into the dead
        letters of ``saga.events`` (a saga that never started: ops can read why and
        requeue them); returns how many."""
        cutoff = self.clock() - timedelta(seconds=self.parked_ttl_seconds)

        async def work(tx: SagaTransaction) -> int:
            expired = await tx.expire_parked(cutoff=cutoff, queue=QUEUE, limit=limit)
            if expired and self.observer is not None:
                observer = self.observer
                tx.after_commit(lambda: observer.parked_expired(expired))
            return expired

        expired = await self._retrying(work)
        if expired:
            log.warning("saga.parked_expired", count=expired, ttl=self.parked_ttl_seconds)
        return expired

    async def _sweep_parked(self) -> None:
        """Expire parked inputs now and then: a tenth of their time to live, at most a minute."""
        now = self.clock()
        every = timedelta(seconds=min(60.0, self.parked_ttl_seconds / 10))
        if self._parked_swept_at is None or now - self._parked_swept_at >= every:
            self._parked_swept_at = now
            await self.expire_parked()

    async def _poll(self) -> None:
        while True:
            try:
                await self.fire_due_deadlines()
                await self._sweep_parked()
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

        async def work(tx: SagaTransaction) -> Decision:
            await self._lock(tx, saga_id)
            if await tx.load(saga_id) is None:
                raise SagaNotFound(saga_id)
            decision = await self._apply(tx, saga_id, action, None)
            assert decision is not None
            return decision

        return await self._retrying(work)
