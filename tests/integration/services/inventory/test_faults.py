"""The fault-injection layer around the inventory's handlers."""

from __future__ import annotations

import uuid

from shared.messages import InventoryReserved
from tests.integration.services.inventory.conftest import Inventory, running_inventory
from tests.support.stack import Stack


async def add_fault(inventory: Inventory, mode: str, times: int = 1) -> None:
    response = await inventory.client.post(
        "/api/v1/_faults",
        json={"message": "inventory.reserve", "mode": mode, "times": times},
        headers=inventory.stack.ops(),
    )
    assert response.status_code == 201, response.text


async def test_a_dropped_reserve_gets_no_answer_and_has_no_effect(inventory: Inventory) -> None:
    cups = await inventory.add_product(stock=10)
    await add_fault(inventory, "drop")
    dropped, answered = str(uuid.uuid4()), str(uuid.uuid4())

    await inventory.reserve(dropped, (cups, 3))
    await inventory.reserve(answered, (cups, 2))
    await inventory.drain()

    assert inventory.replies.about(dropped) == []
    assert await inventory.reservation(dropped) is None
    _, reply = await inventory.replies.one(answered)
    assert isinstance(reply, InventoryReserved)
    assert await inventory.available(cups) == 8
    rules = await inventory.client.get("/api/v1/_faults", headers=inventory.stack.ops())
    assert rules.json() == []


async def test_a_duplicated_reply_is_published_twice_with_one_message_id(
    inventory: Inventory,
) -> None:
    cups = await inventory.add_product(stock=10)
    await add_fault(inventory, "duplicate")
    order_id = str(uuid.uuid4())

    await inventory.reserve(order_id, (cups, 3))

    first, second = await inventory.replies.wait(order_id, count=2)
    assert first.message_id == second.message_id
    assert isinstance(first.decode(), InventoryReserved)
    assert await inventory.available(cups) == 7


async def test_faults_need_the_ops_role(inventory: Inventory) -> None:
    rule = {"message": "inventory.reserve", "mode": "drop"}
    customer = await inventory.client.post(
        "/api/v1/_faults", json=rule, headers=inventory.stack.auth("alice")
    )
    anonymous = await inventory.client.post("/api/v1/_faults", json=rule)
    assert (customer.status_code, anonymous.status_code) == (403, 401)
    rules = await inventory.client.get("/api/v1/_faults", headers=inventory.stack.ops())
    assert rules.json() == []


async def test_faults_are_absent_unless_enabled(stack: Stack) -> None:
    async with running_inventory(stack, faults_enabled=False) as inventory:
        response = await inventory.client.post(
            "/api/v1/_faults",
            json={"message": "inventory.reserve", "mode": "drop"},
            headers=stack.ops(),
        )
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
