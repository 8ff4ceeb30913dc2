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
    Field,
    StrictInt,
)

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


PASSWORD_MAX_LENGTH = 256
"""The users service's limit: a longer password could never sign in."""


class Credentials(RequestBody):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(
        min_length=1, max_length=PASSWORD_MAX_LENGTH, json_schema_extra={"format": "password"}
    )


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
