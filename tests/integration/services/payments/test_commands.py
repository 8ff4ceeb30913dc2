"""``payment.charge`` and ``payment.refund`` on both stacks: replies, rows, and no
second effect however often or in whatever order they arrive."""

from __future__ import annotations

import asyncio
import uuid

from card_provider.cards import CARD_DECLINED, CARD_OK, CARD_REFUND_DECLINED
from shared.messages import PaymentCompleted, PaymentFailed, PaymentRefunded, PaymentRefundFailed
from shared.messaging.envelope import HEADER_DEAD_LETTER_REASON, Envelope
from tests.integration.services.payments.conftest import (
    AMOUNT,
    API,
    CUSTOMER,
    Payments,
    running_payments,
)
from tests.support.harness import new_order
from tests.support.infra import eventually
from tests.support.provider import CardProvider
from tests.support.stack import Stack


async def test_a_charge_captures_the_amount_and_answers_completed(payments: Payments) -> None:
    order_id = new_order()
    sent = await payments.charge(order_id)

    [envelope] = await payments.replies.wait(order_id)
    reply = envelope.decode()

    assert isinstance(reply, PaymentCompleted)
    assert (reply.order_id, reply.amount) == (order_id, AMOUNT)
    assert envelope.causation_id == sent.message_id
    [row] = await payments.payments(order_id)
    assert row["id"] == reply.payment_id
    assert row["status"] == "captured"
    assert (row["amount"], row["currency"], row["userId"]) == (AMOUNT, "EUR", CUSTOMER)
    assert (row["refundedAmount"], row["refunds"]) == (0, [])
    assert await payments.summary(order_id) == {
        "orderId": order_id,
        "currency": "EUR",
        "captured": AMOUNT,
        "refunded": 0,
        "net": AMOUNT,
    }
    assert await payments.provider.net() == AMOUNT


async def test_a_repeated_charge_answers_the_same_without_charging_again(
    payments: Payments,
) -> None:
    order_id = new_order()
    await payments.charge(order_id)
    first = await payments.reply(order_id)

    await payments.charge(order_id)  # the saga resending after a timeout
    second = await payments.reply(order_id, 2)

    assert second == first
    assert len(await payments.payments(order_id)) == 1
    assert len(await payments.provider.charges()) == 1


async def test_a_declined_card_answers_payment_failed_every_time(payments: Payments) -> None:
    order_id = new_order()
    await payments.charge(order_id, method=CARD_DECLINED)
    await payments.charge(order_id, method=CARD_DECLINED)

    first, second = await payments.reply(order_id), await payments.reply(order_id, 2)

    assert isinstance(first, PaymentFailed)
    assert (first.code, first.amount) == ("card_declined", AMOUNT)
    assert second == first
    [row] = await payments.payments(order_id)
    assert (row["id"], row["status"], row["code"]) == (
        first.payment_id,
        "declined",
        "card_declined",
    )
    assert (await payments.summary(order_id))["net"] == 0
    assert await payments.provider.charges() == []


async def test_an_unknown_payment_method_declines_as_invalid(payments: Payments) -> None:
    orders = {new_order(): "pm_no_such_card", new_order(): str(uuid.uuid4())}
    for order_id, method in orders.items():
        await payments.charge(order_id, method=method)

    for order_id in orders:
        reply = await payments.reply(order_id)
        assert isinstance(reply, PaymentFailed)
        assert reply.code == "invalid_payment_method"
    assert await payments.provider.charges() == []


async def test_a_saved_method_charges_its_token_for_its_owner_only(payments: Payments) -> None:
    saved = await payments.client.post(
        f"{API}/users/{CUSTOMER}/payment-methods",
        json={"token": CARD_OK},
        headers=payments.stack.auth(CUSTOMER),
    )
    method_id = saved.json()["id"]
    own_order, stolen_order = new_order(), new_order()

    await payments.charge(own_order, method=method_id)
    await payments.charge(stolen_order, method=method_id, user_id="someone-else")

    own = await payments.reply(own_order)
    stolen = await payments.reply(stolen_order)
    assert isinstance(own, PaymentCompleted)
    assert isinstance(stolen, PaymentFailed)
    assert stolen.code == "invalid_payment_method"
    [charge] = await payments.provider.charges()
    assert (charge["token"], charge["amount"]) == (CARD_OK, AMOUNT)
    [row] = await payments.payments(own_order)
    assert row["paymentMethodId"] == method_id


