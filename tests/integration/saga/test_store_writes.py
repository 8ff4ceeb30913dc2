"""The saga's rows and deadlines are written at the end of the transaction, all
of a batch at once, and still only over the version they were read at."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from saga.models import SagaDeadlineRow, SagaRow
from saga.store import SagaTransaction, StoredSaga, VersionConflict
from shared.clock import utcnow
from shared.persistence.database import Database
from tests.support.databases import saga_database


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
