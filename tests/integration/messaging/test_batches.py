"""Group commit on both stacks (in-process + SQLite, RabbitMQ + PostgreSQL): a batch
is one transaction, a poison message in it goes alone, a crash between the commit
and the ack changes nothing, and two saga processes' overlapping batches never
deadlock."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from structlog.testing import capture_logs

from saga.definition import OrderSaga
from saga.models import SagaInputRow
from saga.runtime import SagaRuntime
from saga.store import LOCK_NAMESPACE
from shared.messages import OrderCancelRequested, OrderConfirmed, OrderCreated
from shared.messaging.batching import Batching
from shared.messaging.endpoint import Endpoint
from shared.messaging.envelope import HEADER_DEAD_LETTER_REASON, Envelope
from shared.messaging.inprocess import InProcessTransport
from shared.messaging.topology import Binding, QueueSpec
from shared.messaging.transport import Incoming, PoisonMessage, Subscription
from shared.persistence.database import Database
from shared.persistence.messaging_tables import InboxRow
from shared.persistence.outbox import OutboxRelay, UnitOfWork
from tests.support.databases import ledger_database, order_created, saga_database, statements_of
from tests.support.infra import eventually
from tests.support.ledger import LedgerEntry, ledger_counts
from tests.support.stack import Stack

WORK = QueueSpec("test.batches", (Binding("orders", "order.confirmed"),))
TOGETHER = Batching(size=16, linger=0.002, lanes=1)


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[Database]:
    async with ledger_database(stack, WORK) as database:
        yield database


def ledger_endpoint(
    db: Database, stack: Stack, poison: set[str], caused: dict[str, str | None] | None = None
) -> Endpoint:
    """Writes a ledger entry per order and sends an answer (its causation id kept in
    ``caused`` by order); an order in ``poison`` can never be handled."""
    endpoint = Endpoint("ledger", queue=WORK.name, db=db, relay=OutboxRelay(db, stack.transport))

    @endpoint.handles(OrderConfirmed)
    async def confirmed(uow: UnitOfWork, message: OrderConfirmed, envelope: Envelope) -> None:
        if message.order_id in poison:
            raise PoisonMessage(f"order {message.order_id} is poison")
        uow.session.add(LedgerEntry(key=message.order_id))
        answer = OrderCancelRequested(order_id=message.order_id, requested_by="ledger")
        sent = uow.send(answer, correlation_id=message.order_id)
        if caused is not None:
            caused[message.order_id] = sent.causation_id

    return endpoint


def confirmation() -> Envelope:
    order_id = str(uuid.uuid4())
    return Envelope.wrap(OrderConfirmed(order_id=order_id), app_id="test", correlation_id=order_id)


async def inbox_ids(db: Database) -> list[str]:
    async with db.sessions() as session:
        return sorted((await session.exec(select(InboxRow.message_id))).scalars().all())  # type: ignore[call-overload]


async def all_settled(subscription: Subscription) -> None:
    """Wait until every delivery ``subscription`` took is acked or dead-lettered."""
    await eventually(
        lambda: asyncio.sleep(0, subscription.progress.in_flight),
        until=lambda n: n == 0,
        what="every delivery settled",
    )


class Batches:
    """Records the message ids of every batch handed to the wrapped handler."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.seen: list[list[str]] = []

    async def __call__(self, batch: Sequence[Incoming]) -> None:
        self.seen.append([incoming.envelope.message_id for incoming in batch])
        await self.endpoint.handle_batch(batch)


async def test_a_poison_message_in_a_batch_is_dead_lettered_alone_and_its_neighbours_commit(
    stack: Stack, db: Database
) -> None:
    sent = [confirmation() for _ in range(6)]
    poisoned = sent[2]
    caused: dict[str, str | None] = {}
    endpoint = ledger_endpoint(db, stack, poison={poisoned.correlation_id}, caused=caused)
    for envelope in sent:  # all waiting before the consumer starts: they come as one batch
        await stack.transport.publish(envelope)
    dead: list[Envelope] = []

    async def letter(envelope: Envelope) -> None:
        dead.append(envelope)

    batches = Batches(endpoint)
    await stack.transport.consume_envelopes(WORK.dead_letter_queue, letter)
    subscription = await stack.transport.consume(
        WORK.name, endpoint, prefetch=16, batch=batches, batching=TOGETHER
    )

    await eventually(lambda: asyncio.sleep(0, dead), what="the poison message dead-lettered")
    await eventually(lambda: ledger_counts(db), until=lambda c: c == (5, 5), what="neighbours")
    await all_settled(subscription)
    assert any(poisoned.message_id in batch and len(batch) > 1 for batch in batches.seen)
    assert [letter.message_id for letter in dead] == [poisoned.message_id]
    assert "is poison" in dead[0].headers[HEADER_DEAD_LETTER_REASON]
    assert await inbox_ids(db) == sorted(e.message_id for e in sent if e is not poisoned)
    # Handled again one by one, each neighbour's answer names it as its cause, not
    # the last message of the batch that failed.
    assert caused == {e.correlation_id: e.message_id for e in sent if e is not poisoned}
    assert subscription.batch_sizes is not None
    assert subscription.batch_sizes.batches >= 1