async def test_a_refund_pays_back_the_capture_once(payments: Payments) -> None:
    order_id = new_order()
    await payments.charge(order_id)
    charged = await payments.reply(order_id)
    assert isinstance(charged, PaymentCompleted)

    await payments.refund(order_id)
    await payments.refund(order_id)
    first, second = await payments.reply(order_id, 2), await payments.reply(order_id, 3)

    expected = PaymentRefunded(order_id=order_id, payment_id=charged.payment_id, amount=AMOUNT)
    assert first == second == expected
    [row] = await payments.payments(order_id)
    assert row["status"] == "refunded"
    assert row["refundedAmount"] == AMOUNT
    assert [(r["amount"], r["status"]) for r in row["refunds"]] == [(AMOUNT, "succeeded")]
    assert (await payments.summary(order_id))["net"] == 0
    assert len(await payments.provider.refunds()) == 1
    assert await payments.provider.net() == 0


async def test_a_refund_with_nothing_captured_answers_refunded_zero(payments: Payments) -> None:
    never_charged, declined = new_order(), new_order()
    await payments.charge(declined, method=CARD_DECLINED)
    failed = await payments.reply(declined)
    assert isinstance(failed, PaymentFailed)

    await payments.refund(never_charged)
    await payments.refund(declined, method=CARD_DECLINED)

    assert await payments.reply(never_charged) == PaymentRefunded(order_id=never_charged, amount=0)
    assert await payments.reply(declined, 2) == PaymentRefunded(
        order_id=declined, payment_id=failed.payment_id, amount=0
    )
    assert await payments.payments(never_charged) == []
    assert await payments.provider.refunds() == []


async def test_a_charge_arriving_after_the_refund_is_refused_as_order_refunded(
    payments: Payments,
) -> None:
    order_id = new_order()
    await payments.refund(order_id)  # the saga compensated before the charge got here
    assert await payments.reply(order_id) == PaymentRefunded(order_id=order_id, amount=0)

    await payments.charge(order_id)
    await payments.charge(order_id)

    late, again = await payments.reply(order_id, 2), await payments.reply(order_id, 3)
    assert isinstance(late, PaymentFailed)
    assert (late.code, late.amount, late.payment_id) == ("order_refunded", AMOUNT, None)
    assert again == late
    assert await payments.payments(order_id) == []
    assert await payments.provider.charges() == []


async def test_a_declined_refund_fails_and_fails_again_for_that_card(payments: Payments) -> None:
    order_id = new_order()
    await payments.charge(order_id, method=CARD_REFUND_DECLINED)
    charged = await payments.reply(order_id)
    assert isinstance(charged, PaymentCompleted)

    await payments.refund(order_id, method=CARD_REFUND_DECLINED)
    first = await payments.reply(order_id, 2)
    await payments.refund(order_id, method=CARD_REFUND_DECLINED)
    retried = await payments.reply(order_id, 3)

    for reply in (first, retried):
        assert isinstance(reply, PaymentRefundFailed)
        assert (reply.code, reply.amount) == ("refund_declined", AMOUNT)
        assert reply.payment_id == charged.payment_id
    [row] = await payments.payments(order_id)
    assert row["status"] == "captured"
    assert [r["status"] for r in row["refunds"]] == ["declined", "declined"]
    assert (await payments.summary(order_id))["net"] == AMOUNT


async def test_a_declined_refund_succeeds_when_retried_after_the_gateway_relents(
    payments: Payments,
) -> None:
    order_id = new_order()
    await payments.charge(order_id, method=CARD_REFUND_DECLINED)
    assert isinstance(await payments.reply(order_id), PaymentCompleted)
    await payments.refund(order_id, method=CARD_REFUND_DECLINED)
    assert isinstance(await payments.reply(order_id, 2), PaymentRefundFailed)

    payments.provider.cards.behave(CARD_REFUND_DECLINED, refunds=True)
    await payments.refund(order_id, method=CARD_REFUND_DECLINED)

    retried = await payments.reply(order_id, 3)
    assert isinstance(retried, PaymentRefunded)
    assert retried.amount == AMOUNT
    [row] = await payments.payments(order_id)
    assert [r["status"] for r in row["refunds"]] == ["declined", "succeeded"]
    assert (row["status"], row["refundedAmount"]) == ("refunded", AMOUNT)
    assert await payments.provider.net() == 0


