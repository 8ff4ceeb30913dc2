"""The saga's statements, built once: SQLAlchemy Core on the tables of the ORM
models of :mod:`saga.models`, so the runtime's hot path and the ops API agree on
every column and type (see :mod:`saga.store`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String, bindparam, column, delete, insert, select, text, update
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
from shared.persistence.arrays import Part
from shared.persistence.outbox import OUTBOX, OUTBOX_COLUMNS, claim_all_sql

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
    "ORDER BY k) AS keys) " + claim_all_sql(after="locked")
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
_LOADED = [selected.name for selected in _COLUMNS.selected_columns]
LOAD_ALL_PARKED = text(
    # Every saga asked for, a row each (a saga's columns null where there is none),
    # and whether inputs are parked for it: a saga created in the transaction then
    # looks for them only when there are some.
    f"SELECT {', '.join('s.' + name for name in _LOADED)}, asked.id AS asked, "
    "EXISTS (SELECT 1 FROM saga_parked AS p WHERE p.saga_id = asked.id) AS parked "
    "FROM unnest(CAST(:saga_ids AS text[])) AS asked(id) LEFT JOIN sagas AS s ON s.id = asked.id"
).columns(
    *(SAGAS.c[name] for name in _LOADED),
    column("asked", String),
    column("parked", Boolean),
)
""":data:`LOAD_ALL` on PostgreSQL, with which sagas have parked inputs."""
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
# --- every write of a transaction in one statement (PostgreSQL) -------------------
#
# A saga created and updated in one transaction is inserted at its last state, and
# a saga's deadline is either cleared or set (the last word): no two parts of the
# statement touch the same row (:mod:`shared.persistence.arrays`).

_UPDATED = Part(
    "updated",
    (
        ("expected", "integer"),
        *Part.of(SAGAS, ("id", "version", "status", "state", "updated_at", "deadline_at")).columns,
    ),
)
"""The sagas stored: which row, the version it must still be at, what it becomes."""
_CREATED = Part.of(
    SAGAS,
    (
        "id",
        "kind",
        "status",
        "state",
        "version",
        "definition_version",
        "user_id",
        "created_at",
        "updated_at",
        "deadline_at",
    ),
    name="created",
)
_HISTORY = Part.of(
    HISTORY,
    ("saga_id", "at", "kind", "detail", "message_id", "definition_version"),
    name="history",
)
_INPUTS = Part.of(
    INPUTS, ("saga_id", "at", "input", "decision", "definition_version"), name="inputs"
)
_COMMANDS = Part.of(OUTBOX, OUTBOX_COLUMNS, name="commands")
_ARMED = Part.of(DEADLINES, ("saga_id", "step", "attempt", "due_at"), name="armed")
_SET = ", ".join(
    f"{name} = {_UPDATED.value(name)}"
    for name, _ in _UPDATED.columns
    if name not in ("id", "expected")
)
WRITE_ALL = text(
    f"WITH updated_rows AS (UPDATE sagas AS s SET {_SET} FROM {_UPDATED.relation} "
    "WHERE s.id = updated.id AND s.version = updated.expected RETURNING s.id), "
    + ", ".join(
        [
            _CREATED.insert("sagas"),
            _HISTORY.insert("saga_history"),
            _INPUTS.insert("saga_inputs"),
            _COMMANDS.insert("outbox"),
            _ARMED.insert(
                "saga_deadlines",
                then="ON CONFLICT (saga_id) DO UPDATE SET step = excluded.step, "
                "attempt = excluded.attempt, due_at = excluded.due_at",
            ),
            "cleared_rows AS (DELETE FROM saga_deadlines "
            "WHERE saga_id = ANY(CAST(:cleared_ids AS text[])))",
        ]
    )
    + " SELECT id FROM updated_rows"
)
"""Every write of a saga transaction at once, on PostgreSQL: the sagas updated (each
only if still at the version it was read at: the ids returned are the rows
stored), those created, their history, inputs, commands (the outbox), deadlines
set and cleared.  :func:`write_all_values` makes its parameters."""


def write_all_values(
    *,
    updated: Sequence[dict[str, Any]],
    created: Sequence[dict[str, Any]],
    history: Sequence[dict[str, Any]],
    inputs: Sequence[dict[str, Any]],
    commands: Sequence[dict[str, Any]],
    armed: Sequence[dict[str, Any]],
    cleared: Sequence[str],
) -> dict[str, Any]:
    """The parameters of :data:`WRITE_ALL`, from the rows of each part as column
    values (an update's ``id`` and ``expected`` version with the new values)."""
    return {
        "cleared_ids": list(cleared),
        **_UPDATED.parameters(updated),
        **_CREATED.parameters(created),
        **_HISTORY.parameters(history),
        **_INPUTS.parameters(inputs),
        **_COMMANDS.parameters(commands),
        **_ARMED.parameters(armed),
    }


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