async def test_a_crash_after_the_commit_and_before_the_ack_redelivers_the_batch_and_changes_nothing(
    stack: Stack, db: Database
) -> None:
    sent = [confirmation() for _ in range(5)]
    endpoint = ledger_endpoint(db, stack, poison=set())
    for envelope in sent:
        await stack.transport.publish(envelope)
    frozen = asyncio.Event()
    committed: list[str] = []

    async def commit_then_freeze(batch: Sequence[Incoming]) -> None:
        await endpoint.handle_batch(batch)
        committed.extend(incoming.envelope.message_id for incoming in batch)
        await frozen.wait()  # the process stops here: committed, never acked

    try:
        first = await stack.transport.consume(
            WORK.name, endpoint, prefetch=16, batch=commit_then_freeze, batching=TOGETHER
        )
        await eventually(lambda: ledger_counts(db), until=lambda c: c == (5, 5), what="commit")
        assert sorted(committed) == sorted(e.message_id for e in sent)
        await first.cancel(drain_timeout=0.1)  # its deliveries go back to the queue

        again = Batches(endpoint)
        second = await stack.transport.consume(
            WORK.name, endpoint, prefetch=16, batch=again, batching=TOGETHER
        )
        redelivered = await eventually(
            lambda: asyncio.sleep(0, sorted(i for batch in again.seen for i in batch)),
            until=lambda ids: len(ids) == len(sent),
            what="the batch redelivered",
        )
        await all_settled(second)
    finally:
        frozen.set()
    assert redelivered == sorted(e.message_id for e in sent)
    assert await ledger_counts(db) == (5, 5)  # nothing changed the second time
    assert await inbox_ids(db) == sorted(e.message_id for e in sent)


@pytest.fixture
async def saga_db(postgres_url: str) -> AsyncIterator[Database]:
    async with saga_database(postgres_url) as db:
        yield db


def saga_input(message: OrderCreated | OrderCancelRequested) -> Incoming:
    envelope = Envelope.wrap(message, app_id="orders", correlation_id=message.order_id)
    return Incoming(envelope=envelope, message=message, queue="saga.events", attempt=1)


async def deadlocks(db: Database) -> int:
    async with db.engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        )
    return int(found or 0)


class Held:
    """A saga's lock held by a third transaction, so that both batches are midway
    through taking their locks when it is released: locks taken in the order the
    messages came would then deadlock."""

    def __init__(self, db: Database, connection: AsyncConnection | None) -> None:
        self.db = db
        self.connection = connection

    async def release_when_both_wait(self) -> None:
        if self.connection is None:
            return
        await eventually(
            lambda: advisory_waiters(self.db), until=lambda n: n >= 2, what="both batches waiting"
        )
        await self.connection.rollback()


@contextlib.asynccontextmanager
async def held_midway(db: Database, sagas: list[str], *, hold: bool) -> AsyncIterator[Held]:
    if not hold:
        yield Held(db, None)
        return
    async with db.engine.connect() as connection:
        keys = await connection.execute(
            text("SELECT s FROM unnest(CAST(:ids AS text[])) AS s ORDER BY hashtext(s)"),
            {"ids": sagas},
        )
        middle = list(keys.scalars())[len(sagas) // 2]
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:saga_id))"),
            {"namespace": LOCK_NAMESPACE, "saga_id": middle},
        )
        yield Held(db, connection)


async def advisory_waiters(db: Database) -> int:
    async with db.engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        )
    return int(found or 0)


