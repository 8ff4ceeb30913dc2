"""Fault injection on the saga: rules name the events it consumes, so QA can stop
a saga at a chosen point (a crash there needs the saga as its own process: see
``tests/scenarios/saga-crash-after-sending-a-command.yaml``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.infra import eventually
from tests.support.stack import Stack
from tests.support.system import ADDRESS, System, running_system

API = "/api/v1"


@pytest.fixture
async def shop(stack: Stack) -> AsyncIterator[System]:
    async with running_system(stack, faults_enabled=True) as running:
        yield running


async def test_the_saga_takes_faults_on_the_events_it_consumes_not_on_commands(
    shop: System,
) -> None:
    saga = shop.services["saga"]
    command = await saga.post(
        f"{API}/_faults",
        json={"message": "payment.charge", "mode": "drop"},
        headers=shop.stack.ops(),
    )
    assert command.status_code == 422, command.text
    assert command.json()["field"] == "message"
    assert "is not an event name" in command.json()["detail"]

    event = await saga.post(
        f"{API}/_faults",
        json={"message": "inventory.reserved", "mode": "drop"},
        headers=shop.stack.ops(),
    )
    assert event.status_code == 201, event.text


async def test_a_dropped_event_leaves_the_saga_waiting_where_it_was(shop: System) -> None:
    dropped = await shop.services["saga"].post(
        f"{API}/_faults",
        json={"message": "inventory.reserved", "mode": "drop"},
        headers=shop.stack.ops(),
    )
    assert dropped.status_code == 201, dropped.text
    product = await shop.add_product(stock=5)
    shopper = await shop.shopper()
    placed = await shop.web.post(
        f"{API}/checkout",
        json={
            "items": [{"productId": product["id"], "quantity": 1}],
            "shippingAddress": ADDRESS,
            "paymentMethodId": "pm_card_ok",
        },
        headers=shopper.auth,
    )
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["orderId"]

    # The reservation happened, but the saga never heard of it: the rule was used up.
    await eventually(
        lambda: shop.services["inventory"].get(f"{API}/products/{product['id']}"),
        until=lambda r: r.json()["available"] == 4,
        what="the stock to be reserved",
    )
    rules = await eventually(
        lambda: shop.services["saga"].get(f"{API}/_faults", headers=shop.stack.ops()),
        until=lambda r: r.json() == [],
        what="the drop rule to be used",
    )
    assert rules.status_code == 200
    saga = await shop.services["saga"].get(f"{API}/sagas/{order_id}", headers=shop.stack.ops())
    assert saga.json()["state"] == "reserving_inventory"
    received = [h["detail"]["type"] for h in saga.json()["history"] if h["kind"] == "message_in"]
    assert received == ["order.created"]
