"""Request and response bodies of the payments API (camelCase JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from shared.web.schemas import CamelModel, RequestBody


class NewPaymentMethod(RequestBody):
    token: Annotated[
        str,
        StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$"),
        Field(description="the card gateway's token for the card", examples=["pm_card_ok"]),
    ]
    brand: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True, min_length=1, max_length=30, pattern=r"^[A-Za-z0-9 _-]+$"
            ),
        ]
        | None
    ) = None
    last4: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")] | None = None


class PaymentMethodOut(CamelModel):
    id: str
    brand: str | None
    last4: str | None


class RefundOut(CamelModel):
    id: str
    amount: int = Field(description="minor units")
    status: str = Field(description="succeeded or declined")
    code: str | None = None
    reason: str | None = None
    created_at: datetime


class PaymentOut(CamelModel):
    id: str
    order_id: str
    user_id: str
    payment_method_id: str
    amount: int = Field(description="minor units, as charged")
    currency: str
    status: str = Field(description="captured, declined or refunded")
    code: str | None = Field(default=None, description="why it was declined")
    reason: str | None = None
    refunded_amount: int = Field(description="minor units paid back by succeeded refunds")
    refunds: list[RefundOut]
    created_at: datetime


class PaymentSummary(CamelModel):
    """Money moved for one order: a confirmed order nets its total, a cancelled one zero."""

    order_id: str
    currency: str | None
    captured: int
    refunded: int
    net: int
