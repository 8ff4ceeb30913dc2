"""The fault-injection layer around the inventory's handlers: every mode of
``POST /_faults`` (``fail``, ``decline``, ``delay``, ``drop``, ``duplicate``,
``crash`` before and after commit) with its ``times``; ``decline`` is proven in
``test_reservations.py`` (and on payments)."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.messages import InventoryReserved
from shared.messaging.endpoint import sent_by_handler
from shared.messaging.envelope import HEADER_DEAD_LETTER_REASON, Envelope
from tests.integration.services.inventory.conftest import Inventory, running_inventory
from tests.support.harness import new_order
from tests.support.infra import eventually
from tests.support.stack import Stack


async def add_fault(inventory: Inventory, mode: str, times: int = 1) -> None:
    await inventory.add_fault("inventory.reserve", mode, times=times)


async def test_a_dropped_reserve_gets_no_answer_and_has_no_effect(inventory: Inventory) -> None:
    cups = await inventory.add_product(stock=10)
    await add_fault(inventory, "drop")
    dropped, answered = new_order(), new_order()

    await inventory.reserve(dropped, (cups, 3))
    await inventory.reserve(answered, (cups, 2))
    await inventory.drain()

    assert inventory.replies.about(dropped) == []
    assert await inventory.reservation(dropped) is None
    _, reply = await inventory.replies.one(answered)
    assert isinstance(reply, InventoryReserved)
    assert await inventory.available(cups) == 8
    assert await inventory.fault_rules() == []


async def test_a_duplicated_reply_is_published_twice_with_one_message_id(
    inventory: Inventory,
) -> None:
    cups = await inventory.add_product(stock=10)
    await add_fault(inventory, "duplicate")
    order_id = new_order()

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
    assert await inventory.fault_rules() == []


async def test_faults_are_absent_unless_enabled(stack: Stack) -> None:
    async with running_inventory(stack, faults_enabled=False) as inventory:
        response = await inventory.client.post(
            "/api/v1/_faults",
            json={"message": "inventory.reserve", "mode": "drop"},
            headers=stack.ops(),
        )
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_failing_reserve_is_retried_until_the_fault_is_used_up_and_answered_once(
    inventory: Inventory,
) -> None:
    cups = await inventory.add_product(stock=10)
    await add_fault(inventory, "fail", times=2)
    order_id = new_order()

    await inventory.reserve(order_id, (cups, 3))
    await inventory.replies.wait(order_id)
    await inventory.drain()

    [envelope] = inventory.replies.about(order_id)
    assert isinstance(envelope.decode(), InventoryReserved)
    assert await inventory.available(cups) == 7
    assert await inventory.fault_rules() == []


async def test_a_reserve_failing_past_the_delivery_limit_is_dead_lettered_with_the_injected_error(
    inventory: Inventory,
) -> None:
    letters: list[Envelope] = []

    async def collect(envelope: Envelope) -> None:
        letters.append(envelope)

    await inventory.stack.transport.consume_envelopes("inventory.commands.dlq", collect)
    cups = await inventory.add_product(stock=10)
    limit = inventory.stack.settings.delivery_limit
    await add_fault(inventory, "fail", times=limit)
    order_id = new_order()

    sent = await inventory.reserve(order_id, (cups, 3))

    [letter] = await eventually(lambda: asyncio.sleep(0, letters), what="the dead letter")
    assert letter.message_id == sent.message_id
    reason = letter.headers[HEADER_DEAD_LETTER_REASON]
    assert f"failed {limit} times" in reason
    assert "InjectedFailure" in reason
    await inventory.drain()
    assert inventory.replies.about(order_id) == []
    assert await inventory.available(cups) == 10


async def test_a_delayed_reserve_is_answered_after_the_delay(inventory: Inventory) -> None:
    cups = await inventory.add_product(stock=10)
    await inventory.add_fault("inventory.reserve", "delay", delayMs=400)
    order_id = new_order()

    started = time.monotonic()
    await inventory.reserve(order_id, (cups, 3))
    _, reply = await inventory.replies.one(order_id)

    assert time.monotonic() - started >= 0.4
    assert isinstance(reply, InventoryReserved)
    assert await inventory.available(cups) == 7


class ProcessDied(Exception):
    """Stands in for the process exiting: the delivery is never acked, so it comes back."""


@pytest.fixture
def exits(inventory: Inventory, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, list[str]]]:
    """Each exit the ``crash`` fault asked for: its code, and what the handler had
    committed to send by then (nothing before the commit)."""
    codes: list[tuple[int, list[str]]] = []

    def exit_(code: int) -> None:
        codes.append((code, [e.type for e in sent_by_handler.get()]))
        raise ProcessDied(code)

    assert inventory.service.faults is not None
    monkeypatch.setattr(inventory.service.faults, "_exit", exit_)
    return codes


@pytest.mark.parametrize(
    ("point", "committed"),
    [("before_commit", []), ("after_commit", ["inventory.reserved"])],
)
async def test_a_crash_while_reserving_is_recovered_by_redelivery_with_one_effect(
    inventory: Inventory, exits: list[tuple[int, list[str]]], point: str, committed: list[str]
) -> None:
    cups = await inventory.add_product(stock=10)
    await inventory.add_fault("inventory.reserve", "crash", crashPoint=point)
    order_id = new_order()

    sent = await inventory.reserve(order_id, (cups, 3))
    await inventory.replies.wait(order_id)
    await inventory.drain()

    assert exits == [(70, committed)]
    [envelope] = inventory.replies.about(order_id)
    assert envelope.causation_id == sent.message_id
    assert isinstance(envelope.decode(), InventoryReserved)
    assert (await inventory.product_row(cups)).reserved == 3
    assert await inventory.inbox_count(sent.message_id) == 1


async def test_faults_apply_to_their_command_only_and_can_be_listed_and_cleared(
    inventory: Inventory,
) -> None:
    cups = await inventory.add_product(stock=10)
    await add_fault(inventory, "drop", times=3)
    ops = inventory.stack.ops()
    dropped, released = new_order(), new_order()

    await inventory.reserve(dropped, (cups, 1))
    await inventory.release(released)  # not the faulty command: answered
    await inventory.replies.wait(released)
    listed = await inventory.client.get("/api/v1/_faults", headers=ops)
    cleared = await inventory.client.delete("/api/v1/_faults", headers=ops)
    await inventory.reserve(dropped, (cups, 1))  # resent after the rules were cleared

    _, reply = await inventory.replies.one(dropped)
    assert isinstance(reply, InventoryReserved)
    assert [(r["mode"], r["times"]) for r in listed.json()] == [("drop", 2)]
    assert cleared.status_code == 204
    assert (await inventory.client.get("/api/v1/_faults", headers=ops)).json() == []
    assert await inventory.available(cups) == 9


async def test_a_fault_for_something_that_is_not_a_command_is_422(inventory: Inventory) -> None:
    for message in ["inventory.reserved", "no.such.command"]:
        response = await inventory.client.post(
            "/api/v1/_faults",
            json={"message": message, "mode": "drop"},
            headers=inventory.stack.ops(),
        )
        assert response.status_code == 422
        assert "message" in response.json()["detail"]
    assert await inventory.fault_rules() == []


async def test_a_duplicate_with_copies_publishes_each_reply_that_many_more_times(
    inventory: Inventory,
) -> None:
    cups = await inventory.add_product(stock=10)
    rule = await inventory.add_fault("inventory.reserve", "duplicate", copies=4)
    assert rule["copies"] == 4
    order_id = new_order()

    await inventory.reserve(order_id, (cups, 3))

    replies = await inventory.replies.wait(order_id, count=5)
    assert {r.message_id for r in replies} == {replies[0].message_id}
    assert await inventory.available(cups) == 7
