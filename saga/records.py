"""A saga's history and inputs: rows while it runs, one compressed record once it
has rested a while.

A saga that runs appends a few history entries and an input per transaction
(:mod:`saga.store`).  Kept as rows, a finished saga's eleven entries and four
inputs cost more in row headers, repeated ids and JSON keys than in what they
say.  Once a saga has been ``completed`` or ``cancelled`` for
:data:`COMPACT_AFTER`, housekeeping (:func:`compact`) moves its rows into one
``saga_records`` row: each list as JSON arrays, zlib-compressed.  A saga that
moves again afterwards (a completed order cancelled) appends rows as before;
readers (:func:`history_of`, :func:`tape_of`) give the record's entries first,
then the rows', and a later compaction merges them.

Compaction holds each saga's lock (the one its transactions take), so no entry
is recorded while its rows move.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from saga.models import SagaHousekeepingRow, SagaRecordRow, SagaRow
from saga.statements import HISTORY, INPUTS, LOCK_NAMESPACE
from shared.persistence.database import Database

RECORDS = SagaRecordRow.__table__  # type: ignore[attr-defined]
SAGAS = SagaRow.__table__  # type: ignore[attr-defined]
REACHED = SagaHousekeepingRow.__table__  # type: ignore[attr-defined]

COMPACT_AFTER = timedelta(minutes=5)
"""How long a saga rests before its rows are compacted (a late reply or a cancel
mostly comes sooner)."""
BATCH = 200
COMPACTED = ("completed", "cancelled")
"""Failed sagas wait for ops, whose retries add entries: they keep their rows."""


@dataclass(frozen=True)
class Entry:
    """One history entry (see :class:`saga.models.SagaHistoryRow`)."""

    at: datetime
    kind: str
    detail: dict[str, Any]
    message_id: str | None
    definition_version: int


@dataclass(frozen=True)
class Taped:
    """One input with what the definition decided (replay's tape)."""

    at: datetime
    input: dict[str, Any]
    decision: dict[str, Any]
    definition_version: int


def pack(items: list[list[Any]]) -> bytes:
    return zlib.compress(json.dumps(items, separators=(",", ":")).encode(), 9)


def unpack(blob: bytes) -> list[list[Any]]:
    items: list[list[Any]] = json.loads(zlib.decompress(blob))
    return items


def _when(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


_RECORD = select(RECORDS.c.history, RECORDS.c.inputs).where(
    RECORDS.c.saga_id == bindparam("saga_id")
)
_HISTORY_ROWS = (
    select(
        HISTORY.c.at,
        HISTORY.c.kind,
        HISTORY.c.detail,
        HISTORY.c.message_id,
        HISTORY.c.definition_version,
    )
    .where(HISTORY.c.saga_id == bindparam("saga_id"))
    .order_by(HISTORY.c.id)
)
_INPUT_ROWS = (
    select(INPUTS.c.at, INPUTS.c.input, INPUTS.c.decision, INPUTS.c.definition_version)
    .where(INPUTS.c.saga_id == bindparam("saga_id"))
    .order_by(INPUTS.c.id)
)


async def history_of(connection: AsyncConnection, saga_id: str) -> list[Entry]:
    """The saga's history entries in the order they were recorded."""
    record = (await connection.execute(_RECORD, {"saga_id": saga_id})).first()
    entries = [] if record is None else [Entry(_when(i[0]), *i[1:]) for i in unpack(record.history)]
    rows = (await connection.execute(_HISTORY_ROWS, {"saga_id": saga_id})).all()
    return entries + [Entry(_when(r[0]), *r[1:]) for r in rows]


async def tape_of(connection: AsyncConnection, saga_id: str) -> list[Taped]:
    """The saga's inputs with their decisions, in the order they were taken."""
    record = (await connection.execute(_RECORD, {"saga_id": saga_id})).first()
    taped = [] if record is None else [Taped(_when(i[0]), *i[1:]) for i in unpack(record.inputs)]
    rows = (await connection.execute(_INPUT_ROWS, {"saga_id": saga_id})).all()
    return taped + [Taped(_when(r[0]), *r[1:]) for r in rows]


def _upsert(dialect: Any, table: Any, key: str, columns: tuple[str, ...]) -> Any:
    stmt = dialect.insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c[key]], set_={c: stmt.excluded[c] for c in columns}
    )


