"""A running payments service on either stack, and what a test needs to drive it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.payments.app import build_app
from services.payments.gateway import CARD_OK, SimulatedGateway
from shared.messages import ChargePayment, Command, Message, RefundPayment
from shared.messaging.envelope import Envelope
from shared.service import Service
from tests.support.replies import Replies
from tests.support.stack import Stack, serve

API = "/api/v1"
AMOUNT = 1999
CUSTOMER = "cust-1"


@dataclass
class Payments:
    """The payments service under test: HTTP client, database, gateway ledger, replies."""

    stack: Stack
    client: httpx.AsyncClient
    service: Service
    gateway: SimulatedGateway
    replies: Replies

    async def send(self, command: Command, *, message_id: str | None = None) -> Envelope:
        """Publish a command as the saga would, correlated by its order id."""
        order_id: str = getattr(command, "order_id")  # noqa: B009 - every payment command has one
        envelope = Envelope.wrap(
            command, app_id="test", correlation_id=order_id, message_id=message_id
        )
        await self.stack.transport.publish(envelope)
        return envelope

    async def charge(
        self,
        order_id: str,
        *,
        method: str = CARD_OK,
        amount: int = AMOUNT,
        user_id: str = CUSTOMER,
    ) -> Envelope:
        return await self.send(
            ChargePayment(
                order_id=order_id,
                user_id=user_id,
                amount=amount,
                currency="EUR",
                payment_method_id=method,
            )
        )

    async def refund(
        self,
        order_id: str,
        *,
        method: str = CARD_OK,
        amount: int = AMOUNT,
        user_id: str = CUSTOMER,
    ) -> Envelope:
        return await self.send(
            RefundPayment(
                order_id=order_id,
                user_id=user_id,
                amount=amount,
                currency="EUR",
                payment_method_id=method,
            )
        )

    async def reply(self, order_id: str, number: int = 1) -> Message:
        """The ``number``-th reply about ``order_id`` (1 = the first), waiting for it."""
        envelopes = await self.replies.wait(order_id, count=number)
        return envelopes[number - 1].decode()

    async def payments(self, order_id: str) -> list[dict[str, Any]]:
        """``GET /payments?orderId=`` as ops."""
        response = await self.client.get(
            f"{API}/payments", params={"orderId": order_id}, headers=self.stack.ops()
        )
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        return rows

    async def summary(self, order_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"{API}/payments/summary", params={"orderId": order_id}, headers=self.stack.ops()
        )
        assert response.status_code == 200, response.text
        summary: dict[str, Any] = response.json()
        return summary


@asynccontextmanager
async def running_payments(stack: Stack, **settings: Any) -> AsyncIterator[Payments]:
    """The payments app on ``stack`` with a fresh simulated gateway, ``settings`` overridden."""
    gateway = SimulatedGateway()
    app = build_app(stack.settings.model_copy(update=settings), stack.transport, gateway=gateway)
    replies = await Replies.listen(stack.transport, "payments")
    async with serve(app) as client:
        yield Payments(stack, client, app.state.service, gateway, replies)


@pytest.fixture
async def payments(stack: Stack) -> AsyncIterator[Payments]:
    async with running_payments(stack, faults_enabled=True) as running:
        yield running
