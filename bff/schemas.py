"""Bodies both BFFs read and write the same way (camelCase JSON).

Requests are validated here, before any downstream call, so bad input is a 422
naming the field and costs the services nothing.  Answers read from the
services drop the fields they do not name, so a service adding a field does not
change a BFF's API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    EmailStr,
    Field,
    StrictInt,
    StringConstraints,
)

from services.users.domain import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

# A sign-in, an address line and a postal code are the users service's own rules.
from services.users.schemas import Credentials as Credentials
from services.users.schemas import Line as Line
from services.users.schemas import PostalCode as PostalCode
from shared.web.schemas import CamelModel, RequestBody, SafeId

MAX_LINES = 100
MAX_QUANTITY = 1_000

Id = SafeId
"""Opaque ids, but never blank, spaced, slashed or bracketed: they become URL path
segments, and cells of an operator's table."""


def _as_utc(moment: datetime) -> datetime:
    # A service on SQLite may hand back a timestamp without its offset; every
    # OMS timestamp is UTC, and an answer should say so.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
"""A timestamp from a service, answered in UTC with its offset."""


class Session(CamelModel):
    user_id: str
    token: str = Field(description="bearer JWT for this BFF (and the services behind it)")


class CheckoutItem(RequestBody):
    product_id: Id
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]


def _one_line_per_product(items: list[CheckoutItem]) -> list[CheckoutItem]:
    seen: set[str] = set()
    for item in items:
        if item.product_id in seen:
            raise ValueError(
                f"product {item.product_id!r} appears twice; give one line per product"
            )
        seen.add(item.product_id)
    return items


Basket = Annotated[
    list[CheckoutItem],
    Field(min_length=1, max_length=MAX_LINES),
    AfterValidator(_one_line_per_product),
]
"""A checkout's ``items``: one to ``MAX_LINES`` lines, one per product."""


Country = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{2}$"), Field(description="ISO 3166-1 alpha-2")
]


class Registration(Credentials):
    """``{email, password, firstName, lastName}``; the users service applies its rules
    (password length, one way of giving the name).  The older single ``name`` is
    still passed on while clients move over: the users service splits it at its
    first space."""

    email: EmailStr = Field(max_length=320)
    password: str = Field(
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        json_schema_extra={"format": "password"},
    )
    first_name: Line | None = Field(default=None, examples=["Ada"])
    last_name: Line | None = Field(default=None, examples=["Lovelace"])
    name: Line | None = Field(
        default=None,
        description="the whole name, split at its first space; send firstName and lastName",
        json_schema_extra={"deprecated": True},
    )


class Registered(CamelModel):
    """A new account, signed in."""

    user_id: str
    email: str
    token: str = Field(description="bearer JWT for this BFF (and the services behind it)")


# --- the caller's saved addresses and payment methods -----------------------------


class Address(CamelModel):
    id: str
    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    country: str


TEST_CARDS_TEXT = (
    "Test cards, usable by everyone as a `paymentMethodId` without saving them, or saved "
    "here: `pm_card_ok` (charges and refunds succeed), `pm_card_declined` (every charge "
    "is declined), `pm_card_refund_declined` (charges succeed, refunds are declined)."
)


class NewPaymentMethod(RequestBody):
    token: Annotated[
        str,
        StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$"),
        Field(
            description=f"the card gateway's token for the card. {TEST_CARDS_TEXT}",
            examples=["pm_card_ok"],
        ),
    ]


class PaymentMethod(CamelModel):
    id: str = Field(description="the `paymentMethodId` to check out with")
    brand: str | None = None
    last4: str | None = None


# What both BFFs answer a checkout with; each adds its own fields (and ``reason``).
class CheckoutAnswer(CamelModel):
    order_id: str
    status: str = Field(description="pending until the saga ends; then confirmed or cancelled")
    total_amount: int = Field(description="minor units, priced by the inventory")
