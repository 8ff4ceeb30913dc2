"""``inventory.reserve`` and ``inventory.release``: replies, rows, and no second effect."""

from __future__ import annotations

import uuid

from services.inventory.domain import ReservationStatus
from shared.messages import (
    InventoryInsufficient,
    InventoryReleased,
    InventoryReserved,
    PricedItem,
    ReservedItem,
    Shortage,
)
from tests.integration.services.inventory.conftest import Inventory
from tests.support.harness import new_order


async def test_reserve_holds_every_item_and_answers_reserved(inventory: Inventory) -> None:
    cups, pots = await inventory.add_product(stock=10), await inventory.add_product(stock=5)
    order_id = new_order()

    sent = await inventory.reserve(order_id, (cups, 3), (pots, 5))

    envelope, reply = await inventory.replies.one(order_id)
    assert reply == InventoryReserved(
        order_id=order_id,
        items=[
            PricedItem(product_id=cups, quantity=3, unit_price=1999, currency="EUR"),
            PricedItem(product_id=pots, quantity=5, unit_price=1999, currency="EUR"),
        ],
    )
    assert envelope.causation_id == sent.message_id
    assert envelope.app_id == "inventory"
    assert (await inventory.available(cups), await inventory.available(pots)) == (7, 0)
    view = await inventory.client.get(
        f"/api/v1/reservations/{order_id}", headers=inventory.stack.ops()
    )
    assert view.status_code == 200
    assert view.json()["status"] == "reserved"
    assert view.json()["items"] == [
        {"productId": cups, "quantity": 3, "unitPrice": 1999, "currency": "EUR"},
        {"productId": pots, "quantity": 5, "unitPrice": 1999, "currency": "EUR"},
    ]


async def test_a_redelivered_reserve_is_an_inbox_no_op(inventory: Inventory) -> None:
    cups = await inventory.add_product(stock=10)
    order_id = new_order()
    sent = await inventory.reserve(order_id, (cups, 4))
    await inventory.replies.wait(order_id)

    await inventory.stack.transport.publish(sent)  # the same message id again
    await inventory.drain()

    assert len(inventory.replies.about(order_id)) == 1
    assert await inventory.inbox_count(sent.message_id) == 1
    assert await inventory.available(cups) == 6


async def test_a_repeated_reserve_is_answered_the_same_and_takes_nothing_more(
    inventory: Inventory,
) -> None:
    cups = await inventory.add_product(stock=10)
    order_id = new_order()
    await inventory.reserve(order_id, (cups, 4))
    await inventory.reserve(order_id, (cups, 4))  # a resend after a timeout: a new message id

    first, second = await inventory.replies.wait(order_id, count=2)
    assert first.message_id != second.message_id
    assert first.decode() == second.decode()
    assert isinstance(first.decode(), InventoryReserved)
    assert (await inventory.product_row(cups)).reserved == 4


async def test_reserve_is_all_or_nothing_and_names_every_shortage(inventory: Inventory) -> None:
    cups, pots = await inventory.add_product(stock=10), await inventory.add_product(stock=2)
    unknown = str(uuid.uuid4())
    order_id = new_order()

    await inventory.reserve(order_id, (cups, 3), (pots, 5), (unknown, 1))

    _, reply = await inventory.replies.one(order_id)
    assert reply == InventoryInsufficient(
        order_id=order_id,
        shortages=[
            Shortage(product_id=pots, requested=5, available=2, name="Tea pot"),
            Shortage(product_id=unknown, requested=1, available=0),
        ],
    )
    assert (await inventory.available(cups), await inventory.available(pots)) == (10, 2)
    reservation = await inventory.reservation(order_id)
    assert reservation is not None
    assert reservation.status == ReservationStatus.INSUFFICIENT


async def test_a_refused_order_stays_refused_even_after_a_restock(inventory: Inventory) -> None:
    pots = await inventory.add_product(stock=1)
    order_id = new_order()
    await inventory.reserve(order_id, (pots, 3))
    await inventory.replies.wait(order_id)
    restock = await inventory.client.put(
        f"/api/v1/products/{pots}/stock", json={"quantity": 50}, headers=inventory.stack.ops()
    )
    assert restock.status_code == 200

    await inventory.reserve(order_id, (pots, 3))

    first, second = await inventory.replies.wait(order_id, count=2)
    assert first.decode() == second.decode()
    assert isinstance(second.decode(), InventoryInsufficient)
    assert await inventory.available(pots) == 50


