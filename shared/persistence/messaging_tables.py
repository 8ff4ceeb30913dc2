"""The outbox and inbox tables every service that publishes or consumes has."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary
from sqlmodel import Field, SQLModel

from shared.clock import utcnow


class OutboxRow(SQLModel, table=True):
    """A message written in the same transaction as the state change it announces."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(unique=True, max_length=64)
    type: str = Field(max_length=100)
    exchange: str = Field(max_length=100)
    routing_key: str = Field(max_length=200)
    correlation_id: str = Field(max_length=64)
    causation_id: str | None = Field(default=None, max_length=64)
    app_id: str = Field(max_length=50)
    headers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class InboxRow(SQLModel, table=True):
    """A message a consumer has processed; its second delivery has no effect."""

    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, max_length=100)
    message_id: str = Field(primary_key=True, max_length=64)
    processed_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


MESSAGING_TABLES = (OutboxRow.__table__, InboxRow.__table__)  # type: ignore[attr-defined]
