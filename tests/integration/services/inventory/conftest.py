"""A running inventory service on either stack, and what a test needs to drive it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import select

from services.inventory.app import build_app
from services.inventory.models import Product, Reservation
from shared.messages import ReleaseInventory, ReservedItem, ReserveInventory
from shared.messaging.envelope import Envelope
from tests.support.harness import ServiceUnderTest, running
from tests.support.infra import body_of
from tests.support.stack import Stack


@dataclass
class Inventory(ServiceUnderTest):
    """The inventory service under test, with the commands and reads its tests use."""

    async def add_product(self, *, stock: int = 10, price: int = 1999) -> str:
        response = await self.client.post(
            "/api/v1/products",
            json={
                "sku": f"SKU-{uuid.uuid4().hex[:12]}",
                "name": "Tea pot",
                "price": price,
                "currency": "EUR",
                "stock": stock,
            },
            headers=self.stack.ops(),
        )
        assert response.status_code == 201, response.text
        product_id: str = response.json()["id"]
        return product_id

    async def available(self, product_id: str) -> int:
        response = await self.client.get(f"/api/v1/products/{product_id}")
        return int(body_of(response)["available"])

    async def reserve(self, order_id: str, *items: tuple[str, int]) -> Envelope:
        return await self.send(
            ReserveInventory(
                order_id=order_id,
                items=[ReservedItem(product_id=p, quantity=q) for p, q in items],
            )
        )

    async def release(self, order_id: str) -> Envelope:
        return await self.send(ReleaseInventory(order_id=order_id))

    async def drain(self) -> None:
        """Wait until every command sent so far is handled and its replies are seen.

        The service handles its queue one message at a time here (``prefetch=1``),
        so the answer to a marker command sent last means all earlier ones are done."""
        marker = str(uuid.uuid4())
        await self.release(marker)
        await self.replies.wait(marker)

    async def reservation(self, order_id: str) -> Reservation | None:
        async with self.service.db.sessions() as session:
            return (
                await session.exec(select(Reservation).where(Reservation.order_id == order_id))
            ).first()

    async def product_row(self, product_id: str) -> Product:
        async with self.service.db.sessions() as session:
            product = await session.get(Product, product_id)
        assert product is not None
        return product


def running_inventory(stack: Stack, **settings: Any) -> AbstractAsyncContextManager[Inventory]:
    """The inventory app on ``stack``, its lifespan running, with ``settings`` overridden."""
    return running(Inventory, stack, build_app, "products", **settings)


@pytest.fixture
async def inventory(stack: Stack) -> AsyncIterator[Inventory]:
    """Handles one command at a time (so :meth:`Inventory.drain` is exact), faults on."""
    async with running_inventory(stack, prefetch=1, faults_enabled=True) as running:
        yield running
