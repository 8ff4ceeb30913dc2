"""Outbox and inbox, on the embedded stack (in-process + SQLite) and the real one
(RabbitMQ + PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy.exc import IntegrityError

from shared.messages import OrderConfirmed
from shared.messaging.endpoint import Endpoint
from shared.messaging.envelope import Envelope
from shared.messaging.topology import Binding, QueueSpec, standard_topology
from shared.messaging.transport import Incoming, PublishError, Transport
from shared.persistence.database import Database
from shared.persistence.outbox import AlreadyHandled, OutboxRelay, UnitOfWork, pending_count
from shared.persistence.outbox import UnitOfWork as _UoW
from tests.support.databases import ledger_database, statements_of
from tests.support.infra import eventually
from tests.support.ledger import LedgerEntry, ledger_counts
from tests.support.stack import Stack

WATCH = QueueSpec("test.watch", (Binding("orders", "order.confirmed"),))


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[Database]:
    async with ledger_database(stack, WATCH) as database:
        yield database


class Watch:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, envelope: Envelope) -> None:
        self.ids.append(envelope.message_id)

    async def seen(self) -> list[str]:
        return list(self.ids)


async def test_state_change_and_message_commit_together_or_not_at_all(
    stack: Stack, db: Database
) -> None:
    order_id = str(uuid.uuid4())
    with pytest.raises(RuntimeError, match="boom"):
        async with UnitOfWork(db, app_id="test") as uow:
            uow.session.add(LedgerEntry(key=order_id))
            uow.send(OrderConfirmed(order_id=order_id))
            raise RuntimeError("boom")
    assert await ledger_counts(db) == (0, 0)
    assert await pending_count(db) == 0

    async with UnitOfWork(db, app_id="test") as uow:
        uow.session.add(LedgerEntry(key=order_id))
        uow.send(OrderConfirmed(order_id=order_id))
    assert await ledger_counts(db) == (1, 1)
    assert await pending_count(db) == 1


async def test_message_left_by_a_crash_after_commit_is_published_once_by_the_sweep(
    stack: Stack, db: Database
) -> None:
    watch = Watch()
    await stack.transport.consume_envelopes(WATCH.name, watch)
    # The "crashed" process: committed, never published (no relay was running).
    async with UnitOfWork(db, app_id="test", relay=None) as uow:
        uow.session.add(LedgerEntry(key="x"))
        sent = uow.send(OrderConfirmed(order_id=str(uuid.uuid4())))
    assert await pending_count(db) == 1

    # The restarted process: its relay sweeps on its own timer, with no wake-up.
    relay = OutboxRelay(db, stack.transport, sweep_seconds=0.05)
    async with relay.running():
        await eventually(lambda: pending_count(db), until=lambda n: n == 0, what="the sweep")
        assert relay.published == 1
        # A follow-up, also committed without a wake-up, is published by a later sweep;
        # a copy of the first message from any sweep in between would arrive before it.
        async with UnitOfWork(db, app_id="test", relay=None) as uow:
            follow_up = uow.send(OrderConfirmed(order_id=str(uuid.uuid4())))
        await eventually(lambda: pending_count(db), until=lambda n: n == 0, what="a later sweep")
    assert await relay.publish_pending() == 0
    assert relay.published == 2
    await eventually(
        lambda: watch.seen(), until=lambda ids: follow_up.message_id in ids, what="the follow-up"
    )
    assert watch.ids == [sent.message_id, follow_up.message_id]


async def test_a_commit_hands_its_messages_over_and_their_rows_go_once_published(
    stack: Stack, db: Database
) -> None:
    """Published at once, without waiting for a sweep (the sweep is an hour away),
    each exactly once and in the order of the commits, and the rows deleted."""
    watch = Watch()
    await stack.transport.consume_envelopes(WATCH.name, watch)
    relay = OutboxRelay(db, stack.transport, sweep_seconds=3600)
    async with relay.running():
        sent = []
        for _ in range(20):
            async with UnitOfWork(db, app_id="test", relay=relay) as uow:
                sent += [uow.send(OrderConfirmed(order_id=str(uuid.uuid4()))) for _ in range(3)]
        await eventually(lambda: watch.seen(), until=lambda ids: len(ids) >= 60, what="all 60")
        await eventually(lambda: pending_count(db), until=lambda n: n == 0, what="rows deleted")
        assert await relay.publish_pending() == 0
    assert watch.ids == [e.message_id for e in sent]
    assert relay.published == 60


class RefusesFirst:
    """The stack's transport, refusing its first ``n`` publishes as a broker might."""

    def __init__(self, inner: Transport, n: int) -> None:
        self.inner, self.left = inner, n

    async def publish(self, envelope: Envelope, *, mandatory: bool = True) -> None:
        if self.left > 0:
            self.left -= 1
            raise PublishError("refused for the test")
        await self.inner.publish(envelope, mandatory=mandatory)


