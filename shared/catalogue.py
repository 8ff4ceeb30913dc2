"""A catalogue entry as every API takes it.

The inventory stores products and BFF-Web passes new ones on to it: both
validate with these types, so a body one accepts the other cannot refuse.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from shared.web.schemas import CurrencyCode, JsonInteger, RequestBody

MAX_PRICE = 10_000_000_000
"""Minor units per unit (100 million in major units): with an order's limits on
lines and quantities, every total stays far inside a 64-bit integer."""
MAX_STOCK = 1_000_000_000

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
Stock = Annotated[int, Field(ge=0, le=MAX_STOCK, description="units on hand"), JsonInteger]


class NewProduct(RequestBody):
    """A catalogue entry with its initial stock (ops only)."""

    sku: Sku
    name: ProductName
    description: Description | None = None
    price: Price
    currency: CurrencyCode
    stock: Stock
