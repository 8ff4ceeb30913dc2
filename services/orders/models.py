"""The orders' tables: orders, their items, their status history, their shipments
and the idempotency keys they were placed under."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from shared.clock import utcnow
from shared.persistence.columns import UtcDateTime


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    # Listing is newest first, per user or over all orders, with (created_at, id) as cursor.
    __table_args__ = (
        Index("ix_orders_user_newest", "user_id", "created_at", "id"),
        Index("ix_orders_newest", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    user_id: str = Field(max_length=100)
    status: str = Field(max_length=20)
    currency: str = Field(max_length=3)
    total_amount: int = Field(sa_type=BigInteger)
    """Minor units: the sum of quantity times unit price over the items."""
    payment_method_id: str = Field(max_length=100)
    shipping_address: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    cancel_reason: str | None = Field(default=None)
    cancel_requested_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )
    """When a cancel was first accepted (``POST /orders/{id}/cancel`` answered 202):
    from then on the order must end cancelled, which ``oms audit`` checks."""
    cancel_requested_by: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )


class OrderItem(SQLModel, table=True):
    __tablename__ = "order_items"

    order_id: str = Field(sa_column=Column(String(36), ForeignKey("orders.id"), primary_key=True))
    line_no: int = Field(primary_key=True)
    product_id: str = Field(max_length=100)
    quantity: int
    unit_price: int = Field(sa_type=BigInteger)


class StatusChange(SQLModel, table=True):
    """One entry of an order's status history (``pending`` on creation, then each move)."""

    __tablename__ = "order_status_history"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(
        sa_column=Column(String(36), ForeignKey("orders.id"), nullable=False, index=True)
    )
    status: str = Field(max_length=20)
    reason: str | None = Field(default=None)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class Shipment(SQLModel, table=True):
    """How an order left the warehouse (one shipment an order) and when it arrived."""

    __tablename__ = "order_shipments"

    order_id: str = Field(sa_column=Column(String(36), ForeignKey("orders.id"), primary_key=True))
    carrier: str = Field(max_length=100)
    tracking_number: str = Field(max_length=100)
    shipped_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    shipped_by: str = Field(max_length=100)
    """The subject of the token that marked it shipped (a warehouse, or ops)."""
    delivered_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )
    delivered_by: str | None = Field(default=None, max_length=100)


class PlacedUnderKey(SQLModel, table=True):
    """An order placed with an ``Idempotency-Key``: the key (per user), a digest of
    the request body and the first answer, so a repeat gets that answer again.

    The primary key is what stops two concurrent first requests with one key from
    both placing an order: the second one's insert fails."""

    __tablename__ = "order_idempotency_keys"

    user_id: str = Field(primary_key=True, max_length=100)
    idempotency_key: str = Field(primary_key=True, max_length=200)
    order_id: str = Field(sa_column=Column(String(36), ForeignKey("orders.id"), nullable=False))
    fingerprint: str = Field(max_length=64)
    """SHA-256 (hex) of the validated request body as canonical JSON."""
    answer: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    """The body of the first answer (201), as sent."""
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )


class OrderReturn(SQLModel, table=True):
    """A customer's return of lines of a delivered order (the return saga carries it
    out): ``requested``, then ``received`` by the warehouse, then ``refunded``; or
    ``expired`` when the goods never arrived."""

    __tablename__ = "order_returns"

    id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(
        sa_column=Column(String(36), ForeignKey("orders.id"), nullable=False, index=True)
    )
    user_id: str = Field(max_length=100)
    status: str = Field(max_length=20)
    refunded_amount: int = Field(default=0, sa_type=BigInteger)
    """Minor units paid back (once ``refunded``)."""
    requested_by: str = Field(max_length=100)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    received_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )


class OrderReturnLine(SQLModel, table=True):
    """A product of a return: how many were asked back, at the price paid, and how
    many the warehouse received."""

    __tablename__ = "order_return_lines"

    return_id: str = Field(
        sa_column=Column(String(36), ForeignKey("order_returns.id"), primary_key=True)
    )
    product_id: str = Field(primary_key=True, max_length=100)
    quantity: int
    unit_price: int = Field(sa_type=BigInteger)
    received_quantity: int | None = None