async def test_a_handed_over_message_the_broker_refused_is_published_by_a_sweep(
    stack: Stack, db: Database
) -> None:
    watch = Watch()
    await stack.transport.consume_envelopes(WATCH.name, watch)
    transport = RefusesFirst(stack.transport, 1)
    relay = OutboxRelay(db, transport, sweep_seconds=0.05)  # type: ignore[arg-type]
    async with relay.running():
        async with UnitOfWork(db, app_id="test", relay=relay) as uow:
            sent = uow.send(OrderConfirmed(order_id=str(uuid.uuid4())))
        await eventually(lambda: pending_count(db), until=lambda n: n == 0, what="the sweep")
        await eventually(lambda: watch.seen(), until=lambda ids: sent.message_id in ids)
    assert transport.left == 0  # the hand-over was refused, so the sweep sent it
    assert watch.ids == [sent.message_id]
    assert relay.published == 1


async def test_two_relays_never_publish_a_row_twice(stack: Stack, db: Database) -> None:
    watch = Watch()
    await stack.transport.consume_envelopes(WATCH.name, watch)
    async with UnitOfWork(db, app_id="test") as uow:
        for _ in range(300):
            uow.send(OrderConfirmed(order_id=str(uuid.uuid4())))
    relays = [OutboxRelay(db, stack.transport, batch=50) for _ in range(2)]
    counts = await asyncio.gather(*(r.publish_pending() for r in relays))
    assert sum(counts) == 300
    await eventually(lambda: watch.seen(), until=lambda ids: len(ids) >= 300)
    assert len(watch.ids) == len(set(watch.ids)) == 300


async def test_same_message_delivered_three_times_changes_state_once(
    stack: Stack, db: Database
) -> None:
    relay = OutboxRelay(db, stack.transport)
    queue = QueueSpec("test.ledger", (Binding("orders", "order.confirmed"),))
    await stack.transport.declare(standard_topology().with_queues(queue))
    endpoint = Endpoint("ledger", queue=queue.name, db=db, relay=relay)
    delivered: list[str] = []
    handled: list[str] = []

    async def count_deliveries(incoming: Incoming, inner: Callable[[], Awaitable[None]]) -> None:
        delivered.append(incoming.envelope.message_id)
        await inner()

    endpoint.middleware.append(count_deliveries)

    @endpoint.handles(OrderConfirmed)
    async def record(uow: _UoW, message: OrderConfirmed, envelope: Envelope) -> None:
        handled.append(envelope.message_id)
        uow.session.add(LedgerEntry(key=message.order_id))

    # One delivery at a time: the follow-up is handled only after the three copies.
    await endpoint.start(stack.transport, prefetch=1)
    envelope = Envelope.wrap(OrderConfirmed(order_id=str(uuid.uuid4())), app_id="test")
    for _ in range(3):
        await stack.transport.publish(envelope)
    follow_up = Envelope.wrap(OrderConfirmed(order_id=str(uuid.uuid4())), app_id="test")
    await stack.transport.publish(follow_up)

    await eventually(lambda: ledger_counts(db), until=lambda c: c[1] == 2, what="both effects")
    # All three copies reached the handler; the inbox's claim, made with the commit,
    # found two handled already and kept nothing of theirs.
    assert delivered == [envelope.message_id] * 3 + [follow_up.message_id]
    assert handled == [envelope.message_id] * 3 + [follow_up.message_id]
    assert await ledger_counts(db) == (2, 2)


