"""BFF-Mobile's request and response bodies (camelCase JSON), kept small on purpose.

A phone on a weak network pays for every byte and every round trip, so answers
carry what the screens show and nothing else: a compact order is an id, a
status, a total and a count, not its lines and history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

MAX_LINES = 100
MAX_QUANTITY = 1_000

Id = Annotated[
    str,
    # Opaque ids, but never blank, spaced or slashed: they become URL path segments.
    StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:@-]+$"),
]


class Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Input(Camel):
    """A request body: unknown fields are refused rather than silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Credentials(Input):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024, json_schema_extra={"format": "password"})


class Session(Camel):
    user_id: str
    token: str


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
    created_at: datetime
    updated_at: datetime


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
    created_at: datetime

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

    updated_at: datetime

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


class CheckoutItem(Input):
    product_id: Id
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]


class CheckoutRequest(Input):
    items: Annotated[list[CheckoutItem], Field(min_length=1, max_length=MAX_LINES)]
    address_id: Id = Field(description="one of the user's saved addresses")
    payment_method_id: Id = Field(description="a saved payment method (or a test card)")

    @field_validator("items")
    @classmethod
    def _distinct_products(cls, items: list[CheckoutItem]) -> list[CheckoutItem]:
        seen: set[str] = set()
        for item in items:
            if item.product_id in seen:
                raise ValueError(
                    f"product {item.product_id!r} appears twice; give one line per product"
                )
            seen.add(item.product_id)
        return items


class CheckoutAccepted(Camel):
    order_id: str
    status: str
    total_amount: int = Field(description="minor units, priced by the inventory")