_STORE_RECORD = {
    name: _upsert(d, RECORDS, "saga_id", ("history", "inputs"))
    for name, d in (("postgresql", postgresql), ("sqlite", sqlite))
}
_SET_REACHED = {
    name: _upsert(d, REACHED, "job", ("reached", "reached_id"))
    for name, d in (("postgresql", postgresql), ("sqlite", sqlite))
}
_REACHED = select(REACHED.c.reached, REACHED.c.reached_id).where(REACHED.c.job == bindparam("job"))
_RESTING = (
    select(SAGAS.c.id, SAGAS.c.updated_at)
    .where(
        # After the last saga taken, in (updated_at, id) order: the range is the index's.
        SAGAS.c.updated_at >= bindparam("reached"),
        or_(SAGAS.c.updated_at > bindparam("reached"), SAGAS.c.id > bindparam("reached_id")),
        SAGAS.c.updated_at < bindparam("cutoff"),
        SAGAS.c.status.in_(COMPACTED),
    )
    .order_by(SAGAS.c.updated_at, SAGAS.c.id)
    .limit(bindparam("limit"))
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def reached(connection: AsyncConnection, job: str) -> tuple[datetime, str]:
    """How far ``job`` has got: the last saga's ``updated_at`` and id (the epoch
    when it never ran)."""
    row = (await connection.execute(_REACHED, {"job": job})).first()
    return (EPOCH, "") if row is None else (_when(row.reached), str(row.reached_id))


async def set_reached(connection: AsyncConnection, job: str, at: datetime, saga_id: str) -> None:
    await connection.execute(
        _SET_REACHED[connection.dialect.name], {"job": job, "reached": at, "reached_id": saga_id}
    )


async def compact(db: Database, now: datetime, *, limit: int = BATCH) -> int:
    """Compact one batch of the sagas resting since before ``now - COMPACT_AFTER``,
    oldest first from where the last batch ended; how many sagas were looked at."""
    async with db.engine.begin() as connection:
        since, since_id = await reached(connection, "compact")
        resting = (
            await connection.execute(
                _RESTING,
                {
                    "reached": since,
                    "reached_id": since_id,
                    "cutoff": now - COMPACT_AFTER,
                    "limit": limit,
                },
            )
        ).all()
        if not resting:
            return 0
        await compact_sagas(connection, sorted(str(row.id) for row in resting))
        last = resting[-1]
        await set_reached(connection, "compact", _when(last.updated_at), str(last.id))
    return len(resting)


_LOCK_ALL = text(
    # In one order, so two batches never wait on each other in a circle.
    "SELECT count(pg_advisory_xact_lock(:namespace, hashtext(saga_id))) "
    "FROM (SELECT unnest(CAST(:ids AS text[])) AS saga_id ORDER BY 1) sagas"
)
_RECORDS_OF = select(RECORDS.c.saga_id, RECORDS.c.history, RECORDS.c.inputs).where(
    RECORDS.c.saga_id.in_(bindparam("ids", expanding=True))
)


def _rows_of_sagas(table: Any, *columns: str) -> Any:
    """``columns`` of ``table``'s rows of the sagas ``ids``, in the order they were written."""
    return (
        select(table.c.saga_id, *(table.c[name] for name in columns))
        .where(table.c.saga_id.in_(bindparam("ids", expanding=True)))
        .order_by(table.c.id)
    )


_HISTORY_OF = _rows_of_sagas(HISTORY, "at", "kind", "detail", "message_id", "definition_version")
_INPUTS_OF = _rows_of_sagas(INPUTS, "at", "input", "decision", "definition_version")


async def compact_sagas(connection: AsyncConnection, ids: list[str]) -> None:
    """Move the rows of sagas ``ids`` into their records, in ``connection``'s
    transaction: a few statements for the whole batch."""
    if connection.dialect.name == "postgresql":
        await connection.execute(_LOCK_ALL, {"namespace": LOCK_NAMESPACE, "ids": ids})
    history: dict[str, list[list[Any]]] = {}
    for h in await connection.execute(_HISTORY_OF, {"ids": ids}):
        history.setdefault(h.saga_id, []).append(
            [_when(h.at).isoformat(), h.kind, h.detail, h.message_id, h.definition_version]
        )
    taped: dict[str, list[list[Any]]] = {}
    for i in await connection.execute(_INPUTS_OF, {"ids": ids}):
        taped.setdefault(i.saga_id, []).append(
            [_when(i.at).isoformat(), i.input, i.decision, i.definition_version]
        )
    moved = sorted(set(history) | set(taped))
    if not moved:
        return
    # Only the records gaining entries are read (a saga compacted already and at
    # rest since has none).
    records = {
        r.saga_id: (unpack(r.history), unpack(r.inputs))
        for r in await connection.execute(_RECORDS_OF, {"ids": moved})
    }
    stored = []
    for saga_id in moved:
        old_history, old_inputs = records.get(saga_id, ([], []))
        stored.append(
            {
                "saga_id": saga_id,
                "history": pack(old_history + history.get(saga_id, [])),
                "inputs": pack(old_inputs + taped.get(saga_id, [])),
            }
        )
    await connection.execute(_STORE_RECORD[connection.dialect.name], stored)
    await connection.execute(delete(HISTORY).where(HISTORY.c.saga_id.in_(moved)))
    await connection.execute(delete(INPUTS).where(INPUTS.c.saga_id.in_(moved)))
