"""The payments service's tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.clock import utcnow
from shared.persistence.columns import UtcDateTime


def new_id() -> str:
    return str(uuid.uuid4())


def _timestamp(*, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    return Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class PaymentMethod(SQLModel, table=True):
    """A card a user saved: the gateway's token for it, and how to show it."""

    __tablename__ = "payment_methods"
    __table_args__ = (UniqueConstraint("user_id", "token", name="uq_payment_methods_user_token"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(index=True, max_length=64)
    token: str = Field(max_length=128)
    brand: str | None = Field(default=None, max_length=30)
    last4: str | None = Field(default=None, max_length=4)
    created_at: datetime = _timestamp()


class PaymentOrder(SQLModel, table=True):
    """Payments' record of one order: the row every charge and refund of the order
    locks first (so they run one at a time), and the refund tombstone."""

    __tablename__ = "payment_orders"

    order_id: str = Field(primary_key=True, max_length=64)
    refund_requested_at: datetime | None = _timestamp(nullable=True)
    """Set by the first refund: from then on no charge may capture for the order."""
    created_at: datetime = _timestamp()


class Payment(SQLModel, table=True):
    """The one charge of an order, captured or declined."""

    __tablename__ = "payments"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    order_id: str = Field(unique=True, max_length=64)
    user_id: str = Field(index=True, max_length=64)
    payment_method_id: str = Field(max_length=128)
    amount: int = Field(sa_type=BigInteger)
    """Minor units."""
    currency: str = Field(max_length=3)
    status: str = Field(max_length=20)
    charge_ref: str | None = Field(default=None, max_length=128)
    """The gateway's id of the charge, for refunds."""
    code: str | None = Field(default=None, max_length=50)
    reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class Refund(SQLModel, table=True):
    """One attempt to pay a payment back, succeeded or declined."""

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("payment_id", "attempt", name="uq_refunds_attempt"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    payment_id: str = Field(foreign_key="payments.id", index=True, max_length=36)
    order_id: str = Field(index=True, max_length=64)
    attempt: int
    amount: int = Field(sa_type=BigInteger)
    status: str = Field(max_length=20)
    reference: str | None = Field(default=None, max_length=128)
    code: str | None = Field(default=None, max_length=50)
    reason: str | None = Field(default=None, max_length=500)
    return_id: str | None = Field(default=None, index=True, max_length=64)
    """The return this refund pays back (None: the order's cancellation)."""
    created_at: datetime = _timestamp()
