"""BFF-Mobile's request and response bodies (camelCase JSON), kept small on purpose.

A phone on a weak network pays for every byte and every round trip, so answers
carry what the screens show and nothing else: a compact order is an id, a
status, a total, a count and why it was cancelled or how it travels, not its lines
and history.
Amounts are ``totalAmount`` in minor units, as in every OMS answer.
"""

from __future__ import annotations

import json
from datetime import date

from pydantic import Field

from bff.schemas import Basket, CheckoutAnswer, Id, UtcDateTime
from shared.web.schemas import CamelModel, RequestBody


class ServiceLine(CamelModel):
    product_id: str
    quantity: int


class ServiceShipment(CamelModel):
    carrier: str
    tracking_number: str
    shipped_at: UtcDateTime
    delivered_at: UtcDateTime | None = None


class ServiceOrder(CamelModel):
    """The fields of an orders-service order this BFF reads (the others are dropped)."""

    id: str
    user_id: str
    status: str
    items: list[ServiceLine]
    total_amount: int
    currency: str
    cancel_reason: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    shipment: ServiceShipment | None = None


class ServiceOrderPage(CamelModel):
    items: list[ServiceOrder]
    next_cursor: str | None = None


REASON_MAX_BYTES = 160
"""A compact order's ``reason`` at most, as JSON: the row stays under 400 bytes."""


def compact_reason(reason: str | None, limit: int = REASON_MAX_BYTES) -> str | None:
    """``reason`` cut to ``limit`` bytes of JSON, ending in "…" when it was cut.

    The saga's reasons are short sentences; one listing many products (insufficient
    stock, a price mismatch) is the exception, shown whole by BFF-Web's order page."""
    if reason is None or _json_bytes(reason) <= limit:
        return reason
    kept, size = [], _json_bytes("…")
    for char in reason:
        size += _json_bytes(char) - 2  # without the quotes
        if size > limit:
            break
        kept.append(char)
    return "".join(kept).rstrip() + "…"


def _json_bytes(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode())


CARRIER_MAX_BYTES, TRACKING_MAX_BYTES = 32, 48
"""A compact shipment's carrier and tracking number at most, as JSON: with them a
shipped order's row stays under 400 bytes."""
SENT = ("shipped", "delivered")
"""The statuses whose compact order says how it travels."""


class CompactShipment(CamelModel):
    """A shipment in a list row: the carrier, the tracking number, and the day the
    order shipped or, once delivered, the day it arrived."""

    carrier: str
    tracking_number: str
    on: date = Field(description="the day of the order's status: shipped, or delivered")

    @classmethod
    def of(cls, shipment: ServiceShipment) -> CompactShipment:
        day = shipment.delivered_at or shipment.shipped_at
        return cls(
            carrier=compact_reason(shipment.carrier, CARRIER_MAX_BYTES) or "",
            tracking_number=compact_reason(shipment.tracking_number, TRACKING_MAX_BYTES) or "",
            on=day.date(),
        )


class CompactOrder(CamelModel):
    """An order as a list row: under 400 bytes of JSON whatever its size."""

    id: str
    status: str = Field(
        description="pending, then confirmed (paid for, waiting for the warehouse), shipped "
        "and delivered, or cancelled"
    )
    total_amount: int = Field(description="minor units")
    currency: str
    item_count: int = Field(description="units ordered, all lines together")
    reason: str | None = Field(
        default=None,
        description="why a cancelled order was cancelled, shortened to fit a list row",
    )
    shipment: CompactShipment | None = Field(
        default=None, description="how a shipped or delivered order travels (null otherwise)"
    )
    created_at: UtcDateTime

    @classmethod
    def of(cls, order: ServiceOrder) -> CompactOrder:
        """The compact form of an orders-service order."""
        return cls.read(
            order,
            item_count=sum(line.quantity for line in order.items),
            reason=compact_reason(order.cancel_reason),
            shipment=(
                CompactShipment.of(order.shipment)
                if order.shipment is not None and order.status in SENT
                else None
            ),
        )


class OrderSummary(CompactOrder):
    """One order for its screen and for polling: compact, with an ``ETag``."""

    updated_at: UtcDateTime

    @classmethod
    def of(cls, order: ServiceOrder) -> OrderSummary:
        return cls(**CompactOrder.of(order).model_dump(), updated_at=order.updated_at)


class CancelAccepted(OrderSummary):
    """A cancel's answer: the order, that its cancel is under way, and where to poll."""

    cancel_requested: bool = Field(
        description="true: the saga undoes the order (refund, release), then its status "
        "turns cancelled"
    )
    poll: str = Field(description="the order to poll (with its `ETag`) until it is cancelled")


class OrderPage(CamelModel):
    """Newest first; pass ``nextCursor`` as ``cursor`` for the next page (null: no more)."""

    items: list[CompactOrder]
    next_cursor: str | None = None


class FeaturedProduct(CamelModel):
    id: str
    name: str
    description: str | None = None
    price: int = Field(description="minor units")
    currency: str
    available: int


class Home(CamelModel):
    """The start screen in one round trip; a part that failed is null and named in degraded."""

    recent_orders: list[CompactOrder] | None
    featured: list[FeaturedProduct] | None
    degraded: list[str]


class CheckoutRequest(RequestBody):
    items: Basket
    address_id: Id = Field(description="one of the user's saved addresses")
    payment_method_id: Id = Field(description="a saved payment method (or a test card)")


class CheckoutAccepted(CheckoutAnswer):
    reason: str | None = Field(
        default=None, description="why a cancelled order was cancelled (with `wait`)"
    )
