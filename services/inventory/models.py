"""The inventory's tables: products with their stock, and reservations by order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column
from sqlmodel import Field, SQLModel

from shared.clock import utcnow
from shared.persistence.columns import UtcDateTime


class Product(SQLModel, table=True):
    """A catalogue entry and its stock: ``on_hand`` units, ``reserved`` of them held."""

    __tablename__ = "products"
    # The database itself refuses negative or over-reserved stock, whatever the code does.
    __table_args__ = (
        CheckConstraint("reserved >= 0", name="ck_products_reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="ck_products_reserved_within_on_hand"),
    )

    id: str = Field(primary_key=True, max_length=36)
    sku: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    price: int = Field(sa_type=BigInteger)
    """Minor units."""
    currency: str = Field(max_length=3)
    on_hand: int = Field(sa_type=BigInteger)
    reserved: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def _no_items() -> list[dict[str, Any]]:
    # Not ``list``: pydantic inspects a default factory's signature on every
    # construction, and a builtin's costs ten times a plain function's.
    return []


class Reservation(SQLModel, table=True):
    """What one order holds (or was refused, or gave back).

    ``items`` and ``shortages`` are JSON lists in the message catalogue's shape
    (``{productId, quantity}``, ``{productId, requested, available}``) so a
    repeated command is answered with exactly the first answer."""

    __tablename__ = "reservations"

    order_id: str = Field(primary_key=True)
    status: str = Field(max_length=20)
    items: list[dict[str, Any]] = Field(
        default_factory=_no_items, sa_column=Column(JSON, nullable=False)
    )
    shortages: list[dict[str, Any]] = Field(
        default_factory=_no_items, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )


class Restock(SQLModel, table=True):
    """The goods of one return put back on the shelf (once: a repeated
    ``inventory.restock`` is answered with these items again)."""

    __tablename__ = "restocks"

    return_id: str = Field(primary_key=True, max_length=64)
    order_id: str = Field(index=True, max_length=64)
    items: list[dict[str, Any]] = Field(
        default_factory=_no_items, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