async def test_a_decline_fault_declines_a_good_card(payments: Payments) -> None:
    fault = await payments.client.post(
        f"{API}/_faults",
        json={"message": "payment.charge", "mode": "decline"},
        headers=payments.stack.ops(),
    )
    assert fault.status_code == 201
    declined, charged = new_order(), new_order()

    await payments.charge(declined)
    first = await payments.reply(declined)
    await payments.charge(charged)
    second = await payments.reply(charged)

    assert isinstance(first, PaymentFailed)
    assert first.code == "card_declined"
    assert isinstance(second, PaymentCompleted)


async def test_charge_and_refund_racing_for_an_order_never_leave_money_behind(
    payments: Payments,
) -> None:
    orders = [new_order() for _ in range(12)]
    for order_id in orders:
        # Both at once: processed concurrently, in either order.
        await asyncio.gather(payments.charge(order_id), payments.refund(order_id))

    for order_id in orders:
        replies = {
            type(r) for r in [await payments.reply(order_id), await payments.reply(order_id, 2)]
        }
        summary = await payments.summary(order_id)
        assert summary["net"] == 0, (order_id, replies, summary)
        assert PaymentRefunded in replies
    assert await payments.provider.net() == 0


async def test_a_command_with_an_impossible_order_id_is_dead_lettered(payments: Payments) -> None:
    dead: list[Envelope] = []

    async def collect(envelope: Envelope) -> None:
        dead.append(envelope)

    await payments.stack.transport.consume_envelopes("payments.commands.dlq", collect)
    sent = await payments.charge("not an id\n")

    await eventually(lambda: asyncio.sleep(0, dead), what="the dead letter")
    assert [d.message_id for d in dead] == [sent.message_id]
    assert "not an order or user id" in dead[0].headers[HEADER_DEAD_LETTER_REASON]


async def test_a_redelivered_charge_or_refund_is_an_inbox_no_op(
    stack: Stack, provider: CardProvider
) -> None:
    # One command at a time, so the marker's answer means every earlier one is handled.
    async with running_payments(stack, provider, prefetch=1) as payments:
        order_id, marker = new_order(), new_order()
        charge = await payments.charge(order_id)
        charged = await payments.reply(order_id)
        refund = await payments.refund(order_id)
        refunded = await payments.reply(order_id, 2)

        await payments.stack.transport.publish(charge)  # the same message ids again
        await payments.stack.transport.publish(refund)
        await payments.charge(marker)
        await payments.reply(marker)

        assert isinstance(charged, PaymentCompleted)
        assert refunded == PaymentRefunded(
            order_id=order_id, payment_id=charged.payment_id, amount=AMOUNT
        )
        assert len(payments.replies.about(order_id)) == 2
        [row] = await payments.payments(order_id)
        assert (row["status"], len(row["refunds"])) == ("refunded", 1)
        assert len(await payments.provider.refunds()) == 1
        assert await payments.provider.net() == AMOUNT  # the marker's charge only


async def test_a_free_order_completes_without_charging_the_card_and_refunds_nothing(
    payments: Payments,
) -> None:
    free, invalid = new_order(), new_order()
    await payments.charge(free, amount=0)
    await payments.charge(invalid, amount=0, method="pm_no_such_card")
    completed = await payments.reply(free)
    await payments.refund(free, amount=0)

    assert isinstance(completed, PaymentCompleted)
    assert (completed.order_id, completed.amount) == (free, 0)
    assert await payments.reply(free, 2) == PaymentRefunded(
        order_id=free, payment_id=completed.payment_id, amount=0
    )
    refused = await payments.reply(invalid)
    assert isinstance(refused, PaymentFailed)
    assert refused.code == "invalid_payment_method"
    [row] = await payments.payments(free)
    assert (row["status"], row["amount"], row["refunds"]) == ("captured", 0, [])
    assert await payments.provider.charges() == []
    assert await payments.provider.refunds() == []