async def test_two_saga_processes_with_overlapping_batches_of_the_same_sagas_never_deadlock(
    saga_db: Database,
) -> None:
    processes = [
        SagaRuntime(saga_db, OutboxRelay(saga_db, InProcessTransport()), OrderSaga())
        for _ in range(2)
    ]
    sagas = [str(uuid.uuid4()) for _ in range(12)]
    created = [saga_input(order_created(saga_id)) for saga_id in sagas]
    await processes[0].handle_batch(created)
    before = await deadlocks(saga_db)
    rounds = 8
    with capture_logs() as logs:
        for round in range(rounds):
            cancels = [
                saga_input(OrderCancelRequested(order_id=saga_id, requested_by="user-1"))
                for saga_id in sagas
            ]
            # The same messages to both, in opposite orders: every saga in both batches.
            async with asyncio.timeout(30), held_midway(saga_db, sagas, hold=round == 0) as held:
                both = asyncio.gather(
                    processes[0].handle_batch(cancels), processes[1].handle_batch(cancels[::-1])
                )
                await held.release_when_both_wait()
                await both
    # A deadlock would abort a batch, to be run again: none was.
    assert [e for e in logs if e["event"] == "saga.conflict_retry"] == []
    assert await deadlocks(saga_db) == before
    async with saga_db.sessions() as session:
        counts = (
            await session.exec(
                select(SagaInputRow.saga_id, func.count()).group_by(SagaInputRow.saga_id)  # type: ignore[call-overload]
            )
        ).all()
    assert dict(counts) == dict.fromkeys(sagas, 1 + rounds)  # each message once


async def test_a_batch_holding_a_redelivered_message_commits_the_rest_once_and_it_not_again(
    stack: Stack, db: Database
) -> None:
    """A batch claims its messages first: one handled already is skipped before any
    handler runs, and the rest commit in the batch's one transaction."""
    caused: dict[str, str | None] = {}
    endpoint = ledger_endpoint(db, stack, poison=set(), caused=caused)
    handled = confirmation()
    await endpoint(
        Incoming(
            envelope=handled,
            message=OrderConfirmed(order_id=handled.correlation_id),
            queue=WORK.name,
            attempt=1,
        )
    )
    caused.clear()
    fresh = [confirmation() for _ in range(4)]
    for envelope in [fresh[0], fresh[1], handled, fresh[2], fresh[3]]:
        await stack.transport.publish(envelope)
    batches = Batches(endpoint)
    with capture_logs() as logs:
        subscription = await stack.transport.consume(
            WORK.name, endpoint, prefetch=16, batch=batches, batching=TOGETHER
        )
        await eventually(lambda: ledger_counts(db), until=lambda c: c == (5, 5), what="the rest")
        await all_settled(subscription)
    assert any(handled.message_id in batch and len(batch) > 1 for batch in batches.seen)
    assert [e["type"] for e in logs if e["event"] == "message.duplicate"] == ["order.confirmed"]
    assert not [e for e in logs if e["event"] == "batch.one_by_one"]
    assert caused == {e.correlation_id: e.message_id for e in fresh}  # its handler never ran
    assert await inbox_ids(db) == sorted(e.message_id for e in [handled, *fresh])
    assert await ledger_counts(db) == (5, 5)


async def test_a_batch_of_one_claims_its_message_with_its_commit(
    stack: Stack, db: Database
) -> None:
    """With no neighbours to roll back, a batch of one is handled as a message alone
    is: its handler runs first and its claim goes with the commit (on PostgreSQL in
    the outbox rows' statement); delivered again, it keeps nothing the second time."""
    endpoint = Endpoint("ledger", queue=WORK.name, db=db, relay=OutboxRelay(db, stack.transport))

    @endpoint.handles(OrderConfirmed)
    async def confirmed(uow: UnitOfWork, message: OrderConfirmed, envelope: Envelope) -> None:
        await uow.session.exec(select(LedgerEntry).where(LedgerEntry.key == message.order_id))
        uow.session.add(LedgerEntry(key=message.order_id))
        uow.send(OrderCancelRequested(order_id=message.order_id, requested_by="ledger"))

    envelope = confirmation()
    incoming = Incoming(
        envelope=envelope,
        message=OrderConfirmed(order_id=envelope.correlation_id),
        queue=WORK.name,
        attempt=1,
    )
    with statements_of(db) as seen:
        await endpoint.handle_batch([incoming])
    claims = [n for n, statement in enumerate(seen) if "inbox" in statement]
    assert len(claims) == 1
    assert "test_ledger" in seen[claims[0] - 1]  # the handler ran before the claim
    assert ("outbox" in seen[claims[0]]) is db.is_postgres
    with capture_logs() as logs:
        await endpoint.handle_batch([incoming])
    assert [e["type"] for e in logs if e["event"] == "message.duplicate"] == ["order.confirmed"]
    assert await ledger_counts(db) == (1, 1)
    assert await inbox_ids(db) == [envelope.message_id]