async def test_a_unit_of_work_claiming_a_handled_message_keeps_nothing_of_what_it_did(
    stack: Stack, db: Database
) -> None:
    """The claim goes with the commit, after the handler: one finding its message
    handled already rolls back the handler's rows and the messages it sent too. On
    PostgreSQL the claim and the outbox rows are one statement."""
    message_id = str(uuid.uuid4())
    async with UnitOfWork(db, app_id="test") as uow:
        uow.claim("ledger", [message_id])
        uow.session.add(LedgerEntry(key="first"))
        uow.send(OrderConfirmed(order_id=str(uuid.uuid4())))
    with pytest.raises(AlreadyHandled) as raised:
        async with UnitOfWork(db, app_id="test") as uow:
            uow.claim("ledger", [message_id, str(uuid.uuid4())])
            uow.session.add(LedgerEntry(key="again"))
            uow.send(OrderConfirmed(order_id=str(uuid.uuid4())))
            uow.send(OrderConfirmed(order_id=str(uuid.uuid4())))
    assert raised.value.ids == {message_id}
    assert await ledger_counts(db) == (1, 1)
    assert await pending_count(db) == 1
    with statements_of(db) as seen:
        async with UnitOfWork(db, app_id="test") as uow:
            uow.claim("another consumer", [message_id])  # each consumer claims its own
            uow.send(OrderConfirmed(order_id=str(uuid.uuid4())))
    assert await pending_count(db) == 2
    writes = [statement for statement in seen if statement.startswith(("WITH", "INSERT"))]
    assert len(writes) == (1 if db.is_postgres else 2)


async def test_stopping_a_consumer_lets_the_handler_in_flight_commit_and_takes_no_more(
    stack: Stack, db: Database
) -> None:
    relay = OutboxRelay(db, stack.transport)
    endpoint = Endpoint("ledger", queue="test.drain", db=db, relay=relay)
    started, release = asyncio.Event(), asyncio.Event()

    @endpoint.handles(OrderConfirmed)
    async def slow(uow: _UoW, message: OrderConfirmed, envelope: Envelope) -> None:
        started.set()
        await release.wait()
        uow.session.add(LedgerEntry(key=message.order_id))

    queue = QueueSpec("test.drain", (Binding("orders", "order.confirmed"),))
    await stack.transport.declare(standard_topology().with_queues(queue))
    subscription = await endpoint.start(stack.transport, prefetch=1)
    await stack.transport.publish(
        Envelope.wrap(OrderConfirmed(order_id=str(uuid.uuid4())), app_id="test")
    )
    async with asyncio.timeout(10):
        await started.wait()

    stopping = asyncio.create_task(subscription.cancel(drain_timeout=10))
    await stack.transport.publish(
        Envelope.wrap(OrderConfirmed(order_id=str(uuid.uuid4())), app_id="test")
    )
    done, _ = await asyncio.wait({stopping}, timeout=0.2)
    assert not done  # the consumer waits for the handler in flight
    release.set()
    async with asyncio.timeout(10):
        await stopping
    # The first message committed before the consumer went; the second was not taken.
    assert await ledger_counts(db) == (1, 1)
    await endpoint.start(stack.transport)
    await eventually(lambda: ledger_counts(db), until=lambda c: c == (2, 2), what="the second")


async def test_a_unit_of_work_of_inserts_only_is_one_statement_and_all_or_nothing(
    stack: Stack, db: Database
) -> None:
    """Rows inserted with the commit and a message sent: on PostgreSQL one statement,
    committed as it runs; a row that cannot go in takes the others and the message
    with it."""
    table = LedgerEntry.__table__  # type: ignore[attr-defined]
    with statements_of(db) as seen:
        async with UnitOfWork(db, app_id="test", inserts_only=True) as uow:
            uow.insert(table, [{"id": 1, "key": "a"}, {"id": 2, "key": "b"}])
            uow.send(OrderConfirmed(order_id=str(uuid.uuid4())))
    writes = [statement for statement in seen if statement.startswith(("WITH", "INSERT"))]
    assert len(writes) == (1 if db.is_postgres else 2)
    assert await ledger_counts(db) == (2, 2)
    assert await pending_count(db) == 1
    with pytest.raises(IntegrityError):
        async with UnitOfWork(db, app_id="test", inserts_only=True) as uow:
            uow.insert(table, [{"id": 3, "key": "c"}, {"id": 2, "key": "again"}])
            uow.send(OrderConfirmed(order_id=str(uuid.uuid4())))
    assert await ledger_counts(db) == (2, 2)
    assert await pending_count(db) == 1
