"""The saga service's tables: saga instances, their history and inputs, deadlines,
messages parked until their saga exists, and dead letters collected for ops."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary
from sqlmodel import Field, SQLModel

from shared.clock import utcnow
from shared.persistence.columns import UtcDateTime


class SagaRow(SQLModel, table=True):
    """One saga of any kind. ``version`` guards every update (optimistic concurrency)."""

    __tablename__ = "sagas"

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(default="order", index=True, max_length=40)
    """Which definition runs it (``saga/kinds.py``): ``order``, ``return``."""
    status: str = Field(index=True, max_length=40)
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    version: int = 1
    definition_version: int
    user_id: str = Field(index=True, max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(UtcDateTime(), nullable=False, index=True),
    )
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(UtcDateTime(), nullable=False, index=True),
    )
    deadline_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True, index=True)
    )


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
