"""The saga's statements, built once: SQLAlchemy Core on the tables of the ORM
models of :mod:`saga.models`, so the runtime's hot path and the ops API agree on
every column and type (see :mod:`saga.store`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from saga.models import (
    DeadLetterRow,
    ParkedMessageRow,
    SagaDeadlineRow,
    SagaHistoryRow,
    SagaInputRow,
    SagaRow,
)
from shared.messages import CATALOGUE

LOCK_NAMESPACE = 5_020
"""First key of the saga locks (PostgreSQL's two-key advisory locks), so they never
meet another use of advisory locks; the second key is a hash of the saga id."""

SAGAS = SagaRow.__table__  # type: ignore[attr-defined]
HISTORY = SagaHistoryRow.__table__  # type: ignore[attr-defined]
INPUTS = SagaInputRow.__table__  # type: ignore[attr-defined]
DEADLINES = SagaDeadlineRow.__table__  # type: ignore[attr-defined]
PARKED = ParkedMessageRow.__table__  # type: ignore[attr-defined]
DEAD_LETTERS = DeadLetterRow.__table__  # type: ignore[attr-defined]

LOCK = text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:saga_id))")
LOCK_AND_CLAIM = text(
    # One round trip: the insert reads the lock's row, so the lock comes first.
    "WITH locked AS (SELECT pg_advisory_xact_lock(:namespace, hashtext(:saga_id))) "
    "INSERT INTO inbox (consumer, message_id, processed_at) "
    "SELECT :consumer, :message_id, :processed_at FROM locked ON CONFLICT DO NOTHING"
)
LOCK_ALL_AND_CLAIM = text(
    # Every saga of a batch locked in the order of the lock keys, so two batches
    # sharing sagas wait for each other and never deadlock; then the inbox claims
    # (the insert reads the locks' row, so the locks come first), in a fixed order.
    "WITH locked AS (SELECT count(pg_advisory_xact_lock(:namespace, k)) AS n FROM "
    "(SELECT DISTINCT hashtext(s) AS k FROM unnest(CAST(:saga_ids AS text[])) AS s "
    "ORDER BY k) AS keys) "
    "INSERT INTO inbox (consumer, message_id, processed_at) "
    "SELECT :consumer, m, :processed_at FROM locked, "
    "unnest(CAST(:message_ids AS text[])) AS m ORDER BY m "
    "ON CONFLICT DO NOTHING RETURNING message_id"
)
_COLUMNS = select(
    SAGAS.c.id,
    SAGAS.c.status,
    SAGAS.c.state,
    SAGAS.c.version,
    SAGAS.c.deadline_at,
    SAGAS.c.created_at,
    SAGAS.c.definition_version,
    SAGAS.c.kind,
)
LOAD = _COLUMNS.where(SAGAS.c.id == bindparam("saga_id"))
LOAD_ALL = _COLUMNS.where(SAGAS.c.id.in_(bindparam("saga_ids", expanding=True)))
CREATE = insert(SAGAS)
UPDATE = (
    update(SAGAS)
    .where(SAGAS.c.id == bindparam("saga_id"), SAGAS.c.version == bindparam("expected"))
    .values(
        version=bindparam("version"),
        status=bindparam("status"),
        state=bindparam("state", type_=SAGAS.c.state.type),
        updated_at=bindparam("updated_at", type_=SAGAS.c.updated_at.type),
        deadline_at=bindparam("deadline_at", type_=SAGAS.c.deadline_at.type),
    )
)
ADD_HISTORY = insert(HISTORY)
ADD_INPUT = insert(INPUTS)
CLEAR_DEADLINES = delete(DEADLINES).where(DEADLINES.c.saga_id.in_(bindparam("ids", expanding=True)))
UPDATE_ALL = text(
    # Every saga of a transaction stored at once, each only if still at the version
    # it was read at: the ids returned are the rows stored.
    "UPDATE sagas AS s SET version = v.version, status = v.status, "
    "state = CAST(v.state AS json), updated_at = v.updated_at, deadline_at = v.deadline_at "
    "FROM unnest(CAST(:ids AS text[]), CAST(:expected AS integer[]), "
    "CAST(:versions AS integer[]), CAST(:statuses AS text[]), CAST(:states AS text[]), "
    "CAST(:updated AS timestamptz[]), CAST(:deadlines AS timestamptz[])) "
    "AS v(id, expected, version, status, state, updated_at, deadline_at) "
    "WHERE s.id = v.id AND s.version = v.expected RETURNING s.id"
)


def update_values(saga: Any, expected: int, at: datetime) -> dict[str, Any]:
    """The parameters of :data:`UPDATE` storing ``saga`` over version ``expected``."""
    return {
        "saga_id": saga.id,
        "expected": expected,
        "version": saga.version,
        "status": saga.status,
        "state": saga.state,
        "updated_at": at,
        "deadline_at": saga.deadline_at,
    }


def update_all_values(updates: Sequence[tuple[int, Any, datetime]]) -> dict[str, Any]:
    """The parameters of :data:`UPDATE_ALL`: (expected version, saga, when) each."""
    return {
        "ids": [saga.id for _, saga, _ in updates],
        "expected": [expected for expected, _, _ in updates],
        "versions": [saga.version for _, saga, _ in updates],
        "statuses": [saga.status for _, saga, _ in updates],
        "states": [json.dumps(saga.state) for _, saga, _ in updates],
        "updated": [at.astimezone(UTC) for _, _, at in updates],
        "deadlines": [
            None if saga.deadline_at is None else saga.deadline_at.astimezone(UTC)
            for _, saga, _ in updates
        ],
    }


def _set_deadline(dialect: Any) -> Any:
    """Insert a saga's deadline, or replace the one it has."""
    stmt = dialect.insert(DEADLINES)
    replaced = {column: stmt.excluded[column] for column in ("step", "attempt", "due_at")}
    return stmt.on_conflict_do_update(index_elements=[DEADLINES.c.saga_id], set_=replaced)


SET_DEADLINE = {"postgresql": _set_deadline(postgresql), "sqlite": _set_deadline(sqlite)}
DUE_DEADLINE = select(DEADLINES.c.step, DEADLINES.c.attempt).where(
    DEADLINES.c.saga_id == bindparam("saga_id"), DEADLINES.c.due_at <= bindparam("now")
)
DUE_SAGAS = (
    select(DEADLINES.c.saga_id)
    .where(DEADLINES.c.due_at <= bindparam("now"))
    .order_by(DEADLINES.c.due_at)
    .limit(bindparam("limit"))
)
PARK = insert(PARKED)
PARKED_OF = (
    select(PARKED.c.id, PARKED.c.message_id, PARKED.c.input)
    .where(PARKED.c.saga_id == bindparam("saga_id"))
    .order_by(PARKED.c.id)
)
UNPARK = delete(PARKED).where(PARKED.c.id.in_(bindparam("ids", expanding=True)))
EXPIRED = (
    select(PARKED.c.id, PARKED.c.saga_id, PARKED.c.message_id, PARKED.c.input, PARKED.c.received_at)
    .where(PARKED.c.received_at < bindparam("cutoff"))
    .order_by(PARKED.c.id)
    .limit(bindparam("limit"))
)
DEAD_LETTER = insert(DEAD_LETTERS)


def expired_letter(row: Any, *, queue: str, now: datetime) -> dict[str, Any]:
    """The dead letter of ``queue`` an input parked too long becomes (a row of
    :data:`EXPIRED`), saying why."""
    kind = str(row.input.get("type", ""))
    model = CATALOGUE.get(kind)
    return {
        "queue": queue,
        "message_id": row.message_id,
        "type": kind,
        "correlation_id": row.saga_id,
        "reason": (
            f"parked since {row.received_at.isoformat()} for saga {row.saga_id}, "
            "which never started: expired"
        ),
        "exchange": model.exchange if model is not None else "",
        "routing_key": kind,
        "headers": {},
        "body": json.dumps(row.input.get("body", {}), separators=(",", ":")).encode(),
        "received_at": now,
        "requeued_at": None,
    }
