"""BFF-Web's request and response bodies (camelCase JSON).

Requests are validated here, before any downstream call, so bad input is a 422
naming the field and costs the services nothing.  Responses are what the web
frontend renders; answers from the services are read into them with unknown
fields dropped, so a service adding a field does not change this API.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    AliasChoices,
    Field,
    field_validator,
)

from bff.schemas import (
    Basket,
    CheckoutAnswer,
    Country,
    Id,
    Line,
    PostalCode,
    UtcDateTime,
)
from shared.web.schemas import CamelModel, RequestBody

# --- catalogue ------------------------------------------------------------------


class Product(CamelModel):
    id: str
    sku: str
    name: str
    description: str | None = None
    price: int = Field(description="minor units")
    currency: str
    available: int = Field(description="units in stock not held for orders")


class ProductPage(CamelModel):
    items: list[Product]
    total: int
    limit: int
    offset: int


# --- checkout -------------------------------------------------------------------


class ShippingAddress(RequestBody):
    name: Line | None = None
    line1: Line
    line2: Line | None = None
    city: Line
    postal_code: PostalCode
    country: Country

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class CheckoutRequest(RequestBody):
    items: Basket
    shipping_address: ShippingAddress
    payment_method_id: Id


class CheckoutAccepted(CheckoutAnswer):
    currency: str
    reason: str | None = Field(
        default=None,
        description="why a cancelled order was cancelled (with `wait`): insufficient stock "
        "naming the products, payment declined, cancelled by the customer, a step timed out, "
        "price mismatch",
    )


# --- orders ---------------------------------------------------------------------


class OrderLine(CamelModel):
    product_id: str
    quantity: int
    unit_price: int = Field(description="minor units")


class StatusChange(CamelModel):
    status: str
    at: UtcDateTime
    reason: str | None = None


class Shipment(CamelModel):
    """How the order left the warehouse, and when it arrived."""

    carrier: str
    tracking_number: str
    shipped_at: UtcDateTime
    delivered_at: UtcDateTime | None = Field(default=None, description="null until delivered")


class Order(CamelModel):
    id: str
    user_id: str
    status: str = Field(
        description="pending, then confirmed (paid for, waiting for the warehouse), shipped "
        "and delivered, or cancelled"
    )
    items: list[OrderLine]
    total_amount: int = Field(description="minor units")
    currency: str
    payment_method_id: str
    shipping_address: dict[str, Any] | None = None
    reason: str | None = Field(
        default=None,
        # The orders service calls it cancelReason; this API says reason everywhere.
        validation_alias=AliasChoices("cancelReason", "reason"),
        description="why the order was cancelled (null unless it was)",
    )
    created_at: UtcDateTime
    updated_at: UtcDateTime
    history: list[StatusChange] = Field(default_factory=list)
    shipment: Shipment | None = Field(
        default=None,
        description="carrier, tracking number and dates once the order shipped (a shipped "
        "order is returned, not cancelled)",
    )


class CancelAccepted(Order):
    """A cancel's answer: the order, that its cancel is under way, and where to poll."""

    cancel_requested: bool = Field(
        description="true: the saga undoes the order (refund, release), then its status "
        "turns cancelled"
    )
    poll: str = Field(description="the order page to poll until the status is cancelled")


class OrderPage(CamelModel):
    """Newest first; pass ``nextCursor`` as ``cursor`` for the next page (null: no more)."""

    items: list[Order]
    next_cursor: str | None = None


class User(CamelModel):
    id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = Field(default=None, description="first and last name joined, for display")


class Refund(CamelModel):
    id: str
    amount: int = Field(description="minor units")
    status: str = Field(description="succeeded or declined")
    created_at: UtcDateTime


class Payment(CamelModel):
    """A charge of the order and what was refunded of it."""

    id: str
    status: str = Field(description="captured, declined or refunded")
    amount: int = Field(description="minor units")
    currency: str
    payment_method_id: str
    code: str | None = Field(default=None, description="why it was declined")
    refunded_amount: int = Field(default=0, description="minor units paid back")
    refunds: list[Refund] = Field(default_factory=list)
    created_at: UtcDateTime


class Transition(CamelModel):
    at: UtcDateTime
    from_state: str | None = Field(default=None, alias="from")
    to_state: str = Field(alias="to")


class Progress(CamelModel):
    """Where the order's saga is: its state, the current step and the transitions so far."""

    state: str
    command: str | None = Field(default=None, alias="step")
    """The command the saga waits on; ``step`` in JSON, as the saga's API names it."""
    updated_at: UtcDateTime
    transitions: list[Transition]


class OrderDetails(CamelModel):
    """One order page: parts other than ``order`` are ``null`` when named in ``degraded``."""

    order: Order
    user: User | None
    products: list[Product | None] | None = Field(
        description="the order's products in line order; a product that could not be read is null"
    )
    payments: list[Payment] | None
    progress: Progress | None
    degraded: list[str] = Field(description="the parts that failed or were too slow")
