"""Messages forged by a broker client holding a participant's credentials, on both
stacks: on RabbitMQ each component is its own broker user (the broker refuses a
publish its permissions do not allow, and one whose ``user_id`` is not the
connection's user); in embedded mode each is a view of the in-process transport
as a user named after it.  Consumers dead-letter a type from a publisher not
allowed to send it, and the saga ignores, with the reason in its history, a reply
answering no command it sent."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from saga.answers import command_id
from shared.messages import (
    ChargePayment,
    Message,
    OrderCancelRequested,
    PaymentCompleted,
    PaymentRefunded,
    ReservedItem,
    ReserveInventory,
)
from shared.messaging.envelope import Envelope, RawMessage
from shared.messaging.transport import PublishError
from tests.integration.saga.test_ops import stalled_checkout
from tests.support.infra import eventually
from tests.support.stack import Stack
from tests.support.system import System, running_system

API = "/api/v1"


@pytest.fixture
async def shop(stack: Stack) -> AsyncIterator[System]:
    async with running_system(stack, faults_enabled=True) as running:
        yield running


def forged(message: Message, order_id: str, *, causation_id: str | None = None) -> Envelope:
    return Envelope.wrap(
        message, app_id="forger", correlation_id=order_id, causation_id=causation_id
    )


async def saga_of(shop: System, order_id: str) -> dict[str, Any]:
    response = await shop.services["saga"].get(f"{API}/sagas/{order_id}", headers=shop.stack.ops())
    if response.status_code == 404:  # not started yet
        return {"state": None, "history": []}
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def captured(shop: System, order_id: str) -> int:
    response = await shop.services["payments"].get(
        f"{API}/payments/summary", params={"orderId": order_id}, headers=shop.stack.ops()
    )
    assert response.status_code == 200, response.text
    return int(response.json()["captured"])


async def dead_letter(shop: System, message_id: str) -> dict[str, Any]:
    async def find() -> list[dict[str, Any]]:
        response = await shop.services["saga"].get(f"{API}/dead-letters", headers=shop.stack.ops())
        assert response.status_code == 200, response.text
        return [d for d in response.json() if d["messageId"] == message_id]

    [letter] = await eventually(find, what=f"dead letter {message_id}")
    return letter


def ignored(saga: dict[str, Any]) -> list[str]:
    return [h["detail"]["why"] for h in saga["history"] if h["kind"] == "ignored"]


async def test_a_forged_payment_completed_is_ignored_with_the_reason(shop: System) -> None:
    _, order_id = await stalled_checkout(shop)  # payments dropped the charge
    forger = shop.stack.for_component("payments")
    fake = forged(
        PaymentCompleted(order_id=order_id, payment_id="pay_forged", amount=999),
        order_id,
        causation_id=str(uuid.uuid4()),
    )
    await forger.publish(fake)

    saga = await eventually(
        lambda: saga_of(shop, order_id),
        until=lambda s: any("payment.completed answers" in why for why in ignored(s)),
        what="the forged payment.completed to be ignored",
    )
    assert saga["state"] == "charging_payment"
    assert fake.message_id in {h["messageId"] for h in saga["history"]}
    assert await captured(shop, order_id) == 0


async def test_a_forged_payment_refunded_does_not_cancel_a_completed_order(
    shop: System,
) -> None:
    product = await shop.add_product(price=1500, stock=5)
    shopper = await shop.shopper()
    done = await shop.checkout(shopper, [(product["id"], 1)], wait=10)
    assert done.json()["status"] == "confirmed", done.text
    order_id = done.json()["orderId"]
    # No causation at all, then one naming the charge the saga did send: neither
    # answers a refund, which the saga never sent.
    charge = command_id(order_id, "payment.charge", 1)
    forger = shop.stack.for_component("payments")
    await forger.publish(forged(PaymentRefunded(order_id=order_id, amount=1500), order_id))
    await forger.publish(
        forged(PaymentRefunded(order_id=order_id, amount=1500), order_id, causation_id=charge)
    )

    saga = await eventually(
        lambda: saga_of(shop, order_id),
        until=lambda s: len([w for w in ignored(s) if w.startswith("payment.refunded")]) == 2,
        what="both forged refunds to be ignored",
    )
    assert saga["state"] == "completed"
    assert await shop.order_status(shopper, order_id) == "confirmed"
    assert await captured(shop, order_id) == 1500


async def test_a_reply_for_a_saga_that_does_not_exist_is_dead_lettered(shop: System) -> None:
    order_id = str(uuid.uuid4())
    fake = forged(PaymentCompleted(order_id=order_id, payment_id="p", amount=1), order_id)
    await shop.stack.for_component("payments").publish(fake)
    letter = await dead_letter(shop, fake.message_id)
    assert letter["queue"] == "saga.events"
    assert "the saga does not exist" in letter["reason"]


@pytest.mark.parametrize(
    ("forger_name", "message"),
    [
        ("payments", OrderCancelRequested(order_id="o-forged", requested_by="someone")),
        (
            "payments",
            ChargePayment(
                order_id="o-forged",
                user_id="u",
                amount=99_999_999,
                currency="EUR",
                payment_method_id="pm_card_ok",
            ),
        ),
        (
            "payments",
            ReserveInventory(
                order_id="o-forged", items=[ReservedItem(product_id="p", quantity=10)]
            ),
        ),
        # A refund short of the capture fails a refunding saga for ops: sent by
        # inventory, naming the refund the saga sends, it never reaches the saga.
        ("inventory", PaymentRefunded(order_id="o-forged", amount=1)),
    ],
    ids=lambda v: v if isinstance(v, str) else v.type_name,
)
async def test_a_participant_cannot_send_what_only_another_component_may(
    shop: System, forger_name: str, message: Message
) -> None:
    order_id = f"o-{uuid.uuid4()}"
    refund = command_id(order_id, "payment.refund", 1)
    fake = forged(message.model_copy(update={"order_id": order_id}), order_id, causation_id=refund)
    forger = shop.stack.for_component(forger_name)
    if shop.stack.kind == "real":
        # The broker itself refuses: a participant may write its own events only.
        with pytest.raises(PublishError, match="ACCESS_REFUSED"):
            await forger.publish(fake)
        return
    await forger.publish(fake)
    letter = await dead_letter(shop, fake.message_id)
    assert f"{message.type_name} published by {forger_name!r}" in letter["reason"]


async def test_a_command_from_a_user_that_is_no_component_is_dead_lettered(
    shop: System,
) -> None:
    """The consumer's own check, on both stacks: the tests' transport is a broker user
    (the administrator on RabbitMQ) that no message type lists as its publisher."""
    order_id = f"o-{uuid.uuid4()}"
    charge = ChargePayment(
        order_id=order_id, user_id="u", amount=5000, currency="EUR", payment_method_id="pm_card_ok"
    )
    fake = forged(charge, order_id)
    await shop.stack.transport.publish(fake)
    letter = await dead_letter(shop, fake.message_id)
    assert letter["queue"] == "payments.commands"
    assert "payment.charge published by 'guest': only saga may publish it" in letter["reason"]
    assert await captured(shop, order_id) == 0


async def test_a_publish_naming_another_user_is_refused(shop: System) -> None:
    order_id = str(uuid.uuid4())
    raw = forged(PaymentCompleted(order_id=order_id, payment_id="p", amount=1), order_id).to_raw()
    spoofed = RawMessage(**{**raw.__dict__, "user_id": "saga"})
    forger = shop.stack.for_component("payments")
    with pytest.raises(PublishError, match="user_id"):
        await forger.publish_raw(spoofed)  # type: ignore[attr-defined]
