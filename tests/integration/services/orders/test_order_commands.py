"""``order.confirm`` and ``order.cancel``: events, rows, and no second effect."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from shared.messages import ConfirmOrder, OrderCancelled, OrderConfirmed
from shared.messaging.envelope import HEADER_DEAD_LETTER_REASON, Envelope
from shared.messaging.transport import Transport
from tests.integration.services.orders.conftest import Orders
from tests.support.infra import eventually


async def test_confirm_moves_a_pending_order_to_confirmed(orders: Orders) -> None:
    order_id = (await orders.place())["id"]

    sent = await orders.confirm(order_id)

    _, envelope = await orders.replies.wait(order_id, count=2)
    assert envelope.decode() == OrderConfirmed(order_id=order_id)
    assert envelope.causation_id == sent.message_id
    assert envelope.app_id == "orders"
    order = await orders.read(order_id)
    assert order["status"] == "confirmed"
    assert [h["status"] for h in order["history"]] == ["pending", "confirmed"]
    assert datetime.fromisoformat(order["updatedAt"]) > datetime.fromisoformat(order["createdAt"])


async def test_a_redelivered_confirm_is_an_inbox_no_op(orders: Orders) -> None:
    order_id = (await orders.place())["id"]
    sent = await orders.confirm(order_id)
    await orders.replies.wait(order_id, count=2)

    await orders.stack.transport.publish(sent)  # the same message id again
    await orders.drain()

    assert len(orders.replies.about(order_id)) == 2
    assert await orders.inbox_count(sent.message_id) == 1
    assert await orders.history(order_id) == [("pending", None), ("confirmed", None)]


async def test_a_repeated_confirm_answers_again_and_changes_nothing(orders: Orders) -> None:
    order_id = (await orders.place())["id"]
    await orders.confirm(order_id)
    await orders.confirm(order_id)  # a resend after a timeout: a new message id

    _, first, second = await orders.replies.wait(order_id, count=3)
    assert first.message_id != second.message_id
    assert first.decode() == second.decode() == OrderConfirmed(order_id=order_id)
    assert await orders.history(order_id) == [("pending", None), ("confirmed", None)]


async def test_cancel_records_the_reason_once_and_answers_the_same_every_time(
    orders: Orders,
) -> None:
    order_id = (await orders.place())["id"]
    sent = await orders.cancel(order_id, reason="insufficient stock")
    await orders.cancel(order_id, reason="a later, different reason")
    await orders.stack.transport.publish(sent)
    await orders.drain()

    events = [e.decode() for e in orders.replies.about(order_id)[1:]]
    expected = OrderCancelled(order_id=order_id, reason="insufficient stock")
    assert events == [expected, expected]
    order = await orders.read(order_id)
    assert (order["status"], order["cancelReason"]) == ("cancelled", "insufficient stock")
    assert await orders.history(order_id) == [
        ("pending", None),
        ("cancelled", "insufficient stock"),
    ]


async def test_cancel_after_completion_cancels_a_confirmed_order(orders: Orders) -> None:
    order_id = (await orders.place())["id"]
    await orders.confirm(order_id)
    await orders.cancel(order_id, reason="cancelled by customer")

    *_, last = await orders.replies.wait(order_id, count=3)
    assert last.decode() == OrderCancelled(order_id=order_id, reason="cancelled by customer")
    assert [s for s, _ in await orders.history(order_id)] == ["pending", "confirmed", "cancelled"]


async def test_confirm_never_revives_a_cancelled_order(orders: Orders) -> None:
    order_id = (await orders.place())["id"]
    await orders.cancel(order_id, reason="payment declined")
    await orders.confirm(order_id)  # a late confirm

    *_, last = await orders.replies.wait(order_id, count=3)
    assert last.decode() == OrderCancelled(order_id=order_id, reason="payment declined")
    assert (await orders.row(order_id)).status == "cancelled"
    assert [s for s, _ in await orders.history(order_id)] == ["pending", "cancelled"]


class DeadLetters:
    def __init__(self) -> None:
        self.seen: list[Envelope] = []

    async def __call__(self, envelope: Envelope) -> None:
        self.seen.append(envelope)

    @classmethod
    async def of(cls, transport: Transport, queue: str) -> DeadLetters:
        letters = cls()
        await transport.consume_envelopes(f"{queue}.dlq", letters)
        return letters


async def test_a_command_for_an_order_that_does_not_exist_is_dead_lettered_with_why(
    orders: Orders,
) -> None:
    letters = await DeadLetters.of(orders.stack.transport, "orders.commands")
    missing = str(uuid.uuid4())

    sent = await orders.send(ConfirmOrder(order_id=missing))

    [letter] = await eventually(
        lambda: asyncio.sleep(0, letters.seen), what="the dead-lettered command"
    )
    assert letter.message_id == sent.message_id
    assert "does not exist" in letter.headers[HEADER_DEAD_LETTER_REASON]
    assert orders.replies.about(missing) == []
