"""The inventory's HTTP bodies (camelCase JSON) and documented error answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from services.inventory.models import Reservation
from shared.catalogue import MAX_STOCK, Description, Price, ProductName
from shared.web.schemas import CamelModel, JsonInteger, RequestBody


class ProductChanges(RequestBody):
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


class StockLevel(RequestBody):
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
        return cls.read(
            reservation,
            items=[ReservedLine.model_validate(i) for i in reservation.items],
            shortages=[ShortageLine.model_validate(s) for s in reservation.shortages],
        )


class RestockOut(CamelModel):
    """The goods of one return put back on the shelf (once)."""

    return_id: str
    order_id: str
    items: list[ReservedLine]
    created_at: datetime
