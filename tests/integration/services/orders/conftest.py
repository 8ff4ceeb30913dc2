"""A running orders service on either stack, and what a test needs to drive it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlmodel import select

from services.orders.app import build_app
from services.orders.models import Order, StatusChange
from shared.messages import CancelOrder, ConfirmOrder, OrderCreated
from shared.messaging.envelope import Envelope
from shared.web.idempotency import IDEMPOTENCY_HEADER
from tests.support.harness import ServiceUnderTest, running
from tests.support.stack import Stack


def order_body(user_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "userId": user_id,
        "items": [
            {"productId": str(uuid.uuid4()), "quantity": 2, "unitPrice": 1250},
            {"productId": str(uuid.uuid4()), "quantity": 1, "unitPrice": 499},
        ],
        "currency": "EUR",
        "paymentMethodId": "pm_card_ok",
    }
    body.update(overrides)
    return body


@dataclass
class Orders(ServiceUnderTest):
    """The orders service under test, with the requests, commands and reads its tests use."""

    _marker: str | None = field(default=None, init=False)

    async def place(self, user_id: str = "alice", **overrides: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/orders",
            json=order_body(user_id, **overrides),
            headers=self.stack.auth(user_id),
        )
        assert response.status_code == 201, response.text
        order: dict[str, Any] = response.json()
        return order

    async def post(
        self,
        body: dict[str, Any],
        *,
        key: str | None = None,
        auth: dict[str, str] | None = None,
    ) -> httpx.Response:
        """``POST /orders`` with ``auth`` (the body's user's by default), and ``key``
        as its ``Idempotency-Key`` if given."""
        headers = dict(auth or self.stack.auth(body["userId"]))
        if key is not None:
            headers[IDEMPOTENCY_HEADER] = key
        return await self.client.post("/api/v1/orders", json=body, headers=headers)

    async def listed(self, user_id: str) -> list[str]:
        """The ids of ``user_id``'s orders, newest first (``GET /orders?userId=``)."""
        response = await self.client.get(
            "/api/v1/orders", params={"userId": user_id, "limit": 100}, headers=self.stack.ops()
        )
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()["items"]]

    async def announced(self, user_id: str) -> list[OrderCreated]:
        """Every ``order.created`` published for ``user_id`` so far.

        The outbox is published in commit order, so once an order placed now is
        announced, everything committed before it has been announced too."""
        marker = await self.place("announcement-marker")
        await self.replies.wait(marker["id"])
        events = [e.decode() for e in self.replies.seen if e.type == "order.created"]
        return [e for e in events if isinstance(e, OrderCreated) and e.user_id == user_id]

    async def read(self, order_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/orders/{order_id}", headers=self.stack.ops())
        assert response.status_code == 200, response.text
        order: dict[str, Any] = response.json()
        return order

    async def confirm(self, order_id: str) -> Envelope:
        return await self.send(ConfirmOrder(order_id=order_id))

    async def cancel(self, order_id: str, reason: str | None = None) -> Envelope:
        return await self.send(CancelOrder(order_id=order_id, reason=reason))

    async def drain(self) -> None:
        """Wait until every command sent so far is handled and its events are seen.

        The service handles its queue one message at a time here (``prefetch=1``),
        so the answer to a marker command sent last means all earlier ones are done."""
        if self._marker is None:
            self._marker = (await self.place("marker"))["id"]
        seen = len([e for e in self.replies.about(self._marker) if e.type != "order.created"])
        await self.confirm(self._marker)
        await self.replies.wait(self._marker, count=seen + 2)  # order.created is one of them

    async def row(self, order_id: str) -> Order:
        async with self.service.db.sessions() as session:
            order = await session.get(Order, order_id)
        assert order is not None
        return order

    async def history(self, order_id: str) -> list[tuple[str, str | None]]:
        async with self.service.db.sessions() as session:
            rows = await session.exec(
                select(StatusChange)
                .where(StatusChange.order_id == order_id)
                .order_by(StatusChange.id)  # type: ignore[arg-type]
            )
            return [(r.status, r.reason) for r in rows.all()]


def running_orders(stack: Stack, **settings: Any) -> AbstractAsyncContextManager[Orders]:
    """The orders app on ``stack``, its lifespan running, with ``settings`` overridden."""
    return running(Orders, stack, build_app, "orders", **settings)


@pytest.fixture
async def orders(stack: Stack) -> AsyncIterator[Orders]:
    """Handles one command at a time, so :meth:`Orders.drain` is exact."""
    async with running_orders(stack, prefetch=1) as running:
        yield running