async def test_lines_for_the_same_product_are_reserved_together(inventory: Inventory) -> None:
    cups = await inventory.add_product(stock=4)
    order_id = new_order()

    await inventory.reserve(order_id, (cups, 2), (cups, 3))

    _, reply = await inventory.replies.one(order_id)
    assert reply == InventoryInsufficient(
        order_id=order_id,
        shortages=[Shortage(product_id=cups, requested=5, available=4, name="Tea pot")],
    )
    assert await inventory.available(cups) == 4


async def test_release_gives_the_stock_back_once(inventory: Inventory) -> None:
    cups = await inventory.add_product(stock=10)
    order_id = new_order()
    await inventory.reserve(order_id, (cups, 6))
    await inventory.replies.wait(order_id)

    released = await inventory.release(order_id)
    await inventory.release(order_id)  # resent: a new message id
    await inventory.stack.transport.publish(released)  # redelivered: the same message id
    await inventory.drain()

    replies = [e.decode() for e in inventory.replies.about(order_id)]
    expected = InventoryReleased(
        order_id=order_id, items=[ReservedItem(product_id=cups, quantity=6)]
    )
    assert replies[1:] == [expected, expected]
    product = await inventory.product_row(cups)
    assert (product.on_hand, product.reserved) == (10, 0)
    reservation = await inventory.reservation(order_id)
    assert reservation is not None
    assert reservation.status == ReservationStatus.RELEASED


async def test_releasing_an_order_without_a_reservation_answers_empty_and_leaves_a_tombstone(
    inventory: Inventory,
) -> None:
    order_id = new_order()

    await inventory.release(order_id)

    _, reply = await inventory.replies.one(order_id)
    assert reply == InventoryReleased(order_id=order_id, items=[])
    reservation = await inventory.reservation(order_id)
    assert reservation is not None
    assert (reservation.status, reservation.items) == (ReservationStatus.RELEASED, [])


async def test_a_reserve_arriving_after_the_release_is_refused_and_takes_nothing(
    inventory: Inventory,
) -> None:
    cups = await inventory.add_product(stock=10)
    late, resent = new_order(), new_order()

    # The saga gave up before the reserve arrived: release first, reserve late.
    await inventory.release(late)
    await inventory.reserve(late, (cups, 2))
    # Reserved, released, then the same reserve resent.
    await inventory.reserve(resent, (cups, 3))
    await inventory.release(resent)
    await inventory.reserve(resent, (cups, 3))

    *_, late_reply = await inventory.replies.wait(late, count=2)
    *_, resent_reply = await inventory.replies.wait(resent, count=3)
    assert late_reply.decode() == InventoryInsufficient(order_id=late, shortages=[])
    assert resent_reply.decode() == InventoryInsufficient(order_id=resent, shortages=[])
    product = await inventory.product_row(cups)
    assert (product.on_hand, product.reserved) == (10, 0)


async def test_releasing_a_refused_order_gives_nothing_back(inventory: Inventory) -> None:
    cups = await inventory.add_product(stock=1)
    holder, refused = new_order(), new_order()
    await inventory.reserve(holder, (cups, 1))
    await inventory.reserve(refused, (cups, 1))
    await inventory.release(refused)

    _, release_reply = await inventory.replies.wait(refused, count=2)
    assert release_reply.decode() == InventoryReleased(order_id=refused, items=[])
    assert (await inventory.product_row(cups)).reserved == 1


async def test_a_declined_stock_check_answers_insufficient_and_takes_nothing(
    inventory: Inventory,
) -> None:
    cups = await inventory.add_product(stock=10)
    rule = {"message": "inventory.reserve", "mode": "decline", "times": 1}
    added = await inventory.client.post("/api/v1/_faults", json=rule, headers=inventory.stack.ops())
    assert added.status_code == 201
    declined, next_one = new_order(), new_order()

    await inventory.reserve(declined, (cups, 2))
    await inventory.reserve(next_one, (cups, 2))

    _, reply = await inventory.replies.one(declined)
    assert reply == InventoryInsufficient(
        order_id=declined,
        shortages=[Shortage(product_id=cups, requested=2, available=0, name="Tea pot")],
    )
    _, answered = await inventory.replies.one(next_one)
    assert isinstance(answered, InventoryReserved)
    assert await inventory.available(cups) == 8
