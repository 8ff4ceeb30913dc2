"""Finished sagas removed once older than their retention, with their history,
inputs, record and deadline; optionally written to an archive first.

A saga goes when it has rested (``completed`` or ``cancelled``, and ``failed``
only when asked) since before the cutoff: its ``updated_at`` is older.  Sagas
go in small batches, each one transaction holding the lock of every saga in it
(the one its transactions take), and each saga is checked again under its lock:
a saga that moved meanwhile (a completed order being cancelled) is not at rest,
or no longer old, and stays.  Never a saga not at rest.

Each saga removed leaves its id and when in ``saga_pruned`` (``GET
/pruned-sagas/{id}``): ``oms audit`` does not take its order's payment or
reservation for one made without a saga.

The archive (:mod:`saga.archive`) gets each batch before it is deleted: if the
deletion then fails, the next round writes those sagas again, and a reader takes
a saga's last line.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, text

from saga.archive import append_archive
from saga.models import SagaDeadlineRow, SagaPrunedRow
from saga.records import RECORDS, SAGAS, history_of, tape_of
from saga.statements import HISTORY, INPUTS, LOCK_NAMESPACE
from shared.clock import utcnow
from shared.persistence.database import Database

DEADLINES = SagaDeadlineRow.__table__  # type: ignore[attr-defined]
PRUNED = SagaPrunedRow.__table__  # type: ignore[attr-defined]
BATCH = 100
"""Sagas removed in one transaction, kept short: a checkout's transaction may wait
for a core of the database while one runs."""
PAUSE_SECONDS = 0.05
"""Between two batches, at the least: the saga's own transactions go first."""
RATE = 500.0
"""Sagas removed a second, at most: ten times what a busy shop finishes (50 a
second), so a day's backlog goes in about two hours and retention never holds the
database more than a fraction of the time."""


def finished(failed: bool) -> tuple[str, ...]:
    """The states whose sagas retention removes."""
    return ("completed", "cancelled", "failed") if failed else ("completed", "cancelled")


@dataclass(frozen=True)
class Pruned:
    sagas: int
    oldest: datetime | None = None
    newest: datetime | None = None


def _due(statuses: tuple[str, ...]) -> Any:
    return (
        select(SAGAS.c.id)
        .where(SAGAS.c.updated_at < bindparam("cutoff"), SAGAS.c.status.in_(statuses))
        .order_by(SAGAS.c.updated_at)
        .limit(bindparam("limit"))
    )


_LOCK = text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:saga_id))")


async def would_prune(db: Database, cutoff: datetime, *, failed: bool) -> Pruned:
    """What :func:`prune` would remove now: how many sagas, the oldest and newest
    last change among them."""
    stmt = select(func.count(), func.min(SAGAS.c.updated_at), func.max(SAGAS.c.updated_at)).where(
        SAGAS.c.updated_at < cutoff, SAGAS.c.status.in_(finished(failed))
    )
    async with db.read_engine.connect() as connection:
        count, oldest, newest = (await connection.execute(stmt)).one()
    return Pruned(int(count), oldest, newest)


async def prune_batch(
    db: Database, cutoff: datetime, *, failed: bool, archive: Path | None, limit: int = BATCH
) -> tuple[int, int]:
    """Remove one batch of the sagas due (at most ``limit``): how many were looked
    at, and how many went (fewer when some moved meanwhile)."""
    statuses = finished(failed)
    async with db.engine.begin() as connection:
        ids = sorted(
            str(i)
            for i in (
                await connection.execute(_due(statuses), {"cutoff": cutoff, "limit": limit})
            ).scalars()
        )
        if not ids:
            return 0, 0
        if connection.dialect.name == "postgresql":
            for saga_id in ids:
                await connection.execute(_LOCK, {"namespace": LOCK_NAMESPACE, "saga_id": saga_id})
        # Under the locks: what is still at rest and old goes, nothing else.
        rows = (
            await connection.execute(
                select(SAGAS).where(
                    SAGAS.c.id.in_(ids), SAGAS.c.status.in_(statuses), SAGAS.c.updated_at < cutoff
                )
            )
        ).all()
        going = [str(row.id) for row in rows]
        if archive is not None and rows:
            sagas = [
                (row, await history_of(connection, row.id), await tape_of(connection, row.id))
                for row in rows
            ]
            await asyncio.to_thread(append_archive, archive, sagas)
        for table, column in ((HISTORY, "saga_id"), (INPUTS, "saga_id"), (RECORDS, "saga_id")):
            await connection.execute(delete(table).where(table.c[column].in_(going)))
        await connection.execute(delete(DEADLINES).where(DEADLINES.c.saga_id.in_(going)))
        await connection.execute(delete(SAGAS).where(SAGAS.c.id.in_(going)))
        if going:
            # Kept so the order is known to have had a saga (``oms audit``).
            gone_at = utcnow()
            await connection.execute(
                insert(PRUNED), [{"saga_id": saga_id, "pruned_at": gone_at} for saga_id in going]
            )
    return len(ids), len(going)


async def prune(
    db: Database,
    cutoff: datetime,
    *,
    failed: bool = False,
    archive: Path | None = None,
    limit: int = BATCH,
    pause: float = PAUSE_SECONDS,
    rate: float = RATE,
    most: int | None = None,
) -> int:
    """Remove every saga due, batch after batch (at most ``most`` sagas when given),
    ``pause`` seconds at least between two and ``rate`` sagas a second at most (no
    wait at all when ``pause`` is 0); how many went."""
    removed = 0
    while most is None or removed < most:
        started = time.monotonic()
        looked, went = await prune_batch(db, cutoff, failed=failed, archive=archive, limit=limit)
        if looked == 0:
            break
        removed += went
        if pause:
            taken = time.monotonic() - started
            await asyncio.sleep(max(pause, looked / rate - taken))
    return removed
