"""BFF-Mobile's request and response bodies (camelCase JSON), kept small on purpose.

A phone on a weak network pays for every byte and every round trip, so answers
carry what the screens show and nothing else: a compact order is an id, a
status, a total and a count, not its lines and history.
"""

from __future__ import annotations

from pydantic import Field

from shared.bff.schemas import Basket, Camel, Id, Input, UtcDateTime


class ServiceLine(Camel):
    product_id: str
    quantity: int


class ServiceOrder(Camel):
    """The fields of an orders-service order this BFF reads (the others are dropped)."""

    id: str
    user_id: str
    status: str
    items: list[ServiceLine]
    total_amount: int
    currency: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ServiceOrderPage(Camel):
    items: list[ServiceOrder]
    next_cursor: str | None = None


class CompactOrder(Camel):
    """An order as a list row: under 400 bytes of JSON whatever its size."""

    id: str
    status: str = Field(description="pending, confirmed or cancelled")
    total: int = Field(description="minor units")
    currency: str
    item_count: int = Field(description="units ordered, all lines together")
    created_at: UtcDateTime

    @classmethod
    def of(cls, order: ServiceOrder) -> CompactOrder:
        """The compact form of an orders-service order."""
        return cls(
            id=order.id,
            status=order.status,
            total=order.total_amount,
            currency=order.currency,
            item_count=sum(line.quantity for line in order.items),
            created_at=order.created_at,
        )


class OrderSummary(CompactOrder):
    """One order for its screen and for polling: compact, with an ``ETag``."""

    updated_at: UtcDateTime

    @classmethod
    def of(cls, order: ServiceOrder) -> OrderSummary:
        return cls(**CompactOrder.of(order).model_dump(), updated_at=order.updated_at)


class OrderPage(Camel):
    """Newest first; pass ``nextCursor`` as ``cursor`` for the next page (null: no more)."""

    items: list[CompactOrder]
    next_cursor: str | None = None


class FeaturedProduct(Camel):
    id: str
    name: str
    price: int = Field(description="minor units")
    currency: str
    available: int


class Home(Camel):
    """The start screen in one round trip; a part that failed is null and named in degraded."""

    recent_orders: list[CompactOrder] | None
    featured: list[FeaturedProduct] | None
    degraded: list[str]


class Address(Camel):
    id: str
    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    country: str


class PaymentMethod(Camel):
    id: str
    brand: str | None = None
    last4: str | None = None


class CheckoutRequest(Input):
    items: Basket
    address_id: Id = Field(description="one of the user's saved addresses")
    payment_method_id: Id = Field(description="a saved payment method (or a test card)")


class CheckoutAccepted(Camel):
    order_id: str
    status: str
    total_amount: int = Field(description="minor units, priced by the inventory")
