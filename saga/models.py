"""The saga service's tables: saga instances, their history and inputs, deadlines,
messages parked until their saga exists, and dead letters collected for ops."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, LargeBinary, text
from sqlmodel import Field, SQLModel

from shared.clock import utcnow
from shared.persistence.columns import UtcDateTime

AT_REST_SQL = "status NOT IN ('completed', 'cancelled', 'failed')"
"""The sagas not at rest, as the partial index ``ix_sagas_not_at_rest`` says it: a
query selecting them must say it the same way (literals, not parameters) for the
planner to take the index."""


class SagaRow(SQLModel, table=True):
    """One saga of any kind. ``version`` guards every update (optimistic concurrency)."""

    __tablename__ = "sagas"
    __table_args__ = (
        Index("ix_sagas_created_at", "created_at", "id"),
        Index("ix_sagas_updated_at", "updated_at", "status"),
        Index("ix_sagas_status", "status", "created_at", "id"),
        Index("ix_sagas_user_id", "user_id", "created_at", "id"),
        Index(
            "ix_sagas_not_at_rest",
            "created_at",
            "id",
            postgresql_where=text(AT_REST_SQL),
            sqlite_where=text(AT_REST_SQL),
        ),
    )

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(
        default="order", index=True, max_length=40, sa_column_kwargs={"server_default": "order"}
    )
    """Which definition runs it (``saga/kinds.py``): ``order``, ``return``."""
    status: str = Field(max_length=40)
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    version: int = 1
    definition_version: int
    user_id: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    deadline_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True, index=True)
    )


class SagaStateCountRow(SQLModel, table=True):
    """How many sagas were in a state when the changes were last folded in
    (:mod:`saga.counts`); the changes since are in ``saga_state_count_changes``."""

    __tablename__ = "saga_state_counts"

    status: str = Field(primary_key=True, max_length=40)
    sagas: int = Field(sa_column=Column(BigInteger(), nullable=False))


class SagaStateCountChangeRow(SQLModel, table=True):
    """A change of a state's count (+n / -n), appended by the triggers on ``sagas``
    in the transaction that changes the sagas."""

    __tablename__ = "saga_state_count_changes"

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    status: str = Field(max_length=40)
    change: int = Field(sa_column=Column(BigInteger(), nullable=False))


class SagaDeadlineRow(SQLModel, table=True):
    """A saga's pending timeout; the poller fires it when ``due_at`` passes."""

    __tablename__ = "saga_deadlines"

    saga_id: str = Field(primary_key=True, max_length=64)
    command: str = Field(max_length=60, sa_column_kwargs={"name": "step"})
    """The command the saga awaits (the column keeps its first name, ``step``)."""
    attempt: int
    due_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))


class SagaHistoryRow(SQLModel, table=True):
    """One entry of a saga's history: message in, command out, transition, timeout,
    operator action, or an input ignored (and why)."""

    __tablename__ = "saga_history"

    id: int | None = Field(default=None, primary_key=True)
    saga_id: str = Field(index=True, max_length=64)
    at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    kind: str = Field(max_length=40)
    detail: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    message_id: str | None = Field(default=None, max_length=64)
    definition_version: int


class SagaInputRow(SQLModel, table=True):
    """Every input the definition reacted to, with what it decided: replay's tape."""

    __tablename__ = "saga_inputs"

    id: int | None = Field(default=None, primary_key=True)
    saga_id: str = Field(index=True, max_length=64)
    at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    input: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    decision: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    definition_version: int


class ParkedMessageRow(SQLModel, table=True):
    """An event for an order whose saga does not exist yet, applied when it does."""

    __tablename__ = "saga_parked"

    id: int | None = Field(default=None, primary_key=True)
    saga_id: str = Field(index=True, max_length=64)
    message_id: str = Field(max_length=64)
    input: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )


class DeadLetterRow(SQLModel, table=True):
    """A message some consumer could not process, kept for ops to read and requeue."""

    __tablename__ = "dead_letters"

    id: int | None = Field(default=None, primary_key=True)
    queue: str = Field(index=True, max_length=200)
    message_id: str = Field(max_length=64)
    type: str = Field(max_length=100)
    correlation_id: str = Field(max_length=64)
    reason: str
    exchange: str = Field(max_length=100)
    routing_key: str = Field(max_length=200)
    headers: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    requeued_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )


class SagaRecordRow(SQLModel, table=True):
    """A saga's history entries and inputs moved out of their tables once it came to
    rest, each list as compressed JSON (:mod:`saga.records`); entries recorded
    after (the saga moved again) are in the tables and follow these."""

    __tablename__ = "saga_records"

    saga_id: str = Field(primary_key=True, max_length=64)
    history: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    inputs: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SagaHousekeepingRow(SQLModel, table=True):
    """How far a housekeeping job has got (the ``updated_at`` and id of the last saga
    it took), so a round starts where the last one ended."""

    __tablename__ = "saga_housekeeping"

    job: str = Field(primary_key=True, max_length=40)
    reached: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    reached_id: str = Field(max_length=64)


class SagaPrunedRow(SQLModel, table=True):
    """A saga retention removed, and when: its order had a saga."""

    __tablename__ = "saga_pruned"

    saga_id: str = Field(primary_key=True, max_length=64)
    pruned_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class SagaJobRow(SQLModel, table=True):
    """A bulk retry or abort run as a job (:mod:`saga.jobs`): its selection, who
    asked and why, its rate, and how far it has got (the last saga taken, in the
    list's (created_at, id) order)."""

    __tablename__ = "saga_jobs"

    id: str = Field(primary_key=True, max_length=36)
    action: str = Field(max_length=10)
    filter: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    described: str
    reason: str = Field(max_length=500)
    actor: str = Field(max_length=200)
    rate: float
    status: str = Field(index=True, max_length=20)
    """``running``, ``cancelled`` or ``done``."""
    selected: int
    """How many sagas the filter selected when the job was made."""
    done: int = 0
    succeeded: int = 0
    after_created_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )
    after_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class SagaJobOutcomeRow(SQLModel, table=True):
    """What a job did to one saga."""

    __tablename__ = "saga_job_outcomes"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(index=True, max_length=36)
    saga_id: str = Field(max_length=64)
    ok: bool
    state: str | None = Field(default=None, max_length=40)
    error: str | None = None
    at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
