"""The orders' HTTP bodies (camelCase JSON) and documented error answers."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    Field,
    JsonValue,
    field_validator,
)

from services.orders.domain import MAX_LINES, MAX_QUANTITY
from services.orders.models import Order, OrderItem, Shipment, StatusChange
from shared.catalogue import Price
from shared.web.schemas import CamelModel, CurrencyCode, JsonInteger, RequestBody, SafeId, Text

Id = SafeId
"""Ids are opaque, but in a safe alphabet: they reach URLs, logs and ops' terminals."""
MAX_ADDRESS_JSON = 2_000


class ItemIn(RequestBody):
    product_id: Id
    quantity: Annotated[int, Field(gt=0, le=MAX_QUANTITY), JsonInteger]
    unit_price: Price


class NewOrder(RequestBody):
    user_id: Id
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=MAX_LINES)]
    currency: CurrencyCode
    payment_method_id: Id
    shipping_address: dict[str, JsonValue] | None = Field(
        default=None, description="kept as given (e.g. line1, line2, city, postalCode, country)"
    )

    @field_validator("shipping_address")
    @classmethod
    def _bounded(cls, value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        if value is not None and len(json.dumps(value)) > MAX_ADDRESS_JSON:
            raise ValueError(f"at most {MAX_ADDRESS_JSON} characters of JSON")
        return value


class ItemOut(CamelModel):
    product_id: str
    quantity: int
    unit_price: int = Field(description="minor units")


class StatusChangeOut(CamelModel):
    status: str
    at: datetime
    reason: str | None = None


class ShipmentIn(RequestBody):
    """How a warehouse sent the order.  Sending the same again changes nothing."""

    carrier: Annotated[Text, Field(min_length=1, max_length=100, examples=["DHL Express"])]
    tracking_number: Annotated[SafeId, Field(examples=["JD014600006281230704"])]


class ShipmentOut(CamelModel):
    carrier: str
    tracking_number: str
    shipped_at: datetime
    delivered_at: datetime | None = Field(default=None, description="null until delivered")


class OrderOut(CamelModel):
    id: str
    user_id: str
    status: str = Field(
        description="pending, then confirmed (paid for, waiting for the warehouse: being "
        "processed), shipped and delivered, or cancelled"
    )
    items: list[ItemOut]
    total_amount: int = Field(description="minor units")
    currency: str
    payment_method_id: str
    shipping_address: dict[str, Any] | None = None
    cancel_reason: str | None = None
    cancel_requested_at: datetime | None = Field(
        default=None, description="when a cancel was first accepted; the order then ends cancelled"
    )
    created_at: datetime
    updated_at: datetime
    history: list[StatusChangeOut] = Field(description="every status the order had, oldest first")
    shipment: ShipmentOut | None = Field(
        default=None, description="how the order left the warehouse (null until it was shipped)"
    )

    @classmethod
    def of(
        cls,
        order: Order,
        items: list[OrderItem],
        history: list[StatusChange],
        shipment: Shipment | None = None,
    ) -> OrderOut:
        return cls(
            id=order.id,
            user_id=order.user_id,
            status=order.status,
            items=[ItemOut.read(i) for i in items],
            total_amount=order.total_amount,
            currency=order.currency,
            payment_method_id=order.payment_method_id,
            shipping_address=order.shipping_address,
            cancel_reason=order.cancel_reason,
            cancel_requested_at=order.cancel_requested_at,
            created_at=order.created_at,
            updated_at=order.updated_at,
            history=[StatusChangeOut.read(h) for h in history],
            shipment=None if shipment is None else ShipmentOut.read(shipment),
        )


class OrderPage(CamelModel):
    """Newest first; pass ``nextCursor`` as ``cursor`` for the next page (null: no more)."""

    items: list[OrderOut]
    next_cursor: str | None = None
