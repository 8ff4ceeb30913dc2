"""The returns' HTTP bodies (camelCase JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from services.orders.domain import MAX_LINES, MAX_QUANTITY
from services.orders.models import OrderReturn, OrderReturnLine
from shared.web.schemas import CamelModel, JsonInteger, RequestBody, SafeId


class ReturnItemIn(RequestBody):
    product_id: SafeId
    quantity: Annotated[int, Field(gt=0, le=MAX_QUANTITY), JsonInteger]


class NewReturn(RequestBody):
    """The lines to send back: products of the order and how many of each."""

    items: list[ReturnItemIn] = Field(min_length=1, max_length=MAX_LINES)


class ReceivedItemIn(RequestBody):
    product_id: SafeId
    quantity: Annotated[int, Field(ge=0, le=MAX_QUANTITY), JsonInteger]


class Receipt(RequestBody):
    """What the warehouse received of each line (a line left out: none of it)."""

    items: list[ReceivedItemIn] = Field(min_length=1, max_length=MAX_LINES)


class ReturnLineOut(CamelModel):
    product_id: str
    quantity: int = Field(description="asked back")
    unit_price: int = Field(description="the price paid, minor units")
    received_quantity: int | None = Field(default=None, description="once received")


class ReturnOut(CamelModel):
    id: str
    order_id: str
    user_id: str
    status: str = Field(description="requested, received, refunded or expired")
    items: list[ReturnLineOut]
    refunded_amount: int = Field(description="minor units paid back, once refunded")
    created_at: datetime
    updated_at: datetime
    received_at: datetime | None = None

    @classmethod
    def of(cls, row: OrderReturn, lines: list[OrderReturnLine]) -> ReturnOut:
        return cls.read(row, items=[ReturnLineOut.read(line) for line in lines])
