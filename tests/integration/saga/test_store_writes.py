"""The saga's rows and deadlines are written at the end of the transaction, all
of a batch at once, and still only over the version they were read at."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from saga.models import SagaDeadlineRow, SagaHistoryRow, SagaInputRow, SagaRow
from saga.store import SagaTransaction, StoredSaga, VersionConflict
from shared.clock import utcnow
from shared.messages import ReleaseInventory
from shared.persistence.database import Database
from shared.persistence.messaging_tables import OutboxRow
from tests.support.databases import saga_database, statements_of


@pytest.fixture
async def saga_db(database_url: str) -> AsyncIterator[Database]:
    async with saga_database(database_url) as db:
        yield db


def saga(saga_id: str, version: int, status: str = "reserving") -> StoredSaga:
    return StoredSaga(
        id=saga_id, status=status, state={"step": status}, version=version, deadline_at=None
    )


async def created(db: Database, *saga_ids: str) -> None:
    async with db.engine.connect() as connection:
        tx = SagaTransaction(connection, app_id="saga")
        for saga_id in saga_ids:
            await tx.create(saga(saga_id, 1), at=utcnow(), user_id="user-1", definition=1)
        await tx.flush()
        await connection.commit()


async def rows(db: Database) -> dict[str, tuple[int, str, dict[str, str]]]:
    async with db.engine.connect() as connection:
        found = await connection.execute(
            select(SagaRow.id, SagaRow.version, SagaRow.status, SagaRow.state)
        )  # type: ignore[call-overload]
        return {str(r.id): (r.version, r.status, r.state) for r in found}


async def test_sagas_stored_in_one_transaction_are_written_once_each_at_their_last_state(
    saga_db: Database,
) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await created(saga_db, first, second)
    due = utcnow() + timedelta(minutes=5)
    async with saga_db.engine.connect() as connection:
        tx = SagaTransaction(connection, app_id="saga")
        await tx.update(saga(first, 2, "charging"), expected=1, at=utcnow())
        await tx.update(saga(first, 3, "confirming"), expected=2, at=utcnow())
        await tx.update(saga(second, 2, "cancelling"), expected=1, at=utcnow())
        await tx.set_deadline(first, command="payment.charge", attempt=1, due=due)
        await tx.set_deadline(second, command="order.cancel", attempt=1, due=due)
        await tx.clear_deadline(second)
        await tx.flush()
        await connection.commit()
    assert await rows(saga_db) == {
        first: (3, "confirming", {"step": "confirming"}),
        second: (2, "cancelling", {"step": "cancelling"}),
    }
    async with saga_db.engine.connect() as connection:
        deadlines = (
            await connection.execute(select(SagaDeadlineRow.saga_id, SagaDeadlineRow.command))
        ).all()  # type: ignore[call-overload]
    assert [tuple(d) for d in deadlines] == [(first, "payment.charge")]


async def test_a_saga_changed_since_it_was_read_is_a_conflict_and_nothing_is_written(
    saga_db: Database,
) -> None:
    fresh, stale = str(uuid.uuid4()), str(uuid.uuid4())
    await created(saga_db, fresh, stale)
    async with saga_db.engine.connect() as connection:
        tx = SagaTransaction(connection, app_id="saga")
        await tx.update(saga(fresh, 2, "charging"), expected=1, at=utcnow())
        await tx.update(saga(stale, 5, "charging"), expected=4, at=utcnow())  # it is at 1
        with pytest.raises(VersionConflict):
            await tx.flush()
        await connection.rollback()
    assert await rows(saga_db) == {
        fresh: (1, "reserving", {"step": "reserving"}),
        stale: (1, "reserving", {"step": "reserving"}),
    }


async def test_a_batch_of_every_kind_of_write_is_one_statement_and_keeps_each_row(
    saga_db: Database,
) -> None:
    """A saga updated, one created and stored again, history in order, an input, a
    command, a deadline set and one cleared: on PostgreSQL one statement writes
    them all; on SQLite the same rows come of a statement per table."""
    kept, new = str(uuid.uuid4()), str(uuid.uuid4())
    await created(saga_db, kept)
    at = utcnow()
    command_id = str(uuid.uuid4())
    async with saga_db.engine.connect() as connection:
        tx = SagaTransaction(connection, app_id="saga")
        await tx.update(saga(kept, 2, "charging"), expected=1, at=at)
        await tx.create(saga(new, 1), at=at, user_id="user-2", definition=1)
        await tx.update(saga(new, 2, "charging"), expected=1, at=at)
        history = [(f"entry-{n}", {"n": n}) for n in range(5)]
        await tx.record(
            new,
            at=at,
            definition=1,
            history=history,
            input={"type": "order.created"},
            decision={"commands": []},
            message_id="m-1",
        )
        await tx.send(
            [ReleaseInventory(order_id=new)],
            correlation_id=new,
            causation_id="m-1",
            message_ids=[command_id],
        )
        await tx.set_deadline(new, command="inventory.reserve", attempt=1, due=at)
        await tx.clear_deadline(kept)
        with statements_of(saga_db) as seen:
            await tx.flush()
        await connection.commit()
    if saga_db.is_postgres:
        assert len(seen) == 1
    assert await rows(saga_db) == {
        kept: (2, "charging", {"step": "charging"}),
        new: (2, "charging", {"step": "charging"}),
    }
    async with saga_db.engine.connect() as connection:
        entries = await connection.execute(
            select(SagaHistoryRow.kind)
            .where(SagaHistoryRow.saga_id == new)
            .order_by(SagaHistoryRow.id)  # type: ignore[arg-type]
        )
        assert list(entries.scalars()) == [kind for kind, _ in history]
        inputs = await connection.execute(
            select(SagaInputRow.input).where(SagaInputRow.saga_id == new)
        )
        assert list(inputs.scalars()) == [{"type": "order.created"}]
        outbox = await connection.execute(select(OutboxRow.message_id, OutboxRow.body))
        assert [tuple(r) for r in outbox] == [(command_id, tx.sent[0].body)]
        owner = await connection.execute(select(SagaRow.user_id).where(SagaRow.id == new))
        assert owner.scalar_one() == "user-2"
        deadlines = await connection.execute(select(SagaDeadlineRow.saga_id))
        assert list(deadlines.scalars()) == [new]


async def test_a_saga_created_twice_fails_at_the_write_and_nothing_is_kept(
    saga_db: Database,
) -> None:
    """Two transactions racing to create one saga: the loser's write fails (it is
    then run again, and finds the saga), and none of its rows stay."""
    racing = str(uuid.uuid4())
    await created(saga_db, racing)
    async with saga_db.engine.connect() as connection:
        tx = SagaTransaction(connection, app_id="saga")
        with pytest.raises(IntegrityError):
            await tx.create(saga(racing, 1, "cancelling"), at=utcnow(), user_id="u", definition=1)
            await tx.note(racing, at=utcnow(), definition=1, history=[("x", {})], message_id=None)
            await tx.flush()
        await connection.rollback()
    assert await rows(saga_db) == {racing: (1, "reserving", {"step": "reserving"})}
    async with saga_db.engine.connect() as connection:
        history = await connection.execute(select(SagaHistoryRow.id))
        assert list(history.scalars()) == []


async def test_parked_inputs_are_looked_for_only_where_load_all_saw_some(
    saga_db: Database,
) -> None:
    waiting, alone = str(uuid.uuid4()), str(uuid.uuid4())
    async with saga_db.engine.connect() as connection:
        tx = SagaTransaction(connection, app_id="saga")
        await tx.park(waiting, message_id="early", input={"type": "inventory.reserved"})
        await connection.commit()
    async with saga_db.engine.connect() as connection:
        tx = SagaTransaction(connection, app_id="saga")
        await tx.load_all([waiting, alone])
        assert await tx.load(waiting) is None
        assert await tx.load(alone) is None
        with statements_of(saga_db) as seen:
            assert await tx.unpark(alone) == []
        if saga_db.is_postgres:
            assert seen == []
        parked = await tx.unpark(waiting)
        assert [p.message_id for p in parked] == ["early"]
        await connection.commit()
