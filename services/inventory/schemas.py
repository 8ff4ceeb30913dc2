"""The inventory's HTTP bodies (camelCase JSON) and documented error answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator
from pydantic.json_schema import SkipJsonSchema

from services.inventory.domain import MAX_PRICE, MAX_STOCK
from services.inventory.models import Product, Reservation
from shared.web.schemas import CamelModel, CurrencyCode, Input, JsonInteger

Sku = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
]
ProductName = Annotated[
    str,
    # Printable text with at least one visible character: no control characters
    # (PostgreSQL text cannot even hold NUL).  The classes are spelled out because
    # regex engines disagree on what ``\s`` covers.
    StringConstraints(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
    ),
]

Description = Annotated[
    str,
    # Text of several lines: tabs and line breaks, but no other control characters.
    StringConstraints(
        min_length=1, max_length=2000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
    ),
    Field(examples=["Cast iron, enamelled inside; holds 1.2 l."]),
]
Price = Annotated[int, Field(ge=0, le=MAX_PRICE, description="minor units"), JsonInteger]


class NewProduct(Input):
    sku: Sku
    name: ProductName
    description: Description | None = None
    price: Price
    currency: CurrencyCode
    stock: Annotated[int, Field(ge=0, le=MAX_STOCK, description="units on hand"), JsonInteger]


class ProductChanges(Input):
    """What to change of a product; a field left out stays as it is.

    ``description: null`` removes the description; the name and the price cannot
    be removed.  The sku and the currency never change: orders refer to them."""

    # Optional but never null: None is only the default (and absent from the schema).
    name: ProductName | SkipJsonSchema[None] = None
    description: Description | None = None
    price: Price | SkipJsonSchema[None] = None

    @field_validator("name", "price", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be removed; leave the field out to keep it")
        return value


class StockLevel(Input):
    quantity: Annotated[
        int,
        Field(ge=0, le=MAX_STOCK, description="units on hand, reserved ones included"),
        JsonInteger,
    ]


class ProductOut(CamelModel):
    id: str
    sku: str
    name: str
    description: str | None = None
    price: int = Field(description="minor units")
    currency: str
    available: int = Field(description="units on hand not reserved for orders")

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls(
            id=product.id,
            sku=product.sku,
            name=product.name,
            description=product.description,
            price=product.price,
            currency=product.currency,
            available=product.available,
        )


class ProductPage(CamelModel):
    """Products ordered by sku; the next page starts at ``offset + len(items)``."""

    items: list[ProductOut]
    total: int = Field(description="products matching the query in all pages")
    limit: int
    offset: int


class ReservedLine(CamelModel):
    product_id: str
    quantity: int
    unit_price: int | None = Field(
        default=None, description="minor units: the catalogue's price when it was reserved"
    )
    currency: str | None = None


class ShortageLine(CamelModel):
    product_id: str
    requested: int
    available: int


class ReservationOut(CamelModel):
    """What an order holds: ``reserved`` (held; stays taken once the order is
    confirmed), ``insufficient`` (refused, nothing held) or ``released``."""

    order_id: str
    status: str
    items: list[ReservedLine]
    shortages: list[ShortageLine]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, reservation: Reservation) -> ReservationOut:
        return cls(
            order_id=reservation.order_id,
            status=reservation.status,
            items=[ReservedLine.model_validate(i) for i in reservation.items],
            shortages=[ShortageLine.model_validate(s) for s in reservation.shortages],
            created_at=reservation.created_at,
            updated_at=reservation.updated_at,
        )
