"""A running payments service on either stack, and what a test needs to drive it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

from card_provider.cards import CARD_OK
from services.payments.app import build_app
from shared.messages import ChargePayment, Message, RefundPayment
from shared.messaging.envelope import Envelope
from tests.support.harness import ServiceUnderTest, running
from tests.support.infra import body_of
from tests.support.provider import CardProvider, running_provider
from tests.support.stack import Stack

API = "/api/v1"
AMOUNT = 1999
CUSTOMER = "cust-1"


def money_fields(
    *, method: str = CARD_OK, amount: int = AMOUNT, user_id: str = CUSTOMER
) -> dict[str, Any]:
    """What a charge and a refund both carry besides the order id."""
    return {"user_id": user_id, "amount": amount, "currency": "EUR", "payment_method_id": method}


@dataclass
class Payments(ServiceUnderTest):
    """The payments service under test, with the card provider it charges through."""

    provider: CardProvider

    async def charge(self, order_id: str, **money: Any) -> Envelope:
        """``payment.charge`` for ``order_id``; ``money`` overrides :func:`money_fields`."""
        return await self.send(ChargePayment(order_id=order_id, **money_fields(**money)))

    async def refund(self, order_id: str, **money: Any) -> Envelope:
        """``payment.refund`` for ``order_id``; ``money`` overrides :func:`money_fields`."""
        return await self.send(RefundPayment(order_id=order_id, **money_fields(**money)))

    async def reply(self, order_id: str, number: int = 1) -> Message:
        """The ``number``-th reply about ``order_id`` (1 = the first), waiting for it."""
        envelopes = await self.replies.wait(order_id, count=number)
        return envelopes[number - 1].decode()

    async def payments(self, order_id: str) -> list[dict[str, Any]]:
        """``GET /payments?orderId=`` as ops."""
        response = await self.client.get(
            f"{API}/payments", params={"orderId": order_id}, headers=self.stack.ops()
        )
        rows: list[dict[str, Any]] = body_of(response)
        return rows

    async def summary(self, order_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"{API}/payments/summary", params={"orderId": order_id}, headers=self.stack.ops()
        )
        summary: dict[str, Any] = body_of(response)
        return summary


def running_payments(
    stack: Stack, provider: CardProvider, **settings: Any
) -> AbstractAsyncContextManager[Payments]:
    """The payments app on ``stack`` charging through ``provider`` (in-process),
    ``settings`` overridden."""
    build = partial(build_app, provider_transport=provider.transport())
    return running(Payments, stack, build, "payments", extra={"provider": provider}, **settings)


@pytest.fixture
async def provider(stack: Stack) -> AsyncIterator[CardProvider]:
    async with running_provider(stack.settings) as running:
        yield running


@pytest.fixture
async def payments(stack: Stack, provider: CardProvider) -> AsyncIterator[Payments]:
    async with running_payments(stack, provider, faults_enabled=True) as running:
        yield running
