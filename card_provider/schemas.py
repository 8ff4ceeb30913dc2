"""Request and response bodies of the card provider's API (camelCase JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from shared.web.idempotency import MAX_KEY_LENGTH
from shared.web.schemas import CamelModel, JsonInteger, RequestBody

MAX_AMOUNT = 10**12
"""The most one charge or refund may move, in minor units."""

Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT, description="minor units"), JsonInteger]
ChargeKey = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_KEY_LENGTH, pattern=r"^[\x21-\x7e]+$")
]


class NewCharge(RequestBody):
    token: Annotated[
        str,
        StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$"),
        Field(description="the card's token", examples=["pm_card_ok"]),
    ]
    amount: Amount
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), Field(examples=["EUR"])]


class NewRefund(RequestBody):
    amount: Amount


class NewVoid(RequestBody):
    idempotency_key: Annotated[
        ChargeKey, Field(description="the Idempotency-Key the charge was (or would be) sent with")
    ]


class ChargeOut(CamelModel):
    id: str
    amount: int = Field(description="minor units")
    currency: str
    status: str = Field(description="captured or declined")
    code: str | None = Field(default=None, description="why it was declined")
    reason: str | None = None
    refunded: int = Field(default=0, description="minor units paid back so far")
    created_at: datetime


class RefundOut(CamelModel):
    id: str
    charge_id: str
    amount: int = Field(description="minor units")
    status: str = Field(description="succeeded or declined")
    code: str | None = Field(default=None, description="why it was declined")
    reason: str | None = None
    created_at: datetime


class CardOut(CamelModel):
    token: str
    brand: str
    last4: str


class Balance(CamelModel):
    """Money moved over every charge: what was captured and what was paid back."""

    captured: int
    refunded: int
    net: int
